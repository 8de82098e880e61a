"""What a live start carries into the operator (``sim.operator.Operator`` calls ``carry_over`` once, at t=0,
after the initial customers are placed and before its first look).

- **What the snapshots count beyond the customers** (``sim.start_from.unattributed``): volumes, etcd objects and
  raw disk no placed customer brings, held on their cluster for the whole run.

- **Clusters on order.** A cluster the router lists as ``provisioning`` (``LiveFleet.on_order``) is ordered on
  day 0 and delivered when it is due, sized by the operator's own rule for a successor (its region's recent
  growth over two node lead times and the trend window, within the node cap). It succeeds the region's open
  cluster nearest a shard limit, which closes when it arrives, as the operator's own successors do. Without
  this the forecast's operator ordered the same cluster again on day 0, a whole lead time later, and the full
  cluster kept filling in the forecast while in the fleet it was relieved.
- **The operator's memory of the trend.** The operator orders ahead of demand by the trend of the last
  ``PROJECTION_WINDOW_DAYS``; started cold it has none for a week and orders on today's level only. The older
  snapshots (``LiveFleet.history``) give each day's levels; the simulated fleet's counters of that day are
  today's less the change the snapshots measured, so the trend is the measured one even where the start
  estimated part of the load. A day a cluster has no snapshot of takes its nearest older one (else today's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.start_from.assumed_trend import PastLevel, past_levels
from sim.start_from.spec import LiveFleet, LiveLevel, live_of
from sim.start_from.unattributed import hold_unattributed

# The fleet counters a snapshot measures (``sim.fleet_layout.CLUSTER_COUNTERS``), as ``LiveLevel``'s fields.
MEASURED_COUNTERS = (
    "nodes", "ram_requested", "ram_allocatable", "pods", "services", "customers", "volumes", "etcd_objects",
)  # fmt: skip


def carry_over(operator: Any) -> None:
    """Give ``operator`` the live start's level history and its clusters on order (nothing without a live
    start)."""
    live = live_of(operator.world.config.scenario.start_from)
    if live is None:
        return
    # First: the history's levels are today's less the measured change, today's with what is held.
    hold_unattributed(operator.fleet, live)
    # A live fleet's clusters were open before the start: none is one the operator just opened, which would take
    # a share of its region's sign-ups for a week (``sim.handover.receivers``) whether the engine sends it any or not.
    operator._was_open = [bool(info.open and info.active) for info in operator.fleet.clusters]
    if live.history:
        warm_history(operator, live.history)
    elif live.assumed_rise:  # no older snapshots: the trend the scenario's growth gives (sim.start_from.assumed_trend)
        warm_history(operator, past_levels(live, operator.history.maxlen - 1), floor=False)
    if live.on_order:
        order_clusters(operator, live)


def warm_history(operator: Any, history: Sequence[LiveLevel | PastLevel], floor: bool = True) -> None:
    """Fill the operator's level history with the days before the start, oldest first. ``floor``: a level below
    nought is nought (measured levels; an assumed one may be below, as it only carries the rate)."""
    fleet = operator.fleet
    n = fleet.n_clusters
    by_cluster: dict[int, dict[int, LiveLevel | PastLevel]] = {}
    for level in history:
        if level.cluster in fleet.index:
            by_cluster.setdefault(fleet.index[level.cluster], {})[level.days_before] = level
    window = operator.history.maxlen - 1
    oldest = min(max((max(days) for days in by_cluster.values()), default=0), window)
    if oldest < 1:
        return
    counters = fleet.counters
    saved = {name: counters[name].copy() for name in MEASURED_COUNTERS}
    saved_pods_capacity = fleet.pods_capacity.copy()
    nodes_now = counters["nodes"][:n].astype(float)
    pods_per_node = np.divide(
        fleet.pods_capacity[:n], nodes_now, out=np.zeros(n), where=nodes_now > 0
    )  # each cluster's run nodes' max-pods
    # The placements to date on each day back (only their rise counts): the start's figure less those measured
    # on the days since, so the history's rise is the measured daily placements.
    placed_to_date = np.zeros(n)
    for number, days in by_cluster.items():
        placed_to_date[number] = sum(days[d].placements for d in range(oldest + 1) if d in days)
    try:
        for before in range(oldest, 0, -1):
            for number, days in by_cluster.items():
                if 0 not in days:
                    continue
                today, then = days[0], _nearest_older(days, before)
                for name in MEASURED_COUNTERS:
                    change = getattr(today, name) - getattr(then, name)
                    level = int(saved[name][number]) - change
                    counters[name][number] = max(level, 0) if floor else level
                fleet.pods_capacity[number] = int(round(counters["nodes"][number] * pods_per_node[number]))
            # The operator's own record of a day; a snapshot has no disk history, so disk stays at today's (no
            # trend until the run's own days give one).
            levels = operator.levels_of(operator.triggers.ratios(n))
            levels["placed_to_date"] = placed_to_date.copy()
            for number, days in by_cluster.items():
                levels["placed_to_date"][number] -= sum(days[d].placements for d in range(before) if d in days)
            operator.history.append(levels)
    finally:
        for name, values in saved.items():
            counters[name][:] = values
        fleet.pods_capacity[:] = saved_pods_capacity
    # The placement counters hold every live customer's placements, placed at once at t=0. The day's count is the
    # last day's measured; the placements to date are the history's, whose rise the operator reads as the inflow a
    # closed cluster kept full keeps room for.
    for number, days in by_cluster.items():
        if 0 in days:
            counters["placements"][number] = days[0].placements
            counters["placed_to_date"][number] = int(placed_to_date[number])


def _nearest_older(days: dict[int, LiveLevel | PastLevel], before: int) -> LiveLevel | PastLevel:
    """The level ``before`` days back, else the nearest older one, else the nearest newer one."""
    older = [d for d in days if d >= before]
    return days[min(older)] if older else days[max(days)]


def order_clusters(operator: Any, live: LiveFleet) -> None:
    """Order each cluster on order at the start, due when the source says it arrives."""
    from sim.config import run_node_cap
    from sim.decisions import ON_ORDER_AT_START, is_shard_limit

    fleet, policy, shard, sharding = operator.fleet, operator.policy, operator.policy.shard, operator.sharding
    ratios = operator.triggers.ratios(fleet.n_clusters)
    worst = np.max([ratio for name, ratio in ratios.items() if is_shard_limit(name)], axis=0)
    for order in live.on_order:
        candidates = [
            number
            for number, info in enumerate(fleet.clusters[: len(worst)])
            if info.region == order.region and info.open and info.active and number not in sharding.retiring
        ]
        predecessor = max(candidates, key=lambda k: (worst[k], -k)) if candidates else None
        number = fleet.add_cluster(
            order.id, order.region, order.storage_provider, fleet.ladder[0], shard.new_cluster_ctrl_nodes, 0.0, False
        )
        nodes = max(shard.new_cluster_run_nodes or 0, operator.limits.storage[order.storage_provider].min_nodes)
        if predecessor is not None and policy.auto_add_nodes:
            cap = run_node_cap(policy, operator.limits, shard.new_cluster_ctrl_nodes)
            nodes = max(nodes, min(sharding._successor_nodes(order.region, order.storage_provider, math.inf), cap))
        fleet.counters["pending_nodes"][number] += nodes
        operator.order(0.0, order.due_days, "cluster", number, nodes, limit=ON_ORDER_AT_START, trigger=predecessor)
        if predecessor is not None:
            sharding.retiring[predecessor] = number
        operator.log.event(
            0.0, "cluster_ordered", order.id,
            f"{order.storage_provider}, {nodes} run nodes, on order at the start (provisioning), due in "
            f"{order.due_days:g} days",
        )  # fmt: skip
