"""New customers a forecast's runs turned away: those whose first service fit on no open cluster
(``sim.population.LOST``: a region without an open cluster while no other region has one, or every cluster full or
closed), per region, and the first day one was. A planner reads the limits' dates per cluster; customers lost before
the operator's new cluster arrives are on no cluster's row, so the forecast says them once, as a warning.
"""

from __future__ import annotations

import math

import numpy as np

from sim.forecast.bands import QUANTILES, censored_percentile
from sim.forecast.orders import region_row
from sim.population import LOST


def turned_away(world, regions: tuple[str, ...]) -> tuple[np.ndarray, float, int]:
    """One run's new customers (not the live fleet's) whose first service fit nowhere, per region of ``regions``;
    the first one's sign-up day (NaN: none); and the new customers the run signed up."""
    draws, state = world.draws, world.population.state
    grown = draws.forced_cluster < 0
    lost = grown & (state == LOST)
    counts = np.bincount(draws.region[lost], minlength=len(world.config.regions))
    position = {region: i for i, region in enumerate(regions)}
    per_region = np.zeros(len(regions))
    for name, count in zip(world.config.regions, counts.tolist(), strict=True):
        if name in position:
            per_region[position[name]] += count
    first = float(draws.signup[lost].min()) if lost.any() else math.nan
    return per_region, first, int(grown.sum())


def turned_away_header(outcomes: list) -> dict[str, float]:
    """The forecast header's figures: the new customers the runs signed up (median) and turned away (p10/p50/p90,
    the forecast's prediction quantiles)."""
    totals = np.array([o.turned_away.sum() for o in outcomes], dtype=float)
    bands = {f"turned_away_{name}": censored_percentile(totals, q) for name, q in QUANTILES}
    signed_up = float(np.median([o.signed_up for o in outcomes]))
    return {"signed_up_p50": signed_up, "runs_turning_away": int((totals > 0).sum())} | bands


def turned_away_line(header: dict) -> str:
    """The header's figures (``turned_away_header``) as the console and the page say them."""
    said = f"New customers within the horizon: about {header['signed_up_p50']:,.0f}; turned away (their first service "
    if not header["runs_turning_away"]:
        return said + "fit on no open cluster): none in any run"
    return said + (
        f"fit on no open cluster): {header['turned_away_p50']:,.0f} (p10 {header['turned_away_p10']:,.0f}, p90 "
        f"{header['turned_away_p90']:,.0f}), in {header['runs_turning_away']} of {header['runs_ok']} runs"
    )


def turned_away_note(outcomes: list, regions: tuple[str, ...]) -> str | None:
    """What the runs (``RunOutcome``s with ``turned_away``) say of customers turned away; None when no run turned one
    away."""
    per_run = np.stack([o.turned_away for o in outcomes])  # runs x regions
    totals = per_run.sum(axis=1)
    if not totals.any():
        return None
    figures = turned_away_header(outcomes)
    bands = {name: figures[f"turned_away_{name}"] for name, _ in QUANTILES}
    signed_up = figures["signed_up_p50"]
    first = {name: censored_percentile(np.array([o.first_turned_away for o in outcomes]), q) for name, q in QUANTILES}
    share = per_run.sum(axis=0) / totals.sum()
    where = ", ".join(f"{region} {s:.0%}" for region, s in zip(regions, share, strict=True) if s > 0)
    first_day = (
        f"the first on day {first['p50']:.0f} (p50; p10 {first['p10']:.0f})"
        if first["p50"] is not None
        else f"the first by day {first['p10']:.0f} in one run in ten"
        if first["p10"] is not None
        else "too few runs turn any away to give the first day a band"
    )
    return (
        f"new customers turned away (their first service fit on no open cluster, so they never became customers): "
        f"in {figures['runs_turning_away']} of {len(outcomes)} runs; {bands['p50']:,.0f} (p10 {bands['p10']:,.0f}, p90 "
        f"{bands['p90']:,.0f}) of the about {signed_up:,.0f} who sign up within the horizon, by region {where}; "
        f"{first_day}. The new clusters the operator orders for a region's customers are in the orders, as "
        f"'{region_row('<region>')}'"
    )
