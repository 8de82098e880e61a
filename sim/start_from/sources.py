"""Reading a live source into one ``LiveState``: the clusters with their newest load snapshot, and the ledger.

- ``read_router_db(url)``: the router's database, SQLite or PostgreSQL, through the router's own table
  definitions (``placement.router.db``), read only; with each cluster's load now as the router holds it (its newest
  snapshot plus what it reserved and released since, ``placement.router.fleet_rows``). SQLite is opened with
  ``mode=ro``, PostgreSQL in a read-only transaction, and nothing is ever migrated (a database without the router's
  tables is refused, not created).
- ``read_snapshots(folder)``: every collector snapshot (``*.json``, ``placement.collector.snapshot.Snapshot``); the
  newest per cluster counts, and those of the ``HISTORY_DAYS`` before it give the operator's trend. A snapshot
  knows its storage provider and control plane but not its region or status.
- ``read_state(path)``: a state YAML (``placement.state.FleetState``, as ``examples/state.yaml``).

A snapshot dated ahead of ``now`` by more than the router's clock skew is refused, as the router refuses it.
Every problem raises ``StartFromError`` with a message naming the source (never a password) and what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from placement.collector.snapshot import Snapshot
from placement.model import ClusterLoad
from placement.router import db
from placement.router.config import DEFAULT_MAX_CLOCK_SKEW_SECONDS
from placement.router.fleet_rows import FLEET, NODES, fleet_from_rows
from placement.state import ClusterLoadIn, FleetState
from placement.yamlio import ConfigError, format_loc, load_yaml_model

LEDGER_COLUMNS = (
    "service_id",
    "customer_id",
    "cluster_id",
    "ram_bytes",
    "pods",
    "volumes",
    "volume_bytes",
    "new_customer",
    "reserved_at",
    "released_at",
    "region",
)
# How far back older snapshots are read: the operator's trend window (``sim.operator.PROJECTION_WINDOW_DAYS``).
HISTORY_DAYS = 28
ROUTER_TABLES = ("clusters", "cluster_loads", "cluster_counters", "reservations", "services", "volumes")


class StartFromError(ValueError):
    """A live source that cannot be started from; the message says which source and why."""


@dataclass(frozen=True, slots=True)
class LiveCluster:
    """One cluster as the source knows it. ``None``: the source cannot tell (the base scenario will)."""

    id: str
    region: str | None
    provider: str | None
    status: str
    load: ClusterLoad | None  # the newest snapshot; None when the router never received one
    ctrl_nodes: int | None = None  # control-plane members, when the collector listed them
    created_at: datetime | None = None  # when it was registered (a cluster on order: when it was ordered)
    # Older snapshots of the last ``HISTORY_DAYS`` (oldest first): the trend the operator has seen.
    history: tuple[ClusterLoad, ...] = ()
    # The router's load now: the newest snapshot plus what it reserved and released since (None: the snapshot's).
    load_now: ClusterLoad | None = None


@dataclass(frozen=True, slots=True)
class LiveState:
    """What a source said, read at ``now``. ``ledger``: one row per reservation (``LEDGER_COLUMNS``; times are
    aware UTC, ``released_at`` NaT while active; ``volume_bytes`` only for active services; ``ram_bytes`` an active
    service's request, a released one's footprint RAM as reserved; ``region`` the one the request asked for, None
    where it named none); empty without one."""

    kind: str  # router_db, snapshots, state
    source: str  # the source as shown to people (a URL without its password)
    now: datetime
    clusters: tuple[LiveCluster, ...]
    ledger: pd.DataFrame = field(default_factory=lambda: empty_ledger())

    @property
    def has_ledger(self) -> bool:
        return self.kind == "router_db"


def empty_ledger() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in LEDGER_COLUMNS})


STALE_DAYS = 1.0  # a newest snapshot older than this is said: the growth since is partly or wholly missing


def stale_note(cluster: str, observed_at: datetime | None, now: datetime, has_ledger: bool) -> str | None:
    """What the output says of a cluster whose newest snapshot is more than ``STALE_DAYS`` old at ``now`` (the
    collector stopped, or a state file was written long ago): the run starts from its levels as if they were now's."""
    if observed_at is None:
        return None
    age = (now - _aware(observed_at)).total_seconds() / 86400.0
    if age <= STALE_DAYS:
        return None
    since = (
        "the ledger's reservations since are in the start, what it does not hold (customers it never saw) is not"
        if has_ledger
        else "the growth since is not in the start (the source has no ledger)"
    )
    return (
        f"cluster {cluster}: its newest snapshot is {age:.1f} days old (observed {_aware(observed_at).isoformat()}); "
        f"the run starts from its levels at {now.isoformat()}: {since}, so its dates lean late by up to "
        f"{age:.0f} days of growth"
    )


