"""Capacity plan: the cheapest mix of run nodes, control-plane types and clusters of any storage provider that hold a
forecast demand, priced from the limits profile.

Demand is a RAM distribution in buckets (RAM, volume or none, count). Services are assigned to clusters by
count per bucket. Inside a cluster the run nodes must hold the services' RAM as bins, not as fluid: every cluster
carries the Martello–Toth L2 cuts of its buckets (for each bucket size K <= C/2: C x nodes >= C x #services above
C - K + the RAM of the services in [K, C - K]; and nodes >= #services above C/2), the same bound the packing model
starts from. After the solve, each planned cluster's services are packed onto its run node type by
``placement.optimize.node_count`` (bounds, heuristics, arc-flow, assignment model), and the plan reports the run
nodes that packing needs beside the planned count, so a plan that the cuts leave short says so instead of
understating the fleet. ``utilisation`` leaves headroom in every node's RAM, ``pods_utilisation`` in its
max-pods. Every run node brings its ``NodeFootprint`` (system pods against its max-pods and the cluster's pods,
its objects against the control plane) and every cluster its empty objects, as the simulator's fleet counts them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from ortools.sat.python import cp_model
from pydantic import BaseModel, ConfigDict, Field

from placement.catalogue import BY_KEY
from placement.footprint import Footprint, NodeFootprint, cluster_baseline_need
from placement.limits import Limits
from placement.model import PlacementRequest, VolumeRequest
from placement.optimize.node_count import min_nodes
from placement.optimize.plan_start import ClusterShape, StartCluster, greedy_plan, storage_nodes
from placement.optimize.shapes import CLUSTER_LIMITS
from placement.optimize.solve import Infeasible, SolverOutcome, SolveSettings, mib_ceil, mib_floor, solve
from placement.quantity import PositiveBytes
from placement.yamlio import load_yaml_model


class DemandBucket(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ram: PositiveBytes
    volume: PositiveBytes | None = None
    count: int = Field(ge=1)


class Demand(BaseModel):
    """Forecast demand at one date, e.g. a simulation's final day or a sweep's 90th percentile."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    customers: int = Field(ge=0)
    services: list[DemandBucket] = Field(min_length=1)
    date: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> Demand:
        return load_yaml_model(Path(path), cls)

    @property
    def service_count(self) -> int:
        return sum(b.count for b in self.services)


@dataclass(frozen=True, slots=True)
class PlannedCluster:
    provider: str
    run_nodes: int
    ctrl_node_type: str
    services: int
    volumes: int
    ram_bytes: int
    eur_month: float
    packed_nodes: int | None = None  # run nodes the packing of its services needs (None: not checked)
    packed_status: str | None = None  # OPTIMAL when that count is proven minimal


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    outcome: SolverOutcome
    eur_month: float
    best_bound_eur_month: float | None
    clusters: tuple[PlannedCluster, ...]
    run_node_type: str

    @property
    def packing_verified(self) -> bool:
        """Every cluster's services pack onto its planned run nodes (checked with the packing model)."""
        return all(c.packed_nodes is not None and c.packed_nodes <= c.run_nodes for c in self.clusters)

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome.to_dict(),
            "eur_month": self.eur_month,
            "best_bound_eur_month": self.best_bound_eur_month,
            "run_node_type": self.run_node_type,
            "packing_verified": self.packing_verified,
            "clusters": [asdict(c) for c in self.clusters],
        }


def l2_cuts(model: cp_model.CpModel, needs: list[int], counts: list, nodes, capacity: int) -> None:
    """Martello–Toth L2 as linear cuts on one cluster: ``counts[b]`` services of RAM ``needs[b]`` on ``nodes``
    run nodes of ``capacity`` (all MiB). Valid for every packing, so the plan stays a lower bound on cost while
    no longer treating RAM as fluid across a cluster's nodes."""
    model.add(nodes >= sum(c for need, c in zip(needs, counts, strict=True) if 2 * need > capacity))
    for k in sorted({need for need in needs if 2 * need <= capacity}):
        model.add(
            capacity * nodes
            >= sum(
                (capacity if need > capacity - k else need) * c
                for need, c in zip(needs, counts, strict=True)
                if need >= k
            )
        )


