"""The forecast process of ``bench.router_publish``'s publishing phases: ``sim forecast --publish --every`` itself
(``--publisher sim``), or a stand-in (``synthetic_publisher``) that keeps as many idle-priority workers busy as a
standing forecast starts and writes a forecast of the seeded fleet's size every N seconds; how either is started (a
session of its own, the writer at nice 10), and the wait for its first publication."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from sim.forecast.publish import background_priority, standing_cpu_cores

ROOT = Path(__file__).resolve().parents[1]
CLUSTERS = 10  # the seeded fleet's clusters (``bench.router_fleet.seed``'s default)


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


def _burn(seed_: int, parent: int, cpu_cores: float | None) -> None:
    background_priority(cpu_cores)
    generator = np.random.default_rng(seed_)
    while os.getppid() == parent:  # ends with the publisher, however that ends (terminate() skips daemon cleanup)
        generator.gamma(2.0, 30.0, size=200_000).cumsum()


def synthetic_publisher(db: str, every: float, workers: int, cpu_share: float | None = None) -> None:
    """The stand-in forecast process: ``workers`` CPU-bound workers (a forecast's runs, capped at ``cpu_share`` of
    their cores as ``sim forecast --every --cpu-share`` caps them), and this process writing one forecast every
    ``every`` seconds."""
    import multiprocessing

    from placement.router.forecasts import forecast_engine, write_forecast

    cores = standing_cpu_cores(workers, cpu_share)
    for worker in range(workers):
        multiprocessing.Process(target=_burn, args=(worker, os.getpid(), cores), daemon=True).start()
    generator = np.random.default_rng(np.random.SeedSequence(17))
    engine = forecast_engine(db)
    published = 0
    next_at = time.monotonic()
    try:
        while True:
            time.sleep(max(0.0, next_at - time.monotonic()))  # the runs are the workers'
            rows = forecast_rows(generator)
            started = time.perf_counter()
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
            took = 1000 * (time.perf_counter() - started)
            print(f"published {published}: {len(rows)} rows in {took:.1f} ms", flush=True)
            next_at += every
    finally:
        engine.dispose()


def start_publisher(kind: str, db: str, every: float, log: Path, args) -> subprocess.Popen:
    if kind == "sim":
        out = log.parent / "forecast-out"
        command = [sys.executable, "-m", "sim", "forecast", "--start-from", db, "--publish", db]
        command += ["--every", f"{every:g}s", "--out", str(out), "--runs", str(args.runs)]
        command += ["--cpu-share", str(args.cpu_share)]
    else:
        command = [sys.executable, "-m", "bench.router_publish", "--publish-only", db, "--every", str(every)]
        command += ["--publisher-workers", str(args.publisher_workers), "--cpu-share", str(args.cpu_share)]
    # A session of its own, as a forecast service has: under autogroup scheduling it is a group of its own, weighed
    # against the router's session and PostgreSQL's (see background_priority).
    return subprocess.Popen(
        command, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, preexec_fn=_low, start_new_session=True
    )


def _low() -> None:
    os.nice(10)


def first_publication(url: str, publisher: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if publisher.poll() is not None:
            sys.exit(f"the publisher exited with {publisher.returncode}")
        if httpx.get(f"{url}/v1/forecast", timeout=10).status_code == 200:
            return
        time.sleep(0.2)
    sys.exit("the publisher published nothing in time")
