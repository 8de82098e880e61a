"""Where a benchmark's PostgreSQL connections wait: ``pg_stat_activity`` sampled while a run goes on, and the
server's WAL and checkpoint counters around it.

The sampler is a process of its own (``python -m bench.router_waits DSN APPLICATION...``: it samples until its stdin
closes, then prints its counts per application as JSON). As a thread of the benchmark it shared the GIL and the CPU
count with the database floor, which replays in the benchmark's own process: it took turns from the floor's event loop
and its queries' client work was counted as the floor's CPU per request, and the router (another process) paid neither.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg

SAMPLE_EVERY = 0.01  # seconds
ROOT = Path(__file__).resolve().parents[1]


class WaitSampler:
    """Samples ``pg_stat_activity`` for the connections named ``application`` (and each of ``others``) every 10 ms
    while running. ``samples``: the first application's counts; ``by_application``: every application's."""

    def __init__(self, dsn: str, application: str, *others: str):
        self.dsn, self.applications = dsn, (application, *others)
        self.by_application: dict[str, Counter[str]] = {name: Counter() for name in self.applications}
        self._process: subprocess.Popen[str] | None = None

    @property
    def samples(self) -> Counter[str]:
        return self.by_application[self.applications[0]]

    def __enter__(self) -> WaitSampler:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.router_waits", self.dsn, *self.applications],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._process.stdout is None or self._process.stdout.readline().strip() != "sampling":
            raise RuntimeError("the wait sampler did not start")
        return self

    def __exit__(self, *_exc) -> None:
        process = self._process
        assert process is not None and process.stdin is not None
        out, _ = process.communicate(timeout=30)  # closes its stdin: it stops and prints its counts
        if process.returncode != 0:
            raise RuntimeError(f"the wait sampler failed ({process.returncode})")
        self.by_application = {name: Counter(counts) for name, counts in json.loads(out).items()}

    def shares(self) -> dict[str, float]:
        total = sum(self.samples.values())
        return {key: count / total for key, count in self.samples.most_common()} if total else {}


def sample(dsn: str, applications: list[str]) -> dict[str, Counter[str]]:
    """Samples until stdin closes: per application, how many samples found one of its connections in each state."""
    samples: dict[str, Counter[str]] = {name: Counter() for name in applications}
    with psycopg.connect(dsn, autocommit=True) as conn, selectors.DefaultSelector() as stdin:
        stdin.register(sys.stdin, selectors.EVENT_READ)
        print("sampling", flush=True)
        while not stdin.select(0):  # readable: closed (nothing is ever written to it)
            rows = conn.execute(
                "SELECT application_name, state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE application_name = ANY(%s)",
                (applications,),
            ).fetchall()
            for application, state, kind, event in rows:
                if state == "active":
                    samples[application][f"active: {kind}:{event}" if kind else "active: on CPU"] += 1
                elif state == "idle in transaction":
                    samples[application]["idle in transaction (waiting for the client)"] += 1
            time.sleep(SAMPLE_EVERY)
    return samples


def print_waits(name: str, shares: dict[str, float]) -> None:
    print(f"\n{name}: where its connections were, share of samples in a transaction")
    for key, share in shares.items():
        print(f"  {share:6.1%}  {key}")


# The server's WAL counters (pg_stat_wal, PostgreSQL 14+) and checkpoints: the whole server's, not one schema's.
WAL_QUERY = """
SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_write, w.wal_sync,
       b.checkpoints_timed + b.checkpoints_req, b.buffers_checkpoint
FROM pg_stat_wal w, pg_stat_bgwriter b
"""
WAL_FIELDS = ("wal_bytes_lsn", "records", "full_page_images", "wal_bytes", "writes", "syncs", "checkpoints")
WAL_FIELDS += ("buffers_checkpoint",)


def wal_counters(dsn: str) -> dict[str, int]:
    """The server's WAL position and counters now. pg_stat_wal's figures reach the view when a backend flushes its
    statistics (within a second or so, and at its exit); the WAL position (``wal_bytes_lsn``) is exact."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {name: int(value) for name, value in zip(WAL_FIELDS, conn.execute(WAL_QUERY).fetchone(), strict=True)}


def backend_pids(dsn: str, application: str) -> list[int]:
    """The server processes of the connections named ``application``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        return [pid for (pid,) in conn.execute(query, (application,)).fetchall()]


if __name__ == "__main__":
    print(json.dumps(sample(sys.argv[1], sys.argv[2:])))
