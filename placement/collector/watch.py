"""Collect once, or on an interval with exponential backoff after failures.

A failed cycle writes nothing, so whatever the sinks last received stays in place; the router's staleness
rule decides when that snapshot is too old to use. Any error in a cycle, even one the collector did not foresee,
fails that cycle only: the loop logs it, backs off and tries again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from placement.collector.errors import CollectError
from placement.collector.sinks import Sink
from placement.collector.snapshot import Snapshot

BACKOFF_START = 5.0  # seconds; never more than the interval


def backoff_delay(failures: int, interval: float, cap: float) -> float:
    """Seconds to wait after ``failures`` consecutive failures: doubling from min(interval, 5 s), capped."""
    start = min(interval, BACKOFF_START)
    return min(cap, start * 2 ** (failures - 1))


def deliver(snapshot: Snapshot, sinks: Sequence[Sink]) -> list[str]:
    return [sink.write(snapshot) for sink in sinks]


def watch(
    collect: Callable[[], Snapshot],
    sinks: Sequence[Sink],
    *,
    interval: float,
    backoff_cap: float,
    cycles: int | None = None,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Run collect-and-deliver cycles (forever, or ``cycles`` times). Returns whether the last cycle succeeded."""
    failures = 0
    done = 0
    warned: list[str] = []
    while True:
        try:
            snapshot = collect()
            targets = deliver(snapshot, sinks)
        except Exception as exc:  # a daemon outlives any one cycle's error
            failures += 1
            delay = backoff_delay(failures, interval, backoff_cap)
            reason = str(exc) if isinstance(exc, CollectError) else f"unexpected {type(exc).__name__}: {exc}"
            log(
                f"collection failed ({failures} in a row), keeping the previous snapshot: {reason}; retry in {delay:g}s"
            )
        else:
            failures = 0
            delay = interval
            # The same warnings every cycle are noise: say them when they change.
            if snapshot.inventory.warnings != warned:
                warned = list(snapshot.inventory.warnings)
                for warning in warned:
                    log(f"warning: {warning}")
            log(f"{summary(snapshot)} -> {', '.join(targets) or 'nowhere'}")
        done += 1
        if cycles is not None and done >= cycles:
            return failures == 0
        sleep(delay)


def summary(snapshot: Snapshot) -> str:
    load = snapshot.load
    return (
        f"cluster {snapshot.cluster_id}: {len(load.run_nodes)} run nodes, {load.pods} pods, "
        f"{load.customers} customers, {load.services} services, {load.volumes} volumes, "
        f"{load.etcd_objects} etcd objects, control plane {load.ctrl_node_type}"
    )
