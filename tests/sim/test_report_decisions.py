"""The decision table v2 against the event log, in every shipped scenario; and the planning module's projections."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import sim
from sim.planning import breach_day, order_by_day, trend_per_day
from tests.sim.conftest import SCENARIOS, queue_scenario

# Stage 3 and 4 are cut to a year (their first year already orders nodes, upgrades and shards); the others run
# their full horizon.
SHORTENED = {"stage3": 365, "stage4": 365}
SHIPPED = sorted(path.stem for path in SCENARIOS.glob("*.yaml"))
ORDER_EVENTS = {"node_ordered": "run nodes", "cluster_ordered": "new cluster",
                "control_plane_upgrade_ordered": "control-plane upgrade"}  # fmt: skip


@pytest.fixture(scope="module", params=SHIPPED)
def shipped_run(request):
    scenario = sim.load_scenario(SCENARIOS / f"{request.param}.yaml")
    update = {"packing_checks": None}
    if request.param in SHORTENED:
        update.update(horizon_days=SHORTENED[request.param], horizon_years=None)
    return sim.run(scenario.model_copy(update=update), 0)


def test_every_order_in_the_event_log_is_a_decision_with_its_date_and_trigger(shipped_run):
    """Must hold (issue 15): each shard and each node order is a row, with the date ordered and the triggering
    cluster; the cluster named is the one whose limit the event log's reason names."""
    events, decisions = shipped_run.events, shipped_run.decisions
    ordered = decisions[decisions["status"] == "ordered"]
    logged = events[events["kind"].isin(ORDER_EVENTS)]
    assert len(logged) == len(ordered) and len(ordered) > 0
    want = Counter(
        (ORDER_EVENTS[e.kind], e.cluster_id, pd.Timestamp(e.date).date().isoformat()) for e in logged.itertuples()
    )
    have = Counter((d.kind, d.cluster_id, d.decided_date) for d in ordered.itertuples())
    assert have == want
    shards = logged[logged["kind"] == "cluster_ordered"]
    for event in shards.itertuples():
        row = ordered[(ordered["kind"] == "new cluster") & (ordered["cluster_id"] == event.cluster_id)].iloc[0]
        if row["limit"] == "region_demand":
            assert pd.isna(row["triggered_by"]) and "customers of" in event.detail
        else:
            # The log's reason is "<triggering cluster>: <level>"; the row names that cluster and its level then.
            assert f": {row['triggered_by']}: " in event.detail
            assert row["value"] is not None and row["capacity"] is not None
    for kind in ("run nodes", "control-plane upgrade"):
        rows = ordered[ordered["kind"] == kind]
        assert (rows["triggered_by"] == rows["cluster_id"]).all()
        assert rows["limit"].isin(["ram_per_run_node", "pods_per_node", "control_plane_objects"]).all()
        assert rows["value"].notna().all() and rows["cluster_customers"].notna().all()
    # Effective = decided + lead time; the cost is the procurement calendar's.
    lead = pd.to_datetime(ordered["effective_date"]) - pd.to_datetime(ordered["decided_date"])
    assert (lead.dt.days - ordered["lead_days"]).abs().max() <= 1
    assert ordered["eur_month"].sum() == pytest.approx(shipped_run.orders["eur_month"].sum())
    # Per-cluster customers never exceed the fleet's.
    both = ordered.dropna(subset=["cluster_customers", "fleet_customers"])
    assert (both["cluster_customers"] <= both["fleet_customers"]).all()
    # Limits that never bound collapse into one line each with their peak, and never name a decided limit.
    summary = shipped_run.summary
    never = {item["limit"] for item in summary["limits_never_bound"]}
    assert not never & {lim.split(":")[0] for lim in ordered["limit"]}
    assert len(summary["decisions"]) == len(decisions)
    # "Control-plane ladder exhausted" is read only where no upgrade is left: on the top rung.
    clusters = shipped_run.timeseries[shipped_run.timeseries["cluster_id"] != "fleet"]
    top_rung = clusters.groupby("cluster_id")["ctrl_tight_objects"].max().max()
    for item in summary["limits_never_bound"]:
        if item["limit"] == "control_plane_ladder_top" and item["peak_share"] is not None:
            peak = clusters[(clusters["cluster_id"] == item["cluster_id"])
                            & (clusters["date"] == pd.Timestamp(item["date"]))]  # fmt: skip
            assert (peak["ctrl_tight_objects"] == top_rung).all(), item
    assert summary["control_plane_upgrade_basis"] in ("comfortable", "tight")


def test_stage1_flags_ram_idle_while_pods_per_node_binds(shipped_run):
    if shipped_run.scenario_name != "stage1":
        pytest.skip("the stage 1 finding")
    idle = {(i["binding_limit"], i["resource"]): i for i in shipped_run.summary["idle_resources"]}
    ram = idle[("pods_per_node", "ram_per_run_node")]
    assert 0 < ram["median_share"] < 0.5 and ram["decisions"] > 10
    # The utilisation of every catalogue resource, per cluster and day, is in the time series.
    clusters = shipped_run.timeseries[shipped_run.timeseries["cluster_id"] != "fleet"]
    assert clusters["share_pods_per_node"].max() > 0.8 > clusters["share_ram_per_run_node"].max()


def test_a_breach_the_operator_does_not_answer_is_a_decision_it_would_have_had_to_take():
    """With run-node ordering off, the pods-per-node breach is a row: what would be needed, by when."""
    scenario = queue_scenario(
        arrivals_per_day=4.0, lifetime={"kind": "none"}, horizon_days=60,
        overrides={"kubernetes.max_pods_per_node": 30}, run_nodes=2,
    )  # fmt: skip
    result = sim.run(scenario, 1)
    unanswered = result.decisions[result.decisions["status"] == "breached, not ordered"]
    row = unanswered[unanswered["limit"] == "pods_per_node"].iloc[0]
    assert row["kind"] == "run nodes" and row["triggered_by"] == "eu-west-1"
    assert row["value"] == row["capacity"] == 60
    assert row["action"].startswith("would need: order run nodes") and "auto_add_nodes off" in row["action"]
    # Decided a lead time before the breach, which is the day the level reached the capacity.
    decided, breach = pd.Timestamp(row["decided_date"]), pd.Timestamp(row["projected_breach_date"])
    assert (breach - decided).days == pytest.approx(row["lead_days"], abs=1)
    assert row["effective_date"] == row["projected_breach_date"]
    assert result.orders.empty


def test_trend_breach_and_order_by_days():
    days = np.arange(0.0, 40.0)
    levels = 100 + 5 * days
    assert trend_per_day(days, levels, now=39) == pytest.approx(5.0)
    # Only the trailing window counts: a flat past does not dilute a recent rise.
    flat_then_rising = np.where(days < 20, 100.0, 100 + 10 * (days - 20))
    assert trend_per_day(days, flat_then_rising, now=39, window=10) == pytest.approx(10.0)
    assert breach_day(39, 295, 395, 5.0) == pytest.approx(59)
    assert breach_day(39, 400, 395, 5.0) == 39  # already breached: today
    assert breach_day(39, 295, 395, 0.0) is None  # no growth, no breach
    assert breach_day(39, 295, math.nan, 5.0) is None  # no capacity set
    assert order_by_day(59.0, 14) == 45.0 and order_by_day(None, 14) is None
