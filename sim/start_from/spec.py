"""The scenario's ``start_from:`` key: where the initial fleet comes from, and (once read) the fleet itself.

In YAML a source is written as a mapping with ``kind`` or as a bare string::

    start_from: {kind: router_db, url: postgresql://router@db/placement}
    start_from: examples/state.yaml                # .yaml/.yml: a state file
    start_from: var/router.db                      # a SQLite file (.db/.sqlite/.sqlite3) or a database URL
    start_from: var/snapshots/                     # anything else: a folder of collector snapshots

``live`` is filled in when the source is read (``sim.start_from.build``; ``sim.start_from.resolve`` for a scenario
that names its source): the customers already on each cluster with their measured services, so a built scenario is
self-contained like any loaded one (a Dask worker runs it without reaching the database). ``as_of`` reads the
source as of a fixed time, so the same scenario and seed give the same outputs; without it, the clock's time.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from sim.distributions import SpecModel

URL_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite://")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
STATE_SUFFIXES = (".yaml", ".yml")
# A cluster in one of these router statuses takes no new customers (the engine's status filter).
CLOSED_STATUSES = frozenset({"draining", "maintenance"})
# A cluster registered while it is still being provisioned: capacity on order, not yet in the fleet.
ON_ORDER_STATUS = "provisioning"
# How a starting figure is known (``provenance.csv``'s basis).
MEASURED, ESTIMATED, ASSUMED = "measured", "estimated", "assumed"


class LiveCustomer(SpecModel):
    """A customer already on the fleet: its home cluster and, per service, its RAM and volume bytes (0: none)."""

    cluster: str = Field(min_length=1)
    ram: list[int] = Field(min_length=1, description="bytes requested per service")
    volume: list[int] = Field(description="volume bytes per service, 0 without a volume")
    measured: bool = Field(default=True, description="False: estimated from a load snapshot, not in the ledger")
    age_days: float | None = Field(
        default=None, ge=0, description="days since its first reservation (services still to come); None: unknown"
    )
    region: str | None = Field(
        default=None,
        description="the region its requests asked for (the ledger's, migration 0010), which may have no cluster "
        "it could be placed in; None: its cluster's",
    )

    @model_validator(mode="after")
    def _aligned(self) -> LiveCustomer:
        if len(self.volume) != len(self.ram):
            raise ValueError("volume needs one entry per service (ram)")
        if min(self.ram) < 0 or min(self.volume) < 0:
            raise ValueError("sizes cannot be negative")
        return self


class LiveOrder(SpecModel):
    """A cluster on order at the start (the router lists it as ``provisioning``): it arrives ``due_days`` after
    the start; its run nodes are sized by the base operator's rule for a new cluster."""

    id: str = Field(min_length=1)
    region: str = Field(min_length=1)
    storage_provider: str = Field(min_length=1)
    due_days: float = Field(ge=0, description="days after the start it is delivered")


class LiveLevel(SpecModel):
    """A cluster's measured levels ``days_before`` the start (an older load snapshot): the operator's memory of
    the trend it orders ahead of. Counters as ``sim.fleet``'s."""

    cluster: str = Field(min_length=1)
    days_before: int = Field(ge=0, description="0: the newest snapshot, the one the change is measured to")
    nodes: int = Field(ge=0)
    ram_requested: int = Field(ge=0)
    ram_allocatable: int = Field(ge=0)
    pods: int = Field(ge=0)
    services: int = Field(ge=0)
    customers: int = Field(ge=0)
    volumes: int = Field(ge=0)
    etcd_objects: int = Field(ge=0)
    disk_bytes: int = Field(default=0, ge=0, description="the replicas' raw disk; 0: not measured")
    placements: int = Field(default=0, ge=0, description="placements on the cluster in the day before")
    with_reservations: bool = Field(
        default=False, description="the snapshot's levels with the router's reservations and releases since"
    )


