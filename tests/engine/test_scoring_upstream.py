"""kube-scheduler's own unit-test tables, translated case by case for ``placement.scoring``.

Copied from kubernetes/kubernetes ``pkg/scheduler/framework/plugins/noderesources`` at these commits:
- least_allocated_test.go              008b3652959ca58af8be3fb5b6ecfe9ae7638282
- most_allocated_test.go               030880a5dc5449403c6d1f0aa146a7dc21d6c6dc
- requested_to_capacity_ratio_test.go  00b9ead02c37921011ebe5293558cea5277cd295
- balanced_allocation_test.go          00fdb4ffc64976886691c99434ab5b01fa54f8fe

Each case lists the nodes' capacities, the pods already on each node and the incoming pod, as upstream's tables do,
and ``requested`` is computed the way upstream's resourceAllocationScorer computes it: the node's requests plus
the incoming pod's. The Fit strategies (least/most allocated, requested-to-capacity ratio) count a container that
does not name cpu or memory as 100m CPU / 200MiB (``NonMissingContainerRequests``); BalancedAllocation counts real
requests. A scalar (extended) resource the incoming pod does not request is left out (allocatable 0).
"""

from __future__ import annotations

import pytest
from kubernetes.utils import parse_quantity
from pydantic import ValidationError

from placement.policy import RamScoringConfig
from placement.scoring import (
    balanced_allocation,
    broken_linear,
    least_allocated,
    most_allocated,
    requested_to_capacity_ratio,
    validate_shape,
)

NON_ZERO = {"cpu": 100, "memory": 200 * 1024 * 1024}  # upstream DefaultMilliCPURequest, DefaultMemoryRequest
DEFAULT = {"cpu": 1, "memory": 1}
EXT = "abc.com/xyz"
EXTENDED_SET = {"cpu": 1, "memory": 1, EXT: 1}


def amount(resource: str, quantity: str | int) -> int:
    value = parse_quantity(str(quantity))
    return int(value * 1000) if resource == "cpu" else int(value)  # CPU in millicores, as upstream's MilliCPU


def pod_request(containers: list[dict], resource: str, non_zero: bool) -> int:
    total = 0
    for container in containers:
        if resource in container:
            total += amount(resource, container[resource])
        elif non_zero and resource in NON_ZERO:
            total += NON_ZERO[resource]
    return total


def node_scores(function, nodes, pod, existing, weights, *, non_zero: bool, **extra) -> list[int]:
    """Score every node as upstream's test loop does. ``existing`` maps node name -> list of pods (containers)."""
    scores = []
    for name, capacity in nodes:
        requested, allocatable = {}, {}
        for resource in weights:
            incoming = pod_request(pod, resource, non_zero)
            if resource not in ("cpu", "memory") and incoming == 0:
                requested[resource], allocatable[resource] = 0, 0
                continue
            allocatable[resource] = amount(resource, capacity.get(resource, 0))
            on_node = sum(pod_request(p, resource, non_zero) for p in existing.get(name, []))
            requested[resource] = on_node + incoming
        if function is balanced_allocation:
            scores.append(function(requested, allocatable))
        else:
            scores.append(function(requested, allocatable, weights, **extra))
    return scores


TWO_CONTAINERS = [{"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"}]
N4_10 = {"cpu": "4000", "memory": "10000"}
N6_10 = {"cpu": "6000", "memory": "10000"}
N10_20 = {"cpu": "10000", "memory": "20000"}
EMPTY_POD: list[dict] = []  # st.MakePod().Obj(): no containers at all

