"""The database floor of a placement: the SQL statements one placement sends, replayed by a bare script.

``capture`` places through a ``Store`` in this process, the fleet cache freshly read, and records the statements the
placement sends with SQLAlchemy's ``before_cursor_execute`` event: whatever ``Reservations.place`` sends (on
PostgreSQL today one statement with the rows and the guarded UPDATEs, its own transaction), with their bound
parameters and whether they ran in a transaction. The floor is never a copy of the router's SQL: change the router's
statements and the floor follows. ``replay`` runs them again, each placement as the router ran it (in its own
transaction, or as autocommitted statements), through the driver and pool the router sends them with, at the
concurrency wrk has connections, with wrk's think time: autocommitted statements (PostgreSQL, the router's steady
state) from as many tasks on one event loop through ``LoopConnections`` (psycopg's async connections, as
``placement.router.loop_booking`` sends them; ``capture`` records the thread path's statement, built by the same
``BookingStatements.statement``); a transaction from as many threads through ``make_engine``'s pool. Each replay
gets fresh ids (request, service, customer), stays on the captured cluster (its counter row is as hot as the router
makes it) and moves to the cluster's next run node. The guards must keep matching (a lost guard undoes the
statement), so the replay lifts the guards' bound capacities (the cluster's limits, a node's default pod cap) and
adds nothing to a node's RAM and pods (``UNGROWN``: the same UPDATEs of the same rows, with 0 added): a saturated
10-second run places more on one cluster than the seeded fleet has room for. Before, a node's RAM ran out within
seconds, and the rest of such a run's statements undid themselves cheaply (92 % of a saturated run's on a quick host),
which is not a floor. A guard lost all the same is counted and its time kept, since the statement ran in full.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Json
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError

from bench.router_fleet import seed_bodies
from placement.router.booking import guard_lost
from placement.router.counters import NODE_COUNTERS
from placement.router.db import loop_connect_args
from placement.router.gate import DEFAULT_THREADS
from placement.router.loop_booking import LoopConnections
from placement.router.store import PlacementOrder, Store


@dataclass(frozen=True)
class Captured:
    statements: tuple[tuple[str, Any, bool], ...]
    names: dict[str, str]  # what each replay renames: request id, service id, customer id, node
    autocommit: bool  # the router ran them without a transaction of its own (each statement is one)


def loop_factory() -> asyncio.AbstractEventLoop:
    """The event loop the replay runs on: the router's (uvicorn's ``loop="auto"`` serves it on uvloop when installed,
    as ``uvicorn[standard]`` installs it), so the floor's driver runs on the same loop implementation."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# The guards' bound capacities, which the replay lifts to this whatever the router bound (``cap_<limit>``).
LIFTED_CAPACITY = 2**62
# What a booking adds to a node's counters (its RAM and pods), which the replay binds as 0 so that a node's room never
# runs out (the cluster's pods too, whose capacity is lifted anyway): the parameter names the counters' UPDATEs bind.
UNGROWN = frozenset(f"add_{counter}" for counter in NODE_COUNTERS)


def capture(store: Store, order: PlacementOrder) -> Captured:
    """The statements ``store`` sends to place ``order``, with the fleet cache warm as the router keeps it (it reads
    the fleet outside placements' transactions, ``placement.router.refill``)."""
    store.refresh_fleet()
    sent: list[tuple[str, Any, bool]] = []
    isolation: set[str | None] = set()

    def record(conn, _cursor, statement, parameters, _context, executemany) -> None:
        if statement.upper().startswith("BEGIN"):
            return  # SQLite's BEGIN IMMEDIATE (``make_engine``): a replay's ``engine.begin()`` sends its own
        sent.append((statement, parameters, executemany))
        isolation.add(conn.get_execution_options().get("isolation_level"))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        placed = store.place(order).placed
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    names = {
        "request": order.request_id,
        "service": placed.service_id,
        "customer": order.request.customer_id or "",
        "node": placed.node or "",
    }
    return Captured(tuple(sent), names, isolation == {"AUTOCOMMIT"})


