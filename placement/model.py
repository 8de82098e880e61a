"""Plain value objects the engine runs on.

These are frozen dataclasses, not pydantic models: the router and the simulator validate at their edges
(see ``placement.state``) and hand the engine plain data, so nothing is re-validated in the hot path.
All RAM and volume sizes are bytes (int); all times are timezone-aware datetimes or None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
ClusterStatus = Literal["active", "draining", "maintenance"]
DEFAULT_MOUNT_PATH = "/data"


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
    ram_allocatable_bytes: int = field(init=False)
    ram_requested_bytes: int = field(init=False)
    schedulable_nodes: int = field(init=False)
    # Answers derived from the snapshot alone (largest free RAM per pod cap, the limits' levels), on first use.
    _cache: dict = field(init=False, repr=False, compare=False, hash=False)

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

    def largest_free_ram_bytes(self, default_max_pods: int, need_pod_room: bool) -> int:
        """The most free RAM on one schedulable run node (-1 when there is none).

        With ``need_pod_room`` only nodes below their pod cap count. A node's own ``max_pods`` wins over the
        profile's ``default_max_pods``.
        """
        key = default_max_pods if need_pod_room else -1
        cached = self._cache.get(key)
        if cached is None:
            cached = -1
            for node in self.run_nodes:
                if not node.schedulable:
                    continue
                if need_pod_room and node.pods >= (node.max_pods or default_max_pods):
                    continue
                free = node.allocatable_ram_bytes - node.requested_ram_bytes
                if free > cached:
                    cached = free
            self._cache[key] = cached
        return cached

    @property
    def node_count(self) -> int:
        return len(self.run_nodes)


@dataclass(frozen=True, slots=True)
class VolumeRequest:
    size_bytes: int
    mount_path: str = DEFAULT_MOUNT_PATH


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
