"""Placement latency with a forecast process publishing into the router's database, against idle, in one run.

    python -m bench.router_publish [--duration 10] [--every 2] [--pg postgresql://postgres@127.0.0.1:5432/test]

Issue 17's bar: with a forecast process publishing, placement p99 stays within 1.5x of its idle figure in the same
benchmark run. For SQLite and for PostgreSQL, the router (``bench.router_http``'s server, 10 seeded clusters) takes
placements paced at ~200/s from ``wrk`` (``bench.router_http``'s placement script) while a scraper reads
``/metrics`` (with the forecast gauges) and ``GET /v1/forecast`` once a second, three times in a row:

1. idle: no publisher;
2. publishing: a forecast process publishes every ``--every`` seconds, as ``sim forecast --every`` runs: its
   Monte Carlo workers on idle CPU time only (``sim.forecast.publish.background_priority``: SCHED_IDLE), the
   process that writes at nice 10;
3. idle again, so drift over the run shows (the bar compares with the worse idle run).

The publisher is ``sim forecast --start-from DB --publish DB --every N`` when that command exists (``--publisher
sim``), else (``--publisher synthetic``, the default) this module's own loop: one worker per core keeps it busy
with Monte Carlo-like work at the workers' priority (a forecast's runs on a process pool) while the writing
process waits, and writes a forecast of the fleet's size (10 clusters x every catalogue limit) through
``write_forecast`` every N seconds, keeping the newest 50.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import psycopg

from bench.router_fleet import TOKEN, seed
from bench.router_wrk import PLACE_PATH, PLACEMENT_LUA, Router, require_wrk, run_wrk
from sim.forecast.publish import background_priority

ROOT = Path(__file__).resolve().parents[1]
CLUSTERS = 10


def forecast_rows(generator: np.random.Generator) -> list:
    """A forecast of the seeded fleet's size: every cluster against every catalogue limit."""
    from placement.catalogue import LIMITS
    from placement.router.forecasts import ForecastRow

    rows = []
    for index in range(CLUSTERS):
        for limit in LIMITS:
            p10, p50, p90 = np.sort(generator.gamma(4.0, 60.0, size=3))
            binds = generator.random() < 0.7
            rows.append(
                ForecastRow(
                    f"eu-west-{index + 1}",
                    limit.view.format(provider="longhorn"),
                    limit.unit,
                    int(generator.integers(0, 10_000)),
                    10_000,
                    float(p10) if binds else None,
                    float(p50) if binds else None,
                    float(p90) if binds and p90 < 730 else None,
                    float(p10) - 21 if binds else None,
                    "add run node" if binds else None,
                    21.0,
                )
            )
    return rows


def _burn(seed_: int, parent: int) -> None:
    background_priority()
    generator = np.random.default_rng(seed_)
    while os.getppid() == parent:  # ends with the publisher, however that ends (terminate() skips daemon cleanup)
        generator.gamma(2.0, 30.0, size=200_000).cumsum()


def synthetic_publisher(db: str, every: float) -> None:
    """The stand-in forecast process: CPU-bound workers on every core (a forecast's runs), and this process
    writing one forecast every ``every`` seconds."""
    import multiprocessing

    from placement.router.forecasts import forecast_engine, write_forecast

    for worker in range(os.cpu_count() or 2):
        multiprocessing.Process(target=_burn, args=(worker, os.getpid()), daemon=True).start()
    generator = np.random.default_rng(np.random.SeedSequence(17))
    engine = forecast_engine(db)
    published = 0
    next_at = time.monotonic()
    try:
        while True:
            time.sleep(max(0.0, next_at - time.monotonic()))  # the runs are the workers'
            rows = forecast_rows(generator)
            write_forecast(
                engine,
                as_of=datetime.now(UTC),
                horizon_days=730,
                runs=100,
                seed=17,
                source=db.split("?")[0],
                base="synthetic publisher (bench.router_publish)",
                rows=rows,
                keep=50,
            )
            published += 1
            print(f"published {published}", flush=True)
            next_at += every
    finally:
        engine.dispose()


def start_publisher(kind: str, db: str, every: float, log: Path) -> subprocess.Popen:
    if kind == "sim":
        out = log.parent / "forecast-out"
        command = [sys.executable, "-m", "sim", "forecast", "--start-from", db, "--publish", db]
        command += ["--every", f"{every:g}s", "--out", str(out)]
    else:
        command = [sys.executable, "-m", "bench.router_publish", "--publish-only", db, "--every", str(every)]
    return subprocess.Popen(command, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, preexec_fn=_low)


