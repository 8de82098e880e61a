"""The outcomes of a run that sweeps and comparisons summarise, and the one percentile method they all use.

Each outcome is a key of a run's summary (``SimResult.summary``) and of a sweep run's record. ``--metric NAME``
(``sim sweep``) and the rows of ``sim compare`` come from ``OUTCOMES``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUANTILES = (0.1, 0.5, 0.9)
BAND_COLUMNS = ("p10", "p50", "p90")
# numpy's default: linear interpolation between order statistics (Hyndman & Fan type 7), for every band, date and
# table. A date band is the start date plus the day band (floored to the day), never a separate percentile of dates.
PERCENTILE_METHOD = "linear"
PERCENTILE_NOTE = (
    "p10/p50/p90: numpy percentiles, linear interpolation between order statistics (Hyndman & Fan type 7); "
    "dates are the start date plus the day percentile"
)


@dataclass(frozen=True)
class Outcome:
    """One number per run. ``key``: the summary/record key; ``name``: what ``--metric`` takes."""

    name: str
    key: str
    label: str
    unit: str
    lower_is_better: bool = True


OUTCOMES = (
    Outcome("cost_month_end", "cost_eur_month_end", "cost at the horizon", "EUR/month"),
    Outcome("cost_total", "cost_eur_total", "total cost over the horizon", "EUR"),
    Outcome("cost_per_customer", "cost_eur_per_customer_month", "cost per customer-month", "EUR"),
    Outcome("run_nodes", "run_nodes_end", "run nodes at the horizon", "nodes"),
    Outcome("clusters", "clusters_end", "clusters at the horizon", "clusters"),
    Outcome("first_shard", "first_shard_day", "first shard (days after the start)", "days", lower_is_better=False),
    Outcome("lost_customers", "customers_lost", "lost customers (first service fit nowhere)", "customers"),
    Outcome("rejected", "placements_rejected", "rejected placements", "placements"),
    Outcome("customers_end", "customers_end", "customers at the horizon", "customers", lower_is_better=False),
)
BY_NAME = {o.name: o for o in OUTCOMES}
METRIC_NAMES = tuple(BY_NAME)


def outcome(name: str) -> Outcome:
    """The outcome ``--metric NAME`` names; ``ValueError`` listing the known names otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"--metric {name!r}: unknown outcome; use one of {', '.join(METRIC_NAMES)}") from None


def percentiles(values) -> tuple[float, float, float]:
    """p10, p50, p90 of the finite values (NaN each when there are none), by ``PERCENTILE_METHOD``."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    if not len(array):
        return (np.nan, np.nan, np.nan)
    low, mid, high = np.percentile(array, [q * 100 for q in QUANTILES], method=PERCENTILE_METHOD)
    return float(low), float(mid), float(high)
