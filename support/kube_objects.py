"""Kubernetes objects shaped like those a k3s cluster on Hetzner returns (trimmed of managedFields).

``k3s_longhorn_fleet()`` is a small recorded-style cluster; ``generated_fleet(nodes, pods)`` makes a large one
on the fly for paging tests and the benchmark.
"""

from __future__ import annotations

import zlib
from typing import Any

from support.kube_apiserver import FakeCluster, Generated

CREATED = "2026-03-02T09:14:51Z"


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"6f1c2a4e-{zlib.crc32(f'{namespace}/{name}'.encode()):012d}",
        "resourceVersion": "948102",
        "creationTimestamp": CREATED,
    }
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def node(
    name: str,
    *,
    pool: str | None = "run",
    control_plane: bool = False,
    instance_type: str | None = "ccx63",
    memory: str = "263856540Ki",
    pods: str = "110",
    ready: bool = True,
    unschedulable: bool = False,
    taints: list[dict[str, str]] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    if labels is None:
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "topology.kubernetes.io/region": "fsn1",
            "topology.kubernetes.io/zone": "fsn1-dc14",
            "csi.hetzner.cloud/location": "fsn1",
        }
        if instance_type:
            labels["node.kubernetes.io/instance-type"] = instance_type
            labels["beta.kubernetes.io/instance-type"] = instance_type
        if pool:
            labels["pool"] = pool
        if control_plane:
            # k3s labels its servers so; with embedded etcd, as etcd members too
            labels.update(
                {
                    "node-role.kubernetes.io/control-plane": "true",
                    "node-role.kubernetes.io/master": "true",
                    "node-role.kubernetes.io/etcd": "true",
                    "k3s.io/hostname": name,
                    "k3s.io/internal-ip": "10.0.0.2",
                }
            )
    spec: dict[str, Any] = {
        "podCIDR": "10.42.3.0/24",
        "podCIDRs": ["10.42.3.0/24"],
        "providerID": f"hcloud://{zlib.crc32(name.encode()) % 10**8}",
    }
    if unschedulable:
        spec["unschedulable"] = True
    if taints:
        spec["taints"] = taints
    annotations = {
        "k3s.io/node-args": '["server","--cluster-init"]' if control_plane else '["agent"]',
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
    }
    if control_plane:
        annotations["etcd.k3s.cattle.io/node-name"] = f"{name}-3f6b2c1d"
        annotations["etcd.k3s.cattle.io/node-address"] = "10.0.0.2"
    meta = _meta(name, annotations=annotations)
    if labels:
        meta["labels"] = labels
    return {
        "metadata": meta,
        "spec": spec,
        "status": {
            "capacity": {
                "cpu": "48",
                "ephemeral-storage": "937513336Ki",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": "263958940Ki",
                "pods": pods,
            },
            "allocatable": {
                "cpu": "48",
                "ephemeral-storage": "912014122803",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": memory,
                "pods": pods,
            },
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
                {
                    "type": "Ready",
                    "status": "True" if ready else "Unknown",
                    "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                    "message": "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
                },
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.1.12"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "kubeletVersion": "v1.31.6+k3s1",
                "containerRuntimeVersion": "containerd://2.0.2-k3s2",
                "osImage": "Ubuntu 24.04.1 LTS",
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
        },
    }


def container(name: str, memory: str | int | None, *, restart_policy: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "image": f"10.0.1.4:5000/{name}:2026.03.1",
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
    }
    if memory is not None:
        out["resources"] = {"requests": {"cpu": "100m", "memory": memory}, "limits": {"memory": memory}}
    if restart_policy:
        out["restartPolicy"] = restart_policy
    return out


def container_status(
    name: str, *, allocated: str | None = None, actual: str | None = None, with_resources: bool = True
) -> dict[str, Any]:
    """A running container's status as the kubelet reports it with in-place resize (1.33+).

    ``allocated`` is ``allocatedResources.memory``; ``actual`` the applied ``resources.requests.memory``;
    ``with_resources=False`` leaves ``resources`` out, as for a container the runtime has not reported yet.
    """
    out: dict[str, Any] = {
        "name": name,
        "state": {"running": {"startedAt": CREATED}},
        "ready": True,
        "restartCount": 0,
        "image": f"10.0.1.4:5000/{name}:2026.03.1",
        "imageID": f"10.0.1.4:5000/{name}@sha256:{zlib.crc32(name.encode()):064d}",
        "containerID": f"containerd://{zlib.crc32(name.encode()):064x}",
        "started": True,
    }
    if allocated is not None:
        out["allocatedResources"] = {"cpu": "100m", "memory": allocated}
    if with_resources:
        out["resources"] = {"requests": {"cpu": "100m"}, "limits": {}}
        if actual is not None:
            out["resources"] = {"requests": {"cpu": "100m", "memory": actual}, "limits": {"memory": actual}}
    return out


