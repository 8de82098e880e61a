"""Aggregating a sweep's runs: daily bands, the first-shard distribution, binding limits, sensitivity."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.sweep.vary import VarySpec

QUANTILES = (0.1, 0.5, 0.9)
BAND_COLUMNS = ("p10", "p50", "p90")
NO_SHARD = "(no shard)"
# A fixed order: a run record read back from disk (JSON) gives the same frame as one fresh from a worker.
RUN_COLUMNS = (
    "run",
    "seed_entropy",
    "seed_spawn_key",
    "status",
    "error",
    "first_shard_day",
    "first_shard_date",
    "first_shard_customers",
    "first_shard_limit",
    "first_bind_limit",
    "placements_attempted",
    "placements_rejected",
    "customers_end",
    "clusters_end",
    "cost_eur_total",
)


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
    frame["first_shard_day"] = pd.to_numeric(frame["first_shard_day"], errors="coerce").astype("float64")
    frame["first_shard_customers"] = pd.to_numeric(frame["first_shard_customers"], errors="coerce").astype("float64")
    frame["first_shard_date"] = pd.to_datetime(frame["first_shard_date"])
    return frame.sort_values("run").reset_index(drop=True)


def bands(outcomes: list[tuple[dict[str, Any], pd.DataFrame]]) -> pd.DataFrame:
    """p10/p50/p90 of every daily fleet metric across the successful runs, long form."""
    frames = [series.assign(run=record["run"]) for record, series in outcomes if record["status"] == "ok"]
    if not frames:
        return pd.DataFrame(columns=["day", "date", "metric", *BAND_COLUMNS, "runs"])
    long = pd.concat(frames, ignore_index=True).melt(id_vars=["run", "day", "date"], var_name="metric")
    grouped = long.groupby(["metric", "day", "date"], sort=True)["value"]
    table = grouped.quantile(list(QUANTILES)).unstack()
    table.columns = list(BAND_COLUMNS)
    table["runs"] = grouped.count()
    return table.reset_index()[["day", "date", "metric", *BAND_COLUMNS, "runs"]]


def first_shard(runs: pd.DataFrame) -> pd.DataFrame:
    """p10/p50/p90 of the first-shard day, date and customer count over the runs that sharded."""
    ok = runs[runs["status"] == "ok"]
    sharded = ok.dropna(subset=["first_shard_day"])
    rows = []
    for q, name in zip(QUANTILES, BAND_COLUMNS, strict=True):
        day = float(sharded["first_shard_day"].quantile(q)) if len(sharded) else np.nan
        dates = sharded["first_shard_date"]
        rows.append(
            {
                "statistic": name,
                "first_shard_day": day,
                "first_shard_date": dates.quantile(q, interpolation="lower").normalize() if len(sharded) else pd.NaT,
                "first_shard_customers": float(sharded["first_shard_customers"].quantile(q))
                if len(sharded)
                else np.nan,
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


def sensitivity(runs: pd.DataFrame, specs: list[VarySpec]) -> pd.DataFrame:
    """How strongly the first-shard day follows each varied parameter, for a tornado chart.

    Two measures over the successful runs that sharded (runs that never shard are left out, so a parameter that
    postpones the shard past the horizon looks weaker than it is; ``runs_used`` says how many counted):

    - ``spearman_rho``: rank correlation of the parameter's draws with the first-shard day (-1..1). Ranks make it
      robust to the shape of the distribution and to the step-like response the shard rule gives.
    - The tornado bar: a least-squares line of first-shard day on the parameter, read at the parameter's p10 and
      p90 draws (``day_at_low``, ``day_at_high``); ``swing_days = day_at_high - day_at_low``. All parameters vary
      together, so this is a sample-based (not one-at-a-time) estimate; with independent draws it is unbiased.
    """
    ok = runs[(runs["status"] == "ok")].dropna(subset=["first_shard_day"])
    rows = []
    for spec in specs:
        column = f"param:{spec.path}"
        x = ok[column].astype("float64").to_numpy()
        y = ok["first_shard_day"].to_numpy()
        low, high = np.quantile(x, [0.1, 0.9]) if len(x) else (np.nan, np.nan)
        rho = slope = intercept = np.nan
        if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            rx = pd.Series(x).rank().to_numpy()
            ry = pd.Series(y).rank().to_numpy()
            rho = float(np.corrcoef(rx, ry)[0, 1])
            slope, intercept = np.polyfit(x, y, 1)
        elif len(x) >= 1 and np.ptp(y) == 0:
            rho, slope, intercept = 0.0, 0.0, float(y[0]) if len(y) else np.nan
        rows.append(
            {
                "parameter": spec.path,
                "distribution": spec.text.partition("=")[2],
                "spearman_rho": rho,
                "low_value": float(low),
                "high_value": float(high),
                "day_at_low": float(intercept + slope * low),
                "day_at_high": float(intercept + slope * high),
                "swing_days": float(slope * (high - low)),
                "runs_used": len(x),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "parameter",
            "distribution",
            "spearman_rho",
            "low_value",
            "high_value",
            "day_at_low",
            "day_at_high",
            "swing_days",
            "runs_used",
        ],
    )
    order = frame["swing_days"].abs().fillna(-1).sort_values(ascending=False).index
    return frame.loc[order].reset_index(drop=True)


def aggregate(outcomes: list[tuple[dict[str, Any], pd.DataFrame]], specs: list[VarySpec]) -> dict[str, pd.DataFrame]:
    """Every table of a ``SweepResult`` from its runs, in run order."""
    runs = runs_frame(outcomes, specs)
    return {
        "runs": runs,
        "bands": bands(outcomes),
        "first_shard": first_shard(runs),
        "binding_counts": binding_counts(runs),
        "sensitivity": sensitivity(runs, specs),
    }
