"""The operator's triggers: each limit's level per cluster as a share of the level at which it acts, and why.

A ratio of 1 or more means act: order run nodes (RAM, pods), upgrade the control plane, or shard (the shard
limits and the Kubernetes thresholds, at ``close_fraction``). Ratios are computed for all clusters at once
with numpy from the fleet's counters; a placement the engine rejected for a limit sets that limit's ratio to
at least 1 on its cluster, whatever the utilisation says.
"""

from __future__ import annotations

import math

import numpy as np

from placement.catalogue import BY_KEY, LIMITS
from placement.limits import Limits
from sim.decisions import limit_of_rejection, volume_limit
from sim.fleet import FOOTPRINT_COUNTERS, Fleet
from sim.planning import action, shard_etcd_trigger
from sim.scenario import OperatorPolicy
from sim.world import Signals

# The fleet counter each catalogue limit's level is (a footprint field's counter; the node count for k8s_nodes).
LEVEL_COUNTER = {**dict(FOOTPRINT_COUNTERS), None: "nodes"}
# The Kubernetes scalability thresholds, read from the catalogue: key and the counter that is its level.
K8S_THRESHOLDS = tuple((limit.key, LEVEL_COUNTER[limit.needed]) for limit in LIMITS if limit.filter == "k8s-thresholds")


class Triggers:
    def __init__(self, fleet: Fleet, limits: Limits, policy: OperatorPolicy):
        self.fleet = fleet
        self.limits = limits
        self.policy = policy
        types = [limits.control_plane(name) for name in fleet.ladder]
        self.comfortable = np.array([t.comfortable_objects for t in types], dtype=float)
        self.tight = np.array([t.tight_objects for t in types], dtype=float)
        self.etcd_trigger = shard_etcd_trigger(policy, limits)

    def ratios(self, n: int) -> dict[str, np.ndarray]:
        """Each limit's level per cluster as a share of the level that forces an action (>= 1: act)."""
        fleet, limits, policy = self.fleet, self.limits, self.policy
        c = {name: fleet.view(name).astype(float) for name in fleet.counters}
        rung = fleet.view("ctrl_rung")
        top = len(fleet.ladder) - 1
        providers = [info.provider for info in fleet.clusters]
        max_volumes = self.capacities("volumes", providers)
        shard = policy.shard
        cp = policy.control_plane
        basis = self.comfortable if cp.upgrade_basis == "comfortable" else self.tight
        volumes_fraction = shard.volumes_fraction or 1.0
        exhausted = (rung >= top) | (not policy.auto_upgrade_control_plane)
        # Each run node's own max-pods, summed per cluster: no global copy.
        pods_capacity = fleet.pods_capacity[:n].astype(float)
        needed = self.needed_nodes(c, whole=False)
        zero = np.zeros(n)
        volume_ratio = _share(c["volumes"], volumes_fraction * max_volumes)
        # Each provider's volume limit binds on its own clusters only.
        on = {provider: np.array([p == provider for p in providers], dtype=bool) for provider in limits.storage}
        volumes = {volume_limit(p): np.where(mask, volume_ratio, 0.0) for p, mask in on.items()}
        return {
            "ram_per_run_node": _share(c["ram_requested"], policy.node_order_at_ram_fraction * c["ram_allocatable"]),
            "pods_per_node": _share(c["pods"], policy.node_order_at_pods_fraction * pods_capacity),
            "control_plane_objects": _share(c["etcd_objects"], cp.upgrade_at_fraction * basis[rung]),
            "control_plane_ladder_top": np.where(
                exhausted, _share(c["etcd_objects"], (shard.ctrl_tight_fraction or 1.0) * self.tight[rung]), 0.0
            ),
            **volumes,
            "max_run_nodes_per_cluster": _share(needed, float(policy.max_run_nodes_per_cluster) + 0.5),
            "shard_nodes": _share(c["nodes"], shard.nodes) if shard.nodes else zero,
            "shard_pods": _share(c["pods"], shard.pods) if shard.pods else zero,
            "shard_etcd_objects": _share(c["etcd_objects"], self.etcd_trigger),
            **{key: _share(c[counter], self.capacities(key, providers)) for key, counter in K8S_THRESHOLDS},
        }

    def capacities(self, key: str, providers: list[str]) -> np.ndarray:
        """The catalogue's capacity of limit ``key`` for clusters of these storage providers."""
        limit = BY_KEY[key]
        by_provider = {p: limit.capacity(self.limits, p, None) for p in set(providers)}
        return np.array([by_provider[p] for p in providers], dtype=float)

    def needed_nodes(
        self,
        c: dict[str, np.ndarray],
        node_alloc: np.ndarray | None = None,
        node_max_pods: np.ndarray | None = None,
        whole: bool = True,
    ) -> np.ndarray:
        """Run nodes that keep RAM and pods under the operator's thresholds (fractional unless ``whole``).

        ``node_alloc`` and ``node_max_pods`` are one run node's allocatable RAM and max-pods per cluster (by
        default those of each fleet cluster's run nodes), so a cluster's own node settings decide."""
        policy = self.policy
        if node_alloc is None:
            node_alloc = np.array([info.node_alloc for info in self.fleet.clusters], dtype=float)
        pods, system = c["pods"], 0.0
        if node_max_pods is None:
            # The fleet's own clusters: their pods include each run node's system pods, which take max-pods too.
            node_max_pods = np.array([info.max_pods for info in self.fleet.clusters], dtype=float)
            system = np.array([info.node_footprint.pods for info in self.fleet.clusters], dtype=float)
            pods = pods - self.fleet.view("nodes") * system
        by_ram = c["ram_requested"] / (policy.node_order_at_ram_fraction * node_alloc)
        by_pods = np.maximum(pods, 0.0) / (policy.node_order_at_pods_fraction * node_max_pods - system)
        needed = np.maximum(by_ram, by_pods)
        return np.ceil(needed - 1e-9) if whole else needed

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
                return f"placement rejected: {rejection}"
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
            "control_plane_objects": f"{c['etcd_objects']} etcd objects on {ctrl.name} (comfortable "
            f"{ctrl.comfortable_objects}, tight {ctrl.tight_objects})",
            "control_plane_ladder_top": f"{c['etcd_objects']} etcd objects on {ctrl.name}, the last rung used "
            f"(tight {ctrl.tight_objects})",
            "max_run_nodes_per_cluster": f"needs more than {p.max_run_nodes_per_cluster} run nodes",
            "shard_nodes": f"{c['nodes']} run nodes (trigger {p.shard.nodes})",
            "shard_pods": f"{c['pods']} pods (trigger {p.shard.pods})",
            "shard_etcd_objects": f"{c['etcd_objects']} etcd objects (trigger {self.etcd_trigger})",
            **{
                key: f"{c[counter]} {BY_KEY[key].label} of {BY_KEY[key].capacity(limits, info.provider, None)}"
                for key, counter in K8S_THRESHOLDS
            },
        }
        return f"{info.cluster.id}: {texts[limit]}"

    def action(self, limit: str, number: int) -> str:
        return action(limit, self.policy, self.fleet.ladder, int(self.fleet.counters["ctrl_rung"][number]))


def _share(level: np.ndarray, threshold) -> np.ndarray:
    threshold = np.asarray(threshold, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            threshold > 0, level / np.where(threshold > 0, threshold, 1.0), np.where(level > 0, math.inf, 0.0)
        )
    return ratio
