"""From what the API server lists to one load snapshot (``placement.model.ClusterLoad``).

Every list is folded page by page into a small accumulator (per run node, per storage class, per
robustness), so a collection's memory grows with the number of nodes and namespaces, not with pods.

What the snapshot's counters mean:

* ``pods``: pods that are not Succeeded or Failed, on any node or still pending.
* ``customers``: customer namespaces, i.e. every namespace except the platform's own (``SYSTEM_NAMESPACES``
  plus any given with ``--system-namespace``).
* ``services``: Deployments plus StatefulSets in customer namespaces. A customer's service is one workload
  controller; counting Services (the Kubernetes kind) would also count headless and per-port Services.
* ``volumes``: what the storage provider's volume limit counts (``providers``): Longhorn volumes (the
  ``volumes.longhorn.io`` objects, PVC or not) on Longhorn clusters, PVCs on the Ceph RBD classes on Rook-Ceph ones.
* ``etcd_objects``: the sum of the objects of the kinds in ``resources.ETCD_COUNTED`` and of the storage
  provider's ``counted_crds`` (the kinds the limits profile's etcd figures count, so the two agree). Secrets are
  counted from a metadata-only list (``secrets="list"``), or without reading them at all from what ResourceQuotas with
  ``count/secrets`` say is used (``secrets="quota"``); namespaces without such a quota are then missing from the
  count, and a warning says how many.
* ``ctrl_node_type``: the smallest control-plane member's type in the limits profile (``controlplane``).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from placement.collector import controlplane
from placement.collector import resources as r
from placement.collector.disk import StorageDisk, load_disk, read_disk
from placement.collector.errors import CollectError, MissingResource
from placement.collector.podrequests import pod_memory_request
from placement.collector.providers import StorageProviderVolumes, providers_of, volumes_against_limit
from placement.collector.source import KubernetesSource
from placement.limits import Limits
from placement.model import ClusterLoad, RunNode
from placement.state import ClusterLoadIn
from placement.units import to_bytes, to_count

RUN_POOL_LABEL = ("pool", "run")
TERMINATED_PHASES = frozenset({"Succeeded", "Failed"})
BLOCKING_TAINT_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
_PLATFORM_NAMESPACES = (
    "default kube-system kube-public kube-node-lease longhorn-system rook-ceph cert-manager ingress-nginx traefik "
    "metallb-system monitoring cattle-system system-upgrade capplan-system"
)
SYSTEM_NAMESPACES = frozenset(_PLATFORM_NAMESPACES.split())
LONGHORN_ROBUSTNESS = ("healthy", "degraded", "faulted", "unknown")
SECRET_QUOTA_KEYS = ("count/secrets", "secrets")  # the object-count quota, in its current and its legacy name
NO_STORAGE_CLASS = ""  # PVCs that name no class (the default class, or pre-bound PVs)


class Inventory(BaseModel):
    """What the collector saw beyond the load snapshot: for operators, dashboards and debugging."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: int
    run_nodes: int
    run_nodes_not_ready: list[str]
    run_nodes_unschedulable: list[str]
    control_plane_node: str | None = Field(description="the control-plane member whose type the objects are held to")
    control_plane_nodes: dict[str, str] = Field(
        default_factory=dict, description="every control-plane or etcd member and the type it counts as"
    )
    storage_provider: str | None
    volume_storage_classes: list[str]
    volumes_counted_as: str | None = Field(default=None, description="what the snapshot's volumes count")
    volume_pvcs: int = Field(default=0, description="PVCs on the provider's storage classes")
    volume_objects: int | None = Field(default=None, description="objects of the provider's volume CRD, if it has one")
    pvcs_by_storage_class: dict[str, int]
    longhorn_volumes_by_robustness: dict[str, int] | None
    longhorn_volumes_without_pvc: int | None = Field(
        default=None, description="Longhorn volumes whose PVC is gone or that never had one; they still count"
    )
    pods_terminated: int
    pods_pending_unscheduled: int
    object_counts: dict[str, int]
    secrets_counted_by: str = Field(default="metadata-only list", description="how object_counts.secrets was made")
    namespaces_without_secret_quota: int | None = Field(
        default=None, description="with --secrets quota: namespaces whose secrets no ResourceQuota counts"
    )
    requests: int = Field(description="HTTP requests the collection made")
    list_restarts: int = Field(description="lists restarted after an expired continue token (410)")
    retries: int = Field(default=0, description="requests retried after 429/5xx with Retry-After")
    retry_wait_seconds: float = Field(default=0.0, description="seconds spent waiting as Retry-After asked")
    storage_disk: StorageDisk | None = Field(default=None, description="the provider's raw disk, where it reports it")
    warnings: list[str] = Field(default_factory=list)


