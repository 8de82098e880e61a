"""Aggregating a sweep's runs: daily bands, the first-shard distribution, binding limits, sensitivity."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.outcomes import BAND_COLUMNS, OUTCOMES, PERCENTILE_METHOD, QUANTILES, Outcome, outcome, percentiles
from sim.sweep.runs import RECORD_KEYS
from sim.sweep.vary import VarySpec

NO_SHARD = "(no shard)"
# A fixed order: a run record read back from disk (JSON) gives the same frame as one fresh from a worker.
RUN_COLUMNS = ("run", "seed_entropy", "seed_spawn_key", "status", "error", *RECORD_KEYS, "first_bind_limit")


def runs_frame(outcomes: list[tuple[dict[str, Any], pd.DataFrame]], specs: list[VarySpec]) -> pd.DataFrame:
    """One row per run; each varied figure becomes a ``param:PATH`` column."""
    rows = []
    for record, _ in outcomes:
        row = {k: v for k, v in record.items() if k != "params"}
        for spec in specs:
            row[f"param:{spec.path}"] = record["params"].get(spec.path)
        rows.append(row)
    frame = pd.DataFrame(rows)
    params = [f"param:{spec.path}" for spec in specs]
    extra = sorted(set(frame.columns) - set(RUN_COLUMNS) - set(params))
    frame = frame.reindex(columns=[*RUN_COLUMNS, *params, *extra])
    for key in RECORD_KEYS:
        if key not in ("first_shard_date", "first_shard_limit"):
            frame[key] = pd.to_numeric(frame[key], errors="coerce").astype("float64")
    frame["first_shard_date"] = pd.to_datetime(frame["first_shard_date"])
    return frame.sort_values("run").reset_index(drop=True)


def bands(outcomes: list[tuple[dict[str, Any], pd.DataFrame]]) -> pd.DataFrame:
    """p10/p50/p90 of every daily fleet metric across the successful runs, long form."""
    frames = [series.assign(run=record["run"]) for record, series in outcomes if record["status"] == "ok"]
    if not frames:
        return pd.DataFrame(columns=["day", "date", "metric", *BAND_COLUMNS, "runs"])
    long = pd.concat(frames, ignore_index=True).melt(id_vars=["run", "day", "date"], var_name="metric")
    grouped = long.groupby(["metric", "day", "date"], sort=True)["value"]
    table = grouped.quantile(list(QUANTILES), interpolation=PERCENTILE_METHOD).unstack()
    table.columns = list(BAND_COLUMNS)
    table["runs"] = grouped.count()
    return table.reset_index()[["day", "date", "metric", *BAND_COLUMNS, "runs"]]


def first_shard(runs: pd.DataFrame, start_date: str) -> pd.DataFrame:
    """p10/p50/p90 of the first-shard day and customer count over the runs that sharded; each date is the start
    date plus that day percentile (floored), so the day and the date of a row always agree."""
    ok = runs[runs["status"] == "ok"]
    sharded = ok.dropna(subset=["first_shard_day"])
    days = percentiles(sharded["first_shard_day"])
    customers = percentiles(sharded["first_shard_customers"])
    start = pd.Timestamp(start_date)
    rows = []
    for name, day, count in zip(BAND_COLUMNS, days, customers, strict=True):
        rows.append(
            {
                "statistic": name,
                "first_shard_day": day,
                "first_shard_date": pd.NaT if np.isnan(day) else start + pd.Timedelta(days=int(np.floor(day))),
                "first_shard_customers": count,
                "runs_sharded": len(sharded),
                "runs_ok": len(ok),
            }
        )
    return pd.DataFrame(rows)


def binding_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """Per limit: runs whose first shard it triggered, and runs in which it was the first to bind at all."""
    ok = runs[runs["status"] == "ok"]
    shard = ok["first_shard_limit"].fillna(NO_SHARD).value_counts()
    bind = ok["first_bind_limit"].fillna(NO_SHARD).value_counts()
    limits = sorted(set(shard.index) | set(bind.index), key=lambda k: (-shard.get(k, 0), -bind.get(k, 0), k))
    total = max(len(ok), 1)
    return pd.DataFrame(
        {
            "limit": limits,
            "first_shard_runs": [int(shard.get(k, 0)) for k in limits],
            "first_shard_share": [shard.get(k, 0) / total for k in limits],
            "first_bind_runs": [int(bind.get(k, 0)) for k in limits],
            "first_bind_share": [bind.get(k, 0) / total for k in limits],
        }
    )


def sensitivity(runs: pd.DataFrame, specs: list[VarySpec], metric: Outcome | str = "cost_total") -> pd.DataFrame:
    """How strongly an outcome (``metric``: a ``sim.outcomes`` name) follows each varied parameter, for a tornado.

    Two measures over the successful runs that have the outcome (the first shard: runs that sharded, so a parameter
    that postpones the shard past the horizon looks weaker than it is; ``runs_used`` says how many counted):

    - ``spearman_rho``: rank correlation of the parameter's draws with the outcome (-1..1). Ranks make it robust to
      the shape of the distribution and to step-like responses.
    - The tornado bar: a least-squares line of the outcome on the parameter, read at the parameter's p10 and p90
      draws (``at_low``, ``at_high``); ``swing = at_high - at_low``, in the outcome's ``unit``. All parameters vary
      together, so this is a sample-based (not one-at-a-time) estimate; with independent draws it is unbiased.
    """
    metric = outcome(metric) if isinstance(metric, str) else metric
    ok = runs[(runs["status"] == "ok")].dropna(subset=[metric.key])
    rows = []
    for spec in specs:
        x = ok[f"param:{spec.path}"].astype("float64").to_numpy()
        y = ok[metric.key].astype("float64").to_numpy()
        low, _, high = percentiles(x)
        rho = slope = intercept = np.nan
        if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            rho = float(np.corrcoef(pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy())[0, 1])
            slope, intercept = np.polyfit(x, y, 1)
        elif len(x) >= 1 and np.ptp(y) == 0:
            rho, slope, intercept = 0.0, 0.0, float(y[0])
        rows.append(
            {
                "parameter": spec.path,
                "distribution": spec.text.partition("=")[2],
                "metric": metric.name,
                "unit": metric.unit,
                "spearman_rho": rho,
                "low_value": low,
                "high_value": high,
                "at_low": float(intercept + slope * low),
                "at_high": float(intercept + slope * high),
                "swing": float(slope * (high - low)),
                "runs_used": len(x),
            }
        )
    columns = ["parameter", "distribution", "metric", "unit", "spearman_rho", "low_value", "high_value", "at_low",
               "at_high", "swing", "runs_used"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    order = frame["swing"].abs().fillna(-1).sort_values(ascending=False, kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def outcome_bands(runs: pd.DataFrame) -> pd.DataFrame:
    """p10/p50/p90 of every run outcome (``sim.outcomes``) over the successful runs."""
    ok = runs[runs["status"] == "ok"]
    rows = []
    for item in OUTCOMES:
        values = ok[item.key].astype("float64")
        low, mid, high = percentiles(values)
        rows.append({"outcome": item.name, "label": item.label, "unit": item.unit, "p10": low, "p50": mid,
                     "p90": high, "runs": int(values.notna().sum())})  # fmt: skip
    return pd.DataFrame(rows)


def aggregate(
    outcomes: list[tuple[dict[str, Any], pd.DataFrame]],
    specs: list[VarySpec],
    start_date: str,
    metric: str = "cost_total",
) -> dict[str, pd.DataFrame]:
    """Every table of a ``SweepResult`` from its runs, in run order."""
    runs = runs_frame(outcomes, specs)
    return {
        "runs": runs,
        "bands": bands(outcomes),
        "outcomes": outcome_bands(runs),
        "first_shard": first_shard(runs, start_date),
        "binding_counts": binding_counts(runs),
        "sensitivity": sensitivity(runs, specs, metric),
    }
