"""longhorn_vs_ceph answers "when should new clusters go Ceph?" first, from the library, and what it prints is what the
library gives for the same profile, draws and seed."""

from __future__ import annotations

import sim
from sim.notebooks import NotebookMode
from sim.storage_crossover import storage_crossover
from sim.storage_policies import compare_policies
from tests.notebooks.conftest import NOTEBOOKS, outputs, png_sizes, text_outputs

NAME = "longhorn_vs_ceph"


def first_output_text(notebook) -> str:
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "stream":
                return output["text"]
            if "text/plain" in output.get("data", {}):
                return output["data"]["text/plain"]
    raise AssertionError("the notebook printed nothing")


def test_the_first_output_is_the_answer_with_a_number_a_band_and_its_assumptions(executed):
    mode = NotebookMode.from_env()
    answer = storage_crossover("seed", draws=mode.pick(smoke=12, full=300), seed=2026, scenarios_dir=mode.scenarios)
    first = first_output_text(executed(NAME)).strip()
    assert first == answer.sentence
    band = answer.band
    assert band["p10"] <= band["p50"] <= band["p90"]
    assert "Rook-Ceph" in first and "p10-p90" in first
    assert f"{band['p50']:,.0f}" in first or "not" in first  # a number, or that Ceph does not pay off
    assert "rests on" in first and "operations-cost estimate" in first and "without it" in first


def test_the_static_and_simulated_views_agree_in_sign_once_operator_overhead_is_apart(executed):
    text = text_outputs(executed(NAME))
    mode = NotebookMode.from_env()
    scenario = sim.load_scenario(mode.scenarios / "longhorn-vs-ceph.yaml")
    scenario = scenario.model_copy(update={"horizon_years": mode.pick(smoke=0.2, full=3.0)})
    comparison = compare_policies(scenario, mode.pick(smoke=1, full=20), seed=2026, time_limit=mode.pick(1.0, 10.0))
    agreement = comparison.agreement
    assert set(agreement["policy"]) == {"Ceph on new clusters", "Ceph from the start"}
    for row in agreement.itertuples():
        line = f"{row.policy} against Longhorn only: simulated {row.simulated_difference:+,.0f} EUR/month"
        assert line in text
        # Storage at the packing optimum and the static model point the same way; the operator's overhead is the
        # rest of the simulated difference.
        assert row.signs_agree
        assert row.simulated_difference == row.optimum_difference + row.operator_overhead_difference
    assert "OPPOSITE SIGNS" not in text


def test_every_cost_figure_is_listed_with_its_source(executed):
    notebook = executed(NAME)
    answer = storage_crossover("seed", draws=10, seed=2026, scenarios_dir=NotebookMode.from_env().scenarios)
    sources = answer.sources
    assert sources["source"].str.len().min() > 3
    # The last cell's table is the sources table: every figure the cost model reads appears in it.
    last = [cell for cell in notebook.cells if cell.cell_type == "code"][-1]
    table = last.outputs[-1]["data"]["text/html"]
    for figure in sources["figure"]:
        assert str(figure) in table
    # The tornado names figures from the same list.
    assert set(answer.tornado["figure"]) <= set(sources["figure"])


def test_the_notebook_draws_its_figures(executed):
    images = outputs(executed(NAME), "image/png")
    # The crossover's draws, the tornado, the cost per volume, the date, and the reconciliation.
    assert len(images) == 5
    assert all(width > 100 and height > 100 for width, height in png_sizes(images))
    assert (NOTEBOOKS / f"{NAME}.py").exists()
