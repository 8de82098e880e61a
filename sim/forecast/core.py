"""The forecast: a live source and a base scenario in, per cluster and catalogue limit the p10/p50/p90 day it
binds, the order-by date and the operator's action out.

    started = prepare(source, base, now=as_of, horizon_days=730)     # StartFromError on a bad source
    result = forecast(started, runs=100, seed=0, executor=pool)     # default: a local process pool
    write_forecast(result, "out/forecast")                          # sim.forecast.output

Bands: over the successful runs, a run that does not bind within the horizon counts as binding after it (right
censored). The band is a prediction band for the day the limit will bind, which is one more draw of the law the
runs sample: the q-quantile sits at order statistic q(n+1) of the n runs (Hyndman & Fan type 6), linear between
order statistics and clamped to the runs' range. A new draw falls below the k-th of n runs with probability
k/(n+1), so p10-p90 holds it 80 % of the time whatever n >= 9 (``sim.outcomes``' type 7, which estimates the
law's quantiles, sits at 1 + q(n-1) and holds it only 0.8(n-1)/(n+1) of the time: 65 % at 10 runs). "Not within
the horizon" (None) when the order statistic it interpolates toward is censored. The order-by day is the p10 bind
day less the lead time of what answers the limit (``sim.planning``): ordering by then, nine runs in ten are not
late. The action is the operator's (``sim.planning.action``) for the cluster's storage provider and rung.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from sim.churn_fit import ChurnFit
from sim.config import compile_scenario
from sim.decisions import volume_limit
from sim.forecast.bands import MIN_BAND_RUNS, QUANTILES, censored_percentile, day_date
from sim.forecast.orders import ORDER_COLUMNS, ORDER_KINDS, summarise_orders
from sim.forecast.refusals import turned_away_header, turned_away_note
from sim.forecast.runs import (
    LIMITS,
    SIGNUP_BUDGET_FLOOR,
    ForecastTask,
    PackedTask,
    RunOutcome,
    run_forecast_chunk,
    signup_budget,
)
from sim.growth_fit import GrowthFit
from sim.planning import RESOURCE_BY_KEY, action, answer_kind, lead_days
from sim.scenario import Scenario
from sim.start_from.build import StartedScenario, read_source, start_from
from sim.start_from.sources import LiveState
from sim.start_from.spec import LiveOrder
from sim.sweep.executors import process_pool

# What a forecast's pool workers run (``process_pool(preload=...)``): imported once, in the fork server.
WORKER_MODULES = (run_forecast_chunk.__module__,)
TABLE_COLUMNS = [
    "cluster", "region", "storage_provider", "limit", "limit_name", "unit", "used", "capacity", "share",
    "p10_days", "p50_days", "p90_days", "p10_date", "p50_date", "p90_date", "runs_binding",
    "order_by_days", "order_by_date", "lead_days", "action", "basis",
]  # fmt: skip
RUN_COLUMNS = [
    "run", "status", "error", "growth_kind", "growth", "churn_kind", "churn", "stopped_day", "signed_up", "turned_away",
    "first_turned_away_day",
]  # fmt: skip


def prepare(
    source: Any,
    base: Scenario,
    *,
    now: datetime | None = None,
    horizon_days: float = 730,
    min_weeks: float | None = None,
) -> StartedScenario:
    """Read ``source`` as of ``now`` and start ``base`` from it, run for ``horizon_days``; ``StartFromError`` on a
    bad source (nothing is run or written)."""
    state = read_source(source, now or datetime.now(UTC))
    return started_from(state, base, horizon_days=horizon_days, min_weeks=min_weeks)


def started_from(
    state: LiveState, base: Scenario, *, horizon_days: float = 730, min_weeks: float | None = None
) -> StartedScenario:
    """``prepare`` after the read: ``base`` started from a source's ``state`` (``read_source``), with its growth and
    churn fitted, run for ``horizon_days``."""
    started = start_from(base, state, min_weeks=min_weeks)
    started.scenario = started.scenario.model_copy(update={"horizon_days": float(horizon_days), "horizon_years": None})
    if started.growth_fit is not None and (note := started.growth_fit.horizon_note(horizon_days)):
        started.warnings.append(note)
    return started


@dataclass
class Forecast:
    """A finished forecast. ``table``: one row per cluster and catalogue limit (``TABLE_COLUMNS``); ``header``:
    as of, horizon, runs, seed, source, base; ``runs``: one row per run (status, error, drawn laws);
    ``provenance``: every figure of the start, measured, estimated or assumed; ``orders``: when the operator
    ordered each kind of capacity for each cluster (``sim.forecast.orders``)."""

    table: pd.DataFrame
    header: dict[str, Any]
    runs: pd.DataFrame
    provenance: pd.DataFrame
    growth_fit: GrowthFit | None
    churn_fit: ChurnFit | None
    warnings: list[str] = field(default_factory=list)
    orders: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ORDER_COLUMNS))

    @property
    def failed(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] != "ok"]


def forecast(
    started: StartedScenario,
    runs: int,
    *,
    seed: int = 0,
    executor: cf.Executor | None = None,
    chunk_size: int = 1,
    base_name: str | None = None,
    on_run: Callable[[RunOutcome], None] | None = None,
    signup_floor: int = SIGNUP_BUDGET_FLOOR,
) -> Forecast:
    """Run ``runs`` replications from ``started`` on ``executor`` (default: a local process pool) and summarise."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    scenario = started.scenario
    clusters = tuple(spec.id for spec in scenario.fleet.clusters) + tuple(o.id for o in arriving(scenario))
    regions = tuple(dict.fromkeys([*scenario.regions, *(spec.region for spec in scenario.fleet.clusters)]))
    task = ForecastTask(scenario, clusters, started.growth_fit, started.churn_fit, signup_floor, regions)
    task = PackedTask.of(task)
    chunks = [list(range(k, min(k + chunk_size, runs))) for k in range(0, runs, max(1, chunk_size))]
    outcomes: dict[int, RunOutcome] = {}
    own = executor is None
    pool = process_pool(preload=WORKER_MODULES) if own else executor
    try:
        futures = [pool.submit(run_forecast_chunk, task, int(seed), chunk) for chunk in chunks]
        for future in cf.as_completed(futures):
            for outcome in future.result():
                outcomes[outcome.index] = outcome
                if on_run:
                    on_run(outcome)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    ordered = [outcomes[i] for i in range(runs)]
    ok = [o for o in ordered if o.status == "ok"]
    if not ok:
        raise RuntimeError(f"every forecast run failed; the first: {ordered[0].error}")
    table = summarise(started, ok)
    header = {
        "as_of": started.state.now.isoformat(),
        "start_date": scenario.start_date.isoformat(),
        "horizon_days": float(scenario.horizon_days),
        "runs": runs,
        "runs_ok": len(ok),
        "seed": int(seed),
        "source": started.state.source,
        "source_kind": started.state.kind,
        "base": base_name or scenario.name,
        "customers_measured": started.measured_customers,
        "customers_estimated": started.estimated_customers,
        "growth": started.growth_fit.message if started.growth_fit else "not fitted: the source has no ledger",
        "churn": started.churn_fit.message if started.churn_fit else "not fitted: the source has no ledger",
        **turned_away_header(ok),
    }
    run_rows = pd.DataFrame(
        [{"run": o.index, "status": o.status, "error": o.error} | o.drawn | _turned_away_row(o) for o in ordered],
        columns=RUN_COLUMNS,
    )
    warnings = list(started.warnings)
    warnings += [note] if (note := failed_note(ordered)) else []
    warnings += [note] if (note := stopped_note(ok, signup_budget(scenario, signup_floor))) else []
    warnings += [note] if (note := turned_away_note(ok, regions)) else []
    if len(ok) < MIN_BAND_RUNS:
        warnings.append(
            f"{len(ok)} successful run{'s' if len(ok) != 1 else ''}: p10 and p90 are the runs' own range, not an "
            f"80 % band (that takes at least {MIN_BAND_RUNS} runs)"
        )
    orders = summarise_orders(
        clusters,
        np.stack([o.first_orders for o in ok]),
        [o.order_limits for o in ok],
        scenario.start_date,
        {kind: lead_days(scenario.operator, kind) for kind, _ in ORDER_KINDS},
        regions,
        np.stack([o.region_orders for o in ok]),
    )
    return Forecast(
        table, header, run_rows, started.provenance, started.growth_fit, started.churn_fit, warnings, orders
    )