LEAST_CASES = [
    ("nothing scheduled, nothing requested", [("node1", N4_10), ("node2", N4_10)], EMPTY_POD, {}, DEFAULT, [100, 100]),
    (
        "nothing scheduled, resources requested, differently sized nodes",
        [("node1", N4_10), ("node2", N6_10)],
        TWO_CONTAINERS,
        {},
        DEFAULT,
        [37, 50],
    ),
    (
        "no resources requested, pods scheduled",
        [("node1", N4_10), ("node2", N4_10)],
        EMPTY_POD,
        {"node1": [[], []], "node2": [[], []]},
        DEFAULT,
        [100, 100],
    ),
    (
        "no resources requested, pods scheduled with resources",
        [("node1", N10_20), ("node2", N10_20)],
        EMPTY_POD,
        {
            "node1": [[{"cpu": "3000", "memory": "0"}]] * 2,
            "node2": [[{"cpu": "3000", "memory": "0"}], [{"cpu": "3000", "memory": "5000"}]],
        },
        DEFAULT,
        [70, 57],
    ),
    (
        "resources requested, pods scheduled with resources",
        [("node1", N10_20), ("node2", N10_20)],
        TWO_CONTAINERS,
        {"node1": [[{"cpu": "3000", "memory": "0"}]], "node2": [[{"cpu": "3000", "memory": "5000"}]]},
        DEFAULT,
        [57, 45],
    ),
    (
        "resources requested, pods scheduled with resources, differently sized nodes",
        [("node1", N10_20), ("node2", {"cpu": "10000", "memory": "50000"})],
        TWO_CONTAINERS,
        {"node1": [[{"cpu": "3000", "memory": "0"}]], "node2": [[{"cpu": "3000", "memory": "5000"}]]},
        DEFAULT,
        [57, 60],
    ),
    (
        "requested resources exceed node capacity",
        [("node1", N4_10), ("node2", N4_10)],
        [{"cpu": "3000", "memory": "0"}],
        {"node1": [[{"cpu": "3000", "memory": "0"}]], "node2": [[{"cpu": "3000", "memory": "5000"}]]},
        DEFAULT,
        [50, 25],
    ),
    (
        "zero node resources, pods scheduled with resources",
        [("node1", {}), ("node2", {})],
        EMPTY_POD,
        {"node1": [[{"cpu": "3000", "memory": "0"}]], "node2": [[{"cpu": "3000", "memory": "5000"}]]},
        DEFAULT,
        [0, 0],
    ),
    (
        "nothing scheduled, resources requested with different weight on CPU and memory, differently sized nodes",
        [("node1", N4_10), ("node2", N6_10)],
        TWO_CONTAINERS,
        {},
        {"memory": 2, "cpu": 1},
        [41, 50],
    ),
    (
        "bypass extended resource if the pod does not request",
        [("node1", N6_10), ("node2", {**N6_10, EXT: "4"})],
        TWO_CONTAINERS,
        {},
        EXTENDED_SET,
        [50, 50],
    ),
    (
        "honor extended resource if the pod requests",
        [("node1", {**N6_10, EXT: "4"}), ("node2", {**N6_10, EXT: "10"})],
        [{"cpu": "3000", "memory": "5000", EXT: "2"}],
        {},
        EXTENDED_SET,
        [50, 60],
    ),
    (
        "if the node doesn't have a resource",
        [("node1", N6_10), ("node2", {**N6_10, EXT: "4"})],
        [{"cpu": "3000", "memory": "4000"}],
        {},
        {EXT: 2, "cpu": 1, "memory": 1},
        [55, 55],
    ),
]

