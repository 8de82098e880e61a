"""Monte Carlo sweeps: many runs of one scenario, each with its own seed and its own draw of the varied limits.

    result = sim.sweep(scenario, 200, vary=["longhorn.max_volumes=catalog"], seed=0, out="out/sweep")
    result.bands            # p10/p50/p90 of the daily fleet metrics (tidy: day, date, metric, p10, p50, p90)

Runs (``sim.sweep.runs``, seeds explained there) go through any ``concurrent.futures.Executor``
(``sim.sweep.executors``). With ``out``, each finished run is written at once to ``runs/run-NNNNNN.parquet`` (its
fleet time series, with the run's record in the Parquet metadata), atomically; ``manifest.json`` records the
sweep's arguments (``sim.sweep.store``). Calling again with the same arguments and ``out`` skips every run already
on disk; a directory made with other arguments is refused.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from placement.atomic import atomic_write
from sim.config import resolve_limits
from sim.outcomes import outcome
from sim.scenario import Scenario
from sim.sweep.executors import process_pool
from sim.sweep.runs import run_chunk, run_draw, run_record
from sim.sweep.stats import aggregate
from sim.sweep.store import manifest_for, prepare_out, write_run
from sim.sweep.vary import VarySpec, parse_all


@dataclass
class SweepResult:
    """A finished sweep's tables.

    ``runs``: one row per run (seed, drawn parameters as ``param:PATH`` columns, status, error, first shard...).
    ``bands``: p10/p50/p90 of each daily fleet metric over the successful runs (day, date, metric, p10, p50, p90, runs).
    ``first_shard``: p10/p50/p90 of the first-shard day, date and customer count.
    ``binding_counts``: per limit, how many runs it triggered the first shard in, and how many it bound first in.
    ``outcomes``: p10/p50/p90 of every run outcome (``sim.outcomes``: costs, run nodes, clusters, first shard...).
    ``sensitivity``: per varied parameter, Spearman rho and the tornado swing of ``metric`` (an outcome name;
    ``sim.sweep.stats.sensitivity``). Every percentile is ``sim.outcomes.PERCENTILE_METHOD``.
    """

    scenario_name: str
    manifest: dict[str, Any]
    runs: pd.DataFrame
    bands: pd.DataFrame
    first_shard: pd.DataFrame
    binding_counts: pd.DataFrame
    sensitivity: pd.DataFrame
    outcomes: pd.DataFrame
    metric: str = "cost_total"

    @property
    def failed(self) -> pd.DataFrame:
        """The runs that raised, with their seeds and errors."""
        return self.runs[self.runs["status"] != "ok"]

    def write(self, out_dir: str | Path, *, report: bool = True) -> dict[str, Path]:
        """Write every table as Parquet plus report.html, each atomically."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name in ("runs", "bands", "outcomes", "first_shard", "binding_counts", "sensitivity"):
            frame: pd.DataFrame = getattr(self, name)
            target = out / f"{name}.parquet"
            atomic_write(target, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False, engine="pyarrow"))
            written[name] = target
        if report:
            # Imported here: sweep workers, which import this package, never load matplotlib.
            from sim.sweep.report import render_sweep_report

            written["report"] = atomic_write(out / "report.html", render_sweep_report(self))
        return written


ProgressCallback = Callable[[dict[str, Any]], None]


def sweep(
    scenario: Scenario,
    runs: int,
    vary: list[str] | tuple[str, ...] | list[VarySpec] = (),
    executor: cf.Executor | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    *,
    chunk_size: int = 1,
    metric: str = "cost_total",
    on_start: Callable[[int, int], None] | None = None,
    on_run: ProgressCallback | None = None,
) -> SweepResult:
    """Run ``runs`` replications of ``scenario`` and aggregate them.

    ``vary``: spec strings (``sim.sweep.vary``) or parsed ``VarySpec``s. ``executor``: any
    ``concurrent.futures.Executor`` (default: a local process pool, shut down afterwards). ``out``: a directory to
    write each run to as it finishes and to resume from. ``on_start(total, already_done)`` and ``on_run(record)``
    report progress. The scenario's ``packing_checks`` are not run.
    A run that raises is kept as a ``failed`` row; if the executor itself loses a task (a worker
    died), its runs count as failed here but are not written, so a rerun retries them.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    outcome(metric)  # an unknown --metric fails before any run
    # A sweep keeps fleet metrics, not the per-day CP-SAT packing checks, which would double each run's time.
    if scenario.packing_checks is not None:
        scenario = scenario.model_copy(update={"packing_checks": None})
    specs = [s for s in vary if isinstance(s, VarySpec)]
    texts = [s for s in vary if not isinstance(s, VarySpec)]
    if texts:
        specs = specs + parse_all(texts, resolve_limits(scenario), scenario)
    manifest = manifest_for(scenario, runs, specs, seed)
    out_path = Path(out) if out is not None else None
    done = prepare_out(out_path, manifest) if out_path is not None else {}
    results: dict[int, tuple[dict[str, Any], pd.DataFrame]] = dict(done)
    pending = [i for i in range(runs) if i not in done]
    if on_start:
        on_start(runs, len(done))
    if pending:
        own = executor is None
        pool = process_pool() if own else executor
        try:
            chunks = [pending[k : k + max(1, chunk_size)] for k in range(0, len(pending), max(1, chunk_size))]
            futures = {pool.submit(run_chunk, scenario, specs, seed, chunk): chunk for chunk in chunks}
            for future in cf.as_completed(futures):
                try:
                    outcomes = future.result()
                except Exception as exc:
                    outcomes = []
                    for index in futures[future]:
                        params, _ = run_draw(specs, seed, index)
                        record = run_record(index, seed, params, "lost", f"{type(exc).__name__}: {exc}")
                        results[index] = (record, pd.DataFrame())
                        if on_run:
                            on_run(record)
                    continue
                for record, series in outcomes:
                    if out_path is not None:
                        write_run(out_path, record, series)
                    results[record["run"]] = (record, series)
                    if on_run:
                        on_run(record)
        except BaseException:
            for f in futures if "futures" in locals() else ():
                f.cancel()
            raise
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
    ordered = [results[i] for i in range(runs)]
    tables = aggregate(ordered, specs, scenario.start_date.isoformat(), metric)
    result = SweepResult(scenario_name=scenario.name, manifest=manifest, metric=metric, **tables)
    if out_path is not None:
        result.write(out_path)
    return result
