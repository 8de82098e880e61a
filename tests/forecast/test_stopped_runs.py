"""Forecast runs whose drawn growth would sign up more customers than a run can take stop on the day their expected
sign-ups reach the budget, instead of failing (and leaving the fastest growth out of the bands) or running for
hours (``sim.forecast.runs.stop_day``)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from sim.config import MAX_EXPECTED_SIGNUPS, compile_scenario
from sim.distributions import DAYS_PER_MONTH, ConstantGrowth, ExponentialGrowth
from sim.forecast.core import failed_note, forecast, prepare, stopped_note
from sim.forecast.output import write_forecast
from sim.forecast.runs import ForecastTask, RunOutcome, run_forecast, signup_budget, stop_day
from sim.scenario import load_scenario
from tests.forecast.conftest import ROOT

NOW = datetime(2026, 12, 5, tzinfo=UTC)
FLOOR = 2_000  # a small budget: a run that reaches it stays quick


def started(growth, horizon_days: float = 120):
    """The shipped state file (330 customers, no ledger: the base's growth stands) with ``growth``."""
    base = load_scenario(ROOT / "scenarios" / "stage2.yaml")
    start = prepare(str(ROOT / "examples" / "state.yaml"), base, now=NOW, horizon_days=horizon_days)
    start.scenario = start.scenario.model_copy(update={"growth": growth})
    return start


def expected_signups(growth: ExponentialGrowth, day: float) -> float:
    """The exponential law's sign-ups over the first ``day`` days, in closed form."""
    log_factor = math.log1p(growth.monthly_growth)
    return growth.start_per_month * math.expm1(log_factor * day / DAYS_PER_MONTH) / log_factor


def test_the_budget_is_the_floor_or_ten_times_the_starting_customers_within_what_a_run_holds():
    scenario = started(ConstantGrowth(kind="constant", rate_per_month=10)).scenario
    customers = sum(spec.customers for spec in scenario.fleet.clusters)
    assert customers == 330
    assert signup_budget(scenario) == 250_000
    assert signup_budget(scenario, floor=FLOOR) == 3_300
    assert signup_budget(scenario, floor=10**9) == MAX_EXPECTED_SIGNUPS - customers


def test_a_run_stops_on_the_day_its_expected_signups_reach_the_budget():
    growth = ExponentialGrowth(kind="exponential", start_per_month=1_000, monthly_growth=0.5)
    scenario = started(growth).scenario
    day = stop_day(scenario, FLOOR)
    budget = signup_budget(scenario, FLOOR)
    # Day ``day`` is the first whose end holds the budget (the daily rates taken at mid-day: within a day's rate).
    assert expected_signups(growth, day) < budget <= expected_signups(growth, day + 1) + growth.start_per_month
    assert 30 < day < 120
    assert stop_day(started(ConstantGrowth(kind="constant", rate_per_month=100)).scenario, FLOOR) is None
    assert stop_day(scenario) is None  # 250,000 sign-ups are far beyond these 120 days


def test_growth_beyond_what_a_run_holds_stops_early_instead_of_failing():
    # 100 % a month for two years: about 3e10 sign-ups, which the scenario's own check refuses.
    growth = ExponentialGrowth(kind="exponential", start_per_month=500, monthly_growth=1.0)
    start = started(growth, horizon_days=730)
    with pytest.raises(Exception, match="more than a run holds"):
        compile_scenario(start.scenario)
    scenario = start.scenario
    clusters = tuple(spec.id for spec in scenario.fleet.clusters)
    outcome = run_forecast(ForecastTask(scenario, clusters, None, None, FLOOR), 3, 0)
    assert outcome.status == "ok", outcome.error
    day = outcome.drawn["stopped_day"]
    assert day == stop_day(scenario, FLOOR) and day < 730
    bound = outcome.bind_days[np.isfinite(outcome.bind_days)]
    assert len(bound) and (bound <= day).all()  # it ran to that day, not beyond


def test_the_forecast_keeps_stopped_runs_in_its_bands_and_says_so(tmp_path):
    growth = ExponentialGrowth(kind="exponential", start_per_month=1_000, monthly_growth=0.5)
    start = started(growth)
    result = forecast(start, 3, seed=4, signup_floor=FLOOR)
    day = stop_day(start.scenario, FLOOR)
    assert (result.runs["status"] == "ok").all()
    assert result.runs["stopped_day"].tolist() == [day] * 3
    note = next(w for w in result.warnings if "runs drew growth" in w)
    head = f"3 of 3 runs drew growth that signs up more than 3,300 customers within the horizon (by day {day});"
    assert note.startswith(head)
    assert note.endswith("of those limits, none was reached after that day in a run that went on")
    # Every limit bound in some run is bound in the bands by day ``day`` at the latest.
    table = result.table
    assert (table["p90_days"].dropna() <= day).all()
    write_forecast(result, tmp_path)
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert runs["stopped_day"].tolist() == [day] * 3
    assert note in (tmp_path / "forecast.html").read_text()

    # The same growth within the budget runs to the horizon and says nothing of stopping.
    unstopped = forecast(start, 2, seed=4)
    assert unstopped.runs["stopped_day"].isna().all()
    assert not any("runs drew growth" in w for w in unstopped.warnings)


def outcome(index: int, stopped: int | None, *days: float) -> RunOutcome:
    bind = np.array([days])
    return RunOutcome(index, "ok", None, {"stopped_day": stopped}, bind, bind, bind)


def test_the_note_counts_the_limits_a_stop_may_have_hidden():
    nan = math.nan
    went_on = [outcome(0, None, 50, nan, 300), outcome(1, None, 80, 250, nan)]
    # Run 2 stopped on day 100 having reached the first limit only: the second was reached on day 250 by a run that
    # went on (hidden), the third on day 300 (hidden); run 3 stopped on day 400 having reached the first two: the
    # third, reached on day 300 by a run that went on, was not hidden by its stop.
    stopped = [outcome(2, 100, 40, nan, nan), outcome(3, 400, 30, 200, nan)]
    note = stopped_note([*went_on, *stopped], 5_000)
    assert note == (
        "2 of 4 runs drew growth that signs up more than 5,000 customers within the horizon (by day 100-400); each "
        "stopped on that day, a limit it had not reached counting as not within the horizon; of those limits, 2 were "
        "reached after that day in runs that went on: those limits' dates may lean late"
    )
    assert stopped_note([*went_on, stopped[1]], 5_000).endswith(
        "(by day 400); each stopped on that day, a limit it had not reached counting as not within the horizon; of "
        "those limits, none was reached after that day in a run that went on"
    )
    assert stopped_note(went_on, 5_000) is None


def test_failed_runs_are_said_with_the_first_error():
    ok = outcome(0, None, 50.0)
    empty = np.full((1, 1), np.nan)
    failed = [RunOutcome(i, "failed", f"ValueError: run {i} at x.py:1", {}, empty, empty, empty) for i in (1, 3)]
    assert failed_note([ok, failed[0], outcome(2, None, 60.0), failed[1]]) == (
        "2 of 4 runs failed and are left out of the bands (runs.csv has each one's error; the first, run 1: "
        "ValueError: run 1 at x.py:1)"
    )
    assert failed_note([ok]) is None
