"""etcd objects per customer: what a scenario's customer mix adds under a limits profile, and the design
document's own figure, so a report can say where the two disagree.

The design document plans with "~10 etcd objects per customer (pods + PVCs + services + ingresses + secrets)".
The seed profile is calibrated to reproduce it on the stage-1 mix; the published profile counts what the kinds
really create (``placement/data/limits/published.yaml``). A run's own measure, every kind included (the
clusters' and run nodes' objects too), is its objects over its customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from placement.limits import PROFILE_NAMES, Limits, shipped_limits
from sim.distributions import ChoiceCount, CountDistribution, FixedCount, GeometricCount, PoissonCount
from sim.scenario import CustomerMix, Scenario

DESIGN_DOC_OBJECTS_PER_CUSTOMER = 10.0  # shared/seed/future-architecture.md, stage 1
DESIGN_DOC_SOURCE = "design doc stage 1: ~10 etcd objects per customer (pods + PVCs + services + ingresses + secrets)"
# The counts' tails are summed until what is left weighs less than this.
_TAIL = 1e-12


def weighted_mean(values: list, weights: list[float] | None) -> float:
    """The mean of a choice among ``values`` (equally likely without ``weights``)."""
    weights = weights or [1.0] * len(values)
    return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


def mean_count(dist: CountDistribution) -> float:
    """The mean of a count distribution as ``sim.sampling`` draws it (clipped at its ``max``)."""
    if isinstance(dist, FixedCount):
        return float(dist.value)
    if isinstance(dist, ChoiceCount):
        return weighted_mean(dist.values, dist.weights)
    cap = dist.max if dist.max is not None else math.inf
    if isinstance(dist, PoissonCount):
        rate = dist.mean - 1.0
        term, k, mean, mass = math.exp(-rate), 0, 0.0, 0.0  # P(Poisson = k); the count is 1 + k
        while mass < 1 - _TAIL and 1 + k < cap:
            mean += term * (1 + k)
            mass += term
            k += 1
            term *= rate / k
        return mean + (1 - mass) * min(cap, 1 + k)
    if isinstance(dist, GeometricCount):
        p = 1.0 / dist.mean
        if math.isinf(cap):
            return dist.mean
        # E[min(X, cap)] for X geometric on 1, 2, ...: the sum of P(X >= k) for k = 1..cap.
        return sum((1 - p) ** (k - 1) for k in range(1, int(cap) + 1))
    raise TypeError(type(dist))  # pragma: no cover


def mix_objects_per_customer(mix: CustomerMix, limits: Limits, provider: str) -> float:
    """The objects one customer of this mix adds once all its services run on a cluster with ``provider``:
    its namespace's, its services' (their Events included) and its volumes'. A mix's own per-customer and
    per-service figures replace the profile's, as they do in a run."""
    services = mean_count(mix.services)
    per_customer = (
        limits.etcd_objects_per_customer if mix.etcd_objects_per_customer is None else mix.etcd_objects_per_customer
    )
    per_service = (
        limits.etcd_objects_per_service if mix.etcd_objects_per_service is None else mix.etcd_objects_per_service
    ) + limits.etcd_events_per_service
    volumes = services * mix.volume_probability
    return per_customer + services * per_service + volumes * limits.storage[provider].etcd_objects_per_volume


@dataclass(frozen=True, slots=True)
class ObjectsPerCustomer:
    """One customer's objects on the scenario's mix: under the run's profile, under each shipped profile, and the
    design document's figure. ``differ`` says whether a report should show more than one total."""

    used: float  # under the profile the run uses, its overrides applied
    used_profile: str
    by_profile: dict[str, float]  # every shipped profile (seed, published), without the run's overrides
    provider: str  # the storage provider the volumes' objects are counted for
    design_doc: float = DESIGN_DOC_OBJECTS_PER_CUSTOMER
    design_doc_source: str = DESIGN_DOC_SOURCE

    @property
    def differ(self) -> bool:
        totals = {round(value, 1) for value in (self.used, *self.by_profile.values())}
        return len(totals) > 1

    def lines(self) -> list[str]:
        """The totals as a report states them."""
        out = [f"{self.used:.1f} etcd objects per customer under the {self.used_profile} profile used"]
        out += [
            f"{value:.1f} under the shipped {name} profile"
            for name, value in self.by_profile.items()
            if name != self.used_profile or round(value, 1) != round(self.used, 1)
        ]
        out.append(f"{self.design_doc:g} in the design document ({self.design_doc_source})")
        return out


def scenario_provider(scenario: Scenario) -> str:
    """The storage provider most of the scenario's customers start on: its first cluster's."""
    return scenario.fleet.clusters[0].storage_provider


def objects_per_customer(scenario: Scenario, limits: Limits) -> ObjectsPerCustomer:
    """The scenario's objects per customer under ``limits`` (the run's compiled limits) and each shipped profile."""
    provider = scenario_provider(scenario)
    by_profile = {}
    for name in PROFILE_NAMES:
        shipped = shipped_limits(name)
        if provider in shipped.storage:
            by_profile[name] = mix_objects_per_customer(scenario.customers, shipped, provider)
    return ObjectsPerCustomer(
        used=mix_objects_per_customer(scenario.customers, limits, provider),
        used_profile=limits.profile,
        by_profile=by_profile,
        provider=provider,
    )


def objects_summary(scenario: Scenario, limits: Limits, etcd_objects: int, customers: int) -> dict:
    """What ``summary.json`` keeps as ``objects_per_customer``: the run's measure at its end (every kind: the
    clusters' and run nodes' objects too), the mix's figure under the run's profile and each shipped one, the
    design document's, and the sentences a report shows when they differ."""
    figures = objects_per_customer(scenario, limits)
    measured = etcd_objects / customers if customers else None
    lines = figures.lines()
    if measured is not None:
        lines.insert(0, f"{measured:.1f} etcd objects per customer at the end of this run, every kind included")
    return {
        "measured": measured,
        "profile": figures.used_profile,
        "expected": figures.used,
        "by_profile": figures.by_profile,
        "design_doc": figures.design_doc,
        "design_doc_source": figures.design_doc_source,
        "provider": figures.provider,
        "differ": figures.differ,
        "lines": lines,
    }
