"""Placements booked from the event loop through psycopg's async connection (PostgreSQL).

On PostgreSQL a placement decided on the cached fleet is one statement that is its own transaction
(``placement.router.booking``). Sent from a database thread, it cost the router a thread hop each way (the
executor's queue, two futures, the GIL handed over twice) and SQLAlchemy's connection checkout with its pre-ping
round trip: together about a quarter of the process's CPU per placement, profiled under paced load. Here the
decision runs on the event loop (the engine on the cached fleet, ~20 µs) and the statement goes through a few
``psycopg.AsyncConnection``s kept for reuse, autocommitted. The customer's volume quota is read from the
write-through cache, and its guard stays in the statement.

From its decision until its statement's answer, a placement's footprint is held in the cached fleet
(``FleetCache.hold``): the placements decided meanwhile see that room taken, instead of all choosing the last slot
of the node that packing favours and all but one losing its guard. It is let go when the booking did not commit.

A lost guard (the statement undid itself: the room was taken since the decision) is decided once more on the
cached fleet, here on the loop. The cache holds what this process's placements booked, so a placement that lost
the last slot of a node to a concurrent one from this router chooses again without the database's help. Before,
it took the thread path, which read the whole fleet again through SQLAlchemy in a database thread: the slowest
~1 % of placements under paced load were those and the placements whose turn on the GIL they took (traced per
request, bench.router_http). A second loss (the room went to another process, which only a fresh read shows, or
the cached customer's count is behind) takes the thread path.

Everything else takes the thread path as before (``Reservations.place``), which decides again and answers as then:
SQLite, a fleet not cached, nothing fits on the cached fleet, a guard lost twice, a request id or service id seen
before (the ledger INSERT failed, undoing the statement), a deadlock or serialization failure (which the thread
path retries as it retries its own). The database gate's rules hold
(``DatabaseGate.call_on_loop``): the breaker, the deadline from the moment a connection is had, 503 past it. A
reused connection is not pinged: when it fails with connection trouble, the other idle ones are dropped (they were
opened before the same outage) and the placement takes the thread path, which pings, and trips the breaker if the
database is really gone. A statement is never half done: it either committed, and its retry is a replay, or it did
nothing. One that committed as its deadline fell is counted and cached all the same (``_settle_cancelled``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from sqlalchemy import bindparam, select

from placement.engine import Decision
from placement.router.booking import CUSTOMER_AFTER_INDEX, Booked, Booking, guard_lost
from placement.router.cache import Hold
from placement.router.db import loop_connect_args, reservations
from placement.router.fleet_rows import (
    COUNTS_OF_ANY,
    FLEET,
    NODES,
    FleetRows,
    counts_from_rows,
    customer_ids_json,
)
from placement.router.gate import DatabaseGate, is_unreachable
from placement.router.ledger import Placement, PlacementOrder
from placement.router.reservation import RETRYABLE_SQLSTATES
from placement.router.store import Store

# Decisions on the cached fleet per placement: the first, and one more after a lost guard.
LOOP_ATTEMPTS = 2
# The ledger row a booking writes, if its statement committed.
BOOKED = select(reservations.c.request_id).where(
    reservations.c.request_id == bindparam("request_id"), reservations.c.service_id == bindparam("service_id")
)


class _Lost(enum.Enum):
    LOST = "lost"


LOST = _Lost.LOST  # a booking whose guard was lost


class LoopConnections:
    """psycopg async connections to one PostgreSQL, autocommitted, at most ``size`` in use (``free`` counts them
    for the gate). The last one given back is the next one taken, so a few stay in use and keep their prepared
    statements (psycopg prepares a statement after its fifth run on a connection). Runs on one event loop.

    Each connection's bookings go through a cursor of its own per statement text (``cursor``): a cursor keeps its
    adapter map (the dumper of every parameter's type, a booking has ~40) only while it runs the same query object
    as last time, and makes a new one otherwise. ``AsyncConnection.execute`` makes a cursor, and so a map, per call;
    one cursor for the bookings with and without a volume (two statements) made one at every other booking.

    A statement is executed as bytes encoded once per text (``query``): given a ``str``, psycopg encodes it at every
    execute, and hashes the new bytes again to find the statement's parsed form in its cache (a booking's statement
    is ~4,000 characters). The statements' text is ASCII (names and placeholders; the values are parameters): the same
    bytes in every client encoding PostgreSQL has."""

    def __init__(self, connect_args: dict[str, Any], size: int):
        self.connect_args = connect_args
        self.size = size
        self._idle: list[psycopg.AsyncConnection] = []
        self._free: asyncio.Semaphore | None = None
        self._cursors: dict[psycopg.AsyncConnection, dict[str, psycopg.AsyncCursor]] = {}
        self._encoded: dict[str, bytes] = {}

    @property
    def free(self) -> asyncio.Semaphore:
        if self._free is None:  # made on the loop that uses it
            self._free = asyncio.Semaphore(self.size)
        return self._free

    async def take(self) -> tuple[psycopg.AsyncConnection, bool]:
        """A connection, and whether it was used before (an idle one) rather than opened now."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn, True
            self._cursors.pop(conn, None)
        return await psycopg.AsyncConnection.connect(autocommit=True, **self.connect_args), False

    def cursor(self, conn: psycopg.AsyncConnection, sql: str) -> psycopg.AsyncCursor:
        """The connection's own cursor for the statement ``sql`` (see the class's docstring): executed with that
        same ``str`` object, it keeps its adapter map."""
        cursors = self._cursors.get(conn)
        if cursors is None:
            cursors = self._cursors[conn] = {}
        cursor = cursors.get(sql)
        if cursor is None:
            cursor = cursors[sql] = conn.cursor()
        return cursor

    def query(self, sql: str) -> bytes:
        """``sql`` as the bytes to execute (see the class's docstring), encoded once."""
        query = self._encoded.get(sql)
        if query is None:
            query = self._encoded[sql] = sql.encode("ascii")
        return query

    async def give_back(self, conn: psycopg.AsyncConnection) -> None:
        # The transaction status from libpq's connection (``pgconn``) itself: ``conn.info`` makes a ConnectionInfo
        # and an enum member at every read, ~8,000 instructions a placement (callgrind).
        if conn.closed or conn.broken or conn.pgconn.transaction_status != TransactionStatus.IDLE:
            await self._close(conn)
        elif len(self._idle) < self.size:
            self._idle.append(conn)
        else:
            await self._close(conn)

    async def drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(psycopg.Error):
                await self._close(conn)

    async def _close(self, conn: psycopg.AsyncConnection) -> None:
        self._cursors.pop(conn, None)
        await conn.close()


