"""A recorded-style k3s cluster with Longhorn: every field of the snapshot, checked against the objects served."""

from __future__ import annotations

from datetime import UTC, datetime

from placement.collector import resources
from placement.collector.providers import providers_of
from placement.collector.snapshot import default_limits as snapshot_limits
from placement.state import ClusterLoadIn
from placement.units import to_bytes
from support.kube_fleets import k3s_longhorn_fleet

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def test_run_nodes_memory_pods_and_state(serve):
    snapshot = serve(k3s_longhorn_fleet()).collect(now=NOW)
    nodes = {n.name: n for n in snapshot.load.run_nodes}
    assert list(nodes) == ["run-1", "run-2", "run-3"]  # not the control plane, not the build pool
    for node in nodes.values():
        assert node.allocatable_ram == 263856540 * 1024
        assert node.max_pods == 110
    # run-1: 512Mi + 1G + 2Gi + 268435456 bytes + a pod without requests + a system pod without requests
    assert nodes["run-1"].requested_ram == (to_bytes("512Mi") + 1_000_000_000 + to_bytes("2Gi") + 268_435_456)
    assert nodes["run-1"].pods == 6
    # run-2: max(1Gi + 512Mi, init 3Gi) + (1Gi app + 256Mi sidecar vs 1Gi setup + 256Mi sidecar) + 64Mi overhead;
    # its Succeeded (4Gi) and Failed (8Gi) pods do not count
    assert nodes["run-2"].requested_ram == to_bytes("3Gi") + to_bytes("1Gi") + to_bytes("256Mi") + to_bytes("64Mi")
    assert nodes["run-2"].pods == 3
    assert nodes["run-3"].requested_ram == to_bytes("750Mi")
    assert [n.schedulable for n in nodes.values()] == [True, True, False]  # run-3 is cordoned


def test_cluster_counters(serve):
    snapshot = serve(k3s_longhorn_fleet()).collect(now=NOW)
    load = snapshot.load
    assert load.observed_at == NOW
    assert load.ctrl_node_type == "CX52"  # the Hetzner label is lower case, the limits profiles upper case
    assert load.customers == 3
    assert load.services == 7 + 1  # customer Deployments + the customer StatefulSet, not kube-system's
    # Longhorn's limit counts Longhorn volumes: the three behind the Longhorn PVCs and the retained one whose PVC
    # was deleted; not the local-path or class-less PVCs
    assert load.volumes == 4
    assert load.pods == 13  # 15 pods minus one Succeeded and one Failed; the pending one counts


def test_inventory_and_etcd_objects(serve):
    cluster = k3s_longhorn_fleet()
    snapshot = serve(cluster).collect(now=NOW)
    inventory = snapshot.inventory
    served = {path: len(items) for path, items in cluster.collections.items()}
    # Every kind the etcd figures count: Kubernetes' own, and Longhorn's custom resources (the limits profile's
    # counted_crds); not storage classes or quotas.
    expected = {resource.plural: served[resource.path] for resource in resources.ETCD_COUNTED}
    longhorn = providers_of(snapshot_limits())["longhorn"]
    expected |= {f"{crd.plural}.{crd.group}": served[crd.path] for crd in longhorn.counted_crds}
    assert inventory.object_counts == expected
    assert {"leases", "csinodes", "volumeattachments", "events", "replicas.longhorn.io"} <= set(expected)
    assert expected["replicas.longhorn.io"] == 4 * 2  # numberOfReplicas 2 on each of the four volumes
    assert snapshot.load.etcd_objects == sum(inventory.object_counts.values())
    assert inventory.longhorn_volumes_by_robustness == {"healthy": 2, "degraded": 1, "faulted": 1, "unknown": 0}
    assert inventory.pvcs_by_storage_class == {"": 1, "local-path": 1, "longhorn": 3}
    assert inventory.storage_provider == "longhorn"
    assert inventory.volume_storage_classes == ["longhorn"]
    # both counts: the limit's (Longhorn volumes) and the PVCs on the Longhorn class
    assert (inventory.volume_objects, inventory.volume_pvcs) == (4, 3)
    assert inventory.volumes_counted_as == "volumes.longhorn.io objects"
    assert inventory.longhorn_volumes_without_pvc == 1
    assert inventory.control_plane_node == "k3s-ctrl-1"
    assert inventory.control_plane_nodes == {"k3s-ctrl-1": "CX52"}
    assert inventory.warnings == []
    assert inventory.run_nodes_unschedulable == ["run-3"]
    assert inventory.run_nodes_not_ready == []
    assert inventory.pods_terminated == 2
    assert inventory.pods_pending_unscheduled == 1
    assert inventory.nodes == 5


def test_snapshot_is_a_valid_router_body(serve):
    snapshot = serve(k3s_longhorn_fleet()).collect(now=NOW)
    body = ClusterLoadIn.from_model(snapshot.to_model()).model_dump(mode="json")
    assert ClusterLoadIn.model_validate(body).to_model() == snapshot.to_model()


def test_counting_lists_ask_for_metadata_only(serve):
    served = serve(k3s_longhorn_fleet())
    served.collect(now=NOW)
    metadata_only = {r.path.rsplit("/", 1)[-1] for r in served.cluster.requests if r.metadata_only}
    assert {"secrets", "configmaps", "namespaces", "deployments"} <= metadata_only
    assert not metadata_only & {"pods", "nodes", "volumes", "persistentvolumeclaims"}


def test_same_cluster_same_snapshot(serve):
    first = serve(k3s_longhorn_fleet()).collect(now=NOW)
    second = serve(k3s_longhorn_fleet()).collect(now=NOW, source_options={"page_size": 1})
    assert first.load == second.load
    assert first.inventory.object_counts == second.inventory.object_counts
