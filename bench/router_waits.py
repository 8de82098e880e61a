"""Where a benchmark's PostgreSQL connections wait: ``pg_stat_activity`` sampled while a run goes on."""

from __future__ import annotations

import threading
import time
from collections import Counter

import psycopg


class WaitSampler:
    """Samples ``pg_stat_activity`` for connections named ``application`` every 10 ms while running."""

    def __init__(self, dsn: str, application: str):
        self.dsn, self.application = dsn, application
        self.samples: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE application_name = %s",
                    (self.application,),
                ).fetchall()
                for state, kind, event in rows:
                    if state == "active":
                        self.samples[f"active: {kind}:{event}" if kind else "active: on CPU"] += 1
                    elif state == "idle in transaction":
                        self.samples["idle in transaction (waiting for the client)"] += 1
                time.sleep(0.01)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def shares(self) -> dict[str, float]:
        total = sum(self.samples.values())
        return {key: count / total for key, count in self.samples.most_common()} if total else {}


def print_waits(name: str, shares: dict[str, float]) -> None:
    print(f"\n{name}: where its connections were, share of samples in a transaction")
    for key, share in shares.items():
        print(f"  {share:6.1%}  {key}")