def plan_capacity(
    demand: Demand,
    limits: Limits,
    settings: SolveSettings | None = None,
    *,
    max_clusters_per_provider: int = 10,
    max_nodes_per_cluster: int = 20,
    utilisation: float = 1.0,
    providers: tuple[str, ...] | None = None,
    run_node_type: str | None = None,
    pods_utilisation: float = 1.0,
) -> CapacityPlan:
    """``providers``: the storage providers new clusters may have (None: every provider of the limits profile).
    ``utilisation`` and ``pods_utilisation``: the usable share of each run node's allocatable RAM and max-pods
    (an operator's node-order levels)."""
    settings = settings or SolveSettings()
    providers = tuple(limits.storage) if providers is None else tuple(providers)
    unknown = [p for p in providers if p not in limits.storage]
    if unknown or not providers:
        raise Infeasible("providers", f"unknown {unknown or 'none given'}; known: {sorted(limits.storage)}")
    for name, share in (("utilisation", utilisation), ("pods_utilisation", pods_utilisation)):
        if not 0 < share <= 1:
            raise Infeasible(name, f"must be in (0, 1], got {share}")
    costs = limits.costs
    node_type = costs.run_node_types.get(run_node_type or costs.default_run_node_type)
    if node_type is None:
        raise Infeasible("run_node_type", f"unknown {run_node_type!r}; known: {sorted(costs.run_node_types)}")
    cents = 100 * costs.price_multiplier
    node_price = round(node_type.eur_month * cents)
    ctrl_types = [limits.control_plane(name) for name in limits.control_plane_ladder]
    buckets = demand.services
    # What one service of each bucket adds under each provider: its footprint without and with its customer's
    # namespace and objects. A cluster carries its share of the customers: ``customers / services`` per service.
    fp = {(b, p, new): _footprint(bucket, limits, p, new) for b, bucket in enumerate(buckets) for p in providers
          for new in (False, True)}  # fmt: skip
    need_mib = {(b, p): mib_ceil(fp[b, p, False].ram_bytes) for b in range(len(buckets)) for p in providers}
    capacity = {
        p: mib_floor(int(limits.run_node_allocatable_bytes(p, node_type.ram_bytes) * utilisation)) for p in providers
    }
    node_fp = {p: NodeFootprint.of(limits, p) for p in providers}
    # Pods left for services on a run node at the usable share of its max-pods, after its system pods.
    pod_room = {p: math.floor(pods_utilisation * node_type.max_pods) - node_fp[p].pods for p in providers}
    if all(room < 1 for room in pod_room.values()):
        raise Infeasible(
            "pods_utilisation",
            f"{node_type.name}'s max-pods {node_type.max_pods} at {pods_utilisation:.0%} leaves no room after each "
            f"run node's system pods ({max(fp.pods for fp in node_fp.values())})",
        )
    for b, bucket in enumerate(buckets):
        if not any(need_mib[b, p] <= capacity[p] for p in providers):
            raise Infeasible(
                "services.ram",
                f"a {bucket.ram}-byte service fits on no {node_type.name} run node "
                f"({max(capacity.values())} MiB usable)",
            )
    volumes = sum(b.count for b in buckets if b.volume is not None)
    volume_limit = BY_KEY["volumes"]
    volume_room = sum(volume_limit.capacity(limits, p, None) for p in providers) * max_clusters_per_provider
    if volumes > volume_room:
        raise Infeasible(
            volume_limit.filter,
            f"{volumes} volumes > {volume_room} (max volumes x max clusters per provider {max_clusters_per_provider})",
        )
    max_nodes = min(max_nodes_per_cluster, BY_KEY["k8s_nodes"].capacity(limits, providers[0], None))

    model = cp_model.CpModel()
    slots = [(p, k) for p in providers for k in range(max_clusters_per_provider)]
    used, nodes, ctrl, assign, cost, extra_nodes = {}, {}, {}, {}, [], {}
    for p, k in slots:
        storage = limits.storage[p]
        if storage.min_nodes > max_nodes or pod_room[p] < 1:
            continue
        used[p, k] = model.new_bool_var(f"u_{p}_{k}")
        nodes[p, k] = model.new_int_var(0, max_nodes, f"n_{p}_{k}")
        model.add(nodes[p, k] >= storage.min_nodes * used[p, k])
        model.add(nodes[p, k] <= max_nodes * used[p, k])
        ctrl[p, k] = [model.new_bool_var(f"c_{p}_{k}_{t.name}") for t in ctrl_types]
        model.add(sum(ctrl[p, k]) == used[p, k])
        counts = [model.new_int_var(0, bucket.count, f"a{b}_{p}_{k}") for b, bucket in enumerate(buckets)]
        for b, count in enumerate(counts):
            assign[b, p, k] = count
        needs = [need_mib[b, p] for b in range(len(buckets))]
        model.add(sum(need * count for need, count in zip(needs, counts, strict=True)) <= capacity[p] * nodes[p, k])
        l2_cuts(model, needs, counts, nodes[p, k], capacity[p])
        pods = sum(fp[b, p, False].pods * count for b, count in enumerate(counts))
        model.add(pods <= pod_room[p] * nodes[p, k])
        # Every cluster limit of the catalogue, its capacity under the chosen control-plane type. Scaled by the
        # service count so the customers' share stays whole: services x (own needs) + customers x (what a new
        # customer adds) <= services x capacity.
        scale = demand.service_count
        for limit in CLUSTER_LIMITS:
            own = [getattr(fp[b, p, False], limit.needed) for b in range(len(buckets))]
            extra = [getattr(fp[b, p, True], limit.needed) - own[b] for b in range(len(buckets))]
            load = sum((scale * own[b] + demand.customers * extra[b]) * count for b, count in enumerate(counts))
            # The cluster's own share: each run node's system pods and objects, and the empty cluster's objects.
            load += scale * (node_fp[p].need(limit.needed) * nodes[p, k])
            load += scale * cluster_baseline_need(limits, p, limit.needed) * used[p, k]
            room = sum(scale * limit.capacity(limits, p, t) * c for t, c in zip(ctrl_types, ctrl[p, k], strict=True))
            model.add(load <= room)
        cost.append(node_price * nodes[p, k])
        cost.extend(round(t.eur_month * cents) * c for t, c in zip(ctrl_types, ctrl[p, k], strict=True))
        disk = _disk_gib(fp, p, len(buckets))
        cost.append(_storage_costs(model, limits, p, used[p, k], nodes[p, k], disk, counts, cents, extra_nodes, k))
        if k > 0 and (p, k - 1) in used:
            # Clusters of one provider are interchangeable: use them in order, largest first.
            model.add(used[p, k - 1] >= used[p, k])
            model.add(nodes[p, k - 1] >= nodes[p, k])
    for b, bucket in enumerate(buckets):
        model.add(sum(assign[b, p, k] for p, k in used) == bucket.count)
    total_ram = sum(mib_ceil(b.ram) * b.count for b in buckets)
    model.add(sum(nodes.values()) >= -(-total_ram // max(capacity.values())))  # L1 bound, redundant
    model.minimize(sum(cost))
    shapes = {
        p: _shape(limits, p, buckets, fp, node_fp[p], need_mib, capacity[p], pod_room[p], max_nodes, demand, ctrl_types)
        for p in providers
        if any((p, k) in used for k in range(max_clusters_per_provider))
    }
    start = _start(shapes, [b.count for b in buckets], max_clusters_per_provider, node_price, ctrl_types, cents)
    hinted = _hint(model, start, used, nodes, ctrl, assign, extra_nodes, limits, fp, buckets) if start else {}
    solver, outcome = solve(model, settings)
    if outcome.objective is None:
        if outcome.status == "INFEASIBLE":
            raise Infeasible(
                "fleet",
                f"no mix of up to {max_clusters_per_provider} clusters per provider with up "
                f"to {max_nodes_per_cluster} run nodes each holds the demand (RAM, pods, "
                "volume or control-plane limits)",
            )
        if not start:
            limit = settings.deterministic_time_limit
            within = f"{limit:g} deterministic s" if limit is not None else f"{settings.time_limit_seconds:g}s"
            raise Infeasible("time_limit", f"no plan found within {within} ({outcome.status})")
        # CP-SAT found nothing within its limit: the greedy start is the plan (it meets every constraint of the
        # model; no optimum is claimed).
        outcome = replace(outcome, status="FEASIBLE", method="greedy", gap=None)
    value = solver.value if outcome.method == "cp-sat" else (lambda var: hinted[var.index])
    planned = []
    for p, k in used:
        if not value(used[p, k]):
            continue
        ctrl_type = next(t for t, c in zip(ctrl_types, ctrl[p, k], strict=True) if value(c))
        storage_eur = _planned_storage_eur(limits, p, value(extra_nodes[p, k]) if (p, k) in extra_nodes else 0)
        counts = [value(assign[b, p, k]) for b in range(len(buckets))]
        n = value(nodes[p, k])
        needs = [need_mib[b, p] for b in range(len(buckets))]
        packed = _pack_cluster(counts, needs, pod_room[p], capacity[p], _share(settings, used, value))
        planned.append(
            PlannedCluster(
                p,
                n,
                ctrl_type.name,
                sum(counts),
                sum(c for c, bucket in zip(counts, buckets, strict=True) if bucket.volume is not None),
                sum(c * bucket.ram for c, bucket in zip(counts, buckets, strict=True)),
                round((n * node_type.eur_month + ctrl_type.eur_month) * costs.price_multiplier + storage_eur, 2),
                *packed,
            )
        )
    if outcome.objective is None:
        outcome = replace(outcome, objective=round(sum(c.eur_month for c in planned) * 100))
    return CapacityPlan(
        outcome,
        round(outcome.objective / 100, 2),
        None if outcome.best_bound is None else round(outcome.best_bound / 100, 2),
        tuple(planned),
        node_type.name,
    )


GIB = 2**30


def _share(settings: SolveSettings, used: dict, value) -> SolveSettings:
    """The solver budget for packing one planned cluster: the plan's own limit shared among its clusters (each with
    its whole budget, a six-cluster plan's checks took six times the plan's own solve)."""
    clusters = max(1, sum(1 for var in used.values() if value(var)))
    if settings.deterministic_time_limit is not None:
        return replace(settings, deterministic_time_limit=settings.deterministic_time_limit / clusters)
    return replace(settings, time_limit_seconds=settings.time_limit_seconds / clusters)


def _disk_gib(fp, provider: str, n: int) -> list[int]:
    """Each bucket's disk per service in whole GiB, rounded up (0: no volume)."""
    return [fp[b, provider, False].disk_bytes // GIB + 1 if fp[b, provider, False].disk_bytes else 0 for b in range(n)]


def _shape(limits, provider, buckets, fp, node_fp, need_mib, capacity, pod_room, max_nodes, demand, ctrl_types):
    """One provider's cluster in the model's integer terms, for the greedy start (``plan_start``)."""
    scale, own_of = demand.service_count, range(len(buckets))
    shape = ClusterShape(
        provider,
        np.array([need_mib[b, provider] for b in own_of], dtype=np.int64),
        np.array([fp[b, provider, False].pods for b in own_of], dtype=np.int64),
        capacity,
        pod_room,
        limits.storage[provider].min_nodes,
        max_nodes,
    )
    for limit in CLUSTER_LIMITS:
        own = [getattr(fp[b, provider, False], limit.needed) for b in own_of]
        extra = [getattr(fp[b, provider, True], limit.needed) - own[b] for b in own_of]
        shape.loads.append(np.array([scale * own[b] + demand.customers * extra[b] for b in own_of], dtype=np.int64))
        shape.per_node.append(scale * node_fp.need(limit.needed))
        shape.per_cluster.append(scale * cluster_baseline_need(limits, provider, limit.needed))
        shape.rooms.append([scale * limit.capacity(limits, provider, t) for t in ctrl_types])
    return shape


def _start(shapes, totals, max_clusters, node_price, ctrl_types, cents) -> list[StartCluster]:
    """The cheapest of the providers' greedy plans (run nodes and control planes), clusters largest first as the
    model orders its slots; [] when none holds the demand."""
    best, best_cost = [], math.inf
    for shape in shapes.values():
        plan = greedy_plan(shape, totals, max_clusters)
        if plan is None:
            continue
        cost = sum(node_price * c.nodes + round(ctrl_types[c.ctrl].eur_month * cents) for c in plan)
        if cost < best_cost:
            plan = sorted(plan, key=lambda c: -c.nodes)
            best = [StartCluster(c.provider, k, c.counts, c.nodes, c.ctrl) for k, c in enumerate(plan)]
            best_cost = cost
    return best


def _hint(model, start, used, nodes, ctrl, assign, extra_nodes, limits, fp, buckets) -> dict[int, int]:
    """Hint every variable with the greedy start; returns the hinted values by variable index."""
    chosen = {(c.provider, c.slot): c for c in start}
    values: dict[int, int] = {}

    def hint(var, value: int) -> None:
        model.add_hint(var, value)
        values[var.index] = value

    for p, k in used:
        c = chosen.get((p, k))
        hint(used[p, k], int(c is not None))
        hint(nodes[p, k], c.nodes if c else 0)
        for t, var in enumerate(ctrl[p, k]):
            hint(var, int(c is not None and c.ctrl == t))
        for b in range(len(buckets)):
            hint(assign[b, p, k], c.counts[b] if c else 0)
        if (p, k) in extra_nodes:
            storage = limits.storage[p]
            raw = sum(d * n for d, n in zip(_disk_gib(fp, p, len(buckets)), c.counts, strict=True)) if c else 0
            per_node = int(storage.storage_node.disk_bytes * storage.disk_usable_fraction) // GIB
            hint(extra_nodes[p, k], storage_nodes(storage.min_nodes, raw, per_node) if c else 0)
    return values


def _storage_costs(model, limits: Limits, provider: str, used, nodes, disk_gib, counts, cents, extra_nodes, k):
    """The storage cost model's part of one cluster slot (placement.storage_cost): its operations cost, and the
    dedicated storage nodes (at least the provider's minimum) that hold its volumes' replicas."""
    storage = limits.storage[provider]
    raw = sum(d * c for d, c in zip(disk_gib, counts, strict=True) if d)
    node = storage.storage_node
    if node is None:  # data on the run nodes: their disk is priced by the simulator's storage bill, not bound here
        return round(storage.operations_eur_month * 100) * used
    count = extra_nodes[provider, k] = model.new_int_var(0, 10_000, f"s_{provider}_{k}")
    model.add(count >= storage.min_nodes * used)
    model.add(raw <= int(node.disk_bytes * storage.disk_usable_fraction) // GIB * count)
    return round(storage.operations_eur_month * 100) * used + round(node.eur_month * cents) * count


def _planned_storage_eur(limits: Limits, provider: str, storage_nodes: int) -> float:
    storage = limits.storage[provider]
    node_eur = 0.0 if storage.storage_node is None else storage.storage_node.eur_month * limits.costs.price_multiplier
    return storage.operations_eur_month + storage_nodes * node_eur


def _footprint(bucket: DemandBucket, limits: Limits, provider: str, new_customer: bool) -> Footprint:
    volumes = () if bucket.volume is None else (VolumeRequest(bucket.volume),)
    return Footprint.of(
        PlacementRequest("demand", bucket.ram, volumes=volumes, new_customer=new_customer), limits, provider
    )


def _pack_cluster(
    counts: list[int], needs: list[int], pod_room: int, capacity: int, settings: SolveSettings
) -> tuple[int, str]:
    """The fewest run nodes that hold one planned cluster's services (RAM and pods per node), with its status."""
    rows = [(need, 1) for need, count in zip(needs, counts, strict=True) for _ in range(count)]
    if not rows:
        return 0, "OPTIMAL"
    count = min_nodes(np.array(rows, dtype=np.int64), np.array([capacity, pod_room]), settings, False)
    return count.nodes, count.outcome.status
