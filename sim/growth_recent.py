"""Growth and churn from the router's ledger, checked against its last weeks (``sim.start_from.build``).

``sim.growth_fit`` fits each growth kind to the whole ledger and chooses by information criterion. Sign-ups that
changed in a way no kind follows (a step down when a campaign ended, a step up, a burst that is over) give a law
that fits the year and misses today: fitted to a year of 600 sign-ups a month that fell to 240 two months ago, a
linear law starts at 369 a month and falls 30 a month. So the chosen law is checked against the ledger: its last
``RECENT_WEEKS``' count, and its weekly counts' deviance (a step it smooths over may meet today's rate while its
trend runs on). Where it misses, the kinds are fitted again to the weeks since a change in the rate (binary
segmentation of the weekly counts into constant rates; at least ``min_weeks``), oldest change first, and the first
such fit that describes its own weeks is used (wider bands: fewer weeks of evidence). Either way the output says so
(``GrowthFit.recent_misfit``); where the window does not help, the whole ledger's law stays and the output says
which way the forecast's growth leans. Churn likewise: where the last ``CHURN_RECENT_WEEKS``' departures are off the
whole ledger's constant rate, the rate of those weeks is used, and said.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from sim.churn_fit import ChurnFit, fit_churn
from sim.distributions import DAYS_PER_MONTH
from sim.growth_fit import (
    KIND_BY_NAME,
    MIN_HISTORY_WEEKS,
    GrowthFit,
    KindFit,
    churn_days,
    expected_counts,
    fit_growth,
    signup_days,
    signup_days_by_customer,
    weekly_counts,
)

# The chosen law misses the recent sign-ups when the last RECENT_WEEKS' count is off by more than RECENT_SHARE and
# a Poisson test gives under RECENT_P_VALUE (a large ledger makes small misses significant, a small one large ones).
RECENT_WEEKS, RECENT_SHARE, RECENT_P_VALUE = 4, 0.25, 1e-3
# Or when its weekly counts' deviance is both unlikely (RECENT_P_VALUE) and over SHAPE_DISPERSION times its degrees
# of freedom (a ledger of many sign-ups makes a slight misfit unlikely; this is a shape the law does not have).
SHAPE_DISPERSION = 2.0
# A change in the sign-up rate is a split of the weekly counts into two constant rates whose likelihood-ratio
# statistic passes CHANGE_STATISTIC (chi-squared, 1 degree of freedom, p ~1e-5: a year has ~50 candidate splits).
CHANGE_STATISTIC = 20.0
CHURN_RECENT_WEEKS = 8  # the weeks whose churn is checked against the whole ledger's rate


def growth_from_ledger(
    ledger: pd.DataFrame, now: datetime, *, criterion: str = "bic", min_weeks: float = MIN_HISTORY_WEEKS
) -> GrowthFit:
    """The fit to the ledger's sign-ups (the history runs from the first reservation to ``now``), checked against
    its last weeks."""
    days = signup_days(ledger, now)
    history = float(-days.min()) if len(days) else 0.0
    return fit_recent_growth(days, history, criterion=criterion, min_weeks=min_weeks)


def fit_recent_growth(
    days: np.ndarray, history_days: float, *, criterion: str = "bic", min_weeks: float = MIN_HISTORY_WEEKS
) -> GrowthFit:
    """``fit_growth``; where the whole history's law does not describe the history, refitted to the longest window
    since a change in the sign-up rate whose law describes its weeks."""
    whole = fit_growth(days, history_days, criterion=criterion, min_weeks=min_weeks)
    if not whole.enough:
        return whole
    missed = misfit(whole.chosen, days, history_days)
    if missed is None:
        return whole
    said = f"growth: the whole ledger's best law ({whole.chosen.kind}) {missed.said}: the sign-ups changed in a way "
    said += "the growth kinds do not follow"
    # The longest window since a change whose law describes its weeks: a backfilled first week, then a smooth
    # ramp, keeps the ramp's year; a step keeps the weeks after it. The week a rate changed in holds both rates,
    # so a window starts after it.
    for weeks in dict.fromkeys(max(since - 1.0, min_weeks) for since in change_weeks(days, history_days)):
        if weeks >= whole.weeks:
            continue
        recent = days[days >= -7.0 * weeks]
        window = fit_growth(recent, 7.0 * weeks, criterion=criterion, min_weeks=min_weeks)
        if window.enough and misfit(window.chosen, recent, 7.0 * weeks) is None:
            message = f"{window.message}, since a change in the sign-up rate (the whole ledger's law missed it)"
            return dataclasses.replace(
                window,
                message=message,
                recent_misfit=f"{said}; growth is fitted to the {weeks:g} weeks since the rate changed instead "
                f"({window.chosen.kind}), with wider bands for the fewer weeks",
            )
    lean = "low" if missed.observed > missed.expected else "high"
    return dataclasses.replace(
        whole,
        recent_misfit=f"{said}, nor does a fit to the weeks since; the forecast's growth leans {lean} from the start",
    )


@dataclass(frozen=True)
class Misfit:
    """How a law misses its history: the last ``RECENT_WEEKS``' sign-ups ``expected`` and ``observed``, and what
    to say."""

    expected: float
    observed: int
    said: str


def misfit(chosen: KindFit, days: np.ndarray, history_days: float) -> Misfit | None:
    """Where ``chosen`` does not describe the sign-ups: it misses the last ``RECENT_WEEKS``' count, or its weekly
    counts' Poisson deviance is too large for chance (a step it smooths over, whose today it may meet while its
    trend runs on). None where it describes them."""
    from scipy import stats  # the parent's only, as in sim.growth_fit.fit_kind

    edges, counts = weekly_counts(days, -history_days)
    expected_all = expected_counts(KIND_BY_NAME[chosen.kind], edges)(chosen.theta)
    recent = min(RECENT_WEEKS, len(counts))
    expected, observed = float(np.sum(expected_all[-recent:])), int(counts[-recent:].sum())
    if expected <= 0:
        return None
    p_value = poisson_p_value(observed, expected)
    if p_value < RECENT_P_VALUE and abs(observed / expected - 1) > RECENT_SHARE:
        said = f"expects {expected:,.0f} sign-ups over the last {recent} weeks, the ledger has {observed:,} "
        return Misfit(expected, observed, said + f"({observed / expected:.2f}x, p {p_value:.1g})")
    mean = np.maximum(expected_all, 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, counts * np.log(counts / mean), 0.0) - (counts - mean)
    deviance, dof = 2.0 * float(terms.sum()), max(len(counts) - len(chosen.theta), 1)
    p_value = float(stats.chi2.sf(deviance, dof))
    if p_value < RECENT_P_VALUE and deviance > SHAPE_DISPERSION * dof:
        said = f"leaves a Poisson deviance of {deviance:,.0f} over {len(counts)} weeks ({deviance / dof:.1f}x its "
        return Misfit(expected, observed, said + f"{dof} degrees of freedom, p {p_value:.1g})")
    return None


def change_weeks(days: np.ndarray, history_days: float) -> list[float]:
    """Weeks since each change in the weekly sign-up rate, oldest first (binary segmentation into constant rates,
    following the newest segment); [] where there is none."""
    edges, counts = weekly_counts(days, -history_days)
    widths = np.diff(edges)
    start, changes = 0, []
    while len(counts) - start >= 2:
        split = _best_split(counts[start:], widths[start:])
        if split is None:
            break
        start += split
        changes.append(-float(edges[start]) / 7.0)
    return changes


def _best_split(counts: np.ndarray, widths: np.ndarray) -> int | None:
    """The bin where a second constant rate starts, best by Poisson likelihood ratio; None below the threshold."""

    def log_likelihood(total: np.ndarray, width: np.ndarray) -> np.ndarray:
        rate = np.where(width > 0, total / np.maximum(width, 1e-12), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, total * np.log(np.maximum(rate, 1e-300)), 0.0) - rate * width

    count_before, width_before = np.cumsum(counts)[:-1], np.cumsum(widths)[:-1]
    count_after, width_after = counts.sum() - count_before, widths.sum() - width_before
    gain = (
        log_likelihood(count_before, width_before)
        + log_likelihood(count_after, width_after)
        - log_likelihood(np.array([counts.sum()]), np.array([widths.sum()]))
    )
    best = int(np.argmax(gain))
    return best + 1 if 2 * gain[best] > CHANGE_STATISTIC else None


def churn_from_ledger(
    ledger: pd.DataFrame, now: datetime, *, min_weeks: float = MIN_HISTORY_WEEKS, criterion: str = "bic"
) -> tuple[ChurnFit, str | None]:
    """``fit_churn`` over the whole ledger, unless the last ``CHURN_RECENT_WEEKS`` say the rate changed (by more
    than ``RECENT_SHARE``, Poisson p under ``RECENT_P_VALUE``): then the rate of those weeks, and what to say.
    With fewer than ``min_weeks`` of ledger nothing is fitted, as for growth."""
    whole = fit_churn(ledger, now, criterion=criterion)
    weeks = float(-signup_days(ledger, now).min()) / 7.0 if not ledger.empty else 0.0
    if whole.fitted and weeks < min_weeks:
        # A few releases over hours of ledger are a hazard of hundreds a month: a rate no history supports.
        message = (
            f"{weeks:.1f} weeks of history with {whole.events} customers gone: fewer than {min_weeks:g} weeks, so "
            "churn is not fitted; the base scenario's churn is used"
        )
        return ChurnFit(0, whole.exposure_months, message), None
    if not whole.fitted:
        return whole, None
    first = pd.Series(signup_days_by_customer(ledger, now))
    gone = churn_days(ledger, now).reindex(first.index)
    start = -7.0 * CHURN_RECENT_WEEKS
    entered, left = np.maximum(first, start).to_numpy(float), gone.fillna(0.0).to_numpy(float)
    seen = left > entered  # observed within the weeks (from sign-up or their start, to churn or now)
    exposure = float((left - entered)[seen].sum()) / DAYS_PER_MONTH
    events = int((gone >= start).sum())
    born = first.to_numpy(float)[seen]
    expected = whole.expected_departures(
        (entered[seen] - born) / DAYS_PER_MONTH, (left[seen] - born) / DAYS_PER_MONTH
    )  # under the whole ledger's law: with lognormal lifetimes, the customers' ages now
    if expected <= 0:
        return whole, None
    p_value = poisson_p_value(events, expected)
    if p_value >= RECENT_P_VALUE or abs(events / expected - 1) <= RECENT_SHARE:
        return whole, None
    said = (
        f"churn: the whole ledger's law ({whole.described()}) expects {expected:,.0f} customers to "
        f"leave over the last {CHURN_RECENT_WEEKS} weeks, {events:,} did ({events / expected:.2f}x, p {p_value:.1g})"
    )
    if events == 0:  # no rate to fit: the whole ledger's stays, and leans high
        return whole, f"{said}; the forecast's churn leans high"
    recent = ChurnFit(
        events,
        exposure,
        f"churn fitted to the last {CHURN_RECENT_WEEKS} weeks: {events} customers left over {exposure:.0f} "
        f"customer-months ({-math.expm1(-events / exposure):.2%} a month; the whole ledger's rate missed them)",
    )
    return recent, f"{said}: churn is fitted to those weeks instead ({recent.churn().rate:.2%} a month)"


def poisson_p_value(observed: int, expected: float) -> float:
    """Two-sided: the chance of a count at least as far from ``expected`` as ``observed``, either way."""
    from scipy import stats  # the parent's only, as in sim.growth_fit.fit_kind

    return float(min(1.0, 2 * min(stats.poisson.cdf(observed, expected), stats.poisson.sf(observed - 1, expected))))
