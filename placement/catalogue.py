"""The limit catalogue: every limit a placement can run into, once, and the rejection record it produces.

A ``Limit`` says how its "used" level is read from a cluster's load, what a placement adds to it (a
``Footprint`` field), how its capacity is read from the limits profile, which engine filter checks it, its
unit and the profile figure it comes from. A filter rejects a cluster when ``used + needed > capacity`` for one
of its limits. The engine's filters, the router's guards and headroom, the operator's triggers, the decision
table and the packing checks all read these entries; none keeps a list of its own.

A rejection is data (kube-scheduler's ``InsufficientResource``): the filter, the limit, used, needed,
capacity and unit. Its text is made only when someone reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from placement.limits import ControlPlaneType, Limits
from placement.model import ClusterLoad, RunNode
from placement.units import human_bytes

# "No capacity binds": a limit a placement does not grow never rejects it.
UNBOUNDED = 2**62


def on_load(expression: str) -> Callable[[ClusterLoad, Limits], int]:
    """A limit's level as source over ``load`` and ``limits``, made into its ``level`` function, the source kept on
    it (``source``): ``placement.rules.levels`` writes every level inline from it, a call less per limit and load."""
    code = compile(f"lambda load, limits: {expression}", f"<level {expression}>", "eval")
    function = eval(code, {"UNBOUNDED": UNBOUNDED})
    function.source = expression
    return function


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a filter turned a cluster down. ``subject`` names what the limit belongs to (a storage provider,
    a control-plane node type, a status or a region); ``context`` holds what only the text needs."""

    filter: str
    limit: str
    used: Any
    needed: Any
    capacity: Any
    unit: str
    subject: str | None = None
    context: Any = None
    describe: Callable[[Rejection], str] = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"{self.filter}: {self.describe(self)}"

    @property
    def reason(self) -> str:
        return str(self)


