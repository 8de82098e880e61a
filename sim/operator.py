"""The operator: once a day it looks at every cluster and orders nodes, upgrades control planes and shards.

It reacts to two signals: utilisation against its thresholds (computed for all clusters at once with
numpy) and the placements the engine rejected since its last look, attributed to clusters and limits
through the engine's filter names. Whatever it orders arrives after its lead time. Switches in the
scenario turn node adding, control-plane upgrades and sharding off for "what if capacity is frozen" runs.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sim.decisions import LIMIT_NAMES, SHARD_LIMITS, LimitWatch, limit_of_rejection
from sim.scenario import FixedStorage, OperatorPolicy, SwitchStorage

if TYPE_CHECKING:
    from sim.model import Simulation


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
    def __init__(self, sim: Simulation, policy: OperatorPolicy):
        self.sim = sim
        self.policy = policy
        self.world = sim.world
        self.limits = sim.limits
        self.watch = LimitWatch()
        self.orders: list[Order] = []
        self._seq = 0
        self.upgrade_pending: set[int] = set()
        self.rejected: dict[int, Counter] = defaultdict(Counter)
        self.rejected_reason: dict[tuple[int, str], str] = {}
        self.region_demand: Counter = Counter()
        self.volume_shard_seen = False
        self.retiring: dict[int, int] = {}  # cluster -> the successor ordered for it
        self.first_shard: dict | None = None
        ladder = self.world.ladder
        types = [self.limits.control_plane(name) for name in ladder]
        self.comfortable = np.array([t.comfortable_objects for t in types], dtype=float)
        self.tight = np.array([t.tight_objects for t in types], dtype=float)
        shard = policy.shard
        self.etcd_trigger = shard.etcd_objects or int(0.8 * self.limits.max_etcd_objects)
        # Recent daily levels, to order ahead of demand: what is ordered today arrives after the lead time.
        self.history: deque[dict[str, np.ndarray]] = deque(maxlen=PROJECTION_WINDOW_DAYS + 1)

    # --- signals from the placement path --------------------------------------------------------------------
    def note_rejection(self, cluster: int, filter_name: str, reason: str | None) -> None:
        self.rejected[cluster][filter_name] += 1
        self.rejected_reason.setdefault((cluster, filter_name), reason or filter_name)

    def note_demand(self, region: str) -> None:
        self.region_demand[region] += 1

    # --- the daily look -------------------------------------------------------------------------------------
    def tick(self, day: float) -> None:
        self._deliver(day)
        world = self.world
        n = world.n_clusters
        if n == 0:
            return
        active = np.array([info.active for info in world.clusters], dtype=bool)
        ratios = self._ratios(n)
        levels = {name: ratio.copy() for name, ratio in ratios.items()}
        levels["ram_requested"] = world.view("ram_requested").astype(float)
        levels["pods"] = world.view("pods").astype(float)
        self.history.append(levels)
        self._fold_in_rejections(ratios)
        customers = int(world.view("customers").sum())
        close = self.policy.shard.close_fraction if self.policy.auto_shard else 1.0
        for limit, ratio in ratios.items():
            level = close if _is_shard_limit(limit) else 1.0
            fresh = self.watch.newly_crossed(limit, (ratio >= level) & active)
            for number in fresh:
                self._crossed(limit, int(number), day, customers)
        self._upgrade(day, ratios, active)
        self._add_nodes(day, ratios, active)
        self._shard(day, ratios, active, customers)
        self._serve_regions(day, customers)
        self.rejected.clear()
        self.rejected_reason.clear()
        self.region_demand.clear()

    def _ratios(self, n: int) -> dict[str, np.ndarray]:
        """Each limit's level per cluster as a share of the level that forces an action (>= 1: act)."""
        world, limits, policy = self.world, self.limits, self.policy
        c = {name: world.view(name).astype(float) for name in world.counters}
        node_alloc = np.array([info.node_alloc for info in world.clusters], dtype=float)
        rung = world.view("ctrl_rung")
        top = len(world.ladder) - 1
        providers = [info.provider for info in world.clusters]
        max_volumes = np.array([limits.storage[p].max_volumes for p in providers], dtype=float)
        longhorn = np.array([p == "longhorn" for p in providers])
        shard = policy.shard
        cp = policy.control_plane
        basis = self.comfortable if cp.upgrade_basis == "comfortable" else self.tight
        volumes_fraction = shard.volumes_fraction or 1.0
        exhausted = (rung >= top) | (not policy.auto_upgrade_control_plane)
        pods_capacity = c["nodes"] * limits.max_pods_per_node
        needed = self.needed_nodes(c, node_alloc, whole=False)
        zero = np.zeros(n)
        volume_ratio = _share(c["volumes"], volumes_fraction * max_volumes)
        return {
            "ram_per_run_node": _share(c["ram_requested"], policy.node_order_at_ram_fraction * c["ram_allocatable"]),
            "pods_per_node": _share(c["pods"], policy.node_order_at_pods_fraction * pods_capacity),
            "control_plane_objects": _share(c["etcd_objects"], cp.upgrade_at_fraction * basis[rung]),
            "control_plane_ladder_top": np.where(
                exhausted, _share(c["etcd_objects"], (shard.ctrl_tight_fraction or 1.0) * self.tight[rung]), 0.0
            ),
            "longhorn_volumes": np.where(longhorn, volume_ratio, 0.0),
            "rook_ceph_volumes": np.where(~longhorn, volume_ratio, 0.0),
            "max_run_nodes_per_cluster": _share(needed, float(policy.max_run_nodes_per_cluster) + 0.5),
            "shard_nodes": _share(c["nodes"], shard.nodes) if shard.nodes else zero,
            "shard_pods": _share(c["pods"], shard.pods) if shard.pods else zero,
            "shard_etcd_objects": _share(c["etcd_objects"], self.etcd_trigger),
            "k8s_nodes": _share(c["nodes"], limits.max_nodes),
            "k8s_pods_cluster": _share(c["pods"], limits.max_pods_cluster),
            "k8s_namespaces": _share(c["customers"], limits.max_namespaces),
            "k8s_services": _share(c["services"], limits.max_services_cluster),
            "k8s_etcd_objects": _share(c["etcd_objects"], limits.max_etcd_objects),
        }

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

    def needed_nodes(self, c: dict[str, np.ndarray], node_alloc: np.ndarray, whole: bool = True) -> np.ndarray:
        """Run nodes that keep RAM and pods under the operator's thresholds (fractional unless ``whole``)."""
        policy = self.policy
        by_ram = c["ram_requested"] / (policy.node_order_at_ram_fraction * node_alloc)
        by_pods = c["pods"] / (policy.node_order_at_pods_fraction * self.limits.max_pods_per_node)
        needed = np.maximum(by_ram, by_pods)
        return np.ceil(needed) if whole else needed

    def _fold_in_rejections(self, ratios: dict[str, np.ndarray]) -> None:
        """A rejection on a cluster means its limit binds there now, whatever the utilisation says."""
        rung = self.world.view("ctrl_rung")
        top = len(self.world.ladder) - 1
        for number, counts in self.rejected.items():
            provider = self.world.clusters[number].provider
            for filter_name in counts:
                reason = self.rejected_reason.get((number, filter_name))
                limit = limit_of_rejection(filter_name, reason, provider)
                if limit == "control_plane_objects" and (
                    rung[number] >= top or not self.policy.auto_upgrade_control_plane
                ):
                    limit = "control_plane_ladder_top"
                if limit is not None:
                    ratios[limit][number] = max(ratios[limit][number], 1.0)

    def _crossed(self, limit: str, number: int, day: float, customers: int) -> None:
        info = self.world.clusters[number]
        why = self._why(limit, number)
        self.sim.event(day, "limit_crossed", info.cluster.id, f"{LIMIT_NAMES[limit]}: {why}")
        self.watch.bind(limit, day, customers, info.cluster.id, self._action(limit, number), why)

    def _why(self, limit: str, number: int) -> str:
        world, limits = self.world, self.limits
        c = {name: int(world.counters[name][number]) for name in world.counters}
        info = world.clusters[number]
        for (cluster, filter_name), reason in self.rejected_reason.items():
            if cluster == number and limit_of_rejection(filter_name, reason, info.provider) == limit:
                return f"placement rejected: {reason}"
        p = self.policy
        ctrl = limits.control_plane(world.ctrl_type(number))
        texts = {
            "ram_per_run_node": f"{c['ram_requested'] / 2**30:.0f} GiB requested of "
            f"{c['ram_allocatable'] / 2**30:.0f} GiB allocatable on {c['nodes']} run nodes "
            f"(order at {p.node_order_at_ram_fraction:.0%})",
            "pods_per_node": f"{c['pods']} pods on {c['nodes']} run nodes x {limits.max_pods_per_node} max pods "
            f"(order at {p.node_order_at_pods_fraction:.0%})",
            "control_plane_objects": f"{c['etcd_objects']} etcd objects on {ctrl.name} (comfortable "
            f"{ctrl.comfortable_objects}, tight {ctrl.tight_objects})",
            "control_plane_ladder_top": f"{c['etcd_objects']} etcd objects on {ctrl.name}, the last rung used "
            f"(tight {ctrl.tight_objects})",
            "longhorn_volumes": f"{c['volumes']} volumes of Longhorn's {limits.storage['longhorn'].max_volumes}",
            "rook_ceph_volumes": f"{c['volumes']} volumes of Rook-Ceph's {limits.storage['rook-ceph'].max_volumes}",
            "max_run_nodes_per_cluster": f"needs more than {p.max_run_nodes_per_cluster} run nodes",
            "shard_nodes": f"{c['nodes']} run nodes (trigger {p.shard.nodes})",
            "shard_pods": f"{c['pods']} pods (trigger {p.shard.pods})",
            "shard_etcd_objects": f"{c['etcd_objects']} etcd objects (trigger {self.etcd_trigger})",
            "k8s_nodes": f"{c['nodes']} nodes of {limits.max_nodes}",
            "k8s_pods_cluster": f"{c['pods']} pods of {limits.max_pods_cluster}",
            "k8s_namespaces": f"{c['customers']} namespaces of {limits.max_namespaces}",
            "k8s_services": f"{c['services']} services of {limits.max_services_cluster}",
            "k8s_etcd_objects": f"{c['etcd_objects']} etcd objects of {limits.max_etcd_objects}",
        }
        return f"{info.cluster.id}: {texts[limit]}"

    def _action(self, limit: str, number: int) -> str:
        p = self.policy
        if limit in ("ram_per_run_node", "pods_per_node"):
            return (
                f"order run nodes ({p.node_lead_days:g} days lead)" if p.auto_add_nodes else "none: auto_add_nodes off"
            )
        if limit == "control_plane_objects":
            rung = int(self.world.counters["ctrl_rung"][number])
            if p.auto_upgrade_control_plane and rung + 1 < len(self.world.ladder):
                return f"upgrade control plane {self.world.ladder[rung]} -> {self.world.ladder[rung + 1]}"
            return "none: no higher rung (see control_plane_ladder_top)"
        if limit in SHARD_LIMITS or limit.startswith("k8s_"):
            if p.auto_shard:
                return "close the cluster to new customers; a new cluster takes them"
            return "none: auto_shard off, placements are rejected"
        return "none"

    # --- actions --------------------------------------------------------------------------------------------
    def _order(self, due: float, kind: str, number: int, amount: int = 0) -> None:
        self._seq += 1
        self.orders.append(Order(due, self._seq, kind, number, amount))

    def _deliver(self, day: float) -> None:
        if not self.orders:
            return
        due = [o for o in self.orders if o.due <= day + 1e-9]
        if not due:
            return
        self.orders = [o for o in self.orders if o.due > day + 1e-9]
        world = self.world
        for order in sorted(due):
            info = world.clusters[order.cluster]
            if order.kind == "nodes":
                world.counters["pending_nodes"][order.cluster] -= order.amount
                world.add_nodes(order.cluster, order.amount)
                self.sim.setup_fees(order.cluster, order.amount)
                self.sim.event(day, "node_added", info.cluster.id, f"{order.amount} run node(s) added")
            elif order.kind == "upgrade":
                old = world.ctrl_type(order.cluster)
                world.set_ctrl_rung(order.cluster, int(world.counters["ctrl_rung"][order.cluster]) + 1)
                self.upgrade_pending.discard(order.cluster)
                self.sim.event(
                    day, "control_plane_upgraded", info.cluster.id, f"{old} -> {world.ctrl_type(order.cluster)}"
                )
            elif order.kind == "cluster":
                world.activate(order.cluster)
                # The successor takes the new customers of the cluster it was ordered for (the shard itself).
                for predecessor, successor in sorted(self.retiring.items()):
                    if successor == order.cluster and world.clusters[predecessor].open:
                        world.close(predecessor)
                        self.sim.event(
                            day,
                            "cluster_closed",
                            world.clusters[predecessor].cluster.id,
                            f"closed to new customers: {info.cluster.id} takes them",
                        )
                world.counters["pending_nodes"][order.cluster] -= order.amount
                world.add_nodes(order.cluster, order.amount)
                self.sim.setup_fees(order.cluster, order.amount)
                self.sim.event(
                    day,
                    "cluster_created",
                    info.cluster.id,
                    f"{info.region}, {info.provider}, {order.amount} run nodes, {world.ctrl_type(order.cluster)}",
                )

    def _upgrade(self, day: float, ratios: dict[str, np.ndarray], active: np.ndarray) -> None:
        if not self.policy.auto_upgrade_control_plane:
            return
        rung = self.world.view("ctrl_rung")
        top = len(self.world.ladder) - 1
        due = np.flatnonzero((ratios["control_plane_objects"] >= 1.0) & active & (rung < top))
        for number in due.tolist():
            if number in self.upgrade_pending:
                continue
            self.upgrade_pending.add(number)
            self._order(day + self.policy.control_plane.lead_days, "upgrade", number)
            info = self.world.clusters[number]
            self.sim.event(
                day,
                "control_plane_upgrade_ordered",
                info.cluster.id,
                f"{self.world.ladder[rung[number]]} -> {self.world.ladder[rung[number] + 1]}",
            )

    def _add_nodes(self, day: float, ratios: dict[str, np.ndarray], active: np.ndarray) -> None:
        if not self.policy.auto_add_nodes:
            return
        world, policy = self.world, self.policy
        c = {name: world.view(name).astype(float) for name in ("ram_requested", "pods", "nodes", "pending_nodes")}
        lead = policy.node_lead_days
        ahead = {
            "ram_requested": self.projected("ram_requested", c["ram_requested"], lead),
            "pods": self.projected("pods", c["pods"], lead),
        }
        node_alloc = np.array([info.node_alloc for info in world.clusters], dtype=float)
        needed = self.needed_nodes(ahead, node_alloc)
        have = c["nodes"] + c["pending_nodes"]
        # A rejection for RAM or pods with nothing on order asks for one more node even below the threshold
        # (fragmentation: one large service fits on no node while the cluster as a whole has room).
        for number, counts in self.rejected.items():
            if (counts.get("ram-fit") or counts.get("pods-per-node")) and c["pending_nodes"][number] == 0:
                needed[number] = max(needed[number], have[number] + 1)
        # Nodes on order count against the cap as much as delivered ones.
        wanted = np.minimum(needed, policy.max_run_nodes_per_cluster) - have
        for number in np.flatnonzero(active & (wanted > 0)).tolist():
            amount = int(wanted[number])
            world.counters["pending_nodes"][number] += amount
            self._order(day + lead, "nodes", number, amount)
            info = world.clusters[number]
            self.sim.event(day, "node_ordered", info.cluster.id, f"{amount} run node(s), due in {lead:g} days")

    def _shard(self, day: float, ratios: dict[str, np.ndarray], active: np.ndarray, customers: int) -> None:
        if not self.policy.auto_shard:
            return
        world, shard = self.world, self.policy.shard
        names = [name for name in ratios if _is_shard_limit(name)]
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
        open_active = np.array([info.open and info.active for info in world.clusters], dtype=bool)
        for number in np.flatnonzero(open_active & (urgency >= 1.0)).tolist():
            limit = worst_limit[number]
            info = world.clusters[number]
            if limit in ("longhorn_volumes", "rook_ceph_volumes"):
                self.volume_shard_seen = True
            if number not in self.retiring and not self._region_has_room(info.region, urgency, open_active, number):
                self.retiring[number] = self._new_cluster(
                    day, info.region, limit, customers, self._why(limit, number), number
                )
            # Close only once a successor takes new customers: a closed region rejects every sign-up.
            if worst_now[number] >= shard.close_fraction and self._region_has_room(
                info.region, urgency, open_active, number, True
            ):
                limit = names[int(now[:, number].argmax())]
                world.close(number)
                self.sim.event(day, "cluster_closed", info.cluster.id, f"closed to new customers: {LIMIT_NAMES[limit]}")

    def _region_has_room(
        self, region: str, urgency: np.ndarray, open_active: np.ndarray, exclude: int, delivered: bool = False
    ) -> bool:
        """Whether another cluster of the region has room (or, unless ``delivered``, is on order)."""
        for number, info in enumerate(self.world.clusters):
            if number == exclude or info.region != region:
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
        world = self.world
        regions_with_cluster = {info.region for info in world.clusters if info.open or not info.active}
        for region, count in sorted(self.region_demand.items()):
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
        elsewhere = self.sim.customers_outside_region()
        for region, count in sorted(elsewhere.items()):
            if count >= threshold and region not in {info.region for info in world.clusters}:
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
        region = self.world.clusters[predecessor].region
        members = [n for n, info in enumerate(self.world.clusters) if info.region == region and info.open]
        span = len(self.history) - 1
        horizon = 2 * self.policy.node_lead_days + PROJECTION_WINDOW_DAYS
        growth = {}
        for name in ("ram_requested", "pods"):
            past, now = self.history[0][name], self.history[-1][name]
            total = sum(max(now[n] - (past[n] if n < len(past) else 0.0), 0.0) for n in members)
            growth[name] = np.array([total / span * horizon])
        alloc = np.array([float(self.limits.run_node_allocatable_bytes(provider, self.world.run_node_ram))])
        return int(self.needed_nodes(growth, alloc)[0])

    def storage_for_new_cluster(self, day: float) -> str:
        rule = self.policy.new_cluster_storage
        if isinstance(rule, FixedStorage):
            return rule.provider
        assert isinstance(rule, SwitchStorage)
        switched = (
            (rule.on_date is not None and self.sim.date_of(day) >= rule.on_date)
            or (rule.after_clusters is not None and self.world.n_clusters >= rule.after_clusters)
            or (rule.on_volume_shard and self.volume_shard_seen)
        )
        return rule.after if switched else rule.before

    def _new_cluster(
        self, day: float, region: str, limit: str, customers: int, why: str, predecessor: int | None = None
    ) -> int:
        world, shard = self.world, self.policy.shard
        provider = self.storage_for_new_cluster(day)
        nodes = max(shard.new_cluster_run_nodes or 0, self.limits.storage[provider].min_nodes)
        if predecessor is not None and self.policy.auto_add_nodes:
            # The cap holds at creation too: demand beyond it is the next successor's, not one giant cluster's.
            # (The scenario check keeps the provider's minimum and new_cluster_run_nodes within the cap.)
            demand = min(self._successor_nodes(predecessor, provider), self.policy.max_run_nodes_per_cluster)
            nodes = max(nodes, demand)
        taken = set(world.index)
        k = 1 + sum(1 for info in world.clusters if info.region == region)
        while f"{region}-{k}" in taken:
            k += 1
        cluster_id = f"{region}-{k}"
        number = world.add_cluster(
            cluster_id, region, provider, world.ladder[0], shard.new_cluster_ctrl_nodes, day, False
        )
        world.counters["pending_nodes"][number] += nodes
        self._order(day + shard.lead_days, "cluster", number, nodes)
        self.sim.event(
            day, "cluster_ordered", cluster_id, f"{provider}, {nodes} run nodes, due in {shard.lead_days:g} days: {why}"
        )
        if self.first_shard is None:
            self.first_shard = {
                "day": day,
                "customers": customers,
                "limit": limit,
                "why": why,
                "cluster_id": cluster_id,
            }
        return number


def _is_shard_limit(limit: str) -> bool:
    return limit in SHARD_LIMITS or limit.startswith("k8s_")


def _share(level: np.ndarray, threshold) -> np.ndarray:
    threshold = np.asarray(threshold, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            threshold > 0, level / np.where(threshold > 0, threshold, 1.0), np.where(level > 0, math.inf, 0.0)
        )
    return ratio
