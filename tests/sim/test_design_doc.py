"""The run against what the design document expects of its stage (``Scenario.design_doc``, ``sim.design_doc``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.design_doc import design_doc_comparison
from sim.population import active_on
from sim.report import render_report
from sim.scenario import DesignDocStage

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def stage1_100_days():
    """Stage 1's first 100 days: one cluster growing to 10 run nodes and about 570 customers, its successor on
    order (it arrives after the horizon)."""
    scenario = sim.load_scenario(ROOT / "scenarios" / "stage1.yaml")
    return sim.run(scenario.model_copy(update={"horizon_years": None, "horizon_days": 100, "packing_checks": None}), 0)


def compare(result, **expected):
    stage = DesignDocStage(source="test", **expected)
    customers, fleet = result.customers, result.timeseries.query("cluster_id == 'fleet'")
    active = active_on(
        fleet["day"].to_numpy(dtype=float),
        customers["signup_day"].to_numpy(dtype=float),
        customers["departed_day"].to_numpy(dtype=float),
        (customers["state"] == "lost").to_numpy(),
    )
    return design_doc_comparison(stage, result.timeseries, active, result.summary)


def test_a_fleet_within_the_stage_agrees(stage1_100_days):
    c = compare(stage1_100_days, customers=400, clusters=1, run_nodes_per_cluster=(3, 10))
    assert c["agrees"] is True and c["reached"]
    assert c["active_customers"] >= 400 and c["clusters"] == 1 and c["most_run_nodes_per_cluster"] <= 10
    # The day is the first on which 400 customers were active: the day before, fewer were.
    fleet = stage1_100_days.timeseries.query("cluster_id == 'fleet'")
    assert c["day"] < fleet["day"].max()
    before = compare(stage1_100_days, customers=c["active_customers"] + 1, clusters=1)
    assert before["day"] > c["day"]
    assert c["lines"][-1] == "The model agrees with the design document."


def test_more_run_nodes_than_the_stage_expects_disagree_and_say_why(stage1_100_days):
    c = compare(stage1_100_days, customers=400, clusters=1, run_nodes_per_cluster=(3, 5))
    assert c["agrees"] is False and c["most_run_nodes_per_cluster"] > 5
    assert "expects 1 cluster(s) of 3-5 run nodes for ~400 customers (test)" in c["lines"][0]
    assert c["lines"][-1].startswith("The model disagrees with the design document: ")
    # Why: the limit that forced most orders, and how little RAM it left used.
    assert "pods per run node forced" in c["lines"][-1] and "of allocatable" in c["lines"][-1]


def test_a_stage_not_reached_is_not_a_verdict(stage1_100_days):
    c = compare(stage1_100_days, customers=5000, clusters=1)
    assert c["reached"] is False and c["agrees"] is None
    assert c["date"] == stage1_100_days.summary["end_date"]
    assert "never reached 5,000 active customers" in c["lines"][0]
    assert "stage's size was not reached" in c["lines"][-1]


def test_more_clusters_than_expected_disagree_even_before_the_stage_size():
    scenario = sim.load_scenario(ROOT / "scenarios" / "stage1.yaml")
    result = sim.run(
        scenario.model_copy(update={"horizon_years": None, "horizon_days": 150, "packing_checks": None}), 0
    )
    c = result.summary["design_doc"]  # the shipped stage 1's: one cluster for ~5,000 customers
    assert c["reached"] is False and c["clusters"] == 2 and c["agrees"] is False
    assert result.summary["first_shard_date"] in c["lines"][-1]
    page = render_report(result)
    assert "<section id='design-doc'><h2>Against the design document: the model disagrees</h2>" in page
    assert page.index("id='warnings'") < page.index("id='design-doc'")  # and first on the page, among the warnings
    assert c["lines"][-1].split(":")[0] in page[page.index("id='warnings'") : page.index("id='design-doc'")]


def test_a_scenario_without_one_has_no_comparison(stage1_100_days):
    scenario = sim.load_scenario(ROOT / "scenarios" / "stage2.yaml")
    assert scenario.design_doc is None
    assert design_doc_comparison(None, stage1_100_days.timeseries, np.zeros(0), {}) is None


@pytest.mark.parametrize(
    ("field", "line", "message"),
    [
        ("run_nodes_per_cluster", "run_nodes_per_cluster: [10, 3]", "needs 1 <= fewest <= most"),
        ("clusters", "clusters: 0", "greater than or equal to 1"),
        ("customers", "customers: -5", "greater than 0"),
    ],
)
def test_a_bad_expectation_is_refused_naming_its_field(tmp_path, field, line, message):
    shipped = {
        "run_nodes_per_cluster": "run_nodes_per_cluster: [3, 10]",
        "clusters": "clusters: 1",
        "customers": "customers: 5000",
    }
    text = (ROOT / "scenarios" / "stage1.yaml").read_text()
    assert text.count(f"\n  {shipped[field]}\n") == 1
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(f"\n  {shipped[field]}\n", f"\n  {line}\n"))
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert not out.exists()
    said = " ".join(result.output.split())
    assert f"design_doc.{field}" in said and message in said
