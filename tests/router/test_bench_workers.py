"""The router benchmarks' ``--workers N`` server (``bench.router_wrk.Router``, ``bench.router_floor``): served as
``placement serve --workers N`` serves, its CPU counted over all its processes, and stopped with none left."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.router_fleet import AUTH, seed
from bench.router_floor import FLOOR_PATH
from bench.router_trace import read_traces
from bench.router_wrk import PLACE_PATH, Router, serving_workers, tree_cpu


def test_two_bench_workers_serve_a_placement_and_the_floor_and_stop_with_nothing_left(tmp_path: Path):
    router = Router(f"sqlite:///{tmp_path / 'bench.db'}", tmp_path / "router.log", workers=2)
    try:
        pids = router.pids()
        assert serving_workers(router.url) == 2  # ready only once both count themselves
        assert len(pids) >= 3  # uvicorn's supervisor and its two workers (and multiprocessing's resource tracker)
        seed(router.url, clusters=2)
        body = {"request_id": "bw-1", "service_name": "bw-1", "request": {"customer_id": "bw", "ram": "256Mi"}}
        placed = httpx.post(f"{router.url}{PLACE_PATH}", json=body, headers=AUTH, timeout=10)
        assert placed.status_code == 201, placed.text
        assert placed.json()["cluster_id"].startswith("eu-west-")
        floor = httpx.post(f"{router.url}{FLOOR_PATH}", json={"customer_id": "bw"}, headers=AUTH, timeout=10)
        assert floor.json() == {"status": "ok", "customer_id": "bw"}
        clients = [httpx.Client(base_url=router.url, timeout=10) for _ in range(4)]
        try:
            assert all(client.get("/healthz").status_code == 200 for client in clients)  # each kept alive
            held = router.connections_by_worker()
            assert len(held) == 2 and sum(held) == 4 and held == sorted(held, reverse=True), held
        finally:
            for client in clients:
                client.close()
        # The workers did the serving: the tree's CPU is more than the supervisor's own.
        supervisor = tree_cpu(router.process.pid)[router.process.pid]
        assert router.cpu_seconds() > supervisor
    finally:
        router.stop()
    assert router.process.returncode == 0
    deadline = time.monotonic() + 10
    while (alive := [pid for pid in pids if os.path.exists(f"/proc/{pid}")]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive


def test_a_trees_cpu_sum_keeps_a_reaped_childs_time():
    burn = "import time\nend = time.process_time() + 0.2\nwhile time.process_time() < end: pass\n"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time; subprocess.run([sys.executable, '-c', {burn!r}]); print('reaped', "
            "flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout.readline() == "reaped\n"
        assert list(tree_cpu(parent.pid)) == [parent.pid]
        assert sum(tree_cpu(parent.pid).values()) >= 0.2  # the child's, in its parent's cutime
    finally:
        parent.kill()
        parent.wait()


def test_the_traced_bench_workers_each_write_a_trace_and_they_are_read_together(tmp_path: Path):
    trace = tmp_path / "trace.json"
    router = Router(
        f"sqlite:///{tmp_path / 'bench.db'}",
        tmp_path / "router.log",
        "bench.router_trace",
        ("--trace", str(trace)),
        workers=2,
    )
    try:
        seed(router.url, clusters=2)
        for n in range(4):
            body = {"request_id": f"bt-{n}", "service_name": f"bt-{n}", "request": {"customer_id": "bt", "ram": "1Gi"}}
            assert httpx.post(f"{router.url}{PLACE_PATH}", json=body, headers=AUTH, timeout=10).status_code == 201
    finally:
        router.stop()
    assert len(list(tmp_path.glob("trace.json.*"))) == 2  # one per worker, written at its shutdown
    requests = read_traces(trace)["requests"]
    assert len(requests) == 4
    assert all(r["arrived"] <= r["app_from"] <= r["app_to"] and r["worker"] > 0 for r in requests)


def _refills_after_a_pause(tmp_path: Path, db: str, options: tuple[str, ...], *, seeded: bool) -> int:
    """The traced server's fleet refills while placements go on across 1.2 s, after the cache was filled."""
    trace = tmp_path / f"trace-{len(options)}.json"
    router = Router(db, tmp_path / "router.log", "bench.router_trace", ("--trace", str(trace), *options))
    try:
        seed(router.url, clusters=2, loads_only=seeded)

        def place(n: int) -> None:
            request = {"customer_id": "rf", "ram": "256Mi"}
            body = {"request_id": f"rf-{len(options)}-{n}", "service_name": f"rf-{n}", "request": request}
            assert httpx.post(f"{router.url}{PLACE_PATH}", json=body, headers=AUTH, timeout=10).status_code == 201

        place(0)  # the seed dropped the cache: this placement's read fills it
        started = time.perf_counter()
        for n in range(1, 13):
            time.sleep(0.1)
            place(n)
    finally:
        router.stop()
    return sum(begun >= started for begun, _done, _worker in read_traces(trace)["refills"])


def test_the_traced_bench_serves_a_fleet_cache_that_outlasts_the_run_when_asked(tmp_path: Path, pg_url: str):
    # As shipped the fleet is read again before its second is up (on the event loop's connections, PostgreSQL);
    # --fleet-cache-seconds 3600 keeps the first read: the A/B of BENCHMARKS.md's refill test.
    assert _refills_after_a_pause(tmp_path, pg_url, (), seeded=False) >= 1
    assert _refills_after_a_pause(tmp_path, pg_url, ("--fleet-cache-seconds", "3600"), seeded=True) == 0


def test_the_traced_bench_refuses_a_fleet_cache_with_several_workers_or_none():
    for options in (["--fleet-cache-seconds", "60", "--workers", "2"], ["--fleet-cache-seconds", "0"]):
        refused = subprocess.run(
            [sys.executable, "-m", "bench.router_trace", *options], capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 2
        assert "--fleet-cache-seconds takes a positive number of seconds, with one worker" in refused.stderr
