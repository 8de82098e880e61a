"""Running a scenario: compile it, draw, start one SimPy process per driver, collect the result.

    world, log = simulate(compile_scenario(scenario), seed)   # the raw run
    result = run(scenario, seed)                              # the same, as a SimResult

The scenario (``sim.scenario``) says what to simulate; this module is the engine that runs it, and the
processes (``sim.processes``) share only the world and the log.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import numpy as np
import simpy

from sim.assumptions import assumptions
from sim.collect import collect
from sim.config import RunConfig, compile_scenario
from sim.log import Log
from sim.opening import Openings
from sim.overrides import apply_overrides
from sim.processes import DRIVERS, packing_checks, progress_reports
from sim.results import SimResult
from sim.sampling import draw
from sim.scenario import Scenario
from sim.start_from.resolve import started_scenario
from sim.world import World

END_EPSILON_DAYS = 1e-6  # run just past the last midnight so its operator look and sample happen


def seed_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def simulate(
    config: RunConfig,
    seed: int | np.random.SeedSequence = 0,
    *,
    progress: Callable[[float], None] | None = None,
    openings: Openings | None = None,
) -> tuple[World, Log]:
    """One replication of a compiled scenario: the world as it ends, and the log of what happened.

    ``openings``: runs that start from the same fleet and customers (a forecast's) share their time-0 placements
    through it (``sim.opening``); the results are the same with or without."""
    draws = draw(config.scenario, seed_sequence(seed), config.horizon)
    world, log = World.build(config, draws), Log()
    if openings is not None:
        openings.open(world, log)
    env = simpy.Environment()
    for driver in DRIVERS:
        env.process(driver(env, world, log))
    if config.check_days:
        env.process(packing_checks(env, world, log))
    if progress is not None:
        env.process(progress_reports(env, world, progress))
    # The run makes millions of short-lived objects that reference counting frees, and almost no reference cycles
    # (stage 4: about a hundred cyclic objects in five years), so the cyclic collector's passes over the growing
    # heap found nothing and cost about a fifth of the run. It is off while the run lasts and back on after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        env.run(until=config.horizon + END_EPSILON_DAYS)
    finally:
        if collecting:
            gc.enable()
    return world, log


def run(
    scenario: Scenario,
    seed: int | np.random.SeedSequence = 0,
    *,
    progress: Callable[[float], None] | None = None,
    profile: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> SimResult:
    """Run one replication. ``seed`` is an int or a ``SeedSequence``; ``profile`` overrides the scenario's;
    ``overrides`` are what-ifs, ``PATH=VALUE`` (``sim.overrides``), recorded in ``summary["overrides"]``."""
    seed = seed_sequence(seed)
    scenario = started_scenario(scenario)  # a live source named by the scenario, read once, before the run
    scenario, record = apply_overrides(scenario, overrides)
    config = compile_scenario(scenario, profile)
    world, log = simulate(config, seed, progress=progress)
    result = collect(world, log, seed)
    result.summary["overrides"] = record
    result.summary["assumptions"] = assumptions(config, record)
    return result
