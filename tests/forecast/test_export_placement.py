"""The backtest's router database puts each reservation on the cluster its service was on that day: the run's
end has released services off their run nodes (a customer that left after the day, with services spilled off its
home) and migrated ones on clusters they reached after the day. Checked against the run's own daily counts."""

from __future__ import annotations

import numpy as np
import pytest

from sim.forecast.backtest import full_run
from sim.forecast.export import as_of, clusters_on, export_router_db
from sim.scenario import load_scenario
from sim.start_from.build import read_source
from tests.forecast.conftest import ROOT

LONGHORN = ROOT / "scenarios" / "longhorn-vs-ceph.yaml"


def _spilling():
    """Longhorn's volume limit fills eu-west-1 and its customers' later services spill to eu-west-2."""
    return load_scenario(LONGHORN), 350, (100, 150, 250, 340)


def _migrating():
    """Short lifetimes empty the closed eu-west-1 and forced migration moves its last customers (days 234-239)."""
    scenario = load_scenario(LONGHORN)
    migration = scenario.operator.migration.model_copy(update={"enabled": True, "below_customers": 300})
    operator = scenario.operator.model_copy(update={"migration": migration})
    churn = scenario.churn.model_copy(update={"mean_months": 8.0})
    return scenario.model_copy(update={"operator": operator, "churn": churn}), 300, (150, 200, 236, 280)


def _live_per_cluster(world, day: float, placed_on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    draws, people = world.draws, world.population
    owner = np.repeat(np.arange(draws.customers), np.diff(draws.service_start))
    departed = people.departed[owner]
    live = (placed_on >= 0) & (draws.service_created <= day) & ~(np.isfinite(departed) & (departed <= day))
    clusters = len(world.fleet.clusters)
    services = np.bincount(placed_on[live], minlength=clusters)
    volumes = np.bincount(placed_on[live], weights=draws.service_volume[live] > 0, minlength=clusters)
    return services, volumes.astype(int)


@pytest.mark.parametrize("case", [_spilling, _migrating], ids=["spilled-then-left", "migrated-later"])
def test_each_service_is_on_the_cluster_it_was_on_that_day(case):
    scenario, until, days = case()
    run = full_run(scenario, until, seed=0)
    world, series = run.world, run.timeseries
    people, owner = world.population, np.repeat(np.arange(world.draws.customers), np.diff(world.draws.service_start))
    if case is _spilling:  # what the end of the run no longer says: left customers' services away from home
        gone_away = (
            (people.service_node < 0) & (people.service_cluster >= 0) & (people.service_cluster != people.home[owner])
        )
        assert gone_away.sum() > 0
    else:
        assert any(moved > days[0] for moved, _, _ in world.moves)
    ids = [info.cluster.id for info in world.fleet.clusters]
    for day in days:
        services, volumes = _live_per_cluster(world, day, clusters_on(world, day))
        rows = series[(series["day"] == day) & (series["cluster_id"] != "fleet")]
        assert len(rows)
        for row in rows.itertuples():
            k = ids.index(row.cluster_id)
            assert (services[k], volumes[k]) == (row.services, row.volumes), (day, row.cluster_id)


def test_the_exported_ledger_holds_each_clusters_services_and_volumes_of_that_day(tmp_path):
    scenario, until, _ = _spilling()
    run = full_run(scenario, until, seed=0)
    day = 150
    url = export_router_db(run.world, run.timeseries, day, tmp_path / "router.db", run.orders)
    ledger = read_source(url, as_of(run.world.config.start, day)).ledger
    active = ledger[ledger["released_at"].isna()].groupby("cluster_id")[["volumes"]].agg(["size", "sum"])
    rows = run.timeseries[(run.timeseries["day"] == day) & (run.timeseries["cluster_id"] != "fleet")]
    assert not scenario.fleet.clusters[0].customers  # no initial customers: the ledger is every service
    for row in rows.itertuples():
        held = active.loc[row.cluster_id]
        assert (held[("volumes", "size")], held[("volumes", "sum")]) == (row.services, row.volumes), row.cluster_id
