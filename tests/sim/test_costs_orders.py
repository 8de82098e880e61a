"""Cost per customer-month with its breakdown, and the procurement calendar (orders.csv) against the event log."""

from __future__ import annotations

import pandas as pd
import pytest

import sim
from sim.distributions import DAYS_PER_MONTH
from tests.sim.conftest import SCENARIOS

ORDER_EVENTS = {"node_ordered": "run nodes", "cluster_ordered": "new cluster",
                "control_plane_upgrade_ordered": "control-plane upgrade"}  # fmt: skip


@pytest.fixture(scope="module")
def stage2_result():
    scenario = sim.load_scenario(SCENARIOS / "stage2.yaml")
    return sim.run(scenario.model_copy(update={"horizon_years": 1.2, "packing_checks": None}), seed=2)


def test_breakdown_adds_up_to_the_total_and_per_customer_month(stage2_result):
    summary = stage2_result.summary
    parts = summary["cost_breakdown_eur"]
    storage = {"storage_nodes", "storage_disk_run_nodes", "storage_operations"}  # placement.storage_cost
    assert set(parts) == {"run_nodes", "control_plane", "storage_backups", "setup_fees"} | storage
    assert sum(parts.values()) == pytest.approx(summary["cost_eur_total"], abs=0.05)
    assert all(value > 0 for key, value in parts.items() if key not in storage)
    assert all(parts[key] >= 0 for key in storage) and parts["storage_operations"] > 0
    fleet = stage2_result.timeseries[stage2_result.timeseries["cluster_id"] == "fleet"]
    # Customer-months: each customer once a day from its sign-up to its churn (never a lost one), from the
    # customers table, not the fleet's namespaces, which count a customer with services on two clusters twice.
    table = stage2_result.customers
    active = [
        int(((table["signup_day"] <= day) & ~(table["departed_day"] <= day) & (table["state"] != "lost")).sum())
        for day in fleet["day"]
    ]
    customer_months = sum(active) / DAYS_PER_MONTH
    assert summary["customer_months"] == pytest.approx(customer_months, abs=0.01)
    assert active[-1] == summary["customers_end"]
    if summary["cross_cluster_customers_end"]:
        assert fleet["customers"].iloc[-1] == active[-1] + summary["away_namespaces_end"]
    assert summary["cost_eur_per_customer_month"] == pytest.approx(
        summary["cost_eur_total"] / customer_months, abs=1e-4
    )
    per = summary["cost_per_customer_month_breakdown_eur"]
    assert sum(per.values()) == pytest.approx(summary["cost_eur_per_customer_month"], abs=1e-3)
    assert (
        fleet["run_nodes_eur_month"] + fleet["control_plane_eur_month"] - fleet["compute_eur_month"]
    ).abs().max() < 1e-6


def test_every_order_in_the_event_log_is_in_the_calendar(stage2_result, tmp_path):
    orders, events = stage2_result.orders, stage2_result.events
    ordered = events[events["kind"].isin(ORDER_EVENTS)]
    assert len(orders) == len(ordered) == stage2_result.summary["orders"] > 0
    assert set(orders["kind"]) == set(ORDER_EVENTS.values())  # stage 2 adds nodes, upgrades and shards
    expected = sorted(
        zip(ordered["date"].dt.date, ordered["cluster_id"], ordered["kind"].map(ORDER_EVENTS), strict=True)
    )
    got = sorted(zip(orders["order_by"], orders["cluster_id"], orders["kind"], strict=True))
    assert got == expected
    lead = (pd.to_datetime(orders["arrives"]) - pd.to_datetime(orders["order_by"])).dt.days
    assert (lead >= orders["lead_days"].astype(int)).all() and (lead <= orders["lead_days"] + 1).all()
    nodes = orders[orders["kind"] == "run nodes"]
    assert (nodes["eur_month"] == nodes["quantity"] * 199.0).all() and (
        nodes["setup_eur"] == nodes["quantity"] * 542.0
    ).all()
    written = stage2_result.write(tmp_path, report=False)
    frame = pd.read_csv(written["orders"])
    assert list(frame.columns)[:6] == ["order_by", "arrives", "lead_days", "kind", "cluster_id", "what"]
    assert len(frame) == len(orders)
