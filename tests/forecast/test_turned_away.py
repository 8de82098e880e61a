"""A forecast says the new customers its runs turned away (their first service fit on no open cluster) and when the
operator ordered a new cluster for a region's own demand: neither is on any cluster's row (``sim.forecast.refusals``,
``sim.forecast.orders.first_region_orders``)."""

from __future__ import annotations

import html
import json
import math
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import yaml

from sim.decisions import ON_ORDER_AT_START, REGION_DEMAND
from sim.forecast.core import forecast, prepare
from sim.forecast.orders import first_region_orders, region_row
from sim.forecast.output import write_forecast
from sim.forecast.refusals import turned_away_note
from sim.forecast.runs import RunOutcome
from sim.log import OrderRecord
from sim.scenario import load_scenario
from sim.start_from.regions import uncovered_regions_note
from tests.forecast.conftest import ROOT

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def order(day: float, kind: str, cluster: int, trigger: int | None, limit: str) -> OrderRecord:
    return OrderRecord(day, day + 30, kind, cluster, 1, 0, 3, trigger, limit)


def test_a_regions_first_order_is_the_first_cluster_ordered_for_its_own_demand():
    regions_of_clusters = ["eu-west", "us-east", "eu-west", "us-east", "eu-west"]
    orders = [
        order(3.0, "nodes", 0, 0, "ram_per_run_node"),  # not a cluster
        order(5.0, "cluster", 2, 0, "volumes_longhorn"),  # a successor, ordered for cluster 0's limit
        order(6.0, "cluster", 3, None, ON_ORDER_AT_START),  # the real operator's, on order at the start
        order(9.0, "cluster", 1, None, REGION_DEMAND),
        order(12.0, "cluster", 4, None, REGION_DEMAND),
        order(20.0, "cluster", 3, None, REGION_DEMAND),  # us-east again: the first stands
    ]
    days = first_region_orders(orders, regions_of_clusters, ("eu-west", "us-east", "ap-south"))
    assert days[0] == 12.0 and days[1] == 9.0 and math.isnan(days[2])


def outcome(index: int, per_region: list[float], first: float, signed_up: int = 1000) -> RunOutcome:
    empty = np.full((1, 1), np.nan)
    return RunOutcome(
        index, "ok", None, {}, empty, empty, empty, turned_away=np.array(per_region, dtype=float),
        first_turned_away=first, signed_up=signed_up,
    )  # fmt: skip


def test_the_note_gives_the_band_the_regions_and_the_first_day_and_nothing_when_none_was_turned_away():
    regions = ("eu-west", "us-east")
    assert turned_away_note([outcome(i, [0, 0], math.nan) for i in range(10)], regions) is None
    # Nine runs turned away 10..90 customers (three quarters of them in eu-west), one none.
    runs = [outcome(i, [7.5 * i, 2.5 * i], 2.0 * i) for i in range(1, 10)] + [outcome(10, [0, 0], math.nan)]
    note = turned_away_note(runs, regions)
    assert "in 9 of 10 runs; 45 (p10 1, p90 89) of the about 1,000 who sign up within the horizon" in note
    assert "by region eu-west 75%, us-east 25%" in note
    # The bands are order statistic q(n+1) of the 10 runs; the first day's counts the run that turned none away as
    # beyond the horizon.
    assert "the first on day 11 (p50; p10 2)" in note
    # One run of 20 turned any away: its first day has no band.
    rare = [outcome(0, [4, 0], 30.0)] + [outcome(i, [0, 0], math.nan) for i in range(1, 20)]
    note = turned_away_note(rare, regions)
    assert "in 1 of 20 runs" in note and "by region eu-west 100%" in note
    assert "too few runs turn any away to give the first day a band" in note


def test_the_uncovered_regions_note_says_whether_any_open_cluster_takes_their_customers():
    mix = {"eu-west": 0.6, "us-east": 0.4}
    assert uncovered_regions_note(mix, "assumed", {"eu-west", "us-east"}, set()) is None
    assert uncovered_regions_note(mix, "assumed", {"eu-west"}, {"us-east"}) is None  # one on order
    elsewhere = uncovered_regions_note(mix, "assumed", {"eu-west"}, set())
    assert "sends new customers to ['us-east']" in elsewhere and "other regions' clusters" in elsewhere
    nowhere = uncovered_regions_note(mix, "assumed", set(), {"ap-south"})
    assert "['eu-west', 'us-east']" in nowhere and "they are turned away until the operator opens one" in nowhere


