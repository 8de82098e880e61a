"""From what the API server lists to one load snapshot (``placement.model.ClusterLoad``).

Every list is folded page by page into a small accumulator (per run node, per storage class, per
robustness), so a collection's memory grows with the number of nodes and namespaces, not with pods.

What the snapshot's counters mean:

* ``pods``: pods that are not Succeeded or Failed, on any node or still pending.
* ``customers``: customer namespaces, i.e. every namespace except the platform's own (``SYSTEM_NAMESPACES``
  plus any given with ``--system-namespace``).
* ``services``: Deployments plus StatefulSets in customer namespaces. A customer's service is one workload
  controller; counting Services (the Kubernetes kind) would also count headless and per-port Services.
* ``volumes``: PVCs whose storage class is the cluster's volume storage class (Longhorn's ``driver.longhorn.io``,
  or Ceph RBD's ``*.rbd.csi.ceph.com``).
* ``etcd_objects``: the sum of the objects counted in ``resources.ETCD_COUNTED``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

from kubernetes.utils import parse_quantity
from pydantic import BaseModel, ConfigDict, Field

from placement.collector import resources as r
from placement.collector.errors import CollectError
from placement.collector.source import KubernetesSource
from placement.model import ClusterLoad, RunNode
from placement.state import ClusterLoadIn
from placement.units import to_bytes

RUN_POOL_LABEL = ("pool", "run")
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
TERMINATED_PHASES = frozenset({"Succeeded", "Failed"})
BLOCKING_TAINT_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
SYSTEM_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "longhorn-system",
        "rook-ceph",
        "cert-manager",
        "ingress-nginx",
        "traefik",
        "metallb-system",
        "monitoring",
        "cattle-system",
        "system-upgrade",
        "capplan-system",
    }
)
LONGHORN_PROVISIONER = "driver.longhorn.io"
CEPH_RBD_PROVISIONER_SUFFIX = ".rbd.csi.ceph.com"
LONGHORN_ROBUSTNESS = ("healthy", "degraded", "faulted", "unknown")
NO_STORAGE_CLASS = ""  # PVCs that name no class (the default class, or pre-bound PVs)

StorageProvider = Literal["longhorn", "rook-ceph"]


class Inventory(BaseModel):
    """What the collector saw beyond the load snapshot: for operators, dashboards and debugging."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: int
    run_nodes: int
    run_nodes_not_ready: list[str]
    run_nodes_unschedulable: list[str]
    control_plane_node: str | None
    storage_provider: StorageProvider | None
    volume_storage_classes: list[str]
    pvcs_by_storage_class: dict[str, int]
    longhorn_volumes_by_robustness: dict[str, int] | None
    pods_terminated: int
    pods_pending_unscheduled: int
    object_counts: dict[str, int]
    requests: int = Field(description="HTTP requests the collection made")
    list_restarts: int = Field(description="lists restarted after an expired continue token (410)")


