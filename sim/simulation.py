"""Running a scenario: compile it, draw, start one SimPy process per driver, collect the result.

    world, log = simulate(compile_scenario(scenario), seed)   # the raw run
    result = run(scenario, seed)                              # the same, as a SimResult

The scenario (``sim.scenario``) says what to simulate; this module is the engine that runs it, and the
processes (``sim.processes``) share only the world and the log.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator
from heapq import heappop, heappush
from itertools import count

import numpy as np

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
    env = Clock()
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


class Clock:
    """The simulated time the processes (``sim.processes``) share, as much of ``simpy.Environment`` as they use
    (``now``, ``timeout``, ``process``, ``run``), run in SimPy's order: by time, then a process's start before any
    timeout, then the order the events were made. Each process yields ``timeout(delay)`` and nothing else, so an
    event is only a process waiting: SimPy's Timeout, callback and resume objects per event were about a tenth of a
    forecast run (20,000 events a run). The drivers stay SimPy processes: ``simpy.Environment`` runs them the same.
    """

    __slots__ = ("_eid", "_queue", "now")

    def __init__(self) -> None:
        self.now: float = 0  # (an int until the first timeout, as SimPy's: the first look is on day ``0``)
        self._queue: list[tuple[float, int, int, Generator | None]] = []  # time, priority, order made, process
        self._eid = count()

    def timeout(self, delay: float) -> float:
        """What a process yields to wait ``delay`` (its event is made when it yields it, at once)."""
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        return delay

    def process(self, generator: Generator) -> None:
        heappush(self._queue, (self.now, _URGENT, next(self._eid), generator))

    def run(self, until: float) -> None:
        """Run every event before ``until`` (one at ``until`` after it, as SimPy's stop event is urgent)."""
        queue, eid = self._queue, self._eid
        heappush(queue, (until if isinstance(until, int) else float(until), _URGENT, next(eid), None))
        while True:
            now, _, _, process = heappop(queue)
            self.now = now
            if process is None:
                return
            try:
                delay = process.send(None)
            except StopIteration:
                continue
            heappush(queue, (now + delay, _NORMAL, next(eid), process))


_URGENT, _NORMAL = 0, 1  # SimPy's event priorities: a process's start, a timeout


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
    scenario, record = apply_overrides(scenario, overrides)
    config = compile_scenario(scenario, profile)
    world, log = simulate(config, seed, progress=progress)
    result = collect(world, log, seed)
    result.summary["overrides"] = record
    result.summary["assumptions"] = assumptions(config, record)
    return result
