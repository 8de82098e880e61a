"""A run's time-0 placements, kept and replayed: runs that start from the same fleet and customers (a forecast's,
which differ only in their growth and churn) place the same initial services on the same nodes, so each run after
the first copies the world and log as the first left them at time 0 instead of placing them again.

    openings = Openings()                       # per process; keeps the last opening
    openings.open(world, log)                   # before the processes start (``sim.simulation.simulate``)

What the time-0 placements read (``sim.processes.open_fleet``): the compiled policy, the fleet the scenario starts
with, the customer mix and the spill policy, and the draws of the customers signed up at time 0 and of their
services created then. An opening is replayed only where all of these are equal (``Opening.fits``); it is then the
state ``open_fleet`` would leave, value for value and in the same order (a run node's services as a set built in
placement order). The services' numbers may differ between runs (a live start inserts each customer's services
still to come after its measured ones, as many as the run draws): the opening keeps its services by their place
among the time-0 services and maps them to the run's numbers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from sim.fleet import CONFIG_VALUES, Fleet
from sim.log import Log
from sim.processes import open_fleet, opening_customers
from sim.start_from.spec import live_of
from sim.world import Signals, World

# Population columns per customer and per service that the time-0 placements write.
CUSTOMER_COLUMNS = ("state", "home", "customer_volumes")
SERVICE_COLUMNS = (
    "service_node", "service_need", "service_objects", "service_volumes", "service_disk", "service_seq",
    "service_cluster",
)  # fmt: skip


def config_key(world: World) -> tuple:
    """What the time-0 placements read of the run's configuration (besides the draws)."""
    config = world.config
    scenario = config.scenario
    live = live_of(scenario.start_from)
    return (
        config.policy,
        config.ladder,
        config.start,
        config.run_node_ram,
        config.run_node_max_pods,
        config.regions,
        tuple(scenario.fleet.clusters),
        tuple(live.closed) if live is not None else (),
        scenario.customers,
        scenario.operator.spill.enabled,
    )


def time0_services(world: World, customers: int) -> np.ndarray:
    """The services of the first ``customers`` customers created at time 0, in service order."""
    draws = world.draws
    end = draws.service_start.item(customers)
    return np.flatnonzero(draws.service_created[:end] <= 0.0)


def draws_key(world: World, customers: int, services: np.ndarray) -> tuple[np.ndarray, ...]:
    """The draws the time-0 placements read: the customers' sign-up, region and forced cluster, and per time-0
    service its customer, its place among that customer's services, its creation day, RAM and volume."""
    draws = world.draws
    owner = np.searchsorted(draws.service_start, services, side="right") - 1
    return (
        draws.signup[:customers],
        draws.region[:customers],
        draws.forced_cluster[:customers],
        owner,
        services - draws.service_start[owner],
        draws.service_created[services],
        draws.service_ram[services],
        draws.service_volume[services],
    )


@dataclass(frozen=True)
class Opening:
    """The world and log as the time-0 placements left them, with what they were made from."""

    config: tuple
    draws: tuple[np.ndarray, ...]
    customers: int
    fleet: Fleet  # its run nodes' service sets empty: ``placed`` refills them
    placed: tuple[np.ndarray, np.ndarray]  # (time-0 service's place, its run node) in placement order
    customer_columns: dict[str, np.ndarray]  # per ``CUSTOMER_COLUMNS``: the first ``customers`` rows
    service_columns: dict[str, np.ndarray]  # per ``SERVICE_COLUMNS``: the time-0 services' rows, in their order
    signals: Signals
    away: dict[int, set[int]]
    spilled: list[tuple[int, int]]  # (time-0 service's place, namespaces), in the world's order
    log: Log

    @classmethod
    def take(cls, world: World, log: Log) -> Opening:
        customers = opening_customers(world.draws)
        services = time0_services(world, customers)
        people = world.population
        place = {service: k for k, service in enumerate(services.tolist())}
        placed = np.flatnonzero(people.service_node[services] >= 0)
        placed = placed[np.argsort(people.service_seq[services[placed]], kind="stable")]
        fleet = world.fleet.copy()
        fleet.node_services = [set() for _ in fleet.node_services]
        return cls(
            config_key(world),
            draws_key(world, customers, services),
            customers,
            fleet,
            (placed, people.service_node[services[placed]]),
            {name: getattr(people, name)[:customers].copy() for name in CUSTOMER_COLUMNS},
            {name: getattr(people, name)[services] for name in SERVICE_COLUMNS},
            copy.deepcopy(world.signals),
            copy.deepcopy(world.away),
            [(place[service], namespaces) for service, namespaces in world.spilled.items()],
            copy.deepcopy(log),
        )

    def fits(self, world: World) -> bool:
        """Whether the time-0 placements of ``world`` are this opening's."""
        customers = opening_customers(world.draws)
        if customers != self.customers or config_key(world) != self.config:
            return False
        ours = draws_key(world, customers, time0_services(world, customers))
        return all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(ours, self.draws, strict=True))

    def restore(self, world: World, log: Log) -> None:
        """Set ``world`` (built, nothing placed yet) and ``log`` (empty) as the time-0 placements leave them."""
        services = time0_services(world, self.customers)
        people = world.population
        for name, values in self.customer_columns.items():
            getattr(people, name)[: self.customers] = values
        for name, values in self.service_columns.items():
            getattr(people, name)[services] = values
        fleet = self.fleet.copy()
        for name in CONFIG_VALUES:  # equal (``fits``); the run's own objects
            setattr(fleet, name, getattr(world.fleet, name))
        node_services = fleet.node_services
        places, nodes = self.placed
        for service, node in zip(services[places].tolist(), nodes.tolist(), strict=True):
            node_services[node].add(service)
        world.fleet = fleet
        world.signals = copy.deepcopy(self.signals)
        world.away = copy.deepcopy(self.away)
        world.spilled = {services.item(k): namespaces for k, namespaces in self.spilled}
        kept = copy.deepcopy(self.log)
        for name in Log.__slots__:
            setattr(log, name, getattr(kept, name))
        world.opened = True


class Openings:
    """The last opening taken in this process, replayed into each run that fits it."""

    def __init__(self) -> None:
        self.last: Opening | None = None

    def open(self, world: World, log: Log) -> None:
        """Place ``world``'s time-0 services (``sim.processes.open_fleet``), or replay the last opening if it fits."""
        if self.last is not None and self.last.fits(world):
            self.last.restore(world, log)
            return
        open_fleet(world, log)
        self.last = Opening.take(world, log)
