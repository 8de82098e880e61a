"""Large lists: paging with limit/continue, remainingItemCount, and lists restarted after an expired token."""

from __future__ import annotations

from collections import Counter

import pytest

from placement.collector.errors import CollectError
from placement.collector.source import ObjectCount
from support.kube_apiserver import Fault
from support.kube_fleets import generated_fleet, generated_pod_memory

RUN_NODES = 5_000
PODS = 10_000
PAGE = 500


@pytest.fixture(scope="module")
def expected():
    """Per-node requests and pod counts, from the generator's own rule (pod i on node i % RUN_NODES)."""
    requested: Counter[str] = Counter()
    pods: Counter[str] = Counter()
    for i in range(PODS):
        if i % 20 == 19:  # Succeeded
            continue
        name = f"run-{i % RUN_NODES:05d}"
        requested[name] += generated_pod_memory(i)
        pods[name] += 1
    return requested, pods


def test_5000_node_list_is_paged(serve, expected):
    served = serve(generated_fleet(RUN_NODES, PODS))
    snapshot = served.collect(source_options={"page_size": PAGE})
    requested, pods = expected
    assert len(snapshot.load.run_nodes) == RUN_NODES
    for node in snapshot.load.run_nodes:
        assert (node.requested_ram, node.pods) == (requested[node.name], pods[node.name])
    assert snapshot.load.pods == sum(pods.values())
    assert snapshot.load.ctrl_node_type == "CX52"

    node_requests = [r for r in served.cluster.requests if r.path == "/api/v1/nodes"]
    assert len(node_requests) == -(-(RUN_NODES + 1) // PAGE)  # 5,001 nodes in pages of 500
    assert node_requests[0].continue_token is None
    assert all(r.continue_token for r in node_requests[1:])
    assert all(r.limit is not None and r.limit <= PAGE for r in served.cluster.requests)


def test_counts_use_remaining_item_count_or_fall_back_to_paging(serve):
    with_count = serve(generated_fleet(50, 2_000))
    first = with_count.collect(source_options={"page_size": 100})
    secret_requests = [r for r in with_count.cluster.requests if r.path == "/api/v1/secrets"]
    assert [r.limit for r in secret_requests] == [1]  # one object plus remainingItemCount

    without = generated_fleet(50, 2_000)
    without.remaining_item_count = False
    served = serve(without)
    second = served.collect(source_options={"page_size": 100})
    assert second.inventory.object_counts == first.inventory.object_counts
    replicaset_requests = [r for r in served.cluster.requests if r.path == "/apis/apps/v1/replicasets"]
    assert len(replicaset_requests) == 1 + 2_000 // 100  # the probe, then the paged count
    assert all(r.metadata_only for r in replicaset_requests)


def test_expired_continue_token_restarts_the_list_without_double_counting(serve):
    cluster = generated_fleet(200, 3_000)
    reference = serve(generated_fleet(200, 3_000)).collect(source_options={"page_size": 500})
    cluster.faults["/api/v1/pods"] = Fault(expire_continue=2)
    served = serve(cluster)
    snapshot = served.collect(source_options={"page_size": 500})
    assert snapshot.inventory.list_restarts == 2
    assert snapshot.load.run_nodes == reference.load.run_nodes
    assert snapshot.load.pods == reference.load.pods
    assert snapshot.inventory.object_counts == reference.inventory.object_counts


def test_a_list_that_keeps_expiring_fails(serve):
    cluster = generated_fleet(20, 200)
    cluster.faults["/api/v1/pods"] = Fault(expire_continue=100)
    with pytest.raises(CollectError, match=r"pods \(core/v1\): the continue token expired \(410\) 4 times"):
        serve(cluster).collect(source_options={"page_size": 50})


def test_fold_streams_one_page_at_a_time(serve):
    """The accumulator sees every object once, and no request asks for more than a page."""
    served = serve(generated_fleet(10, 3_001))
    with served.source(page_size=250) as source:
        from placement.collector import resources

        total = source.fold(resources.PODS, ObjectCount).value
    assert total == 3_001
    pod_requests = [r for r in served.cluster.requests if r.path == "/api/v1/pods"]
    assert [r.limit for r in pod_requests] == [250] * 13
