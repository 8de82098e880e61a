"""Packing checks in the simulator: rows on the requested days, honest statuses, the same greedy answer as a direct
``greedy_to_optimal_ratio`` call, replays byte for byte, and bad check days are scenario errors."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

import sim
from placement.optimize import SolveSettings, greedy_to_optimal_ratio
from placement.yamlio import ConfigError
from sim.config import compile_scenario
from sim.packing import PACKING_COLUMNS, live_service_groups
from sim.scenario import PackingChecks
from sim.simulation import simulate
from tests.sim.conftest import SCENARIOS


@pytest.fixture(scope="module")
def stage1():
    return sim.load_scenario(SCENARIOS / "stage1.yaml")


def checked(scenario, horizon_days: float, **checks):
    return scenario.model_copy(
        update={"horizon_days": horizon_days, "horizon_years": None, "packing_checks": PackingChecks(**checks)}
    )


@pytest.fixture(scope="module")
def short(stage1):
    return checked(stage1, 120.0, days=[30, 120], dates=[date(2026, 3, 31)])  # 2026-03-31 is day 89


@pytest.fixture(scope="module")
def short_result(short):
    return sim.run(short, seed=2)


# Big services on few nodes per cluster: RAM binds, first-fit decreasing misses the L1 bound and CP-SAT runs.
BIG = {
    "ram": {"kind": "choice", "values": ["70Gi", "100Gi", "130Gi"], "weights": [3, 2, 1]},
    "volume_probability": 0.3,
}


@pytest.fixture(scope="module")
def big(stage1):
    customers = stage1.customers.model_validate({**stage1.customers.model_dump(), **BIG})
    scenario = checked(stage1, 40.0, days=[20, 40], deterministic_time_limit=1.0)
    return scenario.model_copy(update={"customers": customers})


def test_rows_appear_on_the_requested_days(short_result):
    packing = short_result.packing
    assert list(packing.columns) == PACKING_COLUMNS
    assert sorted(set(packing["day"])) == [30, 89, 120]
    assert set(packing["date"].dt.date) == {date(2026, 1, 31), date(2026, 3, 31), date(2026, 5, 1)}
    assert set(zip(packing["region"], packing["storage_provider"], strict=True)) == {("eu-west", "longhorn")}
    fleet = short_result.timeseries.query("cluster_id == 'fleet'").set_index("day")
    for row in packing.itertuples():
        # The check sees the same fleet as that day's sample.
        assert row.services == fleet.loc[row.day, "services"] and row.volumes == fleet.loc[row.day, "volumes"]
        assert row.sim_run_nodes == fleet.loc[row.day, "run_nodes"]
        assert row.sim_clusters == fleet.loc[row.day, "clusters"]
        assert row.l1_nodes <= row.optimal_nodes <= row.ffd_nodes
        assert row.status in ("OPTIMAL", "FEASIBLE") and row.clusters_status in ("OPTIMAL", "FEASIBLE")
    summary = json.loads(json.dumps(short_result.summary))
    assert [r["day"] for r in summary["packing_checks"]] == packing["day"].tolist()


def test_ratios_are_at_least_one_when_the_optimum_is_proven(short_result, big_result):
    for packing in (short_result.packing, big_result.packing):
        for row in packing.itertuples():
            assert row.best_bound <= row.optimal_nodes
            if row.status == "OPTIMAL":
                assert row.gap == 0 and row.greedy_nodes >= row.best_bound
            else:
                assert row.best_bound < row.optimal_nodes  # FEASIBLE is never dressed up as optimal
            if row.ratio_exact:
                assert row.greedy_to_optimal_nodes >= 1 and row.greedy_to_optimal_clusters >= 1
                assert row.sim_to_optimal_nodes >= 1 and row.sim_to_optimal_clusters >= 1
            assert row.greedy_to_optimal_nodes == pytest.approx(row.greedy_nodes / row.optimal_nodes)
            assert row.sim_to_optimal_nodes == pytest.approx(row.sim_run_nodes / row.optimal_nodes)


@pytest.fixture(scope="module")
def big_result(big):
    return sim.run(big, seed=1)


def test_the_solver_runs_when_the_heuristics_miss_the_bound(big_result):
    # CP-SAT on the arc-flow model (RAM binds here) or on the assignment model, never the heuristic alone.
    assert set(big_result.packing["method"]) & {"arc-flow", "cp-sat"}
    assert set(big_result.packing["status"]) == {"OPTIMAL"}


@pytest.mark.parametrize("which", ["short", "big"])
def test_greedy_nodes_equal_a_direct_call_on_the_same_services(which, request):
    scenario = request.getfixturevalue(which)
    last = int(scenario.horizon_days)
    world, log = simulate(compile_scenario(scenario), 7)  # the last check is on the last day: the end state
    rows = [r for r in log.packing_rows if r["day"] == last]
    groups = live_service_groups(world)
    assert [(r["region"], r["storage_provider"]) for r in rows] == list(groups)
    # The settings the simulator uses: one worker and a deterministic limit, so the answers are the same.
    settings = SolveSettings(num_workers=1, deterministic_time_limit=scenario.packing_checks.deterministic_time_limit)
    for row, ((_, provider), services) in zip(rows, groups.items(), strict=True):
        assert len(services) == row["services"]
        assert [int(s.name[1:]) for s in services] == sorted(
            (int(s.name[1:]) for s in services), key=lambda k: world.population.service_seq[k]
        )
        direct = greedy_to_optimal_ratio(
            services,
            world.config.limits,
            world.config.policy,
            provider=provider,
            max_nodes_per_cluster=scenario.operator.max_run_nodes_per_cluster,
            ctrl_node_type=world.config.ladder[-1],
            settings=settings,
            run_node_ram_bytes=world.config.run_node_ram,
        )
        assert (direct.greedy_nodes, direct.greedy_clusters) == (row["greedy_nodes"], row["greedy_clusters"])
        assert direct.l1_nodes == row["l1_nodes"] and direct.ffd_nodes == row["ffd_nodes"]
        assert (direct.nodes, direct.nodes_outcome.method) == (row["optimal_nodes"], row["method"])
        assert (direct.clusters, direct.clusters_status) == (row["optimal_clusters"], row["clusters_status"])


def test_same_seed_gives_byte_identical_packing_outputs(big, tmp_path):
    first = sim.run(big, 3)
    second = sim.run(big, 3)
    pd.testing.assert_frame_equal(first.packing, second.packing)
    a, b = first.write(tmp_path / "a"), second.write(tmp_path / "b")
    for name in ["packing", "summary", "report"]:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    assert len(first.meta["packing_wall_seconds"]) == len(first.packing)


def test_no_checks_no_packing_outputs(stage1, tmp_path):
    update = {"horizon_days": 20.0, "horizon_years": None, "packing_checks": None}
    result = sim.run(stage1.model_copy(update=update), 0)
    assert result.packing is None and "packing_checks" not in result.summary
    assert "packing" not in result.write(tmp_path, report=False)


def test_a_shorter_copy_runs_only_the_checks_within_its_horizon(short):
    result = sim.run(short.model_copy(update={"horizon_days": 50.0}), 0)
    assert result.packing["day"].tolist() == [30]


BASE = """name: bad
start_date: 2026-01-01
horizon_days: 200
growth: {kind: constant, rate_per_month: 10}
regions: {eu-west: 1}
fleet:
  clusters:
    - {id: eu-west-1, region: eu-west, run_nodes: 2}
