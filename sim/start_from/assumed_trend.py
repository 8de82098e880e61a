"""A live start whose source has no older snapshots (a state file, one collector snapshot): the operator's trend
assumed from the scenario's own growth, as a planner who knows the sign-up forecast would order.

The operator orders ahead of demand by its levels' rise over the trend window (``sim.trends``). Started from older
snapshots it has the measured rise (``sim.start_from.carry.warm_history``); started cold it had none for a week and
ordered on today's level only, so on the shipped state file the one open eu-west cluster, taking the region's
sign-ups once its neighbour closed, had its first run nodes ordered on day 7 for pods that ran out on day 14.

The assumed rise: each region's expected sign-ups a day at the start (the growth law, its share of the regions'
mix), each bringing the customer mix's mean services, pods, RAM, volumes and etcd objects (``sim.objects``),
shared evenly among the region's open clusters, but for those the operator closes at the start (at a shard
limit's close level, ``sim.start_from.gaps.start_levels``) while another takes the region's customers. It is
kept with the start (``LiveFleet.assumed_rise``) and, at the run's start, written as the older levels a snapshot
history would give (``past_levels``, one a day over the window), so the operator reads it as it reads a measured
one and the run's own days replace it as they come. A young cluster's levels a window back may fall below nought:
they only carry the rate. The provenance says the trend is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.limits import Limits
from sim.initial_fleet import CustomerLoad
from sim.objects import mean_count
from sim.sampling import signup_rate_per_day
from sim.scenario import Scenario
from sim.start_from.spec import AssumedRise, LiveFleet


def assumed_rise(
    scenario: Scenario, live: LiveFleet, limits: Limits, closing: set[str] = frozenset()
) -> tuple[list[AssumedRise], list[str]]:
    """Each open cluster's assumed daily rise, and what was assumed (one line per region). Nothing where the source
    gave a history, or no cluster of a region is open. ``closing``: the clusters the operator closes to new
    customers at the start; they take none of the region's sign-ups where another of its open clusters does."""
    if live.history:
        return [], []
    taking = {spec.id: spec for spec in scenario.fleet.clusters if spec.id not in live.closed}
    regions_left = {spec.region for id_, spec in taking.items() if id_ not in closing}
    open_now = {id_: spec for id_, spec in taking.items() if id_ not in closing or spec.region not in regions_left}
    measured = [level.cluster for level in live.snapshots if level.cluster in open_now]
    shares = {region: share for region, share in scenario.regions.items() if share > 0}
    total = sum(shares.values())
    per_day = float(signup_rate_per_day(scenario.growth, np.array([0.0]), scenario.start_date)[0])
    mix = scenario.customers
    services = mean_count(mix.services)
    rises, said = [], []
    for region, share in shares.items():
        mine = [cluster for cluster in measured if open_now[cluster].region == region]
        if not mine or total <= 0:
            continue
        customers = per_day * share / total / len(mine)  # a day, on each of the region's open clusters
        said.append(
            f"{region}: {per_day * share / total:.2f} sign-ups a day (the growth law at the start, {share / total:.0%} "
            f"of the regions' mix) over its {len(mine)} open cluster(s), {services:.2f} services each"
        )
        for cluster in mine:
            # A day's customers with all their services: in steady state, later services come at this rate.
            day = CustomerLoad.of(customers, mix, limits, open_now[cluster].storage_provider)
            rises.append(
                AssumedRise(
                    cluster=cluster, customers=customers, services=day.services, pods=day.pods, volumes=day.volumes,
                    ram_requested=day.ram_bytes, etcd_objects=day.objects,
                )
            )  # fmt: skip
    return rises, said


@dataclass(frozen=True)
class PastLevel:
    """A level ``days_before`` the start as ``sim.start_from.carry.warm_history`` reads a ``LiveLevel``; a young
    cluster's a window back may be below nought: it only carries the rate."""

    cluster: str
    days_before: int
    nodes: int
    ram_requested: int
    ram_allocatable: int
    pods: int
    services: int
    customers: int
    volumes: int
    etcd_objects: int
    placements: int


def past_levels(live: LiveFleet, window: int) -> list[PastLevel]:
    """Each assumed rise's cluster's levels over ``window`` days back from its newest snapshot (and that day's)."""
    today = {level.cluster: level for level in live.snapshots}
    levels = []
    for rise in live.assumed_rise:
        now = today.get(rise.cluster)
        if now is None:
            continue
        daily = round(rise.services)
        for before in range(window, -1, -1):
            fields = {name: getattr(now, name) for name in PastLevel.__dataclass_fields__ if hasattr(now, name)}
            fields.update(
                {name: int(round(getattr(now, name) - getattr(rise, name) * before)) for name in RISEN},
                days_before=before, placements=daily,
            )  # fmt: skip
            levels.append(PastLevel(**fields))
    return levels


RISEN = ("customers", "services", "pods", "volumes", "ram_requested", "etcd_objects")
