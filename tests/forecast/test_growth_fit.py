"""Growth fitted from history: synthetic ledgers with known growth, drawn by the simulator's own sign-up process,
are fitted back (kind and parameters within tolerance); too little history says so; draws come from the fit."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from sim.churn_fit import fit_churn
from sim.distributions import DAYS_PER_MONTH, ConstantGrowth, ExponentialGrowth, LinearGrowth, LogisticGrowth
from sim.growth_fit import (
    KIND_BY_NAME,
    MIN_HISTORY_WEEKS,
    churn_days,
    expected_counts,
    fit_growth,
    signup_days,
)
from sim.growth_recent import churn_from_ledger, fit_recent_growth, growth_from_ledger, misfit
from sim.sampling import signup_rate_per_day, signup_times

HISTORY_DAYS = 730
START = date(2024, 1, 1)
MONTHS = HISTORY_DAYS / (365.25 / 12)


def fitted(growth, seed: int, criterion: str = "bic"):
    times = signup_times(growth, HISTORY_DAYS, START, np.random.default_rng(seed))
    return fit_recent_growth(times - HISTORY_DAYS, HISTORY_DAYS, criterion=criterion)


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize(
    ("truth", "expected"),
    [
        (ConstantGrowth(kind="constant", rate_per_month=40), {"rate_per_month": (40, 0.1)}),
        # The fitted laws run from today (the end of the history): linear starts at 10 + 4 * 24 = 106 a month.
        (
            LinearGrowth(kind="linear", start_per_month=10, slope_per_month=4),
            {"start_per_month": (10 + 4 * MONTHS, 0.1), "slope_per_month": (4, 0.15)},
        ),
        (
            ExponentialGrowth(kind="exponential", start_per_month=15, monthly_growth=0.1),
            {"start_per_month": (15 * 1.1**MONTHS, 0.12), "monthly_growth": (0.1, 0.1)},
        ),
        (
            LogisticGrowth(kind="logistic", max_per_month=120, midpoint_months=12, steepness_per_month=0.5),
            {"max_per_month": (120, 0.1), "midpoint_months": (12 - MONTHS, 0.1), "steepness_per_month": (0.5, 0.25)},
        ),
    ],
)
def test_the_fit_recovers_the_kind_and_its_parameters(truth, expected, seed):
    fit = fitted(truth, seed)
    assert fit.enough and fit.chosen.kind == truth.kind, fit.table()
    for name, (value, tolerance) in expected.items():
        assert fit.chosen.params[name] == pytest.approx(value, rel=tolerance), (name, fit.chosen.params)
    # The truth lies within about the fit's 99 % intervals (its 90 % ones widened by 2.576 / 1.645), and the
    # weights favour the chosen kind.
    for name, (value, _) in expected.items():
        low, high = fit.chosen.intervals()[name]
        assert abs(value - (low + high) / 2) <= 1.57 * (high - low) / 2, (name, low, high, value)
    assert max(fit.weights(), key=fit.weights().get) == truth.kind
    assert fit.recent_misfit is None  # a law of a fitted kind meets its last weeks
    by_aic = fitted(truth, seed, "aic")
    assert by_aic.chosen.kind == min(by_aic.fits, key=lambda f: f.aic).kind
    table = fit.table()
    assert list(table["kind"]) == ["constant", "linear", "exponential", "logistic"]
    assert table["chosen"].sum() == 1 and table.loc[table["chosen"], "kind"].item() == truth.kind


DAYS = np.arange(-365, 0)


@pytest.mark.parametrize(
    ("rate", "since_weeks"),
    [
        (np.where(DAYS < -60, 20.0, 8.0), 60 / 7),  # stepped down two months ago (a campaign's end)
        (np.where(DAYS < -60, 5.0, 15.0), 60 / 7),  # stepped up
        (np.where((DAYS > -150) & (DAYS < -60), 20.0, 5.0), 60 / 7),  # a burst, over: a logistic keeps its level
        # Stepped down 100 days ago: a linear law meets today's rate and runs on down to nothing in four months.
        (np.where(DAYS < -100, 20.0, 6.0), 100 / 7),
    ],
    ids=["down", "up", "burst", "down-long-ago"],
)
@pytest.mark.parametrize("seed", [5, 6])
def test_a_change_the_kinds_do_not_follow_is_said_and_growth_is_fitted_to_the_weeks_since(rate, since_weeks, seed):
    """Sign-ups that changed in a way no growth kind follows: the whole year's best law does not describe them
    (it misses the last weeks, or leaves a deviance no chance gives) and would start the forecast off today's rate
    or trend; the fit says so, and fits the weeks since the change instead."""
    rng = np.random.default_rng(seed)
    days = np.concatenate([np.sort(rng.uniform(d, d + 1, rng.poisson(r))) for d, r in zip(DAYS, rate, strict=True)])
    whole = fit_growth(days, 365.0)
    assert misfit(whole.chosen, days, 365.0) is not None, whole.table()
    fit = fit_recent_growth(days, 365.0)
    assert fit.enough and fit.recent_misfit.startswith(f"growth: the whole ledger's best law ({whole.chosen.kind}) ")
    assert since_weeks - 2 <= fit.weeks <= since_weeks, fit.weeks  # from the week after the change's
    assert f"growth is fitted to the {fit.weeks:g} weeks since the rate changed instead" in fit.recent_misfit
    assert fit.signups == int((days >= -7 * fit.weeks).sum())
    assert misfit(fit.chosen, days[days >= -7 * fit.weeks], 7 * fit.weeks) is None
    # The next 12 weeks: the law fitted since the change is nearer today's rate than the whole ledger's, and its
    # window's mean rate (the constant kind's) is today's within a fifth.
    ahead = np.array([0.0, 84.0])
    today = rate[-1] * 84
    refitted = expected_counts(KIND_BY_NAME[fit.chosen.kind], ahead)(fit.chosen.theta).sum()
    first = expected_counts(KIND_BY_NAME[whole.chosen.kind], ahead)(whole.chosen.theta).sum()
    assert abs(refitted / today - 1) < abs(first / today - 1), (refitted, first, today)
    constant = next(f for f in fit.fits if f.kind == "constant")
    assert constant.params["rate_per_month"] * 84 / DAYS_PER_MONTH == pytest.approx(today, rel=0.2)
    # The Monte Carlo's laws, drawn from the fit's covariance, start near the fitted law's rate: not a tenth of
    # them at half of it, as a step-like logistic's nearly flat steepness gave before the spread was held to the
    # likelihood.
    draws = np.random.default_rng(seed)
    fitted_now = signup_rate_per_day(fit.chosen.growth(), np.zeros(1), START)[0]
    now = np.array([signup_rate_per_day(fit.chosen.draw(draws), np.zeros(1), START)[0] for _ in range(200)])
    assert 0.8 * fitted_now <= np.percentile(now, 10) <= np.percentile(now, 90) <= 1.25 * fitted_now, now
    steady = fit_recent_growth(np.sort(rng.uniform(-365, 0, 365 * 8)), 365.0)
    assert steady.recent_misfit is None and steady.weeks == pytest.approx(365 / 7)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_backfilled_first_week_gives_way_to_the_year_after_it(seed):
    """A ledger whose first day holds 2,000 customers entered at once (a router put in front of a running fleet, its
    ledger filled in), then a linear ramp: the whole ledger's best law is a decline; the year after the first week
    gives the ramp back, not only its last weeks."""
    rng = np.random.default_rng(seed)
    rate = 5 + 15 * (DAYS + 365) / 365
    days = np.sort(np.concatenate(
        [rng.uniform(-365, -364, 2000)]
        + [np.sort(rng.uniform(d, d + 1, rng.poisson(r))) for d, r in zip(DAYS, rate, strict=True)]
    ))  # fmt: skip
    whole = fit_growth(days, 365.0)
    assert whole.chosen.params.get("monthly_growth", 0.0) < 0 or whole.chosen.kind == "constant"
    fit = fit_recent_growth(days, 365.0)
    assert fit.weeks == pytest.approx(51.0) and fit.chosen.kind == "linear", fit.table()
    assert fit.chosen.params["start_per_month"] == pytest.approx(20 * DAYS_PER_MONTH, rel=0.08)
    # The rate rises 15/365 a day each day: per month, each month, times DAYS_PER_MONTH twice.
    assert fit.chosen.params["slope_per_month"] == pytest.approx(15 / 365 * DAYS_PER_MONTH**2, rel=0.3)


def test_the_fitted_growth_continues_the_history_into_the_simulation():
    truth = ExponentialGrowth(kind="exponential", start_per_month=15, monthly_growth=0.1)
    growth = fitted(truth, 3).chosen.growth()
    # The simulator's rate at day 0 of the forecast is the truth's at the end of the history.
    now = signup_rate_per_day(growth, np.array([0.0, 30.0]), START)
    then = signup_rate_per_day(truth, np.array([HISTORY_DAYS, HISTORY_DAYS + 30.0]), START)
    np.testing.assert_allclose(now, then, rtol=0.12)


def test_parameter_draws_come_from_the_covariance_through_the_passed_generator():
    fit = fitted(LinearGrowth(kind="linear", start_per_month=10, slope_per_month=4), 5).chosen
    draws = [fit.draw(np.random.default_rng(s)) for s in range(300)]
    slopes = np.array([d.slope_per_month for d in draws])
    standard_error = np.sqrt(fit.covariance[1, 1])
    assert slopes.mean() == pytest.approx(fit.params["slope_per_month"], abs=0.3 * standard_error + 1e-9)
    assert slopes.std() == pytest.approx(standard_error, rel=0.2)
    # The same generator seed gives the same draw; draws are valid growth laws of the chosen kind.
    assert fit.draw(np.random.default_rng(9)) == fit.draw(np.random.default_rng(9))
    assert all(d.kind == "linear" and d.start_per_month > 0 for d in draws)


def test_a_horizon_far_beyond_the_history_says_where_the_kinds_part_ways():
    days = 16 * 7
    truth = ExponentialGrowth(kind="exponential", start_per_month=20, monthly_growth=0.3)
    times = signup_times(truth, days, START, np.random.default_rng(4))
    fit = fit_growth(times - days, days)
    assert fit.horizon_note(2 * 7 * fit.weeks) is None  # up to twice the weeks fitted: nothing to say
    note = fit.horizon_note(730)
    weights = fit.weights()
    kinds = [kind for kind, weight in sorted(weights.items(), key=lambda item: -item[1]) if weight >= 0.01]
    end = np.array([730 / DAYS_PER_MONTH])
    rates = [KIND_BY_NAME[f.kind].rate(f.theta, end)[0] for f in fit.fits if f.kind in kinds]
    now = KIND_BY_NAME[fit.chosen.kind].rate(fit.chosen.theta, np.zeros(1))[0]
    assert note.startswith(f"growth: fitted to {fit.weeks:.1f} weeks of sign-ups, and the forecast goes 730 days, ")
    assert f"({', '.join(f'{kind} {100 * weights[kind]:.0f} %' for kind in kinds)})" in note
    spread = f"{max(min(rates), 0):,.0f}-{max(rates):,.0f}"
    assert f"sign up {spread} customers a month by its end, against {now:,.0f} now" in note
    assert max(rates) > 10 * now  # the exponential's end, far beyond anything the history saw
    assert note.endswith(f"so dates past about day {2 * 7 * fit.weeks:.0f} rest on a kind continuing")
    assert "now, and each run follows one of them; a turn" in note
    single = fit.horizon_note(730, forecast=False)
    assert single.startswith("growth: fitted to") and "and the run goes 730 days" in single
    assert f"now, and the run follows the chosen {fit.chosen.kind}; a turn" in single


def test_too_little_history_says_so_and_fits_nothing():
    weeks = MIN_HISTORY_WEEKS - 1
    times = signup_times(
        ConstantGrowth(kind="constant", rate_per_month=200), weeks * 7, START, np.random.default_rng(0)
    )
    fit = fit_growth(times - weeks * 7, weeks * 7)
    assert not fit.enough and fit.chosen is None and fit.fits == ()
    assert f"fewer than {MIN_HISTORY_WEEKS} weeks" in fit.message and "base scenario's growth is used" in fit.message


def ledger(rows: list[tuple[str, float, float | None]], now: datetime) -> pd.DataFrame:
    """(customer, reserved days ago, released days ago or None) per reservation."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "reserved_at": pd.to_datetime([now - timedelta(days=r[1]) for r in rows], utc=True),
            "released_at": pd.to_datetime(
                [None if r[2] is None else now - timedelta(days=r[2]) for r in rows], utc=True
            ),
        }
    )


