"""Request and response bodies of the router's HTTP API.

The bodies reuse ``placement.state`` (``RequestIn``, ``ClusterIn``, ``ClusterLoadIn``) and add what the
database needs: bounds that fit its integer columns and no characters a text column cannot hold.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from placement.state import ClusterIn, ClusterLoadIn, RequestIn

# Sizes stay below 2**53 so they round-trip through JSON numbers and fit a BIGINT; counts fit an INTEGER.
MAX_BYTES = 2**53
MAX_COUNT = 2**31 - 1
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"


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


def _check_bounds(owner: str, pairs: list[tuple[str, int | None, int]]) -> None:
    for name, value, bound in pairs:
        if value is not None and value > bound:
            raise ValueError(f"{owner}.{name}: must be at most {bound}")


class StorableRequestIn(RequestIn):
    """``RequestIn`` whose numbers fit the ledger's columns."""

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _check_storable(data)

    @model_validator(mode="after")
    def _bounds(self) -> StorableRequestIn:
        _check_bounds(
            "request",
            [
                ("ram", self.ram, MAX_BYTES),
                ("pods", self.pods, MAX_COUNT),
                ("etcd_objects", self.etcd_objects, MAX_COUNT),
                ("customer_volume_count", self.customer_volume_count, MAX_COUNT),
                ("volumes", len(self.volumes), 1000),
            ],
        )
        for index, volume in enumerate(self.volumes):
            _check_bounds("request", [(f"volumes[{index}].size", volume.size, MAX_BYTES)])
        return self


class StorableClusterIn(ClusterIn):
    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _check_storable(data)


class StorableLoadIn(ClusterLoadIn):
    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _check_storable(data)

    @model_validator(mode="after")
    def _bounds(self) -> StorableLoadIn:
        _check_bounds(
            "load",
            [(name, getattr(self, name), MAX_COUNT) for name in ("volumes", "services", "customers", "pods")]
            + [("etcd_objects", self.etcd_objects, MAX_COUNT), ("run_nodes", len(self.run_nodes), 10_000)],
        )
        for index, node in enumerate(self.run_nodes):
            _check_bounds(
                "load",
                [
                    (f"run_nodes[{index}].allocatable_ram", node.allocatable_ram, MAX_BYTES),
                    (f"run_nodes[{index}].requested_ram", node.requested_ram, MAX_BYTES),
                    (f"run_nodes[{index}].pods", node.pods, MAX_COUNT),
                    (f"run_nodes[{index}].max_pods", node.max_pods, MAX_COUNT),
                ],
            )
        return self


class PlacementIn(BaseModel):
    """``POST /v1/placements``: one ``create_service`` call. ``request_id`` makes retries safe."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    service_name: str = Field(min_length=1, max_length=200)
    repo: str | None = Field(default=None, max_length=1000)
    service_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=ID_PATTERN)
    request: StorableRequestIn

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return _check_storable(data)


class ClusterPatch(BaseModel):
    """``PATCH /v1/clusters/{id}``: take a cluster out of (or back into) placement."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "draining", "maintenance"]


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


class NothingFitsOut(BaseModel):
    detail: str
    decision: dict[str, Any]
