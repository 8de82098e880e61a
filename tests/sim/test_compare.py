"""``sim compare``: paired runs of two scenarios, the differences with their bands, one HTML page."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.compare import compare
from tests.sim.conftest import SCENARIOS

runner = CliRunner()


@pytest.fixture(scope="module")
def max_pods_compare(tmp_path_factory):
    """Stage 1 against the same scenario with kubelet max-pods 250 (the limits figure kubernetes.max_pods_per_node)."""
    out = tmp_path_factory.mktemp("compare") / "out"
    args = ["compare", str(SCENARIOS / "stage1.yaml"), "--set-b", "kubernetes.max_pods_per_node=250",
            "--runs", "3", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_stage1_vs_max_pods_250_shows_the_cost_difference_with_a_band(max_pods_compare):
    out, output = max_pods_compare
    outcomes = pd.read_parquet(out / "outcomes.parquet").set_index("outcome")
    total = outcomes.loc["cost_total"]
    # Pods per node binds stage 1 at 110: 250 needs far fewer run nodes, so every paired run is cheaper.
    assert total["diff_p10"] <= total["diff_p50"] <= total["diff_p90"] < 0
    assert total["b_lower_share"] == 1.0 and total["runs_paired"] == 3
    assert outcomes.loc["run_nodes", "diff_p50"] < 0
    paired = pd.read_parquet(out / "paired.parquet")
    # Paired seeds: the same customers arrive on both sides, so the customers at the horizon differ only by those
    # one side lost (their first service fit nowhere), less any of them that would have churned anyway.
    per_run = paired.pivot(index="run", columns="outcome", values="diff")
    assert (per_run["customers_end"] >= 0).all() and (per_run["customers_end"] <= -per_run["lost_customers"]).all()
    runs = paired[paired["outcome"] == "cost_total"]
    assert (runs["diff"] == runs["b"] - runs["a"]).all() and len(runs) == 3
    html = (out / "compare.html").read_text()
    assert "total cost over the horizon" in html and "B − A (paired)" in html
    assert html.count("data:image/png;base64,") == 4
    assert "kubernetes.max_pods_per_node=250" in html
    summary = json.loads((out / "compare.json").read_text())
    assert summary["percentile_method"] == "linear" and summary["failed"] == []
    assert "total cost over the horizon" in output and "p10/p50/p90: numpy percentiles" in output
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files
    # Stage 1 states the design document's expectation: each side says over how many runs the model disagrees.
    # With max-pods 250 it still needs several clusters for ~5,000 customers (the Longhorn volumes bind next).
    for side in ("a", "b"):
        verdict = summary["design_doc"][side]
        assert verdict.startswith("Against the design document (1 cluster(s) for ~5,000 customers): the model ")
        assert "disagrees in 3 of 3 runs" in verdict and verdict in " ".join(html.split()).replace("&#x27;", "'")
    said = " ".join(output.split())
    assert f"A (stage1): {summary['design_doc']['a']}" in said


def test_runs_are_paired_on_the_same_seed():
    scenario = sim.load_scenario(SCENARIOS / "stage1.yaml").model_copy(update={"horizon_years": 0.25})
    result = compare(scenario, scenario, runs=2, seed=5)
    diffs = result.paired["diff"].dropna()
    assert (diffs == 0).all()  # the same scenario on the same seeds: identical runs
    assert set(result.bands["side"]) == {"a", "b", "diff"}


def test_bad_input_exits_2_naming_it(tmp_path):
    stage1 = str(SCENARIOS / "stage1.yaml")
    result = runner.invoke(
        app, ["compare", stage1, "--set-b", "operator.node_lead_day=3", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2 and "node_lead_day" in result.output
    result = runner.invoke(app, ["compare", stage1, "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "give B.yaml, or --set-a/--set-b" in " ".join(result.output.split())
    stage2 = str(SCENARIOS / "stage2.yaml")
    result = runner.invoke(app, ["compare", stage1, stage2, "--out", str(tmp_path / "z")])
    assert result.exit_code == 2 and "must share start_date and horizon" in " ".join(result.output.split())
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()
