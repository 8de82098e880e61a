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

from placement.catalogue import NODE_ADDED_FILTERS
from sim.decisions import Crossings, is_shard_limit, limit_name
from sim.handover import DEMANDS, floor_slope, receivers
from sim.log import Log, OrderRecord
from sim.migration import Migration
from sim.scaledown import ScaleDown
from sim.sharding import MIN_TREND_DAYS, Sharding
from sim.triggers import NODE_TOTALS, Triggers
from sim.world import World

PROJECTION_WINDOW_DAYS = 28
DEMAND = ("ram_requested", "pods", "disk_bytes")  # what a cluster's customers ask of its run nodes
DEMAND_PLACED = (*DEMAND, "placements")  # and the placements, whose rate a kept-full cluster holds room for


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
        self.sharding = Sharding(self)
        self.sharding.first_clusters()
        self.migration = Migration(world, log, self.triggers)
        self.crossings = Crossings()
        self.orders: list[Order] = []
        self._seq = 0
        self.upgrade_pending: set[int] = set()
        # Recent daily levels, to order ahead of demand: what is ordered today arrives after the lead time.
        self.history: deque[dict[str, np.ndarray]] = deque(maxlen=PROJECTION_WINDOW_DAYS + 1)
        # Clusters whose role changed within the trend window (delivered, closed to new customers, reopened) -> the
        # day and whether they were closed then: their trend is measured since (``projected_rows``).
        self.changed: dict[int, tuple[float, bool]] = {}
        self._was_open: list[bool] = []  # each cluster open and active at the last look
        self.handing: set[int] = set()  # open clusters about to close (``sim.handover``), set by ``Sharding.tick``
        # The open clusters taking over their region's sign-ups (``sim.handover.receivers``), as the day's look finds
        # them: only the shard decisions, after every projection of the day, open or close a cluster.
        self.taking: list[int] = []
        self.today = 0.0
        # ``_trend_base`` and ``slope`` by their arguments, for the history's last day they were measured on.
        self._trends: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray | None] | np.ndarray] = {}
        self._trends_of: dict[str, np.ndarray] | None = None
        self._cross_levels: tuple[tuple[str, ...], np.ndarray] | None = None  # each ratio's level, a row each

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
        customers = int(fleet.view("customers").sum())
        names = tuple(ratios)
        if self._cross_levels is None or self._cross_levels[0] != names:
            close = self.policy.shard.close_fraction if self.policy.auto_shard else 1.0
            self._cross_levels = names, np.array([[close if is_shard_limit(k) else 1.0] for k in names])
        reached = (np.array(list(ratios.values())) >= self._cross_levels[1]) & active
        for limit, number in self.crossings.newly_crossed(names, reached):
            self._crossed(limit, number, day, customers)
        self._upgrade(day, ratios, active)
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

    def levels_of(self, ratios: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Today's levels as the history keeps them: every ratio, and the demand and placement counters (the start
        from a live fleet rebuilds its older days through this too, ``sim.start_from.carry``)."""
        fleet = self.fleet
        levels = dict(zip(ratios, np.array(list(ratios.values())), strict=True))  # (copied at once)
        counted = np.array([fleet.view(name) for name in DEMAND_PLACED], dtype=float)
        levels.update(zip(DEMAND_PLACED, counted, strict=True))
        return levels

    def _moved(self, n: int) -> dict[str, np.ndarray]:
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

    def projected_rows(self, names: tuple[str, ...], current: np.ndarray, lead_days: float) -> np.ndarray:
        """Levels (a row of ``current`` per name) extrapolated ``lead_days`` ahead from their trend over the last
        weeks (never below today's).

        A cluster whose role changed within the window is measured since the change once that is a week back, and
        a cluster closed within the week has no trend yet: measured from the window's start, a delivered cluster's
        weeks on order (empty) spread its growth over the whole window, so its own node orders came weeks late and a
        new cluster had to be bought with two months of its region's growth; a cluster closed to new customers kept
        the growth its new customers had brought, and held run nodes for them for weeks."""
        if len(self.history) <= MIN_TREND_DAYS or lead_days <= 0:
            return current
        return current + self.slope(names, current) * lead_days

    def slope(self, name: str | tuple[str, ...], current: np.ndarray) -> np.ndarray:
        """A level's rise per day over the trend window (none where it fell), since a role change within it
        (``projected_rows``); several levels' (a row of ``current`` per name) for a tuple of names. Kept for the day
        (until the history changes) by the levels it was given: the node orders and scale-down both project the
        demand. Callers must not change what it returns."""
        key = ("slope", name, current.dtype.char, current.shape, current.tobytes())
        known = self._today().get(key)
        if known is not None:
            return known
        base, days, from_current = self._trend_base(name, current.shape[-1])
        before = base if from_current is None else np.where(from_current, current, base)
        rise = np.maximum(current - before, 0.0) / days
        if isinstance(name, str):
            rise = self._floor(name, current, rise)
        else:
            for i, row in enumerate(name):
                if row in DEMANDS:  # (only these: the others stay as they are)
                    rise[i] = self._floor(row, current[i], rise[i])
        self._trends[key] = rise
        return rise

    def _floor(self, name: str, current: np.ndarray, rise: np.ndarray) -> np.ndarray:
        """A receiver's rise at least its share of its region's (``sim.handover``)."""
        return floor_slope(self.fleet, self.history, self.changed, self.today, self.taking, name, current, rise)

    def _today(self) -> dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray | None] | np.ndarray]:
        """What ``_trend_base`` and ``slope`` worked out from the history as it is (a new day or services moved
        between clusters, ``_moved``, change it)."""
        if self._trends_of is not self.history[-1]:
            self._trends, self._trends_of = {}, self.history[-1]
        return self._trends

    def _trend_base(self, names: str | tuple[str, ...], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Where ``slope`` measures a level from, per cluster: the level then, the days since, and where today's
        level is taken instead (None: nowhere); a row each for a tuple of names. Kept for the day (until the
        history changes): many callers ask."""
        key = ("base", names, n)
        known = self._today().get(key)
        if known is not None:
            return known
        history = self.history
        rows = (names,) if isinstance(names, str) else names
        span = len(history) - 1
        base = np.zeros((len(rows), n))
        from_current = np.zeros((len(rows), n), dtype=bool)
        then = len(history[0][rows[0]])  # (a day's levels have one length: the clusters then)
        base[:, :then] = [history[0][name] for name in rows]
        from_current[:, then:] = True  # no level then: no trend
        days = np.full(n, float(span))
        for number, (changed, closed) in self.changed.items():
            age = int(round(self.today - changed))
            if number >= n or age >= span:
                continue
            if age >= MIN_TREND_DAYS:
                then = history[-1 - age]
                base[:, number] = [then[name][number] for name in rows]
                days[number] = age
                from_current[:, number] = False
            elif closed:
                from_current[:, number] = True  # closed within the week: no trend of its own yet
        if isinstance(names, str):
            base, from_current = base[0], from_current[0]
        known = self._trends[key] = (base, days, from_current if from_current.any() else None)
        return known

    def _kept_full(self, n: int, active: np.ndarray) -> np.ndarray:
        """Closed clusters, and open ones whose requested RAM and pods have both fallen over the trend window with
        no placement at all in it: kept full, with room for their recent placements, rather than at the order
        levels (``fill_when_falling``). The order levels are headroom for growth over a lead time; an open
        cluster that still takes new customers keeps them (filled, they turned new customers away)."""
        if not (self.policy.scale_down.fill_when_falling and self.policy.scale_down.enabled):
            return np.zeros(n, dtype=bool)
        falling = self.trend_known(n)
        for name in ("ram_requested", "pods"):
            past, now = self.history[0][name], self.history[-1][name]
            if len(past) < n:  # clusters ordered within the window: no level then, none falling
                past = np.concatenate((past, np.full(n - len(past), np.inf)))
            falling &= now[:n] < past
        past, now = self.history[0]["placements"], self.history[-1]["placements"]
        idle = np.zeros(n, dtype=bool)
        idle[: len(past)] = now[: len(past)] == past
        closed = np.array([not info.open for info in self.fleet.clusters], dtype=bool)
        # An open cluster is idle because its region has no sign-ups, not because another open cluster took them:
        # where one of the region's clusters closed within the window, its sign-ups come here now.
        handed = {self.fleet.clusters[k].region for k, (_, was_open) in self.changed.items() if was_open}
        idle &= np.array([info.region not in handed for info in self.fleet.clusters], dtype=bool)
        # A closed cluster takes no new customers: what its own customers add is its recent placements' rate (gross
        # of churn, so a cluster closed within the window keeps room at its rate as an open one), and the order
        # levels' headroom for new customers is the open clusters'. Held at the order levels until its demand fell,
        # a just-closed cluster stayed at about 75 % for months (1.3-1.4x its group's optimum on a RAM-heavy probe).
        return self.trend_known(n) & active & (closed | (falling & idle))

    def demand_ahead(self, horizon: float) -> dict[str, np.ndarray]:
        """Requested RAM, pods and replicas' disk per cluster to hold over ``horizon`` days: the trend's projection,
        or for a cluster kept full today's level plus its placements at the trend window's rate (gross of churn;
        since a role change within the window, ``slope``); a planned merge's target holds its source's customers
        too (``sim.migration``).

        The day's two look-aheads (a node lead time for the node orders and merge plans, ``growth_horizon_days``
        for scale-down) are worked out together at the first ask and kept for the day: nothing between them changes
        a cluster's demand but services moved between clusters (``_moved``), which starts the day's figures afresh."""
        key = ("demand ahead", horizon)
        known = self._today().get(key)
        if known is None:
            horizons = tuple(dict.fromkeys((horizon, self.policy.node_lead_days, self.growth_horizon_days())))
            for days, levels in zip(horizons, self._demand_over(horizons), strict=True):
                self._trends[("demand ahead", days)] = levels
            known = self._trends[key]
        return self.migration.reserved(dict(zip(DEMAND, known, strict=True)))

    def _demand_over(self, horizons: tuple[float, ...]) -> list[np.ndarray]:
        """``demand_ahead``'s levels (before merges) for each of ``horizons``, a row per level of DEMAND: all horizons
        in the same arrays (element by element the arithmetic of one horizon)."""
        fleet = self.fleet
        levels = np.array([fleet.view(name) for name in DEMAND_PLACED], dtype=float)
        now = levels[: len(DEMAND)]
        full = self.triggers.kept_full
        # (Without a trend, today's level: a kept-full cluster has a full trend window, ``_kept_full``.)
        project = len(self.history) > MIN_TREND_DAYS
        if not (project or full.any()):
            return [now] * len(horizons)
        rise = self.slope(DEMAND_PLACED, levels)
        steps = np.array(horizons, dtype=float)[:, None]  # a row per horizon
        growing = steps if project else np.zeros_like(steps)  # (lead times are never negative)
        ahead = now[:, None] + rise[: len(DEMAND), None] * growing  # level, horizon, cluster
        if full.any():
            placed = rise[-1] * steps
            services = np.maximum(fleet.view("services").astype(float), 1.0)
            pods_per_service = self.world.config.scenario.customers.pods_per_service
            inflow = np.array([placed * now[0] / services, placed * pods_per_service, placed * now[2] / services])
            # A kept-full cluster about to take its region's sign-ups (``sim.handover``) holds them too.
            taking = np.zeros(len(full), dtype=bool)
            taking[self.taking] = True
            kept = now[:, None] + inflow
            ahead = np.where(full, np.where(taking, np.maximum(kept, ahead), kept), ahead)
        return [ahead[:, k] for k in range(len(horizons))]

    def _scale_down(self, day: float, n: int) -> None:
        """Scale-down keeps what the trend says the cluster needs again before a re-ordered node could arrive
        and settle: the same look-ahead as a new cluster's sizing, so a fresh cluster grows into its nodes."""
        self.scale_down.tick(day, self.demand_ahead(self.growth_horizon_days()), self.trend_known(n))

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
            self.order(day, day + lead, "upgrade", number, limit="control_plane_objects", trigger=number)
            info = self.fleet.clusters[number]
            self.log.event(
                day,
                "control_plane_upgrade_ordered",
                info.cluster.id,
                f"{self.fleet.ladder[rung[number]]} -> {self.fleet.ladder[rung[number] + 1]}",
            )

    def _add_nodes(
        self, day: float, ratios: dict[str, np.ndarray], active: np.ndarray, ahead: dict[str, np.ndarray]
    ) -> None:
        if not self.policy.auto_add_nodes:
            return
        fleet, policy = self.fleet, self.policy
        c = {name: fleet.view(name).astype(float) for name in ("nodes", "pending_nodes")}
        lead = policy.node_lead_days
        # n_plus: the cluster still holds its pods after losing its k largest run nodes (all of one type).
        needed = self.triggers.needed_nodes(ahead) + policy.n_plus.nodes
        have = c["nodes"] + c["pending_nodes"]
        # A rejection for RAM, pods or disk with nothing on order asks for one more node even below the threshold
        # (fragmentation: one large service fits on no node while the cluster as a whole has room).
        spills = self.triggers.kept_full & ~np.array([info.open for info in fleet.clusters], dtype=bool)
        spills &= policy.spill.enabled
        for number, counts in self.world.signals.rejected.items():
            if spills[number]:
                continue  # a closed cluster kept full: what finds no room there spills
            if any(counts.get(name) for name in NODE_ADDED_FILTERS) and c["pending_nodes"][number] == 0:
                needed[number] = max(needed[number], have[number] + 1)
        # A merge whose services found no room on its target (``sim.migration``): one more node there.
        for number in self.migration.more_nodes:
            if c["pending_nodes"][number] == 0:
                needed[number] = max(needed[number], have[number] + 1)
        self.migration.more_nodes.clear()
        # Nodes on order count against the cap as much as delivered ones.
        wanted = np.minimum(needed, self.triggers.node_cap()) - have
        for number in np.flatnonzero(active & (wanted > 0)).tolist():
            amount = int(wanted[number])
            fleet.counters["pending_nodes"][number] += amount
            # RAM, pods per node or disk, whichever is nearest its threshold, is why (a rejection set its ratio to
            # >= 1; a tie names the first).
            limit = max(NODE_TOTALS, key=lambda key: ratios[key][number])
            self.order(day, day + lead, "nodes", number, amount, limit=limit, trigger=number)
            info = fleet.clusters[number]
            self.log.event(day, "node_ordered", info.cluster.id, f"{amount} run node(s), due in {lead:g} days")