def test_signups_services_and_churn_follow_the_ledger_definitions():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    book = ledger(
        [
            ("a", 100, None),  # a: signs up 100 days ago, a second service later, still here
            ("a", 50, 40),
            ("b", 80, 30),  # b: every reservation released, the last 10 days ago: churned then
            ("b", 70, 10),
            ("c", 20, 5),  # c: one released, one active: not churned
            ("c", 15, None),
        ],
        now,
    )
    np.testing.assert_allclose(signup_days(book, now), [-100, -80, -20])
    gone = churn_days(book, now)
    assert gone["b"] == pytest.approx(-10) and np.isnan(gone["a"]) and np.isnan(gone["c"])
    churn = fit_churn(book, now)
    assert churn.events == 1
    # Exposure: a 100 days, b 70 days (80 to 10 ago), c 20 days.
    assert churn.exposure_months == pytest.approx(190 / (365.25 / 12))
    assert not growth_from_ledger(book, now).enough  # 3 sign-ups over 14 weeks: too few to fit


def test_churn_is_recovered_from_a_synthetic_ledger():
    rng = np.random.default_rng(4)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    hazard = 0.05 / (365.25 / 12)  # per day
    rows = []
    for i, joined in enumerate(rng.uniform(0, 700, size=3000)):
        left = joined - rng.exponential(1 / hazard)
        rows.append((f"c{i}", joined, left if left > 0 else None))
    churn = fit_churn(ledger(rows, now), now)
    assert churn.hazard_per_month == pytest.approx(0.05, rel=0.08)
    low, high = churn.interval()
    assert low < churn.churn().rate < high