def _turned_away_row(outcome: RunOutcome) -> dict[str, Any]:
    """A run's turned-away customers for the run table (a failed run has none to tell)."""
    if outcome.status != "ok":
        return {}
    first = outcome.first_turned_away
    return {
        "signed_up": outcome.signed_up,
        "turned_away": int(outcome.turned_away.sum()),
        "first_turned_away_day": None if math.isnan(first) else first,
    }


def failed_note(ordered: list[RunOutcome]) -> str | None:
    """The runs that failed (left out of the bands), with the first one's error; None when none did."""
    failed = [o for o in ordered if o.status != "ok"]
    if not failed:
        return None
    return (
        f"{len(failed)} of {len(ordered)} runs failed and are left out of the bands (runs.csv has each one's error; "
        f"the first, run {failed[0].index}: {failed[0].error})"
    )


def stopped_note(ok: list[RunOutcome], budget: int) -> str | None:
    """What the runs stopped early (``sim.forecast.runs.stop_day``) mean for the bands, or None when none was."""
    stopped = [o for o in ok if o.drawn.get("stopped_day") is not None]
    if not stopped:
        return None
    days = [o.drawn["stopped_day"] for o in stopped]
    went_on = [o.bind_days for o in ok if o.drawn.get("stopped_day") is None]
    # A limit a stopped run had not reached that a run going on reached only after that run's stop day: one the stop
    # may have hidden (NaN compares False: not reached).
    hidden = sum(
        int((~np.isfinite(o.bind_days) & (np.stack(went_on) > o.drawn["stopped_day"]).any(axis=0)).sum())
        for o in stopped
        if went_on
    )
    verdict = (
        "none was reached after that day in a run that went on"
        if not hidden
        else f"{hidden} {'was' if hidden == 1 else 'were'} reached after that day in runs that went on: those limits' "
        "dates may lean late"
    )
    return (
        f"{len(stopped)} of {len(ok)} runs drew growth that signs up more than {budget:,} customers within the "
        f"horizon (by day {_span(days, '{:.0f}')}); each stopped on that day, a limit it had not reached counting "
        f"as not within the horizon; of those limits, {verdict}"
    )


