"""The sign-ups a region's open clusters take over when one of them closes to new customers.

A cluster that closes hands its region's new customers to the region's other open clusters. Their own trend
does not show it yet: measured over the weeks before, it is the trend of a cluster that shared the sign-ups,
or of a reopened cluster that had been shrinking. Ordering on that trend, a receiver bought one run node at a
time once its level crossed the order levels, and filled a node lead time before they arrived (a three-region
probe turned away ~240 customers on a reopened cluster that took over its region's sign-ups).

A good operator sees the hand-over coming: the closing cluster is near a shard limit within a node lead time.
Until a receiver's own trend since the hand-over is a week old, its growth per day is at least its share of the
region's: what the region's open clusters grew over the trend window, a cluster closed within the window counted
until it closed (``inflow``), shared among the receivers.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from sim.fleet import Fleet

# The absolute levels a hand-over moves (the ratios are per cluster and follow from them).
DEMANDS = ("ram_requested", "pods", "disk_bytes")


def inflow(
    fleet: Fleet,
    history: deque[dict[str, np.ndarray]],
    changed: dict[int, tuple[float, bool]],
    today: float,
    name: str,
    current: np.ndarray,
) -> dict[str, float]:
    """Per region: the growth per day of ``name`` on its open clusters over the trend window, each cluster closed
    within the window counted until it closed (its level on that day)."""
    span = len(history) - 1
    n = len(current)
    start = np.zeros(n)
    past = history[0][name]
    start[: len(past)] = past[:n]
    end = current.astype(float).copy()
    counted = np.array([info.open and info.active for info in fleet.clusters[:n]], dtype=bool)
    for number, (since, closed) in changed.items():
        age = int(round(today - since))
        if closed and number < n and 0 < age < span:
            level = history[-1 - age][name]
            end[number] = level[number] if number < len(level) else 0.0
            counted[number] = True
    growth = np.where(counted, np.maximum(end - start, 0.0), 0.0)
    out: dict[str, float] = {}
    for number in np.flatnonzero(growth).tolist():
        region = fleet.clusters[number].region
        out[region] = out.get(region, 0.0) + float(growth[number]) / span
    return out


def receivers(
    fleet: Fleet, changed: dict[int, tuple[float, bool]], today: float, handing: set[int], young_days: int
) -> list[int]:
    """Open clusters taking over their region's sign-ups: opened, reopened or handed them within ``young_days``,
    or in a region where another open cluster is about to close (``handing``)."""
    clusters = fleet.clusters
    regions = {clusters[k].region for k in handing if clusters[k].open}
    # With no region handing over, only a cluster changed within the window can be young (most days: none or few).
    numbers = range(len(clusters)) if regions else sorted(changed)
    out = []
    for number in numbers:
        info = clusters[number]
        if not (info.open and info.active) or number in handing:
            continue
        since = changed.get(number)
        young = since is not None and not since[1] and today - since[0] < young_days
        if young or info.region in regions:
            out.append(number)
    return out


def floor_slope(
    fleet: Fleet,
    history: deque[dict[str, np.ndarray]],
    changed: dict[int, tuple[float, bool]],
    today: float,
    taking: list[int],
    name: str,
    current: np.ndarray,
    slope: np.ndarray,
) -> np.ndarray:
    """``slope`` with each receiver's (``taking``: ``receivers``) growth per day raised to its share of its region's
    inflow."""
    if name not in DEMANDS:
        return slope
    taking = [k for k in taking if k < len(slope)]
    if not taking:
        return slope
    rates = inflow(fleet, history, changed, today, name, current)
    count: dict[str, int] = {}
    for number in taking:
        region = fleet.clusters[number].region
        count[region] = count.get(region, 0) + 1
    slope = slope.copy()
    for number in taking:
        region = fleet.clusters[number].region
        slope[number] = max(slope[number], rates.get(region, 0.0) / count[region])
    return slope
