"""``sim.processes.wait_until`` skips a timeout only when it would be the next event: the processes run in the same
order, at the same times, as with every timeout scheduled."""

from __future__ import annotations

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.processes import wait_until

# Times on a coarse grid (ties between processes, and with the daily process, are common), some repeated.
times = st.lists(st.integers(0, 40).map(lambda k: k / 4), max_size=30).map(sorted)


def _run(streams: list[list[float]], skip: bool) -> list[tuple[int, float, int]]:
    env = simpy.Environment()
    seen: list[tuple[int, float, int]] = []

    def stream(number: int, ats: list[float]):
        for k, at in enumerate(ats):
            if skip:
                wait = wait_until(env, at)
                if wait is not None:
                    yield wait
            else:
                now = env.now
                if at > now:
                    yield env.timeout(at - now)
            seen.append((number, env.now, k))

    def daily():
        while True:
            seen.append((-1, env.now, 0))
            yield env.timeout(1.0)

    for number, ats in enumerate(streams):
        env.process(stream(number, ats))
    env.process(daily())
    env.run(until=12.5)
    return seen


@settings(max_examples=300, deadline=None)
@given(streams=st.lists(times, min_size=1, max_size=4))
def test_wait_until_runs_the_processes_as_timeouts_do(streams):
    assert _run(streams, skip=True) == _run(streams, skip=False)


def test_wait_until_waits_for_an_event_scheduled_first_at_the_same_time():
    env = simpy.Environment()
    env.timeout(2.0)
    assert isinstance(wait_until(env, 2.0), simpy.Timeout)
    assert wait_until(env, 1.0) is None and env.now == 1.0
    assert wait_until(env, 0.5) is None and env.now == 1.0