class LoopPlacements:
    """The router's placements from the event loop, where they can be (see the module's docstring)."""

    def __init__(self, store: Store, gate: DatabaseGate, on_placed: Callable[[Decision], None]):
        connect_args = loop_connect_args(store.engine)
        self.connections = None if connect_args is None else LoopConnections(connect_args, gate.threads)
        self.store = store
        self.gate = gate
        self.on_placed = on_placed
        self.dialect = store.engine.dialect
        self.statements = store.reservations.statements
        self._reads: tuple[str, str, str] | None = None  # the fleet's reads as SQL text (``refill``)
        self._booked: str | None = None  # ``BOOKED`` as SQL text (``_settle_cancelled``)
        self._fleet_rows = FleetRows()  # what ``refill`` read last, and the fleet made of it

    async def place(self, order: PlacementOrder) -> Placement | None:
        """Placed from the event loop; None when the thread path must place it."""
        connections = self.connections
        store = self.store
        for _attempt in range(LOOP_ATTEMPTS):
            if connections is None or not self.gate.healthy:
                return None
            booking = store.reservations.booked_on_cache(order, store.clock())
            if booking is None:
                return None
            chosen = booking.placed
            hold = store.cache.hold(chosen.cluster_id, chosen.node, booking.footprint)
            try:
                book = functools.partial(self._book, connections, booking, hold)
                placed = await self.gate.call_on_loop(connections.free, book)
            finally:
                store.cache.let_go(hold)  # nothing once booked
            if placed is not LOST:
                return placed
        return None

    async def _book(self, connections: LoopConnections, booking: Booking, hold: Hold) -> Placement | _Lost | None:
        sql, params = self.statements.statement(self.dialect, booking)
        conn, reused = await connections.take()
        try:
            cursor = connections.cursor(conn, sql)
            await cursor.execute(connections.query(sql), params)
            row = await cursor.fetchone()
        except psycopg.Error as error:
            if guard_lost(error):
                return LOST  # the statement undid itself: decided again
            if isinstance(error, pg_errors.UniqueViolation) or error.sqlstate in RETRYABLE_SQLSTATES:
                # The statement undid itself: the thread path decides again, or answers the replay.
                return None
            if reused and is_unreachable(error):
                await connections.drop_idle()
                return None
            raise
        except asyncio.CancelledError:
            await self._settle_cancelled(conn, booking, hold)
            raise
        finally:
            await connections.give_back(conn)
        if row is None:
            return None
        booked = Booked(booking.task_queue, True, row[CUSTOMER_AFTER_INDEX])
        placed = booking.placed
        self.store.cache.booked(hold, booking.customer_after(booked))
        # Counted here, not by the caller: a placement made after its caller stopped waiting (a 503) still counts.
        self.on_placed(booking.decision)
        return Placement(placed, False, booking.decision)

    async def _settle_cancelled(self, conn: psycopg.AsyncConnection, booking: Booking, hold: Hold) -> None:
        """A booking cancelled past its deadline (``DatabaseGate.call_on_loop``; its caller was answered 503):
        psycopg cancelled the statement, or the statement had committed already and psycopg dropped its answer and
        raised the cancellation all the same. The ledger row tells which, so a booking made is counted and kept in
        the cache as an answered one is (its customer's count not known: the cache keeps the one it had, which the
        guard corrects). A connection psycopg closed had an error in place of the answer: nothing was booked."""
        if conn.closed or conn.broken or conn.pgconn.transaction_status != TransactionStatus.IDLE:
            return
        if self._booked is None:
            self._booked = str(BOOKED.compile(dialect=self.dialect))
        placed = booking.placed
        try:
            async with asyncio.timeout(self.gate.deadline):  # a database that stopped answering is not waited on
                cursor = await conn.execute(
                    self._booked, {"request_id": placed.request_id, "service_id": placed.service_id}
                )
                found = await cursor.fetchone()
        except (psycopg.Error, TimeoutError):
            return
        if found is not None:
            self.store.cache.booked(hold)
            self.on_placed(booking.decision)

    async def refill(self) -> bool:
        """Read the fleet, and the counts of the customers the cache knows, into the cache through these
        connections (``placement.router.refill`` calls it under the gate): the round trips are the loop's awaits,
        not a database thread's turns on the GIL, which slowed every placement in flight twice a second (traced).
        False when a reused connection went bad while idle: the caller reads through the thread path, which pings."""
        connections = self.connections
        if connections is None:
            return False
        if self._reads is None:
            self._reads = tuple(str(query.compile(dialect=self.dialect)) for query in (FLEET, NODES, COUNTS_OF_ANY))
        fleet_sql, nodes_sql, counts_sql = self._reads
        cache = self.store.cache
        begun = cache.begin_read()
        conn, reused = await connections.take()
        try:
            clusters = await conn.execute(fleet_sql)
            names = [column.name for column in clusters.description or ()]
            cluster_rows = await clusters.fetchall()
            node_rows = await (await conn.execute(nodes_sql)).fetchall()
            count_rows = []
            if begun.customers:
                count_rows = await (
                    await conn.execute(counts_sql, {"customer_ids": customer_ids_json(begun.customers)})
                ).fetchall()
        except psycopg.Error as error:
            if reused and is_unreachable(error):
                await connections.drop_idle()
                return False
            raise
        finally:
            await connections.give_back(conn)
        counts = counts_from_rows(begun.customers, count_rows) if begun.customers else {}
        cache.install(begun, self._fleet_rows.fleet(names, cluster_rows, node_rows), counts)
        return True

    async def close(self) -> None:
        if self.connections is not None:
            await self.connections.drop_idle()
