"""The collector counts the kinds the model counts, so the live etcd count and the model's agree.

A recorded-style k3s + Longhorn cluster gets one more customer (a web service with a Longhorn volume), or one more
run node, with the objects Kubernetes, k3s and Longhorn really make for it; the live count must grow by exactly
what the published profile's footprint says that customer or node adds.
"""

from __future__ import annotations

from typing import Any

import pytest

from placement.collector import resources
from placement.footprint import Footprint, NodeFootprint, cluster_baseline_objects
from placement.limits import shipped_limits
from placement.model import PlacementRequest, VolumeRequest
from support.kube_apiserver import FakeCluster
from support.kube_fleets import k3s_longhorn_fleet
from support.kube_objects import (
    collections_extended,
    container,
    csi_node,
    event,
    lease,
    longhorn_object,
    longhorn_volume,
    longhorn_volume_objects,
    namespace,
    namespaced,
    node,
    persistent_volume,
    pod,
    pvc,
    volume_attachment,
)

PUBLISHED = shipped_limits("published")
LONGHORN = "/apis/longhorn.io/v1beta2/"


def collect(served, limits):
    # The recorded control plane is a Hetzner cx52, which the published profile (CX23-CX53) does not list.
    return served.collect(limits=limits, ctrl_node_type=None if limits.profile == "seed" else "CX53")


def with_objects(cluster: FakeCluster, more: dict[str, list[dict[str, Any]]]) -> FakeCluster:
    return FakeCluster(collections=collections_extended(cluster.collections, more))


def new_customer_with_a_volume(replicas: int) -> dict[str, list[dict[str, Any]]]:
    """cust-hooli: one web service (rolled out five times, so six ReplicaSets kept) with a 10 GiB Longhorn volume,
    as the API server holds it a few minutes after the last rollout."""
    ns, web = "cust-hooli", "web"
    volume = "pvc-5a6b7c8d"
    objects = {
        # the namespace and what Kubernetes adds to every namespace
        "/api/v1/namespaces": [namespace(ns)],
        "/api/v1/serviceaccounts": [namespaced(ns, "default")],
        "/api/v1/configmaps": [namespaced(ns, "kube-root-ca.crt", data={"ca.crt": "-----BEGIN CERTIFICATE-----"})],
        # the service
        "/apis/apps/v1/deployments": [namespaced(ns, web)],
        "/apis/apps/v1/replicasets": [namespaced(ns, f"{web}-{h}") for h in ("5d8f7c6b9", "6c9d8e7f1", "7b4c5d6e2",
                                                                            "84f6d5c73", "9a8b7c6d4", "b5c4d3e25")],
        "/api/v1/pods": [pod(ns, f"{web}-b5c4d3e25-k8s2x", "run-2", [container(web, "512Mi")])],
        "/api/v1/services": [namespaced(ns, web)],
        "/api/v1/endpoints": [namespaced(ns, web)],
        "/apis/discovery.k8s.io/v1/endpointslices": [namespaced(ns, f"{web}-m2p7q")],
        "/apis/networking.k8s.io/v1/ingresses": [namespaced(ns, web)],
        "/api/v1/secrets": [namespaced(ns, f"{web}-tls", type="kubernetes.io/tls"), namespaced(ns, f"{web}-env")],
        "/api/v1/events": [event(ns, f"{web}-b5c4d3e25-k8s2x", reason) for reason in ("Pulled", "Started")],
        # its volume: the claim, its PV, the CSI attachment and Longhorn's Volume, Engine, Replicas and attachment
        "/api/v1/persistentvolumeclaims": [pvc(ns, "data", "longhorn")],
        "/api/v1/persistentvolumes": [persistent_volume(volume, f"{ns}/data", "longhorn")],
        "/apis/storage.k8s.io/v1/volumeattachments": [volume_attachment(volume, "run-2")],
        LONGHORN + "volumes": [longhorn_volume(volume, "healthy", pvc=f"{ns}/data")],
    }  # fmt: skip
    return collections_extended(objects, longhorn_volume_objects(volume, "run-2", replicas))