@dataclass(frozen=True, slots=True)
class NodeRule:
    """How a per-node limit reads one run node: the node takes a placement while it is ``requires`` (a ``RunNode``
    flag) and ``used + needed <= capacity``. ``used`` and ``capacity`` are ``RunNode`` fields; a node without a
    capacity of its own (None) has ``default(limits)``; ``needed`` is a footprint field, or None for one more of
    ``used`` (a pod: the node must be below its cap, as kube-scheduler admits a pod). The router's node guard is
    built from these rules (``placement.router.counters``)."""

    used: str
    capacity: str
    needed: str | None
    default: Callable[[Limits], int] | None = None
    requires: str = "schedulable"

    def capacity_of(self, node: RunNode, limits: Limits) -> int:
        capacity = getattr(node, self.capacity)
        return self.default(limits) if capacity is None and self.default is not None else capacity

    def takes(self, node: RunNode, footprint: Any, limits: Limits) -> bool:
        needed = 1 if self.needed is None else getattr(footprint, self.needed)
        return bool(getattr(node, self.requires)) and getattr(node, self.used) + needed <= self.capacity_of(
            node, limits
        )


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit. ``level(load, limits)`` is its used level as the filter compares it, ``needed`` the footprint
    field a placement adds, ``capacity(limits, provider, ctrl)`` its capacity (None: the cluster cannot be
    judged, e.g. an unknown control-plane type). With ``grows_only`` it binds only when the placement adds to it.
    """

    key: str
    filter: str
    label: str
    unit: str
    level: Callable[[ClusterLoad, Limits], int]
    needed: str | None
    capacity: Callable[[Limits, str, ControlPlaneType | None], int | None]
    source: str
    text: Callable[[Rejection], str]
    view: str  # its row in the router's headroom view ({provider}: the cluster's storage provider)
    grows_only: bool = False
    # A scalability threshold (sig-scalability thresholds.md: "NOT hard limits - crossing the limit results in
    # degraded performance") or a comfort level, which an operator may bend; False: a wall nothing runs past.
    soft: bool = False
    per_node: bool = False  # the level is minus the most free RAM on one run node (see ``ram_per_run_node``)
    context: Callable[[ClusterLoad, Limits], Any] = lambda load, limits: limits.profile
    node: NodeRule | None = None  # a per-node limit read on one run node (the node a placement is booked on)
    # A capacity the cluster itself holds, not the profile (its disks): (used, capacity) as the load gives them,
    # capacity None when not known. The level is then ``used - capacity`` against a capacity of 0 (see ``disk``).
    on_load: Callable[[ClusterLoad], tuple[int, int | None]] | None = None

    def used_and_capacity(self, load: ClusterLoad, limits: Limits, provider: str, ctrl: ControlPlaneType | None):
        """Used and capacity as a reader sees them (a rejection, the headroom view): the per-node limits as
        kube-scheduler reports them (the best node's free RAM is the capacity), the load's own capacity as it is."""
        if self.on_load is not None:
            return self.on_load(load)
        used, capacity = self.level(load, limits), self.capacity(limits, provider, ctrl)
        if self.per_node:
            return 0, capacity - used
        return used, capacity

    def capacity_row_entry(self, limits: Limits, provider: str, ctrl: ControlPlaneType | None) -> int:
        """The capacity as the filter compares it (-UNBOUNDED when the cluster cannot be judged)."""
        capacity = self.capacity(limits, provider, ctrl)
        return -UNBOUNDED if capacity is None else capacity

    def needed_row_entry(self, footprint: Any) -> int:
        """What ``footprint`` adds, as the filter subtracts it from the capacity (-UNBOUNDED: does not bind)."""
        needed = getattr(footprint, self.needed) if self.needed else 0
        return -UNBOUNDED if self.grows_only and not needed else needed

    def threshold(self, limits: Limits, provider: str, ctrl: ControlPlaneType | None, footprint: Any) -> int:
        """The level above which this limit rejects a placement of ``footprint``."""
        return self.capacity_row_entry(limits, provider, ctrl) - self.needed_row_entry(footprint)

    def rejection(self, load: ClusterLoad, limits: Limits, provider: str, ctrl_name: str, footprint: Any) -> Rejection:
        ctrl = limits.control_plane_types.get(ctrl_name)
        needed = getattr(footprint, self.needed) if self.needed else 0
        used, capacity = self.used_and_capacity(load, limits, provider, ctrl)
        subject = ctrl_name if self.filter == "control-plane" else provider
        return Rejection(
            self.filter, self.key, used, needed, capacity, self.unit, subject, self.context(load, limits), self.text
        )


def _ratio(label: str) -> Callable[[Rejection], str]:
    return lambda r: f"{label} {r.used}/{r.capacity}"


def _control_plane_text(r: Rejection) -> str:
    if r.capacity is None:
        return f"unknown node type {r.subject!r} in profile {r.context}"
    return f"{r.subject} {r.used}+{r.needed} objects > tight {r.capacity}"


def _ram_text(r: Rejection) -> str:
    schedulable, nodes = r.context
    if r.capacity < 0:
        return f"no schedulable run node ({nodes} run nodes)"
    return (
        f"largest free run node {human_bytes(r.capacity)} < {human_bytes(r.needed)} needed "
        f"({schedulable} schedulable run nodes)"
    )


def _pods_per_node_text(r: Rejection) -> str:
    return f"no run node with {human_bytes(r.needed)} free is below its pod cap ({r.context} pods per node)"


def _disk_text(r: Rejection) -> str:
    return f"{r.subject} raw disk {human_bytes(r.used)} + {human_bytes(r.needed)} > {human_bytes(r.capacity)} usable"


def _disk_on_load(load: ClusterLoad) -> tuple[int, int | None]:
    return load.disk_bytes, load.disk_capacity_bytes


def _tight(limits: Limits, provider: str, ctrl: ControlPlaneType | None) -> int | None:
    return None if ctrl is None else ctrl.tight_objects


def _k8s_threshold(
    key: str,
    label: str,
    unit: str,
    level: Callable[[ClusterLoad, Limits], int],
    needed: str | None,
    figure: str,
    *,
    source: str | None = None,
    grows_only: bool = False,
    soft: bool = True,
) -> Limit:
    """A Kubernetes limit on a whole cluster: its capacity the ``Limits`` attribute ``figure`` (the profile's
    ``kubernetes.<figure>`` unless ``source`` says otherwise), its headroom row named after its key."""
    view = "kubernetes." + key.removeprefix("k8s_").removesuffix("_cluster")
    return Limit(
        key,
        "k8s-thresholds",
        label,
        unit,
        level,
        needed,
        lambda limits, provider, ctrl: getattr(limits, figure),
        source or f"kubernetes.{figure}",
        _ratio(label),
        view,
        grows_only=grows_only,
        soft=soft,
    )


# In the order the filters check them; the first binding limit names the rejection.
LIMITS: tuple[Limit, ...] = (
    Limit(
        "volumes",
        "volume-limit",
        "volumes",
        "volumes",
        on_load("load.volumes"),
        "volumes",
        lambda limits, provider, ctrl: limits.storage[provider].max_volumes,
        "{provider}.max_volumes",
        lambda r: f"{r.subject} {r.used}/{r.capacity}",
        "{provider}.volumes",
        grows_only=True,
        soft=True,
    ),
    Limit(
        "control_plane_objects",
        "control-plane",
        "etcd objects",
        "objects",
        on_load("load.etcd_objects"),
        "etcd_objects",
        _tight,
        "control_plane_types.{ctrl}.tight_objects",
        _control_plane_text,
        "control_plane.objects_tight",
        soft=True,
    ),
    _k8s_threshold("k8s_pods_cluster", "pods", "pods", on_load("load.pods"), "pods", "max_pods_cluster"),
    _k8s_threshold(
        "k8s_services", "services", "services", on_load("load.services"), "services", "max_services_cluster"
    ),
    _k8s_threshold(
        "k8s_namespaces",
        "namespaces",
        "namespaces",
        on_load("load.customers"),
        "namespaces",
        "max_namespaces",
        grows_only=True,
    ),
    _k8s_threshold(
        "k8s_etcd_objects",
        "etcd objects",
        "objects",
        on_load("load.etcd_objects"),
        "etcd_objects",
        "max_etcd_objects",
        soft=False,
    ),
    _k8s_threshold("k8s_nodes", "nodes", "nodes", on_load("len(load.run_nodes)"), None, "max_nodes"),
    # A wall, not a threshold: kube-controller-manager gives each node one /node_cidr_mask_size range of the
    # cluster's pod range (k3s --cluster-cidr, 10.42.0.0/16) and a node past the last gets none, so it runs no
    # pod. Its servers take ranges too: the level is the run nodes a load knows, and the simulated operator
    # keeps room for the cluster's control-plane nodes (``sim.triggers``).
    _k8s_threshold(
        "k8s_pod_cidr_nodes",
        "nodes in the pod CIDR",
        "nodes",
        on_load("len(load.run_nodes)"),
        None,
        "pod_cidr_nodes",
        source="kubernetes.cluster_cidr_mask_size, kubernetes.node_cidr_mask_size",
        soft=False,
    ),
    # Per run node, not a cluster sum: 10 nodes with 1 GiB free each cannot take one 2 GiB service. The level
    # is minus the most free RAM on one schedulable node, so "need > most free" reads as level > -need.
    Limit(
        "ram_per_run_node",
        "ram-fit",
        "RAM per run node",
        "bytes",
        on_load("-load.largest_free_ram_bytes(limits.max_pods_per_node, False)"),
        "ram_bytes",
        lambda limits, provider, ctrl: 0,
        "run_node.ram_bytes",
        _ram_text,
        "largest_free_node_ram_bytes_ignoring_pods",
        per_node=True,
        context=lambda load, limits: (load.schedulable_nodes, load.node_count),
        node=NodeRule("requested_ram_bytes", "allocatable_ram_bytes", "ram_bytes"),
    ),
    Limit(
        "pods_per_node",
        "pods-per-node",
        "pods per run node",
        "pods",
        on_load("-load.largest_free_ram_bytes(limits.max_pods_per_node, True)"),
        "ram_bytes",
        lambda limits, provider, ctrl: 0,
        "kubernetes.max_pods_per_node",
        _pods_per_node_text,
        "largest_free_node_ram_bytes",
        per_node=True,
        context=lambda load, limits: limits.max_pods_per_node,
        node=NodeRule("pods", "max_pods", None, lambda limits: limits.max_pods_per_node),
    ),
    # A wall: Longhorn schedules no replica on a disk past storage-minimal-available-percentage, Ceph stops writes
    # at mon_osd_full_ratio. The capacity is the cluster's own (its run nodes' disks, or its storage nodes'), so
    # it is on the load (``ClusterLoad.disk_capacity_bytes``: the simulator's nodes, the collector's measure);
    # a load without one (None) is never refused for disk.
    Limit(
        "disk",
        "disk-fit",
        "raw disk",
        "bytes",
        # Minus the raw disk left (used - capacity), so "used + needed > capacity" reads as level > -needed; an
        # unknown capacity leaves it so low that nothing binds.
        on_load("-UNBOUNDED if load.disk_capacity_bytes is None else load.disk_bytes - load.disk_capacity_bytes"),
        "disk_bytes",
        lambda limits, provider, ctrl: 0,
        "run_node.disk_bytes or {provider}.storage_node.disk_bytes, times {provider}.disk_usable_fraction; or as the "
        "collector measured it",
        _disk_text,
        "{provider}.disk_bytes",
        grows_only=True,
        on_load=_disk_on_load,
    ),
)
BY_KEY = {limit.key: limit for limit in LIMITS}
# Filters that turn a cluster down for want of room on one run node: another run node there would fix them.
NODE_FIT_FILTERS = tuple(limit.filter for limit in LIMITS if limit.per_node)
# ... and those another run node may answer: those, and a capacity the cluster's nodes bring (its run nodes' disk,
# where the storage provider keeps its replicas there; elsewhere that capacity is unknown and never refuses).
NODE_ADDED_FILTERS = tuple(limit.filter for limit in LIMITS if limit.per_node or limit.on_load)
NODE_LIMITS = tuple(limit for limit in LIMITS if limit.node is not None)


def node_takes(node: RunNode, footprint: Any, limits: Limits) -> bool:
    """Whether one run node takes a placement of ``footprint`` by every per-node limit's rule."""
    return all(limit.node.takes(node, footprint, limits) for limit in NODE_LIMITS)
