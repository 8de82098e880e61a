"""A forecast's bands over its runs: the p10/p50/p90 prediction quantiles of days that may lie beyond the horizon,
and their dates (``sim.forecast.core``'s limits, ``sim.forecast.orders``' orders)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np

QUANTILES = (("p10", 0.10), ("p50", 0.50), ("p90", 0.90))
# The fewest runs whose p10-p90 is a prediction band (``censored_percentile``: order statistic q(n+1) exists for the
# lowest and the highest quantile); with fewer, the band is clamped to the runs' own range.
MIN_BAND_RUNS = round(1 / QUANTILES[0][1]) - 1


def censored_percentile(values: np.ndarray, q: float) -> float | None:
    """The ``q`` prediction quantile of ``values`` (NaN: beyond the horizon): order statistic q(n+1), linear
    between order statistics, clamped to the range; None when the one it interpolates toward is beyond the
    horizon."""
    ordered = np.sort(np.where(np.isfinite(values), values, np.inf))
    if not len(ordered):
        return None
    position = min(max(q * (len(ordered) + 1) - 1.0, 0.0), len(ordered) - 1.0)  # 0-based
    low, high = math.floor(position), math.ceil(position)
    if not np.isfinite(ordered[high]):
        return None
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def day_date(start: date, day: float | None) -> date | None:
    """The date of a day after the start (floored to the day); None stays None."""
    return None if day is None else start + timedelta(days=math.floor(day))
