"""``sim forecast … --publish DB_URL [--every 6h]``: run the forecast and write it into the router's database.

The forecast runs in its own process, never in the router (``placement`` never imports ``sim``). Each result goes
through ``placement.router.forecasts.publish`` in one transaction, so the router's readers see a whole forecast or
the previous one. With ``every`` the process stands: it publishes on a fixed cadence from its start, at low CPU
priority so the router's placements keep their latency, and a run or a write that fails is reported and tried
again at the next tick (the last good forecast stays served, and the ``CapplanForecastStale`` alert tells when
too many ticks failed).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from placement.router.forecasts import ForecastDraft, ForecastError, forecast_engine, publish

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
DEFAULT_NICE = 10
# Enough history for a dashboard's week at the default 6 h cadence; older forecasts are pruned as new ones land.
DEFAULT_KEEP = 120


def parse_every(text: str) -> float:
    """``30s``, ``15m``, ``6h``, ``1d`` or a number of seconds; a clear ``ValueError`` for anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if match is None:
        raise ValueError(f"--every: {text!r} is not a duration (e.g. 30s, 15m, 6h, 1d)")
    seconds = float(match.group(1)) * UNITS[match.group(2) or "s"]
    if seconds < 1:
        raise ValueError(f"--every: {text!r} is shorter than one second")
    return seconds


@dataclass(frozen=True, slots=True)
class Published:
    forecast_id: int
    seconds: float  # the run and the write


def publish_once(
    make_forecast: Callable[[], ForecastDraft], db_url: str, *, keep: int | None = DEFAULT_KEEP
) -> Published:
    """Run ``make_forecast`` and publish its result; the database is checked first, so a bad URL or an unmigrated
    database fails before any forecast is run."""
    engine = forecast_engine(db_url)
    try:
        start = time.monotonic()
        forecast_id = publish(engine, make_forecast(), keep=keep)
        return Published(forecast_id, time.monotonic() - start)
    finally:
        engine.dispose()


def publish_every(
    make_forecast: Callable[[], ForecastDraft],
    db_url: str,
    every_seconds: float,
    *,
    keep: int | None = DEFAULT_KEEP,
    nice: int = DEFAULT_NICE,
    stop: threading.Event | None = None,
    ticks: int | None = None,
    report: Callable[[str], None] = print,
) -> int:
    """Publish a forecast every ``every_seconds`` until ``stop`` is set (or ``ticks`` ticks have run); returns how
    many were published. A tick whose run overruns the cadence is followed at once by the next one due, not by a
    burst of missed ones. Bad input to the database (``ForecastError``) stops the process: it would fail every
    tick alike."""
    if nice:
        os.nice(nice)
    stop = stop or threading.Event()
    engine = forecast_engine(db_url)
    published = tick = 0
    due = time.monotonic()
    try:
        while not stop.is_set() and (ticks is None or tick < ticks):
            tick += 1
            start = time.monotonic()
            try:
                forecast_id = publish(engine, make_forecast(), keep=keep)
            except ForecastError:
                raise
            except Exception as error:
                report(f"tick {tick}: not published: {type(error).__name__}: {error}")
            else:
                published += 1
                report(f"tick {tick}: published forecast {forecast_id} in {time.monotonic() - start:.1f} s")
            due += every_seconds
            now = time.monotonic()
            if due < now:  # overran: start the next one now, on a fresh cadence
                due = now
            if ticks is None or tick < ticks:
                stop.wait(due - now)
    finally:
        engine.dispose()
    return published
