"""What ``GET /v1/clusters/{id}`` shows: the effective load, headroom against every limit, the snapshot's age."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from placement.catalogue import LIMITS
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
    """The cluster's RAM, then every limit of the catalogue as its filter reads it, and the control plane's
    comfortable point (the score's, not a filter's)."""
    limits = policy.limits
    provider = cluster.storage_provider
    ctrl = limits.control_plane_types.get(load.ctrl_node_type)
    rows = [_row("ram_bytes", load.ram_requested_bytes, load.ram_allocatable_bytes)]
    for limit in LIMITS:
        used, capacity = limit.used_and_capacity(load, limits, provider, ctrl)
        if limit.per_node:  # the best run node's free RAM, as the filter compares the request with it
            capacity = max(capacity, 0)
        rows.append(_row(limit.view.format(provider=provider), used, capacity))
    rows.append(
        _row("control_plane.objects_comfortable", load.etcd_objects, ctrl.comfortable_objects if ctrl else None)
    )
    return rows


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
