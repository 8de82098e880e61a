"""Plain value objects the engine runs on.

These are frozen dataclasses, not pydantic models: the router and the simulator validate at their edges
(see ``placement.state``) and hand the engine plain data, so nothing is re-validated in the hot path.
All RAM and volume sizes are bytes (int); all times are timezone-aware datetimes or None.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

LABEL_LENGTH = 63  # a Kubernetes label value: regions, plans, node types, storage provider names

# The one type of a storage provider's name: a key of the limits profile's ``storage:`` section
# (``Limits.storage``). Any name of that shape is accepted here; the edges check it against the profile they load,
# so a provider added to a profile needs no change in Python.
StorageProvider = Annotated[
    str, Field(min_length=1, max_length=LABEL_LENGTH, description="a storage provider of the limits profile")
]
# provisioning: registered while still on order (the design doc lists the other three); only active takes services.
ClusterStatus = Literal["active", "draining", "maintenance", "provisioning"]
DEFAULT_MOUNT_PATH = "/data"


def _slot_setting_init(cls):
    """Give a frozen, slotted dataclass an ``__init__`` that sets each field through its slot's own setter, with
    the same parameters and defaults (and ``__post_init__`` after, if it has one). The ``__init__`` that
    ``dataclass`` writes for a frozen class calls ``object.__setattr__`` once per field, about twice the cost; the
    simulator makes a run node per placement and a request per service."""
    specs = fields(cls)
    if any(not f.init or f.kw_only or f.default_factory is not MISSING for f in specs):
        raise TypeError(f"{cls.__name__}: only plain positional fields")
    parameters = ", ".join(f.name if f.default is MISSING else f"{f.name}=_default_{f.name}" for f in specs)
    lines = [f"    _set_{f.name}(self, {f.name})" for f in specs]
    if hasattr(cls, "__post_init__"):
        lines.append("    self.__post_init__()")
    namespace = {f"_set_{f.name}": getattr(cls, f.name).__set__ for f in specs}
    namespace |= {f"_default_{f.name}": f.default for f in specs if f.default is not MISSING}
    exec(
        compile("\n".join([f"def __init__(self, {parameters}):", *lines]), f"<{cls.__name__}.__init__>", "exec"),
        namespace,
    )
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return cls


@dataclass(frozen=True, slots=True)
class Cluster:
    """One row of the design document's ``clusters`` table, column for column."""

    id: str
    name: str
    region: str
    task_queue: str
    registry_url: str
    api_endpoint: str | None = None
    storage_provider: StorageProvider = "longhorn"
    status: ClusterStatus = "active"
    created_at: datetime | None = None


@_slot_setting_init
@dataclass(frozen=True, slots=True)
class RunNode:
    """A node of the ``pool=run`` pool as the scheduler sees it."""

    name: str
    allocatable_ram_bytes: int
    requested_ram_bytes: int = 0
    pods: int = 0
    max_pods: int | None = None  # None: the limits profile's pods-per-node threshold applies
    schedulable: bool = True

    @property
    def free_ram_bytes(self) -> int:
        return self.allocatable_ram_bytes - self.requested_ram_bytes


# The control-plane type of a cluster the router (or a state file) has no load snapshot of yet: one being
# provisioned. Its load has no run nodes; the status filter refuses it before anything reads the load.
NO_SNAPSHOT = "(no load snapshot)"


