"""``GET /v1/forecast`` and the forecast gauges through a real router (``placement serve`` under uvicorn) on real
SQLite and PostgreSQL, with the forecast written by another process's connection, as ``sim forecast --publish``
writes it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from placement.router.forecasts import forecast_engine
from tests.router.conftest import LiveRouter, live_router_on, metric_samples
from tests.router.forecast_data import AS_OF, publish, sample_orders, sample_rows

QUANTILE_FIELDS = {"0.1": "p10_days", "0.5": "p50_days", "0.9": "p90_days"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    with live_router_on(request.param, tmp_path_factory.mktemp("forecast")) as (router, db):
        yield router, db


def test_no_forecast_yet_is_a_404_that_says_how_to_publish_one(live):
    router, _db = live  # the module's router, before the next test publishes
    answer = httpx.get(f"{router.base_url}/v1/forecast", timeout=10)
    assert answer.status_code == 404
    assert "sim forecast" in answer.json()["detail"] and "--publish" in answer.json()["detail"]
    samples = metric_samples(router.base_url)
    assert samples[("placement_forecast_published", ())] == 0
    assert not any(name == "placement_limit_days_remaining" for name, _ in samples)


def test_the_latest_forecast_is_served_with_its_age_dates_and_gauges(live):
    router, db = live
    engine = forecast_engine(db)
    created = datetime.now(UTC) - timedelta(hours=2)
    try:
        publish(engine, created_at=created - timedelta(hours=6), seed=1)
        said = ("cluster eu-west-1: its snapshot counts 497 volumes, its customers as simulated 275 volumes; ...",)
        forecast_id = publish(engine, created_at=created, seed=42, warnings=said, orders=sample_orders())
    finally:
        engine.dispose()
    before = datetime.now(UTC)
    answer = httpx.get(f"{router.base_url}/v1/forecast", timeout=10)
    after = datetime.now(UTC)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == forecast_id and body["seed"] == 42
    assert body["warnings"] == list(said)  # what the numbers rest on, served with them
    expected_orders = sorted(sample_orders(), key=lambda order: (order.cluster, order.order))
    assert [(o["cluster"], o["order"]) for o in body["orders"]] == [(o.cluster, o.order) for o in expected_orders]
    for shown, order in zip(body["orders"], expected_orders, strict=True):
        assert {name: shown[name] for name in order.__dataclass_fields__} == {
            name: getattr(order, name) for name in order.__dataclass_fields__
        }
        for quantile in ("p10", "p50", "p90"):
            days = getattr(order, f"{quantile}_days")
            date = shown[f"{quantile}_date"]
            assert (date is None) == (days is None)
            if days is not None:
                assert datetime.fromisoformat(date) == AS_OF + timedelta(days=days)
    assert datetime.fromisoformat(body["created_at"]) == created
    assert datetime.fromisoformat(body["as_of"]) == AS_OF
    assert (before - created).total_seconds() - 1 <= body["age_seconds"] <= (after - created).total_seconds() + 1
    assert (body["horizon_days"], body["runs"], body["source"]) == (730.0, 100, "postgresql://router/prod")
    expected = sorted(sample_rows(), key=lambda row: (row.cluster, row.limit))
    assert [(row["cluster"], row["limit"]) for row in body["rows"]] == [(r.cluster, r.limit) for r in expected]
    for shown, row in zip(body["rows"], expected, strict=True):
        for name in row.__dataclass_fields__:
            assert shown[name] == getattr(row, name), name
        for quantile in ("p10", "p50", "p90", "order_by"):
            days = getattr(row, f"{quantile}_days")
            date = shown[f"{quantile}_date"]
            assert (date is None) == (days is None)
            if days is not None:
                assert datetime.fromisoformat(date) == AS_OF + timedelta(days=days)

    one = httpx.get(f"{router.base_url}/v1/forecast", params={"cluster": "us-east-1"}, timeout=10).json()
    assert {row["cluster"] for row in one["rows"]} == {"us-east-1"} and len(one["rows"]) == 3
    assert {order["cluster"] for order in one["orders"]} == {"us-east-1"} and len(one["orders"]) == 3
    none = httpx.get(f"{router.base_url}/v1/forecast", params={"cluster": "nowhere"}, timeout=10).json()
    assert none["rows"] == [] and none["id"] == forecast_id

    # The gauges count from the scrape: days since as_of are taken off; "not within the horizon" is +Inf.
    scraped_at = datetime.now(UTC)
    samples = metric_samples(router.base_url)
    elapsed = (scraped_at - AS_OF).total_seconds() / 86_400
    tolerance = 5 / 86_400  # the scrape happened within seconds of scraped_at
    assert samples[("placement_forecast_published", ())] == 1
    assert samples[("placement_forecast_age_seconds", ())] == pytest.approx(
        (scraped_at - created).total_seconds(), abs=5
    )
    assert samples[("placement_forecast_as_of_timestamp_seconds", ())] == AS_OF.timestamp()
    for row in expected:
        for quantile, field in QUANTILE_FIELDS.items():
            labels = (("cluster", row.cluster), ("limit", row.limit), ("quantile", quantile))
            value = samples[("placement_limit_days_remaining", labels)]
            days = getattr(row, field)
            if days is None:
                assert value == math.inf
            else:
                assert value == pytest.approx(days - elapsed, abs=tolerance)
        order_by = samples[("placement_limit_order_by_days", (("cluster", row.cluster), ("limit", row.limit)))]
        if row.order_by_days is None:
            assert order_by == math.inf
        else:
            assert order_by == pytest.approx(row.order_by_days - elapsed, abs=tolerance)
        ratio = samples[("placement_limit_forecast_used_ratio", (("cluster", row.cluster), ("limit", row.limit)))]
        assert ratio == pytest.approx(row.used / row.capacity)


def test_every_worker_answers_the_same_forecast_and_gauges(tmp_path):
    """``serve --workers 2``: whichever worker a connection reaches reads the same table."""
    db = f"sqlite:///{tmp_path / 'router.db'}"
    router = LiveRouter(db, tmp_path, workers=2)
    try:
        engine = forecast_engine(db)
        try:
            forecast_id = publish(engine, created_at=datetime.now(UTC))
        finally:
            engine.dispose()
        ids = set()
        gauges = set()
        for _ in range(12):  # a new connection each time: the kernel spreads them over the workers
            ids.add(httpx.get(f"{router.base_url}/v1/forecast", timeout=10).json()["id"])
            samples = metric_samples(router.base_url)
            labels = (("cluster", "eu-west-1"), ("limit", "kubernetes.pods"), ("quantile", "0.1"))
            gauges.add(round(samples[("placement_limit_days_remaining", labels)], 2))
        assert ids == {forecast_id}
        assert len(gauges) == 1
        assert len(set(router.worker_pids())) == 2
    finally:
        router.stop()