class AssumedRise(SpecModel):
    """A cluster's daily rise the operator's trend starts from where the source has no older snapshots: assumed from
    the scenario's growth (``sim.start_from.assumed_trend``)."""

    cluster: str = Field(min_length=1)
    customers: float = Field(ge=0)
    services: float = Field(ge=0)
    pods: float = Field(ge=0)
    volumes: float = Field(ge=0)
    ram_requested: float = Field(ge=0, description="bytes a day")
    etcd_objects: float = Field(ge=0)


class LiveFleet(SpecModel):
    """What the source said about the fleet beyond its clusters' sizes (those are in ``fleet.clusters``)."""

    closed: list[str] = Field(default_factory=list, description="cluster ids taking no new customers")
    customers: list[LiveCustomer] = Field(default_factory=list, description="in the order of fleet.clusters")
    on_order: list[LiveOrder] = Field(default_factory=list, description="clusters being provisioned")
    history: list[LiveLevel] = Field(default_factory=list, description="levels of the days before the start")
    snapshots: list[LiveLevel] = Field(
        default_factory=list,
        description="each cluster's newest snapshot: what the start holds beyond its customers' (sim.start_from."
        "unattributed)",
    )
    notes: list[str] = Field(
        default_factory=list, description="what the start said of the source (held load, measured sizes, estimates)"
    )
    assumed_rise: list[AssumedRise] = Field(
        default_factory=list, description="without older snapshots: each open cluster's assumed daily rise"
    )
    unseen_lived_days: float | None = Field(
        default=None,
        ge=0,
        description="days the customers not in the ledger have lived at least: the ledger's span (they were on the "
        "fleet before its first reservation); None: unknown (no ledger)",
    )


class _Source(SpecModel):
    as_of: datetime | None = Field(
        default=None, description="read the source as of this time (ISO 8601 with a zone); None: the clock"
    )
    live: LiveFleet | None = None

    @field_validator("as_of")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"give a time zone (2026-12-01T00:00:00Z), got {value.isoformat()}")
        return value


class RouterDatabase(_Source):
    kind: Literal["router_db"]
    url: str = Field(min_length=1, description="a SQLite path or URL, or a PostgreSQL URL; read only")


class SnapshotFolder(_Source):
    kind: Literal["snapshots"]
    path: str = Field(min_length=1, description="a folder of collector snapshot JSON files")


class StateFile(_Source):
    kind: Literal["state"]
    path: str = Field(min_length=1, description="a state YAML (clusters and load snapshots), as examples/state.yaml")


def source_of(text: str) -> dict[str, str]:
    """A bare string's source: a database URL or SQLite file, a state YAML, else a snapshot folder."""
    lowered = text.lower()
    if lowered.startswith(URL_SCHEMES) or lowered.endswith(SQLITE_SUFFIXES):
        return {"kind": "router_db", "url": text}
    if lowered.endswith(STATE_SUFFIXES):
        return {"kind": "state", "path": text}
    return {"kind": "snapshots", "path": text}


def _shorthand(value: Any) -> Any:
    return source_of(value) if isinstance(value, str) else value


# The shorthand is applied outside the tagged union (inside it, pydantic checks the tag before any validator runs).
StartFrom = Annotated[
    Annotated[RouterDatabase | SnapshotFolder | StateFile, Field(discriminator="kind")], BeforeValidator(_shorthand)
]


def live_of(start_from: RouterDatabase | SnapshotFolder | StateFile | None) -> LiveFleet | None:
    """The read live fleet of a scenario's ``start_from`` (None: no live start, or not read yet)."""
    return None if start_from is None else start_from.live


def beside(source: RouterDatabase | SnapshotFolder | StateFile, folder: Path):
    """``source`` with a relative file path (a state file, a snapshot folder, a bare SQLite path) taken from
    ``folder`` (the scenario file's), as a scenario's other files are; a URL as it is."""
    if source.live is not None:
        return source
    if source.kind != "router_db":
        return source.model_copy(update={"path": str(folder / source.path)})
    if source.url.lower().startswith(URL_SCHEMES):
        return source
    return source.model_copy(update={"url": str(folder / source.url)})