@dataclass(frozen=True, slots=True)
class ClusterLoad:
    """A snapshot of one cluster's load.

    The aggregates that do not depend on the incoming request are computed once here, because the engine
    reads them for every request and a snapshot never changes.
    """

    run_nodes: tuple[RunNode, ...]
    ctrl_node_type: str
    volumes: int = 0
    services: int = 0
    customers: int = 0
    pods: int = 0
    etcd_objects: int = 0
    observed_at: datetime | None = None
    # Raw disk the provider's replicas take (``Footprint.disk_bytes`` summed), and the raw disk it may fill (its
    # usable share of the disks that hold them: the run nodes', or dedicated storage nodes'). None: not known,
    # and then disk never refuses a placement (``placement.catalogue``'s ``disk`` limit).
    disk_bytes: int = 0
    disk_capacity_bytes: int | None = None
    ram_allocatable_bytes: int = field(init=False)
    ram_requested_bytes: int = field(init=False)
    schedulable_nodes: int = field(init=False)
    # Answers derived from the snapshot alone (the nodes by free RAM per pod cap, the limits' levels), on first use.
    _cache: dict = field(init=False, repr=False, compare=False, hash=False)
    # What the pipeline made of the load under each request shape it was judged for, by the shape's key (its
    # ``placement.pipeline.Slot.part_key``; ``placement.pipeline_evaluate``). Never carried to another load.
    _parts: dict = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.run_nodes, tuple):
            object.__setattr__(self, "run_nodes", tuple(self.run_nodes))
        allocatable = requested = schedulable = 0
        for node in self.run_nodes:
            if node.schedulable:
                allocatable += node.allocatable_ram_bytes
                requested += node.requested_ram_bytes
                schedulable += 1
        object.__setattr__(self, "ram_allocatable_bytes", allocatable)
        object.__setattr__(self, "ram_requested_bytes", requested)
        object.__setattr__(self, "schedulable_nodes", schedulable)
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_parts", {})

    def largest_free_ram_bytes(self, default_max_pods: int, need_pod_room: bool) -> int:
        """The most free RAM on one schedulable run node (-1 when there is none).

        With ``need_pod_room`` only nodes below their pod cap count. A node's own ``max_pods`` wins over the
        profile's ``default_max_pods``.
        """
        cap = default_max_pods if need_pod_room else NO_POD_CAP
        # The kept list read here (a call less per level, two levels a load), else ``nodes_by_free_ram`` makes it.
        nodes = self._cache.get(("nodes", cap)) or self.nodes_by_free_ram(cap)
        if not nodes:
            return -1
        free = nodes[-1][0]
        return free if free > -1 else -1  # max(free, -1), without the builtin's call (the levels read it per load)

    def nodes_by_free_ram(self, default_max_pods: int) -> list[tuple[int, str]]:
        """(free RAM, name) of the schedulable run nodes below their pod cap (``NO_POD_CAP``: whatever their pods),
        ascending. Kept on the load (a snapshot never changes); treat it as read-only."""
        key = ("nodes", default_max_pods)
        found = self._cache.get(key)
        if found is None:
            found = sorted(
                (node.allocatable_ram_bytes - node.requested_ram_bytes, node.name)
                for node in self.run_nodes
                if _takes_pods(node, default_max_pods)
            )
            self._cache[key] = found
        return found

    def with_nodes(self, changed: Mapping[int, RunNode], **fields) -> ClusterLoad:
        """This load with the run node at each position of ``changed`` replaced and ``fields`` (the other fields)
        set. The same snapshot as ``ClusterLoad(...)`` would make, but what depends on the run nodes alone (the RAM
        totals, the nodes by free RAM) is carried over and adjusted for the changed nodes, not recomputed over
        every node: a cluster that changes one node at a time (a placement) costs what that node changes."""
        if not _OTHER_FIELDS.issuperset(fields):
            raise TypeError(f"ClusterLoad.with_nodes: no field {', '.join(sorted(set(fields) - _OTHER_FIELDS))}")
        get = fields.get
        return self.with_changes(
            changed,
            get("ctrl_node_type", self.ctrl_node_type),
            get("volumes", self.volumes),
            get("services", self.services),
            get("customers", self.customers),
            get("pods", self.pods),
            get("etcd_objects", self.etcd_objects),
            get("observed_at", self.observed_at),
            get("disk_bytes", self.disk_bytes),
            get("disk_capacity_bytes", self.disk_capacity_bytes),
        )

    def with_changes(
        self,
        changed: Mapping[int, RunNode],
        ctrl_node_type: str,
        volumes: int,
        services: int,
        customers: int,
        pods: int,
        etcd_objects: int,
        observed_at: datetime | None,
        disk_bytes: int,
        disk_capacity_bytes: int | None,
    ) -> ClusterLoad:
        """``with_nodes`` with every other field given, in their order: the simulator's per-placement update."""
        nodes = list(self.run_nodes)
        allocatable = self.ram_allocatable_bytes
        requested = self.ram_requested_bytes
        schedulable = self.schedulable_nodes
        # The nodes by free RAM per pod cap, copied (the old snapshot keeps its own) and then adjusted. The router
        # decides on one load from several threads, each adding its answers to ``_cache`` as it goes: the loop runs
        # over a copy (``dict.copy`` copies in C, holding the GIL), since a thread may switch in between its turns.
        # Iterated live, an answer added meanwhile ended the update with "dictionary changed size during
        # iteration" (a placement answered 500 under contention, CI).
        kept = {}
        for key, value in self._cache.copy().items():
            if key[0] == "nodes":
                kept[key] = value.copy()
        for position, node in changed.items():
            old = nodes[position]
            nodes[position] = node
            was_on = old.schedulable
            now_on = node.schedulable
            if was_on:
                allocatable -= old.allocatable_ram_bytes
                requested -= old.requested_ram_bytes
                schedulable -= 1
            if now_on:
                allocatable += node.allocatable_ram_bytes
                requested += node.requested_ram_bytes
                schedulable += 1
            if not kept:
                continue
            old_entry = (old.allocatable_ram_bytes - old.requested_ram_bytes, old.name)
            entry = (node.allocatable_ram_bytes - node.requested_ram_bytes, node.name)
            # ``_takes_pods`` written out (two calls per list and node cost more than the list's update).
            old_pods, old_cap, pods_now, cap_now = old.pods, old.max_pods, node.pods, node.max_pods
            for (_, cap), ordered in kept.items():
                if cap == NO_POD_CAP:
                    listed, was_listed = now_on, was_on
                else:
                    listed = now_on and pods_now < (cap_now or cap)
                    was_listed = was_on and old_pods < (old_cap or cap)
                if was_listed:
                    # The old entry's place: most often the last (a spreading policy places on the node with the
                    # most free RAM), found by one comparison rather than a bisection's.
                    last = len(ordered) - 1
                    at = last if ordered[last] == old_entry else bisect_left(ordered, old_entry)
                    if listed and (at == 0 or ordered[at - 1] < entry) and (at == last or entry < ordered[at + 1]):
                        ordered[at] = entry  # it stays between the same neighbours (entries are unique by name)
                        continue
                    del ordered[at]
                if listed:
                    insort(ordered, entry)
        # Set as a draft of the same slots, then made a ``ClusterLoad`` (a frozen dataclass's slot is set through
        # its descriptor's ``__set__``, a call each; ``_LoadDraft``).
        load = _new_object(_LoadDraft)
        load.run_nodes = tuple(nodes)
        load.ctrl_node_type = ctrl_node_type
        load.volumes = volumes
        load.services = services
        load.customers = customers
        load.pods = pods
        load.etcd_objects = etcd_objects
        load.observed_at = observed_at
        load.disk_bytes = disk_bytes
        load.disk_capacity_bytes = disk_capacity_bytes
        load.ram_allocatable_bytes = allocatable
        load.ram_requested_bytes = requested
        load.schedulable_nodes = schedulable
        load._cache = kept
        load._parts = {}
        load.__class__ = ClusterLoad
        return load

    @property
    def node_count(self) -> int:
        return len(self.run_nodes)


