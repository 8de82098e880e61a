"""Filter plugins: each is a pure function returning None (pass) or the reason it rejects the cluster.

A reason starts with the filter's name and carries the numbers, e.g. ``volume-limit: longhorn 500/500``.
They run in ``FILTERS`` order and the first rejection stops a cluster, as in kube-scheduler.
"""

from __future__ import annotations

from collections.abc import Callable

from placement.cycle import Cycle
from placement.model import Cluster, ClusterLoad
from placement.units import human_bytes

FilterPlugin = Callable[[Cycle, Cluster, ClusterLoad], str | None]


def status(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> str | None:
    # Draining and maintenance clusters keep their services (OCM's NoSelectIfNew) but take no new ones.
    if cluster.status != "active":
        return f"status: {cluster.status}"
    return None


def snapshot_age(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> str | None:
    policy = cycle.policy
    if policy.max_snapshot_age_seconds is None or policy.stale_action != "reject" or cycle.now is None:
        return None
    age = cycle.snapshot_age_seconds(load)
    if age is None:
        return "snapshot-age: load snapshot has no observed_at"
    if age > policy.max_snapshot_age_seconds:
        return f"snapshot-age: load observed {age:.0f}s ago > {policy.max_snapshot_age_seconds:.0f}s"
    return None


def region(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> str | None:
    wanted = cycle.request.region
    if cycle.policy.region_mode == "strict" and wanted is not None and cluster.region != wanted:
        return f"region: cluster is in {cluster.region}, request wants {wanted}"
    return None


def ram_fit(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> str | None:
    # Per node, not a cluster sum: 10 nodes with 1 GiB free each cannot take one 2 GiB service.
    need = cycle.ram_need_bytes(cycle.limits.storage[cluster.storage_provider])
    largest = load.largest_free_ram_bytes(cycle.limits.max_pods_per_node, need_pod_room=False)
    if largest < need:
        if largest < 0:
            return f"ram-fit: no schedulable run node ({load.node_count} run nodes)"
        return (
            f"ram-fit: largest free run node {human_bytes(largest)} < {human_bytes(need)} needed "
            f"({load.schedulable_nodes} schedulable run nodes)"
        )
    return None


def pods_per_node(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> str | None:
    limits = cycle.limits
    need = cycle.ram_need_bytes(limits.storage[cluster.storage_provider])
    if load.largest_free_ram_bytes(limits.max_pods_per_node, need_pod_room=True) < need:
        return (
            f"pods-per-node: no run node with {human_bytes(need)} free is below its pod cap "
            f"({limits.max_pods_per_node} pods per node)"
        )
    return None


def volume_limit(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> str | None:
    if not cycle.volume_count:
        return None
    limit = cycle.limits.storage[cluster.storage_provider].max_volumes
    if load.volumes + cycle.volume_count > limit:
        return f"volume-limit: {cluster.storage_provider} {load.volumes}/{limit}"
    return None


def control_plane(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> str | None:
    limits = cycle.limits
    ctrl = limits.control_plane_types.get(load.ctrl_node_type)
    if ctrl is None:
        return f"control-plane: unknown node type {load.ctrl_node_type!r} in profile {limits.profile}"
    added = cycle.new_objects(limits.storage[cluster.storage_provider])
    if load.etcd_objects + added > ctrl.tight_objects:
        return f"control-plane: {ctrl.name} {load.etcd_objects}+{added} objects > tight {ctrl.tight_objects}"
    return None


def kubernetes_thresholds(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> str | None:
    limits, request = cycle.limits, cycle.request
    if load.pods + request.pods > limits.max_pods_cluster:
        return f"k8s-thresholds: pods {load.pods}/{limits.max_pods_cluster}"
    if load.services + 1 > limits.max_services_cluster:
        return f"k8s-thresholds: services {load.services}/{limits.max_services_cluster}"
    if request.new_customer and load.customers + 1 > limits.max_namespaces:
        return f"k8s-thresholds: namespaces {load.customers}/{limits.max_namespaces}"
    added = cycle.new_objects(limits.storage[cluster.storage_provider])
    if load.etcd_objects + added > limits.max_etcd_objects:
        return f"k8s-thresholds: etcd objects {load.etcd_objects}/{limits.max_etcd_objects}"
    if load.node_count > limits.max_nodes:
        return f"k8s-thresholds: nodes {load.node_count}/{limits.max_nodes}"
    return None


# Cheap, decisive checks first: most rejections in a fleet are status and region.
FILTERS: tuple[tuple[str, FilterPlugin], ...] = (
    ("status", status),
    ("snapshot-age", snapshot_age),
    ("region", region),
    ("volume-limit", volume_limit),
    ("control-plane", control_plane),
    ("k8s-thresholds", kubernetes_thresholds),
    ("ram-fit", ram_fit),
    ("pods-per-node", pods_per_node),
)
FILTER_NAMES = tuple(name for name, _ in FILTERS)