def pod(
    namespace: str,
    name: str,
    node_name: str | None,
    containers: list[dict[str, Any]],
    *,
    init: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    overhead: str | None = None,
    statuses: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": containers,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
    }
    if node_name:
        spec["nodeName"] = node_name
    if init:
        spec["initContainers"] = init
    if overhead:
        spec["overhead"] = {"memory": overhead}
    status: dict[str, Any] = {"phase": phase, "qosClass": "Burstable"}
    if node_name:
        status["hostIP"] = "10.0.1.12"
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if conditions is not None:
        status["conditions"] = conditions
    return {"metadata": _meta(name, namespace, labels={"app": name.rsplit("-", 2)[0]}), "spec": spec, "status": status}


def namespaced(namespace: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"metadata": _meta(name, namespace), **fields}


def namespace(name: str) -> dict[str, Any]:
    return {
        "metadata": _meta(name, labels={"kubernetes.io/metadata.name": name}),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def pvc(namespace: str, name: str, storage_class: str | None, size: str = "10Gi") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
        "volumeMode": "Filesystem",
        "volumeName": f"pvc-{zlib.crc32(name.encode()) % 10**8:08d}",
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {
        "metadata": _meta(name, namespace),
        "spec": spec,
        "status": {"phase": "Bound", "capacity": {"storage": size}},
    }


def storage_class(name: str, provisioner: str, default: bool = False) -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "metadata": _meta(name, annotations=annotations),
        "provisioner": provisioner,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }


def longhorn_volume(
    name: str, robustness: str, state: str = "attached", *, pvc: str | None = None, pvc_gone: bool = False
) -> dict[str, Any]:
    """A Longhorn volume; ``pvc`` ("namespace/name") is the claim its PV is bound to.

    ``pvc_gone``: the PVC was deleted and the retained volume kept (Longhorn's PV controller stamps
    ``lastPVCRefAt`` and the PV is Released); with no ``pvc`` the volume has no PV at all (made in Longhorn's UI).
    """
    kubernetes_status: dict[str, Any] = {
        "pvName": "",
        "pvStatus": "",
        "namespace": "",
        "pvcName": "",
        "lastPVCRefAt": "",
        "lastPodRefAt": "",
        "workloadsStatus": None,
    }
    if pvc is not None:
        namespace, claim = pvc.split("/")
        kubernetes_status.update(pvName=name, pvStatus="Bound", namespace=namespace, pvcName=claim)
        if pvc_gone:
            kubernetes_status.update(pvStatus="Released", lastPVCRefAt="2026-11-02T17:41:09Z")
    return {
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Volume",
        "metadata": _meta(name, "longhorn-system"),
        "spec": {"numberOfReplicas": 2, "size": "10737418240", "frontend": "blockdev", "dataEngine": "v1"},
        "status": {
            "state": state,
            "robustness": robustness,
            "currentNodeID": "run-1" if state == "attached" else "",
            "kubernetesStatus": kubernetes_status,
        },
    }


def resource_quota(namespace: str, secrets: int | None, name: str = "customer-quota") -> dict[str, Any]:
    """A customer namespace's ResourceQuota; with ``secrets``, it counts them (``count/secrets``)."""
    hard = {"requests.memory": "16Gi", "limits.memory": "32Gi", "count/persistentvolumeclaims": "5"}
    used = {"requests.memory": "3Gi", "limits.memory": "3Gi", "count/persistentvolumeclaims": "1"}
    if secrets is not None:
        hard["count/secrets"] = "100"
        used["count/secrets"] = str(secrets)
    return {"metadata": _meta(name, namespace), "spec": {"hard": hard}, "status": {"hard": hard, "used": used}}


def lease(node_name: str) -> dict[str, Any]:
    """A node's heartbeat Lease, which the kubelet renews in kube-node-lease."""
    return {
        "metadata": _meta(node_name, "kube-node-lease"),
        "spec": {"holderIdentity": node_name, "leaseDurationSeconds": 40, "renewTime": "2026-11-28T05:59:51.000000Z"},
    }


def csi_node(node_name: str, drivers: tuple[str, ...] = ("driver.longhorn.io",)) -> dict[str, Any]:
    """The kubelet's CSINode: the CSI drivers registered on the node."""
    return {
        "metadata": _meta(node_name),
        "spec": {"drivers": [{"name": d, "nodeID": node_name, "topologyKeys": None} for d in drivers]},
    }


def volume_attachment(volume: str, node_name: str, attacher: str = "driver.longhorn.io") -> dict[str, Any]:
    """The CSI attacher's VolumeAttachment of a volume's PV to a node (storage.k8s.io)."""
    name = f"csi-{zlib.crc32(f'{volume}/{node_name}'.encode()):08x}{'0' * 56}"
    return {
        "metadata": _meta(name),
        "spec": {"attacher": attacher, "nodeName": node_name, "source": {"persistentVolumeName": volume}},
        "status": {"attached": True},
    }


def persistent_volume(name: str, claim: str | None, storage_class: str, phase: str = "Bound") -> dict[str, Any]:
    """A PV; ``claim`` ("namespace/name") is the PVC it is bound to."""
    spec: dict[str, Any] = {"capacity": {"storage": "10Gi"}, "storageClassName": storage_class}
    if claim is not None:
        namespace_name, claim_name = claim.split("/")
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": namespace_name, "name": claim_name}
    return {"metadata": _meta(name), "spec": spec, "status": {"phase": phase}}


