"""kube-scheduler's NodeResourcesFit and NodeResourcesBalancedAllocation score functions, exactly.

Ported from kubernetes/kubernetes ``pkg/scheduler/framework/plugins/noderesources`` (least_allocated.go,
most_allocated.go, requested_to_capacity_ratio.go, balanced_allocation.go) with Go's int64 arithmetic:
integer division truncates toward zero, RequestedToCapacityRatio rounds its weighted mean with
``math.Round`` (half away from zero), and BalancedAllocation truncates a float64.

``requested`` already includes the incoming request, as upstream's ``calculateResourceAllocatableRequest``
does. Resources whose allocatable is 0 are skipped. All three mappings are keyed by resource name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

MAX_NODE_SCORE = 100
MAX_CUSTOM_PRIORITY_SCORE = 10
MAX_UTILIZATION = 100


def _go_div(numerator: int, denominator: int) -> int:
    """Go's integer division: truncate toward zero (Python's // floors)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator >= 0) else -quotient


def _go_round(value: float) -> int:
    """Go's math.Round: half away from zero (Python's round() is half to even)."""
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return _go_div((capacity - requested) * MAX_NODE_SCORE, capacity)


def most_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    # Requested can exceed capacity because pods without requests get non-zero defaults upstream.
    requested = min(requested, capacity)
    return _go_div(requested * MAX_NODE_SCORE, capacity)


def _weighted_mean(
    requested: Mapping[str, int], allocatable: Mapping[str, int], weights: Mapping[str, int], per_resource
) -> int:
    node_score = weight_sum = 0
    for resource, weight in weights.items():
        capacity = allocatable.get(resource, 0)
        if capacity == 0:
            continue
        node_score += per_resource(requested.get(resource, 0), capacity) * weight
        weight_sum += weight
    if weight_sum == 0:
        return 0
    return _go_div(node_score, weight_sum)


def least_allocated(requested: Mapping[str, int], allocatable: Mapping[str, int], weights: Mapping[str, int]) -> int:
    """NodeResourcesFit LeastAllocated: favours the emptiest node."""
    return _weighted_mean(requested, allocatable, weights, least_requested_score)


def most_allocated(requested: Mapping[str, int], allocatable: Mapping[str, int], weights: Mapping[str, int]) -> int:
    """NodeResourcesFit MostAllocated: favours the fullest node (bin packing)."""
    return _weighted_mean(requested, allocatable, weights, most_requested_score)


def broken_linear(shape: Sequence[tuple[int, int]], utilization: int) -> int:
    """helper.BuildBrokenLinearFunction over (utilization, score) points, scores already scaled."""
    for index, (point_utilization, point_score) in enumerate(shape):
        if utilization <= point_utilization:
            if index == 0:
                return shape[0][1]
            prev_utilization, prev_score = shape[index - 1]
            return prev_score + _go_div(
                (point_score - prev_score) * (utilization - prev_utilization), point_utilization - prev_utilization
            )
    return shape[-1][1]


def validate_shape(shape: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Upstream's validation: 1+ points, utilization 0..100 strictly increasing, score 0..10."""
    points = [(int(u), int(s)) for u, s in shape]
    if not points:
        raise ValueError("shape needs at least one point")
    for index, (utilization, score) in enumerate(points):
        if not 0 <= utilization <= MAX_UTILIZATION:
            raise ValueError(f"shape[{index}].utilization {utilization} is outside 0..100")
        if not 0 <= score <= MAX_CUSTOM_PRIORITY_SCORE:
            raise ValueError(f"shape[{index}].score {score} is outside 0..10")
        if index and utilization <= points[index - 1][0]:
            raise ValueError(f"shape[{index}].utilization must be above shape[{index - 1}].utilization")
    return points


def requested_to_capacity_ratio(
    requested: Mapping[str, int],
    allocatable: Mapping[str, int],
    weights: Mapping[str, int],
    shape: Sequence[tuple[int, int]],
) -> int:
    """NodeResourcesFit RequestedToCapacityRatio with a (utilization 0-100, score 0-10) shape."""
    scaled = [(u, s * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE)) for u, s in shape]
    node_score = weight_sum = 0
    for resource, weight in weights.items():
        capacity = allocatable.get(resource, 0)
        if capacity == 0:
            continue
        used = requested.get(resource, 0)
        utilization = MAX_UTILIZATION if used > capacity else _go_div(used * MAX_UTILIZATION, capacity)
        resource_score = broken_linear(scaled, utilization)
        # Upstream leaves zero-scoring resources out of both the numerator and the weight sum.
        if resource_score > 0:
            node_score += resource_score * weight
            weight_sum += weight
    if weight_sum == 0:
        return 0
    return _go_round(node_score / weight_sum)


def balanced_allocation(requested: Mapping[str, int], allocatable: Mapping[str, int]) -> int:
    """NodeResourcesBalancedAllocation: 100 × (1 − std of the requested fractions). Weights are ignored."""
    fractions = []
    for resource, capacity in allocatable.items():
        if capacity == 0:
            continue
        fractions.append(min(requested.get(resource, 0) / capacity, 1.0))
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) * (f - mean) for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)
