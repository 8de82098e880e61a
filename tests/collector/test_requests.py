"""Pod memory requests as kube-scheduler counts them, and node readiness, on single objects."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from placement.collector.snapshot import node_accepts_pods, pod_memory_request
from placement.units import to_bytes
from tests.collector.objects import container, node, pod


def _pod(*memories, init=None, overhead=None):
    return pod(
        "cust-a", "p", "run-1", [container(f"c{i}", m) for i, m in enumerate(memories)], init=init, overhead=overhead
    )


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("512Mi", 512 * 2**20),
        ("1G", 10**9),
        ("500M", 5 * 10**8),
        ("2Gi", 2 * 2**30),
        ("268435456", 2**28),
        (268435456, 2**28),
        ("1.5Gi", 3 * 2**29),
        ("263856540Ki", 263856540 * 1024),
        ("100m", 1),
    ],
)
def test_quantity_variants(quantity, expected):
    assert pod_memory_request(_pod(quantity)) == expected


def test_no_requests_is_zero():
    assert pod_memory_request(_pod(None)) == 0
    assert pod_memory_request(_pod(None, "1Gi")) == 2**30
    assert pod_memory_request({"metadata": {"name": "bare"}}) == 0


def test_init_container_larger_than_app_containers_wins():
    assert pod_memory_request(_pod("1Gi", "512Mi", init=[container("migrate", "3Gi")])) == 3 * 2**30
    assert pod_memory_request(_pod("1Gi", "512Mi", init=[container("migrate", "1Gi")])) == 3 * 2**29


def test_sidecar_adds_to_app_and_to_later_init_containers():
    sidecar = container("proxy", "256Mi", restart_policy="Always")
    # app 1Gi + sidecar 256Mi; the later init container needs 2Gi + the sidecar running beside it
    assert pod_memory_request(_pod("1Gi", init=[sidecar, container("setup", "2Gi")])) == to_bytes("2Gi") + 2**28
    # an init container before the sidecar starts runs alone
    assert pod_memory_request(_pod("1Gi", init=[container("setup", "1Gi"), sidecar])) == to_bytes("1Gi") + 2**28


def test_overhead_and_pod_level_requests():
    assert pod_memory_request(_pod("1Gi", overhead="64Mi")) == 2**30 + 64 * 2**20
    with_pod_level = _pod("1Gi", "1Gi")
    with_pod_level["spec"]["resources"] = {"requests": {"memory": "1536Mi"}}
    assert pod_memory_request(with_pod_level) == 1536 * 2**20


def test_malformed_quantity_is_an_error_naming_it():
    with pytest.raises(ValueError, match="12 parsecs"):
        pod_memory_request(_pod("12 parsecs"))


@given(
    st.lists(st.integers(min_value=0, max_value=2**40), max_size=6),
    st.lists(st.integers(min_value=0, max_value=2**40), max_size=4),
)
def test_without_sidecars_request_is_max_of_sum_and_largest_init(apps, inits):
    request = _pod(*[str(b) for b in apps], init=[container(f"i{k}", str(b)) for k, b in enumerate(inits)])
    assert pod_memory_request(request) == max(sum(apps), max(inits, default=0))


@pytest.mark.parametrize(
    ("kwargs", "accepts"),
    [
        ({}, True),
        ({"ready": False}, False),
        ({"unschedulable": True}, False),
        ({"taints": [{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}]}, False),
        ({"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}, False),
        ({"taints": [{"key": "dedicated", "value": "db", "effect": "PreferNoSchedule"}]}, True),
    ],
)
def test_node_accepts_pods(kwargs, accepts):
    assert node_accepts_pods(node("run-1", **kwargs)) is accepts
