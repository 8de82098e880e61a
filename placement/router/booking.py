"""The SQL that books one placement: its rows first, the guarded counter UPDATEs last.

A reservation writes the ledger row, the service and its volumes, then adds its footprint to the chosen
cluster's counters, the node's and the customer's volume count, each UPDATE guarded (``placement.router.counters``).
The counters come last so a cluster's counter row, the row every placement on that cluster waits for, is held
from its UPDATE to the COMMIT and no longer.

On PostgreSQL all of it is one statement (data-modifying CTEs): the rows, then the cluster's counters, the node's
(only once the cluster's matched) and the customer's (only once the node's matched), which is the lock order of
every writer (see ``Repository``). The statement reads the rows' CTEs first, so they are written before any
counter row is locked. When a guard matched no row, or the cluster's task queue is not the one decided on, the
statement calls ``capplan_guard_lost()`` (migration 0006), whose error undoes all of it. So the statement is a
whole reservation by itself: it runs as its own transaction, without BEGIN and COMMIT round trips, and no
client's Python runs while a counter row is held. SQLite has no data-modifying CTEs: the same statements run one
by one, in the same order, in the caller's transaction (its writers take turns anyway, ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    null,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from placement.engine import Decision
from placement.footprint import Footprint
from placement.router import counters
from placement.router.booking_params import (
    VOLUME_PARAMS,
    Compiled,
    binds,
    json_param,
    prefixed,
    volume_id,
    volume_params,
)
from placement.router.db import customer_volumes, reservations, services, volumes
from placement.router.ledger import PlacedService

_LEDGER = tuple(column.name for column in reservations.c if column.name != "released_at")
_SERVICE = tuple(column.name for column in services.c)
_VOLUME = tuple(column.name for column in volumes.c)
# The error ``capplan_guard_lost()`` raises (migration 0006).
GUARD_LOST_SQLSTATE = "CP001"
CUSTOMER_AFTER = "customer_after"
# Its place in the PostgreSQL statement's one row (``_combine``: the rows' counts, then it, then ``holds``): read by
# position, the answer needs no column descriptions (psycopg builds them per cursor when asked).
CUSTOMER_AFTER_INDEX = -2


def guard_lost(driver_error: BaseException | None) -> bool:
    """The booking statement's error when a guard matched no row: it undid itself."""
    return getattr(driver_error, "sqlstate", None) == GUARD_LOST_SQLSTATE


@dataclass(slots=True)
class BookingRows:
    """A booking's rows and counters' parameters as the statements run in turn bind them (SQLite)."""

    ledger: dict[str, Any]
    service: dict[str, Any]
    volumes: list[dict[str, Any]]
    on_cluster: dict[str, Any]  # counters.reserve_on_cluster's parameters
    on_node: dict[str, Any]  # counters.reserve_on_node's parameters

    @classmethod
    def of(
        cls,
        placed: PlacedService,
        body_hash: str,
        customer_id: str,
        now: Any,
        response: dict[str, Any],
        service: tuple[str, str | None, int, int],
        volume_rows: list[tuple[str, int]],
        ledger: dict[str, Any],
        on_cluster: dict[str, Any],
        on_node: dict[str, Any],
        region: str | None,
    ) -> BookingRows:
        """The rows of ``placed`` (as ``BookingStatements.statement_params`` takes them), ``response`` its
        ``PlacedService`` as JSON values; ``ledger``, ``on_cluster`` and ``on_node`` its footprint's values and the
        counters' (``counters.ledger_values``; the additions and capacities, the matched control-plane type);
        ``region`` the one the request asked for."""
        service_id, cluster_id, node_name = placed.service_id, placed.cluster_id, placed.node
        name, repo, ram_bytes, pods = service
        return cls(
            ledger={
                "request_id": placed.request_id,
                "body_hash": body_hash,
                "service_id": service_id,
                "cluster_id": cluster_id,
                "node_name": node_name,
                "customer_id": customer_id,
                "reserved_at": now,
                "response": response,
                "region": region,
                **ledger,
            },
            service={
                "id": service_id,
                "cluster_id": cluster_id,
                "customer_id": customer_id,
                "name": name,
                "repo": repo,
                "ram_bytes": ram_bytes,
                "pods": pods,
                "created_at": now,
            },
            volumes=[
                {
                    "id": volume_id(service_id, index),
                    "service_id": service_id,
                    "cluster_id": cluster_id,
                    "mount_path": mount_path,
                    "size_bytes": size_bytes,
                    "node_name": node_name,
                    "created_at": now,
                }
                for index, (mount_path, size_bytes) in enumerate(volume_rows)
            ],
            on_cluster={"match_cluster_id": cluster_id, **on_cluster},
            on_node={"match_cluster_id": cluster_id, "match_node_name": node_name, **on_node},
        )


