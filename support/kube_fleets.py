"""Whole fake clusters built from ``support.kube_objects``: ``k3s_longhorn_fleet()``, a small recorded-style k3s
cluster with Longhorn volumes and three customers, and ``generated_fleet(nodes, pods)``, a large one made on the fly
for paging tests and the benchmark.
"""

from __future__ import annotations

from typing import Any

from support.kube_apiserver import FakeCluster, Generated
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
    resource_quota,
    storage_class,
    volume_attachment,
)

CUSTOMERS = ("cust-acme", "cust-globex", "cust-initech")
SYSTEM_OBJECTS = {"kube-system": 6, "longhorn-system": 4}


def k3s_longhorn_fleet() -> FakeCluster:
    """A k3s cluster: one control-plane node (cx52) and three run nodes, Longhorn volumes, three customers.

    Memory requests use Mi, M, Gi, plain bytes and none; there are init containers, a sidecar, pod overhead,
    Succeeded and Failed pods, and a pending pod. Four Longhorn volumes for three Longhorn PVCs: the fourth
    volume's PVC was deleted and the volume retained.
    """
    nodes = [
        node(
            "k3s-ctrl-1",
            pool=None,
            control_plane=True,
            instance_type="cx52",
            memory="32603280Ki",
            taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        ),
        node("run-1"),
        node("run-2"),
        node("run-3", unschedulable=True, taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
        node("build-1", pool="build", instance_type="cpx41", memory="16132484Ki"),
    ]
    pods = [
        # run-1: 512Mi + 1G + 2Gi + 268435456 + none
        pod("cust-acme", "web-7d9f8b6c4-x2k9p", "run-1", [container("web", "512Mi")]),
        pod("cust-acme", "worker-5c8d7f9b8-q7wzn", "run-1", [container("worker", "1G")]),
        pod("cust-globex", "db-0", "run-1", [container("postgres", "2Gi")]),
        pod("cust-globex", "cache-6b7c9d8f5-m4jrt", "run-1", [container("redis", "268435456")]),
        pod("cust-initech", "cron-28470120-vb9xk", "run-1", [container("job", None)]),
        # run-2: init container larger than the app (3Gi > 1Gi + 512Mi); a sidecar; pod overhead
        pod(
            "cust-initech",
            "api-84f6d5c7b-7hx2q",
            "run-2",
            [container("api", "1Gi"), container("proxy", "512Mi")],
            init=[container("migrate", "3Gi")],
        ),
        pod(
            "cust-acme",
            "app-6f5b4c7d8-lp3nv",
            "run-2",
            [container("app", "1Gi")],
            init=[container("log-shipper", "256Mi", restart_policy="Always"), container("setup", "1Gi")],
            overhead="64Mi",
        ),
        # terminated pods do not count on a node
        pod("cust-acme", "migrate-28470060-8qz4d", "run-2", [container("migrate", "4Gi")], phase="Succeeded"),
        pod("cust-globex", "backup-28470000-ws8kt", "run-2", [container("backup", "8Gi")], phase="Failed"),
        # run-3 is cordoned but its pods still count
        pod("cust-globex", "web-5d8f7c6b9-hj2xm", "run-3", [container("web", "750Mi")]),
        # pending, not on any node
        pod("cust-initech", "web-7c6d5f8b9-pq9zr", None, [container("web", "1Gi")], phase="Pending"),
        # system pods: on run nodes (count) and the control-plane node (not a run node)
        pod("longhorn-system", "longhorn-manager-8k2xd", "run-1", [container("longhorn-manager", None)]),
        pod("longhorn-system", "instance-manager-4f2a9c7e", "run-2", [container("instance-manager", None)]),
        pod("kube-system", "coredns-ccb96694c-7fzqg", "k3s-ctrl-1", [container("coredns", "70Mi")]),
        pod("kube-system", "metrics-server-5985cbc9d7-w6x8p", "k3s-ctrl-1", [container("metrics-server", "70Mi")]),
    ]
    namespaces = [
        namespace(n)
        for n in ("default", "kube-system", "kube-public", "kube-node-lease", "longhorn-system", *CUSTOMERS)
    ]
    deployments = [
        namespaced("cust-acme", "web"),
        namespaced("cust-acme", "worker"),
        namespaced("cust-acme", "app"),
        namespaced("cust-globex", "cache"),
        namespaced("cust-globex", "web"),
        namespaced("cust-initech", "api"),
        namespaced("cust-initech", "web"),
        namespaced("kube-system", "coredns"),
        namespaced("kube-system", "metrics-server"),
        namespaced("longhorn-system", "longhorn-driver-deployer"),
    ]
    statefulsets = [namespaced("cust-globex", "db")]
    pvcs = [
        pvc("cust-acme", "data-web", "longhorn"),
        pvc("cust-acme", "uploads", "longhorn"),
        pvc("cust-globex", "data-db-0", "longhorn"),
        pvc("cust-initech", "scratch", "local-path"),
        pvc("cust-initech", "legacy", None),
    ]
    volumes = [
        longhorn_volume("pvc-0a1b2c3d", "healthy", pvc="cust-acme/data-web"),
        longhorn_volume("pvc-1b2c3d4e", "healthy", pvc="cust-acme/uploads"),
        longhorn_volume("pvc-2c3d4e5f", "degraded", pvc="cust-globex/data-db-0"),
        # retained after its PVC was deleted: detached, but Longhorn still counts it
        longhorn_volume("pvc-3d4e5f6a", "faulted", "detached", pvc="cust-initech/old-data", pvc_gone=True),
    ]
    services = [
        namespaced(ns, name)
        for ns, name in (
            ("default", "kubernetes"),
            ("kube-system", "kube-dns"),
            ("cust-acme", "web"),
            ("cust-globex", "db"),
            ("cust-globex", "db-headless"),
            ("cust-initech", "api"),
        )
    ]
    secrets = [
        namespaced(ns, f"{ns}-token", type="Opaque", data={"token": "c2VjcmV0"}) for ns in ("kube-system", *CUSTOMERS)
    ]
    configmaps = [
        namespaced(ns, "kube-root-ca.crt", data={"ca.crt": "-----BEGIN CERTIFICATE-----"})
        for ns in ("default", "kube-system", *CUSTOMERS)
    ]
    return FakeCluster(
        collections={
            "/api/v1/nodes": nodes,
            "/api/v1/namespaces": namespaces,
            "/api/v1/pods": pods,
            "/api/v1/services": services,
            "/api/v1/endpoints": [namespaced(s["metadata"]["namespace"], s["metadata"]["name"]) for s in services],
            "/api/v1/secrets": secrets,
            "/api/v1/configmaps": configmaps,
            "/api/v1/persistentvolumeclaims": pvcs,
            "/apis/apps/v1/deployments": deployments,
            "/apis/apps/v1/statefulsets": statefulsets,
            "/apis/apps/v1/replicasets": [
                namespaced(d["metadata"]["namespace"], d["metadata"]["name"] + "-7d9f8b6c4") for d in deployments
            ],
            "/apis/networking.k8s.io/v1/ingresses": [namespaced("cust-acme", "web"), namespaced("cust-initech", "api")],
            "/apis/storage.k8s.io/v1/storageclasses": [
                storage_class("longhorn", "driver.longhorn.io", default=True),
                storage_class("local-path", "rancher.io/local-path"),
            ],
            "/apis/longhorn.io/v1beta2/volumes": volumes,
            "/api/v1/resourcequotas": [resource_quota(ns, 1) for ns in CUSTOMERS],
            **_k3s_longhorn_counted_kinds(nodes, namespaces, services, volumes),
        }
    )


def _k3s_longhorn_counted_kinds(nodes, namespaces, services, volumes) -> dict[str, list[dict[str, Any]]]:
    """The rest of the kinds the etcd count covers, as k3s and Longhorn make them for ``k3s_longhorn_fleet``."""
    node_names = [n["metadata"]["name"] for n in nodes]
    run_nodes = [name for name in node_names if name.startswith("run-")]
    attached = [v for v in volumes if v["status"]["state"] == "attached"]
    base = "/apis/longhorn.io/v1beta2/"
    kinds: dict[str, list[dict[str, Any]]] = {
        "/api/v1/serviceaccounts": [namespaced(n["metadata"]["name"], "default") for n in namespaces]
        + [
            namespaced("kube-system", name)
            for name in ("coredns", "local-path-provisioner-service-account", "metrics-server", "helm-traefik")
        ]
        + [namespaced("longhorn-system", "longhorn-service-account")],
        "/api/v1/events": [
            event("cust-acme", "web-7d9f8b6c4-x2k9p", "Pulled"),
            event("cust-acme", "web-7d9f8b6c4-x2k9p", "Started"),
            event("cust-initech", "web-7c6d5f8b9-pq9zr", "FailedScheduling"),
        ],
        "/api/v1/persistentvolumes": [
            persistent_volume(
                v["metadata"]["name"],
                v["status"]["kubernetesStatus"]["namespace"] + "/" + v["status"]["kubernetesStatus"]["pvcName"],
                "longhorn",
                v["status"]["kubernetesStatus"]["pvStatus"],
            )
            for v in volumes
        ]
        + [persistent_volume("pvc-9e8d7c6b", "cust-initech/scratch", "local-path")],
        "/apis/discovery.k8s.io/v1/endpointslices": [
            namespaced(s["metadata"]["namespace"], s["metadata"]["name"] + "-x7k2q") for s in services
        ],
        "/apis/apps/v1/daemonsets": [
            namespaced("kube-system", "svclb-traefik-3a1b7c2d"),
            namespaced("longhorn-system", "longhorn-manager"),
            namespaced("longhorn-system", "longhorn-csi-plugin"),
            namespaced("longhorn-system", "engine-image-ei-db6c2b6f"),
        ],
        "/apis/batch/v1/jobs": [
            namespaced("kube-system", "helm-install-traefik-crd"),
            namespaced("kube-system", "helm-install-traefik"),
            namespaced("cust-initech", "cron-28470120"),
        ],
        "/apis/coordination.k8s.io/v1/leases": [lease(name) for name in node_names]
        + [namespaced("kube-system", name) for name in ("kube-controller-manager", "kube-scheduler", "k3s")],
        "/apis/storage.k8s.io/v1/csinodes": [csi_node(name) for name in node_names],
        "/apis/storage.k8s.io/v1/volumeattachments": [
            volume_attachment(v["metadata"]["name"], v["status"]["currentNodeID"]) for v in attached
        ],
        base + "nodes": [longhorn_object("Node", name) for name in run_nodes],
        base + "instancemanagers": [
            longhorn_object("InstanceManager", f"instance-manager-{name}") for name in run_nodes
        ],
        base + "engineimages": [longhorn_object("EngineImage", "ei-db6c2b6f")],
        base + "settings": [
            longhorn_object("Setting", name)
            for name in ("default-replica-count", "storage-minimal-available-percentage")
        ],
    }
    for v in volumes:
        replicas = v["spec"]["numberOfReplicas"]
        node_name = v["status"]["currentNodeID"] or run_nodes[0]
        kinds = collections_extended(kinds, longhorn_volume_objects(v["metadata"]["name"], node_name, replicas))
    return kinds  # fmt: skip


GENERATED_POD_MEMORY = ("256Mi", "512Mi", "1G", "2Gi", "134217728", None)


def generated_pod_memory(index: int) -> int:
    """The bytes ``generated_fleet``'s pod ``index`` requests."""
    from placement.units import to_bytes

    quantity = GENERATED_POD_MEMORY[index % len(GENERATED_POD_MEMORY)]
    return 0 if quantity is None else to_bytes(quantity)


def generated_fleet(run_nodes: int, pods: int, *, customers: int = 100, ceph: bool = False) -> FakeCluster:
    """A large cluster made on demand: ``run_nodes`` run nodes (plus one control-plane node) and ``pods`` pods.

    Pod ``i`` runs on run node ``i % run_nodes`` in customer namespace ``i % customers``; every 20th pod has
    Succeeded.
    """

    def make_node(i: int) -> dict[str, Any]:
        if i == run_nodes:
            return node("k3s-ctrl-1", pool=None, control_plane=True, instance_type="cx52", memory="32603280Ki")
        return node(f"run-{i:05d}")

    def make_pod(i: int) -> dict[str, Any]:
        memory = GENERATED_POD_MEMORY[i % len(GENERATED_POD_MEMORY)]
        return pod(
            f"cust-{i % customers:04d}",
            f"svc-{i:06d}-7d9f8b6c4-x2k9p",
            f"run-{i % run_nodes:05d}",
            [container("app", memory)],
            phase="Succeeded" if i % 20 == 19 else "Running",
        )

    sc_name, provisioner = ("ceph-block", "rook-ceph.rbd.csi.ceph.com") if ceph else ("longhorn", "driver.longhorn.io")
    collections: dict[str, Any] = {
        "/api/v1/nodes": Generated(run_nodes + 1, make_node),
        "/api/v1/namespaces": Generated(
            customers + 4,
            lambda i: namespace(
                ("default", "kube-system", "kube-public", "kube-node-lease")[i] if i < 4 else f"cust-{i - 4:04d}"
            ),
        ),
        "/api/v1/pods": Generated(pods, make_pod),
        "/apis/apps/v1/deployments": Generated(pods // 2, lambda i: namespaced(f"cust-{i % customers:04d}", f"d{i}")),
        "/apis/apps/v1/statefulsets": Generated(customers, lambda i: namespaced(f"cust-{i:04d}", "db")),
        "/api/v1/persistentvolumeclaims": Generated(
            pods // 4, lambda i: pvc(f"cust-{i % customers:04d}", f"v{i}", sc_name)
        ),
        "/apis/storage.k8s.io/v1/storageclasses": [storage_class(sc_name, provisioner, default=True)],
        "/api/v1/resourcequotas": Generated(customers, lambda i: resource_quota(f"cust-{i:04d}", 3)),
    }
    for path, count in (
        ("/api/v1/services", pods // 2),
        ("/api/v1/endpoints", pods // 2),
        ("/api/v1/secrets", customers * 3),
        ("/api/v1/configmaps", customers * 2),
        ("/apis/apps/v1/replicasets", pods),
        ("/apis/networking.k8s.io/v1/ingresses", pods // 4),
    ):
        collections[path] = Generated(count, lambda i: namespaced(f"cust-{i % customers:04d}", f"o{i}"))
    node_name = lambda i: "k3s-ctrl-1" if i == run_nodes else f"run-{i:05d}"  # noqa: E731
    for path, count, make in (
        ("/api/v1/serviceaccounts", customers + 4, lambda i: namespaced(f"cust-{i % customers:04d}", "default")),
        ("/api/v1/events", pods // 2, lambda i: event(f"cust-{i % customers:04d}", f"svc-{i:06d}", "Started")),
        ("/api/v1/persistentvolumes", pods // 4, lambda i: persistent_volume(f"pvc-{i:08d}", None, sc_name)),
        ("/apis/discovery.k8s.io/v1/endpointslices", pods // 2,
         lambda i: namespaced(f"cust-{i % customers:04d}", f"o{i}-x7k2q")),
        ("/apis/apps/v1/daemonsets", 3, lambda i: namespaced("kube-system", f"ds{i}")),
        ("/apis/batch/v1/jobs", 2, lambda i: namespaced("kube-system", f"helm-install-{i}")),
        ("/apis/coordination.k8s.io/v1/leases", run_nodes + 1, lambda i: lease(node_name(i))),
        ("/apis/storage.k8s.io/v1/csinodes", run_nodes + 1, lambda i: csi_node(node_name(i))),
        ("/apis/storage.k8s.io/v1/volumeattachments", pods // 4,
         lambda i: volume_attachment(f"pvc-{i:08d}", f"run-{i % run_nodes:05d}")),
    ):  # fmt: skip
        collections[path] = Generated(count, make)
    if ceph:
        ceph_base = "/apis/ceph.rook.io/v1/"
        collections[ceph_base + "cephclusters"] = [namespaced("rook-ceph", "rook-ceph")]
        collections[ceph_base + "cephblockpools"] = [namespaced("rook-ceph", "replicapool")]
    else:
        robustness = ("healthy", "healthy", "healthy", "degraded")
        base = "/apis/longhorn.io/v1beta2/"
        collections[base + "volumes"] = Generated(
            pods // 4,
            lambda i: longhorn_volume(f"pvc-{i:08d}", robustness[i % 4], pvc=f"cust-{i % customers:04d}/v{i}"),
        )
        collections[base + "engines"] = Generated(pods // 4, lambda i: longhorn_object("Engine", f"pvc-{i:08d}-e-0"))
        collections[base + "replicas"] = Generated(pods // 2, lambda i: longhorn_object("Replica", f"pvc-r-{i:08d}"))
        collections[base + "volumeattachments"] = Generated(
            pods // 4, lambda i: longhorn_object("VolumeAttachment", f"pvc-{i:08d}")
        )
        collections[base + "nodes"] = Generated(run_nodes, lambda i: longhorn_object("Node", f"run-{i:05d}"))
        collections[base + "instancemanagers"] = Generated(
            run_nodes, lambda i: longhorn_object("InstanceManager", f"instance-manager-{i:05d}")
        )
        collections[base + "engineimages"] = [longhorn_object("EngineImage", "ei-db6c2b6f")]
        collections[base + "settings"] = [longhorn_object("Setting", "default-replica-count")]
    return FakeCluster(collections=collections)