class Snapshot(BaseModel):
    """One collection: the load snapshot the router stores, plus the inventory behind it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_id: str
    load: ClusterLoadIn
    inventory: Inventory

    def to_model(self) -> ClusterLoad:
        return self.load.to_model()


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
        self.control_plane: dict[str, str | None] = {}  # member node -> its instance-type label

    def add(self, node: dict[str, Any]) -> None:
        self.total += 1
        meta = node.get("metadata") or {}
        name = str(meta.get("name") or "")
        labels = meta.get("labels") or {}
        if any(label in labels for label in controlplane.MEMBER_LABELS):
            label = next((labels[k] for k in controlplane.INSTANCE_TYPE_LABELS if labels.get(k)), None)
            self.control_plane[name] = str(label) if label is not None else None
        if labels.get(RUN_POOL_LABEL[0]) != RUN_POOL_LABEL[1]:
            return
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        try:
            memory = to_bytes(allocatable.get("memory", 0))
            pods = allocatable.get("pods")
            max_pods = to_count(pods) if pods is not None else None
        except (ValueError, TypeError, ArithmeticError) as exc:
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
        self.names: set[str] = set()
        self.customers: set[str] = set()

    def add(self, namespace: dict[str, Any]) -> None:
        self.total += 1
        name = str((namespace.get("metadata") or {}).get("name") or "")
        self.names.add(name)
        if name not in self.system:
            self.customers.add(name)


class _SecretQuotas:
    """Secrets per namespace as the ResourceQuota controller counts them (``status.used``), for ``--secrets quota``.

    Every quota of a namespace that tracks the count sees the same number, so a namespace takes its largest.
    """

    def __init__(self) -> None:
        self.by_namespace: dict[str, int] = {}

    def add(self, quota: dict[str, Any]) -> None:
        namespace = str((quota.get("metadata") or {}).get("namespace") or "")
        used = (quota.get("status") or {}).get("used") or {}
        key = next((k for k in SECRET_QUOTA_KEYS if k in used), None)
        if key is not None:
            count = to_count(used[key])
            self.by_namespace[namespace] = max(count, self.by_namespace.get(namespace, 0))


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
        name = str((storage_class.get("metadata") or {}).get("name") or "")
        self.provisioners[name] = str(storage_class.get("provisioner") or "")

    def for_provider(self, provider: StorageProviderVolumes) -> list[str]:
        return sorted(name for name, provisioner in self.provisioners.items() if provider.provides(provisioner))

    def detect(self, providers: dict[str, StorageProviderVolumes]) -> StorageProviderVolumes | None:
        """The first provider (in the profile's order) that has a storage class."""
        return next((p for p in providers.values() if self.for_provider(p)), None)


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
        self.by_class[str(name)] += 1


class _VolumeObjects:
    """A provider's volume objects: all of them, by Longhorn robustness, and those without a bound PVC.

    Longhorn's ``status.kubernetesStatus`` names the PVC and, once the PVC is unbound or deleted, stamps
    ``lastPVCRefAt`` (its kubernetes_pv_controller); a volume with neither a PVC nor a PV has no ``pvcName``.
    """

    def __init__(self) -> None:
        self.total = 0
        self.robustness: Counter[str] = Counter({state: 0 for state in LONGHORN_ROBUSTNESS})
        self.without_pvc = 0

    def add(self, volume: dict[str, Any]) -> None:
        self.total += 1
        status = volume.get("status") or {}
        robustness = str(status.get("robustness") or "unknown").lower()
        self.robustness[robustness if robustness in LONGHORN_ROBUSTNESS else "unknown"] += 1
        kubernetes_status = status.get("kubernetesStatus") or {}
        if not kubernetes_status.get("pvcName") or kubernetes_status.get("lastPVCRefAt"):
            self.without_pvc += 1


def default_limits(profile: str | None = None) -> Limits:
    """The limits profile named (seed, published or a path), or the default policy's profile, compiled."""
    from placement.policy import load_policy

    return load_policy(None, profile).limits


def collect_snapshot(
    source: KubernetesSource,
    cluster_id: str,
    *,
    limits: Limits | None = None,
    storage_provider: str | None = None,
    ctrl_node_type: str | None = None,
    system_namespaces: frozenset[str] = SYSTEM_NAMESPACES,
    secrets: r.SecretsCount = "list",
    now: datetime | None = None,
) -> Snapshot:
    """Read the cluster behind ``source`` and build its snapshot, or raise ``CollectError`` having built none.

    ``limits`` gives the control-plane types (default: the default policy's profile). ``storage_provider``
    overrides the provider detected from the storage classes; ``ctrl_node_type`` stands in for control-plane
    members whose instance-type label names no type of the profile. ``secrets`` says how secrets are counted: a
    metadata-only list, or ResourceQuotas' ``count/secrets`` (no access to secrets needed). ``now`` stamps
    ``observed_at`` (default: the time the collection started).
    """
    limits = limits or default_limits()
    fallback = None
    if ctrl_node_type is not None:
        fallback = controlplane.known_type(ctrl_node_type, limits)
        if fallback is None:
            raise ValueError(
                f"--ctrl-node-type {ctrl_node_type!r} is not a control-plane type of limits profile {limits.profile} "
                f"({', '.join(sorted(limits.control_plane_types))})"
            )
    providers = providers_of(limits)
    provider = providers.get(storage_provider) if storage_provider else None
    if storage_provider and provider is None:
        raise ValueError(f"--storage-provider {storage_provider!r}: expected one of {', '.join(providers)}")

    observed_at = now or datetime.now(UTC)
    source.start_collection()
    before = (source.requests, source.restarts, source.retries, source.retry_wait)
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
    provider = provider or storage_classes.detect(providers)
    volume_classes = storage_classes.for_provider(provider) if provider else []
    volume_pvcs = sum(claims.by_class.get(name, 0) for name in volume_classes)
    volume_objects = (
        source.fold(provider.volume_crd, _VolumeObjects) if provider and provider.volume_crd is not None else None
    )

    counts = {
        r.NODES.plural: nodes.total,
        r.NAMESPACES.plural: namespaces.total,
        r.PODS.plural: pods.total,
        r.PVCS.plural: claims.total,
        r.DEPLOYMENTS.plural: deployments.total,
        r.STATEFULSETS.plural: statefulsets.total,
    }
    warnings: list[str] = []
    without_secret_quota = None
    if secrets == "quota":
        quotas = source.fold(r.RESOURCE_QUOTAS, _SecretQuotas)
        counts[r.SECRETS.plural] = sum(quotas.by_namespace.values())
        uncounted = sorted(namespaces.names - set(quotas.by_namespace))
        without_secret_quota = len(uncounted)
        if uncounted:
            shown = ", ".join(uncounted[:5]) + (", ..." if len(uncounted) > 5 else "")
            warnings.append(
                f"{len(uncounted)} of {namespaces.total} namespaces have no ResourceQuota counting secrets "
                f"({SECRET_QUOTA_KEYS[0]}): {shown}; their secrets are missing from etcd_objects"
            )
    for resource in r.ETCD_COUNTED:
        if resource.plural not in counts:
            counts[resource.plural] = source.count(resource)
    counts = {resource.plural: counts[resource.plural] for resource in r.ETCD_COUNTED}
    for resource in provider.counted_crds if provider else ():
        # The provider's CRs its etcd figures count; a CRD the server does not serve has no objects (warned).
        key = f"{resource.plural}.{resource.group}"
        if volume_objects is not None and resource == provider.volume_crd:
            counts[key] = volume_objects.total
            continue
        try:
            counts[key] = source.count(resource)
        except MissingResource:
            counts[key] = 0
            warnings.append(f"{key} is not served (its CRD is not installed): counted as 0 objects")

    storage_disk = read_disk(source, provider, warnings)
    control_plane = controlplane.resolve(nodes.control_plane, limits, fallback)
    ordered = sorted(run_nodes.values(), key=lambda t: t.name)
    load = ClusterLoad(
        run_nodes=tuple(
            RunNode(t.name, t.allocatable, t.requested, t.pods, t.max_pods, t.schedulable) for t in ordered
        ),
        ctrl_node_type=control_plane.node_type,
        volumes=(
            volumes_against_limit(provider, volume_pvcs, volume_objects.total if volume_objects else None)
            if provider
            else 0
        ),
        services=deployments.in_customer_namespaces + statefulsets.in_customer_namespaces,
        customers=len(customers),
        pods=pods.active,
        etcd_objects=sum(counts.values()),
        observed_at=observed_at,
        **load_disk(storage_disk, limits.storage[provider.name].disk_usable_fraction if provider else 1.0),
    )
    inventory = Inventory(
        nodes=nodes.total,
        run_nodes=len(ordered),
        run_nodes_not_ready=[t.name for t in ordered if not t.ready],
        run_nodes_unschedulable=[t.name for t in ordered if not t.schedulable],
        control_plane_node=control_plane.node,
        control_plane_nodes=control_plane.members,
        storage_provider=provider.name if provider else None,
        volume_storage_classes=volume_classes,
        volumes_counted_as=provider.counted_as if provider else None,
        volume_pvcs=volume_pvcs,
        volume_objects=volume_objects.total if volume_objects else None,
        pvcs_by_storage_class=dict(sorted(claims.by_class.items())),
        longhorn_volumes_by_robustness=dict(volume_objects.robustness) if volume_objects else None,
        longhorn_volumes_without_pvc=volume_objects.without_pvc if volume_objects else None,
        pods_terminated=pods.terminated,
        pods_pending_unscheduled=pods.pending_unscheduled,
        object_counts=counts,
        secrets_counted_by=f"ResourceQuota {SECRET_QUOTA_KEYS[0]}" if secrets == "quota" else "metadata-only list",
        namespaces_without_secret_quota=without_secret_quota,
        storage_disk=storage_disk,
        requests=source.requests - before[0],
        list_restarts=source.restarts - before[1],
        retries=source.retries - before[2],
        retry_wait_seconds=source.retry_wait - before[3],
        warnings=[*control_plane.warnings, *warnings],
    )
    return Snapshot(cluster_id=cluster_id, load=ClusterLoadIn.from_model(load), inventory=inventory)
