"""The standing publisher (``sim.forecast_publish``) on real SQLite and PostgreSQL: it publishes on its cadence,
a failed run is reported and the next tick publishes, a bad database fails before any run."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from placement.router.db import forecasts
from placement.router.forecasts import ForecastDraft, ForecastsNotMigrated, forecast_engine, latest_forecast
from placement.router.migrate import upgrade
from sim.forecast_publish import parse_every, publish_every, publish_once
from tests.router.forecast_data import AS_OF, sample_rows


def draft(seed: int) -> ForecastDraft:
    return ForecastDraft(AS_OF, 365.0, 20, seed, "sqlite:///router.db", "scenarios/stage1.yaml", sample_rows())


def test_every_tick_publishes_and_a_failed_run_is_reported_then_retried(forecast_db):
    upgrade(forecast_db)
    runs = iter(range(10))
    messages: list[str] = []

    def make() -> ForecastDraft:
        number = next(runs)
        if number == 1:
            raise RuntimeError("the sweep's workers were lost")
        return draft(number)

    published = publish_every(make, forecast_db, 0.05, nice=0, ticks=4, report=messages.append, keep=2)
    assert published == 3
    assert "tick 2: not published: RuntimeError: the sweep's workers were lost" in messages
    assert sum("published forecast" in message for message in messages) == 3
    engine = forecast_engine(forecast_db)
    try:
        assert latest_forecast(engine).seed == 3
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(forecasts)).scalar_one() == 2  # keep=2
    finally:
        engine.dispose()


def test_a_stop_event_ends_the_standing_publisher(tmp_path):
    url = f"sqlite:///{tmp_path / 'router.db'}"
    upgrade(url)
    stop = threading.Event()
    seeds = iter(range(1000))

    def make() -> ForecastDraft:
        seed = next(seeds)
        if seed == 2:
            stop.set()
        return draft(seed)

    assert publish_every(make, url, 0.01, nice=0, stop=stop, report=lambda _m: None) == 3


def test_publish_once_checks_the_database_before_running_the_forecast(tmp_path):
    url = f"sqlite:///{tmp_path / 'router.db'}"
    upgrade(url, revision="0004")
    ran = []
    with pytest.raises(ForecastsNotMigrated):
        publish_once(lambda: ran.append(1) or draft(1), url)
    assert ran == []
    upgrade(url)
    result = publish_once(lambda: draft(5), url)
    engine = forecast_engine(url)
    try:
        assert latest_forecast(engine).id == result.forecast_id
        assert latest_forecast(engine).created_at <= datetime.now(UTC)
    finally:
        engine.dispose()


@pytest.mark.parametrize(("text", "seconds"), [("6h", 21_600), ("30s", 30), ("15m", 900), ("1d", 86_400), ("90", 90)])
def test_every_reads_durations(text, seconds):
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "6 hours", "-1h", "0s", "h"])
def test_a_bad_every_names_the_option(text):
    with pytest.raises(ValueError, match="--every"):
        parse_every(text)
