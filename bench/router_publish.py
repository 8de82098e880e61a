"""Placement latency with a forecast process publishing into the router's database, against idle, in one run.

    python -m bench.router_publish [--duration 10] [--every 2] [--rounds 3] [--workers 1]
        [--pg postgresql://postgres@127.0.0.1:5432/test]

Issue 17's bar: with a forecast process publishing, placement p99 stays within 1.5x of its idle figure in the same
benchmark run. For SQLite and for PostgreSQL, the router (``bench.router_http``'s server, 10 seeded clusters; with
``--workers N`` its N uvicorn workers, as ``placement serve --workers N`` runs them, their CPU and run-queue time
summed) takes placements paced at 200/s from ``wrk`` (``bench.router_http``'s placement script) while a scraper
reads ``/metrics`` (with the forecast gauges) and ``GET /v1/forecast`` once a second, in phases that alternate:

1. idle: no publisher;
2. publishing: a forecast process publishes every ``--every`` seconds, as ``sim forecast --every`` runs, in a
   session of its own as a service would be: its Monte Carlo workers on idle CPU time only
   (``sim.forecast.publish.background_priority``: SCHED_IDLE, in an idle cgroup where the machine allows one, else
   each in a session of its own at the lowest weight), the process that writes at nice 10;
3. idle again; then 2 and 3 again, ``--rounds`` times in all.

A round is a publishing phase; its ratio is its p99 over the worse of the two idle phases beside it (so drift over
the run shows), and the verdict is the median of the rounds' ratios: a 10 s phase's p99 is its 28th-slowest
placement, and one stall of the shared host moved a single round's ratio by 0.5x and more in earlier sessions.

Each phase follows a warm-up of ``bench.router_wrk.WARM_UP`` seconds at its rate, not measured (as
``bench.router_http``'s runs), and starts from a settled database (``bench.db_settle``: on PostgreSQL the schema
vacuumed and checkpointed, on SQLite the write-ahead log checkpointed and truncated), so that no phase pays for the
upkeep the one before left.

Why p99 moved, per phase on PostgreSQL (a second table): where the router's connections were
(``bench.router_waits``: ``pg_stat_activity`` sampled every 10 ms, the samples in each wait event per 1,000
placements, ``IO:WALSync`` being a commit's flush), where the publisher's were, the server's WAL over the phase
(bytes from ``pg_current_wal_lsn``, full-page images, flushes; checkpoints), and the time the router's process and
its database backends spent runnable but waiting for a CPU (``/proc/PID/task/*/schedstat``), per placement. The WAL
and checkpoint counters are the whole server's: other work on the same PostgreSQL shows in them. A backend whose
flush has completed but which waits for a CPU still shows ``IO:WALSync`` until it runs: CPU contention shows there
too, and in the run-queue columns. The first table gives, for every backend, the CPU seconds the publisher's
processes took over the phase beside the host's idle CPU seconds: its workers are meant to take idle time only.

The publisher is ``sim forecast --start-from DB --publish DB --every N`` when that command exists (``--publisher
sim``), else (``--publisher synthetic``, the default) a stand-in (``bench.forecast_publisher``): as many workers as
``sim forecast --every`` starts (``--publisher-workers``; one core fewer than the CPUs) keep it busy with Monte
Carlo-like work at the workers' priority and CPU cap (a forecast's runs on a process pool; ``--cpu-share``, as
``sim forecast --cpu-share``, default half their cores) while the writing process waits, and
writes a forecast of the fleet's size (10 clusters x every catalogue limit) through ``write_forecast`` every N
seconds, keeping the newest 50. ``--runs`` sets the real publisher's Monte Carlo runs (``sim forecast --runs``; a tick
of 100 runs takes about a minute on two cores, so a 10 s phase may see none land).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import httpx
import numpy as np
import psycopg

from bench.db_settle import settle_postgresql, settle_sqlite
from bench.forecast_publisher import CLUSTERS, first_publication, start_publisher, synthetic_publisher
from bench.router_fleet import fill_cache, seed
from bench.router_waits import WaitSampler, backend_pids, wal_counters
from bench.router_wrk import (
    PACED_CONNECTIONS,
    PACED_RATE,
    PLACE_PATH,
    TICKS,
    WARM_UP,
    Router,
    add_workers_option,
    latency_from_rate,
    placement_lua,
    require_wrk,
    run_wrk,
    think_time_ms,
    tree_cpu,
    workers_label,
)
from sim.forecast.publish import DEFAULT_CPU_SHARE, standing_workers


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


def run_queue_ns(pids: list[int]) -> dict[int, int]:
    """Per process, the nanoseconds its threads spent runnable but waiting for a CPU (schedstat's run_delay)."""
    waited = {}
    for pid in pids:
        try:
            tasks = Path(f"/proc/{pid}/task").iterdir()
            waited[pid] = sum(int((task / "schedstat").read_text().split()[1]) for task in tasks)
        except (FileNotFoundError, ProcessLookupError):  # a backend that closed
            continue
    return waited


class Watch:
    """Over a phase on PostgreSQL: where the router's connections (``application``) and the publisher's
    (``application``-publisher) waited, the server's WAL counters, and the router's and its backends' run-queue
    time."""

    def __init__(self, dsn: str, application: str, router: Router):
        self.dsn, self.application, self.router = dsn, application, router
        self.sampler = WaitSampler(dsn, application, f"{application}-publisher")

    def __enter__(self) -> Watch:
        self.backends = backend_pids(self.dsn, self.application)
        self.router_pids = self.router.pids()
        self.queued = run_queue_ns([*self.router_pids, *self.backends])
        self.wal = wal_counters(self.dsn)
        self.sampler.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.sampler.__exit__(*exc)
        wal = wal_counters(self.dsn)
        self.wal = {name: wal[name] - self.wal[name] for name in wal}
        backends = set(self.backends) | set(backend_pids(self.dsn, self.application))  # and those opened since
        queued = run_queue_ns([*self.router_pids, *backends])
        self.router_queued = sum(queued.get(pid, 0) - self.queued.get(pid, 0) for pid in self.router_pids)
        self.backends_queued = sum(queued[pid] - self.queued.get(pid, 0) for pid in backends if pid in queued)

    def row(self, name: str, requests: int) -> str:
        per = 1000 / max(requests, 1)
        router, publisher = (self.sampler.by_application[name] for name in self.sampler.applications)
        sync = router["active: IO:WALSync"]
        write = router["active: LWLock:WALWrite"]
        cpu = router["active: on CPU"]
        other = sum(router.values()) - sync - write - cpu
        top = ", ".join(f"{key.removeprefix('active: ')} {count}" for key, count in publisher.most_common(3)) or "-"
        wal = self.wal
        return (
            f"| {name} | {sync * per:.1f} | {write * per:.1f} | {other * per:.1f} | {cpu * per:.1f} | {top} | "
            f"{wal['wal_bytes_lsn'] / 1e6:.2f} | {wal['full_page_images']} | {wal['syncs']} | {wal['checkpoints']} | "
            f"{self.router_queued / 1e6 * per:.0f} | {self.backends_queued / 1e6 * per:.0f} |"
        )

    def details(self) -> dict[str, dict[str, int]]:
        return {name: dict(counts.most_common()) for name, counts in self.sampler.by_application.items()}


WHY_HEADER = (
    "| phase | router conns: IO:WALSync | LWLock:WALWrite | other waits | on CPU | publisher conns (samples) "
    "| WAL MB | full-page images | WAL flushes | checkpoints | router run queue ms | its backends' run queue ms |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def host_idle_seconds() -> float:
    """CPU seconds the host's CPUs spent idle (or waiting for IO) since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return (int(fields[4]) + int(fields[5])) / TICKS


class CpuWatch:
    """Over a phase: the CPU seconds the publisher's processes took, and the seconds the host's CPUs were idle. The
    workers are meant to take idle CPU time only: on a saturated host (idle near 0) what they took was wanted."""

    def __init__(self, publisher: subprocess.Popen | None):
        self.publisher = publisher

    def __enter__(self) -> CpuWatch:
        self.idle = host_idle_seconds()
        self.before = self._tree_seconds()
        return self

    def __exit__(self, *_exc) -> None:
        self.idle = host_idle_seconds() - self.idle
        self.took = self._tree_seconds() - self.before

    def _tree_seconds(self) -> float:
        return sum(tree_cpu(self.publisher.pid).values()) if self.publisher else 0.0


def phase(name: str, wrk: str, router: Router, args, workdir: Path, prefix: str, watch, settle, publisher=None) -> dict:
    # As bench.router_http's runs: a warm-up at the phase's rate, not measured, so that the first phase does not pay
    # for the router's first calls and cold caches (which made the first idle p99 the worse one, and the ratio look
    # better than it was); then no phase pays for the upkeep the one before it left, every phase starts from the same
    # free room, and a dry run reads the seeded fleet into the router's cache (a seed drops it).
    # The warm-up's rate sets the phase's think time for 200/s (as ``bench.router_wrk.Pacing`` does): a publishing
    # phase, whose requests take longer, runs at the idle phases' rate, not at the same think time.
    think = think_time_ms(PACED_CONNECTIONS, PACED_RATE)
    warmed = run_wrk(wrk, router, PLACE_PATH, placement_lua(think, f"{prefix}-w"), PACED_CONNECTIONS, WARM_UP, workdir)
    latency = latency_from_rate(PACED_CONNECTIONS, warmed["rate"], think)
    settle()
    seed(router.url, CLUSTERS, loads_only=True)
    fill_cache(router.url)
    script = placement_lua(think_time_ms(PACED_CONNECTIONS, PACED_RATE, latency), prefix)
    with Scraper(router.url) as scraper, watch or contextlib.nullcontext(), CpuWatch(publisher) as cpu:
        result = run_wrk(wrk, router, PLACE_PATH, script, PACED_CONNECTIONS, args.duration, workdir)
    result.update(name=name, scrape_errors=scraper.errors, forecasts_seen=len(scraper.forecast_ids))
    if watch is not None:
        result.update(why=watch.row(name, result["requests"]), waits=watch.details())
    split = f" (connections by worker {result['split']})" if result["split"] else ""
    print(
        f"| {name}{split} | {result['rate']:.0f} | {result['50%']:.2f} | {result['99%']:.2f} | "
        f"{result['cpu_ms']:.2f} | "
        f"{result['errors']} | {result['forecasts_seen']} | {cpu.took:.2f} | {cpu.idle:.2f} |",
        flush=True,
    )
    return result


PUBLISHED = re.compile(r"\bpublished (?:forecast )?\d+")


def backend_runs(backend: str, db: str, args, wrk: str, workdir: Path, pg: tuple[str, str, str] | None = None) -> dict:
    """``args.rounds`` rounds on ``db``, idle and publishing phases alternating (idle, publishing, idle, ...,
    publishing, idle); ``pg``: the plain DSN, the application_name of the router's connections (to watch them) and
    the schema (PostgreSQL). A round's ratio is its publishing p99 over the worse of the idle phases on either side
    of it; the verdict is the rounds' median, so one stall of the shared host decides one round, not the answer.
    Returns the ratios, their median and the phases' results."""
    router = Router(db, workdir / f"{backend}.log", workers=args.workers)

    def watch() -> Watch | None:
        return None if pg is None else Watch(pg[0], pg[1], router)

    def settle() -> None:
        if pg is None:
            settle_sqlite(db.removeprefix("sqlite:///"))
        else:
            settle_postgresql(pg[0], pg[2])

    def idle(number: int) -> dict:
        name = f"{backend}: idle" if number == 0 else f"{backend}: idle again ({number})"
        return phase(name, wrk, router, args, workdir, f"{backend}-i{number}", watch(), settle)

    publisher_db = db if pg is None else db.replace(pg[1], f"{pg[1]}-publisher")
    phases, ratios, published = [], [], 0
    try:
        seed(router.url, CLUSTERS)
        phases.append(before := idle(0))
        for number in range(1, args.rounds + 1):
            log = workdir / f"{backend}-publisher-{number}.log"
            publisher = start_publisher(args.publisher, publisher_db, args.every, log, args)
            try:
                first_publication(router.url, publisher)  # the timed run starts with the publisher at work
                name = f"{backend}: publishing every {args.every:g} s ({number})"
                busy = phase(name, wrk, router, args, workdir, f"{backend}-p{number}", watch(), settle, publisher)
            finally:
                publisher.terminate()
                publisher.wait(10)
            published += len(PUBLISHED.findall(log.read_text()))
            after = idle(number)
            phases += [busy, after]
            ratios.append(busy["99%"] / max(before["99%"], after["99%"]))
            before = after
    finally:
        router.stop()
    median = float(np.median(ratios))
    rounds = ", ".join(f"{ratio:.2f}×" for ratio in ratios)
    print(
        f"{backend}: {published} forecasts published; p99 publishing / worse idle p99 beside it, round by round: "
        f"{rounds}; median {median:.2f}×\n"
    )
    return {"ratio": median, "ratios": ratios, "phases": phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per phase")
    parser.add_argument(
        "--rounds", type=int, default=3, help="publishing phases, each between two idle ones (the median decides)"
    )
    parser.add_argument("--every", type=float, default=2.0, help="seconds between publications")
    parser.add_argument("--publisher", choices=("synthetic", "sim"), default="synthetic")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--runs", type=int, default=100, help="Monte Carlo runs of --publisher sim's forecasts")
    parser.add_argument(
        "--publisher-workers",
        type=int,
        default=standing_workers(None),
        help="the synthetic publisher's Monte Carlo workers (default: as sim forecast --every, CPUs less one)",
    )
    parser.add_argument(
        "--cpu-share",
        type=float,
        default=DEFAULT_CPU_SHARE,
        help="the publisher's runs' CPU cap, a share of their workers' cores (sim forecast --cpu-share; 1: none)",
    )
    add_workers_option(parser)
    parser.add_argument("--backends", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--publish-only", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds: at least 1, got {args.rounds}")
    if args.publish_only:
        synthetic_publisher(args.publish_only, args.every, args.publisher_workers, args.cpu_share)
        return
    wrk = require_wrk()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    print(f"the router: {workers_label(args.workers)} (CPU per request summed over its processes)\n")
    print(
        f"| phase (placements paced at {PACED_RATE:.0f}/s, {PACED_CONNECTIONS} connections, "
        f"{workers_label(args.workers)}) | req/s | p50 ms | p99 ms |",
        end="",
    )
    print(" CPU ms/req | errors |", end="")
    print(" forecasts seen | publisher's CPU s | host's idle CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratios, why = {}, []
    with tempfile.TemporaryDirectory(prefix="router-publish-") as tmp:
        workdir = Path(tmp)
        if args.backends in ("both", "sqlite"):
            ratios["SQLite"] = backend_runs("SQLite", f"sqlite:///{workdir / 'bench.db'}", args, wrk, workdir)
        if args.backends in ("both", "postgresql"):
            schema = f"serve_bench_{uuid.uuid4().hex[:10]}"
            application = f"capplan-{schema}"
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            try:
                db = f"{args.pg}?schema={schema}&application_name={application}"
                result = backend_runs("PostgreSQL", db, args, wrk, workdir, (args.pg, application, schema))
                ratios["PostgreSQL"] = result
                why = result["phases"]
            finally:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    if why:
        print("Why, on PostgreSQL: samples (every 10 ms) per 1,000 placements; the server's WAL; run-queue time per")
        print("1,000 placements\n")
        print(WHY_HEADER)
        for result in why:
            print(result["why"])
        print()
        for result in why:
            print(f"{result['name']}: {json.dumps(result['waits'])}")
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for backend, result in ratios.items():
        ratio = result["ratio"]
        print(
            f"{backend}, {workers_label(args.workers)}: placement p99 publishing / idle = {ratio:.2f}× median of "
            f"{len(result['ratios'])} rounds ({'meets' if ratio <= 1.5 else 'misses'} 1.5×; rounds within it: "
            f"{sum(r <= 1.5 for r in result['ratios'])} of {len(result['ratios'])})"
        )


if __name__ == "__main__":
    main()
