"""growth_planning shows the simulator's own planner answers: the numbers it prints are what the library gives for
the same scenario and seed, and it draws its figures."""

from __future__ import annotations

import sim
from sim.notebooks import NotebookMode
from sim.recommend import recommend
from tests.notebooks.conftest import NOTEBOOKS, outputs, png_sizes, text_outputs

SMOKE_DAYS = 120  # the notebook's smoke-mode horizon per stage


def stage1():
    scenario = sim.load_scenario(NOTEBOOKS.parent / "scenarios" / "stage1.yaml")
    if NotebookMode.from_env().full:
        return scenario
    return scenario.model_copy(update={"horizon_days": SMOKE_DAYS, "horizon_years": None, "packing_checks": None})


def test_growth_planning_prints_the_librarys_answers_for_stage1(executed):
    notebook = executed("growth_planning")
    text = text_outputs(notebook)
    scenario = stage1()
    result = sim.run(scenario, 0)
    s = result.summary
    assert (
        f"stage1: {s['customers_end']:,} customers on {s['clusters_end']} clusters and {s['run_nodes_end']} run nodes "
        f"after {s['horizon_days']:.0f} days; EUR {s['cost_eur_per_customer_month']:.2f} per customer-month; "
        f"{len(result.orders)} orders"
    ) in text
    # Stage 1 states what the design document expects of it: the notebook says where the run disagrees.
    assert s["design_doc"]["lines"]
    for line in s["design_doc"]["lines"]:
        assert f"stage1, design document: {line}" in text
    decisions = result.decisions
    node_orders = int(((decisions["kind"] == "run nodes") & (decisions["status"] == "ordered")).sum())
    assert f"stage1: {len(decisions)} decisions, {node_orders} of them run-node orders" in text
    # The recommendations are sim.recommend's, verdict for verdict: each binding limit's setting was tried.
    advice = recommend(scenario, result, 0, band_runs=NotebookMode.from_env().pick(smoke=3, full=20))
    assert advice
    assert not [item["verdict"] for item in advice if item["verdict"].startswith("not tried")]
    for item in advice:
        assert f"stage1, {item['limit_name']}: {item['verdict']}" in text


def test_growth_planning_draws_every_section(executed):
    notebook = executed("growth_planning")
    text = text_outputs(notebook)
    images = outputs(notebook, "image/png")
    # Cost per customer-month, the procurement calendar, the sweep report's charts (each printed with its title)
    # and the first-shard days by limits variant.
    sweep_charts = sum(1 for line in text.splitlines() if line.startswith("sweep chart: "))
    assert sweep_charts >= 2
    assert len(images) == 3 + sweep_charts
    assert all(width > 100 and height > 100 for width, height in png_sizes(images))
    tables = outputs(notebook, "text/html")
    assert len(tables) >= 6  # ends, cost parts, decisions, orders, recommendations, sweep tables, variants