MOST_CASES = [
    ("nothing scheduled, nothing requested", [("node1", N4_10), ("node2", N4_10)], EMPTY_POD, {}, DEFAULT, [0, 0]),
    (
        "nothing scheduled, resources requested, differently sized nodes",
        [("node1", N4_10), ("node2", N6_10)],
        TWO_CONTAINERS,
        {},
        DEFAULT,
        [62, 50],
    ),
    (
        "no resources requested, pods scheduled with resources",
        [("node1", N10_20), ("node2", N10_20)],
        EMPTY_POD,
        {
            "node1": [[{"cpu": "3000", "memory": "0"}]] * 2,
            "node2": [[{"cpu": "3000", "memory": "0"}], [{"cpu": "3000", "memory": "5000"}]],
        },
        DEFAULT,
        [30, 42],
    ),
    (
        "resources requested, pods scheduled with resources",
        [("node1", N10_20), ("node2", N10_20)],
        TWO_CONTAINERS,
        {"node1": [[{"cpu": "3000", "memory": "0"}]], "node2": [[{"cpu": "3000", "memory": "5000"}]]},
        DEFAULT,
        [42, 55],
    ),
    (
        "resources requested equal node capacity",
        [("node1", {"cpu": "5000", "memory": "10000"}), ("node2", {"cpu": "10000", "memory": "9000"})],
        [{"cpu": "2000", "memory": "4000"}, {"cpu": "3000", "memory": "5000"}],
        {},
        DEFAULT,
        [95, 75],
    ),
    (
        "nothing scheduled, resources requested, differently sized nodes (memory weight 2)",
        [("node1", N4_10), ("node2", N6_10)],
        TWO_CONTAINERS,
        {},
        {"memory": 2, "cpu": 1},
        [58, 50],
    ),
    # The one upstream case for the non-zero defaults: containers without requests count 100m / 200MiB.
    (
        "no resources requested, pods scheduled, nonzero request for resource",
        [("node1", {"cpu": "250m", "memory": "1000Mi"}), ("node2", {"cpu": "250m", "memory": "1000Mi"})],
        [{}],
        {"node1": [[{}], [{}]]},
        DEFAULT,
        [80, 30],
    ),
    (
        "bypass extended resource if the pod does not request",
        [("node1", N6_10), ("node2", {**N6_10, EXT: "4"})],
        TWO_CONTAINERS,
        {},
        EXTENDED_SET,
        [50, 50],
    ),
    (
        "honor extended resource if the pod request",
        [("node1", {**N6_10, EXT: "4"}), ("node2", {**N6_10, EXT: "10"})],
        [{"cpu": "3000", "memory": "5000", EXT: "2"}],
        {},
        EXTENDED_SET,
        [50, 40],
    ),
    (
        "if the node doesn't have a resource",
        [("node1", N6_10), ("node2", {**N6_10, EXT: "4"})],
        [{"cpu": "3000", "memory": "4000"}],
        {},
        {EXT: 2, "cpu": 1, "memory": 1},
        [45, 45],
    ),
]

LINEAR = [(0, 10), (100, 0)]
FOO, BAR = "intel.com/foo", "intel.com/bar"
MIB = 1024 * 1024


def make_node(milli_cpu: int, memory: int, extended: dict[str, int] | None = None) -> dict:
    """Upstream's makeNode(name, milliCPU, memory, extended)."""
    return {"cpu": f"{milli_cpu}m", "memory": str(memory), **{k: str(v) for k, v in (extended or {}).items()}}


