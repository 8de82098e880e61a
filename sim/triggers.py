"""The operator's triggers: each limit's level per cluster as a share of the level at which it acts, and why.

A ratio of 1 or more means act: order run nodes (RAM, pods), upgrade the control plane, or shard (the shard
limits and the Kubernetes thresholds, at ``close_fraction``). Ratios are computed for all clusters at once
with numpy from the fleet's counters; a placement the engine rejected for a limit sets that limit's ratio to
at least 1 on its cluster, whatever the utilisation says.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from placement.catalogue import BY_KEY, LIMITS
from placement.limits import Limits
from sim.config import run_node_cap
from sim.day_levels import Layout, Levels, Rows
from sim.decisions import limit_of_rejection, volume_limit
from sim.fleet import Fleet
from sim.fleet_layout import FOOTPRINT_COUNTERS
from sim.planning import action, shard_etcd_trigger
from sim.scenario import OperatorPolicy
from sim.world import Signals

# The fleet counter each cluster-wide catalogue limit's level is (a footprint field's counter). A limit on the
# node count (needed None) counts every node of the cluster: its servers register as nodes and take a pod
# range as much as its run nodes do.
LEVEL_COUNTER = dict(FOOTPRINT_COUNTERS)
# A per-node limit is answered by more run nodes: the operator reads it as the cluster's total against its run
# nodes' sum (RAM allocatable, max-pods), ordering at its own level (the policy field). So is the disk where the
# replicas are on the run nodes (each brings ``ClusterInfo.node_disk``), ordered at RAM's level: both come with
# the same server and its lead time. (Where they are on dedicated storage nodes, the simulator has no disk
# capacity: the storage cost model buys those nodes as the raw disk grows, ``placement.storage_cost``.)
NODE_TOTALS = {
    "ram_per_run_node": ("ram_requested", "node_order_at_ram_fraction"),
    "pods_per_node": ("pods", "node_order_at_pods_fraction"),
    "disk": ("disk_bytes", "node_order_at_ram_fraction"),
}
# A new per-node limit, or one whose capacity the cluster holds, needs its total here.
if set(NODE_TOTALS) != {limit.key for limit in LIMITS if limit.per_node or limit.on_load}:
    raise ImportError(f"sim.triggers reads node-bought limits {sorted(NODE_TOTALS)}; the catalogue has others")
# The counters the operator's thresholds rest on (``Triggers._thresholds``), with the run nodes' max-pods.
THRESHOLDS_REST_ON = ("nodes", "ram_allocatable", "ctrl_rung", "ctrl_nodes")
# The catalogue's Kubernetes limits on a whole cluster, each answered by a new cluster.
K8S_THRESHOLDS = tuple(limit.key for limit in LIMITS if limit.filter == "k8s-thresholds")


class Ratios(Levels):
    """``Triggers.ratios``: each limit's ratios per cluster, a row of ``matrix`` each (in the catalogue's order). A
    rejection folded into a row is in the matrix too; the operator reads all the rows at once."""

    __slots__ = ()


class Triggers:
    def __init__(self, fleet: Fleet, limits: Limits, policy: OperatorPolicy):
        self.fleet = fleet
        self.limits = limits
        self.policy = policy
        types = [limits.control_plane(name) for name in fleet.ladder]
        self.comfortable = np.array([t.comfortable_objects for t in types], dtype=float)
        control = BY_KEY["control_plane_objects"]
        self.tight = np.array([control.capacity(limits, "", t) for t in types], dtype=float)
        self.etcd_trigger = shard_etcd_trigger(policy, limits)
        # Clusters the operator keeps full rather than at its order levels (set by it each day): closed ones
        # whose demand falls (``ScaleDownPolicy.fill_closed_when_falling``).
        self.kept_full = np.zeros(0, dtype=bool)
        self._node_disk = np.zeros(0)  # ``node_disk``, per cluster number
        self._disk: tuple[np.ndarray, np.ndarray] | None = None  # ``_known_disk``
        # What a cluster's storage provider and run nodes fix, per cluster number (``_per_cluster``): the fleet
        # only grows, and the operator asks many times a day.
        self._providers: tuple[str, ...] = ()
        self._fleet_providers: tuple[str, ...] = ()  # ``_providers_now``
        self._capacities: dict[str, np.ndarray] = {}  # ``capacities`` per limit, for ``_providers``
        self._on_provider: dict[str, np.ndarray] = {}  # each storage provider's clusters, for ``_providers``
        self._run_node: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # alloc, max-pods, system pods
        self._caps: dict[int, int] = {}  # ``node_cap`` per control-plane node count
        # ``_control_plane``'s thresholds and last-rung clusters, per clusters' rungs; the last rung's clusters now.
        self._ctrl_thresholds: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._exhausted = np.zeros(0, dtype=bool)
        self._rows: tuple[tuple, tuple[tuple[str, ...], np.ndarray, np.ndarray]] | None = None  # ``_layout``
        self._acts_at: tuple[tuple, tuple[tuple[str, ...], np.ndarray, bool]] | None = None  # ``_thresholds``
        self._cluster_caps: dict[bytes, np.ndarray] = {}  # ``node_cap`` per clusters' control-plane node counts
        self._room: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}  # ``_node_room``
        # ``_node_room``'s last answer with ``kept_full`` on and off: the kept-full array and run nodes it was for.
        self._room_last: dict[bool, tuple[np.ndarray, np.ndarray, tuple]] = {}
        self._names = Layout()  # the rows of ``ratios``' limits
        self._system: tuple[bytes, np.ndarray, np.ndarray] | None = None  # ``_system_pods``
        self._counters = Layout()  # the rows of the fleet's counters, converted at once (``ratios``)
        self._plan: tuple[Rows, tuple[tuple[str, ...], np.ndarray, np.ndarray, dict[str, int]]] | None = None

    def ratios(self, n: int) -> Ratios:
        """Each limit's level per cluster as a share of the level that forces an action (>= 1: act): every
        limit of the catalogue, in its order (``volumes`` per storage provider), then the operator's own.

        Every share is worked out in one matrix, a row per limit (element by element the division each limit's own
        array had): on a fleet of a few clusters, numpy's calls per limit cost more than the arithmetic."""
        fleet = self.fleet
        rows = self._counters.rows(tuple(fleet.counters))  # (``counter_rows``' order)
        c = Levels(rows, fleet.counter_rows().astype(float))
        rows, levels = self._levels(c, n)
        limits, thresholds, positive = self._thresholds(c, self._providers_now(), n)
        if limits != rows:
            raise RuntimeError(f"sim.triggers: levels {rows} and thresholds {limits} differ")
        names, source, hidden = self._layout(limits)
        shares = _share(levels, thresholds, positive).take(source, axis=0)
        np.putmask(shares, hidden, 0.0)  # (in place: ``where`` made a third array, and an array of the 0)
        return Ratios(self._names.rows(names), shares)

    def _providers_now(self) -> tuple[str, ...]:
        """Each cluster's storage provider (a cluster's never changes: kept while the fleet has as many clusters)."""
        clusters = self.fleet.clusters
        if len(self._fleet_providers) != len(clusters):
            self._fleet_providers = tuple(info.provider for info in clusters)
        return self._fleet_providers

    def _levels(self, c: Levels, n: int) -> tuple[tuple[str, ...], np.ndarray]:
        """``ratios``' levels per cluster, a row per limit (``volumes`` one for every provider) and their names:
        the counters' rows taken at once (``_level_plan``), then the few worked out."""
        names, counters, nodes_rows, computed = self._level_plan(c)
        levels = c.matrix.take(counters, axis=0)
        levels[nodes_rows] = c["nodes"] + c["ctrl_nodes"]  # (``level``: every node of the cluster)
        shard = self.policy.shard
        # At the order levels on every cluster, kept full or not: a cluster's distance to the cap must not jump by a
        # quarter when it stops or starts being kept full (that jump read as growth and reopened clusters).
        levels[computed["max_run_nodes_per_cluster"]] = self.needed_nodes(c, whole=False, kept_full=False)
        if not shard.nodes:
            levels[computed["shard_nodes"]] = 0.0
        if not shard.pods:
            levels[computed["shard_pods"]] = 0.0
        return names, levels

    def _level_plan(self, c: Levels) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, dict[str, int]]:
        """``_levels``' names, the counter each row is taken from, the rows that count every node (``level``) and
        the rows worked out: made once (the catalogue and the counters' names never change in a run)."""
        if self._plan is None or self._plan[0] is not c.rows:
            plan: dict[str, str | None] = {}  # level -> its counter (None: every node, ``level``)
            for limit in LIMITS:
                if limit.key in NODE_TOTALS:
                    plan[limit.key] = NODE_TOTALS[limit.key][0]
                elif limit.key == "control_plane_objects":
                    plan["control_plane_objects"] = plan["control_plane_ladder_top"] = "etcd_objects"
                elif limit.key == "volumes":
                    plan["volumes"] = "volumes"
                else:
                    needed = BY_KEY[limit.key].needed
                    plan[limit.key] = None if needed is None else LEVEL_COUNTER[needed]
            # (worked out in ``_levels`` where the policy says so)
            plan.update(max_run_nodes_per_cluster="nodes", shard_nodes="nodes", shard_pods="pods")
            plan["shard_etcd_objects"] = "etcd_objects"
            names = tuple(plan)
            at = c.rows.at
            counters = np.array([at["nodes" if counter is None else counter] for counter in plan.values()], np.intp)
            nodes_rows = np.array([k for k, counter in enumerate(plan.values()) if counter is None], np.intp)
            computed = {name: names.index(name) for name in ("max_run_nodes_per_cluster", "shard_nodes", "shard_pods")}
            self._plan = c.rows, (names, counters, nodes_rows, computed)
        return self._plan[1]

    def _thresholds(self, c: Levels, providers: tuple[str, ...], n: int) -> tuple[tuple[str, ...], np.ndarray, bool]:
        """The level at which each of ``ratios``' limits acts, per cluster, a row each in the order of ``_levels``,
        and whether every one is above 0. Kept while what they rest on stays (the clusters' storage providers, rungs,
        control-plane and run nodes): on most days none of it changes."""
        key = (providers, c.pick(THRESHOLDS_REST_ON).tobytes() + self.fleet.pods_capacity[:n].tobytes())
        if self._acts_at is None or self._acts_at[0] != key:
            policy = self.policy
            rows: dict[str, Any] = {}
            for limit in LIMITS:
                if limit.key in NODE_TOTALS:
                    fraction = getattr(policy, NODE_TOTALS[limit.key][1])
                    rows[limit.key] = fraction * self._node_capacity(limit.key, c, n)
                elif limit.key == "control_plane_objects":
                    # (The last rung's is kept on the clusters that reached it, ``_layout``.)
                    rows["control_plane_objects"], rows["control_plane_ladder_top"] = self._control_plane()
                elif limit.key == "volumes":
                    rows["volumes"] = self._volumes(providers)  # (kept on the provider's clusters, ``_layout``)
                else:
                    rows[limit.key] = self.capacities(limit.key, providers)
            shard = policy.shard
            rows["max_run_nodes_per_cluster"] = self.node_cap() + 0.5
            rows["shard_nodes"] = shard.nodes or 1.0  # (no trigger: a level of 0)
            rows["shard_pods"] = shard.pods or 1.0
            rows["shard_etcd_objects"] = self.etcd_trigger
            thresholds = np.empty((len(rows), n))
            for row, threshold in enumerate(rows.values()):
                thresholds[row] = threshold
            self._acts_at = key, (tuple(rows), thresholds, bool(thresholds.size) and bool(thresholds.min() > 0))
        return self._acts_at[1]

    def _layout(self, rows: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """``ratios``' limits from its ``rows``: their names, the row each is, and where it is not kept (there 0:
        a storage provider's volume limit on its own clusters only, the last rung's on clusters that have reached
        it). Kept while the clusters' storage providers and rungs stay."""
        key = (rows, self._providers, self._exhausted.tobytes())
        if self._rows is None or self._rows[0] != key:
            names, source, kept = [], [], []
            everywhere = np.ones(len(self._exhausted), dtype=bool)
            for row, name in enumerate(rows):
                if name == "volumes":
                    for provider, on_provider in self._on_provider.items():
                        names.append(volume_limit(provider))
                        source.append(row)
                        kept.append(on_provider)
                    continue
                names.append(name)
                source.append(row)
                kept.append(self._exhausted if name == "control_plane_ladder_top" else everywhere)
            self._rows = key, (tuple(names), np.array(source, dtype=np.intp), ~np.array(kept, dtype=bool))
        return self._rows[1]

    def level(self, key: str, c: dict) -> Any:
        """A cluster-wide catalogue limit's level per cluster, from the fleet's counters."""
        needed = BY_KEY[key].needed
        return c["nodes"] + c["ctrl_nodes"] if needed is None else c[LEVEL_COUNTER[needed]]

    def _node_capacity(self, key: str, c: dict[str, np.ndarray], n: int) -> np.ndarray:
        # Each run node's own allocatable RAM, max-pods and disk, summed per cluster: no global copy.
        if key == "disk":  # no disk known: an infinite capacity, a share of 0
            unknown, disk = self._known_disk()
            return np.where(unknown, math.inf, c["nodes"] * disk)
        return c["ram_allocatable"] if key == "ram_per_run_node" else self.fleet.pods_capacity[:n].astype(float)

    def node_disk(self) -> np.ndarray:
        """The raw disk one run node gives each cluster's replicas (inf where none is known). A cluster's never
        changes, so the array only grows with the fleet (the migration planner asks many times a day)."""
        clusters = self.fleet.clusters
        known = self._node_disk
        if len(known) != len(clusters):
            added = [math.inf if info.node_disk is None else info.node_disk for info in clusters[len(known) :]]
            known = self._node_disk = np.concatenate((known, np.array(added, dtype=float)))
        return known

    def _known_disk(self) -> tuple[np.ndarray, np.ndarray]:
        """Where no run node disk is known, and each cluster's (0 there): kept as ``node_disk``."""
        disk = self.node_disk()
        if self._disk is None or len(self._disk[0]) != len(disk):
            unknown = np.isinf(disk)
            self._disk = unknown, np.where(unknown, 0.0, disk)
        return self._disk

    def _control_plane(self) -> tuple[np.ndarray, np.ndarray]:
        """Upgrade at the policy's share of the rung's comfortable or tight level; on the last rung usable (or
        with upgrades off), shard at ``ctrl_tight_fraction`` of its tight level (the catalogue's capacity): both
        thresholds per cluster, and the clusters on the last rung usable (``_exhausted``)."""
        rung = self.fleet.view("ctrl_rung")
        known = self._ctrl_thresholds.get(rung.tobytes())  # (the rungs change with an upgrade or a new cluster)
        if known is None:
            fleet, policy = self.fleet, self.policy
            cp, shard = policy.control_plane, policy.shard
            basis = self.comfortable if cp.upgrade_basis == "comfortable" else self.tight
            upgrade = cp.upgrade_at_fraction * basis[rung]
            tight = (shard.ctrl_tight_fraction or 1.0) * self.tight[rung]
            exhausted = (rung >= len(fleet.ladder) - 1) | (not policy.auto_upgrade_control_plane)
            known = self._ctrl_thresholds[rung.tobytes()] = (upgrade, tight, exhausted)
        upgrade, tight, self._exhausted = known
        return upgrade, tight

    def _volumes(self, providers: list[str]) -> np.ndarray:
        """The volume limit at the policy's share, per cluster (each provider's on its own clusters,
        ``_on_provider``)."""
        capacity = self.capacities("volumes", providers)  # (forgets what was kept for other providers)
        key = "volumes at the policy's share"
        if key not in self._capacities:
            self._capacities[key] = (self.policy.shard.volumes_fraction or 1.0) * capacity
        if not self._on_provider:
            self._on_provider = {p: np.array([q == p for q in providers], dtype=bool) for p in self.limits.storage}
        return self._capacities[key]

    def _per_cluster(self, providers: list[str]) -> None:
        """Forget what was kept for the clusters' storage providers: the fleet changed."""
        self._providers, self._capacities, self._on_provider = tuple(providers), {}, {}

    def node_cap(self) -> np.ndarray:
        """Run nodes each cluster may have: the operator's cap, within the pod CIDR's node ranges its control
        plane leaves (``sim.config.run_node_cap``). Kept per control-plane node counts (the operator asks several
        times a day); callers must not change what it returns."""
        ctrl = self.fleet.view("ctrl_nodes")
        key = ctrl.tobytes()
        known = self._cluster_caps.get(key)
        if known is None:
            caps = self._caps
            for k in set(ctrl.tolist()).difference(caps):
                caps[k] = run_node_cap(self.policy, self.limits, k)
            known = self._cluster_caps[key] = np.array([caps[k] for k in ctrl.tolist()], dtype=float)
        return known

    def _node_cap_text(self, number: int, ctrl_nodes: int) -> str:
        """The cap the cluster's run nodes reached (``sim.config.run_node_cap``): the operator's, when it is below
        what the pod CIDR's node ranges leave beside the cluster's control-plane nodes, or those ranges."""
        cap = int(self.node_cap()[number])
        ranges = self.limits.pod_cidr_nodes
        cidr = f"the pod CIDR's {ranges} node ranges less its {ctrl_nodes} control-plane node(s)"
        if cap < ranges - ctrl_nodes:
            return f"needs more than {cap} run nodes (max_run_nodes_per_cluster; {cidr} leave {ranges - ctrl_nodes})"
        return f"needs more than {cap} run nodes ({cidr})"

    def capacities(self, key: str, providers: list[str]) -> np.ndarray:
        """The catalogue's capacity of limit ``key`` for clusters of these storage providers."""
        if tuple(providers) != self._providers:
            self._per_cluster(providers)
        known = self._capacities.get(key)
        if known is None:
            limit = BY_KEY[key]
            by_provider = {p: limit.capacity(self.limits, p, None) for p in set(providers)}
            known = self._capacities[key] = np.array([by_provider[p] for p in providers], dtype=float)
        return known

    def needed_nodes(
        self,
        c: dict[str, np.ndarray],
        node_alloc: np.ndarray | None = None,
        node_max_pods: np.ndarray | None = None,
        whole: bool = True,
        kept_full: bool = True,
    ) -> np.ndarray:
        """Run nodes that keep RAM and pods under the operator's thresholds (fractional unless ``whole``).

        ``node_alloc`` and ``node_max_pods`` (both or neither) are one run node's allocatable RAM and max-pods per
        cluster (by default those of each fleet cluster's run nodes), so a cluster's own node settings decide; a
        fleet cluster kept full (``kept_full``, unless switched off) is counted at 100 %, not at the order levels."""
        if node_alloc is None:  # the fleet's own clusters
            return self._fleet_needed_nodes(c, whole, kept_full)
        policy = self.policy
        ram_level, pods_level = policy.node_order_at_ram_fraction, policy.node_order_at_pods_fraction
        by_ram = c["ram_requested"] / (ram_level * node_alloc)
        by_pods = np.maximum(c["pods"], 0.0) / (pods_level * node_max_pods)
        needed = np.maximum(by_ram, by_pods)
        return np.ceil(needed - 1e-9) if whole else needed

    def _fleet_needed_nodes(self, c: dict[str, np.ndarray], whole: bool, kept_full: bool) -> np.ndarray:
        """``needed_nodes`` for the fleet's own clusters: each run node's system pods take max-pods too, and the raw
        disk its replicas take counts (as projected in ``c``, else today's)."""
        ram, pods, disk, system = self._node_room(kept_full)
        by_ram = c["ram_requested"] / ram
        by_pods = np.maximum(c["pods"] - self._system_pods(system), 0.0) / pods
        needed = np.maximum(by_ram, by_pods)
        disk_bytes = c.get("disk_bytes")  # (``in`` and a lookup read a row of ``Levels`` twice)
        needed = np.maximum(needed, (self.fleet.view("disk_bytes") if disk_bytes is None else disk_bytes) / disk)
        return np.ceil(needed - 1e-9) if whole else needed

    def _node_room(self, kept_full: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What one run node of each fleet cluster holds at the order levels (at 100 % on a cluster kept full,
        unless ``kept_full`` is off): requested RAM, pods (less its own system pods) and replicas' disk; and its
        system pods. Kept per clusters kept full (the operator asks several times a day)."""
        node_alloc, node_max_pods, system = self.run_nodes()
        last = self._room_last.get(kept_full)
        if last is not None and last[0] is self.kept_full and last[1] is node_alloc:
            return last[2]  # (the same clusters kept full, on the same clusters: the operator asks several times a day)
        policy = self.policy
        ram_level, pods_level = policy.node_order_at_ram_fraction, policy.node_order_at_pods_fraction
        full = None
        if kept_full and np.count_nonzero(self.kept_full[: len(node_alloc)]):
            full = np.zeros(len(node_alloc), dtype=bool)
            full[: len(self.kept_full)] = self.kept_full[: len(node_alloc)]
        key = (len(node_alloc), None if full is None else full.tobytes())
        known = self._room.get(key)
        if known is None:
            if full is not None:
                ram_level, pods_level = np.where(full, 1.0, ram_level), np.where(full, 1.0, pods_level)
            known = (ram_level * node_alloc, pods_level * node_max_pods - system, ram_level * self.node_disk(), system)
            if len(self._room) > 64:  # (kept-full sets come and go: keep only the recent ones)
                self._room.clear()
            self._room[key] = known
        self._room_last[kept_full] = (self.kept_full, node_alloc, known)
        return known

    def _system_pods(self, system: np.ndarray) -> np.ndarray:
        """Each cluster's run nodes' system pods, from one run node's (``system``): kept while the run node counts
        stay (a mixed integer and float product cost more than the rest of ``_fleet_needed_nodes``' arithmetic)."""
        nodes = self.fleet.view("nodes")
        key = nodes.tobytes()
        if self._system is None or self._system[0] != key or self._system[1] is not system:
            self._system = key, system, nodes * system
        return self._system[2]

    def run_nodes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One run node's allocatable RAM, max-pods and system pods, per cluster (a cluster's never change)."""
        clusters = self.fleet.clusters
        if self._run_node is None or len(self._run_node[0]) != len(clusters):
            self._run_node = (
                np.array([info.node_alloc for info in clusters], dtype=float),
                np.array([info.max_pods for info in clusters], dtype=float),
                np.array([info.node_footprint.pods for info in clusters], dtype=float),
            )
        return self._run_node

    def fold_in_rejections(self, ratios: dict[str, np.ndarray], signals: Signals) -> None:
        """A rejection on a cluster means its limit binds there now, whatever the utilisation says."""
        rung = self.fleet.view("ctrl_rung")
        top = len(self.fleet.ladder) - 1
        for number, counts in signals.rejected.items():
            provider = self.fleet.clusters[number].provider
            for filter_name in counts:
                limit = limit_of_rejection(signals.first_rejection[(number, filter_name)], provider)
                if limit == "control_plane_objects" and (
                    rung[number] >= top or not self.policy.auto_upgrade_control_plane
                ):
                    limit = "control_plane_ladder_top"
                if limit is not None:
                    ratios[limit][number] = max(ratios[limit][number], 1.0)

    def why(self, limit: str, number: int, signals: Signals) -> str:
        fleet, limits = self.fleet, self.limits
        c = {name: int(fleet.counters[name][number]) for name in fleet.counters}
        info = fleet.clusters[number]
        for (cluster, _), rejection in signals.first_rejection.items():
            if cluster == number and limit_of_rejection(rejection, info.provider) == limit:
                return f"{info.cluster.id}: placement rejected: {rejection}"
        p = self.policy
        ctrl = limits.control_plane(fleet.ctrl_type(number))
        max_volumes = BY_KEY["volumes"].capacity(limits, info.provider, None)
        texts = {
            volume_limit(info.provider): f"{c['volumes']} volumes of {info.provider}'s {max_volumes}",
            "ram_per_run_node": f"{c['ram_requested'] / 2**30:.0f} GiB requested of "
            f"{c['ram_allocatable'] / 2**30:.0f} GiB allocatable on {c['nodes']} run nodes "
            f"(order at {p.node_order_at_ram_fraction:.0%})",
            "pods_per_node": f"{c['pods']} pods on {c['nodes']} run nodes x {info.max_pods} max pods "
            f"(order at {p.node_order_at_pods_fraction:.0%})",
            "disk": f"{c['disk_bytes'] / 2**30:.0f} GiB of replicas on {c['nodes']} run nodes x "
            f"{(info.node_disk or 0) / 2**30:.0f} GiB usable disk (order at {p.node_order_at_ram_fraction:.0%})",
            "control_plane_objects": f"{c['etcd_objects']} etcd objects on {ctrl.name} (comfortable "
            f"{ctrl.comfortable_objects}, tight {ctrl.tight_objects})",
            "control_plane_ladder_top": f"{c['etcd_objects']} etcd objects on {ctrl.name}, the last rung used "
            f"(tight {ctrl.tight_objects})",
            "max_run_nodes_per_cluster": self._node_cap_text(number, c["ctrl_nodes"]),
            "shard_nodes": f"{c['nodes']} run nodes (trigger {p.shard.nodes})",
            "shard_pods": f"{c['pods']} pods (trigger {p.shard.pods})",
            "shard_etcd_objects": f"{c['etcd_objects']} etcd objects (trigger {self.etcd_trigger})",
            **{
                key: f"{self.level(key, c)} {BY_KEY[key].label} of "
                f"{BY_KEY[key].capacity(limits, info.provider, None)} ({BY_KEY[key].source})"
                for key in K8S_THRESHOLDS
            },
        }
        return f"{info.cluster.id}: {texts[limit]}"

    def action(self, limit: str, number: int) -> str:
        return action(limit, self.policy, self.fleet.ladder, int(self.fleet.counters["ctrl_rung"][number]))


def _share(level: np.ndarray, threshold: np.ndarray, positive: bool) -> np.ndarray:
    """``level`` over ``threshold`` (over 0: inf, 0 for none); ``positive``: every threshold is above 0."""
    if positive:  # (most days: no threshold of 0 to answer)
        return level / threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            threshold > 0, level / np.where(threshold > 0, threshold, 1.0), np.where(level > 0, math.inf, 0.0)
        )
    return ratio
