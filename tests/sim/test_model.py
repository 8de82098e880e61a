"""The model's behaviour: accounting, the operator's rules, costs, the API contract and determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sim
import sim.placing
from placement import engine
from placement.footprint import NodeFootprint, cluster_baseline_objects
from placement.limits import load_profile
from sim.config import compile_scenario
from sim.decisions import limit_rows
from sim.distributions import MonthlyChurn
from tests.sim.conftest import FROZEN, SCENARIOS, rook_ceph_shards


@pytest.fixture(scope="module")
def stage1_short_scenario():
    return sim.load_scenario(SCENARIOS / "stage1.yaml").model_copy(
        update={"horizon_days": 200.0, "horizon_years": None}
    )


@pytest.fixture(scope="module")
def stage1_result(stage1_short_scenario):
    return sim.run(stage1_short_scenario, seed=3)


def clusters_of(result):
    ts = result.timeseries
    return ts[ts["cluster_id"] != "fleet"]


def test_timeseries_shape_and_columns(stage1_result):
    ts = stage1_result.timeseries
    for column in [
        "date", "day", "cluster_id", "customers", "services", "volumes", "ram_requested_bytes",
        "ram_allocatable_bytes", "run_nodes", "etcd_objects", "ctrl_node_type", "cost_eur_month",
        "clusters", "placements_rejected",
    ]:  # fmt: skip
        assert column in ts.columns
    fleet = ts[ts["cluster_id"] == "fleet"]
    assert list(fleet["day"]) == list(range(201))
    summed = clusters_of(stage1_result).groupby("day")[["customers", "services", "run_nodes"]].sum()
    assert (fleet.set_index("day")[["customers", "services", "run_nodes"]] == summed).all().all()
    assert list(stage1_result.events.columns) == ["date", "day", "kind", "cluster_id", "detail"]


def test_engine_invariants_hold_every_day(stage1_result):
    c = clusters_of(stage1_result)
    limits = load_profile("seed").compile()
    assert (c["ram_requested_bytes"] <= c["ram_allocatable_bytes"]).all()
    assert (c["pods"] <= c["run_nodes"] * limits.max_pods_per_node).all()
    assert (c["volumes"] <= c["max_volumes"]).all()
    assert (c["etcd_objects"] <= c["ctrl_tight_objects"]).all()


def test_summary_is_json_and_has_the_decision_table(stage1_result):
    summary = json.loads(json.dumps(stage1_result.summary))
    for key in ["placements_attempted", "placements_rejected", "first_shard_day", "first_shard_date",
                "first_shard_customers", "first_shard_limit"]:  # fmt: skip
        assert key in summary
    table = summary["decision_table"]
    assert {row["limit"] for row in table} == {key for key, _ in limit_rows(("longhorn", "rook-ceph"))}
    bound = [row for row in table if row["first_bind_day"] is not None]
    assert bound, "stage 1 binds the pods-per-node and control-plane limits"
    for row in bound:
        assert row["first_bind_date"] and row["customers_at_bind"] is not None and row["action"] and row["why"]
    pods = next(row for row in table if row["limit"] == "pods_per_node")
    assert pods["first_bind_day"] is not None and "pods" in pods["why"]


def test_every_placement_goes_through_select_cluster(stage1_short_scenario, monkeypatch):
    calls = []

    def counting(request, clusters, policy=None, *, now=None):
        calls.append(request)
        return engine.select_cluster(request, clusters, policy, now=now)

    monkeypatch.setattr(sim.placing, "select_cluster", counting)
    result = sim.run(stage1_short_scenario.model_copy(update={"horizon_days": 60.0}), seed=1)
    assert len(calls) == result.summary["placements_attempted"] > 0


def test_churn_releases_everything():
    """Sign-ups only in the first month, short lifetimes: at the end the fleet holds nothing."""
    scenario = sim.load_scenario(SCENARIOS / "piecewise.yaml")
    growth = scenario.growth.model_copy(update={"monthly": scenario.growth.monthly[:1], "after_data": "zero"})
    scenario = scenario.model_copy(
        update={
            "growth": growth,
            "horizon_days": 120.0,
            "churn": MonthlyChurn(kind="monthly", rate=0.9),
        }
    )
    result = sim.run(scenario, seed=2)
    end = result.timeseries[result.timeseries["day"] == 120]
    assert result.summary["customers_churned"] == result.summary["customers_signed_up"] > 0
    for column in ["customers", "services", "volumes", "ram_requested_bytes", "volume_bytes"]:
        assert (end[column] == 0).all(), column
    # What is left is what the clusters and their run nodes bring themselves: system pods and their objects.
    limits = compile_scenario(scenario).limits
    clusters = end[end["cluster_id"] != "fleet"]
    assert len(clusters) > 0
    for row in clusters.itertuples():
        node = NodeFootprint.of(limits, row.storage_provider)
        assert row.pods == row.run_nodes * node.pods
        baseline = cluster_baseline_objects(limits, row.storage_provider)
        assert row.etcd_objects == baseline + row.run_nodes * node.etcd_objects


def test_nodes_arrive_after_the_lead_time(stage1_result, stage1_short_scenario):
    events = stage1_result.events
    lead = stage1_short_scenario.operator.node_lead_days
    ordered = events[events["kind"] == "node_ordered"]
    added = events[events["kind"] == "node_added"]
    assert len(ordered) and len(added)
    first = ordered.iloc[0]
    arrival = added[added["cluster_id"] == first["cluster_id"]].iloc[0]
    assert arrival["day"] - first["day"] == lead


def test_frozen_capacity_rejects_and_never_grows(stage1_short_scenario):
    frozen = stage1_short_scenario.model_copy(
        update={"operator": stage1_short_scenario.operator.model_copy(update=FROZEN)}
    )
    result = sim.run(frozen, seed=3)
    kinds = set(result.events["kind"])
    assert not kinds & {"node_ordered", "node_added", "cluster_ordered", "cluster_created", "control_plane_upgraded"}
    assert result.summary["placements_rejected"] > 0 and result.summary["first_shard_limit"] is None
    fleet = result.timeseries[result.timeseries["cluster_id"] == "fleet"]
    assert set(fleet["run_nodes"]) == {3} and set(fleet["clusters"]) == {1}
    assert "limit_crossed" in kinds  # limits still bind and are logged


def test_new_clusters_get_the_providers_minimum_nodes():
    result = sim.run(rook_ceph_shards(150.0))
    created = result.events[result.events["kind"] == "cluster_created"]
    assert len(created) >= 1
    assert created["detail"].str.contains("rook-ceph, 3 run nodes").all()
    first_rows = clusters_of(result).groupby("cluster_id").first()
    assert (first_rows.loc[created["cluster_id"], "run_nodes"] == 3).all()
    assert result.summary["first_shard_limit"] == "shard_pods"


def test_storage_switch_after_a_volume_shard():
    scenario = sim.load_scenario(SCENARIOS / "longhorn-vs-ceph.yaml")
    result = sim.run(scenario.model_copy(update={"horizon_days": 300.0, "horizon_years": None}), seed=0)
    ordered = result.events[result.events["kind"] == "cluster_ordered"]
    assert len(ordered) >= 1 and ordered.iloc[0]["detail"].startswith("rook-ceph")
    assert result.summary["first_shard_limit"] == "volumes:longhorn"
    providers = clusters_of(result).groupby("cluster_id")["storage_provider"].first()
    assert providers["eu-west-1"] == "longhorn" and "rook-ceph" in set(providers)


def test_limits_overrides_through_model_copy(stage1_short_scenario):
    tight = stage1_short_scenario.model_copy(update={"limits_overrides": {"longhorn.max_volumes": 60}})
    result = sim.run(tight, seed=3)
    assert (clusters_of(result)["max_volumes"] == 60).all()
    row = next(r for r in result.summary["decision_table"] if r["limit"] == "volumes:longhorn")
    assert row["first_bind_day"] is not None
    assert result.summary["limits_overrides"] == {"longhorn.max_volumes": 60}


def test_cost_model(stage1_short_scenario):
    base = sim.run(stage1_short_scenario.model_copy(update={"horizon_days": 5.0}), seed=0)
    double = sim.run(
        stage1_short_scenario.model_copy(
            update={"horizon_days": 5.0, "limits_overrides": {"costs.price_multiplier": 2}}
        ),
        seed=0,
    )
    limits = load_profile("seed").compile()
    day0 = base.timeseries.iloc[0]
    node = limits.costs.run_node_types[limits.costs.default_run_node_type]
    ctrl = limits.control_plane(day0["ctrl_node_type"])
    assert day0["compute_eur_month"] == pytest.approx(3 * node.eur_month + ctrl.eur_month)
    assert double.timeseries.iloc[0]["compute_eur_month"] == pytest.approx(2 * day0["compute_eur_month"])
    fleet = base.timeseries[base.timeseries["cluster_id"] == "fleet"]
    storage = fleet["storage_nodes_eur_month"] + fleet["disk_run_nodes_eur_month"] + fleet["operations_eur_month"]
    assert (fleet["operations_eur_month"] > 0).all()  # placement.storage_cost: the operations estimate per cluster
    expected = fleet["compute_eur_month"] + fleet["backup_eur_month"] + storage
    assert (fleet["cost_eur_month"] - expected).abs().max() < 1e-6


def test_seed_forms_and_progress(stage1_short_scenario):
    short = stage1_short_scenario.model_copy(update={"horizon_days": 40.0})
    seen = []
    by_int = sim.run(short, 11, progress=seen.append)
    by_sequence = sim.run(short, np.random.SeedSequence(11))
    pd.testing.assert_frame_equal(by_int.timeseries, by_sequence.timeseries)
    assert seen == sorted(seen) and seen[-1] == 1.0
    other = sim.run(short, 12)
    assert not by_int.timeseries.equals(other.timeseries)


def test_same_seed_gives_byte_identical_outputs(stage1_short_scenario, tmp_path):
    short = stage1_short_scenario.model_copy(update={"horizon_days": 90.0})
    first = sim.run(short, 5).write(tmp_path / "a")
    second = sim.run(short, 5).write(tmp_path / "b")
    for name in ["timeseries", "events", "customers", "summary", "report"]:
        assert first[name].read_bytes() == second[name].read_bytes(), name
    frame = pd.read_parquet(first["timeseries"])
    assert len(frame) > 0 and not list((tmp_path / "a").glob(".*"))  # no temp files left


def test_control_plane_is_upgraded_up_the_ladder(stage1_result):
    upgrades = stage1_result.events[stage1_result.events["kind"] == "control_plane_upgraded"]
    assert upgrades.iloc[0]["detail"] == "CX32 -> CX52"
    ordered = stage1_result.events[stage1_result.events["kind"] == "control_plane_upgrade_ordered"]
    assert upgrades.iloc[0]["day"] - ordered.iloc[0]["day"] == 1.0  # the ladder's lead time in stage 1


def test_a_region_gets_its_own_cluster_once_enough_customers_live_elsewhere():
    scenario = sim.load_scenario(SCENARIOS / "stage2.yaml")
    result = sim.run(scenario.model_copy(update={"horizon_days": 90.0, "horizon_years": None}), seed=0)
    ordered = result.events[result.events["kind"] == "cluster_ordered"]
    us = ordered[ordered["cluster_id"].str.startswith("us-east")]
    assert len(us) == 1 and "customers of us-east live elsewhere" in us.iloc[0]["detail"]
    assert result.summary["first_shard_limit"] == "region_demand"
    created = result.events[(result.events["kind"] == "cluster_created") & (result.events["cluster_id"] == "us-east-1")]
    assert created.iloc[0]["day"] - us.iloc[0]["day"] == scenario.operator.shard.lead_days