RTC_CASES = [
    (
        "nothing scheduled, nothing requested (default - least requested nodes have priority)",
        [("node1", N4_10), ("node2", N4_10)],
        EMPTY_POD,
        {"node1": [[], []]},
        DEFAULT,
        LINEAR,
        [100, 100],
    ),
    (
        "nothing scheduled, resources requested, differently sized nodes (default - least requested nodes have priority)",  # noqa: E501 (upstream test name, verbatim)
        [("node1", N4_10), ("node2", N6_10)],
        TWO_CONTAINERS,
        {"node1": [[], []]},
        DEFAULT,
        LINEAR,
        [38, 50],
    ),
    (
        "no resources requested, pods scheduled with resources (default - least requested nodes have priority)",
        [("node1", N4_10), ("node2", N6_10)],
        EMPTY_POD,
        {"node1": [[{"cpu": "3000", "memory": "5000"}]], "node2": [[{"cpu": "3000", "memory": "5000"}]]},
        DEFAULT,
        LINEAR,
        [38, 50],
    ),
    # TestResourceBinPackingSingleExtended
    (
        "single extended: nothing scheduled, nothing requested",
        [("node1", make_node(4000, 10000 * MIB, {FOO: 8})), ("node2", make_node(4000, 10000 * MIB, {FOO: 4}))],
        EMPTY_POD,
        {},
        {FOO: 1},
        [(0, 0), (100, 1)],
        [0, 0],
    ),
    (
        "single extended: resources requested, pods scheduled with less resources",
        [("node1", make_node(4000, 10000 * MIB, {FOO: 8})), ("node2", make_node(4000, 10000 * MIB, {FOO: 4}))],
        [{FOO: "2"}],
        {"node1": [[]]},
        {FOO: 1},
        [(0, 0), (100, 1)],
        [2, 5],
    ),
    (
        "single extended: resources requested, pods scheduled with resources, on node with existing pod running",
        [("node1", make_node(4000, 10000 * MIB, {FOO: 8})), ("node2", make_node(4000, 10000 * MIB, {FOO: 4}))],
        [{FOO: "2"}],
        {"node2": [[{FOO: "2"}]]},
        {FOO: 1},
        [(0, 0), (100, 1)],
        [2, 10],
    ),
    (
        "single extended: resources requested, pods scheduled with more resources",
        [("node1", make_node(4000, 10000 * MIB, {FOO: 8})), ("node2", make_node(4000, 10000 * MIB, {FOO: 4}))],
        [{FOO: "4"}],
        {"node1": [[]]},
        {FOO: 1},
        [(0, 0), (100, 1)],
        [5, 10],
    ),
    # TestResourceBinPackingMultipleExtended
    (
        "multiple extended: nothing scheduled, nothing requested",
        [
            ("node1", make_node(4000, 10000 * MIB, {FOO: 8, BAR: 4})),
            ("node2", make_node(4000, 10000 * MIB, {FOO: 4, BAR: 8})),
        ],
        EMPTY_POD,
        {},
        {FOO: 3, BAR: 5},
        [(0, 0), (100, 1)],
        [0, 0],
    ),
    (
        "multiple extended: resources requested, pods scheduled with less resources",
        [
            ("node1", make_node(4000, 10000 * MIB, {FOO: 8, BAR: 4})),
            ("node2", make_node(4000, 10000 * MIB, {FOO: 4, BAR: 8})),
        ],
        [{FOO: "2", BAR: "2"}],
        {"node1": [[]]},
        {FOO: 3, BAR: 5},
        [(0, 0), (100, 1)],
        [4, 3],
    ),
    (
        "multiple extended: resources requested, pods scheduled with resources, on node with existing pod running",
        [
            ("node1", make_node(4000, 10000 * MIB, {FOO: 8, BAR: 4})),
            ("node2", make_node(4000, 10000 * MIB, {FOO: 4, BAR: 8})),
        ],
        [{FOO: "2", BAR: "2"}],
        {"node2": [[{FOO: "4", BAR: "2"}]]},
        {FOO: 3, BAR: 5},
        [(0, 0), (100, 1)],
        [4, 7],
    ),
    (
        "multiple extended: resources requested, pods scheduled with more resources",
        [
            ("node1", make_node(4000, 10000 * MIB, {FOO: 8, BAR: 4})),
            ("node2", make_node(4000, 10000 * MIB, {FOO: 4, BAR: 8})),
        ],
        [{FOO: "4", BAR: "2"}],
        {"node1": [[]]},
        {FOO: 3, BAR: 5},
        [(0, 0), (100, 1)],
        [5, 5],
    ),
]

CPU_AND_MEMORY = [{"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000"}]
CPU_ONLY = [{"cpu": "1000m", "memory": "0"}, {"cpu": "2000m", "memory": "0"}]
CPU_MEMORY_GPU = [{"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000", "nvidia.com/gpu": "3"}]
GPU_SET = {"cpu": 1, "memory": 1, "nvidia.com/gpu": 1}