def test_a_forecast_worker_imports_no_optimizer():
    """Only the parent fits; a worker unpickles the fits and draws from them, so its start-up skips scipy."""
    check = "import sys, sim.forecast.runs; print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def piecewise_churn_ledger(rng, now, before: float, after: float, changed_days_ago: float) -> pd.DataFrame:
    """3,000 customers over 700 days leaving at ``before`` a month until ``changed_days_ago``, ``after`` since."""
    rows = []
    for i, joined in enumerate(rng.uniform(0, 700, size=3000)):
        # Days ago: the first hazard until the change, then the second (memoryless, so draw again from there).
        left = joined - rng.exponential(DAYS_PER_MONTH / before)
        if left < changed_days_ago:
            left = min(joined, changed_days_ago) - rng.exponential(DAYS_PER_MONTH / after)
        rows.append((f"c{i}", joined, left if left > 0 else None))
    return ledger(rows, now)


@pytest.mark.parametrize(("before", "after"), [(0.02, 0.08), (0.06, 0.01)])
def test_a_change_in_churn_is_said_and_the_recent_rate_used(before, after):
    now = datetime(2026, 6, 1, tzinfo=UTC)
    book = piecewise_churn_ledger(np.random.default_rng(7), now, before, after, 70.0)
    whole = fit_churn(book, now)
    churn, note = churn_from_ledger(book, now)
    assert note is not None and note.startswith(f"churn: the whole ledger's law ({whole.described()})")
    assert "churn is fitted to those weeks instead" in note
    assert churn.churn().rate == pytest.approx(after, rel=0.3)
    assert abs(whole.churn().rate / after - 1) > 0.3  # the whole ledger's mixes the two rates
    steady = piecewise_churn_ledger(np.random.default_rng(8), now, 0.03, 0.03, 70.0)
    same, said = churn_from_ledger(steady, now)
    assert said is None and same == fit_churn(steady, now)
