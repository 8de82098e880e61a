"""A sweep of a scenario that states what the design document expects of its stage says over how many runs the
model disagrees (``sim.design_doc.sweep_verdict``), in its runs table, its console and its report."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.design_doc import sweep_verdict

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_a_sweep_counts_the_runs_that_disagree_with_the_design_document(tmp_path):
    scenario = sim.load_scenario(ROOT / "scenarios" / "stage1.yaml")
    short = scenario.model_copy(update={"horizon_years": None, "horizon_days": 200})
    path = tmp_path / "short.yaml"
    text = (ROOT / "scenarios" / "stage1.yaml").read_text().replace("horizon_years: 2", "horizon_days: 200")
    path.write_text(re.sub(r"(?m)^packing_checks:.*$", "", text))
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", str(path), "--runs", "3", "--out", str(out), "--seed", "2"])
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "runs.parquet")
    # Each run's verdict is its own single run's (the same seed): two clusters by day 200 against the one expected.
    for row in runs.itertuples():
        alone = sim.run(
            short.model_copy(update={"packing_checks": None}), np.random.SeedSequence(2, spawn_key=(row.run, 1))
        )
        assert row.design_doc == "disagrees" == {False: "disagrees"}[alone.summary["design_doc"]["agrees"]]
        assert row.design_doc_clusters == alone.summary["design_doc"]["clusters"]
    said = " ".join(result.output.split())
    assert "Against the design document (1 cluster(s) for ~5,000 customers): the model disagrees in 3 of 3 runs" in said
    assert "<h2>Against the design document</h2>" in (out / "report.html").read_text()


def test_the_verdict_counts_each_kind_and_leaves_failed_runs_out():
    runs = pd.DataFrame(
        {
            "status": ["ok", "ok", "ok", "failed", "ok"],
            "design_doc": ["disagrees", "agrees", "not reached", None, "disagrees"],
            "design_doc_clusters": [3, 1, 1, None, 4],
            "design_doc_expected_clusters": [1, 1, 1, None, 1],
            "design_doc_customers": [500, 500, 500, None, 500],
        }
    )
    assert sweep_verdict(runs) == (
        "Against the design document (1 cluster(s) for ~500 customers): the model disagrees in 2 of 4 runs, agrees "
        "in 1 and did not reach the stage's size in 1; clusters when it reached it (or at the end): p10 1.0, "
        "p50 2.0, p90 3.7."
    )
    assert sweep_verdict(runs.drop(columns=["design_doc"])) is None  # a scenario without one