def state_file(tmp_path, status: str) -> str:
    """The shipped state file with every cluster set to ``status``."""
    document = yaml.safe_load((ROOT / "examples" / "state.yaml").read_text())
    for entry in document["clusters"]:
        entry["cluster"]["status"] = status
    path = tmp_path / f"state-{status}.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_a_fleet_with_no_open_cluster_turns_new_customers_away_until_the_operators_new_clusters_arrive(tmp_path):
    base = load_scenario(ROOT / "scenarios" / "stage2.yaml")
    started = prepare(state_file(tmp_path, "draining"), base, now=NOW, horizon_days=60)
    assert any("no open cluster in any region takes them: they are turned away" in w for w in started.warnings)
    result = forecast(started, 3, seed=1)
    runs = result.runs
    # Every sign-up until the new clusters arrive (30 days of lead) is turned away; after, none is.
    assert (runs["turned_away"] > 0).all() and (runs["turned_away"] < runs["signed_up"]).all()
    assert (runs["first_turned_away_day"] < 1).all()
    note = next(w for w in result.warnings if w.startswith("new customers turned away"))
    assert "in 3 of 3 runs" in note and "eu-west" in note and "us-east" in note
    orders = result.orders.set_index("cluster")
    for region in ("eu-west", "us-east"):
        row = orders.loc[region_row(region)]
        assert row["order"] == f"a new cluster in {region}" and row["runs_ordering"] == 1.0
        assert row["p90_days"] <= 1 and row["limit"].startswith("a region's demand")
    head = result.header
    assert head["runs_turning_away"] == 3 and head["signed_up_p50"] == runs["signed_up"].median()
    assert head["turned_away_p10"] == runs["turned_away"].min() and head["turned_away_p90"] == runs["turned_away"].max()
    write_forecast(result, tmp_path / "out")
    page = (tmp_path / "out" / "forecast.html").read_text()
    assert f"turned away (their first service fit on no open cluster): {head['turned_away_p50']:,.0f} (p10" in page
    written = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert written["turned_away"].tolist() == runs["turned_away"].tolist()
    assert region_row("us-east") in (tmp_path / "out" / "orders.csv").read_text()
    assert html.escape(note) in (tmp_path / "out" / "forecast.html").read_text()


def test_a_fleet_with_room_in_every_region_turns_nobody_away(tmp_path):
    base = load_scenario(ROOT / "scenarios" / "stage2.yaml")
    started = prepare(state_file(tmp_path, "active"), base, now=NOW, horizon_days=20)
    result = forecast(started, 2, seed=1)
    assert (result.runs["turned_away"] == 0).all() and result.runs["first_turned_away_day"].isna().all()
    assert not any(w.startswith("new customers turned away") for w in result.warnings)
    assert result.header["runs_turning_away"] == 0 and result.header["turned_away_p90"] == 0
    write_forecast(result, tmp_path / "out")
    assert "fit on no open cluster): none in any run" in (tmp_path / "out" / "forecast.html").read_text()
    regional = result.orders[result.orders["cluster"].str.endswith("(region)")]
    assert set(regional["cluster"]) == {region_row("eu-west"), region_row("us-east")}
    assert (regional["runs_ordering"] == 0).all() and regional["limit"].isna().all()


def test_the_console_says_the_customers_turned_away_first(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sim", "forecast", "--start-from", state_file(tmp_path, "draining"), "--runs", "2",
         "--horizon-days", "40", "--as-of", NOW.isoformat(), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())  # the console wraps its lines
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())["header"]
    line = f"turned away (their first service fit on no open cluster): {meta['turned_away_p50']:,.0f} (p10"
    assert line in said and "in 2 of 2 runs" in said
    assert said.index("New customers within the horizon") < said.index("warning:")
    assert "eu-west (region): the operator orders a new cluster in eu-west in 1 day (p50" in said