def check_not_future(observed_at: datetime | None, now: datetime, where: str) -> None:
    """The router's rule (``Store.put_load``): a snapshot more than the clock skew ahead of ``now`` is refused."""
    skew = timedelta(seconds=DEFAULT_MAX_CLOCK_SKEW_SECONDS)
    if observed_at is not None and _aware(observed_at) > now + skew:
        raise StartFromError(
            f"{where}: snapshot observed_at {_aware(observed_at).isoformat()} is more than "
            f"{skew.total_seconds():g} s ahead of the clock ({now.isoformat()}); a snapshot from the future is "
            "refused, as the router refuses it"
        )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- the router's database ------------------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """The URL as shown to people: without its password."""
    try:
        return make_url(db.normalise_url(url)).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _check_columns(conn: Any, shown: str) -> None:
    """A database of an older migration lacks columns the reader selects: say which, and how to bring it up to date
    (the reader never migrates it), rather than fail on the first query."""
    inspector = inspect(conn)
    lacking = [
        f"{table}.{column.name}"
        for table in ROUTER_TABLES
        for column in db.metadata.tables[table].columns
        if column.name not in {c["name"] for c in inspector.get_columns(table)}
    ]
    if lacking:
        revision = "unknown"
        if "alembic_version" in inspector.get_table_names():
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar() or "none"
        raise StartFromError(
            f"router database {shown}: its schema is older than this reader's (migration {revision}; no column "
            f"{', '.join(lacking)}): bring it up to date with `placement db upgrade --db URL` (the forecast opens it "
            "read only and never migrates it)"
        )


def _read_only_engine(url: str) -> Engine:
    normalised = db.normalise_url(url)
    parsed = make_url(normalised)
    if parsed.get_backend_name() == "sqlite":
        if db.sqlite_file_missing(url):
            raise StartFromError(f"router database {url}: no such SQLite file")
        path = Path(parsed.database)
        # mode=ro: SQLite itself refuses every write, and a missing file is not created.
        return create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    if parsed.get_backend_name() == "postgresql":
        engine = db.make_engine(url)  # the router's own PostgreSQL setup (schema, timeouts); it never migrates
        return engine.execution_options(postgresql_readonly=True)
    raise StartFromError(f"router database {safe_url(url)}: unsupported database (SQLite or PostgreSQL)")


def read_router_db(url: str, now: datetime) -> LiveState:
    """The router's clusters, their newest snapshots and the whole ledger, read only."""
    shown = safe_url(url)
    engine = _read_only_engine(url)
    try:
        with engine.connect() as conn:
            missing = sorted(set(ROUTER_TABLES) - set(inspect(conn).get_table_names()))
            if missing:
                raise StartFromError(
                    f"router database {shown}: not a router database (no table {', '.join(missing)}); it is "
                    "opened read only and never migrated"
                )
            _check_columns(conn, shown)
            cluster_rows = conn.execute(select(db.clusters).order_by(db.clusters.c.created_at, db.clusters.c.id)).all()
            current = conn.execute(
                select(db.cluster_counters.c.cluster_id, db.cluster_loads.c.id, db.cluster_loads.c.snapshot).join(
                    db.cluster_loads, db.cluster_loads.c.id == db.cluster_counters.c.load_id
                )
            ).all()
            snapshots = {cluster_id: document for cluster_id, _, document in current}
            # The load now, as the router decides on it: the newest snapshot plus what it reserved since.
            fleet = fleet_from_rows(conn.execute(FLEET).all(), conn.execute(NODES))
            effective = {cluster.id: load for cluster, load in fleet}
            loads = db.cluster_loads.c
            older = conn.execute(
                select(loads.id, loads.cluster_id, loads.snapshot)
                .where(loads.observed_at >= now - timedelta(days=HISTORY_DAYS + 1))
                .order_by(loads.observed_at, loads.id)
            ).all()
            newest = {load_id for _, load_id, _ in current}
            older = [(cluster_id, document) for load_id, cluster_id, document in older if load_id not in newest]
            ledger_rows = conn.execute(select(db.reservations).order_by(db.reservations.c.reserved_at)).all()
            volume_rows = conn.execute(select(db.volumes.c.service_id, db.volumes.c.size_bytes)).all()
            requested = dict(conn.execute(select(db.services.c.id, db.services.c.ram_bytes)).all())
    except StartFromError:
        raise
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StartFromError(f"router database {shown}: cannot read it: {reason}") from None
    finally:
        engine.dispose()
    history: dict[str, list[ClusterLoad]] = {}
    for cluster_id, document in older:
        past = _load_of(document)
        if past.observed_at is not None and _aware(past.observed_at) <= now:
            history.setdefault(cluster_id, []).append(past)
    clusters = []
    for row in cluster_rows:
        load = None
        if row.id in snapshots:
            load = _load_of(snapshots[row.id])
            check_not_future(load.observed_at, now, f"router database {shown}, cluster {row.id}")
        created = None if row.created_at is None else _aware(row.created_at)
        clusters.append(
            LiveCluster(row.id, row.region, row.storage_provider, row.status, load, None, created,
                        tuple(history.get(row.id, ())), effective.get(row.id) if load is not None else None)
        )  # fmt: skip
    if not clusters:
        raise StartFromError(f"router database {shown}: no clusters")
    if not ledger_rows:
        raise StartFromError(
            f"router database {shown}: the ledger (reservations) is empty: no placement to start from or to fit "
            "growth to"
        )
    volume_bytes: dict[str, int] = {}
    for service_id, size in volume_rows:
        volume_bytes[service_id] = volume_bytes.get(service_id, 0) + int(size)
    ledger = pd.DataFrame(
        {
            "service_id": [r.service_id for r in ledger_rows],
            "customer_id": [r.customer_id for r in ledger_rows],
            "cluster_id": [r.cluster_id for r in ledger_rows],
            # An active service's own request (the services table): the reservation's RAM is its footprint's,
            # which adds its volumes' storage RAM, and the simulator adds that again when it places the service.
            "ram_bytes": [
                int(requested.get(r.service_id, r.ram_bytes) if r.released_at is None else r.ram_bytes)
                for r in ledger_rows
            ],
            "pods": [int(r.pods) for r in ledger_rows],
            "volumes": [int(r.volumes) for r in ledger_rows],
            "volume_bytes": [volume_bytes.get(r.service_id, 0) if r.released_at is None else 0 for r in ledger_rows],
            "new_customer": [bool(r.new_customer) for r in ledger_rows],
            "reserved_at": pd.to_datetime([_aware(r.reserved_at) for r in ledger_rows], utc=True),
            "released_at": pd.to_datetime(
                [None if r.released_at is None else _aware(r.released_at) for r in ledger_rows], utc=True
            ),
            "region": pd.Series([r.region for r in ledger_rows], dtype="object"),
        }
    )
    future = ledger["reserved_at"] > now + timedelta(seconds=DEFAULT_MAX_CLOCK_SKEW_SECONDS)
    if future.any():
        raise StartFromError(
            f"router database {shown}: {int(future.sum())} reservations are dated after the clock ({now.isoformat()})"
        )
    return LiveState("router_db", shown, now, tuple(clusters), ledger)


