"""Forced migration (``operator.migration``, off by default): the last customers of a nearly empty closed cluster
move to the open clusters of its region, so that the cluster can be decommissioned.

The design document moves no customer, hence off by default. When on, each day the operator takes every closed
cluster with fewer than ``below_customers`` customers (and at least one) and re-places each of its services
through the engine, as a fresh placement on the region's open clusters: a customer's first moved service picks
the cluster, the rest follow it there (or, if that cluster cannot take one, any open cluster of the region).
A service is taken off the old cluster only once its new place is booked, so nothing is lost when no cluster
can take it; it simply stays. Each moved customer costs ``cost_eur_per_customer``, paid as a one-off fee on
the day. The emptied cluster is then decommissioned by the scale-down pass.
"""

from __future__ import annotations

import numpy as np

from sim.log import Log
from sim.placing import place_on_others, placed_footprint
from sim.population import ACTIVE
from sim.world import World


def migrate_nearly_empty(world: World, log: Log, day: float) -> None:
    migration = world.config.scenario.operator.migration
    if not migration.enabled:
        return
    fleet = world.fleet
    customers = fleet.view("customers")
    for number, info in enumerate(fleet.clusters):
        if info.open or not info.active or not 0 < customers[number] < migration.below_customers:
            continue
        targets = [i for i, other in enumerate(fleet.clusters) if other.open and other.region == info.region]
        if not targets:
            continue
        moved = _move_cluster(world, log, number, targets)
        if moved:
            eur = moved * migration.cost_eur_per_customer
            log.add_setup_eur(number, eur)
            log.event(
                day,
                "customers_migrated",
                info.cluster.id,
                f"{moved} customer(s) moved to other clusters of {info.region} (nearly empty and closed, under "
                f"{migration.below_customers} customers), EUR {eur:,.0f} migration cost",
            )


def _move_cluster(world: World, log: Log, number: int, targets: list[int]) -> int:
    """Move every service on cluster ``number``; returns how many customers moved all of theirs."""
    fleet, people = world.fleet, world.population
    by_customer: dict[int, list[int]] = {}
    for node in list(fleet.cluster_nodes[number]):
        for service in fleet.node_services[node]:
            customer = _owner(world, service)
            by_customer.setdefault(customer, []).append(service)
    moved = 0
    for customer in sorted(by_customer):
        if people.state[customer] != ACTIVE:
            continue
        services = sorted(by_customer[customer])
        if all(_move_service(world, log, customer, service, number, targets) for service in services):
            moved += 1
        _rehome(world, customer)
    return moved


def _owner(world: World, service: int) -> int:
    return int(np.searchsorted(world.draws.service_start, service, side="right") - 1)


def _move_service(world: World, log: Log, customer: int, service: int, source: int, targets: list[int]) -> bool:
    fleet, people = world.fleet, world.population
    old_node = int(people.service_node[service])
    old = placed_footprint(world, customer, service)
    present = _clusters_of(world, customer) - {source}
    number, namespace = place_on_others(world, log, customer, service, targets, present, final=False)
    if number < 0:
        return False  # not booked anywhere: the service stays where it was (place() changed nothing)
    fleet.add_footprint(source, old_node, old, sign=-1)
    fleet.node_services[old_node].discard(service)
    people.customer_volumes[customer] -= old.volumes  # place() counted the volume again
    world.spilled[service] = int(namespace)
    return True


def _clusters_of(world: World, customer: int) -> set[int]:
    fleet, people, draws = world.fleet, world.population, world.draws
    begin, end = int(draws.service_start[customer]), int(draws.service_start[customer + 1])
    nodes = people.service_node[begin:end]
    return {int(fleet.node_cluster[node]) for node in nodes.tolist() if node >= 0}


def _rehome(world: World, customer: int) -> None:
    """The customer's home is where its first live service runs; the other clusters it uses are ``away``."""
    fleet, people, draws = world.fleet, world.population, world.draws
    begin, end = int(draws.service_start[customer]), int(draws.service_start[customer + 1])
    live = [int(node) for node in people.service_node[begin:end].tolist() if node >= 0]
    if not live:
        return
    clusters = [int(fleet.node_cluster[node]) for node in live]
    home = int(people.home[customer])
    if home not in clusters:
        home = clusters[0]
        people.home[customer] = home
    away = set(clusters) - {home}
    if away:
        world.away[customer] = away
    else:
        world.away.pop(customer, None)