def event(namespace_name: str, involved: str, reason: str) -> dict[str, Any]:
    """An Event about a pod (they expire after kube-apiserver's --event-ttl)."""
    return {
        "metadata": _meta(f"{involved}.{zlib.crc32(reason.encode()):016x}", namespace_name),
        "involvedObject": {"kind": "Pod", "namespace": namespace_name, "name": involved},
        "reason": reason,
        "type": "Normal",
        "count": 1,
    }


def longhorn_object(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    """A Longhorn custom resource (Engine, Replica, Node, InstanceManager, ...) in longhorn-system."""
    return {"apiVersion": "longhorn.io/v1beta2", "kind": kind, "metadata": _meta(name, "longhorn-system"), "spec": spec}


def longhorn_volume_objects(volume: str, node_name: str, replicas: int) -> dict[str, list[dict[str, Any]]]:
    """What Longhorn keeps for one volume besides its Volume: an Engine, a Replica per replica and its own
    VolumeAttachment, by the collection path they are listed at."""
    base = "/apis/longhorn.io/v1beta2/"
    return {
        base + "engines": [longhorn_object("Engine", f"{volume}-e-0", volumeName=volume, nodeID=node_name)],
        base + "replicas": [
            longhorn_object("Replica", f"{volume}-r-{i:08x}", volumeName=volume) for i in range(replicas)
        ],
        base + "volumeattachments": [longhorn_object("VolumeAttachment", volume, volume=volume)],
    }


def collections_extended(collections: dict[str, Any], more: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """``collections`` with ``more`` objects appended at their paths."""
    merged = {path: list(items) for path, items in collections.items()}
    for path, items in more.items():
        merged.setdefault(path, []).extend(items)
    return merged


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


def k3s_server(name: str, instance_type: str | None, **options: Any) -> dict[str, Any]:
    """A k3s server node: control plane and embedded etcd member, tainted against workloads.

    Without a cloud controller k3s labels it ``instance-type=k3s`` itself; Hetzner's cloud controller writes the
    server type (``cx52``).
    """
    return node(
        name,
        pool=None,
        control_plane=True,
        instance_type=instance_type,
        memory="32603280Ki",
        taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        **options,
    )


def with_control_plane(cluster: FakeCluster, *servers: dict[str, Any]) -> FakeCluster:
    """``cluster`` with its control-plane nodes replaced by ``servers``."""
    nodes = [n for n in cluster.collections["/api/v1/nodes"] if "pool" in (n["metadata"].get("labels") or {})]
    cluster.collections["/api/v1/nodes"] = [*servers, *nodes]
    return cluster


def longhorn_node_with_disks(name: str, disks: dict[str, tuple[int, int, int, int]]) -> dict[str, Any]:
    """A Longhorn 1.7 ``nodes.longhorn.io`` object as the manager writes it: per disk (maximum, available,
    scheduled, reserved) bytes in ``status.diskStatus`` and ``spec.disks``."""
    spec_disks = {
        disk: {
            "allowScheduling": True,
            "diskType": "filesystem",
            "evictionRequested": False,
            "path": f"/var/lib/longhorn-{disk}/",
            "storageReserved": reserved,
            "tags": [],
        }
        for disk, (_, _, _, reserved) in disks.items()
    }
    status_disks = {
        disk: {
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Schedulable", "status": "True"}],
            "diskName": disk,
            "diskType": "filesystem",
            "diskUUID": f"{name}-{disk}-3c1d",
            "filesystemType": "ext2/ext3",
            "scheduledReplica": {},
            "storageAvailable": available,
            "storageMaximum": maximum,
            "storageScheduled": scheduled,
        }
        for disk, (maximum, available, scheduled, _) in disks.items()
    }
    node = longhorn_object("Node", name)
    node["spec"] = {"allowScheduling": True, "disks": spec_disks, "evictionRequested": False, "tags": []}
    node["status"] = {"conditions": [{"type": "Ready", "status": "True"}], "diskStatus": status_disks, "region": ""}
    return node


def ceph_cluster(total: int | None, available: int = 0, used: int = 0) -> dict[str, Any]:
    """A Rook ``cephclusters.ceph.rook.io`` object; with ``total``, the capacity Rook copied from ``ceph df``."""
    cluster = namespaced("rook-ceph", "rook-ceph")
    ceph: dict[str, Any] = {"health": "HEALTH_OK", "lastChecked": "2026-11-30T09:12:44Z", "fsid": "a1b2c3d4"}
    if total is not None:
        ceph["capacity"] = {
            "bytesAvailable": available,
            "bytesTotal": total,
            "bytesUsed": used,
            "lastUpdated": "2026-11-30T09:12:44Z",
        }
    cluster["status"] = {"ceph": ceph, "phase": "Ready", "state": "Created", "version": {"version": "19.2.2-0"}}
    return cluster