def new_run_node(name: str) -> dict[str, list[dict[str, Any]]]:
    """run-4 joined: its Node, Lease, CSINode and k3s node-password Secret, the DaemonSet pods every run node gets
    (Traefik, svclb-traefik, Longhorn's manager, CSI plugin, engine image) and its Longhorn instance manager, and
    Longhorn's Node and InstanceManager objects for it."""
    system = [
        ("kube-system", "traefik-x9k2p", "traefik"),
        ("kube-system", "svclb-traefik-3a1b7c2d-q8w4n", "lb-tcp-80"),
        ("longhorn-system", "longhorn-manager-p3k9x", "longhorn-manager"),
        ("longhorn-system", "longhorn-csi-plugin-h7d2m", "longhorn-csi-plugin"),
        ("longhorn-system", "engine-image-ei-db6c2b6f-z5v8c", "engine-image-ei-db6c2b6f"),
        ("longhorn-system", f"instance-manager-{name}", "instance-manager"),
    ]
    return {
        "/api/v1/nodes": [node(name)],
        "/apis/coordination.k8s.io/v1/leases": [lease(name)],
        "/apis/storage.k8s.io/v1/csinodes": [csi_node(name)],
        "/api/v1/secrets": [namespaced("kube-system", f"{name}.node-password.k3s")],
        "/api/v1/pods": [pod(ns, pod_name, name, [container(c, None)]) for ns, pod_name, c in system],
        LONGHORN + "nodes": [longhorn_object("Node", name)],
        LONGHORN + "instancemanagers": [longhorn_object("InstanceManager", f"instance-manager-{name}")],
    }


@pytest.mark.parametrize("profile", ["seed", "published"])
def test_the_collector_counts_every_kind_the_model_counts(serve, profile):
    limits = shipped_limits(profile)
    snapshot = collect(serve(k3s_longhorn_fleet()), limits)
    counted = set(snapshot.inventory.object_counts)
    for kind in ("nodes", "leases", "csinodes", "volumeattachments", "persistentvolumes", "events",
                 "endpointslices", "serviceaccounts", "daemonsets", "jobs"):  # fmt: skip
        assert kind in counted
    # Longhorn's per-volume and per-node objects, from the profile's counted_crds (whatever the profile's figures)
    for crd in ("volumes", "engines", "replicas", "volumeattachments", "nodes", "instancemanagers"):
        assert f"{crd}.longhorn.io" in counted
    assert snapshot.load.etcd_objects == sum(snapshot.inventory.object_counts.values())


def test_a_new_customer_adds_what_its_published_footprint_says(serve):
    before = collect(serve(k3s_longhorn_fleet()), PUBLISHED)
    replicas = PUBLISHED.storage["longhorn"].replicas
    after = collect(serve(with_objects(k3s_longhorn_fleet(), new_customer_with_a_volume(replicas))), PUBLISHED)
    request = PlacementRequest("hooli", 512 * 2**20, "eu-west", (VolumeRequest(10 * 2**30),), new_customer=True)
    footprint = Footprint.of(request, PUBLISHED, "longhorn")
    assert after.load.etcd_objects - before.load.etcd_objects == footprint.etcd_objects
    assert footprint.etcd_objects == 3 + 14 + 2 + 6 + replicas  # customer, service, its Events, volume, replicas
    assert (after.load.customers - before.load.customers, after.load.volumes - before.load.volumes) == (1, 1)


def test_a_new_run_node_adds_what_its_published_node_footprint_says(serve):
    before = collect(serve(k3s_longhorn_fleet()), PUBLISHED)
    after = collect(serve(with_objects(k3s_longhorn_fleet(), new_run_node("run-4"))), PUBLISHED)
    node_footprint = NodeFootprint.of(PUBLISHED, "longhorn")
    assert after.load.etcd_objects - before.load.etcd_objects == node_footprint.etcd_objects
    # its system pods sit on it from the start and count against its max-pods
    run_4 = next(n for n in after.load.run_nodes if n.name == "run-4")
    assert run_4.pods == node_footprint.pods == PUBLISHED.system_pods_per_node("longhorn")
    assert node_footprint.customer_pod_room(run_4.max_pods) == run_4.max_pods - run_4.pods


def test_the_baseline_and_counted_kinds_are_data():
    # An empty cluster's objects are the sum of Kubernetes' and the provider's installation figures.
    assert cluster_baseline_objects(PUBLISHED, "longhorn") == (
        PUBLISHED.etcd_objects_per_cluster + PUBLISHED.storage["longhorn"].etcd_objects_per_cluster
    )
    # The per-volume figure counts one object per replica: changing the replica count moves it.
    storage = PUBLISHED.storage["longhorn"]
    assert storage.etcd_objects_per_volume == 6 + storage.replicas
    every_read = {(r.group, r.plural) for r in resources.ALL}
    for crd in storage.counted_crds:
        assert (crd[0], crd[2]) in every_read  # deploy/collector-rbac.yaml grants it (tests/collector/test_rbac.py)