NO_POD_CAP = -1  # ``ClusterLoad.nodes_by_free_ram``: count a node whatever its pods
# The fields of a ``ClusterLoad`` besides its run nodes and what it derives from them.
_OTHER_FIELDS = frozenset(field.name for field in fields(ClusterLoad)) - {
    "run_nodes",
    "ram_allocatable_bytes",
    "ram_requested_bytes",
    "schedulable_nodes",
    "_cache",
    "_parts",
}


_new_object = object.__new__


class _LoadDraft:
    """A ``ClusterLoad`` while ``ClusterLoad.with_changes`` fills it: the same slots (so the same layout), set by
    plain stores, then given its class by ``__class__`` assignment. Every field is set, as ``__eq__`` and the
    engine read them all (an unset slot raises)."""

    __slots__ = ClusterLoad.__slots__


class _RunNodeDraft:
    """A ``RunNode`` while ``run_node`` fills it (as ``_LoadDraft`` is a ``ClusterLoad``)."""

    __slots__ = RunNode.__slots__


def run_node(
    name: str,
    allocatable_ram_bytes: int,
    requested_ram_bytes: int = 0,
    pods: int = 0,
    max_pods: int | None = None,
    schedulable: bool = True,
) -> RunNode:
    """``RunNode(...)``, the same value, for a caller that makes one per placement (the simulator's fleet): filled as
    a draft by plain stores, without the generated ``__init__``'s descriptor call per field."""
    node = _new_object(_RunNodeDraft)
    node.name = name
    node.allocatable_ram_bytes = allocatable_ram_bytes
    node.requested_ram_bytes = requested_ram_bytes
    node.pods = pods
    node.max_pods = max_pods
    node.schedulable = schedulable
    node.__class__ = RunNode
    return node


