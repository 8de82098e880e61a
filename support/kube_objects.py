"""Kubernetes objects shaped like those a k3s cluster on Hetzner returns (trimmed of managedFields).

Whole clusters made of them are in ``support.kube_fleets``.
"""

from __future__ import annotations

import zlib
from typing import Any

from support.kube_apiserver import FakeCluster

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