BALANCED_CASES = [
    (
        "nothing scheduled, resources requested, differently sized nodes",
        [("node1", make_node(4000, 10000)), ("node2", make_node(6000, 10000))],
        CPU_AND_MEMORY,
        {},
        DEFAULT,
        [87, 100],
    ),
    (
        "resources requested, pods scheduled with resources",
        [("node1", make_node(10000, 20000)), ("node2", make_node(10000, 20000))],
        CPU_AND_MEMORY,
        {"node1": [CPU_ONLY], "node2": [CPU_AND_MEMORY]},
        DEFAULT,
        [82, 95],
    ),
    (
        "resources requested, pods scheduled with resources, differently sized nodes",
        [("node1", make_node(10000, 20000)), ("node2", make_node(10000, 50000))],
        CPU_AND_MEMORY,
        {"node1": [CPU_ONLY], "node2": [CPU_AND_MEMORY]},
        DEFAULT,
        [82, 80],
    ),
    (
        "requested resources at node capacity",
        [("node1", make_node(6000, 10000)), ("node2", make_node(6000, 10000))],
        CPU_ONLY,
        {"node1": [CPU_ONLY], "node2": [CPU_AND_MEMORY]},
        DEFAULT,
        [50, 75],
    ),
    (
        "include scalar resource on a node for balanced resource allocation",
        [
            ("node1", make_node(3500, 40000, {"nvidia.com/gpu": 8})),
            ("node2", make_node(3500, 40000, {"nvidia.com/gpu": 8})),
        ],
        [{"memory": "0", "nvidia.com/gpu": "1"}],
        {"node1": [CPU_MEMORY_GPU], "node2": [CPU_AND_MEMORY]},
        GPU_SET,
        [70, 65],
    ),
    (
        "node without the scalar resource should skip the scalar resource",
        [("node1", make_node(3500, 40000, {"nvidia.com/gpu": 8})), ("node2", make_node(3500, 40000))],
        CPU_AND_MEMORY,
        {},
        GPU_SET,
        [63, 63],
    ),
]


@pytest.mark.parametrize(
    ("name", "nodes", "pod", "existing", "weights", "expected"), LEAST_CASES, ids=[case[0] for case in LEAST_CASES]
)
def test_least_allocated_upstream(name, nodes, pod, existing, weights, expected):
    assert node_scores(least_allocated, nodes, pod, existing, weights, non_zero=True) == expected


@pytest.mark.parametrize(
    ("name", "nodes", "pod", "existing", "weights", "expected"), MOST_CASES, ids=[case[0] for case in MOST_CASES]
)
def test_most_allocated_upstream(name, nodes, pod, existing, weights, expected):
    assert node_scores(most_allocated, nodes, pod, existing, weights, non_zero=True) == expected


@pytest.mark.parametrize(
    ("name", "nodes", "pod", "existing", "weights", "shape", "expected"), RTC_CASES, ids=[case[0] for case in RTC_CASES]
)
def test_requested_to_capacity_ratio_upstream(name, nodes, pod, existing, weights, shape, expected):
    got = node_scores(requested_to_capacity_ratio, nodes, pod, existing, weights, non_zero=True, shape=shape)
    assert got == expected


@pytest.mark.parametrize(
    ("name", "nodes", "pod", "existing", "weights", "expected"),
    BALANCED_CASES,
    ids=[case[0] for case in BALANCED_CASES],
)
def test_balanced_allocation_upstream(name, nodes, pod, existing, weights, expected):
    assert node_scores(balanced_allocation, nodes, pod, existing, weights, non_zero=False) == expected


def test_balanced_allocation_upstream_dra_case():
    # "include DRA resource on a node for balanced resource allocation": node1 offers 8 devices, node2 none.
    node1 = balanced_allocation({"cpu": 3000, "memory": 0, "dra": 1}, {"cpu": 3500, "memory": 40000, "dra": 8})
    node2 = balanced_allocation({"cpu": 3000, "memory": 5000, "dra": 1}, {"cpu": 3500, "memory": 40000, "dra": 0})
    assert (node1, node2) == (62, 63)


