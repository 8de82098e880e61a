"""Nodes without labels, control-plane detection, and Rook-Ceph clusters."""

from __future__ import annotations

import pytest

from placement.collector.errors import CollectError
from tests.collector.objects import generated_fleet, k3s_longhorn_fleet, node

LONGHORN_PATH = "/apis/longhorn.io/v1beta2/volumes"


def test_nodes_without_labels_are_neither_run_nor_control_plane(serve):
    cluster = k3s_longhorn_fleet()
    cluster.collections["/api/v1/nodes"] = [
        *cluster.collections["/api/v1/nodes"],
        node("bare-1", labels={}),
        node("bare-2", labels={}),
    ]
    cluster.collections["/api/v1/nodes"][-2]["metadata"]["labels"] = {}  # bare-1: empty labels; bare-2: no key
    assert "labels" not in cluster.collections["/api/v1/nodes"][-1]["metadata"]
    snapshot = serve(cluster).collect()
    assert [n.name for n in snapshot.load.run_nodes] == ["run-1", "run-2", "run-3"]
    assert snapshot.inventory.nodes == 7
    assert snapshot.load.ctrl_node_type == "CX52"


def test_cluster_of_unlabelled_nodes_needs_the_control_plane_type(serve):
    cluster = k3s_longhorn_fleet()
    cluster.collections["/api/v1/nodes"] = [node(f"bare-{i}", labels={}) for i in range(3)]
    served = serve(cluster)
    with pytest.raises(
        CollectError,
        match=r"control-plane node type unknown: no node labelled "
        r"node-role\.kubernetes\.io/control-plane .*pass --ctrl-node-type",
    ):
        served.collect()
    snapshot = served.collect(ctrl_node_type="CX32")
    assert snapshot.load.ctrl_node_type == "CX32"
    assert snapshot.load.run_nodes == []
    assert snapshot.load.pods == 13  # pods still count, though no run node holds them


def test_control_plane_without_instance_type_names_the_node(serve):
    cluster = k3s_longhorn_fleet()
    cluster.collections["/api/v1/nodes"][0] = node("k3s-ctrl-1", pool=None, control_plane=True, instance_type=None)
    with pytest.raises(CollectError, match=r"control-plane node k3s-ctrl-1 has no node\.kubernetes\.io/instance-type"):
        serve(cluster).collect()


def test_legacy_master_label_and_beta_instance_type(serve):
    cluster = k3s_longhorn_fleet()
    cluster.collections["/api/v1/nodes"][0] = node(
        "k3s-master", labels={"node-role.kubernetes.io/master": "true", "beta.kubernetes.io/instance-type": "cx32"}
    )
    snapshot = serve(cluster).collect()
    assert (snapshot.load.ctrl_node_type, snapshot.inventory.control_plane_node) == ("CX32", "k3s-master")


def test_rook_ceph_cluster_counts_rbd_pvcs_and_skips_longhorn(serve):
    served = serve(generated_fleet(6, 120, customers=10, ceph=True))
    snapshot = served.collect()
    assert snapshot.inventory.storage_provider == "rook-ceph"
    assert snapshot.inventory.volume_storage_classes == ["ceph-block"]
    assert snapshot.load.volumes == 120 // 4
    assert snapshot.inventory.longhorn_volumes_by_robustness is None
    assert LONGHORN_PATH not in {r.path for r in served.cluster.requests}


def test_storage_provider_override(serve):
    cluster = k3s_longhorn_fleet()
    snapshot = serve(cluster).collect(storage_provider="rook-ceph")
    assert (snapshot.load.volumes, snapshot.inventory.volume_storage_classes) == (0, [])
    assert LONGHORN_PATH not in {r.path for r in cluster.requests}


def test_system_namespaces_are_not_customers(serve):
    snapshot = serve(k3s_longhorn_fleet()).collect(
        system_namespaces=frozenset(
            {"default", "kube-system", "kube-public", "kube-node-lease", "longhorn-system", "cust-initech"}
        )
    )
    assert snapshot.load.customers == 2
    assert snapshot.load.services == 6  # cust-initech's two Deployments no longer count