@dataclass(slots=True)
class Booking:
    """Everything one reservation writes, as bound values, and what it books (the placement, its footprint and
    the decision that chose it). Made at every placement: not frozen, and nothing assigns to it once made
    (``placement.router.cache`` says why).

    The values are bound as the backend's statements take them, built once: on PostgreSQL the one statement's
    parameters (``params``, ``BookingStatements.params``), on SQLite the rows of the statements run in turn
    (``rows``). The other is None."""

    binding: tuple[str, ...]  # the guarded limits this placement grows (counters.guards_that_bind)
    task_queue: str  # the cluster's task queue as the decision saw it: a different one loses the guard
    volume_count: int
    customer: tuple[str, int, int] | None  # (customer id, volumes added, most it may hold after), or None
    placed: PlacedService
    footprint: Footprint
    decision: Decision
    params: dict[str, Any] | None = None
    rows: BookingRows | None = None

    def customer_after(self, booked: Booked) -> tuple[str, int] | None:
        """The customer and their volume count after a booking that held, when it counted them."""
        if self.customer is None:
            return None
        return self.customer[0], int(booked.customer_volumes)


@dataclass(slots=True)
class Booked:
    """What the guards answered: ``task_queue`` is None when the cluster's guard did not match. Not frozen, as
    ``Booking``."""

    task_queue: str | None
    node_matched: bool
    customer_volumes: int | None  # the customer's count after it; None when not asked or its guard did not match

    def holds(self, booking: Booking) -> bool:
        return (
            self.task_queue == booking.task_queue
            and self.node_matched
            and (booking.customer is None or self.customer_volumes is not None)
        )


