"""Benchmark the live router with ``wrk`` against its two floors, in one run.

    python -m bench.router_http [--duration 10] [--rounds 3] [--only selects|placements]
        [--pg postgresql://postgres@127.0.0.1:5432/test]

Needs ``wrk`` (Debian package ``wrk``); when it is missing and we are root, it is installed with apt-get.

The server is ``bench.router_floor``: the production app from ``create_app`` (select-cluster protected by a
token, so every run authenticates) plus the framework floor, ``POST /bench/floor``, under uvicorn as
``placement serve`` runs it. 10 clusters are seeded. Each scenario is one wrk run with a Lua script; a paced run
gives every connection a random think time (wrk's ``delay()`` hook, uniform in 0..2x the mean) to hold the rate
near the target, and its floor runs with the same connections and the same think time:

- select-cluster (with and without a volume) against the framework floor, on SQLite and PostgreSQL;
- placements on PostgreSQL against the database floor (``bench.router_dbfloor``: the SQL statements of one
  placement replayed by a bare script through the same driver and pool, with as many threads as wrk has
  connections and the same think time).

Every measured run follows a warm-up of ``WARM_UP`` seconds at the same rate and connections, not measured, on
both sides alike: the floor's in its replay (its pool's connections, psycopg's prepared statements, PostgreSQL's
caches), the router's a wrk run before it (the same, and the router's first calls). The placements' warm-up takes
room, so the fleet is seeded again after it, and one dry run reads the seeded fleet into the router's cache (a
seed drops it): the measured run starts warm, as the floor's does.

For each: the rate reached, wrk's p50/p99, the server's CPU per request (its process's user+system time over
the requests answered), and each as a ratio to its floor. In the saturated placement runs, a sampler reads
``pg_stat_activity`` every 10 ms for the router's (or the floor's) connections and reports where they wait.
The placements run in rounds (``--rounds``, default 3), each the floor then the router at both rates; the summary
gives each round's p99 ratio and the median, so one stall of a shared host does not decide the ratio.
The machine's load average is printed first: these figures are only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psycopg
from sqlalchemy import Engine

from bench.router_dbfloor import Captured, capture, replay
from bench.router_fleet import SELECT_PATH, TOKEN, fill_cache, seed
from bench.router_floor import FLOOR_PATH
from bench.router_waits import WaitSampler, print_waits
from placement.router.db import make_engine

ROOT = Path(__file__).resolve().parents[1]
PLACE_PATH = "/v1/placements"
TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 1  # seconds before each measured run, at its rate, not measured (wrk's -d counts whole seconds)


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is required: apt-get install -y wrk")
    return found


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Router:
    """``bench.router_floor`` on a loopback port (or ``server``, a module that serves it the same way)."""

    def __init__(self, db: str, log: Path, server: str = "bench.router_floor", options: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        env = dict(os.environ, CAPPLAN_TOKENS=TOKEN)
        self.process = subprocess.Popen(
            [sys.executable, "-m", server, "--db", db, "--port", str(self.port), *options],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(600):
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"router did not start; see {log}")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


# The floor reads the same body as select-cluster, with the same token.
SELECT_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.body = '{"customer_id": "bench", "ram": "2Gi", "region": "eu-west", "volumes": [%(volumes)s]}'
function delay() if %(delay)d == 0 then return 0 end return math.random(0, 2 * %(delay)d) end
"""

PLACEMENT_LUA = """
local counter = 0
local prefix = "%(prefix)s"
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) tid = tid or 0; math.randomseed(tid) end
function delay() if %(delay)d == 0 then return 0 end return math.random(0, 2 * %(delay)d) end
request = function()
  counter = counter + 1
  local id = string.format("%%s-%%d-%%d", prefix, tid, counter)
  local volumes = ""
  if counter %% 2 == 0 then volumes = '{"size": "5Gi"}' end
  local body = string.format(
    '{"request_id": "%%s", "service_name": "%%s", "request": {"customer_id": "%%s", "ram": "256Mi", "volumes": [%%s]}}',
    id, id, id, volumes)
  return wrk.format("POST", "/v1/placements", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer %(token)s"}, body)
end
"""


