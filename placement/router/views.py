"""What ``GET /v1/clusters/{id}`` shows: the effective load, headroom against every limit, the snapshot's age."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from placement.model import Cluster, ClusterLoad
from placement.policy import Policy
from placement.state import ClusterIn, ClusterLoadIn


def _row(name: str, used: int, capacity: int | None) -> dict[str, Any]:
    return {
        "limit": name,
        "used": used,
        "capacity": capacity,
        "free": None if capacity is None else capacity - used,
    }


def headroom(cluster: Cluster, load: ClusterLoad, policy: Policy) -> list[dict[str, Any]]:
    limits = policy.limits
    storage = limits.storage[cluster.storage_provider]
    ctrl = limits.control_plane_types.get(load.ctrl_node_type)
    return [
        _row("ram_bytes", load.ram_requested_bytes, load.ram_allocatable_bytes),
        _row("largest_free_node_ram_bytes", 0, max(load.largest_free_ram_bytes(limits.max_pods_per_node, True), 0)),
        _row(f"{storage.provider}.volumes", load.volumes, storage.max_volumes),
        _row("control_plane.objects_tight", load.etcd_objects, ctrl.tight_objects if ctrl else None),
        _row("control_plane.objects_comfortable", load.etcd_objects, ctrl.comfortable_objects if ctrl else None),
        _row("kubernetes.pods", load.pods, limits.max_pods_cluster),
        _row("kubernetes.services", load.services, limits.max_services_cluster),
        _row("kubernetes.namespaces", load.customers, limits.max_namespaces),
        _row("kubernetes.etcd_objects", load.etcd_objects, limits.max_etcd_objects),
        _row("kubernetes.nodes", load.node_count, limits.max_nodes),
    ]


def node_rows(load: ClusterLoad, policy: Policy) -> list[dict[str, Any]]:
    default_pods = policy.limits.max_pods_per_node
    return [
        {
            "name": node.name,
            "schedulable": node.schedulable,
            "allocatable_ram_bytes": node.allocatable_ram_bytes,
            "requested_ram_bytes": node.requested_ram_bytes,
            "free_ram_bytes": node.free_ram_bytes,
            "pods": node.pods,
            "max_pods": node.max_pods or default_pods,
        }
        for node in load.run_nodes
    ]


def cluster_view(
    cluster: Cluster, load: ClusterLoad, reserved: dict[str, int], policy: Policy, now: datetime
) -> dict[str, Any]:
    has_snapshot = load.observed_at is not None
    age = (now - load.observed_at).total_seconds() if has_snapshot else None
    max_age = policy.max_snapshot_age_seconds
    return {
        "cluster": ClusterIn.from_model(cluster),
        "load": ClusterLoadIn.from_model(load).model_dump(mode="json") if has_snapshot else None,
        "reserved_since_snapshot": reserved,
        "snapshot_age_seconds": age,
        "snapshot_stale": None if max_age is None else (age is None or age > max_age),
        "max_snapshot_age_seconds": max_age,
        "headroom": headroom(cluster, load, policy),
        "nodes": node_rows(load, policy),
    }
