"""The operator: once a day it looks at every cluster and orders nodes, upgrades control planes and shards.

It reacts to two signals: utilisation against its thresholds (``sim.triggers``, computed for all clusters at
once with numpy) and the placements the engine rejected since its last look (``world.signals``), attributed to
clusters and limits through the engine's filter names. Whatever it orders arrives after its lead time.
Switches in the scenario turn node adding, control-plane upgrades and sharding off for "what if capacity is
frozen" runs. It changes the world's fleet and writes what it did to the log.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from placement.catalogue import NODE_FIT_FILTERS
from sim.config import run_node_cap
from sim.decisions import VOLUMES_PREFIX, Crossings, is_shard_limit, limit_name
from sim.log import Log, OrderRecord
from sim.migration import migrate_nearly_empty
from sim.scaledown import ScaleDown
from sim.scenario import FixedStorage, SwitchStorage
from sim.triggers import Triggers
from sim.world import World

PROJECTION_WINDOW_DAYS = 28
MIN_TREND_DAYS = 7  # fewer days of history give no usable trend


@dataclass(order=True, slots=True)
class Order:
    due: float
    seq: int
    kind: str = field(compare=False)  # "nodes", "upgrade", "cluster"
    cluster: int = field(compare=False)
    amount: int = field(compare=False, default=0)


class Operator:
    def __init__(self, world: World, log: Log):
        self.world = world
        self.fleet = world.fleet
        self.log = log
        self.policy = world.config.scenario.operator
        self.limits = world.config.limits
        self.triggers = Triggers(self.fleet, self.limits, self.policy)
        self.scale_down = ScaleDown(world, log, self.triggers)
        self.crossings = Crossings()
        self.orders: list[Order] = []
        self._seq = 0
        self.upgrade_pending: set[int] = set()
        self.volume_shard_seen = False
        self.retiring: dict[int, int] = {}  # cluster -> the successor ordered for it
        # Recent daily levels, to order ahead of demand: what is ordered today arrives after the lead time.
        self.history: deque[dict[str, np.ndarray]] = deque(maxlen=PROJECTION_WINDOW_DAYS + 1)

    # --- the daily look -------------------------------------------------------------------------------------
    def tick(self, day: float) -> None:
        self._deliver(day)
        fleet = self.fleet
        n = fleet.n_clusters
        if n == 0:
            return
        active = np.array([info.active for info in fleet.clusters], dtype=bool)
        ratios = self.triggers.ratios(n)
        levels = {name: ratio.copy() for name, ratio in ratios.items()}
        levels["ram_requested"] = fleet.view("ram_requested").astype(float)
        levels["pods"] = fleet.view("pods").astype(float)
        levels["placements"] = fleet.view("placements").astype(float)
        self.history.append(levels)
        self.triggers.fold_in_rejections(ratios, self.world.signals)
        self.triggers.kept_full = self._kept_full(n, active)
        customers = int(fleet.view("customers").sum())
        close = self.policy.shard.close_fraction if self.policy.auto_shard else 1.0
        for limit, ratio in ratios.items():
            level = close if is_shard_limit(limit) else 1.0
            fresh = self.crossings.newly_crossed(limit, (ratio >= level) & active)
            for number in fresh:
                self._crossed(limit, int(number), day, customers)
        self._upgrade(day, ratios, active)
        self._add_nodes(day, ratios, active)
        migrate_nearly_empty(self.world, self.log, day)
        self._scale_down(day, n)
        self._shard(day, ratios, active, customers)
        self._serve_regions(day, customers)
        self.world.signals.clear()

    def projected(self, name: str, current: np.ndarray, lead_days: float) -> np.ndarray:
        """A level extrapolated ``lead_days`` ahead from its trend over the last weeks (never below today's)."""
        if len(self.history) <= MIN_TREND_DAYS or lead_days <= 0:
            return current
        past = self.history[0][name]
        span = len(self.history) - 1
        before = np.zeros(len(current))
        before[: len(past)] = past
        before[len(past) :] = current[len(past) :]
        slope = np.maximum(current - before, 0.0) / span
        return current + slope * lead_days

    def _kept_full(self, n: int, active: np.ndarray) -> np.ndarray:
        """Closed clusters whose requested RAM and pods have both fallen over the trend window: kept full, with
        room for their recent placements, rather than at the order levels (``fill_when_falling``)."""
        if not (self.policy.scale_down.fill_when_falling and self.policy.scale_down.enabled):
            return np.zeros(n, dtype=bool)
        falling = self.trend_known(n)
        for name in ("ram_requested", "pods"):
            past, now = self.history[0][name], self.history[-1][name]
            before = np.full(n, np.inf)
            before[: len(past)] = past
            falling &= now[:n] < before
        return falling & active & np.array([not info.open for info in self.fleet.clusters], dtype=bool)

    def demand_ahead(self, horizon: float) -> dict[str, np.ndarray]:
        """Requested RAM and pods per cluster to hold over ``horizon`` days: the trend's projection, or for a
        cluster kept full today's level plus its placements over the trend window's rate (gross of churn)."""
        fleet = self.fleet
        ahead = {
            name: self.projected(name, fleet.view(name).astype(float), horizon) for name in ("ram_requested", "pods")
        }
        full = self.triggers.kept_full
        if not full.any():
            return ahead
        past = np.zeros(len(full))
        first = self.history[0]["placements"]
        past[: len(first)] = first
        span = len(self.history) - 1
        placed = (fleet.view("placements").astype(float) - past) / span * horizon
        services = np.maximum(fleet.view("services").astype(float), 1.0)
        inflow = {
            "pods": placed * self.world.config.scenario.customers.pods_per_service,
            "ram_requested": placed * fleet.view("ram_requested") / services,
        }
        for name in ahead:
            now = fleet.view(name).astype(float)
            ahead[name] = np.where(full, now + inflow[name], ahead[name])
        return ahead

    def _scale_down(self, day: float, n: int) -> None:
        """Scale-down keeps what the trend says the cluster needs again before a re-ordered node could arrive
        and settle: the same look-ahead as a new cluster's sizing, so a fresh cluster grows into its nodes."""
        self.scale_down.tick(day, self.demand_ahead(self.growth_horizon_days()), self.trend_known(n))

    def growth_horizon_days(self) -> float:
        return 2 * self.policy.node_lead_days + PROJECTION_WINDOW_DAYS

    def trend_known(self, n: int) -> np.ndarray:
        """Clusters with a full window of history: only their projection says whether they are growing (a new
        cluster's run nodes were sized for its region's growth, not for its first customers)."""
        known = np.zeros(n, dtype=bool)
        if len(self.history) > PROJECTION_WINDOW_DAYS:
            known[: len(self.history[0]["pods"])] = True
        return known

    def _crossed(self, limit: str, number: int, day: float, customers: int) -> None:
        info = self.fleet.clusters[number]
        why = self.triggers.why(limit, number, self.world.signals)
        self.log.event(day, "limit_crossed", info.cluster.id, f"{limit_name(limit)}: {why}")
        self.log.bind(limit, day, customers, info.cluster.id, self.triggers.action(limit, number), why)

    # --- actions --------------------------------------------------------------------------------------------
    def _order(
        self, day: float, due: float, kind: str, number: int, amount: int = 0, *, limit: str, trigger: int | None
    ) -> None:
        """Order for cluster ``number``; ``limit`` on cluster ``trigger`` (None: a region's demand) is why."""
        self._seq += 1
        self.orders.append(Order(due, self._seq, kind, number, amount))
        counters = self.fleet.counters
        rung, ctrl_nodes = int(counters["ctrl_rung"][number]), int(counters["ctrl_nodes"][number])
        self.log.orders.append(OrderRecord(day, due, kind, number, amount, rung, ctrl_nodes, trigger, limit))

    def _deliver(self, day: float) -> None:
        if not self.orders:
            return
        due = [o for o in self.orders if o.due <= day + 1e-9]
        if not due:
            return
        self.orders = [o for o in self.orders if o.due > day + 1e-9]
        fleet = self.fleet
        for order in sorted(due):
            info = fleet.clusters[order.cluster]
            if order.kind == "nodes":
                self._install_nodes(order)
                self.log.event(day, "node_added", info.cluster.id, f"{order.amount} run node(s) added")
            elif order.kind == "upgrade":
                old = fleet.ctrl_type(order.cluster)
                fleet.set_ctrl_rung(order.cluster, int(fleet.counters["ctrl_rung"][order.cluster]) + 1)
                self.upgrade_pending.discard(order.cluster)
                self.log.event(
                    day, "control_plane_upgraded", info.cluster.id, f"{old} -> {fleet.ctrl_type(order.cluster)}"
                )
            elif order.kind == "cluster":
                fleet.activate(order.cluster)
                # The successor takes the new customers of the cluster it was ordered for (the shard itself).
                for predecessor, successor in sorted(self.retiring.items()):
                    if successor == order.cluster and fleet.clusters[predecessor].open:
                        fleet.close(predecessor)
                        self.log.event(
                            day,
                            "cluster_closed",
                            fleet.clusters[predecessor].cluster.id,
                            f"closed to new customers: {info.cluster.id} takes them",
                        )
                self._install_nodes(order)
                self.log.event(
                    day,
                    "cluster_created",
                    info.cluster.id,
                    f"{info.region}, {info.provider}, {order.amount} run nodes, {fleet.ctrl_type(order.cluster)}",
                )

    def _install_nodes(self, order: Order) -> None:
        """The ordered run nodes arrive: on order no more, in the fleet, and their setup fees paid."""
        self.fleet.counters["pending_nodes"][order.cluster] -= order.amount
        self.fleet.add_nodes(order.cluster, order.amount, order.due)
        self.log.add_setup_eur(order.cluster, order.amount * self.world.config.costs.run_node_setup_eur)

    def _upgrade(self, day: float, ratios: dict[str, np.ndarray], active: np.ndarray) -> None:
        if not self.policy.auto_upgrade_control_plane:
            return
        rung = self.fleet.view("ctrl_rung")
        top = len(self.fleet.ladder) - 1
        due = np.flatnonzero((ratios["control_plane_objects"] >= 1.0) & active & (rung < top))
        for number in due.tolist():
            if number in self.upgrade_pending:
                continue
            self.upgrade_pending.add(number)
            lead = self.policy.control_plane.lead_days
            self._order(day, day + lead, "upgrade", number, limit="control_plane_objects", trigger=number)
            info = self.fleet.clusters[number]
            self.log.event(
                day,
                "control_plane_upgrade_ordered",
                info.cluster.id,
                f"{self.fleet.ladder[rung[number]]} -> {self.fleet.ladder[rung[number] + 1]}",
            )

    def _add_nodes(self, day: float, ratios: dict[str, np.ndarray], active: np.ndarray) -> None:
        if not self.policy.auto_add_nodes:
            return
        fleet, policy = self.fleet, self.policy
        c = {name: fleet.view(name).astype(float) for name in ("ram_requested", "pods", "nodes", "pending_nodes")}
        lead = policy.node_lead_days
        ahead = self.demand_ahead(lead)
        # n_plus: the cluster still holds its pods after losing its k largest run nodes (all of one type).
        needed = self.triggers.needed_nodes(ahead) + policy.n_plus.nodes
        have = c["nodes"] + c["pending_nodes"]
        # A rejection for RAM or pods with nothing on order asks for one more node even below the threshold
        # (fragmentation: one large service fits on no node while the cluster as a whole has room).
        spills = self.triggers.kept_full & ~np.array([info.open for info in fleet.clusters], dtype=bool)
        spills &= policy.spill.enabled
        for number, counts in self.world.signals.rejected.items():
            if spills[number]:
                continue  # a closed cluster kept full: what finds no room there spills
            if any(counts.get(name) for name in NODE_FIT_FILTERS) and c["pending_nodes"][number] == 0:
                needed[number] = max(needed[number], have[number] + 1)
        # Nodes on order count against the cap as much as delivered ones.
        wanted = np.minimum(needed, self.triggers.node_cap()) - have
        for number in np.flatnonzero(active & (wanted > 0)).tolist():
            amount = int(wanted[number])
            fleet.counters["pending_nodes"][number] += amount
            # RAM or pods per node, whichever is nearer its threshold, is why (a rejection set its ratio to >= 1).
            ram, pods = ratios["ram_per_run_node"][number], ratios["pods_per_node"][number]
            limit = "pods_per_node" if pods > ram else "ram_per_run_node"
            self._order(day, day + lead, "nodes", number, amount, limit=limit, trigger=number)
            info = fleet.clusters[number]
            self.log.event(day, "node_ordered", info.cluster.id, f"{amount} run node(s), due in {lead:g} days")

    def _shard(self, day: float, ratios: dict[str, np.ndarray], active: np.ndarray, customers: int) -> None:
        if not self.policy.auto_shard:
            return
        fleet, shard = self.fleet, self.policy.shard
        names = [name for name in ratios if is_shard_limit(name)]
        now = np.vstack([ratios[name] for name in names])
        ahead = np.vstack(
            [np.maximum(self.projected(name, ratios[name], shard.lead_days), ratios[name]) for name in names]
        )
        worst_now = now.max(axis=0)
        # Order a successor when a limit is near (prepare_fraction) or the cluster would close within the
        # successor's lead time.
        pressure = np.maximum(now / shard.prepare_fraction, ahead / shard.close_fraction)
        urgency = pressure.max(axis=0)
        worst_limit = [names[i] for i in pressure.argmax(axis=0)]
        open_active = np.array([info.open and info.active for info in fleet.clusters], dtype=bool)
        levels = np.maximum(now, ahead)
        for number in np.flatnonzero(open_active & (urgency >= 1.0)).tolist():
            limit = worst_limit[number]
            info = fleet.clusters[number]
            if limit.startswith(VOLUMES_PREFIX):
                self.volume_shard_seen = True
            if (
                number not in self.retiring
                and not self._region_has_room(info.region, urgency, open_active, number)
                and not self._reopen(day, info.region, names, levels, open_active)
            ):
                self.retiring[number] = self._new_cluster(
                    day, info.region, limit, customers, self.triggers.why(limit, number, self.world.signals), number
                )
            # Close only once a successor takes new customers: a closed region rejects every sign-up.
            if worst_now[number] >= shard.close_fraction and self._region_has_room(
                info.region, urgency, open_active, number, True
            ):
                limit = names[int(now[:, number].argmax())]
                fleet.close(number)
                self.log.event(day, "cluster_closed", info.cluster.id, f"closed to new customers: {limit_name(limit)}")

    def _reopen(self, day: float, region: str, names: list[str], levels: np.ndarray, open_active: np.ndarray) -> bool:
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
        info = fleet.clusters[number]
        fleet.activate(number)
        open_active[number] = True
        self.retiring.pop(number, None)
        limit = names[int(levels[:, number].argmax())]
        self.log.event(
            day,
            "cluster_reopened",
            info.cluster.id,
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
            if number == exclude or info.region != region:
                continue
            if info.decommissioned:
                continue
            if not info.active:
                if not delivered:
                    return True
                continue
            if open_active[number] and urgency[number] < 1.0:
                return True
        return False

    def _serve_regions(self, day: float, customers: int) -> None:
        if not self.policy.auto_shard:
            return
        fleet = self.fleet
        regions_with_cluster = {
            info.region for info in fleet.clusters if info.open or not (info.active or info.decommissioned)
        }
        for region, count in sorted(self.world.signals.region_demand.items()):
            if region not in regions_with_cluster:
                self._new_cluster(
                    day,
                    region,
                    "region_demand",
                    customers,
                    f"{count} new customers of {region} rejected, no open cluster",
                )
                regions_with_cluster.add(region)
        threshold = self.policy.shard.regional_cluster_at_customers
        if threshold is None:
            return
        elsewhere = self.world.customers_outside_region()
        for region, count in sorted(elsewhere.items()):
            if count >= threshold and region not in {info.region for info in fleet.clusters}:
                self._new_cluster(
                    day, region, "region_demand", customers, f"{count} customers of {region} live elsewhere"
                )

    def _successor_nodes(self, predecessor: int, provider: str) -> int:
        """Enough run nodes for the region's recent demand, for two node lead times and the trend window.

        A new, empty cluster scores best on every headroom and takes (nearly) all of its region's new
        customers at once; starting at the provider's minimum would leave it rejecting placements until its
        first node order arrives.
        """
        if len(self.history) <= MIN_TREND_DAYS:
            return 0
        region = self.fleet.clusters[predecessor].region
        members = [n for n, info in enumerate(self.fleet.clusters) if info.region == region and info.open]
        span = len(self.history) - 1
        horizon = self.growth_horizon_days()
        growth = {}
        for name in ("ram_requested", "pods"):
            past, now = self.history[0][name], self.history[-1][name]
            total = sum(max(now[n] - (past[n] if n < len(past) else 0.0), 0.0) for n in members)
            growth[name] = np.array([total / span * horizon])
        alloc = np.array([float(self.limits.run_node_allocatable_bytes(provider, self.fleet.run_node_ram))])
        max_pods = np.array([float(self.world.config.run_node_max_pods)])  # the run node type's own
        return int(self.triggers.needed_nodes(growth, alloc, max_pods)[0]) + self.policy.n_plus.nodes

    def storage_for_new_cluster(self, day: float) -> str:
        rule = self.policy.new_cluster_storage
        if isinstance(rule, FixedStorage):
            return rule.provider
        assert isinstance(rule, SwitchStorage)
        switched = (
            (rule.on_date is not None and self.world.config.date_of(day) >= rule.on_date)
            or (rule.after_clusters is not None and self.fleet.n_clusters >= rule.after_clusters)
            or (rule.on_volume_shard and self.volume_shard_seen)
        )
        return rule.after if switched else rule.before

    def _new_cluster(
        self, day: float, region: str, limit: str, customers: int, why: str, predecessor: int | None = None
    ) -> int:
        fleet, shard = self.fleet, self.policy.shard
        provider = self.storage_for_new_cluster(day)
        nodes = max(shard.new_cluster_run_nodes or 0, self.limits.storage[provider].min_nodes)
        if predecessor is not None and self.policy.auto_add_nodes:
            # The cap holds at creation too: demand beyond it is the next successor's, not one giant cluster's.
            # (The scenario check keeps the provider's minimum and new_cluster_run_nodes within the cap.)
            cap = run_node_cap(self.policy, self.limits, shard.new_cluster_ctrl_nodes)
            demand = min(self._successor_nodes(predecessor, provider), cap)
            nodes = max(nodes, demand)
        taken = set(fleet.index)
        k = 1 + sum(1 for info in fleet.clusters if info.region == region)
        while f"{region}-{k}" in taken:
            k += 1
        cluster_id = f"{region}-{k}"
        number = fleet.add_cluster(
            cluster_id, region, provider, fleet.ladder[0], shard.new_cluster_ctrl_nodes, day, False
        )
        fleet.counters["pending_nodes"][number] += nodes
        self._order(day, day + shard.lead_days, "cluster", number, nodes, limit=limit, trigger=predecessor)
        self.log.event(
            day, "cluster_ordered", cluster_id, f"{provider}, {nodes} run nodes, due in {shard.lead_days:g} days: {why}"
        )
        if self.log.first_shard is None:
            self.log.first_shard = {
                "day": day,
                "customers": customers,
                "limit": limit,
                "why": why,
                "cluster_id": cluster_id,
            }
        return number
