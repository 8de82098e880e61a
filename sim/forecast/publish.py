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
PROC_CGROUP = Path("/proc/self/cgroup")
MOUNTINFO = Path("/proc/self/mountinfo")
# The child cgroup a forecast's workers share, made beside (below) the process's own CPU cgroup and left there
# empty when they end, as a systemd slice is: one name, so that standing forecasts do not leave one each.
IDLE_CGROUP = "capplan-forecast-idle"
# The most CPU a standing forecast's workers take together, as a share of their cores (``sim forecast --cpu-share``).
# Idle priority decides who runs first, not what a busy core next to the router costs it. ``bench.router_publish`` on
# a quick 2-core host (2026-12-05, one worker, medians of 3 rounds, runs alternating): placement p99 while publishing
# 1.40, 1.43 and 1.58x its idle figure uncapped, 1.28, 1.28 and 1.36x with the worker capped at half a core (its
# p99 about 7 % lower; the rounds spread as much). A forecast every few hours can take twice as long.
DEFAULT_CPU_SHARE = 0.5
QUOTA_PERIOD_US = 100_000  # the CFS bandwidth period the cap is given in (the kernel's default)


def background_priority(cpu_cores: float | None = None) -> None:
    """Run the calling process (and what it starts) only on CPU time nothing else wants. For a forecast's Monte Carlo
    workers, never for the process that writes into the router's database: on SQLite a writer holds the database's one
    write lock, and a writer descheduled for seconds inside its transaction would stall every placement behind it.
    ``cpu_cores``: the most CPU the idle cgroup's processes take together (``cpu_quota``; None: no cap).

    Three steps, each where the machine allows it:

    - Linux's SCHED_IDLE policy, and nice 19 (all that is left where that policy is missing).
    - A cgroup whose ``cpu.idle`` is 1 (``idle_cgroup``): the kernel's own "idle time only" for a group. SCHED_IDLE
      and nice weigh a task only against the others of its group; a router task woken onto a core that a worker
      holds is weighed group against group, and against a group of normal standing it waited for the worker's slice
      to end, at the next scheduler tick (traced in ``bench.router_publish``'s publishing phase on a 2-core
      host, HZ 250: such wakeups' p99 3.0-3.2 ms, up to 4.7 ms). Against an idle group it runs at once (p99 0.5 ms;
      placement p99 while publishing 6.4-7.4 ms against 7.4-9.2 ms without it, four runs each, alternating).
    - Otherwise, with Linux's autogroup (``kernel.sched_autogroup_enabled``, on by default on desktop and many server
      kernels), where a group is a session: the router's, PostgreSQL's and the forecast's would be three groups,
      each as heavy as the others. So the worker leaves its session for its own (``setsid``) and gives that group the
      lowest weight (nice 19 in ``/proc/self/autogroup``): measured, a normal task in another session waited 180-240
      us a wakeup for two idle-policy workers in their parent's session, 25-116 us so, 45-100 us with no workers.
      Autogroups apply only to tasks outside CPU cgroups, so this step changes nothing where the cgroup step took.

    Where the forecast runs as a systemd unit, give the unit ``CPUWeight=idle`` (systemd sets ``cpu.idle`` on its
    cgroup) and ``CPUQuota=`` for the cap; the process cannot make a cgroup of its own there."""
    os.nice(max(0, 19 - os.nice(0)))
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):  # not permitted here: nice 19 stands
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if idle_cgroup():
        group = cpu_cgroup()
        if group is not None:
            # Set by every worker alike, and on every start: a cap left by an earlier forecast is replaced.
            cpu_quota(group, cpu_cores)
    if AUTOGROUP.exists():
        with contextlib.suppress(OSError):  # already a session leader, or no autogroup to set: the above stands
            os.setsid()
            AUTOGROUP.write_text("19")


