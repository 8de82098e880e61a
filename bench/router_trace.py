"""Where a paced placement's time goes inside the router, beside the database floor, in one run.

    python -m bench.router_trace [--duration 10] [--runs 2] [--workers 1]
        [--pg postgresql://postgres@127.0.0.1:5432/test]

The server is ``bench.router_floor``'s, served as it serves it, with timestamps taken in its process: when uvicorn's
parser begins a placement (its bytes were read), when its endpoint starts and when its answer is written (the
router's protocol answers a well-formed placement itself: ``placement.router.http_protocol``), and the span of its
booking statement on the event loop (``LoopPlacements._book``: a connection taken, the statement sent and
answered); the fleet refills and the garbage collections, with their times. The hooks are this module's (a protocol
subclass, the app's lifespan wrapped to write the trace, ``_book`` and ``refill`` wrapped, in the server process
only): production code has none of them, and the app served is the router's own, so the protocol still answers the
placements itself. With ``--workers N`` the server is ``bench.router_floor``'s N uvicorn
workers (``placement serve --workers N``'s), each with the hooks and a trace file of its own; the queue below counts
the placements on the arriving one's worker.

Each run is ``bench.router_http``'s paced placements (6 connections at 200/s, ``Pacing``): the database floor, then the
router's warm-up, seed and measured wrk run, each after ``bench.db_settle`` as there. For each it prints wrk's p50/p99
beside the floor's, then the server's side split into arrival to app, app to statement, the statement, statement to
answer; how the router's own part (all but the statement) grows with the requests that are in the router's own phases
when one arrives (its event loop's queue); what the slowest 1 % were made of; the refills and collections during the
run.

``--fleet-cache-seconds S`` serves the router with its fleet cached for S seconds (one worker only; the store's
default otherwise): with a large S no refill runs during a run, the A/B that tells whether the refills, which the
report finds beside many of the slowest placements, are what makes them slow. At 352bcf7 they were not: a refill
starts at a request's read-ahead, so it falls beside busy moments (BENCHMARKS.md, 2026-12-06 08:21).
"""

from __future__ import annotations

import argparse
import contextvars
import gc
import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from bench.db_settle import settle_postgresql
from bench.router_dbfloor import FLOOR_NODES, capture_placements
from bench.router_fleet import fill_cache, seed
from bench.router_wrk import (
    PACED_CONNECTIONS,
    PACED_RATE,
    PLACE_PATH,
    WARM_UP,
    Pacing,
    Router,
    add_workers_option,
    floor_run,
    placement_lua,
    require_wrk,
    run_wrk,
    workers_label,
)
from placement.router.db import make_engine
from placement.router.http_protocol import CombinedWritesProtocol, DirectExchange

# --- the server's side -------------------------------------------------------------------------------------------

_REQUEST: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("request", default=None)


TRACE_ENV = "CAPPLAN_BENCH_TRACE"  # the trace file's path, for --workers' spawned workers


class ArrivalProtocol(CombinedWritesProtocol):
    """The production HTTP protocol, which also traces the placements it answers itself: when uvicorn's parser began
    one, when its endpoint starts and when its answer is written (at a module's top level: with ``--workers`` uvicorn
    hands it to the workers it spawns)."""

    _arrived = 0.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arrivals: dict[DirectExchange, float] = {}  # a placement answered here: when its first bytes came

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arrived = time.perf_counter()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        exchange = self.cycle
        if type(exchange) is DirectExchange:
            self._arrivals[exchange] = self._arrived

    async def _answer_directly(self, exchange: DirectExchange, model: Any) -> None:
        # Timed by ``traced``'s hook, kept by the app: with ``--workers`` this class may be another copy of this
        # module's (a spawned worker unpickles it from ``__main__``) than the one the app factory imported.
        answer = super()._answer_directly(exchange, model)
        await self.app.state.timed_answer(answer, self._arrivals.pop(exchange))