def _low() -> None:
    os.nice(10)


class Scraper:
    """Reads ``/metrics`` and ``GET /v1/forecast`` once a second, as Prometheus and a dashboard would."""

    def __init__(self, url: str):
        self.url = url
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.errors = 0
        self.forecast_ids: set[int] = set()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self.stop.wait(1.0):
                if http.get("/metrics").status_code != 200:
                    self.errors += 1
                answer = http.get("/v1/forecast")
                if answer.status_code == 200:
                    self.forecast_ids.add(answer.json()["id"])
                elif answer.status_code != 404:
                    self.errors += 1

    def __enter__(self) -> Scraper:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join()


def first_publication(url: str, publisher: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if publisher.poll() is not None:
            sys.exit(f"the publisher exited with {publisher.returncode}")
        if httpx.get(f"{url}/v1/forecast", timeout=10).status_code == 200:
            return
        time.sleep(0.2)
    sys.exit("the publisher published nothing in time")


def phase(name: str, wrk: str, router: Router, duration: int, workdir: Path, prefix: str) -> dict:
    seed(router.url, CLUSTERS, loads_only=True)  # the same free room for every phase
    script = PLACEMENT_LUA % {"delay": 20, "prefix": prefix, "token": TOKEN}  # 6 connections: ~200/s
    with Scraper(router.url) as scraper:
        result = run_wrk(wrk, router, PLACE_PATH, script, 6, duration, workdir)
    result.update(name=name, scrape_errors=scraper.errors, forecasts_seen=len(scraper.forecast_ids))
    print(
        f"| {name} | {result['rate']:.0f} | {result['50%']:.2f} | {result['99%']:.2f} | {result['cpu_ms']:.2f} | "
        f"{result['errors']} | {result['forecasts_seen']} |",
        flush=True,
    )
    return result


def backend_runs(backend: str, db: str, args, wrk: str, workdir: Path) -> tuple[float, float]:
    router = Router(db, workdir / f"{backend}.log")
    try:
        seed(router.url, CLUSTERS)
        idle = phase(f"{backend}: idle", wrk, router, args.duration, workdir, f"{backend}-a")
        publisher = start_publisher(args.publisher, db, args.every, workdir / f"{backend}-publisher.log")
        try:
            first_publication(router.url, publisher)  # the timed run starts with the publisher at work
            busy = phase(
                f"{backend}: publishing every {args.every:g} s", wrk, router, args.duration, workdir, f"{backend}-b"
            )
        finally:
            publisher.terminate()
            publisher.wait(10)
        again = phase(f"{backend}: idle again", wrk, router, args.duration, workdir, f"{backend}-c")
    finally:
        router.stop()
    published = (workdir / f"{backend}-publisher.log").read_text().count("published")
    worse_idle = max(idle["99%"], again["99%"])
    ratio = busy["99%"] / worse_idle
    print(f"{backend}: {published} forecasts published; p99 publishing / worse idle p99 = {ratio:.2f}×\n")
    return busy["99%"], worse_idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per phase")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between publications")
    parser.add_argument("--publisher", choices=("synthetic", "sim"), default="synthetic")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--publish-only", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish_only:
        synthetic_publisher(args.publish_only, args.every)
        return
    wrk = require_wrk()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)\n")
    print("| phase (placements paced ~200/s, 6 connections) | req/s | p50 ms | p99 ms | CPU ms/req | errors |", end="")
    print(" forecasts seen |")
    print("|---|---|---|---|---|---|---|")
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="router-publish-") as tmp:
        workdir = Path(tmp)
        busy, idle = backend_runs("SQLite", f"sqlite:///{workdir / 'bench.db'}", args, wrk, workdir)
        ratios["SQLite"] = busy / idle
        schema = f"serve_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            busy, idle = backend_runs("PostgreSQL", f"{args.pg}?schema={schema}", args, wrk, workdir)
            ratios["PostgreSQL"] = busy / idle
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for backend, ratio in ratios.items():
        print(
            f"{backend}: placement p99 publishing / idle = {ratio:.2f}× ({'meets' if ratio <= 1.5 else 'misses'} 1.5×)"
        )


if __name__ == "__main__":
    main()