def cpu_cgroup(pid: int | None = None) -> Path | None:
    """The directory of the calling process's cgroup (or process ``pid``'s) in the hierarchy with the CPU controller
    (cgroup v1's ``cpu``, or v2's unified hierarchy where the CPU controller is on), or None where there is none this
    process can see."""
    try:
        memberships = (PROC_CGROUP if pid is None else Path(f"/proc/{pid}/cgroup")).read_text().splitlines()
        mounts = MOUNTINFO.read_text().splitlines()
    except OSError:
        return None
    v1 = v2 = None
    for line in memberships:
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[1] == "":
            v2 = parts[2]
        elif len(parts) == 3 and "cpu" in parts[1].split(","):
            v1 = parts[2]
    for mount in mounts:
        fields = mount.split()
        # proc(5): six fields or more, a "-", then the file system type, the source and the super options.
        separator = fields.index("-", 6) if "-" in fields[6:] else len(fields)
        if separator + 3 >= len(fields):
            continue  # not a mount line as proc(5) gives them: nothing to read from it
        fstype, options = fields[separator + 1], fields[separator + 3].split(",")
        root, mountpoint = fields[3], fields[4]
        if fstype == "cgroup" and "cpu" in options and v1 is not None:
            return _below(mountpoint, root, v1)
        if fstype == "cgroup2" and v2 is not None and v1 is None:
            own = _below(mountpoint, root, v2)
            if own is not None and (own / "cpu.max").exists():  # the CPU controller is on for this cgroup
                return own
    return None


def _below(mountpoint: str, root: str, path: str) -> Path | None:
    # A mount may show only part of a hierarchy (its root); the process's path is the whole hierarchy's.
    if root != "/" and path != root and not path.startswith(root.rstrip("/") + "/"):
        return None
    return Path(mountpoint) / path[len(root) if root != "/" else 0 :].lstrip("/")


def idle_cgroup() -> bool:
    """Move the calling process into ``IDLE_CGROUP`` below its own CPU cgroup, with ``cpu.idle`` 1 (Linux 5.15 and
    newer); True when it is there. False, changing nothing, where that is not possible: no CPU cgroup, no
    permission (cgroup v2 also wants the controller delegated to the child), or a kernel without ``cpu.idle``."""
    own = cpu_cgroup()
    if own is None:
        return False
    if own.name == IDLE_CGROUP:
        return True
    group = own / IDLE_CGROUP
    made = False
    try:
        with contextlib.suppress(FileExistsError):
            group.mkdir()
            made = True
        (group / "cpu.idle").write_text("1")
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        if made:
            with contextlib.suppress(OSError):  # another process may have joined it meanwhile: then it stays
                group.rmdir()
        return False
    return True


def cpu_quota(group: Path, cores: float | None) -> bool:
    """Cap the processes of the CPU cgroup ``group`` at ``cores`` CPUs together (CFS bandwidth: cgroup v2's
    ``cpu.max``, v1's ``cpu.cfs_quota_us``), or lift the cap (None); True when written."""
    quota = None if cores is None else max(1_000, round(cores * QUOTA_PERIOD_US))  # the kernel's least is 1 ms
    try:
        if (group / "cpu.max").exists():
            (group / "cpu.max").write_text(f"{'max' if quota is None else quota} {QUOTA_PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(QUOTA_PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(-1 if quota is None else quota))
    except OSError:
        return False
    return True


def quota_possible() -> bool:
    """Whether this process could cap its workers' CPU (``background_priority``): a CPU cgroup it may write in."""
    own = cpu_cgroup()
    if own is None:
        return False
    bandwidth = (own / "cpu.max").exists() or (own / "cpu.cfs_quota_us").exists()
    return bandwidth and os.access(own, os.W_OK)


def standing_cpu_cores(workers: int, share: float | None) -> float | None:
    """The cap of a standing forecast's ``workers`` at ``share`` of their cores (None or 1: no cap)."""
    return None if share is None or share >= 1 else share * workers


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
    from placement.router.forecasts import ForecastDraft, ForecastOrder, ForecastRow

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
        warnings=tuple(result.warnings),
        orders=tuple(
            ForecastOrder(
                cluster=row.cluster,
                order=row.order,
                runs_ordering=float(row.runs_ordering),
                p10_days=days(row.p10_days),
                p50_days=days(row.p50_days),
                p90_days=days(row.p90_days),
                lead_days=float(row.lead_days),
                limit=row.limit if isinstance(row.limit, str) else None,
            )
            for row in result.orders.itertuples()
        ),
    )
