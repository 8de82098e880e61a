"""Request and response bodies of the router's HTTP API.

The bodies reuse ``placement.state`` (``RequestIn``, ``ClusterIn``, ``ClusterLoadIn``, whose numbers are bounded by
their types) and add what the database needs: no characters a text column cannot hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from placement.state import NAME_LENGTH, URL_LENGTH, ClusterIn, ClusterLoadIn, RequestIn

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
ID_LENGTH = 200


def _storable_strings(value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            problems.append(f"{path or 'body'}: NUL characters are not allowed")
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(f"{path or 'body'}: not valid UTF-8 text")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable_strings(item, f"{path}.{key}" if path else str(key), problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _storable_strings(item, f"{path}[{index}]", problems)


def _check_storable(data: Any) -> Any:
    problems: list[str] = []
    _storable_strings(data, "", problems)
    if problems:
        raise ValueError("; ".join(problems))
    return data


class StorableRequestIn(RequestIn):
    """``RequestIn`` with no text a database column cannot hold (the numbers' bounds are in their types)."""

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _check_storable(data)


class StorableClusterIn(ClusterIn):
    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _check_storable(data)


def cluster_body(providers: tuple[str, ...]) -> type[StorableClusterIn]:
    """``POST /v1/clusters``' body under a limits profile: ``storage_provider`` is one of the profile's
    providers (its ``storage:`` section), so the OpenAPI document lists them and anything else is a 422."""
    default = ClusterIn.model_fields["storage_provider"].default
    provider = Literal[providers]  # type: ignore[valid-type]
    description = "a storage provider of the router's limits profile"
    field = Field(default=default, description=description) if default in providers else Field(description=description)
    return create_model(
        "StorableClusterIn",
        __base__=StorableClusterIn,
        __module__=__name__,
        storage_provider=(provider, field),
    )


class StorableLoadIn(ClusterLoadIn):
    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _check_storable(data)


class PlacedRequestIn(RequestIn):
    """A placement's request: as a dry run's, but the customer is known, so every quota is checked. Its text is
    checked with the rest of ``PlacementIn``'s body, once."""

    customer_id: str = Field(min_length=1, max_length=NAME_LENGTH)


class PlacementFields(BaseModel):
    """``PlacementIn``'s fields and their rules, without its check of the text: what a body of plain text
    (``direct_route.is_plain_text``), which that check cannot refuse, is validated with on the direct route.
    A ``mode="before"`` model validator makes pydantic build the body as Python objects before validating them
    (~34,000 instructions a placement, callgrind), where without one it validates the JSON text as it reads it."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=ID_LENGTH, pattern=ID_PATTERN)
    service_name: str = Field(min_length=1, max_length=NAME_LENGTH)
    repo: str | None = Field(default=None, max_length=URL_LENGTH)
    service_id: str | None = Field(default=None, min_length=1, max_length=ID_LENGTH, pattern=ID_PATTERN)
    request: PlacedRequestIn


class PlacementIn(PlacementFields):
    """``POST /v1/placements``: one ``create_service`` call. ``request_id`` makes retries safe."""

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _check_storable(data)


class ClusterPatch(BaseModel):
    """``PATCH /v1/clusters/{id}``: take a cluster out of (or back into) placement, or rename its task queue.

    A task queue is where the product API sends the deploys of the cluster's services, so it only changes while no
    service lives on the cluster (409 otherwise), and never to another cluster's queue (409).
    """

    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "draining", "maintenance", "provisioning"] | None = None
    task_queue: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _check_storable(data)

    @model_validator(mode="after")
    def _something(self) -> ClusterPatch:
        if self.status is None and self.task_queue is None:
            raise ValueError("give status, task_queue or both")
        return self


# OpenAPI links, so clients and schemathesis' stateful tests follow a dry run to its placement, a placement to its
# release, and back: a placed service can be released, and a released service id placed again (a new request with
# that service_id).
PLACED_LINKS = {
    "ReleasePlacement": {
        "operationId": "release_placement",
        "parameters": {"service_id": "$response.body#/service_id"},
        "description": "release what this placement reserved",
    }
}
DECIDED_LINKS = {
    "PlaceTheRequest": {
        "operationId": "create_placement",
        "requestBody": {"request": "$request.body"},
        "description": "place what the dry run decided on",
    }
}
RELEASED_LINKS = {
    "ReleaseAgain": {
        "operationId": "release_placement",
        "parameters": {"service_id": "$response.body#/service_id"},
        "description": "a second release of the same service id answers released: false",
    },
    "PlaceServiceIdAgain": {
        "operationId": "create_placement",
        "requestBody": {"service_id": "$response.body#/service_id"},
        "description": "a released service id may be placed again under a new request id",
    },
}


class VolumeOut(BaseModel):
    mount_path: str
    size: str
    node: str | None
    durability: str
    replicas: int
    backup_schedule: str


class PlacementOut(BaseModel):
    request_id: str
    service_id: str
    cluster_id: str
    task_queue: str
    node: str | None
    volume: VolumeOut | None
    volumes: list[VolumeOut]
    reason: str
    warnings: list[str]


class ReleaseOut(BaseModel):
    service_id: str
    released: bool = Field(description="False when the placement had been released before.")


class LoadAccepted(BaseModel):
    cluster_id: str
    observed_at: str


class Problem(BaseModel):
    detail: str


class FilterStep(BaseModel):
    name: str
    filteredClusters: list[str]  # the OCM placement-debug names


class ClusterScore(BaseModel):
    clusterName: str
    score: int


class PrioritizeResult(BaseModel):
    name: str
    weight: int
    scores: list[ClusterScore]


class FilterStatus(BaseModel):
    name: str
    status: Literal["pass", "fail", "not-run"]
    reason: str | None = None


class ScoreDetail(BaseModel):
    name: str
    score: int
    weight: int
    weighted: int


class ClusterRecord(BaseModel):
    """One cluster's trip through the engine: each filter's status, each scorer's score."""

    cluster_id: str
    task_queue: str
    rank: int | None
    feasible: bool
    reason: str | None = Field(description="why it was rejected (None when it fits)")
    filters: list[FilterStatus]
    scores: list[ScoreDetail]
    total: int | None


class DecisionOut(BaseModel):
    """The engine's decision, explained (OCM placement-debug shape), as ``/v1/select-cluster`` returns it."""

    cluster_id: str | None
    task_queue: str | None
    node_hint: str | None
    placed: bool
    reason: str
    quota_violations: list[str]
    warnings: list[str]
    customer_quota_checked: bool = Field(
        description="False for a dry run without customer_id: the customer's volume quota was not checked"
    )
    filteredPipelineResults: list[FilterStep]
    prioritizeResults: list[PrioritizeResult]
    aggregatedScores: list[ClusterScore]
    clusters: list[ClusterRecord]


class NothingFitsOut(BaseModel):
    """Nothing fits, or a quota refused the request: the summary and the whole decision."""

    detail: str
    decision: DecisionOut


class ServiceVolumeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    mount_path: str
    size: str = Field(description="Kubernetes quantity, e.g. 10Gi")
    size_bytes: int
    node: str | None = Field(description="the run node the volume was placed on")


class ServiceOut(BaseModel):
    """``GET /v1/services/{id}``: where a service lives, the design document's ``getClusterForService``."""

    model_config = ConfigDict(from_attributes=True)

    service_id: str
    name: str
    customer_id: str
    cluster_id: str
    task_queue: str = Field(description="the Temporal task queue of the cluster's deployer-worker")
    region: str
    cluster_status: Literal["active", "draining", "maintenance", "provisioning"]
    node: str | None
    volumes: list[ServiceVolumeOut]
    created_at: datetime


class PlacementConflictOut(BaseModel):
    """Every 409 of ``POST /v1/placements``: nothing fits or a quota refused it (with ``decision``), or the
    request id was used with another body, or an active placement holds the service id (``detail`` only)."""

    detail: str
    decision: DecisionOut | None = Field(default=None, description="Present when nothing fits or a quota refused.")


# --- GET /v1/clusters/{id} -----------------------------------------------------------------------------------------


class ReservedOut(BaseModel):
    volumes: int
    services: int
    customers: int
    pods: int
    etcd_objects: int
    disk_bytes: int = Field(description="the replicas' raw disk (volume bytes x replicas)")


class HeadroomOut(BaseModel):
    limit: str
    used: int
    capacity: int | None = Field(description="null when the limit is unknown (no snapshot, unknown node type).")
    free: int | None


class NodeViewOut(BaseModel):
    name: str
    schedulable: bool
    allocatable_ram_bytes: int
    requested_ram_bytes: int
    free_ram_bytes: int
    pods: int
    max_pods: int


class ClusterViewOut(BaseModel):
    """A cluster's effective load (last snapshot plus reservations since), headroom and snapshot age."""

    cluster: ClusterIn
    load: ClusterLoadIn | None = Field(description="null until the first load snapshot.")
    reserved_since_snapshot: ReservedOut
    snapshot_age_seconds: float | None
    snapshot_stale: bool | None
    max_snapshot_age_seconds: float | None
    headroom: list[HeadroomOut]
    nodes: list[NodeViewOut]
