"""Side-by-side runs of two scenarios (or one scenario and a what-if of it) on paired seeds.

    result = compare(scenario_a, scenario_b, runs=20, seed=0)
    result.outcomes        # per outcome: p10/p50/p90 of A, of B and of the paired difference B - A
    result.write("out/compare")   # compare.html, paired.parquet, bands.parquet, compare.json (atomic)

Run ``i`` of A and run ``i`` of B use the same seed (a sweep's run seed, ``sim.sweep.runs``), and every driver draws
from its own stream (``sim.sampling``), so a difference comes from the change, not from different customers. The
differences are taken run by run, then summarised (``sim.outcomes``: one percentile method).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from placement.atomic import atomic_write
from sim.design_doc import sweep_verdict
from sim.outcomes import BAND_COLUMNS, OUTCOMES, PERCENTILE_METHOD, QUANTILES, percentiles
from sim.scenario import Scenario
from sim.sweep.executors import process_pool
from sim.sweep.runs import run_chunk

SIDES = ("a", "b")
# Daily fleet metrics drawn as bands for A, for B and for the paired difference.
BAND_METRICS = ("cost_eur_month", "cost_eur_cumulative", "run_nodes", "clusters", "customers")


@dataclass
class CompareResult:
    """``paired``: one row per run and outcome (a, b, diff = b - a). ``outcomes``: per outcome, the p10/p50/p90 of
    A, B and the difference, and the share of runs in which B is lower. ``bands``: per day and metric, p10/p50/p90
    of A, B and the difference. ``failed``: runs that raised on either side (left out of every figure)."""

    labels: tuple[str, str]
    manifest: dict[str, Any]
    paired: pd.DataFrame
    outcomes: pd.DataFrame
    bands: pd.DataFrame
    failed: list[dict[str, Any]] = field(default_factory=list)
    start_date: str = ""
    # Per side, over its runs: where its scenario states what the design document expects, how many disagree
    # (``sim.design_doc.sweep_verdict``); None where it states none.
    design_doc: dict[str, str | None] = field(default_factory=dict)

    def write(self, out_dir: str | Path, *, report: bool = True) -> dict[str, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name in ("paired", "outcomes", "bands"):
            frame: pd.DataFrame = getattr(self, name)
            target = out / f"{name}.parquet"
            atomic_write(target, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False, engine="pyarrow"))
            written[name] = target
        summary = {
            "labels": list(self.labels),
            "manifest": self.manifest,
            "percentile_method": PERCENTILE_METHOD,
            "outcomes": _records(self.outcomes),
            "failed": self.failed,
            "design_doc": self.design_doc,
        }
        written["summary"] = atomic_write(out / "compare.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
        if report:
            from sim.compare_report import render_compare_report

            written["report"] = atomic_write(out / "compare.html", render_compare_report(self))
        return written


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _paired(records: dict[str, dict[int, dict[str, Any]]], runs: list[int]) -> pd.DataFrame:
    rows = []
    for index in runs:
        for item in OUTCOMES:
            a, b = (records[side][index].get(item.key) for side in SIDES)
            a = np.nan if a is None else float(a)
            b = np.nan if b is None else float(b)
            rows.append({"run": index, "outcome": item.name, "a": a, "b": b, "diff": b - a})
    return pd.DataFrame(rows, columns=["run", "outcome", "a", "b", "diff"])


def _outcomes(paired: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for item in OUTCOMES:
        rows_of = paired[paired["outcome"] == item.name]
        row: dict[str, Any] = {"outcome": item.name, "label": item.label, "unit": item.unit}
        for column in ("a", "b", "diff"):
            for name, value in zip(BAND_COLUMNS, percentiles(rows_of[column]), strict=True):
                row[f"{column}_{name}"] = value
        both = rows_of.dropna(subset=["a", "b"])
        row["runs_a"] = int(rows_of["a"].notna().sum())
        row["runs_b"] = int(rows_of["b"].notna().sum())
        row["runs_paired"] = len(both)
        row["b_lower_share"] = float((both["b"] < both["a"]).mean()) if len(both) else np.nan
        row["b_higher_share"] = float((both["b"] > both["a"]).mean()) if len(both) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _bands(series: dict[str, dict[int, pd.DataFrame]], runs: list[int]) -> pd.DataFrame:
    if not runs:
        return pd.DataFrame(columns=["day", "date", "metric", "side", *BAND_COLUMNS])
    first = series["a"][runs[0]]
    days = len(first)
    frames = []
    for metric in BAND_METRICS:
        stacked = {side: np.vstack([series[side][i][metric].to_numpy()[:days] for i in runs]) for side in SIDES}
        stacked["diff"] = stacked["b"] - stacked["a"]
        for side, values in stacked.items():
            q = np.percentile(values, [x * 100 for x in QUANTILES], axis=0, method=PERCENTILE_METHOD)
            frames.append(
                pd.DataFrame(
                    {"day": first["day"].to_numpy(), "date": first["date"].to_numpy(), "metric": metric, "side": side}
                    | dict(zip(BAND_COLUMNS, q, strict=True))
                )
            )
    return pd.concat(frames, ignore_index=True)


def compare(
    scenario_a: Scenario,
    scenario_b: Scenario,
    runs: int = 20,
    seed: int = 0,
    *,
    labels: tuple[str, str] | None = None,
    executor: cf.Executor | None = None,
    manifest: dict[str, Any] | None = None,
    on_run: Callable[[str, dict[str, Any]], None] | None = None,
) -> CompareResult:
    """``runs`` paired runs of each scenario (packing checks are left out, as in a sweep)."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if scenario_a.start_date != scenario_b.start_date or scenario_a.days != scenario_b.days:
        raise ValueError(
            "the scenarios must share start_date and horizon to be compared day by day "
            f"(A: {scenario_a.start_date}, {scenario_a.days:g} days; B: {scenario_b.start_date}, {scenario_b.days:g})"
        )
    pair = (scenario_a, scenario_b)
    scenarios = {side: s.model_copy(update={"packing_checks": None}) for side, s in zip(SIDES, pair, strict=True)}
    labels = labels or (scenario_a.name, scenario_b.name)
    records: dict[str, dict[int, dict[str, Any]]] = {side: {} for side in SIDES}
    series: dict[str, dict[int, pd.DataFrame]] = {side: {} for side in SIDES}
    own = executor is None
    pool = process_pool(min(os.cpu_count() or 1, 2 * runs)) if own else executor
    try:
        futures = {
            pool.submit(run_chunk, scenarios[side], [], seed, [index]): side for index in range(runs) for side in SIDES
        }
        for future in cf.as_completed(futures):
            side = futures[future]
            for record, frame in future.result():
                records[side][record["run"]] = record
                series[side][record["run"]] = frame
                if on_run:
                    on_run(side, record)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    failed = [
        {"side": side, "run": i, "error": records[side][i]["error"]}
        for i in range(runs)
        for side in SIDES
        if records[side][i]["status"] != "ok"
    ]
    ok = [i for i in range(runs) if all(records[side][i]["status"] == "ok" for side in SIDES)]
    paired = _paired(records, ok)
    return CompareResult(
        labels=labels,
        manifest={"runs": runs, "seed": seed, **(manifest or {})},
        paired=paired,
        outcomes=_outcomes(paired),
        bands=_bands(series, ok),
        failed=failed,
        start_date=scenario_a.start_date.isoformat(),
        design_doc={
            side: sweep_verdict(pd.DataFrame([records[side][i] for i in ok])) if ok else None for side in SIDES
        },
    )
