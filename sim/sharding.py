"""The operator's new clusters: when a cluster closes to new customers, and how many clusters to have on order.

Two rules order a cluster, each answered first by reopening a closed cluster its customers have shrunk
(``scale_down.reopen_below``):

- a cluster near a shard limit (``prepare_fraction`` of it now, or ``close_fraction`` within the shard lead time
  on its trend) gets a successor unless another cluster of its region has room or is on order;
- a region's open and ordered clusters must hold its growth over the shard lead time. This is a reorder point,
  as for any stock with a lead time: the room left under each shard limit's close level on the open clusters,
  plus a fresh cluster's room for each on order, against the region's growth of that limit over the trend
  window. Where a fast-growing region fills a cluster within weeks, several are on order at once; where it
  grows slowly, the room lasts far beyond the lead time and this rule orders about when the first would.

A cluster closes to new customers at ``close_fraction`` once another cluster of its region takes them, or as its
region's surplus when the others hold twice the reorder point without it (``_close_surplus``). A region
whose customers find no open cluster gets one (``region_demand``), as does a region with enough customers living
elsewhere (``regional_cluster_at_customers``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

import numpy as np

from placement.limits import Limits
from sim.cluster_orders import ClusterOrders
from sim.day_levels import DayLevels
from sim.decisions import VOLUMES_PREFIX, is_shard_limit, limit_name
from sim.fleet import Fleet
from sim.log import Log
from sim.region_sums import Columns, row_sums, window_rise
from sim.scenario import OperatorPolicy
from sim.trends import MIN_TREND_DAYS
from sim.triggers import Ratios, Triggers
from sim.world import World

SURPLUS_COVERS = 2.0  # a region's open clusters hold this many reorder points before one closes (``_close_surplus``)


class Operator(Protocol):
    """What of the operator (``sim.operator.Operator``) its shard decisions read and order through."""

    world: World
    fleet: Fleet
    log: Log
    policy: OperatorPolicy
    limits: Limits
    triggers: Triggers
    history: deque[DayLevels]
    handing: set[int]

    def projected_rows(self, names: tuple[str, ...], current: np.ndarray, lead_days: float) -> np.ndarray: ...

    def growth_horizon_days(self) -> float: ...

    def successor_horizon_days(self) -> float: ...

    def order(
        self, day: float, due: float, kind: str, number: int, amount: int = 0, *, limit: str, trigger: int | None
    ) -> None: ...


class Sharding(ClusterOrders):
    """The operator's shard decisions (``Operator.tick`` calls ``tick``); orders go through the operator."""

    def __init__(self, operator: Operator):
        self.op = operator
        self.fleet = operator.fleet
        self.policy = operator.policy
        self.retiring: dict[int, int] = {}  # cluster -> the successor ordered for it
        self.closing: dict[int, float] = {}  # open cluster -> the day it closes as its region's surplus
        self.volume_shard_seen = False
        self._columns = Columns()  # each region's clusters, as index arrays
        # The ratios' limits, the shard limits of them and their rows.
        self._limits: tuple[tuple[str, ...], tuple[str, ...], np.ndarray] = ((), (), np.zeros(0, dtype=np.intp))

    def tick(self, day: float, ratios: Ratios, active: np.ndarray, customers: int) -> None:
        if not self.policy.auto_shard:
            return
        fleet, shard = self.fleet, self.policy.shard
        if self._limits[0] != ratios.rows.names:  # (the same limits every day of a run)
            every = ratios.rows.names
            rows = [k for k, name in enumerate(every) if is_shard_limit(name)]
            self._limits = every, tuple(every[k] for k in rows), np.array(rows, dtype=np.intp)
        names = self._limits[1]
        now = ratios.matrix.take(self._limits[2], axis=0)
        ahead = np.maximum(self.op.projected_rows(names, now, shard.lead_days), now)
        worst_now = None  # each cluster's highest level now, where one is urgent (most days none is)
        # Order a successor when a limit is near (prepare_fraction) or the cluster would close within the
        # successor's lead time.
        pressure = np.maximum(now / shard.prepare_fraction, ahead / shard.close_fraction)
        urgency = np.maximum.reduce(pressure, axis=0)
        is_open = [info.open and info.active for info in fleet.clusters]
        open_active = np.array(is_open, dtype=bool)
        levels = ahead  # (at least ``now`` already)
        # Clusters near a close level within a node lead time and a week: the region's others take over
        # (``sim.handover``; the projection is linear, so the node lead time's level lies on the way to ``ahead``).
        # Most days no cluster is near one, nor urgent: each urgency is at least every level ahead over its close level,
        # and the level on the way is at most the level ahead (levels are never negative), so under 0.999 everywhere
        # no level on the way reaches its close level, rounding and all.
        urgencies = urgency.tolist()
        top = max(urgencies)  # (a NaN level is near nothing, and urgent nowhere)
        if top < 0.999:
            self.op.handing = set()
        else:
            soon = min(1.0, (self.policy.node_lead_days + MIN_TREND_DAYS) / shard.lead_days)
            near = (np.maximum.reduce(now + (ahead - now) * soon, axis=0) >= shard.close_fraction).tolist()
            # (The open clusters among them, picked from lists: a numpy call each cost more.)
            self.op.handing = {k for k, (on, close) in enumerate(zip(is_open, near, strict=True)) if on and close}
        self.op.handing.update(self.closing)
        urgent = (
            [k for k, (on, level) in enumerate(zip(is_open, urgencies, strict=True)) if on and level >= 1.0]
            if not top < 1.0
            else []
        )
        for number in urgent:
            limit = names[int(pressure[:, number].argmax())]
            info = fleet.clusters[number]
            if limit.startswith(VOLUMES_PREFIX):
                self.volume_shard_seen = True
            if (
                number not in self.retiring
                and not self._region_has_room(info.region, urgency, open_active, number)
                and not self._reopen(day, info.region, names, levels, open_active)
            ):
                why = self.op.triggers.why(limit, number, self.op.world.signals)
                self.retiring[number] = self._new_cluster(day, info.region, limit, customers, why, number)
            # Close only once a successor takes new customers: a closed region rejects every sign-up.
            if worst_now is None:
                worst_now = np.maximum.reduce(now, axis=0)  # (``max(axis=0)``, less the call through numpy's methods)
            if worst_now[number] >= shard.close_fraction and self._region_has_room(
                info.region, urgency, open_active, number, True
            ):
                limit = names[int(now[:, number].argmax())]
                fleet.close(number)
                self.log_event(day, "cluster_closed", number, f"closed to new customers: {limit_name(limit)}")
        self._cover_growth(day, names, now, levels, open_active, urgency, customers)
        self._serve_regions(day, customers)

    def first_clusters(self) -> None:
        """A region of the scenario with no cluster at the start, where its customers may only live in their own
        region (strict region mode), gets its first cluster at the start: ordered a shard lead time before it,
        as an operator who knows the region opens does, not after its first customers were turned away for a
        lead time (a three-region probe lost 279). Its provider's minimum run nodes; node orders follow demand."""
        config = self.op.world.config
        if not self.policy.auto_shard or config.policy.region_mode != "strict" or config.scenario.start_from:
            return
        fleet, shard = self.fleet, self.policy.shard
        have = {info.region for info in fleet.clusters}
        for region, share in config.scenario.regions.items():
            if share <= 0 or region in have:
                continue
            provider = self.storage_for_new_cluster(0.0)
            nodes = max(shard.new_cluster_run_nodes or 0, self.op.limits.storage[provider].min_nodes)
            number = fleet.add_cluster(
                f"{region}-1", region, provider, fleet.ladder[0], shard.new_cluster_ctrl_nodes, 0.0, True
            )
            fleet.add_nodes(number, nodes)
            self.op.log.add_setup_eur(number, nodes * config.costs.run_node_setup_eur)
            self.log_event(
                0.0,
                "cluster_created",
                number,
                f"{region}, {provider}, {nodes} run nodes, {fleet.ctrl_type(number)}: ordered {shard.lead_days:g} days "
                "before the start, so the region's first customers (strict region mode) find a cluster",
            )

    def log_event(self, day: float, kind: str, number: int, detail: str) -> None:
        self.op.log.event(day, kind, self.fleet.clusters[number].cluster.id, detail)

    # --- the reorder point --------------------------------------------------------------------------------------
    def cover_days(self) -> float:
        """Days of a region's growth its open and ordered clusters must hold: the shard lead time. (No safety
        margin: the close level already keeps a tenth of every shard limit for the closed cluster's customers,
        and on stage 1 a quarter of the lead time more brought each successor's run nodes weeks early.)"""
        return self.policy.shard.lead_days

    def _cover_growth(
        self,
        day: float,
        names: tuple[str, ...],
        now: np.ndarray,
        levels: np.ndarray,
        open_active: np.ndarray,
        urgency: np.ndarray,
        customers: int,
    ) -> None:
        """Order clusters until each region's room under every shard limit holds its growth for ``cover_days``.

        Each new cluster succeeds the region's fullest open cluster near a shard limit (``urgency``), if one has
        no successor yet: that one closes when the new one arrives, so new customers go to a few clusters, not
        to every cluster under its close level (each open one keeps the order levels' headroom, and the engine
        weighs every open cluster of the region for every sign-up)."""
        if len(self.op.history) <= MIN_TREND_DAYS:
            return
        fleet, close = self.fleet, self.policy.shard.close_fraction
        target = self.cover_days()
        history = self.op.history
        rise, span = window_rise(history, names), len(history) - 1
        # Each region's delivered clusters (their growth), open clusters and clusters on order, as the day's look
        # found them (a region's own orders, reopenings and closes below change no other region's).
        members: dict[str, list[int]] = {}
        open_in: dict[str, list[int]] = {}
        ordered_in: dict[str, int] = {}
        was_open = open_active.tolist()  # (a list's items cost less to read than an array's)
        measured = rise.shape[1]  # (the clusters of today's levels)
        for number, info in enumerate(fleet.clusters):
            if info.active:
                if number < measured:
                    members.setdefault(info.region, []).append(number)
                else:
                    members.setdefault(info.region, [])
            if number < len(was_open) and was_open[number]:
                open_in.setdefault(info.region, []).append(number)
            elif not (info.active or info.decommissioned):
                ordered_in[info.region] = ordered_in.get(info.region, 0) + 1
        headroom = np.maximum(close - now, 0.0)
        both = None  # the rises over the headrooms: a region whose delivered clusters are all open sums both at once
        for region in sorted(members):
            opened = open_in.get(region)
            if not opened:
                continue  # a region with nothing open is _serve_regions' (its sign-ups are rejected)
            mine = members[region]
            if mine == opened:
                if both is None:
                    both = np.concatenate((rise, headroom))
                sums = row_sums(both, self._columns.of(opened))
                grown, left = sums[: len(names)], sums[len(names) :]
            else:
                grown = row_sums(rise, self._columns.of(mine)) if mine else [0.0] * len(names)
                left = row_sums(headroom, self._columns.of(opened))
            growth = [total / span for total in grown]
            ordered = ordered_in.get(region, 0)
            # The room left under each level's close level on the open clusters, plus a fresh cluster's per order.
            room = [total + close * ordered for total in left]
            short, binding = 0, None
            for i, (rate, left) in enumerate(zip(growth, room, strict=True)):
                if rate <= 0 or target * rate <= left:
                    continue  # (no growth, or room for it: ``missing`` would be under 1)
                missing = math.ceil((target * rate - left) / close - 1e-9)
                if missing > short:
                    short, binding = missing, i
            if binding is None:
                self._close_surplus(day, region, names, now, opened, growth)
                continue
            for number in [k for k in self.closing if fleet.clusters[k].region == region]:
                del self.closing[number]  # short of room again: it stays open
            limit = names[binding]
            trigger = max(opened, key=lambda k: (now[binding, k], -k))
            room_days = room[binding] / growth[binding]
            retire = sorted(
                (k for k in opened if urgency[k] >= 1.0 and k not in self.retiring),
                key=lambda k: (-levels[:, k].max(), k),
            )
            for _ in range(short):
                if self._reopen(day, region, names, levels, open_active):
                    continue
                why = (
                    f"{self.op.triggers.why(limit, trigger, self.op.world.signals)}; the region's open and ordered "
                    f"clusters hold {room_days:.0f} days of its growth ({limit_name(limit)}), under the "
                    f"{target:g} days of a new cluster's lead time"
                )
                number = self._new_cluster(
                    day, region, limit, customers, why, trigger, fill_days=close / growth[binding]
                )
                if retire:
                    self.retiring[retire.pop(0)] = number

    def _close_surplus(
        self,
        day: float,
        region: str,
        names: tuple[str, ...],
        now: np.ndarray,
        opened: list[int],
        growth: list[float],
    ) -> None:
        """Close the region's fullest open cluster to new customers when the others hold ``SURPLUS_COVERS`` times
        the reorder point without it. Each open cluster keeps the order levels' headroom for new customers (a fifth
        of a RAM-bound cluster's run nodes); a closed one is kept full. Reopened for room and never closed again, a
        shrinking region's open clusters piled up, 4 of 7 on a RAM-heavy probe at 1.25-1.3x its optimum.

        The close is planned a node lead time ahead (``closing``): the others order run nodes for the sign-ups they
        take over (``sim.handover``) before they come; closed at once, a reopened cluster turned them away."""
        closing = [k for k in self.closing if self.fleet.clusters[k].region == region] if self.closing else []
        pending = closing[0] if closing else None
        if (pending is None and len(opened) < 2) or (pending is not None and day + 1e-9 < self.closing[pending]):
            return
        close, target = self.policy.shard.close_fraction, self.cover_days()
        # One storage provider only: a cluster's room under another provider's volume limit is no room for that
        # provider's volumes (stage 3 closed its Rook-Ceph clusters and left a reopened Longhorn one alone to hit
        # Longhorn's volume limit for a shard lead time: 1,187 customers lost).
        surplus = len(opened) > 1 and len({self.fleet.clusters[k].provider for k in opened}) == 1
        if surplus:
            room = np.maximum(close - now[:, opened], 0.0)
            worst = now[:, opened].max(axis=0).tolist()
            fullest = max(range(len(opened)), key=lambda j: (worst[j], -opened[j]))
            # Only delivered clusters count: one on order takes nobody until it arrives (counted, stage 4 closed a
            # cluster a month before its region's successor came, and the one left open hit a shard limit first).
            left = room.sum(axis=1) - room[:, fullest]
            need = SURPLUS_COVERS * target * np.maximum(np.asarray(growth, dtype=float), 0.0)
            surplus = bool((left >= need).all() and (left > 0).all())
            number = opened[fullest]
        if pending is None:
            if surplus:
                self.closing[number] = day + self.policy.node_lead_days
            return
        del self.closing[pending]
        if not surplus or number != pending:
            return
        self.fleet.close(number)
        self.retiring.pop(number, None)
        self.log_event(
            day,
            "cluster_closed",
            number,
            f"closed to new customers: the region's other open clusters hold over {SURPLUS_COVERS:g} times "
            f"{target:g} days of its growth without it",
        )

    def _reopen(
        self, day: float, region: str, names: tuple[str, ...], levels: np.ndarray, open_active: np.ndarray
    ) -> bool:
        """Instead of ordering a new cluster, reopen the region's closed cluster that its customers have shrunk
        furthest below every shard limit (under ``scale_down.reopen_below``): sign-ups fill its holes rather than
        a new cluster's nodes. Returns whether one was reopened."""
        reopen = self.policy.scale_down.reopen_below
        if reopen is None or not self.policy.scale_down.enabled:
            return False
        fleet = self.fleet
        worst = levels.max(axis=0)
        closed = [
            number
            for number, info in enumerate(fleet.clusters)
            if info.region == region and info.active and not info.open and worst[number] < reopen
        ]
        if not closed:
            return False
        number = min(closed, key=lambda k: (worst[k], k))
        fleet.activate(number)
        open_active[number] = True
        self.retiring.pop(number, None)
        limit = names[int(levels[:, number].argmax())]
        self.log_event(
            day,
            "cluster_reopened",
            number,
            f"open to new customers again instead of a new cluster: every shard limit under {reopen:.0%} of its "
            f"trigger (highest {limit_name(limit)} at {worst[number]:.0%}, also over the next "
            f"{self.policy.shard.lead_days:g} days)",
        )
        return True

    def _region_has_room(
        self, region: str, urgency: np.ndarray, open_active: np.ndarray, exclude: int, delivered: bool = False
    ) -> bool:
        """Whether another cluster of the region has room (or, unless ``delivered``, is on order)."""
        for number, info in enumerate(self.fleet.clusters):
            if number == exclude or info.region != region or info.decommissioned:
                continue
            if not info.active:
                if not delivered:
                    return True
                continue
            if open_active[number] and urgency[number] < 1.0:
                return True
        return False

    def _serve_regions(self, day: float, customers: int) -> None:
        fleet = self.fleet
        demand = self.op.world.signals.region_demand
        if demand:  # (most days, every region's sign-ups found a cluster)
            regions_with_cluster = {
                info.region for info in fleet.clusters if info.open or not (info.active or info.decommissioned)
            }
            for region, count in sorted(demand.items()):
                if region not in regions_with_cluster:
                    why = f"{count} new customers of {region} rejected, no open cluster"
                    self._new_cluster(day, region, "region_demand", customers, why)
                    regions_with_cluster.add(region)
        threshold = self.policy.shard.regional_cluster_at_customers
        if threshold is None:
            return
        have = {info.region for info in fleet.clusters}
        if have.issuperset(self.op.world.config.regions):
            return  # (every region has a cluster: no count of customers living elsewhere can order one)
        elsewhere = self.op.world.customers_outside_region()
        for region, count in sorted(elsewhere.items()):
            if count >= threshold and region not in have:
                self._new_cluster(
                    day, region, "region_demand", customers, f"{count} customers of {region} live elsewhere"
                )
