"""Absurd or impossible scenarios are refused at load time (exit 2, the field named, nothing written); an initial
fleet over a comfortable level runs, with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import sim
from placement.yamlio import ConfigError
from sim.cli import app
from sim.config import compile_scenario
from sim.scenario import MAX_HORIZON_YEARS
from tests.sim.conftest import SCENARIOS

runner = CliRunner()

BASE = """name: check
start_date: 2026-01-01
horizon_days: 30
growth: {kind: constant, rate_per_month: 10}
regions: {eu-west: 1}
"""
FLEET = """fleet:
  clusters:
    - {id: eu-west-1, region: eu-west, run_nodes: 3}
"""


def write(tmp_path: Path, text: str, name: str = "check.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str) -> str:
    """Run the scenario through ``sim run``: it must exit 2 and write nothing; returns the message."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(write(tmp_path, text)), "--out", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert not out.exists()
    return " ".join(result.output.split())


def test_a_horizon_past_the_documented_bound_is_refused(tmp_path):
    text = refused(tmp_path, BASE.replace("horizon_days: 30", "horizon_years: 1000") + FLEET)
    assert "horizon_years" in text and f"{MAX_HORIZON_YEARS} years" in text
    text = refused(tmp_path, BASE.replace("horizon_days: 30", "horizon_days: 20000") + FLEET)
    assert "horizon_days" in text
    # The bound itself runs.
    scenario = sim.load_scenario(write(tmp_path, BASE.replace("horizon_days: 30", "horizon_years: 30") + FLEET))
    assert scenario.days == 30 * 365.25


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("longhorn.max_volumes: -5", "longhorn.max_volumes"),
        ("longhorn.max_volumes: 0", "longhorn.max_volumes"),
        ("kubernetes.max_pods_per_node: 0", "kubernetes.max_pods_per_node"),
        ("run_node.os_reserved_bytes: -1", "run_node.os_reserved_bytes"),
        ("etcd.objects_per_service: -2", "etcd.objects_per_service"),
    ],
)
def test_non_positive_limits_and_negative_overheads_are_refused(tmp_path, override, field):
    text = refused(tmp_path, BASE + FLEET + f"limits_overrides: {{{override}}}\n")
    assert "limits_overrides" in text and field in text


def test_a_non_positive_override_on_the_command_line_is_refused(tmp_path):
    out = tmp_path / "out"
    path = write(tmp_path, BASE + FLEET)
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--quiet", "--set", "longhorn.max_volumes=-1"])
    assert result.exit_code == 2 and not out.exists()
    assert "longhorn.max_volumes" in " ".join(result.output.split())


def test_max_pods_must_fit_the_node_pod_range(tmp_path):
    text = refused(tmp_path, BASE + FLEET + "limits_overrides: {kubernetes.max_pods_per_node: 500}\n")
    assert "kubernetes.max_pods_per_node" in text and "254 pod addresses" in text and "node_cidr_mask_size" in text
    # A /24 holds 254; a scenario that wants more sets a larger range.
    ok = BASE + FLEET + "limits_overrides: {kubernetes.max_pods_per_node: 254}\n"
    assert compile_scenario(sim.load_scenario(write(tmp_path, ok))).run_node_max_pods == 254
    larger = (
        BASE + FLEET + "limits_overrides: {kubernetes.max_pods_per_node: 500, kubernetes.node_cidr_mask_size: 23}\n"
    )
    config = compile_scenario(sim.load_scenario(write(tmp_path, larger)))
    assert config.run_node_max_pods == 500 and config.limits.pod_addresses_per_node == 510


@pytest.mark.parametrize(
    ("growth", "field"),
    [
        ("{kind: constant, rate_per_month: -3}", "growth.constant.rate_per_month"),
        ("{kind: exponential, start_per_month: 10, monthly_growth: -1.5}", "growth.exponential.monthly_growth"),
        ("{kind: logistic, min_per_month: 500, max_per_month: 100, midpoint_months: 6, steepness_per_month: 0.1}",
         "growth.logistic"),
    ],
)  # fmt: skip
def test_rates_outside_their_domain_are_refused(tmp_path, growth, field):
    text = refused(tmp_path, BASE.replace("{kind: constant, rate_per_month: 10}", growth) + FLEET)
    assert field in text


@pytest.mark.parametrize(
    ("churn", "field"),
    [("{kind: monthly, rate: 1.5}", "churn.monthly.rate"), ("{kind: monthly, rate: 0}", "churn.monthly.rate")],
)
def test_churn_outside_its_domain_is_refused(tmp_path, churn, field):
    assert field in refused(tmp_path, BASE + f"churn: {churn}\n" + FLEET)


def test_growth_that_no_run_can_hold_is_refused(tmp_path):
    explosive = BASE.replace("horizon_days: 30", "horizon_years: 20").replace(
        "{kind: constant, rate_per_month: 10}", "{kind: exponential, start_per_month: 100, monthly_growth: 0.5}"
    )
    text = refused(tmp_path, explosive + FLEET)
    assert "growth" in text and "sign-ups expected" in text


