"""A standing forecast's runs take idle CPU time only; the process that writes into the router's database does not
(a writer descheduled inside its transaction would hold SQLite's one write lock)."""

import os

import pytest

from sim.forecast.publish import background_priority
from sim.sweep.executors import process_pool


def test_the_forecast_workers_run_at_background_priority_and_the_parent_is_left_alone():
    before = (os.nice(0), os.sched_getscheduler(0))
    with process_pool(1, background_priority) as pool:
        nice = pool.submit(os.nice, 0).result()
        policy = pool.submit(os.sched_getscheduler, 0).result()
    assert nice == 19
    if hasattr(os, "SCHED_IDLE"):
        assert policy == os.SCHED_IDLE
    assert (os.nice(0), os.sched_getscheduler(0)) == before


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policy")
def test_a_plain_pool_keeps_the_normal_policy():
    with process_pool(1) as pool:
        assert pool.submit(os.sched_getscheduler, 0).result() != os.SCHED_IDLE