class Snapshot(BaseModel):
    """One collection: the load snapshot the router stores, plus the inventory behind it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_id: str
    load: ClusterLoadIn
    inventory: Inventory

    def to_model(self) -> ClusterLoad:
        return self.load.to_model()


def pod_memory_request(pod: dict[str, Any]) -> int:
    """A pod's memory request in bytes, as kube-scheduler's NodeResourcesFit counts it.

    Regular containers add up; a restartable init container (a sidecar, ``restartPolicy: Always``) adds to
    them and to every later init container; the pod needs the larger of that sum and its largest init
    container; pod-level ``spec.resources`` replaces the container sum when set; ``spec.overhead`` is added.
    """
    spec = pod.get("spec") or {}
    total = sum(_memory(c) for c in spec.get("containers") or ())
    sidecars = 0
    init_peak = 0
    for container in spec.get("initContainers") or ():
        need = _memory(container)
        if container.get("restartPolicy") == "Always":
            total += need
            sidecars += need
            need = sidecars
        else:
            need += sidecars
        init_peak = max(init_peak, need)
    total = max(total, init_peak)
    pod_level = ((spec.get("resources") or {}).get("requests") or {}).get("memory")
    if pod_level is not None:
        total = to_bytes(pod_level)
    overhead = (spec.get("overhead") or {}).get("memory")
    if overhead is not None:
        total += to_bytes(overhead)
    return total


def _memory(container: dict[str, Any]) -> int:
    quantity = ((container.get("resources") or {}).get("requests") or {}).get("memory")
    return 0 if quantity is None else to_bytes(quantity)


def node_is_ready(node: dict[str, Any]) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def node_accepts_pods(node: dict[str, Any]) -> bool:
    """Ready, not cordoned, and without a NoSchedule or NoExecute taint."""
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return False
    if any(t.get("effect") in BLOCKING_TAINT_EFFECTS for t in spec.get("taints") or ()):
        return False
    return node_is_ready(node)


class _RunNodeTally:
    __slots__ = ("allocatable", "max_pods", "name", "pods", "ready", "requested", "schedulable")

    def __init__(self, name: str, allocatable: int, max_pods: int | None, ready: bool, schedulable: bool) -> None:
        self.name = name
        self.allocatable = allocatable
        self.max_pods = max_pods
        self.ready = ready
        self.schedulable = schedulable
        self.requested = 0
        self.pods = 0


class _Nodes:
    def __init__(self) -> None:
        self.total = 0
        self.run: dict[str, _RunNodeTally] = {}
        self.control_plane: tuple[str, str | None] | None = None

    def add(self, node: dict[str, Any]) -> None:
        self.total += 1
        meta = node.get("metadata") or {}
        name = meta.get("name") or ""
        labels = meta.get("labels") or {}
        if any(label in labels for label in CONTROL_PLANE_LABELS):
            instance_type = next((labels[k] for k in INSTANCE_TYPE_LABELS if labels.get(k)), None)
            # Prefer a control-plane node that names its type; the first by name otherwise, for determinism.
            if (
                self.control_plane is None
                or (instance_type and not self.control_plane[1])
                or (bool(instance_type) == bool(self.control_plane[1]) and name < self.control_plane[0])
            ):
                self.control_plane = (name, instance_type)
        if labels.get(RUN_POOL_LABEL[0]) != RUN_POOL_LABEL[1]:
            return
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        try:
            memory = to_bytes(allocatable.get("memory", 0))
            pods = allocatable.get("pods")
            max_pods = int(parse_quantity(pods)) if pods is not None else None
        except (ValueError, ArithmeticError) as exc:
            raise CollectError(f"node {name}: bad status.allocatable: {exc}") from exc
        self.run[name] = _RunNodeTally(name, memory, max_pods or None, node_is_ready(node), node_accepts_pods(node))


class _Pods:
    def __init__(self, run_nodes: dict[str, _RunNodeTally]) -> None:
        self.run_nodes = run_nodes
        self.total = 0
        self.active = 0
        self.terminated = 0
        self.pending_unscheduled = 0

    def add(self, pod: dict[str, Any]) -> None:
        self.total += 1
        if (pod.get("status") or {}).get("phase") in TERMINATED_PHASES:
            self.terminated += 1
            return
        self.active += 1
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            self.pending_unscheduled += 1
            return
        tally = self.run_nodes.get(node_name)
        if tally is None:
            return
        try:
            tally.requested += pod_memory_request(pod)
        except ValueError as exc:
            meta = pod.get("metadata") or {}
            raise CollectError(f"pod {meta.get('namespace')}/{meta.get('name')}: bad memory request: {exc}") from exc
        tally.pods += 1


class _Namespaces:
    def __init__(self, system: frozenset[str]) -> None:
        self.system = system
        self.total = 0
        self.customers: set[str] = set()

    def add(self, namespace: dict[str, Any]) -> None:
        self.total += 1
        name = (namespace.get("metadata") or {}).get("name") or ""
        if name not in self.system:
            self.customers.add(name)


class _Workloads:
    """Counts all objects, and those in customer namespaces."""

    def __init__(self, customers: set[str]) -> None:
        self.customers = customers
        self.total = 0
        self.in_customer_namespaces = 0

    def add(self, item: dict[str, Any]) -> None:
        self.total += 1
        if (item.get("metadata") or {}).get("namespace") in self.customers:
            self.in_customer_namespaces += 1


class _StorageClasses:
    def __init__(self) -> None:
        self.provisioners: dict[str, str] = {}

    def add(self, storage_class: dict[str, Any]) -> None:
        self.provisioners[(storage_class.get("metadata") or {}).get("name") or ""] = storage_class.get(
            "provisioner", ""
        )

    def for_provider(self, provider: StorageProvider) -> list[str]:
        return sorted(name for name, prov in self.provisioners.items() if _provides(prov, provider))

    def detect(self) -> StorageProvider | None:
        for provider in ("longhorn", "rook-ceph"):
            if self.for_provider(provider):
                return provider
        return None


def _provides(provisioner: str, provider: StorageProvider) -> bool:
    if provider == "longhorn":
        return provisioner == LONGHORN_PROVISIONER
    return provisioner.endswith(CEPH_RBD_PROVISIONER_SUFFIX)


class _Claims:
    def __init__(self) -> None:
        self.total = 0
        self.by_class: Counter[str] = Counter()

    def add(self, claim: dict[str, Any]) -> None:
        self.total += 1
        spec = claim.get("spec") or {}
        name = spec.get("storageClassName")
        if name is None:
            name = ((claim.get("metadata") or {}).get("annotations") or {}).get(
                "volume.beta.kubernetes.io/storage-class", NO_STORAGE_CLASS
            )
        self.by_class[name] += 1


class _Robustness:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter({state: 0 for state in LONGHORN_ROBUSTNESS})

    def add(self, volume: dict[str, Any]) -> None:
        robustness = str((volume.get("status") or {}).get("robustness") or "unknown").lower()
        self.counts[robustness if robustness in LONGHORN_ROBUSTNESS else "unknown"] += 1


def collect_snapshot(
    source: KubernetesSource,
    cluster_id: str,
    *,
    storage_provider: StorageProvider | None = None,
    ctrl_node_type: str | None = None,
    system_namespaces: frozenset[str] = SYSTEM_NAMESPACES,
    now: datetime | None = None,
) -> Snapshot:
    """Read the cluster behind ``source`` and build its snapshot, or raise ``CollectError`` having built none.

    ``storage_provider`` overrides the provider detected from the storage classes; ``ctrl_node_type`` is used
    when no control-plane node carries an instance-type label. ``now`` stamps ``observed_at`` (default: the
    time the collection started).
    """
    observed_at = now or datetime.now(UTC)
    requests_before, restarts_before = source.requests, source.restarts
    namespaces = source.fold(r.NAMESPACES, lambda: _Namespaces(system_namespaces), metadata_only=True)
    nodes = source.fold(r.NODES, _Nodes)
    run_nodes = nodes.run

    def fresh_pods() -> _Pods:
        for tally in run_nodes.values():
            tally.requested = tally.pods = 0
        return _Pods(run_nodes)

    pods = source.fold(r.PODS, fresh_pods)
    customers = namespaces.customers
    deployments = source.fold(r.DEPLOYMENTS, lambda: _Workloads(customers), metadata_only=True)
    statefulsets = source.fold(r.STATEFULSETS, lambda: _Workloads(customers), metadata_only=True)
    claims = source.fold(r.PVCS, _Claims)
    storage_classes = source.fold(r.STORAGE_CLASSES, _StorageClasses)
    provider = storage_provider or storage_classes.detect()
    volume_classes = storage_classes.for_provider(provider) if provider else []
    robustness = source.fold(r.LONGHORN_VOLUMES, _Robustness) if provider == "longhorn" else None

    counts = {
        r.NAMESPACES.plural: namespaces.total,
        r.PODS.plural: pods.total,
        r.PVCS.plural: claims.total,
        r.DEPLOYMENTS.plural: deployments.total,
        r.STATEFULSETS.plural: statefulsets.total,
    }
    for resource in r.ETCD_COUNTED:
        if resource.plural not in counts:
            counts[resource.plural] = source.count(resource)
    counts = {resource.plural: counts[resource.plural] for resource in r.ETCD_COUNTED}

    control_plane_name, instance_type = nodes.control_plane or (None, None)
    node_type = (instance_type or "").upper() or ctrl_node_type
    if not node_type:
        where = (
            f"control-plane node {control_plane_name}"
            if control_plane_name
            else "no node labelled " + " or ".join(CONTROL_PLANE_LABELS)
        )
        raise CollectError(
            f"control-plane node type unknown: {where} has no {INSTANCE_TYPE_LABELS[0]} label; pass --ctrl-node-type"
        )
    ordered = sorted(run_nodes.values(), key=lambda t: t.name)
    load = ClusterLoad(
        run_nodes=tuple(
            RunNode(t.name, t.allocatable, t.requested, t.pods, t.max_pods, t.schedulable) for t in ordered
        ),
        ctrl_node_type=node_type,
        volumes=sum(claims.by_class.get(name, 0) for name in volume_classes),
        services=deployments.in_customer_namespaces + statefulsets.in_customer_namespaces,
        customers=len(customers),
        pods=pods.active,
        etcd_objects=sum(counts.values()),
        observed_at=observed_at,
    )
    inventory = Inventory(
        nodes=nodes.total,
        run_nodes=len(ordered),
        run_nodes_not_ready=[t.name for t in ordered if not t.ready],
        run_nodes_unschedulable=[t.name for t in ordered if not t.schedulable],
        control_plane_node=control_plane_name,
        storage_provider=provider,
        volume_storage_classes=volume_classes,
        pvcs_by_storage_class=dict(sorted(claims.by_class.items())),
        longhorn_volumes_by_robustness=dict(robustness.counts) if robustness else None,
        pods_terminated=pods.terminated,
        pods_pending_unscheduled=pods.pending_unscheduled,
        object_counts=counts,
        requests=source.requests - requests_before,
        list_restarts=source.restarts - restarts_before,
    )
    return Snapshot(cluster_id=cluster_id, load=ClusterLoadIn.from_model(load), inventory=inventory)