@dataclass
class Run:
    name: str
    connections: int
    rate: float
    p50: float
    p99: float
    cpu_ms: float | None  # the server's (or the floor script's) CPU per request
    errors: int = 0
    floor: Run | None = None
    waits: dict[str, float] = field(default_factory=dict)

    def row(self) -> str:
        def ratio(mine: float | None, floor: float | None) -> str:
            return "" if self.floor is None or not mine or not floor else f"{mine / floor:.2f}×"

        floor = self.floor
        cpu = "" if self.cpu_ms is None else f"{self.cpu_ms:.2f}"
        return (
            f"| {self.name} | {self.connections} | {self.rate:.0f} | {self.p50:.2f} | {self.p99:.2f} | {cpu} | "
            f"{ratio(self.p50, floor and floor.p50)} | {ratio(self.p99, floor and floor.p99)} | "
            f"{ratio(self.cpu_ms, floor and floor.cpu_ms)} | {self.errors} |"
        )


def run_wrk(wrk: str, router: Router, path: str, script: str, connections: int, duration: int, workdir: Path):
    lua = workdir / f"{uuid.uuid4().hex}.lua"
    lua.write_text(script)
    threads = min(2, connections)
    cpu = router.cpu_seconds()
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(lua), router.url + path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cpu = router.cpu_seconds() - cpu
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    result = {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "requests": requests}
    for label in ("50%", "99%"):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        value, unit = float(match.group(1)), match.group(2)
        result[label] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    result["errors"] = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(n) for n in re.findall(r"\d+", errors.group(1))) if errors else 0
    )
    result["cpu_ms"] = 1000 * cpu / max(requests, 1)
    return result


def wrk_run(name, wrk, router, path, script, connections, duration, workdir, floor=None, warm_up=True) -> Run:
    if warm_up:
        run_wrk(wrk, router, path, script, connections, WARM_UP, workdir)
    result = run_wrk(wrk, router, path, script, connections, duration, workdir)
    run = Run(name, connections, result["rate"], result["50%"], result["99%"], result["cpu_ms"], result["errors"])
    run.floor = floor
    print(run.row(), flush=True)
    return run


def floor_run(name, engine, captured, nodes, connections, duration, delay, prefix, floor_of=None) -> Run:
    result = replay(
        engine,
        captured,
        nodes,
        connections=connections,
        duration=duration,
        mean_delay_ms=delay,
        prefix=prefix,
        warm_up=WARM_UP,
    )
    latencies = np.array(result.latencies_ms)
    run = Run(
        name,
        connections,
        len(latencies) / result.seconds,
        float(np.percentile(latencies, 50)),
        float(np.percentile(latencies, 99)),
        1000 * result.cpu_seconds / max(len(latencies), 1),
        errors=result.guards_lost,  # the floor's lost guards: their statements ran in full and undid themselves
    )
    print(run.row(), flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=("selects", "placements"), help="run only these scenarios")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of placements, each the floor then the router (default 3)"
    )
    args = parser.parse_args()
    wrk = require_wrk()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    print(
        f"every measured run follows {WARM_UP} s at its rate and connections, not measured (floors and router alike)\n"
    )
    print(
        "| scenario | connections | req/s | p50 ms | p99 ms | CPU ms/req | p50 / floor | p99 / floor | "
        "CPU / floor | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")

    def placing(delay: int, prefix: str) -> str:
        return PLACEMENT_LUA % {"delay": delay, "prefix": prefix, "token": TOKEN}

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
            router = Router(f"sqlite:///{workdir / 'bench.db'}", workdir / "sqlite.log")
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
            router = Router(db, workdir / "pg.log")
            try:
                seed(router.url)
                if args.only != "placements":
                    selects(router, "PostgreSQL")
                if args.only != "selects":
                    runs += placements(args, router, wrk, workdir, schema, application, placing, duration)
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


FLOOR_NODES = [f"run-{n}" for n in range(6)]  # the seeded clusters' run nodes, which the floor's replays go round


