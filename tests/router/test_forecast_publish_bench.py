"""What ``bench.router_publish`` reports besides latency, to say why placement p99 moved while a forecast publishes:
wait events per application (``bench.router_waits``), the server's WAL, run-queue time and a process tree's CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psycopg

from bench.router_publish import CpuWatch, run_queue_ns, tree_cpu
from bench.router_waits import WaitSampler, backend_pids, wal_counters
from tests.router.conftest import PG_ADMIN


def test_the_sampler_counts_each_applications_waits_apart():
    with psycopg.connect(f"{PG_ADMIN}?application_name=publish-bench-sleeper", autocommit=True) as sleeper:
        with WaitSampler(PG_ADMIN, "publish-bench-sleeper", "publish-bench-nobody") as waits:
            time.sleep(0.1)
            sleeper.execute("SELECT pg_sleep(0.5)")
        pids = backend_pids(PG_ADMIN, "publish-bench-sleeper")
    assert waits.by_application["publish-bench-sleeper"]["active: Timeout:PgSleep"] >= 10
    assert waits.samples is waits.by_application["publish-bench-sleeper"]
    assert not waits.by_application["publish-bench-nobody"]
    assert len(pids) == 1


def test_wal_counters_move_with_a_write(pg_schema):
    before = wal_counters(PG_ADMIN)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".wal_probe (n int)')
        conn.execute(f'INSERT INTO "{pg_schema}".wal_probe SELECT generate_series(1, 1000)')
    after = wal_counters(PG_ADMIN)
    assert set(after) == set(before)
    assert after["wal_bytes_lsn"] - before["wal_bytes_lsn"] > 1000 * 4  # a logged row is more than its 4 bytes


def test_a_process_trees_cpu_counts_its_children_and_the_run_queue_is_read():
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}])"]
    )
    with CpuWatch(parent) as watched:
        deadline = time.monotonic() + 30
        while len(tree_cpu(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(tree_cpu(parent.pid)) == 2  # the parent and its child
        # The child burns until it exits; the watch ends while both are still there.
        while sum(tree_cpu(parent.pid).values()) < 0.25 and time.monotonic() < deadline:
            time.sleep(0.01)
    parent.wait()
    assert watched.took >= 0.25
    assert watched.idle >= 0
    queued = run_queue_ns([os.getpid(), 2**22 + 1])  # a pid that cannot exist is left out
    assert list(queued) == [os.getpid()] and queued[os.getpid()] >= 0


def test_nothing_watched_takes_nothing():
    thread = threading.Thread(target=time.sleep, args=(0.05,))
    with CpuWatch(None) as watched:
        thread.start()
        thread.join()
    assert watched.took == 0
