"""Benchmark the live router with ``wrk`` against its two floors, in one run.

    python -m bench.router_http [--duration 10] [--rounds 5] [--only selects|placements] [--workers 1]
        [--pg postgresql://postgres@127.0.0.1:5432/test]

Needs ``wrk`` (Debian package ``wrk``); when it is missing and we are root, it is installed with apt-get.

The server is ``bench.router_floor``: the production app from ``create_app`` (select-cluster protected by a token,
so every run authenticates) plus the framework floor, ``POST /bench/floor``, under uvicorn as ``placement serve``
runs it: one process by default, or with ``--workers N`` as ``placement serve --workers N`` runs N uvicorn workers
on one socket (the database migrated once, each worker's app from the production factory ``create_worker_app`` with
the floor route added, its own store and fleet cache: a worker that did not take the seed or the dry run below sees
them when its cache's second is up, as in production). 10 clusters are seeded. Each scenario is one wrk run with a
Lua script; a paced run gives every connection a random think time (wrk's ``delay()`` hook, uniform in 0..2x the
mean) to hold the rate near the target, and its floor runs with the same connections. The paced placements' think
times are set for 200/s (``bench.router_wrk.Pacing``): each side's (the database floor's, the two served floors',
the router's) from the rate its last round reached, so that every side runs at 200/s on any host (its first round
at a guess of 1 ms a request); the select-cluster runs keep a fixed think time:

- select-cluster (with and without a volume) against the framework floor, on SQLite and PostgreSQL;
- placements on PostgreSQL against the database floor (``bench.router_dbfloor``: the SQL statements of one
  placement replayed by a bare script through the same driver and pool, with as many threads as wrk has
  connections and the same think time).

Every measured run follows a warm-up of ``WARM_UP`` seconds at the same rate and connections, not measured, on
both sides alike: the floor's in its replay (its pool's connections, psycopg's prepared statements, PostgreSQL's
caches), the router's a wrk run before it (the same, and the router's first calls). The placements' warm-up takes
room, so the fleet is seeded again after it, and one dry run reads the seeded fleet into the router's cache (a
seed drops it): the measured run starts warm, as the floor's does.

For each: the rate reached, wrk's p50/p99, the server's CPU per request (the user+system time of its processes, every
worker's with ``--workers``, over the requests answered), and each as a ratio to its floor. In the saturated placement
runs, a sampler reads ``pg_stat_activity`` every 10 ms for the router's (or the floor's) connections and reports where
they wait. The placements run in rounds (``--rounds``, default 5) at each rate, every paced round before the saturated
ones (whose leftovers, a busy host and the database's upkeep, used to fall on the next paced run), each round the floor
and the router back to back, the floor first in odd rounds and the router first in even ones, so a drift of the host's
state weighs on both sides alike; before each measured run, floor's or router's, the schema is vacuumed and checkpointed
(``bench.db_settle``) so that no run pays for the one before it. The summary gives each round's p99 ratio (with the load
average over its pair), their median and spread, so one stall of a shared host does not decide the ratio. The machine's
load average and the router's worker count are printed first: these figures are only comparable within one run. The
database floor is one bare script whatever ``--workers`` is.

Where a paced placement's cost above the database floor goes: each paced round also measures, between the pair, two
floors the bench server answers (``bench.router_floor``) under the placements' own wrk script, rate and connections:
the HTTP floor (a placement's request answered at once, as a placement answers it: the same route class, body models,
bearer check and answer) and the booking floor (the same, sending the database floor's statement first: both floors in
one request, on the router's two cores). The table after the rounds gives each floor's p50/p99/CPU, the placements'
p99 against the booking floor's, and their median and CPU above it: the router's own work (the decision, the hold,
the statement's parameters, the cache, the metrics). The issue's bar stays the placements' p99 against the database
floor's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import Engine

from bench.db_settle import settle_postgresql
from bench.router_dbfloor import FLOOR_NODES, Captured, capture_placements
from bench.router_fleet import SELECT_PATH, TOKEN, fill_cache, seed
from bench.router_floor import BOOKING_FLOOR_PATH, FLOOR_PATH, PLACEMENT_FLOOR_PATH
from bench.router_summary import print_rounds, print_split
from bench.router_waits import WaitSampler, print_waits
from bench.router_wrk import (
    PACED_CONNECTIONS,
    PACED_RATE,
    PLACE_PATH,
    ROW_HEADER,
    SELECT_LUA,
    WARM_UP,
    Pacing,
    Router,
    Run,
    add_workers_option,
    floor_run,
    placement_lua,
    require_wrk,
    run_wrk,
    workers_label,
    wrk_run,
)
from placement.router.db import make_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=("selects", "placements"), help="run only these scenarios")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds of placements, each the floor and the router back to back, in turn first (default 5)",
    )
    add_workers_option(parser)
    args = parser.parse_args()
    wrk = require_wrk()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    print(
        f"every measured run follows {WARM_UP} s at its rate and connections, not measured (floors and router alike)\n"
    )
    print(
        f"the router: {workers_label(args.workers)}, as placement serve --workers {args.workers} runs them (CPU per "
        "request summed over its processes); the database floor: one script\n"
    )
    print(ROW_HEADER)

    def selecting(delay: int, volume: bool = True) -> str:
        return SELECT_LUA % {"delay": delay, "volumes": '{"size": "10Gi"}' if volume else "", "token": TOKEN}

    duration = args.duration
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="router-bench-") as tmp:
        workdir = Path(tmp)

        def selects(router: Router, backend: str) -> None:
            # ~500/s: 11 connections, each waiting 0..38 ms between requests.
            floor = wrk_run(
                f"framework floor, {backend}, paced ~500/s",
                wrk,
                router,
                FLOOR_PATH,
                selecting(19),
                11,
                duration,
                workdir,
            )
            runs.append(floor)
            for volume in (True, False):
                label = "with" if volume else "without"
                runs.append(
                    wrk_run(
                        f"select-cluster {label} a volume, {backend}, paced ~500/s",
                        wrk,
                        router,
                        SELECT_PATH,
                        selecting(19, volume),
                        11,
                        duration,
                        workdir,
                        floor,
                    )
                )
            one = wrk_run(
                f"framework floor, {backend}, one connection",
                wrk,
                router,
                FLOOR_PATH,
                selecting(0),
                1,
                duration,
                workdir,
            )
            runs.append(
                wrk_run(
                    f"select-cluster with a volume, {backend}, one connection",
                    wrk,
                    router,
                    SELECT_PATH,
                    selecting(0),
                    1,
                    duration,
                    workdir,
                    one,
                )
            )

        if args.only != "placements":
            router = Router(f"sqlite:///{workdir / 'bench.db'}", workdir / "sqlite.log", workers=args.workers)
            try:
                seed(router.url)
                selects(router, "SQLite")
            finally:
                router.stop()

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        application = f"capplan-{schema}"
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            db = f"{args.pg}?schema={schema}&application_name={application}"
            router = Router(db, workdir / "pg.log", workers=args.workers)
            try:
                seed(router.url)
                if args.only != "placements":
                    selects(router, "PostgreSQL")
                if args.only != "selects":
                    runs += placements(args, router, wrk, workdir, schema, application)
            finally:
                router.stop()
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for run in runs:
        if run.waits:
            print_waits(run.name, run.waits)


@dataclass(frozen=True)
class PlacementSide:
    """What both sides of a placements pair share: the rate, the connections, the database and the router."""

    args: argparse.Namespace
    router: Router
    wrk: str
    workdir: Path
    engine: Engine  # the floor's
    captured: list[Captured]
    application: str  # the router's connections' application_name (the floor's adds "-floor")
    label: str
    connections: int
    pacing: Pacing | None  # the paced rate's think times, by side; None: saturated, no think time
    tag: str  # the round's, in the runs' names and request ids
    schema: str  # the router's PostgreSQL schema, which the floor's replays write to as well

    def paced(self, side: str, measure: Callable[[float], Run]) -> Run:
        """``side``'s run with its think time (``Pacing``), which its rate then corrects for the next round."""
        think = 0.0 if self.pacing is None else self.pacing.think_ms(side)
        run = measure(think)
        if self.pacing is not None:
            self.pacing.learn(side, think, run.rate)
        return run

    def floor(self) -> Run:
        return self.paced("floor", self._floor)

    def _floor(self, think: float) -> Run:
        settle_postgresql(self.args.pg, self.schema)
        seed(self.router.url, loads_only=True)
        with WaitSampler(self.args.pg, f"{self.application}-floor") as floor_waits:
            floor = floor_run(
                f"database floor, PostgreSQL, {self.label}",
                self.engine,
                self.captured,
                FLOOR_NODES,
                self.connections,
                self.args.duration,
                think,
                f"f{self.connections}{self.tag}",
                show=False,
            )
        floor.waits = floor_waits.shares()
        return floor

    def http_floor(self) -> Run:
        """A placement's HTTP floor (``bench.router_floor``) under the same wrk script, rate and connections."""
        return self.paced(
            "http", lambda think: self._served_floor("HTTP floor of a placement", PLACEMENT_FLOOR_PATH, "h", think)
        )

    def booking_floor(self) -> Run:
        """A placement's HTTP floor that sends the database floor's statement (``bench.router_floor``), likewise."""
        settle_postgresql(self.args.pg, self.schema)
        return self.paced(
            "booking",
            lambda think: self._served_floor("booking floor (HTTP + database)", BOOKING_FLOOR_PATH, "b", think),
        )

    def _served_floor(self, name: str, path: str, prefix: str, think: float) -> Run:
        return wrk_run(
            f"{name}, {self.label}",
            self.wrk,
            self.router,
            path,
            placement_lua(think, f"{prefix}{self.connections}{self.tag}", path),
            self.connections,
            self.args.duration,
            self.workdir,
            show=False,
        )

    def placements(self) -> Run:
        return self.paced("placements", self._placements)

    def _placements(self, think: float) -> Run:
        # The router's warm-up, as the floor's: its placements take room, so the fleet is seeded again, and a dry run
        # reads it into the cache (the seed dropped it) before the clock starts.
        settle_postgresql(self.args.pg, self.schema)
        warm_up = placement_lua(think, f"w{self.connections}{self.tag}")
        run_wrk(self.wrk, self.router, PLACE_PATH, warm_up, self.connections, WARM_UP, self.workdir)
        seed(self.router.url, loads_only=True)
        fill_cache(self.router.url)
        with WaitSampler(self.args.pg, self.application) as router_waits:
            placed = wrk_run(
                f"placements, PostgreSQL, {self.label}",
                self.wrk,
                self.router,
                PLACE_PATH,
                placement_lua(think, f"p{self.connections}{self.tag}"),
                self.connections,
                self.args.duration,
                self.workdir,
                warm_up=False,
                show=False,
            )
        placed.waits = router_waits.shares()
        return placed


