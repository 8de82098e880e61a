"""The edge models: clusters, load snapshots and requests as they arrive in YAML, JSON or HTTP bodies.

They validate (pydantic, ``extra="forbid"``), accept Kubernetes quantities for sizes (``placement.quantity``),
and convert to the engine's plain dataclasses with ``to_model()`` and back with ``from_model()``, field by
name. The CLI's state file, the router's API and the collector all use these, so one snapshot format flows
from the collector to the router to the engine.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_validator

from placement.model import (
    DEFAULT_MOUNT_PATH,
    LABEL_LENGTH,
    NO_SNAPSHOT,
    Cluster,
    ClusterLoad,
    PlacementRequest,
    RunNode,
    StorageProvider,
    VolumeRequest,
    placement_request,
)
from placement.policy import RequestDefaults, default_policy
from placement.quantity import DESCRIPTION as SIZE_HELP
from placement.quantity import Bytes, Count, PositiveBytes, PositiveCount
from placement.units import format_bytes
from placement.yamlio import field_error

# Sizes are named without the ``_bytes`` suffix at the edge (they accept quantities) and with it in the engine.
_RUN_NODE_FIELDS = {"allocatable_ram": "allocatable_ram_bytes", "requested_ram": "requested_ram_bytes"}


CLUSTER_ID_LENGTH = 63
CLUSTER_ID_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
# Longest text each field takes: what any real value needs, with room; stated in the API's schema.
NAME_LENGTH = 200
NODE_NAME_LENGTH = 253  # a Kubernetes node name (DNS subdomain)
URL_LENGTH = 2048
PATH_LENGTH = 1024
MAX_RUN_NODES = 5000  # Kubernetes' largest supported cluster
MAX_VOLUMES_PER_REQUEST = 100
_BARE_REGISTRY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._/-]*)?")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def _registry(value: str) -> str:
    # The design document's registry_url is a bare host:port ("10.0.1.4:5000"); a URL may say http(s) only.
    if "://" in value:
        return _http_url(value)
    if not _BARE_REGISTRY.fullmatch(value):
        raise ValueError("must be host[:port][/path] (such as 10.0.1.4:5000) or an http:// or https:// URL")
    return value


def _mount_path(value: str) -> str:
    if ".." in value.split("/"):
        raise ValueError("must not contain '..' segments")
    return value


HttpUrl = Annotated[
    str, Field(min_length=1, max_length=URL_LENGTH, description="an http:// or https:// URL"), AfterValidator(_http_url)
]
RegistryUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=URL_LENGTH,
        description="host[:port][/path] (such as 10.0.1.4:5000) or an http:// or https:// URL",
    ),
    AfterValidator(_registry),
]
MountPath = Annotated[
    str,
    Field(pattern=r"^/", max_length=PATH_LENGTH, description="an absolute path without '..' segments"),
    AfterValidator(_mount_path),
]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class _Edge(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClusterIn(_Edge):
    id: str = Field(min_length=1, max_length=CLUSTER_ID_LENGTH, pattern=CLUSTER_ID_PATTERN)
    name: str = Field(min_length=1, max_length=NAME_LENGTH)
    region: str = Field(min_length=1, max_length=LABEL_LENGTH)
    task_queue: str = Field(min_length=1, max_length=NAME_LENGTH)
    api_endpoint: HttpUrl | None = None
    storage_provider: StorageProvider = "longhorn"
    registry_url: RegistryUrl
    status: Literal["active", "draining", "maintenance", "provisioning"] = "active"
    created_at: datetime | None = None

    def to_model(self) -> Cluster:
        return Cluster(**self.model_dump(exclude={"created_at"}), created_at=_aware(self.created_at))

    @classmethod
    def from_model(cls, cluster: Cluster) -> ClusterIn:
        # Not validated again: a stored cluster was checked when it came in, perhaps under older rules (a bare
        # host:port api_endpoint), and must still be shown rather than fail the answer.
        return cls.model_construct(**{name: getattr(cluster, name) for name in cls.model_fields})


class RunNodeIn(_Edge):
    name: str = Field(min_length=1, max_length=NODE_NAME_LENGTH)
    allocatable_ram: Bytes
    requested_ram: Bytes = 0
    pods: Count = 0
    max_pods: PositiveCount | None = None
    schedulable: bool = True

    def to_model(self) -> RunNode:
        return RunNode(**{_RUN_NODE_FIELDS.get(name, name): value for name, value in self.model_dump().items()})

    @classmethod
    def from_model(cls, node: RunNode) -> RunNodeIn:
        return cls(**{name: getattr(node, _RUN_NODE_FIELDS.get(name, name)) for name in cls.model_fields})


class ClusterLoadIn(_Edge):
    """A load snapshot. ``observed_at`` defaults to now when the snapshot is created from a document."""

    observed_at: datetime | None = None
    run_nodes: list[RunNodeIn] = Field(max_length=MAX_RUN_NODES)
    ctrl_node_type: str = Field(min_length=1, max_length=LABEL_LENGTH)
    volumes: Count = 0
    services: Count = 0
    customers: Count = 0
    pods: Count = 0
    etcd_objects: Count = 0
    disk_bytes: Bytes = Field(default=0, description="raw disk the storage provider's replicas take")
    disk_capacity_bytes: Bytes | None = Field(
        default=None,
        description="raw disk the replicas may fill (the provider's usable share of its disks); absent: not known, "
        "and then no placement is refused for disk",
    )

    @model_validator(mode="after")
    def _unique_nodes(self) -> ClusterLoadIn:
        names = [n.name for n in self.run_nodes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"run_nodes: duplicate node names {duplicates}")
        return self

    def to_model(self) -> ClusterLoad:
        return ClusterLoad(
            run_nodes=tuple(n.to_model() for n in self.run_nodes),
            observed_at=_aware(self.observed_at),
            **self.model_dump(exclude={"run_nodes", "observed_at"}),
        )

    @classmethod
    def from_model(cls, load: ClusterLoad) -> ClusterLoadIn:
        counts = {name: getattr(load, name) for name in cls.model_fields if name != "run_nodes"}
        return cls(run_nodes=[RunNodeIn.from_model(n) for n in load.run_nodes], **counts)


class VolumeIn(_Edge):
    mount_path: MountPath = DEFAULT_MOUNT_PATH
    size: Bytes | None = Field(default=None, description=f"{SIZE_HELP}; absent: the plan's default volume size")

    def to_model(self, defaults: RequestDefaults) -> VolumeRequest:
        return VolumeRequest(defaults.volume_size_bytes if self.size is None else self.size, self.mount_path)


class RequestIn(_Edge):
    """One ``create_service`` call as the product API passes it on.

    It may be as short as the design document's ``SelectClusterInput{Region, HasVolume}``: a missing ``ram`` or
    volume ``size`` is the plan's default (the policy's ``defaults``), and ``has_volume: true`` without
    ``volumes`` asks for one volume at the default mount path. ``has_volume`` given together with ``volumes``
    must agree with it (true when at least one volume is listed). ``customer_id`` may be left out of a dry run
    only: the customer's volume count is then unknown, so the per-customer volume quota is not checked.
    """

    customer_id: str | None = Field(default=None, min_length=1, max_length=NAME_LENGTH)
    region: str | None = Field(default=None, max_length=LABEL_LENGTH)
    ram: PositiveBytes | None = Field(default=None, description=f"{SIZE_HELP}; absent: the plan's default RAM")
    has_volume: StrictBool | None = Field(
        default=None,
        description=(
            "The design document's HasVolume. True without volumes asks for one volume of the plan's default size at "
            "/data. Sent with volumes, it must agree with them (true exactly when one is listed), else 422."
        ),
    )
    volumes: list[VolumeIn] = Field(default_factory=list, max_length=MAX_VOLUMES_PER_REQUEST)
    customer_volume_count: Count = 0
    plan: str = Field(default="default", max_length=LABEL_LENGTH)
    pods: PositiveCount = 1
    new_customer: bool = False
    etcd_objects: Count | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RequestIn:
        if self.has_volume is not None and "volumes" in self.model_fields_set and self.has_volume != bool(self.volumes):
            raise field_error(
                ("has_volume",),
                f"has_volume {str(self.has_volume).lower()} contradicts volumes, which lists {len(self.volumes)}: "
                "send one of the two, or make them agree",
                self.has_volume,
            )
        if self.customer_id is None and self.customer_volume_count:
            raise field_error(
                ("customer_volume_count",), "customer_volume_count needs customer_id", self.customer_volume_count
            )
        return self

    @property
    def customer_quota_checked(self) -> bool:
        return self.customer_id is not None

    def to_model(self, defaults: RequestDefaults | None = None) -> PlacementRequest:
        """The engine's request, with the plan's defaults (the shipped policy's unless given) filled in."""
        defaults = defaults or default_policy().request_defaults(self.plan)
        volumes = [v.to_model(defaults) for v in self.volumes]
        if not volumes and self.has_volume:
            volumes = [VolumeRequest(defaults.volume_size_bytes, DEFAULT_MOUNT_PATH)]
        # The draft constructor (the same value): the router builds one per placement and per dry run.
        return placement_request(
            self.customer_id or "",
            defaults.ram_bytes if self.ram is None else self.ram,
            self.region,
            tuple(volumes),
            self.customer_volume_count,
            self.plan,
            self.pods,
            self.new_customer,
            self.etcd_objects,
        )


class FleetEntry(_Edge):
    cluster: ClusterIn
    load: ClusterLoadIn | None = Field(
        default=None, description="its newest load snapshot; may be left out only for a cluster still provisioning"
    )

    @model_validator(mode="after")
    def _load_unless_provisioning(self) -> FleetEntry:
        if self.load is None and self.cluster.status != "provisioning":
            raise ValueError(
                f"load: required for cluster {self.cluster.id!r} (status {self.cluster.status}); only a cluster "
                "still provisioning may have none"
            )
        return self

    def load_model(self) -> ClusterLoad:
        """The load as the engine reads it: a provisioning cluster without one has no run nodes (the status filter
        refuses it first)."""
        return self.load.to_model() if self.load is not None else ClusterLoad(run_nodes=(), ctrl_node_type=NO_SNAPSHOT)


class FleetState(_Edge):
    """A state file: the clusters and their load snapshots."""

    clusters: list[FleetEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> FleetState:
        for attr in ("id", "task_queue"):
            values = [getattr(e.cluster, attr) for e in self.clusters]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"clusters: duplicate {attr} {duplicates}")
        return self

    def to_model(self) -> list[tuple[Cluster, ClusterLoad]]:
        return [(e.cluster.to_model(), e.load_model()) for e in self.clusters]


def load_state(path: str | Path) -> list[tuple[Cluster, ClusterLoad]]:
    from placement.yamlio import load_yaml_model

    return load_yaml_model(Path(path), FleetState).to_model()


def volume_block(size_bytes: int, mount_path: str, node: str | None, replicas: int, durability: str) -> dict:
    """The design document's tool-response ``volume`` block."""
    return {
        "mount_path": mount_path,
        "size": format_bytes(size_bytes),
        "node": node,
        "durability": durability,
        "replicas": replicas,
        "backup_schedule": "daily",
    }