BROKEN_LINEAR_CASES = [  # TestBrokenLinearFunction
    (
        [(10, 1), (90, 9)],
        [(-10, 1), (0, 1), (9, 1), (10, 1), (15, 1), (19, 1), (20, 2), (89, 8), (90, 9), (99, 9), (100, 9), (110, 9)],
    ),
    ([(0, 2), (40, 10), (100, 0)], [(-10, 2), (0, 2), (20, 6), (30, 8), (40, 10), (70, 5), (100, 0), (110, 0)]),
    ([(0, 2), (40, 2), (100, 2)], [(-10, 2), (0, 2), (20, 2), (30, 2), (40, 2), (70, 2), (100, 2), (110, 2)]),
]


@pytest.mark.parametrize(("points", "assertions"), BROKEN_LINEAR_CASES)
def test_broken_linear_upstream(points, assertions):
    assert [(p, broken_linear(points, p)) for p, _ in assertions] == assertions


def test_go_integer_semantics():
    # A falling segment divides a negative numerator: Go truncates toward zero, Python's // would floor.
    assert broken_linear([(0, 100), (100, 0)], 33) == 67  # 100 + trunc(-3300/100) = 67
    assert broken_linear([(0, 100), (30, 0)], 10) == 67  # 100 + trunc(-1000/30 = -33.3) = 67, floor would give 66
    # math.Round is half away from zero: 2.5 -> 3 (Python's round() would give 2).
    assert (
        requested_to_capacity_ratio({"a": 50, "b": 0}, {"a": 100, "b": 100}, {"a": 1, "b": 1}, [(0, 0), (100, 1)]) == 5
    )
    assert (
        requested_to_capacity_ratio({"a": 25, "b": 50}, {"a": 100, "b": 100}, {"a": 1, "b": 1}, [(0, 0), (100, 1)]) == 4
    )  # (2 + 5) / 2 = 3.5 -> 4
    assert (
        requested_to_capacity_ratio({"a": 25, "b": 30}, {"a": 100, "b": 100}, {"a": 1, "b": 1}, [(0, 0), (100, 1)]) == 3
    )  # (2 + 3) / 2 = 2.5 -> 3


@pytest.mark.parametrize("weight", [-1, 0, 101])
def test_resource_weight_outside_1_to_100_is_refused(weight):
    # Upstream: "resource with negative weight", "zero weight", "weight larger than MaxNodeScore".
    with pytest.raises(ValidationError, match=r"weight of memory must be in 1\.\.100"):
        RamScoringConfig(resources={"memory": weight})


@pytest.mark.parametrize("weight", [1, 100])
def test_resource_weight_bounds_are_accepted(weight):
    assert RamScoringConfig(resources={"memory": weight}).resources == {"memory": weight}


def test_no_resources_is_refused():
    # Upstream: "Resources not set, pods scheduled with error".
    with pytest.raises(ValidationError, match="name at least one resource"):
        RamScoringConfig(resources={})


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([], "at least one point"),
        ([(0, 10), (101, 0)], r"shape\[1\].utilization 101 is outside 0..100"),
        ([(-1, 10)], r"shape\[0\].utilization -1"),
        ([(0, 11)], r"shape\[0\].score 11 is outside 0..10"),
        ([(0, -1)], r"shape\[0\].score -1"),
        ([(50, 1), (50, 2)], r"shape\[1\].utilization must be above"),
        ([(60, 1), (50, 2)], r"shape\[1\].utilization must be above"),
    ],
)
def test_shape_validation(shape, message):
    with pytest.raises(ValueError, match=message):
        validate_shape(shape)
    with pytest.raises(ValidationError):
        RamScoringConfig(shape=shape)
