"""A forecast as the router stores it: ``draft_of(result)`` gives the ``placement.router.forecasts.ForecastDraft``
that ``sim forecast --publish`` (once, or ``--every`` at low priority) writes into the router's
``forecasts`` tables. One row per cluster and catalogue limit; days count from ``as_of``; None: not within the
horizon; the order-by day is the p10 day less the lead time (``sim.forecast.core``). A row's limit is the
catalogue's headroom view name (``longhorn.volumes``, ``kubernetes.pods``), as the router's fleet page shows it."""

from __future__ import annotations

import contextlib
import math
import os
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.forecast.core import Forecast


AUTOGROUP = Path("/proc/self/autogroup")


def background_priority() -> None:
    """Run the calling process (and what it starts) only on CPU time nothing else wants: Linux's SCHED_IDLE
    policy, and nice 19 where that policy is missing. For a forecast's Monte Carlo workers, never for the process
    that writes into the router's database: on SQLite a writer holds the database's one write lock, and a writer
    descheduled for seconds inside its transaction would stall every placement behind it.

    SCHED_IDLE and nice weigh a process only against the others of its scheduling group. With Linux's autogroup
    (``kernel.sched_autogroup_enabled``, on by default on desktop and many server kernels) a group is a session: the
    router's, PostgreSQL's and the forecast's are three groups, each as heavy as the others, so idle workers in the
    forecast's session would still take a full share of the CPUs from the router and from PostgreSQL's backends
    (measured: a normal task in another session waited 180-240 us a wakeup for two such workers, 45-100 us without
    them; ``bench.router_publish`` reports the router's and its backends' run-queue time). So the worker leaves its
    session for its own (``setsid``) and gives that group the lowest weight (nice 19 in ``/proc/self/autogroup``):
    25-116 us, as with no workers. Where the forecast runs in a cgroup of its own (a systemd unit), give the unit
    ``CPUWeight=idle`` instead: autogroups apply only outside cgroups with a CPU controller."""
    os.nice(max(0, 19 - os.nice(0)))
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):  # not permitted here: nice 19 stands
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if AUTOGROUP.exists():
        with contextlib.suppress(OSError):  # already a session leader, or no autogroup to set: the above stands
            os.setsid()
            AUTOGROUP.write_text("19")


def standing_workers(workers: int | None) -> int:
    """The local workers of a standing forecast (``sim forecast --every``) when ``--workers`` is not given: one core
    fewer than the machine has (at least one). Idle-priority workers on every core still delay the router's and
    PostgreSQL's wakeups: each one arrives on a core that is running a worker and must take it over, where with a
    core left idle it starts at once (``bench.router_publish``: with both cores' idle time taken by workers, the
    router's backends waited about twice as long for a CPU). A forecast made every few hours can take twice as long;
    the one-shot ``sim forecast`` keeps every core."""
    return workers if workers is not None else max(1, (os.cpu_count() or 1) - 1)


def _optional(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def draft_of(result: Forecast):
    """The router's ``ForecastDraft`` of ``result``."""
    from placement.catalogue import BY_KEY
    from placement.router.forecasts import ForecastDraft, ForecastRow

    head = result.header
    as_of = datetime.fromisoformat(head["as_of"])
    # The runs' days count from midnight of the start date; the router's from as_of itself.
    shift = (as_of - datetime.combine(date.fromisoformat(head["start_date"]), time(), as_of.tzinfo)).total_seconds()
    shift /= 86400.0

    def days(value: Any) -> float | None:
        value = _optional(value)
        return None if value is None else value - shift

    rows = []
    for row in result.table.itertuples():
        capacity = _optional(row.capacity)
        rows.append(
            ForecastRow(
                cluster=row.cluster,
                limit=BY_KEY[row.limit].view.format(provider=row.storage_provider),
                unit=row.unit,
                used=int(round(row.used)),
                capacity=None if capacity is None else int(round(capacity)),
                p10_days=days(row.p10_days),
                p50_days=days(row.p50_days),
                p90_days=days(row.p90_days),
                order_by_days=days(row.order_by_days),
                action=row.action,
                lead_days=_optional(row.lead_days),
            )
        )
    return ForecastDraft(
        as_of=as_of,
        horizon_days=float(head["horizon_days"]),
        runs=int(head["runs"]),
        seed=int(head["seed"]),
        source=str(head["source"]),
        base=str(head["base"]),
        rows=tuple(rows),
    )