"""


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ("{days: [10, 500]}", r"packing_checks: .*days\[1\]: day 500 is past the horizon \(the last simulated day is"),
        ("{dates: [2025-12-31]}", r"dates\[0\]: 2025-12-31 is before start_date 2026-01-01"),
        ("{dates: [2026-01-01, 2027-01-01]}", r"dates\[1\]: 2027-01-01 is past the horizon"),
        ("{days: [-1]}", r"packing_checks.days: .*cannot be negative"),
        ("{}", r"packing_checks: .*give days or dates"),
        ("{days: [10], time_limit: 5}", r"packing_checks.time_limit: Extra inputs are not permitted"),
        ("{days: [10], deterministic_time_limit: 0}", r"packing_checks.deterministic_time_limit"),
    ],
)
def test_bad_checks_are_scenario_errors_naming_the_field(tmp_path, checks, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(BASE + f"packing_checks: {checks}\n")
    with pytest.raises(ConfigError, match=expected) as err:
        sim.load_scenario(path)
    assert str(path) in str(err.value) and "line 9" in str(err.value)


def test_an_unknown_control_plane_type_is_a_scenario_error(tmp_path):
    path = tmp_path / "ctrl.yaml"
    path.write_text(BASE + "packing_checks: {days: [10], ctrl_node_type: CX99}\n")
    with pytest.raises(ConfigError, match=r"packing_checks.ctrl_node_type: unknown 'CX99'"):
        sim.run(sim.load_scenario(path))
