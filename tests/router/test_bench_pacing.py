"""The paced placements' think times (``bench.router_wrk.Pacing``): each side of a paced comparison is held at the
stated rate whatever its requests cost, and wrk's script takes a fractional mean think time."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.router_fleet import seed
from bench.router_floor import PLACEMENT_FLOOR_PATH
from bench.router_http import RATES
from bench.router_wrk import (
    GUESSED_LATENCY_MS,
    PACED_CONNECTIONS,
    PACED_RATE,
    Pacing,
    Router,
    latency_from_rate,
    placement_lua,
    require_wrk,
    run_wrk,
    think_time_ms,
)
from tests.router.conftest import PG_ADMIN


def closed_loop_rate(connections: int, think_ms: float, latency_ms: float) -> float:
    """What wrk's connections reach when each waits ``think_ms`` and its request takes ``latency_ms``."""
    return 1000 * connections / (think_ms + latency_ms)


@pytest.mark.parametrize("latency_ms", [0.4, 1.0, 7.5, 25.0])
def test_each_side_reaches_the_rate_after_one_run_whatever_its_requests_cost(latency_ms: float):
    pacing = Pacing(PACED_CONNECTIONS, PACED_RATE)
    first = pacing.think_ms("placements")
    assert first == pytest.approx(1000 * PACED_CONNECTIONS / PACED_RATE - GUESSED_LATENCY_MS)
    pacing.learn("placements", first, closed_loop_rate(PACED_CONNECTIONS, first, latency_ms))
    assert pacing.latency_ms["placements"] == pytest.approx(latency_ms)
    second = pacing.think_ms("placements")
    assert closed_loop_rate(PACED_CONNECTIONS, second, latency_ms) == pytest.approx(PACED_RATE)
    # Another side keeps its own figure: a floor whose requests are quicker gets a longer think time.
    assert pacing.think_ms("floor") == pytest.approx(first)


def test_a_host_too_slow_for_the_rate_gets_no_think_time_and_a_run_with_no_answers_keeps_the_guess():
    assert think_time_ms(6, 200.0, latency_ms=45.0) == 0.0  # 6 connections at 45 ms a request: 133/s at most
    assert latency_from_rate(6, 0.0, 29.0) == GUESSED_LATENCY_MS
    assert latency_from_rate(6, 1000.0, 29.0) == 0.0  # faster than the think time allows: no negative latency


def test_the_paced_rate_is_the_label_and_saturated_has_no_think_time():
    (paced_label, connections, rate), (saturated_label, _, none) = RATES
    assert (paced_label, connections, rate) == ("paced 200/s", PACED_CONNECTIONS, PACED_RATE)
    assert (saturated_label, none) == ("saturated", None)


def test_wrk_runs_the_script_with_a_fractional_think_time_and_is_held_below_the_unpaced_rate(
    pg_schema: str, tmp_path: Path
):
    wrk = require_wrk()
    router = Router(f"{PG_ADMIN}?schema={pg_schema}", tmp_path / "router.log")
    try:
        seed(router.url)
        path = PLACEMENT_FLOOR_PATH  # answers as a placement does and writes nothing
        paced = run_wrk(wrk, router, path, placement_lua(29.4, "t", path), PACED_CONNECTIONS, 2, tmp_path)
    finally:
        router.stop()
    assert paced["errors"] == 0 and paced["requests"] > 0, paced
    # A think time of 0..58.8 ms a request holds 6 connections to about 200/s at most, however quick the host; wrk
    # without it answers thousands a second here. (An upper bound only: a slow host reaches less.)
    assert paced["rate"] < 2 * PACED_RATE, paced
