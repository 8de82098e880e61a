"""The three storage policies simulated, and the simulation reconciled with the static storage cost model."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenario import load_scenario
from sim.storage_policies import METRICS, POLICIES, compare_policies

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(scope="module")
def comparison():
    # Volume-heavy growth, long enough that Longhorn shards on its volume limit at least once.
    scenario = load_scenario(SCENARIOS / "longhorn-vs-ceph.yaml").model_copy(update={"horizon_years": 0.4})
    return compare_policies(scenario, 1, seed=11, time_limit=1.0)


def test_every_policy_has_bands_of_cost_clusters_volumes_per_cluster_and_lost_customers(comparison):
    assert list(comparison.runs["policy"].unique()) == list(POLICIES)
    assert set(comparison.bands["metric"]) == set(METRICS)
    assert (comparison.bands["p10"] <= comparison.bands["p90"]).all()
    per_cluster = comparison.runs.set_index("policy")["volumes_per_cluster"]
    # Longhorn's volume limit splits the volumes over more clusters than Ceph from the start needs.
    assert per_cluster["Ceph from the start"] > per_cluster["Longhorn only"]


def test_simulated_cost_is_the_packing_optimum_plus_the_operator_overhead(comparison):
    runs = comparison.runs
    total = runs["optimum_eur_month"] + runs["operator_overhead_eur_month"]
    assert ((total - runs["simulated_eur_month"]).abs() < 0.01).all()
    assert (runs["optimum_eur_month"] > 0).all()


def test_static_and_simulated_views_agree_in_sign_once_operator_overhead_is_separated(comparison):
    agreement = comparison.agreement
    assert list(agreement["policy"]) == list(POLICIES[1:])
    assert agreement["signs_agree"].all(), agreement.to_string()
