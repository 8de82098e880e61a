"""The run report in a real headless Chromium (Debian's, driven by Playwright): no console errors, every image
decodes, every table fits the page, and the executive summary's numbers are summary.json's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from tests.sim.conftest import SCENARIOS


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Stage 1 with small clusters, so more clusters exist than a plot draws one by one."""
    out = tmp_path_factory.mktemp("report") / "out"
    args = ["run", str(SCENARIOS / "stage1.yaml"), "--out", str(out), "--quiet", "--set", "packing_checks=null",
            "--set", "horizon_years=1", "--set", "operator.max_run_nodes_per_cluster=3",
            "--set", "growth.start_per_month=400"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def _number(text: str) -> float:
    cleaned = re.sub(r"[^0-9.\-]", "", text.replace(",", ""))
    return float(cleaned)


def test_report_renders_cleanly_and_its_summary_is_summary_json(browser, report):
    summary = json.loads((report / "summary.json").read_text())
    assert summary["clusters_end"] > 8  # more than the plots draw one by one
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto((report / "report.html").as_uri())
    page.wait_for_load_state("load")
    assert problems == []
    # The executive summary comes first and its figures are summary.json's, formatted.
    headings = page.locator("h2").all_inner_texts()
    assert headings[0] == "Executive summary" or headings[:2] == ["Warnings", "Executive summary"]
    shown = page.eval_on_selector_all("#summary [data-key]", "els => els.map(e => [e.dataset.key, e.innerText])")
    keys = {key for key, _ in shown}
    assert {"customers_end", "customers_lost", "cost_eur_month_end", "cost_eur_total", "cost_eur_per_customer_month",
            "run_nodes_end", "clusters_end", "first_shard_date", "orders"} <= keys  # fmt: skip
    for key, text in shown:
        value = summary[key]
        if key == "first_shard_date":
            assert text == value
        elif key == "rejected_fraction":
            assert _number(text) == pytest.approx(100 * value, abs=0.005)
        elif key.startswith("cost_eur"):
            assert text.startswith("EUR ")
            assert _number(text) == pytest.approx(value, abs=0.005 if abs(value) < 100 else 0.5)
        else:
            assert _number(text) == value, key
    # No raw keys or long floats in the summary.
    summary_text = page.locator("#summary").inner_text()
    assert "cost_eur" not in summary_text and not re.search(r"\d\.\d{4,}", summary_text)
    # Every image decodes; no table runs off the page.
    widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert len(widths) == 8 and min(widths) > 0
    overflowing = page.eval_on_selector_all(
        ".scroll", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText.slice(0, 60))"
    )
    assert overflowing == []
    body_width = page.evaluate("document.documentElement.scrollWidth")
    assert body_width <= 1280
    html = (report / "report.html").read_text()
    assert "the other" in html and "summed as &#x27;others&#x27;." in html  # said on the page, not only in a PNG
    assert "Procurement calendar" in html and "Assumptions" in html and "Cost per customer-month" in html
    # The decision table has a row per decision of summary.json; idle resources are flagged in words.
    rows = page.eval_on_selector_all("#decisions + p + .scroll tbody tr", "els => els.length")
    assert rows == len(summary["decisions"]) > 0
    idle = page.eval_on_selector_all("li.idle", "els => els.map(e => e.innerText)")
    assert len(idle) == len(summary["idle_resources"]) > 0
    for text, item in zip(idle, summary["idle_resources"], strict=True):
        shown = re.fullmatch(r"(.+) (\d+) % used while (.+) binds \(median .* over (\d+) decisions\)", text)
        assert shown is not None, text
        assert shown[1] == item["resource_name"] and shown[3] == item["binding_name"]
        assert int(shown[2]) == round(100 * item["median_share"]) and int(shown[4]) == item["decisions"]
    page.close()


def _open_cleanly(browser, path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert problems == []
    assert min(page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")) > 0
    overflowing = page.eval_on_selector_all(
        ".scroll", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText.slice(0, 80))"
    )
    assert overflowing == [] and page.evaluate("document.documentElement.scrollWidth") <= 1280
    return page


def test_compare_and_sweep_pages_render_cleanly(browser, tmp_path):
    compare_out, sweep_out = tmp_path / "compare", tmp_path / "sweep"
    stage1 = str(SCENARIOS / "stage1.yaml")
    result = CliRunner().invoke(
        app, ["compare", stage1, "--set", "packing_checks=null", "--set", "horizon_years=0.5",
              "--set-b", "kubernetes.max_pods_per_node=250", "--runs", "2", "--out", str(compare_out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = _open_cleanly(browser, compare_out / "compare.html")
    summary = page.locator("#summary").inner_text()
    assert "paired runs" in summary and "EUR" in summary and not re.search(r"\d\.\d{4,}", summary)
    page.close()
    result = CliRunner().invoke(
        app, ["sweep", stage1, "--runs", "4", "--vary", "growth.start_per_month=uniform:100:200",
              "--vary", "longhorn.max_volumes=catalog", "--out", str(sweep_out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = _open_cleanly(browser, sweep_out / "report.html")
    assert "Sensitivity of total cost over the horizon (EUR)" in page.content()
    page.close()
