"""Scenario files: the shipped ones load, malformed ones fail naming the file, the line and the field."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

import sim
from placement.yamlio import ConfigError
from sim.distributions import DAYS_PER_MONTH, PiecewiseGrowth
from sim.sampling import signup_rate_per_day, signup_times
from sim.scenario import read_monthly_csv
from tests.sim.conftest import SCENARIOS

SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


def test_every_stage_and_the_comparison_are_shipped():
    names = {p.stem for p in SHIPPED}
    assert {"stage1", "stage2", "stage3", "stage4", "longhorn-vs-ceph"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_load_self_contained(path: Path):
    scenario = sim.load_scenario(path)
    assert scenario.name == path.stem
    if isinstance(scenario.growth, PiecewiseGrowth):
        assert scenario.growth.monthly  # the CSV was read into the model


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


BASE = """name: bad
start_date: 2026-01-01
horizon_days: 30
growth: {kind: constant, rate_per_month: 10}
regions: {eu-west: 1}
fleet:
  clusters:
    - {id: eu-west-1, region: eu-west, run_nodes: 2}
"""


def test_unknown_field_names_file_line_and_field(tmp_path):
    path = write(tmp_path, BASE + "customers:\n  services: {kind: fixed, value: 1}\n  ram_per_service: 1Gi\n")
    with pytest.raises(ConfigError) as err:
        sim.load_scenario(path)
    text = str(err.value)
    assert str(path) in text
    assert "line 11" in text
    assert "customers.ram_per_service" in text


def test_unknown_growth_kind_is_refused(tmp_path):
    path = write(tmp_path, BASE.replace("kind: constant, rate_per_month: 10", "kind: quadratic, rate: 1"))
    with pytest.raises(ConfigError) as err:
        sim.load_scenario(path)
    assert "line 4" in str(err.value) and "growth" in str(err.value)


def test_bad_quantity_and_bad_probability(tmp_path):
    text = BASE + "customers:\n  ram: {kind: fixed, value: 12Zq}\n  volume_probability: 1.5\n"
    with pytest.raises(ConfigError) as err:
        sim.load_scenario(write(tmp_path, text))
    message = str(err.value)
    assert "customers.ram" in message and "line 10" in message
    assert "customers.volume_probability" in message and "line 11" in message


def test_horizon_needs_exactly_one_form(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of horizon_days and horizon_years"):
        sim.load_scenario(write(tmp_path, BASE.replace("horizon_days: 30", "horizon_days: 30\nhorizon_years: 1")))


def test_missing_policy_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"nowhere\.yaml"):
        sim.load_scenario(write(tmp_path, BASE + "policy: nowhere.yaml\n"))


def test_policy_file_is_read_relative_to_the_scenario(tmp_path):
    (tmp_path / "policy.yaml").write_text("region_mode: strict\n")
    scenario = sim.load_scenario(write(tmp_path, BASE + "policy: policy.yaml\n"))
    assert scenario.policy.region_mode == "strict"


def test_run_time_problems_are_config_errors(tmp_path):
    scenario = sim.load_scenario(write(tmp_path, BASE))
    with pytest.raises(ConfigError, match="unknown limits figure"):
        sim.run(scenario.model_copy(update={"limits_overrides": {"longhorn.max_volume": 10}}))
    ceph = BASE.replace("run_nodes: 2}", "run_nodes: 2, storage_provider: rook-ceph}")
    with pytest.raises(ConfigError, match=r"fleet.clusters\[0\].run_nodes: rook-ceph needs at least 3"):
        sim.run(sim.load_scenario(write(tmp_path, ceph)))


def test_csv_errors_name_the_file_and_line(tmp_path):
    csv = tmp_path / "signups.csv"
    csv.write_text("month,signups\n2026-01,10\n2026-13x,5\n2026-03,-4\n")
    with pytest.raises(ConfigError) as err:
        read_monthly_csv(csv)
    message = str(err.value)
    assert str(csv) in message and "line 3" in message and "line 4" in message
    path = write(tmp_path, BASE.replace("{kind: constant, rate_per_month: 10}", "{kind: piecewise, csv: signups.csv}"))
    with pytest.raises(ConfigError, match=r"signups\.csv"):
        sim.load_scenario(path)


def test_piecewise_csv_drives_the_monthly_signups():
    """Sign-ups per calendar month match the shipped CSV (Poisson, so within z * sqrt(count / reps))."""
    scenario = sim.load_scenario(SCENARIOS / "piecewise.yaml")
    rows = read_monthly_csv(SCENARIOS / "data" / "monthly-signups.csv")
    growth = scenario.growth
    assert [r.month for r in growth.monthly] == [r.month for r in rows]
    feb = signup_rate_per_day(growth, np.array([31.5]), scenario.start_date)
    assert feb[0] == pytest.approx(55 / 28)
    after = signup_rate_per_day(growth, np.array([400.0]), scenario.start_date)  # Feb 2027: December held
    assert after[0] == pytest.approx(171 / 28)
    reps = 200
    rng = np.random.default_rng(7)
    edges = [(date(2026, m, 1) - date(2026, 1, 1)).days for m in range(1, 13)] + [365]
    counts = np.array(
        [np.histogram(signup_times(growth, 365, scenario.start_date, rng), bins=edges)[0] for _ in range(reps)]
    )
    expected = np.array([r.signups for r in rows])
    z = 3.9  # 0.1 % family-wise over 12 months
    assert np.all(np.abs(counts.mean(axis=0) - expected) <= z * np.sqrt(expected / reps))


def test_growth_kinds_have_their_shapes():
    days = np.array([0.0, 12 * DAYS_PER_MONTH])
    from sim.distributions import ExponentialGrowth, LinearGrowth, LogisticGrowth

    start = date(2026, 1, 1)
    linear = signup_rate_per_day(LinearGrowth(kind="linear", start_per_month=100, slope_per_month=10), days, start)
    assert linear * DAYS_PER_MONTH == pytest.approx([100, 220])
    exponential = ExponentialGrowth(kind="exponential", start_per_month=100, monthly_growth=0.1)
    assert signup_rate_per_day(exponential, days, start) * DAYS_PER_MONTH == pytest.approx([100, 100 * 1.1**12])
    logistic = LogisticGrowth(kind="logistic", max_per_month=1000, midpoint_months=12, steepness_per_month=1)
    rates = signup_rate_per_day(logistic, days, start) * DAYS_PER_MONTH
    assert rates[1] == pytest.approx(500) and rates[0] == pytest.approx(1000 / (1 + math.exp(12)))