def test_a_gap_in_a_growth_csv_is_refused_naming_the_file_and_months(tmp_path):
    (tmp_path / "signups.csv").write_text("month,signups\n2026-01,10\n2026-02,20\n2026-05,50\n")
    growth = "{kind: piecewise, csv: signups.csv}"
    with pytest.raises(ConfigError) as err:
        sim.load_scenario(write(tmp_path, BASE.replace("{kind: constant, rate_per_month: 10}", growth) + FLEET))
    text = str(err.value)
    assert "signups.csv" in text and "2026-03, 2026-04" in text and "gaps: interpolate" in text
    assert "signups.csv" in refused(tmp_path, BASE.replace("{kind: constant, rate_per_month: 10}", growth) + FLEET)


def test_gaps_are_interpolated_only_when_asked(tmp_path):
    (tmp_path / "signups.csv").write_text("month,signups\n2026-01,10\n2026-02,20\n2026-05,50\n")
    growth = "{kind: piecewise, csv: signups.csv, gaps: interpolate}"
    scenario = sim.load_scenario(write(tmp_path, BASE.replace("{kind: constant, rate_per_month: 10}", growth) + FLEET))
    rows = [(row.month, row.signups) for row in scenario.growth.monthly]
    assert rows == [("2026-01", 10), ("2026-02", 20), ("2026-03", 30), ("2026-04", 40), ("2026-05", 50)]
    inline = "{kind: piecewise, monthly: [{month: 2026-01, signups: 10}, {month: 2026-03, signups: 30}]}"
    text = refused(tmp_path, BASE.replace("{kind: constant, rate_per_month: 10}", inline) + FLEET)
    assert "growth.piecewise.monthly" in text and "2026-02" in text


@pytest.mark.parametrize(
    ("cluster", "what"),
    [
        # 20,000 customers' ~32,000 one-pod services on 3 nodes of 110 pods.
        ("{id: eu-west-1, region: eu-west, run_nodes: 3, ctrl_rung: -1, customers: 20000}", "pods"),
        # 2,000 customers with a volume on every service: more than Longhorn's 500 per cluster.
        ("{id: eu-west-1, region: eu-west, run_nodes: 100, ctrl_rung: -1, customers: 2000}", "volumes"),
        # 2,000 customers' ~21,000 objects on a CX32 (tight at 3,000).
        ("{id: eu-west-1, region: eu-west, run_nodes: 100, ctrl_rung: 0, customers: 2000}", "etcd objects"),
    ],
)
def test_an_impossible_initial_fleet_is_refused(tmp_path, cluster, what):
    mix = "customers: {volume_probability: 1.0}\n" if what == "volumes" else ""
    text = refused(tmp_path, BASE + mix + f"fleet:\n  clusters:\n    - {cluster}\n")
    assert "fleet.clusters[0].customers" in text and what in text


def test_an_initial_fleet_over_a_comfortable_level_runs_with_a_warning(tmp_path):
    # 150 customers: ~1,600 objects on a CX32, comfortable at 1,000 and tight at 3,000.
    cluster = "{id: eu-west-1, region: eu-west, run_nodes: 3, ctrl_rung: 0, customers: 150}"
    config = compile_scenario(sim.load_scenario(write(tmp_path, BASE + f"fleet:\n  clusters:\n    - {cluster}\n")))
    assert len(config.warnings) == 1
    assert "fleet.clusters[0]" in config.warnings[0] and "comfortable" in config.warnings[0]
    calm = compile_scenario(sim.load_scenario(write(tmp_path, BASE + FLEET)))
    assert calm.warnings == ()


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("profile", ["seed", "published"])
def test_no_shipped_scenario_starts_over_a_limit(path, profile):
    config = compile_scenario(sim.load_scenario(path), profile)
    assert config.warnings == ()


def test_the_cluster_pod_range_must_hold_node_ranges(tmp_path):
    # A cluster range smaller than one node's: no node gets a pod range.
    text = refused(tmp_path, BASE + FLEET + "limits_overrides: {kubernetes.cluster_cidr_mask_size: 25}\n")
    assert "kubernetes.cluster_cidr_mask_size" in text and "no node would get a pod range" in text
    # kube-controller-manager splits a cluster range into at most 2^16 node ranges.
    text = refused(tmp_path, BASE + FLEET + "limits_overrides: {kubernetes.cluster_cidr_mask_size: 7}\n")
    assert "kubernetes.cluster_cidr_mask_size" in text
    # A /16 in /24 node ranges (k3s's defaults) holds 256 nodes; a /23 per node, 128.
    config = compile_scenario(sim.load_scenario(write(tmp_path, BASE + FLEET)))
    assert config.limits.pod_cidr_nodes == 256
    assert config.scenario.operator.max_run_nodes_per_cluster == 256 - 3  # a new cluster's three servers
    smaller = BASE + FLEET + "limits_overrides: {kubernetes.node_cidr_mask_size: 23}\n"
    assert compile_scenario(sim.load_scenario(write(tmp_path, smaller))).limits.pod_cidr_nodes == 128


def test_an_initial_cluster_past_the_pod_cidr_is_refused(tmp_path):
    fleet = FLEET.replace("run_nodes: 3", "run_nodes: 300")
    text = refused(tmp_path, BASE + fleet)
    assert "fleet.clusters[0].run_nodes" in text and "256 node ranges" in text
