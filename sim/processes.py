"""The SimPy processes: one per driver, each a generator of ``(env, world, log)``.

- ``signups``: customers arrive at their drawn sign-up times and place their first service;
- ``service_creation``: customers' later services are created and placed on their home cluster;
- ``churn``: customers leave at the end of their drawn lifetimes and give back what they held;
- ``operator``: once a day the operator looks at the fleet and acts (``sim.operator``);
- ``sampler``: once a day, after the operator, every cluster's counters are recorded;
- ``packing_checks``: on the scenario's check days, after the sample, the live services are packed (``sim.packing``).

None of them is per customer: customers and services are rows of the arrays drawn up front in
``sim.sampling``. The processes share nothing but the world and the log; ``sim.simulation`` starts them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import simpy

from sim.log import Log
from sim.operator import Operator
from sim.packing import check_packing
from sim.placing import leave, place_later, sign_up
from sim.population import ACTIVE
from sim.sampling import Draws
from sim.start_from.carry import carry_over
from sim.world import World

Process = Generator[simpy.Event, None, None]


def wait_until(env: simpy.Environment, at: float) -> simpy.Event | None:
    """What a process waits on until time ``at``: ``env.timeout(at - env.now)``, or None when it need not wait.

    None when ``at`` is not later than now, and also when that timeout would be the next event processed (its time,
    SimPy's own ``now + delay``, before every scheduled event's: an event of equal time was scheduled first, so it
    goes first). Then the clock is set to that time at once, which is all that processing the timeout would do
    before resuming the process, without scheduling it and resuming the process through it (about half of the
    sign-ups, service creations and departures). The other events keep their order: the event counter orders only
    events of equal time, and none was scheduled between. SimPy's clock has no setter: ``_now`` is the one
    ``step`` sets."""
    now = env._now
    if at <= now:
        return None
    when = now + (at - now)
    if when < env.peek():
        env._now = when
        return None
    return env.timeout(at - now)


def signups(env: simpy.Environment, world: World, log: Log) -> Process:
    signup = world.draws.signup
    first = opening_customers(world.draws) if world.opened else 0
    for customer, at in enumerate(signup[first:].tolist(), first):
        wait = wait_until(env, at)
        if wait is not None:
            yield wait
        sign_up(world, log, customer)


def service_creation(env: simpy.Environment, world: World, log: Log) -> Process:
    state = world.population.cells.state  # (a memoryview: an element costs less to read than ``item``)
    order, owner, times = later_services(world)
    first = int(np.searchsorted(times, 0.0, side="right")) if world.opened else 0
    for service, customer, at in zip(
        order[first:].tolist(), owner[first:].tolist(), times[first:].tolist(), strict=True
    ):
        wait = wait_until(env, at)
        if wait is not None:
            yield wait
        if state[customer] == ACTIVE:
            place_later(world, log, customer, service)


def opening_customers(draws: Draws) -> int:
    """The customers that sign up at time 0 (a prefix: sign-ups are sorted): the initial fleet's."""
    return int(np.searchsorted(draws.signup, 0.0, side="right"))


def later_services(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every service after its customer's first that is created within the horizon, in creation order (ties in
    service order): the services, their customers, their creation days."""
    draws = world.draws
    later = np.ones(len(draws.service_created), dtype=bool)
    later[draws.service_start[:-1]] = False
    later &= draws.service_created < world.config.horizon
    order = np.flatnonzero(later)
    order = order[np.argsort(draws.service_created[order], kind="stable")]
    owner = np.repeat(np.arange(draws.customers), np.diff(draws.service_start))
    return order, owner[order], draws.service_created[order]


def open_fleet(world: World, log: Log) -> None:
    """What ``signups`` and ``service_creation`` do at time 0, before any other process runs: the customers
    signed up at time 0 (the initial fleet's) and then their services created at time 0, placed in the order the
    two processes place them. A world ``opened`` so (``World.opened``) has them skip it."""
    for customer in range(opening_customers(world.draws)):
        sign_up(world, log, customer)
    people = world.population
    order, owner, times = later_services(world)
    first = int(np.searchsorted(times, 0.0, side="right"))
    for service, customer in zip(order[:first].tolist(), owner[:first].tolist(), strict=True):
        if people.state[customer] == ACTIVE:
            place_later(world, log, customer, service)
    world.opened = True


def churn(env: simpy.Environment, world: World, log: Log) -> Process:
    draws, state = world.draws, world.population.cells.state
    leaving = draws.signup + draws.lifetime
    order = np.flatnonzero(leaving < world.config.horizon)
    order = order[np.argsort(leaving[order], kind="stable")]
    for customer, at in zip(order.tolist(), leaving[order].tolist(), strict=True):
        wait = wait_until(env, at)
        if wait is not None:
            yield wait
        if state[customer] == ACTIVE:
            leave(world, customer, at)


def operator(env: simpy.Environment, world: World, log: Log) -> Process:
    look = Operator(world, log)
    carry_over(look)  # a live start: the clusters it has on order and the trend it has seen (sim.start_from)
    while True:
        look.tick(env.now)
        yield env.timeout(1.0)


def _days(world: World) -> range:
    """The sampled days: every midnight from the start to the horizon."""
    return range(int(np.floor(world.config.horizon)) + 1)


def sampler(env: simpy.Environment, world: World, log: Log) -> Process:
    counters = world.fleet.counters
    for day in _days(world):
        if day > env.now:
            yield env.timeout(day - env.now)
        log.record_day(world.fleet, day)
        counters["placements"][:] = 0
        counters["rejections"][:] = 0


def packing_checks(env: simpy.Environment, world: World, log: Log) -> Process:
    # Wakes every day (not just on check days) so that on a check day it runs after that day's sample: SimPy
    # runs events of equal time in the order they were scheduled.
    for day in _days(world):
        if day > env.now:
            yield env.timeout(day - env.now)
        if day in world.config.check_days:
            log.packing_rows.extend(check_packing(world, log, day))


def progress_reports(env: simpy.Environment, world: World, progress: Callable[[float], None]) -> Process:
    """Calls ``progress(fraction)`` about a hundred times over the run, after each reported day's work."""
    days = _days(world)
    last = days[-1]
    step = max(last // 100, 1)
    for day in days:
        if day > env.now:
            yield env.timeout(day - env.now)
        if day % step == 0 or day == last:
            progress(day / max(last, 1))


# Started in this order, which is their order at equal times: at time 0 the initial fleet's customers are
# placed before the operator's first look, and the sampler records after the operator acted. The packing
# checks (only with check days) and the progress reports start after them.
DRIVERS = (signups, service_creation, churn, operator, sampler)
