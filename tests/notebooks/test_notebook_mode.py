"""sim.notebooks: smoke or full mode from CAPPLAN_QUICK, the scenarios found from wherever the kernel starts, and a
sweep that stops the notebook on a failed run."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim.notebooks import NotebookMode, NotebookSweeps, binding_shares, find_scenarios

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "sweep" / "tiny.yaml"


@pytest.mark.parametrize(
    ("environ", "full"), [({}, False), ({"CAPPLAN_QUICK": "1"}, False), ({"CAPPLAN_QUICK": "0"}, True)]
)
def test_mode_is_smoke_unless_capplan_quick_is_zero(environ, full):
    mode = NotebookMode.from_env(environ, start=ROOT / "notebooks")
    assert mode.full is full
    assert mode.pick(smoke="small", full="real") == ("real" if full else "small")
    assert mode.scenarios == ROOT / "scenarios"
    assert ("CAPPLAN_QUICK=0" in mode.name) is not full


def test_scenarios_are_found_from_a_build_folder_below_the_repository(tmp_path):
    assert find_scenarios(ROOT / "notebooks" / "_build" / "anything") == ROOT / "scenarios"
    with pytest.raises(FileNotFoundError, match="no scenarios/ folder"):
        find_scenarios(tmp_path)


def test_smoke_sweeps_run_in_process_and_give_the_pools_results():
    scenario = sim.load_scenario(TINY)
    smoke = NotebookSweeps(NotebookMode(full=False, scenarios=ROOT / "scenarios"), seed=3)
    try:
        in_process = smoke.run(scenario, 2, vary=["longhorn.max_volumes=catalog"])
    finally:
        smoke.shutdown()
    pooled = sim.sweep(scenario, 2, vary=["longhorn.max_volumes=catalog"], seed=3, metric="first_shard")
    assert in_process.runs.equals(pooled.runs)
    assert binding_shares(in_process, "first_bind") == binding_shares(pooled, "first_bind")


def test_a_failed_sweep_run_stops_the_notebook_naming_it():
    scenario = sim.load_scenario(TINY)
    sweeps = NotebookSweeps(NotebookMode(full=False, scenarios=ROOT / "scenarios"))
    try:
        with pytest.raises(RuntimeError, match="sweep runs failed"):
            sweeps.run(scenario, 1, vary=["growth.start_per_month=uniform:-5:-1"])
    finally:
        sweeps.shutdown()
