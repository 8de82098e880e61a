"""Nodes without labels, control-plane detection, and Rook-Ceph clusters."""

from __future__ import annotations

import pytest

from placement.collector import resources
from placement.collector.errors import CollectError
from placement.collector.providers import providers_of, volumes_against_limit
from placement.limits import shipped_limits
from support.kube_apiserver import Generated
from support.kube_fleets import generated_fleet, k3s_longhorn_fleet
from support.kube_objects import longhorn_volume, node

PROVIDERS = providers_of(shipped_limits("seed"))
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
    assert snapshot.load.volumes == snapshot.inventory.volume_pvcs == 120 // 4
    assert snapshot.inventory.volumes_counted_as == "PVCs on its storage classes"
    assert snapshot.inventory.volume_objects is None
    assert snapshot.inventory.longhorn_volumes_by_robustness is None
    assert LONGHORN_PATH not in {r.path for r in served.cluster.requests}


def test_longhorn_volumes_whose_pvcs_are_gone_still_count(serve):
    """Retained volumes whose PVCs were deleted, and one made in Longhorn's UI, count against Longhorn's limit."""
    cluster = k3s_longhorn_fleet()
    cluster.collections[LONGHORN_PATH] = [
        *cluster.collections[LONGHORN_PATH],
        longhorn_volume("pvc-4e5f6a7b", "unknown", "detached", pvc="cust-acme/cache", pvc_gone=True),
        longhorn_volume("pvc-5f6a7b8c", "unknown", "detached", pvc="cust-globex/tmp", pvc_gone=True),
        longhorn_volume("restore-test", "healthy", "detached"),
    ]
    snapshot = serve(cluster).collect()
    assert snapshot.load.volumes == 7
    assert (snapshot.inventory.volume_objects, snapshot.inventory.volume_pvcs) == (7, 3)
    assert snapshot.inventory.longhorn_volumes_without_pvc == 4
    assert snapshot.inventory.longhorn_volumes_by_robustness == {
        "healthy": 3,
        "degraded": 1,
        "faulted": 1,
        "unknown": 2,
    }


def test_large_longhorn_cluster_counts_volumes_not_pvcs(serve):
    cluster = generated_fleet(10, 400, customers=20)
    volumes = cluster.collections[LONGHORN_PATH]
    cluster.collections[LONGHORN_PATH] = Generated(len(volumes) + 25, lambda i: volumes[i % len(volumes)])
    snapshot = serve(cluster).collect(source_options={"page_size": 30})
    assert snapshot.load.volumes == 400 // 4 + 25
    assert snapshot.inventory.volume_pvcs == 400 // 4


@pytest.mark.parametrize(
    ("provider", "pvcs", "objects", "expected"),
    [("longhorn", 3, 4, 4), ("longhorn", 5, 0, 0), ("rook-ceph", 3, None, 3)],
)
def test_provider_table_says_what_the_limit_counts(provider, pvcs, objects, expected):
    assert volumes_against_limit(PROVIDERS[provider], pvcs, objects) == expected


def test_every_provider_volume_crd_is_in_the_resource_catalogue():
    crds = {p.volume_crd for p in PROVIDERS.values() if p.volume_crd is not None}
    assert crds and crds <= set(resources.ALL)


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