class BookingStatements:
    """Builds (once per shape) and runs a booking's statements. Thread-safe: the built statements never change."""

    def __init__(self, backend: str):
        self.backend = backend
        self._combined: dict[tuple[tuple[str, ...], int, bool], Compiled] = {}
        self._on_cluster: dict[tuple[str, ...], Any] = {}
        self._on_node = counters.reserve_on_node()

    @property
    def in_one_statement(self) -> bool:
        """The booking is one statement that undoes itself when a guard is lost: it needs no transaction."""
        return self.backend == "postgresql"

    def book(self, conn: Connection, booking: Booking) -> Booked:
        if self.in_one_statement:
            return self._book_in_one(conn, booking)
        return self._book_in_turn(conn, booking)

    def on_cluster(self, binding: tuple[str, ...]) -> Any:
        statement = self._on_cluster.get(binding)
        if statement is None:
            statement = self._on_cluster[binding] = counters.reserve_on_cluster(binding)
        return statement

    # --- PostgreSQL: one statement -------------------------------------------------------------------------

    def statement(self, dialect: Any, booking: Booking) -> tuple[str, dict[str, Any]]:
        """The booking's one statement as SQL text and the driver's parameters (PostgreSQL; compiled once per
        shape). It answers one row, ``customer_after`` in column ``CUSTOMER_AFTER``; a lost guard is an error,
        ``guard_lost``."""
        shape = (booking.binding, booking.volume_count, booking.customer is not None)
        statement = self._combined.get(shape)
        if statement is None:
            statement = self._combined[shape] = Compiled.of(self._combine(*shape), dialect)
        return statement.sql, statement.processed(booking.params)

    @staticmethod
    def fixed_params(ledger: dict[str, Any], on_cluster: dict[str, Any], on_node: dict[str, Any]) -> dict[str, Any]:
        """The statement's parameters that are the same for every booking of one footprint on one kind of cluster
        (``counters.ledger_values``, and the counters' additions, capacities and matched control-plane type): made
        once each by the caller, and copied into each booking's ``statement_params``."""
        return {**prefixed(reservations, ledger, "l_"), **on_cluster, **on_node}

    @staticmethod
    def statement_params(
        fixed: dict[str, Any],
        placed: PlacedService,
        body_hash: str,
        customer_id: str,
        now: Any,
        response: bytes,
        service: tuple[str, str | None, int, int],
        volume_rows: list[tuple[str, int]],
        customer: tuple[str, int, int] | None,
        region: str | None,
    ) -> dict[str, Any]:
        """The one statement's parameters (PostgreSQL), built directly: ``fixed`` (``fixed_params``), the ledger
        row's own values and ``response`` (the ``PlacedService``'s JSON text), the service's (name, repo, RAM,
        pods), each volume's (mount path, size), the customer's (id, added, allowed) and the region the request
        asked for. The names are the statement's bind names (``_combine``; the shared ones in ``SHARED``)."""
        service_id = placed.service_id
        name, repo, ram_bytes, pods = service
        params = {
            **fixed,
            "l_request_id": placed.request_id,
            "l_body_hash": body_hash,
            "service_id": service_id,
            "match_cluster_id": placed.cluster_id,
            "match_node_name": placed.node,
            "customer_id": customer_id,
            "now": now,
            "l_response": json_param(response),
            "l_region": region,
            "s_name": name,
            "s_repo": repo,
            "s_ram_bytes": ram_bytes,
            "s_pods": pods,
            "expected_task_queue": placed.task_queue,
        }
        for index, (mount_path, size_bytes) in enumerate(volume_rows):
            names = VOLUME_PARAMS[index] if index < len(VOLUME_PARAMS) else volume_params(index)
            params[names[0]] = volume_id(service_id, index)
            params[names[1]] = mount_path
            params[names[2]] = size_bytes
        if customer is not None:
            params["customer_added"] = customer[1]
            params["customer_allowed"] = customer[2]
        return params

    def _book_in_one(self, conn: Connection, booking: Booking) -> Booked:
        sql, params = self.statement(conn.dialect, booking)
        try:
            customer_after = conn.exec_driver_sql(sql, params).one().customer_after
        except DBAPIError as error:
            if guard_lost(error.orig):
                return Booked(None, False, None)  # the statement undid itself
            raise
        return Booked(booking.task_queue, True, customer_after)

    def _combine(self, binding: tuple[str, ...], volume_count: int, counts_customer: bool) -> Any:
        rows = [
            insert(reservations)
            .values(binds(reservations, _LEDGER, "l_"))
            .returning(literal_column("1"))
            .cte("ledger"),
            insert(services).values(binds(services, _SERVICE, "s_")).returning(literal_column("1")).cte("service"),
        ]
        # One INSERT per volume: SQLAlchemy does not cache a statement with a multi-row VALUES.
        rows += [
            insert(volumes)
            .values(binds(volumes, _VOLUME, f"v{index}_"))
            .returning(literal_column("1"))
            .cte(f"volume_{index}")
            for index in range(volume_count)
        ]
        on_cluster = counters.reserve_on_cluster(binding).cte("on_cluster")
        # The node's UPDATE runs only once the cluster's matched, so the cluster's row is always locked first.
        on_node = (
            self._on_node.where(exists(select(on_cluster.c[0])))
            .returning(literal_column("1").label("matched"))
            .cte("on_node")
        )
        holds = [
            select(on_cluster.c[0]).scalar_subquery() == bindparam("expected_task_queue", type_=Text),
            select(func.count().label("n")).select_from(on_node).scalar_subquery() == literal_column("1"),
        ]
        customer_after: Any = null()
        if counts_customer:
            row = customer_volumes.c
            added = bindparam("customer_added", type_=Integer)
            customer = (
                pg_insert(customer_volumes)
                .from_select(
                    ["customer_id", "volumes"],
                    select(bindparam("customer_id", type_=Text), added).where(exists(select(on_node.c.matched))),
                )
                .on_conflict_do_update(
                    index_elements=[row.customer_id],
                    set_={"volumes": row.volumes + added},
                    where=row.volumes + added <= bindparam("customer_allowed", type_=Integer),
                )
                .returning(row.volumes)
                .cte("customer")
            )
            customer_after = select(customer.c.volumes).scalar_subquery()
            holds.append(customer_after.is_not(None))
        # The rows' CTEs are read first (PostgreSQL evaluates the select list in order, and runs a data-modifying
        # CTE when it is first read), so the rows are written before the counters' rows are locked.
        written = [select(func.count().label("n")).select_from(cte).scalar_subquery().label(cte.name) for cte in rows]
        guard = case((and_(*holds), true()), else_=func.capplan_guard_lost(type_=Boolean))
        # CUSTOMER_AFTER_INDEX: the next-to-last column.
        return select(*written, customer_after.label(CUSTOMER_AFTER), guard.label("holds")).add_cte(*rows)

    # --- SQLite: the same statements in turn ----------------------------------------------------------------

    def _book_in_turn(self, conn: Connection, booking: Booking) -> Booked:
        rows = booking.rows
        conn.execute(insert(reservations), rows.ledger)
        conn.execute(insert(services), rows.service)
        if rows.volumes:
            conn.execute(insert(volumes), rows.volumes)
        on_cluster = conn.execute(self.on_cluster(booking.binding), rows.on_cluster).first()
        if on_cluster is None:
            return Booked(None, False, None)
        if conn.execute(self._on_node, rows.on_node).rowcount != 1:
            return Booked(on_cluster[0], False, None)
        after = None
        if booking.customer is not None:
            customer_id, added, allowed = booking.customer
            row = customer_volumes.c
            statement = sqlite_insert(customer_volumes).values(customer_id=customer_id, volumes=added)
            after = conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[row.customer_id],
                    set_={"volumes": row.volumes + added},
                    where=row.volumes + added <= allowed,
                ).returning(row.volumes)
            ).scalar()
        return Booked(on_cluster[0], True, after)
