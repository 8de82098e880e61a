"""The router's tables (SQLAlchemy 2 Core) and engine setup for SQLite and PostgreSQL.

``clusters`` and ``volumes`` follow the design document column for column; ``services`` carries
``cluster_id``. The rest is the router's own bookkeeping:

- ``cluster_loads``: every load snapshot received, with ``observed_at``;
- ``cluster_counters`` / ``node_counters``: the current snapshot's figures plus what was reserved since it was
  observed; the guarded UPDATEs of a reservation run against these rows;
- ``reservations``: the ledger, one row per placement request id (the idempotency key); a service id is
  unique among the active rows, so a released one can be placed again under a new request id;
- ``customer_volumes``: volumes per customer, guarded by the plan's quota;
- ``forecasts`` / ``forecast_rows``: what ``sim forecast --publish`` wrote, one header and a row per cluster and
  limit (``placement.router.forecasts``). The router only reads them.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
)
from sqlalchemy.engine import make_url

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

clusters = Table(
    "clusters",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("task_queue", Text, nullable=False, unique=True),
    Column("api_endpoint", Text),
    Column("storage_provider", Text, nullable=False, server_default="longhorn"),
    Column("registry_url", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

services = Table(
    "services",
    metadata,
    Column("id", Text, primary_key=True),
    Column("cluster_id", Text, ForeignKey("clusters.id"), nullable=False, index=True),
    Column("customer_id", Text, nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("repo", Text),
    Column("ram_bytes", BigInteger, nullable=False),
    Column("pods", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

volumes = Table(
    "volumes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("service_id", Text, ForeignKey("services.id"), nullable=False, index=True),
    Column("cluster_id", Text, ForeignKey("clusters.id"), nullable=False),
    Column("mount_path", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("node_name", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

cluster_loads = Table(
    "cluster_loads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cluster_id", Text, ForeignKey("clusters.id"), nullable=False, index=True),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("snapshot", JSON, nullable=False),  # the ClusterLoadIn document
)

cluster_counters = Table(
    "cluster_counters",
    metadata,
    Column("cluster_id", Text, ForeignKey("clusters.id"), primary_key=True),
    Column("load_id", Integer, ForeignKey("cluster_loads.id")),
    Column("observed_at", DateTime(timezone=True)),
    Column("ctrl_node_type", Text),
    Column("base_volumes", Integer, nullable=False, server_default="0"),
    Column("base_services", Integer, nullable=False, server_default="0"),
    Column("base_customers", Integer, nullable=False, server_default="0"),
    Column("base_pods", Integer, nullable=False, server_default="0"),
    Column("base_objects", Integer, nullable=False, server_default="0"),
    Column("reserved_volumes", Integer, nullable=False, server_default="0"),
    Column("reserved_services", Integer, nullable=False, server_default="0"),
    Column("reserved_customers", Integer, nullable=False, server_default="0"),
    Column("reserved_pods", Integer, nullable=False, server_default="0"),
    Column("reserved_objects", Integer, nullable=False, server_default="0"),
    # The replicas' raw disk (0007): the snapshot's, what was reserved since, and the usable disk the collector
    # measured (NULL: not known, and then no disk guard binds).
    Column("base_disk", BigInteger, nullable=False, server_default="0"),
    Column("reserved_disk", BigInteger, nullable=False, server_default="0"),
    Column("capacity_disk", BigInteger),
)

node_counters = Table(
    "node_counters",
    metadata,
    Column("cluster_id", Text, ForeignKey("clusters.id"), primary_key=True),
    Column("node_name", Text, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("allocatable_ram", BigInteger, nullable=False),
    Column("requested_ram", BigInteger, nullable=False),
    Column("pods", Integer, nullable=False),
    Column("max_pods", Integer),
    Column("schedulable", Boolean, nullable=False),
    Column("reserved_ram", BigInteger, nullable=False, server_default="0"),
    Column("reserved_pods", Integer, nullable=False, server_default="0"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("request_id", String(200), primary_key=True),
    Column("body_hash", Text, nullable=False),
    # Unique among active placements only (the index below): a released service id may be placed again.
    Column("service_id", Text, nullable=False, index=True),
    Column("cluster_id", Text, ForeignKey("clusters.id"), nullable=False, index=True),
    Column("node_name", Text),
    Column("customer_id", Text, nullable=False),
    Column("ram_bytes", BigInteger, nullable=False),
    Column("pods", Integer, nullable=False),
    Column("volumes", Integer, nullable=False),
    Column("objects", Integer, nullable=False),
    Column("new_customer", Boolean, nullable=False),
    Column("disk_bytes", BigInteger, nullable=False, server_default="0"),  # the replicas' raw disk (0007)
    # The region the request asked for (0010; NULL: it named none, or it was placed before 0010). The cluster may
    # be in another: with none open in the region asked for, the engine's preferred mode places it elsewhere.
    Column("region", Text),
    Column("reserved_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True)),
    Column("response", JSON, nullable=False),
    CheckConstraint("ram_bytes >= 0 AND pods >= 0 AND volumes >= 0 AND objects >= 0", name="non_negative"),
)
Index(
    "ix_reservations_active_service_id",
    reservations.c.service_id,
    unique=True,
    sqlite_where=reservations.c.released_at.is_(None),
    postgresql_where=reservations.c.released_at.is_(None),
)

customer_volumes = Table(
    "customer_volumes",
    metadata,
    Column("customer_id", Text, primary_key=True),
    Column("volumes", Integer, nullable=False, server_default="0"),
    CheckConstraint("volumes >= 0", name="non_negative"),
)

forecasts = Table(
    "forecasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("horizon_days", Float, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("base", Text, nullable=False),
    # What the numbers rest on and where the model and the fleet disagree, as the forecast said it (0008).
    Column("warnings", JSON, nullable=False, server_default="[]"),
    CheckConstraint("horizon_days > 0 AND runs > 0", name="positive"),
)

forecast_rows = Table(
    "forecast_rows",
    metadata,
    Column("forecast_id", Integer, ForeignKey("forecasts.id", ondelete="CASCADE"), primary_key=True),
    Column("cluster", Text, primary_key=True),
    Column("limit", Text, primary_key=True),
    Column("unit", Text, nullable=False),
    Column("used", BigInteger, nullable=False),
    Column("capacity", BigInteger),
    # Days from the forecast's as_of; NULL: the limit does not bind within the horizon.
    Column("p10_days", Float),
    Column("p50_days", Float),
    Column("p90_days", Float),
    Column("order_by_days", Float),
    Column("action", Text),
    Column("lead_days", Float),
)

# When the simulated operator first ordered each kind of capacity for each cluster, over the runs (0009).
forecast_orders = Table(
    "forecast_orders",
    metadata,
    Column("forecast_id", Integer, ForeignKey("forecasts.id", ondelete="CASCADE"), primary_key=True),
    Column("cluster", Text, primary_key=True),
    Column("order", Text, primary_key=True),
    Column("runs_ordering", Float, nullable=False),
    Column("p10_days", Float),
    Column("p50_days", Float),
    Column("p90_days", Float),
    Column("lead_days", Float, nullable=False),
    Column("limit", Text),
    CheckConstraint("runs_ordering >= 0 AND runs_ordering <= 1", name="share"),
)


def normalise_url(url: str) -> str:
    """``postgresql://`` (and ``postgres://``) mean psycopg 3; a bare path means a SQLite file."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if "://" not in url:
        return f"sqlite:///{url}"
    return url


