"""Sweeps over anything: ``--vary`` on scenario fields as well as limits, ``--metric`` for the sensitivity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.config import resolve_limits
from sim.sweep import VaryError, parse_all
from sim.sweep.runs import run_one

TINY = Path(__file__).with_name("tiny.yaml")
runner = CliRunner()


@pytest.fixture(scope="module")
def scenario():
    return sim.load_scenario(TINY)


def test_scenario_fields_parse_and_integer_fields_round(scenario):
    specs = parse_all(
        ["growth.start_per_month=uniform:100:400", "churn.rate=triangular:0.01:0.02:0.05",
         "operator.node_lead_days=choice:7,14,30", "fleet.clusters[0].run_nodes=uniform:2:6",
         "operator.shard.prepare_fraction=uniform:0.6:0.9", "limits.longhorn.max_volumes=catalog",
         "customers.volume_probability=uniform:0.1:0.5"],
        resolve_limits(scenario), scenario,
    )  # fmt: skip
    by_path = {s.path: s for s in specs}
    assert by_path["fleet.clusters[0].run_nodes"].integer and not by_path["growth.start_per_month"].integer
    assert "longhorn.max_volumes" in by_path  # the limits. prefix is dropped
    rng = np.random.default_rng(1)
    assert all(by_path["fleet.clusters[0].run_nodes"].draw(rng) in {2.0, 3.0, 4.0, 5.0, 6.0} for _ in range(50))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("growth.rate_per_month=uniform:1:2", r"kind 'linear'\) has no field 'rate_per_month'"),
        ("growth.kind=uniform:1:2", r"growth.kind is 'linear' in this scenario, not a number"),
        ("churn.rate=catalog", "catalog ranges are for limits figures"),
        ("nothing.here=uniform:1:2", "not a limits figure .* nor a scenario field"),
    ],
)
def test_bad_specs_name_the_problem(scenario, spec, message):
    with pytest.raises(VaryError, match=message):
        parse_all([spec], resolve_limits(scenario), scenario)


def test_a_run_applies_scenario_fields_and_limits(scenario):
    specs = parse_all(
        ["growth.start_per_month=uniform:50:60", "kubernetes.max_pods_per_node=choice:250"],
        resolve_limits(scenario),
        scenario,
    )
    record, _ = run_one(scenario.model_copy(update={"horizon_days": 20}), specs, 3, 0)
    assert record["status"] == "ok", record["error"]
    assert 50 <= record["params"]["growth.start_per_month"] <= 60
    # ~55 sign-ups a month over 20 days, against 300 a month in the file
    assert record["customers_end"] < 60
    assert {"cost_eur_month_end", "cost_eur_per_customer_month", "run_nodes_end", "customers_lost"} <= set(record)


def test_growth_dominates_the_tornado_of_total_cost(tmp_path):
    """Must hold (issue 15): growth varied with three limits, --metric cost_total: growth's bar is the longest."""
    out = tmp_path / "sweep"
    vary = ["growth.start_per_month=uniform:100:500", "longhorn.max_volumes=catalog",
            "etcd.objects_per_service=catalog", "rook-ceph.base_ram_bytes_per_node=catalog"]  # fmt: skip
    args = ["sweep", str(TINY), "--runs", "12", "--seed", "3", "--metric", "cost_total", "--out", str(out)]
    for spec in vary:
        args += ["--vary", spec]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    sens = pd.read_parquet(out / "sensitivity.parquet")
    assert sens["parameter"].iloc[0] == "growth.start_per_month"
    assert set(sens["metric"]) == {"cost_total"} and set(sens["unit"]) == {"EUR"}
    assert sens["swing"].iloc[0] > 0 and sens["swing"].abs().iloc[0] > 2 * sens["swing"].abs().iloc[1:].max()
    assert sens["spearman_rho"].iloc[0] > 0.8
    html = (out / "report.html").read_text()
    assert "Sensitivity of total cost over the horizon (EUR)" in html
    assert "total cost over the horizon: growth.start_per_month swings it by" in " ".join(result.output.split())
    outcomes = pd.read_parquet(out / "outcomes.parquet").set_index("outcome")
    assert outcomes.loc["cost_total", "p10"] <= outcomes.loc["cost_total", "p50"] <= outcomes.loc["cost_total", "p90"]


def test_unknown_metric_exits_2(tmp_path):
    result = runner.invoke(app, ["sweep", str(TINY), "--runs", "2", "--metric", "profit", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--metric 'profit': unknown outcome" in result.output
