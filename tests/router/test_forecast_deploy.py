"""deploy/: the Prometheus alert rules pass ``promtool check rules`` and their unit tests (``promtool test rules``),
and every metric the Grafana dashboard's queries name is in a real router's ``/metrics``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from placement.router.forecasts import forecast_engine
from tests.router.conftest import AUTH, ROOT, cluster_body, live_router_on, load_body, metric_samples
from tests.router.forecast_data import publish

RULES = ROOT / "deploy" / "prometheus" / "capplan-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "capplan-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "capplan-fleet.json"
# PromQL words that are not metric names (functions are told apart by the "(" that follows them).
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's promtool (package prometheus) is missing; .ci/run installs it")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def test_the_alert_rules_pass_promtool_check():
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_the_alert_rules_pass_their_promtool_unit_tests():
    result = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: its identifiers, less label matchers, strings, range and
    grouping clauses, function calls and keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        word = match.group()
        if rest.startswith("(") or word in PROMQL_WORDS or re.fullmatch(r"\d.*|Inf|NaN", word):
            continue
        names.add(word)
    return names


def test_the_metric_name_reader_reads_promql():
    assert metric_names('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route=~"/v1|x"}[5m])))') == {
        "a_bucket"
    }
    assert metric_names("min by (cluster, limit) (b) < 14 and on (cluster) c offset 5m") == {"b", "c"}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert exprs, "the dashboard has no queries"
    return exprs


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_metric_the_dashboard_and_the_rules_name_is_in_the_routers_metrics(backend, tmp_path):
    with live_router_on(backend, tmp_path) as (router, db):
        with httpx.Client(base_url=router.base_url, timeout=30) as http:
            # Some traffic, so the request histograms and decision counters have samples.
            assert http.post("/v1/clusters", json=cluster_body("eu-west-1"), headers=AUTH).status_code == 201
            load = load_body(observed_at=datetime.now(UTC))
            assert http.put("/v1/clusters/eu-west-1/load", json=load, headers=AUTH).is_success
            body = {"request_id": "r-1", "service_name": "web", "request": {"customer_id": "c1", "region": "eu-west"}}
            assert http.post("/v1/placements", json=body, headers=AUTH).status_code == 201
            huge = {"region": "eu-west", "ram": "100Ti"}
            assert http.post("/v1/select-cluster", json=huge).status_code == 409  # a rejection
        engine = forecast_engine(db)
        try:
            publish(engine, created_at=datetime.now(UTC))
        finally:
            engine.dispose()
        exposed = {name for name, _labels in metric_samples(router.base_url)}
    named = set().union(*(metric_names(expr) for expr in dashboard_exprs()))
    rules = re.findall(r"^\s*expr:\s*(.+)$", RULES.read_text(), flags=re.M)
    named |= set().union(*(metric_names(expr) for expr in rules))
    assert {"placement_limit_days_remaining", "placement_limit_order_by_days"} <= named
    assert named - exposed == set(), f"named in deploy/ but not in /metrics: {sorted(named - exposed)}"


def test_the_dashboard_is_grafana_json_with_a_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"


def test_deploy_paths_exist():
    assert all(Path(path).is_file() for path in (RULES, RULE_TESTS, DASHBOARD))