class _Trace:
    def __init__(self) -> None:
        self.worker = os.getpid()
        self.requests: list[dict[str, float]] = []
        self.refills: list[tuple[float, float]] = []
        self.collections: list[tuple[float, float]] = []
        self._collecting = 0.0

    def on_gc(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._collecting = time.perf_counter()
        else:
            self.collections.append((self._collecting, time.perf_counter()))

    def dump(self, path: str) -> None:
        Path(path).write_text(
            json.dumps(
                {
                    "requests": [{**r, "worker": self.worker} for r in self.requests],
                    "refills": [[*span, self.worker] for span in self.refills],
                    "collections": [[*span, self.worker] for span in self.collections],
                }
            )
        )


def traced(app: Any, out: str) -> Any:
    """``app`` with this process's timestamps, written to ``out`` at its lifespan's end."""
    from placement.router import loop_booking

    trace = _Trace()
    book, refill = loop_booking.LoopPlacements._book, loop_booking.LoopPlacements.refill

    async def timed_book(self: Any, *args: Any) -> Any:
        request = _REQUEST.get()
        started = time.perf_counter()
        try:
            return await book(self, *args)
        finally:
            if request is not None:
                request["statement_from"], request["statement_to"] = started, time.perf_counter()

    async def timed_refill(self: Any) -> Any:
        started = time.perf_counter()
        try:
            return await refill(self)
        finally:
            trace.refills.append((started, time.perf_counter()))

    async def timed_answer(answer: Awaitable[None], arrived: float) -> None:
        """A placement answered by the protocol (``ArrivalProtocol``): from its endpoint's start, in its own task."""
        request = {"arrived": arrived, "app_from": time.perf_counter()}
        _REQUEST.set(request)
        try:
            await answer
        finally:
            request["app_to"] = time.perf_counter()
            trace.requests.append(request)

    loop_booking.LoopPlacements._book = timed_book  # type: ignore[method-assign]
    loop_booking.LoopPlacements.refill = timed_refill  # type: ignore[method-assign]
    app.state.timed_answer = timed_answer
    lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def dumped_at_the_end(served: Any) -> AsyncIterator[Any]:
        async with lifespan(served) as state:
            yield state
        trace.dump(out)

    app.router.lifespan_context = dumped_at_the_end
    gc.callbacks.append(trace.on_gc)
    return app


def traced_worker_app() -> Any:
    """uvicorn's app factory in each of ``--workers N``: ``bench.router_floor``'s worker app, traced to a file of its
    own (the trace file's name and the worker's pid)."""
    from bench.router_floor import worker_bench_app

    return traced(worker_bench_app(), f"{os.environ[TRACE_ENV]}.{os.getpid()}")


def serve_traced(db: str, port: int, out: str, workers: int, fleet_cache_seconds: float | None = None) -> None:
    from bench.router_floor import bench_app, serve, serve_bench_workers

    if workers > 1:
        os.environ[TRACE_ENV] = out  # before uvicorn spawns the workers
        serve_bench_workers(db, port, workers, "bench.router_trace:traced_worker_app", http=ArrivalProtocol)
    else:
        serve(traced(bench_app(db, fleet_cache_seconds), f"{out}.{os.getpid()}"), port, http=ArrivalProtocol)


def read_traces(out: Path) -> dict[str, list]:
    """Every server process's trace, together."""
    merged: dict[str, list] = {"requests": [], "refills": [], "collections": []}
    for path in sorted(out.parent.glob(f"{out.name}.*")):
        for key, values in json.loads(path.read_text()).items():
            merged[key] += values
    return merged


# --- the driver's side -------------------------------------------------------------------------------------------


def percentiles(values: np.ndarray) -> str:
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return f"p50 {p50:6.2f}  p90 {p90:6.2f}  p99 {p99:6.2f}"


def report(trace: dict[str, Any], window: tuple[float, float]) -> None:
    """The server's side of the placements that arrived in ``window`` (perf_counter, shared by the processes)."""
    rows = [r for r in trace["requests"] if window[0] <= r["arrived"] <= window[1] and "statement_from" in r]
    others = sum(1 for r in trace["requests"] if window[0] <= r["arrived"] <= window[1] and "statement_from" not in r)
    arrived, app_from, app_to = (np.array([r[key] for r in rows]) for key in ("arrived", "app_from", "app_to"))
    sent, answered = (np.array([r[key] for r in rows]) for key in ("statement_from", "statement_to"))
    total, statement = 1000 * (app_to - arrived), 1000 * (answered - sent)
    own = total - statement
    worker = np.array([r["worker"] for r in rows])
    shares = "/".join(str(count) for count in np.unique(worker, return_counts=True)[1])
    print(
        f"  server side, {len(rows)} placements booked from the loop ({others} by a database thread; {shares} by "
        "worker), ms:"
    )
    for name, values in (
        ("arrival to app", 1000 * (app_from - arrived)),
        ("app to statement", 1000 * (sent - app_from)),
        ("statement", statement),
        ("statement to answer", 1000 * (app_to - answered)),
        ("router's own (all but the statement)", own),
        ("total", total),
    ):
        print(f"    {name:38s} {percentiles(values)}")
    # In the router's own phases at time t: arrived, not yet sent its statement; or answered, not yet returned.
    busy = np.array(
        [
            np.sum((worker == w) & (((arrived < t) & (sent > t)) | ((answered < t) & (app_to > t))))
            for t, w in zip(arrived, worker, strict=True)
        ],
        dtype=int,
    )
    print(
        "  the router's own part by the placements in its own phases on the same worker when one arrived (its event "
        "loop's queue):"
    )
    for ahead in range(4):
        chosen = busy == ahead if ahead < 3 else busy >= ahead
        if chosen.any():
            label = f"{ahead}{'+' if ahead == 3 else ''}"
            print(f"    {label:2s} ahead: {chosen.sum():5d} placements, own part {percentiles(own[chosen])}")
    slow = total >= np.percentile(total, 99)

    def during_refill(start: float, end: float, on: int) -> bool:
        return any(begun - 0.001 <= end and start - 0.001 <= done and by == on for begun, done, by in trace["refills"])

    near_refills = sum(
        during_refill(a, b, w) for a, b, w in zip(arrived[slow], app_to[slow], worker[slow], strict=True)
    )

    def collecting(start: float, end: float, on: int) -> bool:
        # A collection stops the worker's event loop: it delays a placement whose span it falls in.
        return any(begun <= end and start <= done and by == on for begun, done, by in trace["collections"])

    in_collection = np.array([collecting(a, b, w) for a, b, w in zip(arrived, app_to, worker, strict=True)], dtype=bool)
    print(
        f"  slowest 1 % ({slow.sum()}): the statement is {statement[slow].sum() / total[slow].sum():.0%} of their "
        f"time ({statement.sum() / total.sum():.0%} over all); {near_refills} overlap a fleet refill (within 1 ms), "
        f"{(in_collection & slow).sum()} a garbage collection ({in_collection.sum()} of all placements do)"
    )
    refills = [b - a for a, b, _ in trace["refills"] if window[0] <= a <= window[1]]
    collections = [b - a for a, b, _ in trace["collections"] if window[0] <= a <= window[1]]
    if refills:
        print(f"  fleet refills: {len(refills)}, longest {1000 * max(refills):.2f} ms")
    if collections:
        print(f"  garbage collections: {len(collections)}, longest {1000 * max(collections):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    add_workers_option(parser)
    parser.add_argument(
        "--fleet-cache-seconds", type=float, help="how long the router keeps its fleet cached (one worker only)"
    )
    parser.add_argument("--db", help=argparse.SUPPRESS)  # the server's
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fleet_cache_seconds is not None and (args.workers != 1 or args.fleet_cache_seconds <= 0):
        parser.error("--fleet-cache-seconds takes a positive number of seconds, with one worker")
    if args.db:
        serve_traced(args.db, args.port, args.trace, args.workers, args.fleet_cache_seconds)
        return
    wrk = require_wrk()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    print(f"the router: {workers_label(args.workers)} (CPU per request summed over its processes)")
    cached = () if args.fleet_cache_seconds is None else ("--fleet-cache-seconds", str(args.fleet_cache_seconds))
    if cached:
        print(f"its fleet cached for {args.fleet_cache_seconds:g} s")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    windows = []
    try:
        with tempfile.TemporaryDirectory(prefix="router-trace-") as tmp:
            workdir = Path(tmp)
            trace_file = workdir / "trace.json"
            db = f"{args.pg}?schema={schema}"
            router = Router(
                db,
                workdir / "pg.log",
                "bench.router_trace",
                ("--trace", str(trace_file), *cached),
                workers=args.workers,
            )
            engine = make_engine(f"{db}&application_name=capplan-trace-floor")
            try:
                seed(router.url)
                captured = capture_placements(engine)
                pacing = Pacing(PACED_CONNECTIONS, PACED_RATE)
                for run in range(args.runs):
                    settle_postgresql(args.pg, schema)  # as bench.router_http's: no run pays for the one before it
                    seed(router.url, loads_only=True)
                    think = pacing.think_ms("floor")
                    floor = floor_run(
                        "floor", engine, captured, FLOOR_NODES, PACED_CONNECTIONS, args.duration, think, f"f{run}"
                    )
                    pacing.learn("floor", think, floor.rate)
                    settle_postgresql(args.pg, schema)
                    think = pacing.think_ms("placements")
                    script = placement_lua(think, f"w{run}")
                    run_wrk(wrk, router, PLACE_PATH, script, PACED_CONNECTIONS, WARM_UP, workdir)
                    seed(router.url, loads_only=True)
                    fill_cache(router.url)
                    script = placement_lua(think, f"p{run}")
                    started = time.perf_counter()
                    placed = run_wrk(wrk, router, PLACE_PATH, script, PACED_CONNECTIONS, args.duration, workdir)
                    pacing.learn("placements", think, placed["rate"])
                    windows.append((started, time.perf_counter(), floor, placed, os.getloadavg()[0]))
            finally:
                engine.dispose()
                router.stop()
            trace = read_traces(trace_file)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    for run, (started, ended, floor, placed, load) in enumerate(windows, 1):
        split = f", connections by worker {placed['split']}" if placed["split"] else ""
        print(
            f"\nrun {run} (load {load:.2f}): floor p50 {floor.p50:.2f} p99 {floor.p99:.2f} ms, CPU {floor.cpu_ms:.2f} "
            f"ms; placements (wrk{split}) {placed['rate']:.0f}/s p50 {placed['50%']:.2f} p99 {placed['99%']:.2f} ms "
            f"= {placed['99%'] / floor.p99:.2f}x the floor's p99, CPU {placed['cpu_ms']:.2f} ms"
        )
        report(trace, (started, ended))


if __name__ == "__main__":
    main()
