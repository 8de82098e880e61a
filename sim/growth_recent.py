"""Growth from the router's ledger, checked against its last weeks (``sim.start_from.build``).

``sim.growth_fit`` fits each growth kind to the whole ledger and chooses by information criterion. Sign-ups that
changed in a way no kind follows (a step down when a campaign ended, a step up, a burst that is over) give a law
that fits the year and misses today: a linear fit to a year of 600 sign-ups a month that fell to 150 two months
ago starts the forecast at about 330 and falling. So the chosen law is checked against the last ``RECENT_WEEKS``'
sign-ups; where it misses them, the kinds are fitted again to the last 26, then 13, then ``min_weeks`` weeks,
and the longest window whose law meets its own last weeks is used (wider bands: fewer weeks of evidence). Either
way the output says so (``GrowthFit.recent_misfit``); where no window meets them, the whole ledger's law stays and
the output says which way the forecast's growth leans.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from sim.growth_fit import (
    KIND_BY_NAME,
    MIN_HISTORY_WEEKS,
    GrowthFit,
    KindFit,
    expected_counts,
    fit_growth,
    signup_days,
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
    """``fit_growth``, refitted to the weeks since the sign-up rate last changed where the whole history's law
    does not describe the history."""
    whole = fit_growth(days, history_days, criterion=criterion, min_weeks=min_weeks)
    if not whole.enough:
        return whole
    missed = misfit(whole.chosen, days, history_days)
    if missed is None:
        return whole
    said = f"growth: the whole ledger's best law ({whole.chosen.kind}) {missed.said}: the sign-ups changed in a way "
    said += "the growth kinds do not follow"
    # The week the rate changed in holds both rates: the window starts after it.
    weeks = max(last_change_weeks(days, history_days) - 1.0, min_weeks)
    if weeks < whole.weeks:
        recent = days[days >= -7.0 * weeks]
        window = fit_growth(recent, 7.0 * weeks, criterion=criterion, min_weeks=min_weeks)
        if window.enough and misfit(window.chosen, recent, 7.0 * weeks) is None:
            message = f"{window.message}, since the last change in the sign-up rate (the whole ledger's law missed it)"
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
    p_value = float(min(1.0, 2 * min(stats.poisson.cdf(observed, expected), stats.poisson.sf(observed - 1, expected))))
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


def last_change_weeks(days: np.ndarray, history_days: float) -> float:
    """Weeks since the last change in the weekly sign-up rate (binary segmentation into constant rates, following
    the newest segment); the whole history where there is none."""
    edges, counts = weekly_counts(days, -history_days)
    widths = np.diff(edges)
    start = 0
    while len(counts) - start >= 2:
        split = _best_split(counts[start:], widths[start:])
        if split is None:
            break
        start += split
    return -float(edges[start]) / 7.0


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
