"""The scenario's initial fleet against what its clusters can hold on day 0, before anything runs.

Every customer a cluster starts with brings all its services at once (``sim.sampling.draw``), so day 0's load is
the customer mix's mean times the customers: pods, volumes, RAM and etcd objects, plus what the cluster and each
run node bring themselves (``placement.footprint``). A cluster that cannot hold that is a problem: the scenario is
refused, naming the field. One over a comfortable level (its control plane's comfortable objects, the operator's
order thresholds) runs, with a warning at the top of the output and of the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from placement.footprint import NodeFootprint, cluster_baseline_objects
from placement.limits import Limits
from sim.distributions import ChoiceSize, FixedSize, LognormalSize, SizeDistribution
from sim.objects import mean_count, mix_objects_per_customer, weighted_mean
from sim.scenario import ClusterSpec, Scenario


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def mean_size(dist: SizeDistribution) -> float:
    """The mean of a size distribution as ``sim.sampling`` draws it (a lognormal clipped to [min, max])."""
    if isinstance(dist, FixedSize):
        return float(dist.value)
    if isinstance(dist, ChoiceSize):
        return weighted_mean(dist.values, dist.weights)
    if isinstance(dist, LognormalSize):
        mu, sigma = math.log(dist.median), dist.sigma
        low = dist.min if dist.min is not None else 0.0
        high = dist.max if dist.max is not None else math.inf
        # E[clip(X, low, high)] = low P(X < low) + E[X; low <= X <= high] + high P(X > high).
        z_low = (math.log(low) - mu) / sigma if low > 0 else -math.inf
        z_high = (math.log(high) - mu) / sigma if math.isfinite(high) else math.inf
        inside = math.exp(mu + sigma**2 / 2) * (_normal_cdf(z_high - sigma) - _normal_cdf(z_low - sigma))
        above = high * (1 - _normal_cdf(z_high)) if math.isfinite(high) else 0.0
        return low * _normal_cdf(z_low) + inside + above
    raise TypeError(type(dist))  # pragma: no cover


@dataclass(frozen=True, slots=True)
class CustomerLoad:
    """What ``customers`` customers of a mix bring to a cluster once all their services run, on average: its
    services, pods, volumes, requested RAM (the volumes' storage RAM included) and etcd objects."""

    services: float
    pods: float
    volumes: float
    ram_bytes: float
    objects: float

    @classmethod
    def of(cls, customers: float, mix, limits: Limits, provider: str) -> CustomerLoad:
        services = customers * mean_count(mix.services)
        volumes = services * mix.volume_probability
        return cls(
            services,
            services * mix.pods_per_service,
            volumes,
            services * mean_size(mix.ram) + volumes * limits.storage[provider].ram_bytes_per_volume,
            customers * mix_objects_per_customer(mix, limits, provider),
        )


@dataclass(frozen=True, slots=True)
class DayZeroLoad:
    """One initial cluster's expected load on day 0, and what it can hold."""

    pods: float
    pod_capacity: int
    volumes: float
    max_volumes: int
    ram_bytes: float
    ram_allocatable: int
    objects: float
    comfortable_objects: int
    tight_objects: int


def day_zero_load(spec: ClusterSpec, scenario: Scenario, limits: Limits, ctrl_type: str, node_ram: int, max_pods: int):
    provider = spec.storage_provider
    node = NodeFootprint.of(limits, provider)
    brought = CustomerLoad.of(spec.customers, scenario.customers, limits, provider)
    ctrl = limits.control_plane(ctrl_type)
    return DayZeroLoad(
        pods=brought.pods + spec.run_nodes * node.pods,
        pod_capacity=spec.run_nodes * (spec.run_node_max_pods or max_pods),
        volumes=brought.volumes,
        max_volumes=limits.storage[provider].max_volumes,
        ram_bytes=brought.ram_bytes,
        ram_allocatable=spec.run_nodes
        * (spec.run_node_allocatable_bytes or limits.run_node_allocatable_bytes(provider, node_ram)),
        objects=cluster_baseline_objects(limits, provider) + spec.run_nodes * node.etcd_objects + brought.objects,
        comfortable_objects=ctrl.comfortable_objects,
        tight_objects=ctrl.tight_objects,
    )


def initial_fleet_checks(
    scenario: Scenario, limits: Limits, ladder: tuple[str, ...], node_ram: int, max_pods: int
) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the initial fleet, each naming its cluster's field."""
    problems: list[str] = []
    warnings: list[str] = []
    for i, spec in enumerate(scenario.fleet.clusters):
        ctrl_type = spec.ctrl_type_on(ladder)
        load = day_zero_load(spec, scenario, limits, ctrl_type, node_ram, max_pods)
        for level, capacity, comfortable, reads, holds, comfort in _measures(
            load, spec, scenario.operator, ctrl_type, spec.run_node_max_pods or max_pods
        ):
            if level > capacity:
                problems.append(
                    f"fleet.clusters[{i}].customers: {spec.id}'s {spec.customers:,} customers bring {reads}, more "
                    f"than {holds}"
                )
            elif level > comfortable:
                warnings.append(
                    f"fleet.clusters[{i}] ({spec.id}) starts over a comfortable level: {reads}, over {comfort}"
                )
    return problems, warnings


def _measures(load: DayZeroLoad, spec: ClusterSpec, op, ctrl_type: str, max_pods: int):
    """Per measure: (level, what holds it, its comfortable level, how the level reads, what holds it, what the
    comfortable level is)."""
    gib = 2**30
    return (
        (
            load.pods,
            load.pod_capacity,
            load.pod_capacity * op.node_order_at_pods_fraction,
            f"about {load.pods:,.0f} pods (system pods included)",
            f"its {spec.run_nodes} run nodes hold at {max_pods} max-pods each ({load.pod_capacity:,})",
            f"the operator's {op.node_order_at_pods_fraction:.0%} node-order threshold",
        ),
        (
            load.ram_bytes,
            load.ram_allocatable,
            load.ram_allocatable * op.node_order_at_ram_fraction,
            f"about {load.ram_bytes / gib:,.0f} GiB of RAM requests",
            f"its {spec.run_nodes} run nodes' allocatable {load.ram_allocatable / gib:,.0f} GiB",
            f"the operator's {op.node_order_at_ram_fraction:.0%} node-order threshold",
        ),
        (
            load.volumes,
            load.max_volumes,
            load.max_volumes * op.shard.prepare_fraction,
            f"about {load.volumes:,.0f} volumes",
            f"{spec.storage_provider} holds per cluster ({load.max_volumes:,})",
            f"the operator's {op.shard.prepare_fraction:.0%} shard-preparation share",
        ),
        (
            load.objects,
            load.tight_objects,
            load.comfortable_objects,
            f"about {load.objects:,.0f} etcd objects",
            f"its {ctrl_type} control plane's tight level ({load.tight_objects:,}); start it on a larger rung",
            f"its {ctrl_type} control plane's comfortable level ({load.comfortable_objects:,})",
        ),
    )