def _takes_pods(node: RunNode, default_max_pods: int) -> bool:
    """Whether a run node can take a pod: schedulable and below its pod cap (``NO_POD_CAP``: whatever its pods)."""
    return node.schedulable and (default_max_pods == NO_POD_CAP or node.pods < (node.max_pods or default_max_pods))


@_slot_setting_init
@dataclass(frozen=True, slots=True)
class VolumeRequest:
    size_bytes: int
    mount_path: str = DEFAULT_MOUNT_PATH


@_slot_setting_init
@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """One new service, as ``create_service(repo, name, volumes=[...])`` asks for it.

    ``new_customer`` is true when the service is the customer's first on the fleet, so it also brings a
    namespace and the per-customer objects. ``etcd_objects`` overrides the profile's per-service estimate.
    """

    customer_id: str
    ram_bytes: int
    region: str | None = None
    volumes: tuple[VolumeRequest, ...] = ()
    customer_volume_count: int = 0
    plan: str = "default"
    pods: int = 1
    new_customer: bool = False
    etcd_objects: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.volumes, tuple):
            object.__setattr__(self, "volumes", tuple(self.volumes))


class _RequestDraft:
    """A ``PlacementRequest`` while ``placement_request`` fills it (as ``_LoadDraft`` is a ``ClusterLoad``)."""

    __slots__ = PlacementRequest.__slots__


def placement_request(
    customer_id: str,
    ram_bytes: int,
    region: str | None,
    volumes: tuple[VolumeRequest, ...],
    customer_volume_count: int,
    plan: str,
    pods: int,
    new_customer: bool,
    etcd_objects: int | None = None,
) -> PlacementRequest:
    """``PlacementRequest(...)``, the same value, for a caller that makes one per service (the simulator): filled as
    a draft by plain stores, without the generated ``__init__``'s descriptor call per field. ``volumes`` is a
    tuple already (``__post_init__`` is what would make it one)."""
    request = _new_object(_RequestDraft)
    request.customer_id = customer_id
    request.ram_bytes = ram_bytes
    request.region = region
    request.volumes = volumes
    request.customer_volume_count = customer_volume_count
    request.plan = plan
    request.pods = pods
    request.new_customer = new_customer
    request.etcd_objects = etcd_objects
    request.__class__ = PlacementRequest
    return request
