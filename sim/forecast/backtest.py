"""``sim backtest``: is the forecast honest? Run a scenario past DAY, export its state and history on DAY as the
router's database would hold them (``sim.forecast.export``), forecast from that database, and compare each
cluster's and limit's forecast with what the run did after DAY, beside the baseline operators use today.

- **Truth**: the first day after DAY on which the run's used level of the limit reaches the capacity the cluster
  had on DAY (the forecast's definition, ``sim.forecast.runs``); censored when not within the horizon.
- **Baseline**: Prometheus's ``predict_linear(used[30d], t)``: a least-squares line through the run's daily used
  levels of the 30 days up to DAY (``sim.planning.trend_per_day``), extrapolated to the capacity
  (``sim.planning.breach_day``); censored when it does not reach it within the horizon.
- **Forecast**: the p10/p50/p90 bind days of ``sim.forecast`` from the exported database, with the scenario as
  its base (so the customer mix and the operator are the scenario's; growth and churn are fitted to the ledger).

The full run uses the scenario's own seed; the forecast's runs use seeds of their own, so the truth is one draw
the forecast has not seen.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.collect import collect
from sim.config import compile_scenario
from sim.forecast.core import Forecast, forecast, prepare
from sim.forecast.export import as_of, export_router_db
from sim.forecast.runs import LIMITS
from sim.planning import breach_day, measures, trend_per_day
from sim.scenario import Scenario
from sim.simulation import simulate

BASELINE_WINDOW_DAYS = 30  # as a "disk fills in N days" alert: predict_linear(used[30d], ...)
PAIR_COLUMNS = [
    "cluster", "limit", "used", "capacity", "p10_days", "p50_days", "p90_days", "truth_days", "baseline_days",
    "horizon_days", "day", "nodes_on_order", "cluster_on_order",
]  # fmt: skip


@dataclass
class Backtest:
    """``pairs``: one row per cluster on DAY and catalogue limit: the forecast's band, the truth and the
    baseline, in days after DAY (NaN: not within the horizon). ``forecast``: the forecast made on DAY."""

    scenario_name: str
    day: int
    horizon_days: float
    seed: int
    pairs: pd.DataFrame
    forecast: Forecast

    def summary(self) -> dict:
        return score(self.pairs)


@dataclass
class FullRun:
    """One run of a scenario past every forecast day: its world at the end and its time series."""

    scenario: Scenario  # the scenario as run (its horizon, no packing checks)
    world: object
    timeseries: pd.DataFrame
    orders: list = field(default_factory=list)  # the operator's orders (sim.log.OrderRecord), in order


def full_run(scenario: Scenario, until: float, seed: int) -> FullRun:
    """Run ``scenario`` with seed ``seed`` for ``until`` days."""
    full = scenario.model_copy(update={"horizon_days": float(until), "horizon_years": None, "packing_checks": None})
    seed_sequence = np.random.SeedSequence(seed)
    world, log = simulate(compile_scenario(full), seed_sequence)
    return FullRun(full, world, collect(world, log, seed_sequence).timeseries, list(log.orders))


def forecast_at(
    run: FullRun,
    base: Scenario,
    day: int,
    *,
    horizon_days: float,
    runs: int,
    seed: int,
    executor: cf.Executor | None = None,
    workdir: str | Path | None = None,
) -> Backtest:
    """Export ``run`` on ``day``, forecast ``horizon_days`` from it with ``base`` as base, and compare."""
    if day < 1:
        raise ValueError(f"--at {day}: the backtest needs at least one day of history")
    if day + horizon_days > float(run.scenario.horizon_days):
        raise ValueError(f"day {day} + {horizon_days:g} days is past the run's horizon")
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        url = export_router_db(run.world, run.timeseries, day, Path(folder) / "router.db", run.orders)
        started = prepare(url, base, now=as_of(run.world.config.start, day), horizon_days=horizon_days)
        started.state = _shown(started.state)
        result = forecast(started, runs, seed=seed, executor=executor, base_name=base.name)
    pairs = compare(result, run.timeseries, run.scenario, day, horizon_days, cluster_orders_in_flight(run, day))
    return Backtest(base.name, day, float(horizon_days), seed, pairs, result)


def backtest(
    scenario: Scenario,
    day: int,
    *,
    horizon_days: float = 365,
    runs: int = 20,
    seed: int = 0,
    executor: cf.Executor | None = None,
    workdir: str | Path | None = None,
) -> Backtest:
    """Run ``scenario`` (seed ``seed``) to ``day + horizon_days``, forecast from its state on ``day``, compare."""
    if day < 1:
        raise ValueError(f"--at {day}: the backtest needs at least one day of history")
    run = full_run(scenario, day + horizon_days, seed)
    return forecast_at(
        run, scenario, day, horizon_days=horizon_days, runs=runs, seed=seed, executor=executor, workdir=workdir
    )


def censor(pairs: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """The pairs as a forecast of ``horizon`` days would have given them: every day past it is beyond it."""
    out = pairs.copy()
    for column in ("p10_days", "p50_days", "p90_days", "truth_days", "baseline_days"):
        out.loc[out[column] > horizon, column] = np.nan
    out["horizon_days"] = float(horizon)
    return out


def _shown(state):
    """The exported database's temporary path is not part of any output."""
    from dataclasses import replace

    return replace(state, source="exported router database (sqlite)")


def cluster_orders_in_flight(run: FullRun, day: int) -> set[str]:
    """The regions where the run's operator had ordered a new cluster by ``day`` that had not arrived: what the
    router's database does not hold, so the forecast's operator cannot know it."""
    infos = run.world.fleet.clusters
    return {infos[o.cluster].region for o in run.orders if o.kind == "cluster" and o.day <= day < o.due}


