"""Runs from the same live start replay the first run's time-0 placements (``sim.opening``) and end exactly as they
would have placing them again."""

from __future__ import annotations

import numpy as np

from sim.config import compile_scenario
from sim.distributions import LinearGrowth, MonthlyChurn
from sim.opening import Openings
from sim.scenario import ClusterSpec, Fleet, load_scenario
from sim.simulation import simulate
from sim.start_from.spec import LiveCustomer, LiveFleet, StateFile
from tests.forecast.conftest import ROOT

GiB = 1024**3


def live_start(horizon_days: float = 120.0):
    """Two clusters, 300 measured customers each: some with a volume, some signed up lately (their services
    still to come shift the service numbers from run to run)."""
    base = load_scenario(ROOT / "scenarios" / "stage1.yaml")
    customers = [
        LiveCustomer(
            cluster=cluster,
            ram=[(1 + i % 3) * GiB] * (1 + i % 2),
            volume=[(i % 4 == 0) * 5 * GiB] * (1 + i % 2),
            age_days=float(i % 60) if i % 5 else None,
        )
        for cluster in ("eu-west-1", "eu-west-2")
        for i in range(300)
    ]
    live = StateFile(kind="state", path="x.yaml", live=LiveFleet(customers=customers))
    fleet = Fleet(
        clusters=[
            ClusterSpec(id="eu-west-1", region="eu-west", run_nodes=3, customers=300),
            ClusterSpec(id="eu-west-2", region="eu-west", storage_provider="rook-ceph", run_nodes=3, customers=300),
        ]
    )
    update = {"fleet": fleet, "start_from": live, "packing_checks": None, "horizon_days": horizon_days}
    return base.model_copy(update={**update, "horizon_years": None})


def ending(world, log) -> tuple:
    """Everything a run ends with that its outputs are made from, as plain comparable values."""
    people, fleet = world.population, world.fleet
    columns = ("state", "home", "customer_volumes", "service_node", "service_need", "service_seq", "service_disk")
    return (
        [getattr(people, name).tolist() for name in columns],
        [list(services) for services in fleet.node_services],  # as sets iterate: their order is the drains' order
        {name: fleet.view(name).tolist() for name in fleet.counters},
        log.events,
        [sample.tolist() for sample in log.samples],
        log.fleet_samples,
        log.attempted,
        log.rejected,
        dict(world.spilled),
    )


def test_replayed_openings_end_as_placed_ones():
    scenario = live_start()
    laws = [
        {
            "growth": LinearGrowth(kind="linear", start_per_month=40.0, slope_per_month=2.0),
            "churn": MonthlyChurn(kind="monthly", rate=0.01),
        },
        {
            "growth": LinearGrowth(kind="linear", start_per_month=90.0, slope_per_month=0.0),
            "churn": MonthlyChurn(kind="monthly", rate=0.03),
        },
        {
            "growth": LinearGrowth(kind="linear", start_per_month=10.0, slope_per_month=5.0),
            "churn": MonthlyChurn(kind="monthly", rate=0.002),
        },
    ]
    openings = Openings()
    for k, update in enumerate(laws):
        config = compile_scenario(scenario.model_copy(update=update))
        seed = np.random.SeedSequence(11, spawn_key=(k,))
        placed = simulate(config, seed)
        replayed = simulate(config, seed, openings=openings)
        assert ending(*replayed) == ending(*placed)
        if k == 0:
            first = openings.last
    assert openings.last is first  # taken by the first run, replayed by the others
    assert first.customers == 600
    assert first.service_columns["service_node"].size > 600  # the customers' second services too


def test_an_opening_is_not_replayed_into_a_run_that_starts_otherwise():
    scenario = live_start(30.0)
    openings = Openings()
    simulate(compile_scenario(scenario), 1, openings=openings)
    first = openings.last
    more_nodes = scenario.fleet.model_copy(
        update={"clusters": [c.model_copy(update={"run_nodes": 4}) for c in scenario.fleet.clusters]}
    )
    other = compile_scenario(scenario.model_copy(update={"fleet": more_nodes}))
    placed = simulate(other, 1)
    replayed = simulate(other, 1, openings=openings)
    assert openings.last is not first  # it did not fit: the run placed its own, and kept it
    assert ending(*replayed) == ending(*placed)
