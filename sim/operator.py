"""The operator: once a day it looks at every cluster and orders nodes, upgrades control planes and shards.

It reacts to two signals: utilisation against its thresholds (``sim.triggers``, computed for all clusters at
once with numpy) and the placements the engine rejected since its last look (``world.signals``), attributed to
clusters and limits through the engine's filter names. Whatever it orders arrives after its lead time.
Switches in the scenario turn node adding, control-plane upgrades and sharding off for "what if capacity is
frozen" runs. It changes the world's fleet and writes what it did to the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from placement.catalogue import NODE_ADDED_FILTERS
from sim.decisions import Crossings, is_shard_limit, limit_name
from sim.handover import receivers
from sim.log import Log, OrderRecord
from sim.migration import Migration
from sim.scaledown import ScaleDown
from sim.sharding import Sharding
from sim.trends import DEMAND, DEMAND_PLACED, MIN_TREND_DAYS, PROJECTION_WINDOW_DAYS, LevelTrends
from sim.triggers import NODE_TOTALS, Ratios, Triggers
from sim.world import World

KEPT_FULL_LEVELS = ("ram_requested", "pods", "placed_to_date")  # what says a cluster is kept full (``_kept_full``)
# The day's crossings give the upgrades (``_upgrade``): the control plane's crossing level must be its upgrade level.
if is_shard_limit("control_plane_objects"):
    raise ImportError("sim.operator upgrades at the control plane's crossing level; it is a shard limit now")


@dataclass(order=True, slots=True)
class Order:
    due: float
    seq: int
    kind: str = field(compare=False)  # "nodes", "upgrade", "cluster"
    cluster: int = field(compare=False)
    amount: int = field(compare=False, default=0)


class Operator(LevelTrends):
    def __init__(self, world: World, log: Log):
        self.world = world
        self.fleet = world.fleet
        LevelTrends.__init__(self)
        self.log = log
        self.policy = world.config.scenario.operator
        self.limits = world.config.limits
        self.triggers = Triggers(self.fleet, self.limits, self.policy)
        self.scale_down = ScaleDown(world, log, self.triggers)
        self.sharding = Sharding(self)
        self.sharding.first_clusters()
        self.migration = Migration(world, log, self.triggers)
        self.crossings = Crossings()
        self.orders: list[Order] = []
        self._seq = 0
        self.upgrade_pending: set[int] = set()
        self._was_open: list[bool] = []  # each cluster open and active at the last look
        self.handing: set[int] = set()  # open clusters about to close (``sim.handover``), set by ``Sharding.tick``
        self._cross_levels: tuple[tuple[str, ...], np.ndarray] | None = None  # each ratio's level, a row each
        self._steps: dict[tuple[float, ...], np.ndarray] = {}  # ``_demand_over``'s horizons as a column

    # --- the daily look -------------------------------------------------------------------------------------
    def tick(self, day: float) -> None:
        self.today = day
        self._deliver(day)
        self._note_changes(day)
        fleet = self.fleet
        n = fleet.n_clusters
        if n == 0:
            return
        active = np.array([info.active for info in fleet.clusters], dtype=bool)
        self.taking = receivers(fleet, self.changed, day, self.handing, MIN_TREND_DAYS)
        ratios = self.triggers.ratios(n)
        self.history.append(self.levels_of(ratios))
        self.triggers.fold_in_rejections(ratios, self.world.signals)
        self.triggers.kept_full = self._kept_full(n, active)
        customers = sum(fleet.view("customers").tolist())  # (as ints: a numpy reduction of ten cost more)
        names = ratios.rows.names
        if self._cross_levels is None or self._cross_levels[0] != names:
            close = self.policy.shard.close_fraction if self.policy.auto_shard else 1.0
            self._cross_levels = names, np.array([[close if is_shard_limit(k) else 1.0] for k in names])
        reached = (ratios.matrix >= self._cross_levels[1]) & active
        for limit, number in self.crossings.newly_crossed(names, reached):
            self._crossed(limit, number, day, customers)
        # (No shard limit: the control plane's crossing is its upgrade level, a ratio of 1.)
        self._upgrade(day, reached[ratios.rows.at["control_plane_objects"]])
        # Over a node lead time, for the node orders and the merges' plans (the orders change nothing it reads).
        ahead = self.demand_ahead(self.policy.node_lead_days)
        self._add_nodes(day, ratios, active, ahead)
        if self.migration.tick(day, ratios, ahead, self.trend_known(n)):
            ratios = self._moved(n)
        self._scale_down(day, n)
        self.sharding.tick(day, ratios, active, customers)
        self.world.signals.clear()

    def _note_changes(self, day: float) -> None:
        """Record the clusters delivered, closed or reopened since the last look (``changed``)."""
        is_open = [bool(info.open and info.active) for info in self.fleet.clusters]
        was = self._was_open + [False] * (len(is_open) - len(self._was_open))
        if is_open != was:
            for number in [k for k, (now, then) in enumerate(zip(is_open, was, strict=True)) if now != then]:
                self.changed[number] = (day, was[number])
                if was[number]:  # closed: the region's other open clusters take its sign-ups (``sim.handover``)
                    region = self.fleet.clusters[number].region
                    for other in [k for k, (now, then) in enumerate(zip(is_open, was, strict=True)) if now and then]:
                        if self.fleet.clusters[other].region == region:
                            self.changed[other] = (day, False)
        self._was_open = is_open
        for number in [k for k, (since, _) in self.changed.items() if day - since > PROJECTION_WINDOW_DAYS]:
            del self.changed[number]

    def _moved(self, n: int) -> Ratios:
        """Services moved between clusters today (``sim.migration``): today's ratios again, and every past day's
        levels shifted by what moved, as if the moved services had always been where they are now. A merge is no
        growth: unshifted, the target's jump read as a trend, so its projection ordered run nodes and successors
        for demand that only changed cluster (and the moved services counted as placements there)."""
        ratios = self.triggers.ratios(n)
        now = self.levels_of(ratios)
        self.triggers.fold_in_rejections(ratios, self.world.signals)
        with np.errstate(invalid="ignore"):
            delta = {name: np.nan_to_num(now[name] - self.history[-1][name], posinf=0, neginf=0) for name in now}
        for past in self.history:
            for name, level in past.items():
                level += delta[name][: len(level)]
        self._trends_of = None  # the levels then moved too
        return ratios

    def _kept_full(self, n: int, active: np.ndarray) -> np.ndarray:
        """Closed clusters, and open ones whose requested RAM and pods have both fallen over the trend window with
        no placement at all in it: kept full, with room for their recent placements, rather than at the order
        levels (``fill_when_falling``). The order levels are headroom for growth over a lead time; an open
        cluster that still takes new customers keeps them (filled, they turned new customers away)."""
        if not (self.policy.scale_down.fill_when_falling and self.policy.scale_down.enabled):
            return np.zeros(n, dtype=bool)
        if len(self.history) <= PROJECTION_WINDOW_DAYS:
            return np.zeros(n, dtype=bool)  # (no cluster's trend known yet, ``trend_known``)
        # Only the clusters of the window's first day have a known trend; those ordered since have no level then.
        first = self.history[0].pick(KEPT_FULL_LEVELS)
        then = first.shape[1]
        last = self.history[-1].pick(KEPT_FULL_LEVELS)[:, :then]
        # The three levels' changes in one subtraction, read as lists (of finite floats, x - y < 0 exactly where x < y).
        ram, pods, placed = (last - first).tolist()
        # An open cluster is idle because its region has no sign-ups, not because another open cluster took them:
        # where one of the region's clusters closed within the window, its sign-ups come here now.
        handed = {self.fleet.clusters[k].region for k, (_, was_open) in self.changed.items() if was_open}
        # A closed cluster takes no new customers: what its own customers add is its recent placements' rate (gross
        # of churn, so a cluster closed within the window keeps room at its rate as an open one), and the order
        # levels' headroom for new customers is the open clusters'. Held at the order levels until its demand fell,
        # a just-closed cluster stayed at about 75 % for months (1.3-1.4x its group's optimum on a RAM-heavy probe).
        kept = np.zeros(n, dtype=bool)
        kept[:then] = [
            not info.open or (fell < 0 and fewer < 0 and placed_since == 0 and info.region not in handed)
            for info, fell, fewer, placed_since in zip(self.fleet.clusters[:then], ram, pods, placed, strict=True)
        ]
        return kept & active

    def demand_ahead(self, horizon: float) -> dict[str, np.ndarray]:
        """Requested RAM, pods and replicas' disk per cluster to hold over ``horizon`` days: the trend's projection,
        or for a cluster kept full today's level plus its placements at the trend window's rate (gross of churn;
        since a role change within the window, ``slope`` of the placements to date) over at most two node lead
        times; a planned merge's target holds its source's customers
        too (``sim.migration``).

        The day's two look-aheads (a node lead time for the node orders and merge plans, ``growth_horizon_days``
        for scale-down) are worked out together at the first ask and kept for the day: nothing between them changes
        a cluster's demand but services moved between clusters (``_moved``), which starts the day's figures afresh."""
        key = ("demand ahead", horizon)
        known = self._today().get(key)
        if known is None:
            horizons = tuple(dict.fromkeys((horizon, self.policy.node_lead_days, self.growth_horizon_days())))
            over = self._demand_over(horizons)
            for k, days in enumerate(horizons):
                self._trends[("demand ahead", days)] = over[:, k]
            self._trends[("demand over",)] = horizons, over
            known = self._trends[key]
        # (By row: zip(strict=True) over a matrix's rows asks its iterator once more, ~4 us.)
        return self.migration.reserved({name: known[row] for row, name in enumerate(DEMAND)})

    def nodes_needed_ahead(self, horizon: float) -> np.ndarray:
        """Run nodes that keep ``demand_ahead(horizon)`` under the order levels (``Triggers.needed_nodes``; a
        cluster kept full at 100 %). Where no merge reserves room (``sim.migration``), the day's look-aheads are
        worked out in one call, as one array of a row per horizon (element by element the same arithmetic), and
        kept for the day: the node orders and scale-down each ask for one."""
        ahead = self.demand_ahead(horizon)
        if self.migration.plans:
            return self.triggers.needed_nodes(ahead)
        known = self._trends.get(("nodes needed ahead",))  # (``demand_ahead`` made the day's figures current)
        if known is None:
            horizons, over = self._trends[("demand over",)]
            needed = self.triggers.needed_nodes({name: over[row] for row, name in enumerate(DEMAND)})
            known = self._trends[("nodes needed ahead",)] = dict(zip(horizons, needed, strict=True))
        found = known.get(horizon)
        return self.triggers.needed_nodes(ahead) if found is None else found

    def _demand_over(self, horizons: tuple[float, ...]) -> np.ndarray:
        """``demand_ahead``'s levels (before merges) for each of ``horizons``, by level of DEMAND, horizon and
        cluster: all horizons in the same arrays (element by element the arithmetic of one horizon)."""
        fleet = self.fleet
        # Today's counters, as the history's last day holds them (``levels_of``; nothing from the look's start to here
        # changes them, and ``_moved`` shifts that day to the moved levels).
        levels = self.history[-1].pick(DEMAND_PLACED)
        now = levels[: len(DEMAND)]
        full = self.triggers.kept_full
        any_full = np.count_nonzero(full) > 0
        # (Without a trend, today's level: a kept-full cluster has a full trend window, ``_kept_full``.)
        project = len(self.history) > MIN_TREND_DAYS
        if not (project or any_full):
            return np.repeat(now[:, None], len(horizons), axis=1)  # (only on a run's first week)
        rise = self.slope(DEMAND_PLACED, levels)
        steps = self._steps.get(horizons)
        if steps is None:  # (the same two horizons every day)
            steps = self._steps[horizons] = np.array(horizons, dtype=float)[:, None]  # a row per horizon
        growing = steps if project else np.zeros_like(steps)  # (lead times are never negative)
        ahead = now[:, None] + rise[: len(DEMAND), None] * growing  # level, horizon, cluster
        if any_full:
            # Its placements at their rate until a node ordered back could arrive and settle (two lead times), not
            # over the scale-down's whole look-ahead: a closed cluster's inflow decays as its last customers' later
            # services arrive, and holding 56 days of it kept the RAM-heavy probe 1.26x its optimum's bound.
            placed = rise[-1] * np.minimum(steps, 2 * self.policy.node_lead_days)
            services = np.maximum(fleet.view("services"), 1.0)  # (as floats: the maximum with 1.0 is one)
            pods_per_service = self.world.config.scenario.customers.pods_per_service
            inflow = np.empty((len(DEMAND), *placed.shape))
            inflow[0], inflow[1], inflow[2] = (
                placed * now[0] / services,
                placed * pods_per_service,
                placed * now[2] / services,
            )
            kept = now[:, None] + inflow
            if self.taking:  # a kept-full cluster about to take its region's sign-ups (``sim.handover``) holds them too
                taking = np.zeros(len(full), dtype=bool)
                taking[self.taking] = True
                kept = np.where(taking, np.maximum(kept, ahead), kept)
            ahead = np.where(full, kept, ahead)
        return ahead

    def _scale_down(self, day: float, n: int) -> None:
        """Scale-down keeps what the trend says the cluster needs again before a re-ordered node could arrive
        and settle: the same look-ahead as a new cluster's sizing, so a fresh cluster grows into its nodes."""
        self.scale_down.tick(day, self.nodes_needed_ahead(self.growth_horizon_days()), self.trend_known(n))

    def growth_horizon_days(self) -> float:
        return 2 * self.policy.node_lead_days + PROJECTION_WINDOW_DAYS

    def successor_horizon_days(self) -> float:
        """Days of its region's growth a new cluster is bought for: until its own trend is measured
        (``MIN_TREND_DAYS`` after delivery, ``projected_rows``) and node orders placed then arrive, plus a lead time,
        plus one more trend window: that first trend rests on a week of history, and the services that closed clusters
        kept full spill onto it arrive in steps it does not show yet (35 days left stage 1 turning 16 placements
        away on one day; 56 days overbought the three-region probe's successors, 1.26x its bound on day 182). The
        hand-over share (``sim.handover``) orders for it from delivery, yet 28 and 35 days still lost stage 1
        27 and 11 customers."""
        return 2 * MIN_TREND_DAYS + 2 * self.policy.node_lead_days

    def _crossed(self, limit: str, number: int, day: float, customers: int) -> None:
        info = self.fleet.clusters[number]
        why = self.triggers.why(limit, number, self.world.signals)
        self.log.event(day, "limit_crossed", info.cluster.id, f"{limit_name(limit)}: {why}")
        self.log.bind(limit, day, customers, info.cluster.id, self.triggers.action(limit, number), why)

    # --- actions --------------------------------------------------------------------------------------------
    def order(
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
                for predecessor, successor in sorted(self.sharding.retiring.items()):
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

    def _upgrade(self, day: float, reached: np.ndarray) -> None:
        """Order a control-plane upgrade where the active clusters ``reached`` the control plane's upgrade level."""
        if not self.policy.auto_upgrade_control_plane:
            return
        if not np.count_nonzero(reached):
            return  # (most days)
        rung = self.fleet.view("ctrl_rung")
        top = len(self.fleet.ladder) - 1
        due = (reached & (rung < top)).nonzero()[0]
        for number in due.tolist():
            if number in self.upgrade_pending:
                continue
            self.upgrade_pending.add(number)
            lead = self.policy.control_plane.lead_days
            self.order(day, day + lead, "upgrade", number, limit="control_plane_objects", trigger=number)
            info = self.fleet.clusters[number]
            self.log.event(
                day,
                "control_plane_upgrade_ordered",
                info.cluster.id,
                f"{self.fleet.ladder[rung[number]]} -> {self.fleet.ladder[rung[number] + 1]}",
            )

    def _add_nodes(self, day: float, ratios: Ratios, active: np.ndarray, ahead: dict[str, np.ndarray]) -> None:
        if not self.policy.auto_add_nodes:
            return
        fleet, policy = self.fleet, self.policy
        pending = fleet.view("pending_nodes")  # (as it was at the start: nothing below changes it before the orders)
        lead = policy.node_lead_days
        # n_plus: the cluster still holds its pods after losing its k largest run nodes (all of one type).
        needed = self.nodes_needed_ahead(lead) + policy.n_plus.nodes  # (a new array: changed below)
        have = np.add(fleet.view("nodes"), pending, dtype=float)
        # A rejection for RAM, pods or disk with nothing on order asks for one more node even below the threshold
        # (fragmentation: one large service fits on no node while the cluster as a whole has room).
        if self.world.signals.rejected:
            kept_full, spill = self.triggers.kept_full, policy.spill.enabled
            for number, counts in self.world.signals.rejected.items():
                if spill and kept_full[number] and not fleet.clusters[number].open:
                    continue  # a closed cluster kept full: what finds no room there spills
                if any(counts.get(name) for name in NODE_ADDED_FILTERS) and pending[number] == 0:
                    needed[number] = max(needed[number], have[number] + 1)
        # A merge whose services found no room on its target (``sim.migration``): one more node there.
        for number in self.migration.more_nodes:
            if pending[number] == 0:
                needed[number] = max(needed[number], have[number] + 1)
        self.migration.more_nodes.clear()
        # Nodes on order count against the cap as much as delivered ones.
        wanted = (np.minimum(needed, self.triggers.node_cap()) - have).tolist()
        for number in [k for k, (on, more) in enumerate(zip(active.tolist(), wanted, strict=True)) if on and more > 0]:
            amount = int(wanted[number])
            fleet.counters["pending_nodes"][number] += amount
            # RAM, pods per node or disk, whichever is nearest its threshold, is why (a rejection set its ratio to
            # >= 1; a tie names the first).
            limit = max(NODE_TOTALS, key=lambda key: ratios[key][number])
            self.order(day, day + lead, "nodes", number, amount, limit=limit, trigger=number)
            info = fleet.clusters[number]
            self.log.event(day, "node_ordered", info.cluster.id, f"{amount} run node(s), due in {lead:g} days")
