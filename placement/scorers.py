"""The RAM score plugin's strategies and the control-plane comfort curve, on ``placement.scoring``.

The other score plugins (region, volume and control-plane headroom) are curves that ``placement.pipeline``
evaluates over the catalogue's limits.
"""

from __future__ import annotations

from collections.abc import Callable

from placement.cycle import Cycle
from placement.limits import ControlPlaneType
from placement.model import Cluster, ClusterLoad
from placement.scoring import (
    balanced_allocation,
    least_allocated,
    most_allocated,
    requested_to_capacity_ratio,
)

ScorePlugin = Callable[[Cycle, Cluster, ClusterLoad], int]


def ram_headroom(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> int:
    """The policy's NodeResourcesFit strategy over the cluster's schedulable run nodes, memory and pods."""
    policy, limits = cycle.policy, cycle.limits
    requested = {"memory": load.ram_requested_bytes + cycle.footprint(cluster.storage_provider).ram_bytes}
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


def control_plane_shape(ctrl: ControlPlaneType, comfort_score: int) -> tuple[tuple[int, int], ...]:
    """10 when empty, ``comfort_score`` at the comfortable object count, 0 at the tight one (% of tight)."""
    comfortable = ctrl.comfortable_objects * 100 // ctrl.tight_objects
    if comfortable in (0, 100):
        return ((0, 10), (100, 0))
    return ((0, 10), (comfortable, comfort_score), (100, 0))