# label, wrk's connections, the rate their think times hold (None: no think time, as fast as the answers come)
RATES = ((f"paced {PACED_RATE:.0f}/s", PACED_CONNECTIONS, PACED_RATE), ("saturated", 16, None))


def measurement_plan(rounds: int) -> list[tuple[str, int, float | None, int, bool]]:
    """The placement pairs in the order measured: (label, connections, rate, round, floor first).

    Every paced round before any saturated one: a saturated run leaves the host busy for a while (the load average
    it raises, the database's upkeep) and, run between paced pairs, it weighed on whichever paced run came next.
    Within a rate the floor goes first in odd rounds and the router in even ones (A-B, B-A, ...)."""
    return [
        (label, connections, rate, round_number, round_number % 2 == 1)
        for label, connections, rate in RATES
        for round_number in range(1, rounds + 1)
    ]


def placements(args, router: Router, wrk: str, workdir: Path, schema: str, application: str):
    """The database floor and the placements, paced at 200/s and saturated, on the router's PostgreSQL schema, in
    ``args.rounds`` rounds at each rate, the paced rounds first (``measurement_plan``). Each round measures the floor
    and the router back to back, the floor first in odd rounds and the router first in even ones (A-B, B-A, ...): a
    host whose state drifts over the run (other work starting or ending, caches) then weighs on both sides alike, not
    always on the side that runs second; and each measured run starts from a settled database
    (``settle_postgresql``). The summary gives each round's p99 ratio with the load average over its pair, and the
    rounds' median and spread."""
    engine = make_engine(f"{args.pg}?schema={schema}&application_name={application}-floor")
    try:
        captured = capture_placements(engine)
        runs = []
        pairs: dict[str, list[tuple[Run, Run]]] = {}
        splits: dict[str, list[tuple[Run, Run, Run, Run]]] = {}  # (database, HTTP, booking floors, placements)
        loads: dict[str, list[float]] = {}
        pacings = {label: Pacing(connections, rate) for label, connections, rate in RATES if rate is not None}
        for label, connections, _rate, round_number, floor_first in measurement_plan(args.rounds):
            suffix = f", round {round_number}" if args.rounds > 1 else ""
            side = PlacementSide(
                args,
                router,
                wrk,
                workdir,
                engine,
                captured,
                application,
                f"{label}{suffix}",
                connections,
                pacings.get(label),
                f"r{round_number}",
                schema,
            )
            load = os.getloadavg()[0]
            # At the paced rate, between the pair, the HTTP floor and the booking floor: where a placement's cost
            # above the database floor's goes (``print_split``). Saturated, with no database to wait on (or another
            # process's cost to share), they would compare nothing.
            paced = label in pacings
            sides = [
                ("floor", side.floor),
                ("http", side.http_floor if paced else None),
                ("booking", side.booking_floor if paced else None),
                ("placements", side.placements),
            ]
            if not floor_first:
                sides.reverse()
            measured = {name: measure() for name, measure in sides if measure is not None}
            floor, placed = measured["floor"], measured["placements"]
            placed.floor = floor
            for run in measured.values():  # in the order measured, once the pair's ratios are known
                print(run.row(), flush=True)
            runs += measured.values()
            pairs.setdefault(label, []).append((floor, placed))
            if paced:
                splits.setdefault(label, []).append((floor, measured["http"], measured["booking"], placed))
            loads.setdefault(label, []).append((load + os.getloadavg()[0]) / 2)
        statements = [len(c.statements) for c in captured]
        print(f"\nSQL statements per placement (without, with a volume): {statements}")
        if args.rounds > 1:
            print_rounds(pairs, loads, router.workers, args.duration)
        print_split(splits)
        return runs
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