# The seeded clusters' run nodes (``bench.router_fleet``), which the floor's replays go round.
FLOOR_NODES = [node["name"] for node in seed_bodies()[0][1]["run_nodes"]]


def capture_placements(engine: Engine, prefix: str = "floor") -> list[Captured]:
    """The statements of the router's bench placements (256Mi, and 256Mi with a 5Gi volume) on the seeded fleet,
    as the database floor replays them. ``prefix``: of the captured placements' ids, new to the database."""
    from placement.state import RequestIn

    store = Store(engine)
    # The fleet cache warm first.
    warm = f"{prefix}-warm"
    store.place(PlacementOrder(warm, warm, RequestIn(customer_id=warm, ram="256Mi")))
    return [
        capture(
            store,
            PlacementOrder(
                f"{prefix}-{kind}",
                f"{prefix}-{kind}",
                RequestIn(customer_id=f"{prefix}-{kind}", ram="256Mi", volumes=volumes),
            ),
        )
        for kind, volumes in (("plain", []), ("volume", [{"size": "5Gi"}]))
    ]


def _renamed(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, str):
        if value in renames:
            return renames[value]
        for old, new in renames.items():
            if old.startswith("svc-") and old in value:
                return value.replace(old, new)
        return value
    if isinstance(value, Json):  # as sent: the same serialiser (the router's JSON text is given serialised)
        return Json(_renamed(value.obj, renames), value.dumps)
    if isinstance(value, dict):
        return {
            key: LIFTED_CAPACITY if key.startswith("cap_") else 0 if key in UNGROWN else _renamed(item, renames)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_renamed(item, renames) for item in value)
    return value


@dataclass
class ReplayResult:
    latencies_ms: list[float]
    seconds: float
    cpu_seconds: float
    guards_lost: int = 0


def replay(
    engine: Engine,
    captured: list[Captured],
    nodes: list[str],
    *,
    connections: int,
    duration: float,
    mean_delay_ms: float,
    prefix: str,
    on_start: Callable[[], None] | None = None,
    warm_up: float = 0.0,
) -> ReplayResult:
    """Replay the captured placements in turn from ``connections`` tasks (autocommitted statements) or threads (a
    transaction) for ``warm_up`` seconds, not measured, then ``duration`` seconds, measured: the same tasks, rate
    and connections throughout."""
    connect_args = loop_connect_args(engine)
    if connect_args is not None and all(placement.autocommit for placement in captured):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(
                _replay_on_loop(
                    LoopConnections(connect_args, DEFAULT_THREADS),  # the router's: wrk's connections beyond it wait
                    connections,
                    captured,
                    nodes,
                    duration=duration,
                    mean_delay_ms=mean_delay_ms,
                    prefix=prefix,
                    on_start=on_start,
                    warm_up=warm_up,
                )
            )
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = [0.0]
    measure_from = [0.0]
    autocommitted = engine.execution_options(isolation_level="AUTOCOMMIT")
    # A placement's transaction writes: on SQLite it takes the write lock up front, as the store's do (``make_engine``).
    writing = engine.execution_options(write=True)
    lost = [0] * connections

    def worker(thread: int) -> None:
        rng = np.random.default_rng(np.random.SeedSequence(thread))  # think times, as wrk's math.random
        mine: list[float] = []
        count = 0
        while time.monotonic() < stop_at[0]:
            if mean_delay_ms:
                time.sleep(rng.uniform(0, 2 * mean_delay_ms) / 1000)
            count += 1
            placement = captured[count % len(captured)]
            # Renamed before the clock starts, as on the loop.
            statements = renamed(placement, f"{prefix}-{thread}-{count}", nodes[count % len(nodes)])
            measured = time.monotonic() >= measure_from[0]
            started = time.perf_counter()
            try:
                with autocommitted.connect() if placement.autocommit else writing.begin() as conn:
                    for statement, parameters, _many in statements:
                        conn.exec_driver_sql(statement, parameters)
            except DBAPIError as error:
                if not guard_lost(error.orig):
                    raise
                lost[thread] += measured
            if measured:
                mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    # Every connection opened before the clock starts, as wrk's are.
    warm = [engine.connect() for _ in range(connections)]
    for conn in warm:
        conn.close()
    threads = [threading.Thread(target=worker, args=(index,)) for index in range(connections)]
    if on_start is not None:
        on_start()
    measure_from[0] = time.monotonic() + warm_up
    stop_at[0] = measure_from[0] + duration
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from[0] - time.monotonic()))
    cpu, started = time.process_time(), time.monotonic()
    for thread in threads:
        thread.join()
    return ReplayResult(latencies, time.monotonic() - started, time.process_time() - cpu, sum(lost))