def compare(
    result: Forecast,
    timeseries: pd.DataFrame,
    scenario: Scenario,
    day: int,
    horizon: float,
    regions_on_order: set[str] = frozenset(),
) -> pd.DataFrame:
    """The forecast's rows joined with the run's truth and the ``predict_linear`` baseline; with, for the study of
    what the start misses, the run nodes the cluster had on order on ``day`` and whether a new cluster was on
    order in its region (``regions_on_order``)."""
    config = compile_scenario(scenario)
    rows = timeseries[timeseries["cluster_id"] != "fleet"]
    levels = measures(rows, config.limits, scenario.operator, list(LIMITS))
    days = levels["day"].to_numpy(dtype=float)
    ids = levels["cluster_id"].to_numpy()
    levels_on_order = rows["run_nodes_on_order"].to_numpy()
    out = []
    for row in result.table.itertuples():
        mine = np.flatnonzero(ids == row.cluster)
        mine = mine[np.argsort(days[mine], kind="stable")]
        used = levels[f"{row.limit}_used"].to_numpy(dtype=float)[mine]
        capacity = levels[f"{row.limit}_capacity"].to_numpy(dtype=float)[mine]
        when = days[mine]
        now = np.flatnonzero(when == day)
        if not len(now):
            continue
        at = int(now[0])
        cap, level = float(capacity[at]), float(used[at])
        on_order = int(levels_on_order[mine][at])
        truth = baseline = math.nan
        if math.isfinite(cap) and cap > 0:
            after = np.flatnonzero((when >= day) & (when <= day + horizon) & (used >= cap))
            if len(after):
                truth = float(when[after[0]] - day)
            slope = trend_per_day(when, used, float(day), BASELINE_WINDOW_DAYS)
            projected = breach_day(float(day), level, cap, slope)
            if projected is not None and projected - day <= horizon:
                baseline = projected - day
        out.append(
            {
                "cluster": row.cluster, "limit": row.limit, "used": level, "capacity": cap,
                "p10_days": _nan(row.p10_days), "p50_days": _nan(row.p50_days), "p90_days": _nan(row.p90_days),
                "truth_days": truth, "baseline_days": baseline, "horizon_days": float(horizon), "day": day,
                "nodes_on_order": on_order, "cluster_on_order": row.region in regions_on_order,
            }
        )  # fmt: skip
    return pd.DataFrame(out, columns=PAIR_COLUMNS)


def _nan(value) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def inside_band(pairs: pd.DataFrame) -> np.ndarray:
    """Whether each truth fell inside its p10-p90 band, beyond-the-horizon counted as later than any day: a
    censored truth is inside when p90 is censored too; a censored p90 contains every truth after p10."""
    inf = np.inf
    truth = pairs["truth_days"].fillna(inf).to_numpy(dtype=float)
    low = pairs["p10_days"].fillna(inf).to_numpy(dtype=float)
    high = pairs["p90_days"].fillna(inf).to_numpy(dtype=float)
    return (low <= truth) & (truth <= high)


def informative(pairs: pd.DataFrame) -> np.ndarray:
    """Pairs where the truth or the forecast's p90 falls within the horizon. A limit neither the run reached nor
    nine forecast runs in ten reached is left out of the calibration: counted as a hit it would only flatter it."""
    return (pairs["truth_days"].notna() | pairs["p90_days"].notna()).to_numpy()


def score(pairs: pd.DataFrame) -> dict:
    """Coverage of the p10-p90 band over the informative pairs, and the median absolute error of the p50 day
    and of the baseline over the pairs whose truth is within the horizon (a censored estimate counts as the
    horizon, which understates its error). ``*_any``: the same errors over the pairs where the truth, the p50 or the
    baseline is within the horizon, so a breach foreseen that never came counts against the estimator."""
    useful = pairs[informative(pairs)]
    bound = pairs[pairs["truth_days"].notna()]
    horizon = bound["horizon_days"].to_numpy(dtype=float)
    truth = bound["truth_days"].to_numpy(dtype=float)
    p50 = np.minimum(bound["p50_days"].fillna(np.inf).to_numpy(dtype=float), horizon)
    base = np.minimum(bound["baseline_days"].fillna(np.inf).to_numpy(dtype=float), horizon)
    # Both estimators on the same pairs: those where the truth, the p50 or the baseline is within the horizon,
    # each side censored at the horizon, so a false alarm (a breach foreseen that never came) counts too.
    any_bound = pairs[pairs[["truth_days", "p50_days", "baseline_days"]].notna().any(axis=1)]
    cap = any_bound["horizon_days"].to_numpy(dtype=float)

    def censored(column: str) -> np.ndarray:
        return np.minimum(any_bound[column].fillna(np.inf).to_numpy(dtype=float), cap)

    return {
        "pairs_any_within_horizon": len(any_bound),
        "mae_p50_days_any": float(np.median(np.abs(censored("p50_days") - censored("truth_days"))))
        if len(any_bound)
        else math.nan,
        "mae_baseline_days_any": float(np.median(np.abs(censored("baseline_days") - censored("truth_days"))))
        if len(any_bound)
        else math.nan,
        "pairs": len(pairs),
        "informative_pairs": len(useful),
        "pairs_truth_within_horizon": len(bound),
        "coverage_p10_p90": float(inside_band(useful).mean()) if len(useful) else math.nan,
        "mae_p50_days": float(np.median(np.abs(p50 - truth))) if len(bound) else math.nan,
        "mae_baseline_days": float(np.median(np.abs(base - truth))) if len(bound) else math.nan,
    }
