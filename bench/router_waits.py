"""Where a benchmark's PostgreSQL connections wait: ``pg_stat_activity`` sampled while a run goes on.

The sampler is a process of its own (``python -m bench.router_waits DSN APPLICATION``: it samples until its stdin
closes, then prints its counts as JSON). As a thread of the benchmark it shared the GIL and the CPU count with the
database floor, which replays in the benchmark's own process: it took turns from the floor's event loop and its
queries' client work was counted as the floor's CPU per request, and the router (another process) paid neither.
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
    """Samples ``pg_stat_activity`` for connections named ``application`` every 10 ms while running."""

    def __init__(self, dsn: str, application: str):
        self.dsn, self.application = dsn, application
        self.samples: Counter[str] = Counter()
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> WaitSampler:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.router_waits", self.dsn, self.application],
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
        self.samples = Counter(json.loads(out))

    def shares(self) -> dict[str, float]:
        total = sum(self.samples.values())
        return {key: count / total for key, count in self.samples.most_common()} if total else {}


def sample(dsn: str, application: str) -> Counter[str]:
    """Samples until stdin closes."""
    samples: Counter[str] = Counter()
    with psycopg.connect(dsn, autocommit=True) as conn, selectors.DefaultSelector() as stdin:
        stdin.register(sys.stdin, selectors.EVENT_READ)
        print("sampling", flush=True)
        while not stdin.select(0):  # readable: closed (nothing is ever written to it)
            rows = conn.execute(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE application_name = %s",
                (application,),
            ).fetchall()
            for state, kind, event in rows:
                if state == "active":
                    samples[f"active: {kind}:{event}" if kind else "active: on CPU"] += 1
                elif state == "idle in transaction":
                    samples["idle in transaction (waiting for the client)"] += 1
            time.sleep(SAMPLE_EVERY)
    return samples


def print_waits(name: str, shares: dict[str, float]) -> None:
    print(f"\n{name}: where its connections were, share of samples in a transaction")
    for key, share in shares.items():
        print(f"  {share:6.1%}  {key}")


if __name__ == "__main__":
    print(json.dumps(sample(sys.argv[1], sys.argv[2])))