def renamed(placement: Captured, tag: str, node: str) -> list[tuple[str, Any, bool]]:
    """``placement``'s statements as one replay sends them: fresh ids (``tag``), on ``node``."""
    renames = _renames(placement, tag, node)
    return [
        (statement, [_renamed(p, renames) for p in parameters] if many else _renamed(parameters, renames), many)
        for statement, parameters, many in placement.statements
    ]


async def send_on_loop(pool: LoopConnections, statements: list[tuple[str, Any, bool]]) -> bool:
    """One replay's autocommitted statements through ``pool``, as the router sends its bookings; True when the
    statement undid itself at a guard (counted by the caller, its time kept: it ran in full)."""
    async with pool.free:
        conn, _reused = await pool.take()
        try:
            for statement, parameters, many in statements:
                if many:
                    await conn.cursor().executemany(statement, parameters)
                else:
                    # Through the pool's cursor for the statement, as the router's bookings are sent.
                    await pool.cursor(conn, statement).execute(pool.query(statement), parameters)
        except psycopg.Error as error:
            if not guard_lost(error):
                raise
            return True
        finally:
            await pool.give_back(conn)
    return False


def _renames(placement: Captured, tag: str, node: str) -> dict[str, str]:
    """Fresh ids for one replay, on ``node``."""
    names = placement.names
    return {
        names["request"]: f"r-{tag}",
        names["service"]: f"svc-{tag}",
        names["customer"]: f"c-{tag}",
        names["node"]: node,
    }


async def _replay_on_loop(
    pool: LoopConnections,
    tasks: int,
    captured: list[Captured],
    nodes: list[str],
    *,
    duration: float,
    mean_delay_ms: float,
    prefix: str,
    on_start: Callable[[], None] | None,
    warm_up: float,
) -> ReplayResult:
    latencies: list[float] = []
    lost = [0]
    stop_at = [0.0]
    measure_from = [0.0]

    async def worker(task: int) -> None:
        rng = np.random.default_rng(np.random.SeedSequence(task))  # think times, as wrk's math.random
        count = 0
        while time.monotonic() < stop_at[0]:
            if mean_delay_ms:
                await asyncio.sleep(rng.uniform(0, 2 * mean_delay_ms) / 1000)
            count += 1
            # Renamed before the clock starts: the replay's own work, not the statements'.
            statements = renamed(captured[count % len(captured)], f"{prefix}-{task}-{count}", nodes[count % len(nodes)])
            measured = time.monotonic() >= measure_from[0]
            started = time.perf_counter()
            if await send_on_loop(pool, statements):
                lost[0] += measured
            if measured:
                latencies.append((time.perf_counter() - started) * 1000)

    # Every connection opened before the clock starts, as wrk's are.
    warm = [(await pool.take())[0] for _ in range(min(tasks, pool.size))]
    for conn in warm:
        await pool.give_back(conn)
    if on_start is not None:
        on_start()
    measure_from[0] = time.monotonic() + warm_up
    stop_at[0] = measure_from[0] + duration
    running = asyncio.gather(*(worker(task) for task in range(tasks)))
    await asyncio.sleep(max(0.0, measure_from[0] - time.monotonic()))
    cpu, started = time.process_time(), time.monotonic()
    await running
    took = time.monotonic() - started
    cpu = time.process_time() - cpu
    await pool.drop_idle()
    return ReplayResult(latencies, took, cpu, lost[0])
