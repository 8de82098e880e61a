"""router_decisions places through the engine and then shows the simulator's answers for the same fleet: what it
prints is what the library gives for the same state file, scenario and seed."""

from __future__ import annotations

from datetime import UTC, datetime

import sim
from placement.state import load_state
from sim.notebooks import NotebookMode
from sim.recommend import recommend
from sim.report_planning import never_bound_line
from sim.start_from.build import read_source, start_from
from tests.notebooks.conftest import NOTEBOOKS, outputs, png_sizes, text_outputs

ROOT = NOTEBOOKS.parent
FLEET_FILE = ROOT / "examples" / "router-fleet.yaml"
NOW = datetime(2026, 12, 1, tzinfo=UTC)  # the notebook's fixed "now" for the state file


def test_the_notebooks_fleet_is_the_example_state_file(executed):
    text = text_outputs(executed("router_decisions"))
    fleet = load_state(FLEET_FILE)
    assert [cluster.id for cluster, _ in fleet] == ["eu-west-1", "eu-west-2", "eu-west-3", "us-east-1"]
    for cluster, load in fleet:
        assert cluster.id in text and str(load.etcd_objects) in text


def test_router_decisions_prints_the_simulators_answers_for_its_fleet(executed):
    notebook = executed("router_decisions")
    text = text_outputs(notebook)
    days = NotebookMode.from_env().pick(smoke=90, full=365)
    base = sim.load_scenario(ROOT / "scenarios" / "stage2.yaml").model_copy(
        update={"horizon_days": days, "horizon_years": None, "packing_checks": None}
    )
    started = start_from(base, read_source(str(FLEET_FILE), NOW))
    result = sim.run(started.scenario, 0)
    s = result.summary
    assert (
        f"After {days} days: {s['customers_end']:,} customers on {s['clusters_end']} clusters and "
        f"{s['run_nodes_end']} run nodes, EUR {s['cost_eur_month_end']:,.0f}/month; "
        f"EUR {s['cost_eur_per_customer_month']:.2f} per customer-month; {len(result.orders)} orders; "
        f"{s['customers_lost']} customers lost"
    ) in text
    assert f"never bound (peak utilisation): {never_bound_line(s) or '-'}" in text
    advice = recommend(started.scenario, result, 0, band_runs=NotebookMode.from_env().pick(smoke=3, full=20))
    assert advice and not [item["verdict"] for item in advice if item["verdict"].startswith("not tried")]
    for item in advice:
        assert f"{item['limit_name']}: {item['verdict']}" in text
    assert not result.orders.empty  # the fleet grows: the calendar has something to order


def test_router_decisions_draws_its_figures(executed):
    notebook = executed("router_decisions")
    images = outputs(notebook, "image/png")
    # Scores and winners, the volume-limit approach, draining, the orders and the fleet cost.
    assert len(images) == 4
    assert all(width > 100 and height > 100 for width, height in png_sizes(images))
    text = text_outputs(notebook)
    reason = text.split("eu-west-1 when draining:")[1].splitlines()[0]
    assert "draining" in reason
