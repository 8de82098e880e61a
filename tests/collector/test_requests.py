"""Pod memory requests as kube-scheduler counts them (in-place resize included), and node readiness."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from placement.collector.podrequests import pod_memory_request
from placement.collector.snapshot import node_accepts_pods
from placement.units import to_bytes
from support.kube_fleets import k3s_longhorn_fleet
from support.kube_objects import container, container_status, node, pod


def _pod(*memories, init=None, overhead=None, **status):
    return pod(
        "cust-a",
        "p",
        "run-1",
        [container(f"c{i}", m) for i, m in enumerate(memories)],
        init=init,
        overhead=overhead,
        **status,
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


# --- in-place resize (kube-scheduler 1.33+: max of desired, actual and allocated per container) -----------------

INFEASIBLE = [
    {
        "type": "PodResizePending",
        "status": "True",
        "reason": "Infeasible",
        "message": "Node didn't have enough capacity: memory, requested: 68719476736, capacity: 270189096960",
    }
]
DEFERRED = [
    {
        "type": "PodResizePending",
        "status": "True",
        "reason": "Deferred",
        "message": "Node didn't have enough resource: memory",
    }
]
IN_PROGRESS = [{"type": "PodResizeInProgress", "status": "True"}]


@pytest.mark.parametrize(
    ("desired", "allocated", "actual", "conditions", "expected"),
    [
        ("1Gi", "1Gi", "1Gi", None, "1Gi"),  # no resize
        ("2Gi", "1Gi", "1Gi", DEFERRED, "2Gi"),  # upsize deferred: the desired size is already reserved
        ("512Mi", "512Mi", "1Gi", IN_PROGRESS, "1Gi"),  # downsize allocated, not yet applied: still 1Gi
        ("512Mi", "1Gi", "1Gi", None, "1Gi"),  # downsize not yet allocated
        ("2Gi", "2Gi", "1Gi", IN_PROGRESS, "2Gi"),  # upsize allocated, being applied
        ("64Gi", "1Gi", "1Gi", INFEASIBLE, "1Gi"),  # an infeasible upsize never happens: desired is left out
        ("512Mi", "512Mi", "1Gi", INFEASIBLE, "1Gi"),
    ],
)
def test_resized_container_counts_the_largest_of_desired_actual_and_allocated(
    desired, allocated, actual, conditions, expected
):
    resized = _pod(
        desired, statuses=[container_status("c0", allocated=allocated, actual=actual)], conditions=conditions
    )
    assert pod_memory_request(resized) == to_bytes(expected)


def test_legacy_status_resize_infeasible():
    """Before 1.33 the kubelet reported an infeasible resize in status.resize."""
    resized = _pod("64Gi", statuses=[container_status("c0", allocated="1Gi", actual="1Gi")])
    resized["status"]["resize"] = "Infeasible"
    assert pod_memory_request(resized) == 2**30


def test_status_without_resources_counts_the_spec():
    """As kube-scheduler 1.33: the status counts only once the runtime reported the container's resources."""
    waiting = _pod("1Gi", statuses=[container_status("c0", allocated="2Gi", with_resources=False)])
    assert pod_memory_request(waiting) == 2**30
    no_memory = _pod("1Gi", statuses=[container_status("c0", allocated=None, actual=None)])
    assert pod_memory_request(no_memory) == 2**30


def test_statuses_match_containers_by_name():
    resized = _pod(
        "1Gi",
        "256Mi",
        statuses=[
            container_status("c1", allocated="256Mi", actual="768Mi"),
            container_status("c0", allocated="1Gi", actual="1Gi"),
            container_status("gone", allocated="8Gi", actual="8Gi"),  # a status for no container counts nothing
        ],
    )
    assert pod_memory_request(resized) == to_bytes("1Gi") + to_bytes("768Mi")


def test_resized_sidecar_counts_its_status_and_plain_init_containers_do_not():
    sidecar = container("proxy", "256Mi", restart_policy="Always")
    resized = _pod(
        "1Gi",
        init=[sidecar, container("setup", "512Mi")],
        init_statuses=[
            container_status("proxy", allocated="512Mi", actual="512Mi"),
            container_status("setup", allocated="4Gi", actual="4Gi"),  # a finished init container is not resized
        ],
    )
    assert pod_memory_request(resized) == to_bytes("1Gi") + to_bytes("512Mi")


def test_pod_level_requests_and_overhead_with_resize():
    resized = _pod("1Gi", statuses=[container_status("c0", allocated="1Gi", actual="3Gi")], overhead="64Mi")
    assert pod_memory_request(resized) == to_bytes("3Gi") + to_bytes("64Mi")
    resized["spec"]["resources"] = {"requests": {"memory": "2Gi"}}
    assert pod_memory_request(resized) == to_bytes("2Gi") + to_bytes("64Mi")


def test_resized_pods_on_a_run_node(serve):
    """Through the API: run-3's pod is being shrunk from 2Gi to 750Mi; until the kubelet applies it, 2Gi counts."""
    cluster = k3s_longhorn_fleet()
    [web] = [p for p in cluster.collections["/api/v1/pods"] if p["metadata"]["name"] == "web-5d8f7c6b9-hj2xm"]
    web["status"]["containerStatuses"] = [container_status("web", allocated="750Mi", actual="2Gi")]
    web["status"]["conditions"] = IN_PROGRESS
    nodes = {n.name: n for n in serve(cluster).collect().load.run_nodes}
    assert nodes["run-3"].requested_ram == to_bytes("2Gi")
