"""The simulator's clock (``sim.simulation.Clock``) runs the processes in SimPy's order: a run is the same on it as
on ``simpy.Environment``, ties included."""

from __future__ import annotations

import pytest
import simpy

import sim
from sim.config import compile_scenario
from sim.log import Log
from sim.processes import DRIVERS
from sim.sampling import draw
from sim.simulation import END_EPSILON_DAYS, Clock, seed_sequence
from sim.world import World
from tests.sim.conftest import SCENARIOS


def waits(env, name: str, delays: list[float], seen: list) -> object:
    for delay in delays:
        yield env.timeout(delay)
        seen.append((name, env.now))


@pytest.mark.parametrize("make", [simpy.Environment, Clock])
def test_ties_run_in_the_order_their_events_were_made(make):
    env, seen = make(), []
    # b's second wait is made before a's second: both end at 2.0, b first; c's end at 3.0 with the stop, not run.
    env.process(waits(env, "a", [1.5, 0.5, 0.5], seen))
    env.process(waits(env, "b", [1.0, 1.0, 1.0], seen))
    env.process(waits(env, "c", [0.0, 3.0], seen))
    env.run(until=3.0)
    assert seen == [("c", 0), ("b", 1.0), ("a", 1.5), ("b", 2.0), ("a", 2.0), ("a", 2.5)]
    assert env.now == 3.0


def test_a_run_is_the_same_on_simpy():
    spec = sim.load_scenario(SCENARIOS / "stage1.yaml").model_copy(update={"horizon_days": 90.0, "horizon_years": None})
    config = compile_scenario(spec)
    runs = []
    for make in (simpy.Environment, Clock):
        world, log = World.build(config, draw(spec, seed_sequence(3), config.horizon)), Log()
        env = make()
        for driver in DRIVERS:
            env.process(driver(env, world, log))
        env.run(until=config.horizon + END_EPSILON_DAYS)
        runs.append((log.events, log.orders, [sample.tobytes() for sample in log.samples]))
    assert runs[0] == runs[1]
    assert runs[0][1], "the operator ordered nothing: the comparison proves little"
