"""When the simulated operator orders for each cluster: the forecast's answer to "by when must we order?", taken from
what the operator did in the runs, not only from when a limit binds.

A limit's order-by date (``sim.forecast.core``) is its p10 binding day less the lead time. For the limits the
operator answers by closing a cluster to new customers (volumes, Kubernetes limits, the shard triggers) the limit
may never bind: the operator closes the cluster at its shard level and orders a successor before, so the binding
day says nothing of when the new cluster must be ordered. Each run's own orders do: per initial cluster and kind
(run nodes, a control-plane upgrade, a successor cluster), the first day the operator ordered it for that cluster,
and the limit that forced it (``sim.log.OrderRecord``). Bands are over the runs, as the limits' are; a run that never
orders counts as "not within the horizon". A cluster ordered for no cluster's limit but for a region's own demand (its
new customers found no open cluster of theirs, or enough of them live elsewhere) has a row per region,
``<region> (region)`` (``first_region_orders``): on no cluster's row, it would go unsaid.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from datetime import date

import numpy as np
import pandas as pd

from sim.decisions import ON_ORDER_AT_START, REGION_DEMAND, limit_name
from sim.forecast.bands import QUANTILES, censored_percentile, day_date

# (the order's kind in ``OrderRecord``, what it buys)
ORDER_KINDS = (("nodes", "run nodes"), ("upgrade", "control-plane upgrade"), ("cluster", "a successor cluster"))
KIND_INDEX = {kind: index for index, (kind, _) in enumerate(ORDER_KINDS)}
ORDER_COLUMNS = (
    "cluster", "order", "runs_ordering", "p10_days", "p50_days", "p90_days", "p10_date", "p50_date", "p90_date",
    "lead_days", "limit", "limit_runs",
)  # fmt: skip


def first_orders(orders, cluster_ids: list[str], clusters: tuple[str, ...]):
    """Per cluster of ``clusters`` and order kind: the first day the operator ordered it for that cluster (NaN:
    never), and the limit that forced it (None). ``orders``: the run's ``Log.orders``; ``cluster_ids``: the run's
    cluster ids by cluster number."""
    position = {cluster: i for i, cluster in enumerate(clusters)}
    days = np.full((len(clusters), len(ORDER_KINDS)), np.nan)
    limits: list[list[str | None]] = [[None] * len(ORDER_KINDS) for _ in clusters]
    for order in orders:
        # A successor is ordered for the cluster whose limit triggered it; nodes and upgrades for their own cluster.
        number = order.trigger if order.kind == "cluster" else order.cluster
        i = None if number is None else position.get(cluster_ids[number])
        k = KIND_INDEX.get(order.kind)
        # A cluster the source had on order is the real operator's order, not one the forecast's operator placed.
        if i is None or k is None or order.limit == ON_ORDER_AT_START or not np.isnan(days[i, k]):
            continue
        days[i, k] = order.day
        limits[i][k] = order.limit
    return days, limits


def first_region_orders(orders, cluster_regions: list[str], regions: tuple[str, ...]) -> np.ndarray:
    """Per region of ``regions``: the first day the operator ordered a cluster for the region's own demand (its new
    customers found no open cluster of theirs, or enough of its customers live elsewhere: ``OrderRecord.trigger``
    None), NaN: never. ``cluster_regions``: the run's cluster regions by cluster number."""
    position = {region: i for i, region in enumerate(regions)}
    days = np.full(len(regions), np.nan)
    for order in orders:
        if order.kind != "cluster" or order.trigger is not None or order.limit == ON_ORDER_AT_START:
            continue
        i = position.get(cluster_regions[order.cluster])
        if i is not None and np.isnan(days[i]):
            days[i] = order.day
    return days


def region_row(region: str) -> str:
    """The orders table's ``cluster`` for a region's new cluster (no cluster id has a space or parentheses)."""
    return f"{region} (region)"


def summarise_orders(
    clusters: tuple[str, ...],
    days: np.ndarray,
    limits: list,
    start: date,
    leads: dict[str, float],
    regions: tuple[str, ...] = (),
    region_days: np.ndarray | None = None,
):
    """The table of orders: ``days`` (runs x clusters x kinds) and ``limits`` (per run, ``first_orders``' lists);
    ``leads``: each kind's lead time in days; ``region_days`` (runs x ``regions``, ``first_region_orders``): a row per
    region for the clusters ordered for its demand rather than for a cluster's limit."""
    rows = []
    for i, cluster in enumerate(clusters):
        for k, (kind, what) in enumerate(ORDER_KINDS):
            values = days[:, i, k]
            forced = Counter(run[i][k] for run in limits if run[i][k] is not None)
            limit, count = forced.most_common(1)[0] if forced else (None, 0)
            rows.append(
                {
                    "cluster": cluster,
                    "order": what,
                    "runs_ordering": float(np.isfinite(values).mean()),
                    **_bands(values, start),
                    "lead_days": float(leads[kind]),
                    "limit": None if limit is None else limit_name(limit),
                    "limit_runs": count / len(limits) if limits else 0.0,
                }
            )
    for r, region in enumerate(regions if region_days is not None else ()):
        values = region_days[:, r]
        share = float(np.isfinite(values).mean())
        rows.append(
            {
                "cluster": region_row(region),
                "order": f"a new cluster in {region}",
                "runs_ordering": share,
                **_bands(values, start),
                "lead_days": float(leads["cluster"]),
                "limit": limit_name(REGION_DEMAND) if share else None,
                "limit_runs": share,
            }
        )
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)


def _bands(values: np.ndarray, start: date) -> dict:
    """An order's p10/p50/p90 days over the runs (NaN: a run that never ordered it) and their dates."""
    bands = {name: censored_percentile(values, q) for name, q in QUANTILES}
    return {f"{name}_days": value for name, value in bands.items()} | {
        f"{name}_date": day_date(start, value) for name, value in bands.items()
    }


def orders_html(frame: pd.DataFrame) -> str:
    """The page's section: the orders some run placed, soonest first."""
    placed = frame[frame["runs_ordering"] > 0].sort_values(["p50_days", "p10_days", "cluster"], na_position="last")
    if placed.empty:
        return "<h2>When the operator orders</h2><p>No run ordered anything for these clusters within the horizon.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(row.cluster)}</td><td>{html.escape(row.order)}</td>"
        f"<td>{' / '.join(_day(getattr(row, f'{q}_days')) for q in ('p10', 'p50', 'p90'))}</td>"
        f"<td>{html.escape(str(row.p50_date) if row.p50_date is not None else '–')}</td>"
        f"<td>{row.runs_ordering:.0%}</td><td>{row.lead_days:.0f}</td>"
        f"<td>{html.escape(row.limit or '–')} ({row.limit_runs:.0%} of runs)</td></tr>"
        for row in placed.itertuples()
    )
    return (
        "<h2>When the operator orders</h2><p>The first day the simulated operator ordered each kind of capacity for "
        "each cluster, and a new cluster for each region whose customers had none of theirs to go to, over the runs "
        "(p10 / p50 / p90; a run that never did counts as not within the horizon), and the limit that forced it most "
        "often. For a limit the operator answers by closing the cluster (volumes, "
        "Kubernetes limits, shard triggers) this, not the binding day, is when the successor must be ordered.</p>"
        "<table><tr><th>cluster</th><th>order</th><th>day p10 / p50 / p90</th><th>p50 date</th><th>runs ordering</th>"
        f"<th>lead (days)</th><th>forced by</th></tr>{rows}</table>"
    )


def _day(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not within the horizon"
    return f"{value:.0f}"
