"""Probes of the kind issue 14 says it will check with unseen cases (``tests/sim/data``, not shipped): a RAM-heavy
heavy-churn slowdown, and a three-region slowdown whose third region has no cluster at the start. With the default
policies the fleet stays within 1.25x the packing optimum fleet-wide and 1.6x per group at each of the probe's
check days, the capacity plan is within a fifth of the simulated run-node cost, and the new region's first
customers find a cluster.

The packing bars are checked against a lower bound of the optimum that needs no solver: per (region, storage
provider) group, the RAM requested over one run node's allocatable, the services' pods over one node's max-pods
less its system pods, and the provider's minimum nodes (``sim/packing.py`` finds the optimum itself; at the
RAM-heavy probe's check days it equalled this bound). Fleet / bound <= 1.25 implies fleet / optimum <= 1.25.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pandas as pd
import pytest

import sim
from placement.limits import shipped_limits

DATA = Path(__file__).parent / "data"
FLEET_RATIO = 1.25
GROUP_RATIO = 1.6
PLAN_COST = 0.20


def run(name: str, **update) -> sim.SimResult:
    scenario = sim.load_scenario(DATA / f"{name}.yaml")
    operator = scenario.operator
    assert operator.scale_down.enabled and operator.n_plus.nodes == 0 and not operator.migration.enabled
    return sim.run(scenario.model_copy(update=update), seed=0)


def bound_rows(result: sim.SimResult, days: list[int], profile: str) -> pd.DataFrame:
    """Per check day and group: the simulated run nodes and the optimum's lower bound."""
    limits = shipped_limits(profile)
    ts = result.timeseries
    ts = ts[(ts["cluster_id"] != "fleet") & ts["day"].isin(days) & (ts["run_nodes"] > 0)]
    rows = []
    for (day, region, provider), group in ts.groupby(["day", "region", "storage_provider"]):
        alloc = float((group["ram_allocatable_bytes"] / group["run_nodes"]).max())
        system = limits.system_pods_per_node(provider)
        service_pods = float(group["pods"].sum() - group["run_nodes"].sum() * system)
        bound = max(
            math.ceil(group["ram_requested_bytes"].sum() / alloc - 1e-9),
            math.ceil(service_pods / (limits.run_node_max_pods() - system) - 1e-9),
            limits.storage[provider].min_nodes,
        )
        rows.append({"day": day, "group": f"{region} {provider}", "sim": int(group["run_nodes"].sum()), "bound": bound})
    return pd.DataFrame(rows)


@functools.cache
def probe_run(name: str) -> sim.SimResult:
    """One run of a probe without its CP-SAT checks, shared by the tests that read it."""
    return run(name, packing_checks=None)


@pytest.fixture(scope="module", params=["probe-ramheavy", "probe-three-region"])
def probe(request) -> tuple[str, sim.SimResult]:
    return request.param, probe_run(request.param)


def test_the_fleet_stays_within_a_quarter_of_the_optimum_at_every_check(probe):
    name, result = probe
    scenario = sim.load_scenario(DATA / f"{name}.yaml")
    rows = bound_rows(result, list(scenario.packing_checks.days), scenario.limits_profile)
    assert set(rows["day"]) == set(scenario.packing_checks.days)
    per_day = rows.groupby("day")[["sim", "bound"]].sum()
    fleet = per_day["sim"] / per_day["bound"]
    assert (fleet <= FLEET_RATIO).all(), fleet.to_dict()
    group = rows["sim"] / rows["bound"]
    assert (group <= GROUP_RATIO).all(), rows[group > GROUP_RATIO].to_dict("records")


def test_a_new_regions_first_customers_find_a_cluster():
    result = probe_run("probe-three-region")
    clusters = result.timeseries[result.timeseries["cluster_id"] != "fleet"]
    first = clusters[(clusters["day"] == 0) & (clusters["region"] == "ap-south")]
    assert len(first) == 1 and int(first["run_nodes"].iloc[0]) >= 3  # there from the start, not 30 days late
    created = result.events[(result.events["kind"] == "cluster_created") & (result.events["day"] == 0)]
    assert created["cluster_id"].tolist() == ["ap-south-1"]
    # Before, the region's sign-ups were turned away for the shard lead time (279-340 lost in the first month).
    rejected = result.events[(result.events["kind"] == "placement_rejected") & (result.events["cluster_id"] == "fleet")]
    early = rejected[rejected["day"] < 30]["detail"].str.extract(r"^(\d+)")[0].astype(int).sum()
    assert early == 0, early
    # Later losses were a cluster taking over its region's sign-ups (reopened, or the last open one when another
    # closed) on run nodes for its own shrinking trend, full for a node lead time (seed 0: 242 of 37K, 0.7 %); it
    # now orders for its share of the region's growth before the hand-over (``sim.handover``): seed 0 loses 75
    # (seeds 1, 2: 4, 33), most at the start, when eu-west-1 reaches its run-node cap before any trend is known.
    assert result.summary["customers_lost"] < 0.005 * result.summary["customers_signed_up"], result.summary


def test_the_ram_heavy_capacity_plan_is_within_a_fifth_of_the_simulated_cost():
    # One check day, when RAM binds on six clusters (the plan was EUR 9,950 against 31,243 simulated there: one
    # group's CP-SAT found no plan in time and the sum left it out).
    scenario = sim.load_scenario(DATA / "probe-ramheavy.yaml")
    checks = scenario.packing_checks.model_copy(update={"days": [365], "deterministic_time_limit": 2})
    packing = run("probe-ramheavy", packing_checks=checks, horizon_years=None, horizon_days=366).packing
    assert len(packing) == 2 and packing["plan_status"].isin(["OPTIMAL", "FEASIBLE"]).all(), packing["plan_status"]
    total = packing[["sim_run_nodes_eur_month", "plan_run_nodes_eur_month"]].sum()
    ratio = total["sim_run_nodes_eur_month"] / total["plan_run_nodes_eur_month"]
    assert abs(ratio - 1) <= PLAN_COST, (ratio, total.to_dict())
