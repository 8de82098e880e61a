"""What-ifs: ``--set PATH=VALUE`` on any scenario field, validated like the YAML, recorded and marked."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.overrides import OverrideError, apply_overrides, parse_path
from tests.sim.conftest import SCENARIOS

runner = CliRunner()


@pytest.fixture(scope="module")
def stage1():
    return sim.load_scenario(SCENARIOS / "stage1.yaml")


def test_paths_with_list_indices():
    assert parse_path("fleet.clusters[0].run_nodes") == ["fleet", "clusters", 0, "run_nodes"]
    assert parse_path("regions.eu-west") == ["regions", "eu-west"]
    with pytest.raises(OverrideError, match="starts with a field name"):
        parse_path("[0].x")
    with pytest.raises(OverrideError, match="cannot read the path"):
        parse_path("growth..start")


def test_scenario_fields_nested_fields_and_list_entries(stage1):
    changed, record = apply_overrides(
        stage1,
        ["growth.start_per_month=300", "operator.node_lead_days=30", "fleet.clusters[0].run_nodes=5",
         "operator.shard.prepare_fraction=0.7", "customers.ram.median=1Gi"],
    )  # fmt: skip
    assert changed.growth.start_per_month == 300 and changed.operator.node_lead_days == 30
    assert changed.fleet.clusters[0].run_nodes == 5 and changed.operator.shard.prepare_fraction == 0.7
    assert changed.customers.ram.median == 1024**3
    assert record[0] == {"path": "growth.start_per_month", "value": 300, "was": 150.0}
    assert record[2]["path"] == "fleet.clusters[0].run_nodes" and record[2]["was"] == 3
    assert stage1.growth.start_per_month == 150  # the loaded scenario is untouched


def test_limits_figures_by_their_own_path_or_limits_prefix(stage1):
    changed, record = apply_overrides(
        stage1, ["kubernetes.max_pods_per_node=250", "limits.longhorn.max_volumes=400", "costs.price_multiplier=1.5"]
    )
    assert changed.limits_overrides == {
        "kubernetes.max_pods_per_node": 250,
        "longhorn.max_volumes": 400,
        "costs.price_multiplier": 1.5,
    }
    assert record[0]["path"] == "limits_overrides.kubernetes.max_pods_per_node"
    assert record[0]["was"] == 110  # the profile's value
    # costs.backup_used_fraction is the scenario's own field, not a limits figure
    assert apply_overrides(stage1, ["costs.backup_used_fraction=0.2"])[0].costs.backup_used_fraction == 0.2


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        # a union field only as the chosen kind has it: stage 1's growth is linear
        ("growth.rate_per_month=300", r"growth \(kind 'linear'\) has no field 'rate_per_month'; its fields: "
                                      r"kind, start_per_month, slope_per_month"),
        ("churn.mean_months=3", r"churn \(kind 'monthly'\) has no field 'mean_months'; its fields: kind, rate"),
        ("fleet.clusters[3].run_nodes=5", r"fleet.clusters has 1 entries \(indices 0-0\)"),
        ("fleet.clusters.run_nodes=5", r"fleet.clusters is a list; give an index"),
        ("operator.node_lead_days=-3", r"operator.node_lead_days=-3: operator.node_lead_days: Input should be "
                                       r"greater than or equal to 0"),
        ("operator.node_lead_days=soon", r"operator.node_lead_days: Input should be a valid number"),
        ("operator.nodes_lead_days=3", r"operator \(OperatorPolicy\) has no field 'nodes_lead_days'"),
        ("kubernetes.max_pod_per_node=5", r"no such limits figure; known: kubernetes.max_nodes, .*max_pods_per_node"),
        ("longhorn.max_volumes=many", r"longhorn.max_volumes: Input should be a valid number"),
        ("growth.start_per_month", r"expected PATH=VALUE"),
        ("packing_checks.days[5]=3", r"packing_checks.days has 2 entries"),
        ("horizon_years=0.2", r"packing_checks: Value error, days\[0\]: day 365 is past the horizon"),
    ],
)  # fmt: skip
def test_bad_overrides_name_the_path_and_the_valid_fields(stage1, assignment, message):
    with pytest.raises(OverrideError, match=message):
        apply_overrides(stage1, [assignment])


def test_a_whole_union_value_switches_the_kind(stage1):
    changed, _ = apply_overrides(stage1, ["growth={kind: exponential, start_per_month: 100, monthly_growth: 0.05}"])
    assert changed.growth.kind == "exponential" and changed.growth.monthly_growth == 0.05


def test_cli_run_applies_records_and_marks_the_overrides(tmp_path):
    out = tmp_path / "out"
    scenario = SCENARIOS / "stage1.yaml"
    sets = ["packing_checks=null", "horizon_years=0.2", "growth.start_per_month=300", "operator.node_lead_days=30"]
    args = ["run", str(scenario), "--out", str(out), "--quiet"] + [part for s in sets for part in ("--set", s)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "what-if: growth.start_per_month = 300 (scenario: 150.0)" in result.output
    assert re.search(r"customers: [\d,]+ signed up, [\d,]+ lost \(their first service fit nowhere\)", result.output)
    summary = json.loads((out / "summary.json").read_text())
    assert [o["path"] for o in summary["overrides"]] == [
        "packing_checks", "horizon_years", "growth.start_per_month", "operator.node_lead_days"
    ]  # fmt: skip
    assert summary["horizon_days"] == 73
    marked = {row["name"]: row for row in summary["assumptions"] if row["overridden"]}
    assert marked["operator.node_lead_days"]["value"] == 30 and marked["operator.node_lead_days"]["was"] == 14.0
    html = (out / "report.html").read_text()
    assert "What-ifs applied to the scenario file: packing_checks = None, horizon_years = 0.2, " in html
    assert "<tr class='override'><td>operator.node_lead_days</td>" in html


@pytest.mark.parametrize(
    ("assignment", "message"),
    [("growth.rate_per_month=3", "its fields: kind, start_per_month, slope_per_month"),
     ("fleet.clusters[0].run_nodes=-1", "fleet.clusters[0].run_nodes")],
)  # fmt: skip
def test_cli_bad_override_exits_2_and_writes_nothing(tmp_path, assignment, message):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(SCENARIOS / "stage1.yaml"), "--out", str(out), "--set", assignment])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not out.exists()


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_an_override_changes_only_its_field_in_every_shipped_scenario(path):
    scenario = sim.load_scenario(path)
    changed, record = apply_overrides(scenario, ["operator.node_lead_days=21", "customers.volume_probability=0.4"])
    assert changed.operator.node_lead_days == 21 and changed.customers.volume_probability == 0.4
    # Everything else (inline engine policies, piecewise sign-ups read from CSV, unions) survives the round trip.
    restored = changed.model_copy(update={"operator": scenario.operator, "customers": scenario.customers})
    assert restored == scenario
    assert [r["was"] for r in record] == [scenario.operator.node_lead_days, scenario.customers.volume_probability]
