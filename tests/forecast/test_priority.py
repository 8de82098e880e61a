"""A standing forecast's runs take idle CPU time only; the process that writes into the router's database does not
(a writer descheduled inside its transaction would hold SQLite's one write lock)."""

import os
from pathlib import Path

import pytest

from sim.forecast.publish import background_priority, standing_workers
from sim.sweep.executors import process_pool

AUTOGROUP = Path("/proc/self/autogroup")


def _autogroup() -> str:
    return AUTOGROUP.read_text()


def test_the_forecast_workers_run_at_background_priority_and_the_parent_is_left_alone():
    before = (os.nice(0), os.sched_getscheduler(0), os.getsid(0))
    with process_pool(1, background_priority) as pool:
        nice = pool.submit(os.nice, 0).result()
        policy = pool.submit(os.sched_getscheduler, 0).result()
    assert nice == 19
    if hasattr(os, "SCHED_IDLE"):
        assert policy == os.SCHED_IDLE
    assert (os.nice(0), os.sched_getscheduler(0), os.getsid(0)) == before


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="Linux autogroup scheduling")
def test_the_forecast_workers_weigh_least_against_other_sessions_and_the_parents_group_is_left_alone():
    """SCHED_IDLE counts only inside a scheduling group (a session under autogroup): each worker takes a session of
    its own and gives its group the lowest weight, nice 19, so that it yields to the router and PostgreSQL too.

    A process in the kernel's default group (a session never moved by setsid since boot, as in some CI containers)
    reads an empty ``/proc/self/autogroup``; the worker's group must differ from the parent's either way."""
    mine = _autogroup()
    with process_pool(1, background_priority) as pool:
        session = pool.submit(os.getsid, 0).result()
        pid = pool.submit(os.getpid).result()
        group = pool.submit(_autogroup).result()
    assert session == pid != os.getsid(0)
    assert group.split()[-2:] == ["nice", "19"]
    assert group.split()[0].startswith("/autogroup-")
    assert group.split()[0] != (mine.split() or ["the default group"])[0]
    assert _autogroup() == mine


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policy")
def test_a_plain_pool_keeps_the_normal_policy():
    with process_pool(1) as pool:
        assert pool.submit(os.sched_getscheduler, 0).result() != os.SCHED_IDLE
        assert pool.submit(os.getsid, 0).result() == os.getsid(0)


@pytest.mark.parametrize(("cpus", "given", "expected"), [(2, None, 1), (8, None, 7), (1, None, 1), (None, None, 1)])
def test_a_standing_forecast_leaves_a_core_to_the_router_unless_told_otherwise(monkeypatch, cpus, given, expected):
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert standing_workers(given) == expected
    assert standing_workers(3) == 3  # --workers given: as given