def _span(values: list[float], form: str) -> str:
    low, high = form.format(min(values)), form.format(max(values))
    return low if low == high else f"{low}-{high}"


def summarise(started: StartedScenario, ok: list[RunOutcome]) -> pd.DataFrame:
    """The forecast table from the successful runs."""
    scenario = started.scenario
    config = compile_scenario(scenario)
    policy, ladder = scenario.operator, config.ladder
    start = scenario.start_date
    bind = np.stack([o.bind_days for o in ok])  # runs x clusters x limits
    used, capacity = ok[0].used, ok[0].capacity
    basis = {row.figure: row.basis for row in started.provenance.itertuples()}
    live = scenario.start_from.live if scenario.start_from is not None else None
    estimated = {c.cluster for c in (live.customers if live else []) if not c.measured}
    rows = []
    # The clusters on order come after the fleet's, at the first rung (``sim.start_from.carry.order_clusters``):
    # their used level and capacity are at their arrival, their days from the forecast's start.
    entries = [
        (spec.id, spec.region, spec.storage_provider, spec.ctrl_type_on(ladder)) for spec in scenario.fleet.clusters
    ]
    ordered = arriving(scenario)
    entries += [(order.id, order.region, order.storage_provider, ladder[0]) for order in ordered]
    due = {order.id: order.due_days for order in ordered}
    for i, (cluster, region, provider, ctrl_type) in enumerate(entries):
        rung = ladder.index(ctrl_type) if ctrl_type in ladder else 0
        for j, key in enumerate(LIMITS):
            measure = RESOURCE_BY_KEY[key]
            decision_key = volume_limit(provider) if key == "volumes" else key
            lead = lead_days(policy, answer_kind(decision_key))
            bands = {name: censored_percentile(bind[:, i, j], q) for name, q in QUANTILES}
            order_by = None if bands["p10"] is None else bands["p10"] - lead
            cap = float(capacity[i, j])
            rows.append(
                {
                    "cluster": cluster,
                    "region": region,
                    "storage_provider": provider,
                    "limit": key,
                    "limit_name": measure.name,
                    "unit": measure.unit,
                    "used": float(used[i, j]),
                    "capacity": cap if math.isfinite(cap) else None,
                    "share": float(used[i, j] / cap) if math.isfinite(cap) and cap > 0 else None,
                    **{f"{name}_days": value for name, value in bands.items()},
                    **{f"{name}_date": day_date(start, value) for name, value in bands.items()},
                    "runs_binding": float(np.isfinite(bind[:, i, j]).mean()),
                    "order_by_days": order_by,
                    "order_by_date": day_date(start, order_by),
                    "lead_days": float(lead),
                    "action": action(decision_key, policy, ladder, rung),
                    "basis": (
                        f"on order, due in {due[cluster]:g} days: levels at its arrival"
                        if cluster in due
                        else _basis(cluster, basis, estimated)
                    ),
                }
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def arriving(scenario: Scenario) -> list[LiveOrder]:
    """The clusters on order at the start that arrive within the horizon (the forecast follows them from then)."""
    live = scenario.start_from.live if scenario.start_from is not None else None
    horizon = scenario.horizon_days or 0.0
    return [order for order in (live.on_order if live else []) if order.due_days < horizon]


def _basis(cluster: str, basis: dict[str, str], estimated: set[str]) -> str:
    """Whether the cluster's starting level is measured, or partly estimated (customers not in the ledger)."""
    if basis.get(f"clusters.{cluster}.run_nodes") == "assumed":
        return "assumed (no load snapshot)"
    return "measured, with estimated customers" if cluster in estimated else "measured"