def _load_of(document) -> ClusterLoad:
    """A stored ``ClusterLoadIn`` document (JSON text on SQLite, a mapping on PostgreSQL) as the model."""
    return ClusterLoadIn.model_validate(json.loads(document) if isinstance(document, str) else document).to_model()


# --- collector snapshots --------------------------------------------------------------------------------------


def read_snapshots(folder: str | Path, now: datetime) -> LiveState:
    """The newest collector snapshot of each cluster in ``folder`` (``*.json``, searched recursively)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StartFromError(f"snapshot folder {folder}: not a directory")
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise StartFromError(f"snapshot folder {folder}: no collector snapshots (*.json)")
    newest: dict[str, tuple[datetime, Snapshot]] = {}
    recent: dict[str, list[tuple[datetime, ClusterLoad]]] = {}  # the history window's, for the operator's trend
    for path in files:
        try:
            snapshot = Snapshot.model_validate_json(path.read_text())
        except OSError as exc:
            raise StartFromError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            raise StartFromError(
                f"{path}: not a collector snapshot: {format_loc(tuple(first['loc']))}: {first['msg']}"
            ) from None
        observed = snapshot.load.observed_at
        if observed is None:
            raise StartFromError(f"{path}: load.observed_at is missing; a snapshot must say when it was taken")
        check_not_future(observed, now, str(path))
        if _aware(observed) >= now - timedelta(days=HISTORY_DAYS + 1):
            recent.setdefault(snapshot.cluster_id, []).append((_aware(observed), snapshot.to_model()))
        current = newest.get(snapshot.cluster_id)
        if current is None or _aware(observed) > current[0]:
            newest[snapshot.cluster_id] = (_aware(observed), snapshot)
    clusters = []
    for cluster_id in sorted(newest):
        snapshot = newest[cluster_id][1]
        inventory = snapshot.inventory
        ctrl_nodes = len(inventory.control_plane_nodes) or None
        observed = newest[cluster_id][0]
        older = tuple(load for at, load in sorted(recent.get(cluster_id, []), key=lambda p: p[0]) if at < observed)
        clusters.append(
            LiveCluster(cluster_id, None, inventory.storage_provider, "active", snapshot.to_model(), ctrl_nodes,
                        None, older)
        )  # fmt: skip
    return LiveState("snapshots", str(folder), now, tuple(clusters))


# --- a state file ---------------------------------------------------------------------------------------------


def read_state(path: str | Path, now: datetime) -> LiveState:
    """A state YAML: its clusters (region, provider, status) and their load snapshots."""
    path = Path(path)
    try:
        state = load_yaml_model(path, FleetState)
    except ConfigError as exc:
        raise StartFromError(str(exc)) from None
    clusters = []
    for entry in state.clusters:
        cluster = entry.cluster.to_model()
        load = None if entry.load is None else entry.load.to_model()  # None: a cluster still provisioning
        if load is not None:
            check_not_future(load.observed_at, now, f"{path}, cluster {cluster.id}")
        clusters.append(
            LiveCluster(cluster.id, cluster.region, cluster.storage_provider, cluster.status, load,
                        created_at=cluster.created_at)
        )  # fmt: skip
    return LiveState("state", str(path), now, tuple(clusters))
