"""Score plugins, each 0–100, built on the kube-scheduler functions in ``placement.scoring``."""

from __future__ import annotations

from collections.abc import Callable

from placement.cycle import Cycle
from placement.limits import ControlPlaneType
from placement.model import Cluster, ClusterLoad
from placement.scoring import (
    MAX_NODE_SCORE,
    balanced_allocation,
    least_allocated,
    most_allocated,
    requested_to_capacity_ratio,
)

ScorePlugin = Callable[[Cycle, Cluster, ClusterLoad], int]


def region(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> int:
    wanted = cycle.request.region
    return MAX_NODE_SCORE if wanted is None or cluster.region == wanted else 0


def ram_headroom(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> int:
    """The policy's NodeResourcesFit strategy over the cluster's schedulable run nodes, memory and pods."""
    policy, limits = cycle.policy, cycle.limits
    need = cycle.ram_need_bytes(limits.storage[cluster.storage_provider])
    requested = {"memory": load.ram_requested_bytes + need}
    allocatable = {"memory": load.ram_allocatable_bytes}
    weights = policy.ram_resource_weights
    if "pods" in weights:
        requested["pods"] = load.pods + cycle.request.pods
        allocatable["pods"] = sum(
            node.max_pods or limits.max_pods_per_node for node in load.run_nodes if node.schedulable
        )
    strategy = policy.ram_strategy
    if strategy == "least_allocated":
        return least_allocated(requested, allocatable, weights)
    if strategy == "most_allocated":
        return most_allocated(requested, allocatable, weights)
    if strategy == "requested_to_capacity_ratio":
        return requested_to_capacity_ratio(requested, allocatable, weights, policy.ram_shape)
    return balanced_allocation(requested, allocatable)


def volume_headroom(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> int:
    """A comfort curve over the provider's volume limit (RequestedToCapacityRatio on one resource)."""
    limit = cycle.limits.storage[cluster.storage_provider].max_volumes
    return requested_to_capacity_ratio(
        {"volumes": load.volumes + cycle.volume_count}, {"volumes": limit}, {"volumes": 1}, cycle.policy.volume_shape
    )


def control_plane_shape(ctrl: ControlPlaneType, comfort_score: int) -> tuple[tuple[int, int], ...]:
    """10 when empty, ``comfort_score`` at the comfortable object count, 0 at the tight one (% of tight)."""
    comfortable = ctrl.comfortable_objects * 100 // ctrl.tight_objects
    if comfortable in (0, 100):
        return ((0, 10), (100, 0))
    return ((0, 10), (comfortable, comfort_score), (100, 0))


def control_plane_headroom(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> int:
    """etcd objects against the control-plane node's tight capacity, scoring the comfortable point as set."""
    limits = cycle.limits
    ctrl = limits.control_plane_types[load.ctrl_node_type]
    shape = control_plane_shape(ctrl, cycle.policy.control_plane_comfort_score)
    added = cycle.new_objects(limits.storage[cluster.storage_provider])
    return requested_to_capacity_ratio(
        {"objects": load.etcd_objects + added}, {"objects": ctrl.tight_objects}, {"objects": 1}, shape
    )


SCORERS: dict[str, ScorePlugin] = {
    "region": region,
    "ram_headroom": ram_headroom,
    "volume_headroom": volume_headroom,
    "control_plane_headroom": control_plane_headroom,
}