def sqlite_file_missing(url: str) -> bool:
    """Whether ``url`` is a SQLite database whose file is not there: what opens the router's database without owning
    it (a publisher, a collector, a forecast's source) refuses it rather than let SQLite make an empty database where
    a mistyped path points."""
    parsed = make_url(normalise_url(url))
    return parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file())


def make_engine(url: str, *, connect_timeout: float = 2.0) -> Engine:
    """One engine per process. SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE for writing transactions."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=8, max_overflow=16
        )
        _sqlite_transactions(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        schema = parsed.query.get("schema")
        options = {"connect_timeout": max(1, round(connect_timeout))}
        if schema:
            options["options"] = f"-csearch_path={schema}"
            parsed = parsed.difference_update_query(["schema"])
        engine = create_engine(
            parsed,
            connect_args=options,
            pool_size=16,
            max_overflow=16,
            pool_timeout=connect_timeout,
            pool_pre_ping=True,
        )
        _, params = engine.dialect.create_connect_args(engine.url)
        _LOOP_CONNECT_ARGS[engine] = {**params, **options}
        return engine
    return create_engine(url, pool_pre_ping=True)


_LOOP_CONNECT_ARGS: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()


def loop_connect_args(engine: Engine) -> dict[str, Any] | None:
    """The arguments of psycopg's ``AsyncConnection.connect`` that reach ``engine``'s PostgreSQL as its own pool
    does (host, database, user, search path, timeout, SQLAlchemy's adapters); None for SQLite, or an engine
    ``make_engine`` did not make."""
    return _LOOP_CONNECT_ARGS.get(engine)


def _sqlite_transactions(engine: Engine) -> None:
    # SQLAlchemy's SQLite dialect docs, "Serializable isolation / Savepoints / Transactional DDL": let the
    # driver stop issuing BEGIN itself, then emit our own. Writers take the lock up front (BEGIN IMMEDIATE),
    # so a read-check-write never interleaves with another writer; readers stay deferred.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")
