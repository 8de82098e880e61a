"""When the operator orders (``sim.forecast.orders``): each run's first order of each kind per cluster, checked
against the same run simulated on its own and read from its event log; the bands over runs; the CLI's
``orders.csv``, page section and console lines."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from sim.config import compile_scenario
from sim.forecast.bands import censored_percentile
from sim.forecast.core import forecast, prepare
from sim.forecast.orders import ORDER_KINDS
from sim.forecast.runs import ForecastTask, draw_laws
from sim.scenario import load_scenario
from sim.simulation import simulate
from sim.sweep.runs import run_seed
from tests.forecast.conftest import ROOT

NOW = datetime(2026, 12, 5, tzinfo=UTC)
EVENT_OF_KIND = {"nodes": "node_ordered", "upgrade": "control_plane_upgrade_ordered"}


def started():
    base = load_scenario(ROOT / "scenarios" / "stage2.yaml")
    return prepare(str(ROOT / "examples" / "state.yaml"), base, now=NOW, horizon_days=120)


def test_each_runs_first_orders_are_the_runs_own(tmp_path):
    start = started()
    result = forecast(start, 3, seed=11)
    scenario = start.scenario
    clusters = tuple(spec.id for spec in scenario.fleet.clusters)
    task = ForecastTask(scenario, clusters, start.growth_fit, start.churn_fit)
    expected = {}  # (cluster, kind) -> first order day in each run, from the run's own events
    regions = tuple(scenario.regions)
    regional = {}  # region -> the first day a cluster was ordered for its own demand, in each run
    for index in range(3):
        draw_seq, sim_seq = run_seed(11, index).spawn(2)
        update, _ = draw_laws(task, np.random.default_rng(draw_seq))
        world, log = simulate(compile_scenario(scenario.model_copy(update=update)), sim_seq)
        for cluster in clusters:
            for kind, event in EVENT_OF_KIND.items():
                days = [day for day, what, cluster_id, _ in log.events if what == event and cluster_id == cluster]
                expected.setdefault((cluster, kind), []).append(min(days, default=math.nan))
            number = world.fleet.index[cluster]
            successors = [o.day for o in log.orders if o.kind == "cluster" and o.trigger == number]
            expected.setdefault((cluster, "cluster"), []).append(min(successors, default=math.nan))
        # A region's new cluster: one ordered for no cluster's limit (the state file lists none on order).
        for region in regions:
            ordered = [
                o.day
                for o in log.orders
                if o.kind == "cluster" and o.trigger is None and world.fleet.clusters[o.cluster].region == region
            ]
            regional.setdefault(region, []).append(min(ordered, default=math.nan))
    names = dict(ORDER_KINDS)
    table = result.orders.set_index(["cluster", "order"])
    assert len(table) == len(clusters) * len(ORDER_KINDS) + len(regions)
    assert list(table.index[-len(regions) :]) == [(f"{r} (region)", f"a new cluster in {r}") for r in regions]
    for region, days in regional.items():
        row = table.loc[(f"{region} (region)", f"a new cluster in {region}")]
        assert row["runs_ordering"] == np.isfinite(days).mean()
        median = censored_percentile(np.array(days), 0.5)
        assert pd.isna(row["p50_days"]) if median is None else row["p50_days"] == median
    for (cluster, kind), days in expected.items():
        row = table.loc[(cluster, names[kind])]
        days = np.array(days)
        assert row["runs_ordering"] == np.isfinite(days).mean()
        if np.isfinite(days).all():  # three runs: the band is the runs' own range, the median their middle
            assert (row["p10_days"], row["p50_days"], row["p90_days"]) == (days.min(), np.median(days), days.max())
            assert row["p50_date"] == NOW.date() + timedelta(days=math.floor(np.median(days)))
        elif not np.isfinite(days).any():
            assert row[["p10_days", "p50_days", "p90_days", "limit"]].isna().all()
    # eu-west-2 takes the region's sign-ups once eu-west-1 closes on day 0: every run orders run nodes for it, for
    # its pods, and upgrades its control plane.
    nodes = table.loc[("eu-west-2", "run nodes")]
    assert nodes["runs_ordering"] == 1.0 and nodes["limit"] == "pods per run node" and nodes["limit_runs"] == 1.0
    assert nodes["lead_days"] == scenario.operator.node_lead_days
    assert table.loc[("eu-west-1", "run nodes"), "runs_ordering"] == 0.0  # closed to new customers, not growing


def test_the_cli_writes_the_orders_and_says_the_soonest(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sim", "forecast", "--start-from", "examples/state.yaml", "--runs", "2",
         "--horizon-days", "60", "--as-of", NOW.isoformat(), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    orders = pd.read_csv(tmp_path / "out" / "orders.csv")
    assert list(orders.columns[:3]) == ["cluster", "order", "runs_ordering"]
    soonest = orders.dropna(subset=["p50_days"]).sort_values(["p50_days", "cluster"]).iloc[0]
    printed = " ".join(done.stderr.split())
    assert (
        f"{soonest['cluster']}: the operator orders {soonest['order']} in {soonest['p50_days']:.0f} days (p50, "
        f"{soonest['p50_date']}" in printed
    )
    page = (tmp_path / "out" / "forecast.html").read_text()
    assert "<h2>When the operator orders</h2>" in page and f"<td>{soonest['order']}</td>" in page