def capture_placements(engine: Engine) -> list[Captured]:
    """The statements of the router's bench placements (256Mi, and 256Mi with a 5Gi volume) on the seeded fleet,
    as the database floor replays them."""
    from placement.router.store import PlacementOrder, Store
    from placement.state import RequestIn

    store = Store(engine)
    # The fleet cache warm first.
    store.place(PlacementOrder("floor-warm", "floor-warm", RequestIn(customer_id="floor-warm", ram="256Mi")))
    return [
        capture(
            store,
            PlacementOrder(
                f"floor-{kind}", f"floor-{kind}", RequestIn(customer_id=f"floor-{kind}", ram="256Mi", volumes=volumes)
            ),
        )
        for kind, volumes in (("plain", []), ("volume", [{"size": "5Gi"}]))
    ]


def placements(args, router: Router, wrk: str, workdir: Path, schema: str, application: str, placing, duration):
    """The database floor and the placements, paced ~200/s and saturated, on the router's PostgreSQL schema, in
    ``args.rounds`` rounds: each round runs the floor and then the router at each rate, so a stall of the shared
    host lands in one pair, not on one side of every ratio. The summary gives each round's p99 ratio and their
    median."""
    floor_application = f"{application}-floor"
    engine = make_engine(f"{args.pg}?schema={schema}&application_name={floor_application}")
    try:
        captured = capture_placements(engine)
        runs = []
        pairs: dict[str, list[tuple[Run, Run]]] = {}
        for round_number in range(1, args.rounds + 1):
            tag = f"r{round_number}"
            suffix = f", round {round_number}" if args.rounds > 1 else ""
            for label, connections, delay in (("paced ~200/s", 6, 20), ("saturated", 16, 0)):
                seed(router.url, loads_only=True)
                with WaitSampler(args.pg, floor_application) as floor_waits:
                    floor = floor_run(
                        f"database floor, PostgreSQL, {label}{suffix}",
                        engine,
                        captured,
                        FLOOR_NODES,
                        connections,
                        duration,
                        delay,
                        f"f{connections}{tag}",
                    )
                floor.waits = floor_waits.shares()
                # The router's warm-up, as the floor's: its placements take room, so the fleet is seeded again, and
                # a dry run reads it into the cache (the seed dropped it) before the clock starts.
                run_wrk(wrk, router, PLACE_PATH, placing(delay, f"w{connections}{tag}"), connections, WARM_UP, workdir)
                seed(router.url, loads_only=True)
                fill_cache(router.url)
                with WaitSampler(args.pg, application) as router_waits:
                    placed = wrk_run(
                        f"placements, PostgreSQL, {label}{suffix}",
                        wrk,
                        router,
                        PLACE_PATH,
                        placing(delay, f"p{connections}{tag}"),
                        connections,
                        duration,
                        workdir,
                        floor,
                        warm_up=False,
                    )
                placed.waits = router_waits.shares()
                runs += [floor, placed]
                pairs.setdefault(label, []).append((floor, placed))
        statements = [len(c.statements) for c in captured]
        print(f"\nSQL statements per placement (without, with a volume): {statements}")
        if args.rounds > 1:
            print_rounds(pairs)
        return runs
    finally:
        engine.dispose()


def print_rounds(pairs: dict[str, list[tuple[Run, Run]]]) -> None:
    """Each rate's placements against their floor, round by round, and the median of the rounds' ratios."""
    print("\n| placements, PostgreSQL | p99 / floor p99, round by round | median | CPU / floor CPU, median |")
    print("|---|---|---|---|")
    for label, rounds in pairs.items():
        p99_ratios = [placed.p99 / floor.p99 for floor, placed in rounds]
        cpu_ratios = [placed.cpu_ms / floor.cpu_ms for floor, placed in rounds if placed.cpu_ms and floor.cpu_ms]
        each = ", ".join(f"{ratio:.2f}×" for ratio in p99_ratios)
        cpu = f"{float(np.median(cpu_ratios)):.2f}×" if cpu_ratios else ""
        print(f"| {label} | {each} | {float(np.median(p99_ratios)):.2f}× | {cpu} |")


if __name__ == "__main__":
    main()
