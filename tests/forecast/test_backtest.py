"""``sim backtest``: a run's state exported as the router's database (read back by the router's own code), the
forecast made from it, and the pairs scored against the run's truth and the predict_linear baseline."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from placement.router.store import open_store
from sim.forecast.backtest import FullRun, censor, cluster_orders_in_flight, full_run, informative, inside_band, score
from sim.forecast.export import as_of, export_router_db
from sim.forecast.runs import LIMITS
from sim.log import OrderRecord
from sim.scenario import load_scenario
from sim.start_from.build import read_source
from tests.forecast.conftest import ROOT

STAGE1 = ROOT / "scenarios" / "stage1.yaml"


@pytest.fixture(scope="module")
def stage1_run():
    return full_run(load_scenario(STAGE1), 100, seed=3)


def test_the_export_is_a_router_database_holding_the_days_fleet_and_ledger(stage1_run, tmp_path):
    url = export_router_db(stage1_run.world, stage1_run.timeseries, 60, tmp_path / "router.db")
    now = as_of(stage1_run.world.config.start, 60)
    store = open_store(url, migrate=False, clock=lambda: now)  # the router itself reads it
    try:
        assert [c.id for c in store.list_clusters()] == ["eu-west-1"]
    finally:
        store.dispose()
    state = read_source(url, now)
    day = stage1_run.timeseries
    row = day[(day["day"] == 60) & (day["cluster_id"] == "eu-west-1")].iloc[0]
    load = state.clusters[0].load
    assert load.customers == row["customers"] and load.services == row["services"]
    assert len(load.run_nodes) == row["run_nodes"]
    assert sum(n.requested_ram_bytes for n in load.run_nodes) == row["ram_requested_bytes"]
    ledger = state.ledger
    assert (ledger["reserved_at"] <= now).all()
    active = ledger[ledger["released_at"].isna()]
    # Every active reservation is a service of a customer the run still held on day 60; grown customers only.
    customers = stage1_run.world.draws
    grown_by_day = int(((customers.forced_cluster < 0) & (customers.signup <= 60)).sum())
    assert 0 < active["customer_id"].nunique() <= grown_by_day
    assert active["customer_id"].nunique() <= row["customers"]
    with pytest.raises(FileExistsError):
        export_router_db(stage1_run.world, stage1_run.timeseries, 60, tmp_path / "router.db")


def test_a_new_cluster_is_on_order_from_the_day_it_is_ordered_until_the_day_before_it_arrives():
    region = {0: "eu-west", 1: "eu-west", 2: "us-east"}
    world = SimpleNamespace(fleet=SimpleNamespace(clusters=[SimpleNamespace(region=region[i]) for i in range(3)]))
    orders = [
        OrderRecord(10.0, 40.0, "cluster", 1, 6, 0, 3, 0, "max_run_nodes_per_cluster"),
        OrderRecord(20.0, 34.0, "nodes", 2, 1, 0, 3, 2, "pods_per_node"),  # nodes are the pairs' own column
    ]
    run = FullRun(None, world, pd.DataFrame(), orders)
    assert [cluster_orders_in_flight(run, day) for day in (9, 10, 39, 40)] == [set(), {"eu-west"}, {"eu-west"}, set()]


def test_scoring_counts_censored_limits_as_beyond_the_horizon():
    nan = math.nan
    pairs = pd.DataFrame(
        {
            "p10_days": [10, 10, nan, 10, nan],
            "p50_days": [20, 20, nan, 30, nan],
            "p90_days": [30, nan, nan, 50, nan],
            "truth_days": [25, nan, nan, 60, 5],
            "baseline_days": [40, 5, nan, 45, nan],
            "horizon_days": [90.0] * 5,
        }
    )
    assert inside_band(pairs).tolist() == [True, True, True, False, False]
    assert informative(pairs).tolist() == [True, False, False, True, True]
    result = score(pairs)
    assert result["informative_pairs"] == 3 and result["coverage_p10_p90"] == pytest.approx(1 / 3)
    # Truths within the horizon: 25, 60, 5; p50 errors 5, 30, 85 (censored p50 counts as the horizon).
    assert result["mae_p50_days"] == 30 and result["mae_baseline_days"] == 15
    short = censor(pairs, 40)
    assert np.isnan(short.loc[3, "truth_days"]) and np.isnan(short.loc[3, "p90_days"])
    assert short.loc[3, "p50_days"] == 30 and (short["horizon_days"] == 40).all()


def test_backtest_through_the_command_line(tmp_path):
    out = tmp_path / "bt"
    done = subprocess.run(
        [sys.executable, "-m", "sim", "backtest", str(STAGE1), "--at", "60", "--horizon-days", "40", "--runs", "3",
         "--seed", "3", "--workers", "2", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pairs = pd.read_csv(out / "pairs.csv")
    assert set(pairs["cluster"]) == {"eu-west-1"} and len(pairs) == len(LIMITS)
    assert (pairs["nodes_on_order"] >= 0).all() and pairs["cluster_on_order"].isin([True, False]).all()
    truth = pairs["truth_days"].dropna()
    assert ((truth >= 0) & (truth <= 40)).all()
    assert (out / "forecast" / "forecast.html").exists()
    assert "stage1 at day 60, 40 days ahead" in " ".join(done.stderr.split())
    bad = subprocess.run(
        [sys.executable, "-m", "sim", "backtest", str(STAGE1), "--at", "0", "--out", str(tmp_path / "no")],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and not (tmp_path / "no").exists()
