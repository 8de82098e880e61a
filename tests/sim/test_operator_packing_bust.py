"""The simulated operator against the packing optimum and the capacity planner on ``scenarios/churn-bust.yaml``
(5 %/month churn, sign-ups falling to zero in 29 months and staying there; three regions; clusters of at most 12
run nodes, new ones on Rook-Ceph), with the default policies (scale-down on, n_plus off, no forced migration).

Seed 0 (BENCHMARKS.md): 1.04-1.09x the optimum up to day 1260, every group within 1.5x, the run-node cost 0.91-1.10x
the capacity plan. The last check (day 1460, 1,594 customers left of a 9K peak) is 1.26x: the 11 clusters built for
the peak hold 34 run nodes, 33 of them their providers' floors (Longhorn's three replicas, Ceph's three nodes),
where the optimum packs the same services in 5 clusters. Only moving customers (``operator.migration``, off by
default as the design document asks) or a cluster emptied by churn lowers that floor.
"""

from __future__ import annotations

import pandas as pd
import pytest

import sim
from placement.limits import shipped_limits
from tests.sim.conftest import SCENARIOS

FLEET_RATIO = 1.25
GROUP_RATIO = 1.6
PLAN_COST = 0.20


@pytest.fixture(scope="module")
def packing() -> pd.DataFrame:
    scenario = sim.load_scenario(SCENARIOS / "churn-bust.yaml")
    operator = scenario.operator
    assert operator.scale_down.enabled and operator.n_plus.nodes == 0 and not operator.migration.enabled
    return sim.run(scenario, seed=0).packing


def fleet_ratio(packing: pd.DataFrame) -> pd.Series:
    per_day = packing.groupby("day")[["sim_run_nodes", "optimal_nodes"]].sum()
    return per_day["sim_run_nodes"] / per_day["optimal_nodes"]


def test_every_group_and_the_plan_hold_at_every_check(packing):
    assert len(packing) and (packing["status"] != "INFEASIBLE").all()
    assert (packing["sim_to_optimal_nodes"] <= GROUP_RATIO).all(), packing["sim_to_optimal_nodes"].tolist()
    per_day = packing.groupby("day")[["sim_run_nodes_eur_month", "plan_run_nodes_eur_month"]].sum()
    ratio = per_day["sim_run_nodes_eur_month"] / per_day["plan_run_nodes_eur_month"]
    assert ((ratio - 1).abs() <= PLAN_COST).all(), ratio.to_dict()


def test_the_fleet_stays_within_a_quarter_of_the_optimum_through_the_bust(packing):
    ratio = fleet_ratio(packing)
    assert (ratio.iloc[:-1] <= FLEET_RATIO).all(), ratio.to_dict()


def test_at_the_last_check_the_fleet_is_at_its_providers_floors(packing):
    # What is left above 1.25x is the floor of the clusters the peak needed: no run node beyond a tenth above it.
    storage = shipped_limits("seed").storage
    last = packing[packing["day"] == packing["day"].max()]
    floor = sum(
        row.sim_clusters * max(storage[row.storage_provider].min_nodes, storage[row.storage_provider].replicas)
        for row in last.itertuples()
    )
    assert last["sim_run_nodes"].sum() <= 1.1 * floor, (last["sim_run_nodes"].sum(), floor)


@pytest.mark.xfail(strict=True, reason="day 1460: 11 clusters at their providers' floors, 1.26x; see the docstring")
def test_the_last_check_within_a_quarter_of_the_optimum(packing):
    assert fleet_ratio(packing).iloc[-1] <= FLEET_RATIO
