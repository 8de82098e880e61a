"""Monte Carlo sweeps: many runs of one scenario, each with its own seed and its own draw of the varied limits.

    result = sim.sweep(scenario, 200, vary=["longhorn.max_volumes=catalog"], seed=0, out="out/sweep")
    result.bands            # p10/p50/p90 of the daily fleet metrics (tidy: day, date, metric, p10, p50, p90)

Seeds: run ``i`` uses ``SeedSequence(seed, spawn_key=(i,))`` (what ``SeedSequence(seed).spawn(n)[i]`` gives), so its
seed never depends on the number of runs or on the order runs finish. That sequence spawns two children: the first
feeds the run's parameter draw, the second is the simulation's seed. Any run can be repeated alone with
``sim.run(scenario.model_copy(update={"limits_overrides": {...drawn}}), SeedSequence(seed, spawn_key=(i, 1)))``.

Runs go through any ``concurrent.futures.Executor`` (a process pool by default; ``dask_executor`` gives a Dask
``LocalCluster`` or an existing scheduler's). With ``out``, each finished run is written at once to
``runs/run-NNNNNN.parquet`` (its fleet time series, with the run's record in the Parquet metadata), atomically through a
temp file and ``os.replace``; ``manifest.json`` records the sweep's arguments. Calling again with the same arguments
and ``out`` skips every run already on disk; a directory made with other arguments is refused.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import multiprocessing
import os
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.scenario import Scenario
from sim.sweep_stats import aggregate
from sim.sweep_vary import VarySpec, draw_all, parse_all

RUN_METADATA_KEY = b"capplan.sweep.run"
MANIFEST = "manifest.json"
RUNS_DIR = "runs"


class SweepError(RuntimeError):
    """A sweep that cannot start (e.g. an output directory made with other arguments)."""


def run_seed(root: int, index: int) -> np.random.SeedSequence:
    """Run ``index``'s seed sequence: the ``index``-th child of ``SeedSequence(root)``, independent of the run count."""
    return np.random.SeedSequence(root, spawn_key=(index,))


def run_draw(specs: list[VarySpec], root: int, index: int) -> tuple[dict[str, float], np.random.SeedSequence]:
    """Run ``index``'s parameter draw (from its own Generator) and its simulation seed."""
    draw_seq, sim_seq = run_seed(root, index).spawn(2)
    return draw_all(specs, np.random.default_rng(draw_seq)), sim_seq


def _fleet_series(timeseries: pd.DataFrame) -> pd.DataFrame:
    fleet = timeseries[timeseries["cluster_id"] == "fleet"]
    numeric = [c for c in fleet.columns if c == "date" or pd.api.types.is_numeric_dtype(fleet[c])]
    numeric = [c for c in numeric if not pd.api.types.is_bool_dtype(fleet[c])]
    out = fleet[numeric].reset_index(drop=True)
    return out.astype({c: "float64" for c in out.columns if c not in ("date", "day")})


def _first_bind_limit(summary: dict[str, Any]) -> str | None:
    rows = [r for r in summary.get("decision_table") or [] if r.get("first_bind_day") is not None]
    return min(rows, key=lambda r: (r["first_bind_day"], r["limit"]))["limit"] if rows else None


def run_one(scenario: Scenario, specs: list[VarySpec], root: int, index: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run ``index`` of a sweep. An exception becomes a ``failed`` record carrying the seed and the error."""
    from sim import run

    params, sim_seq = run_draw(specs, root, index)
    record: dict[str, Any] = {
        "run": index,
        "seed_entropy": str(root),
        "seed_spawn_key": f"{index},1",
        "params": params,
        "status": "ok",
        "error": None,
    }
    try:
        overrides = {**scenario.limits_overrides, **params}
        result = run(scenario.model_copy(update={"limits_overrides": overrides}), sim_seq)
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}{where}")
        return record, pd.DataFrame()
    summary = result.summary
    record.update(
        first_shard_day=summary.get("first_shard_day"),
        first_shard_date=summary.get("first_shard_date"),
        first_shard_customers=summary.get("first_shard_customers"),
        first_shard_limit=summary.get("first_shard_limit"),
        first_bind_limit=_first_bind_limit(summary),
        placements_attempted=summary.get("placements_attempted"),
        placements_rejected=summary.get("placements_rejected"),
        customers_end=summary.get("customers_end"),
        clusters_end=summary.get("clusters_end"),
        cost_eur_total=summary.get("cost_eur_total"),
    )
    return record, _fleet_series(result.timeseries)


def run_chunk(
    scenario: Scenario, specs: list[VarySpec], root: int, indices: list[int]
) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Several runs in one task (fewer round trips on a remote executor)."""
    return [run_one(scenario, specs, root, i) for i in indices]


# --- the run store ---------------------------------------------------------------------------------------------


def _atomic_write(target: Path, write: Callable[[str], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def run_path(out: Path, index: int) -> Path:
    """Where run ``index``'s file lives."""
    return out / RUNS_DIR / f"run-{index:06d}.parquet"


def write_run(out: Path, record: dict[str, Any], series: pd.DataFrame) -> Path:
    """Write one finished run (ok or failed) atomically; the record rides in the Parquet schema metadata."""
    table = pa.Table.from_pandas(series, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[RUN_METADATA_KEY] = json.dumps(record, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    target = run_path(out, record["run"])
    _atomic_write(target, lambda tmp: pq.write_table(table, tmp))
    return target


def read_run(path: Path) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """A finished run's record and series, or None when the file is not a complete run file."""
    try:
        table = pq.read_table(path)
        record = json.loads(table.schema.metadata[RUN_METADATA_KEY])
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
        return None
    return record, table.to_pandas()


def manifest_for(scenario: Scenario, runs: int, specs: list[VarySpec], seed: int) -> dict[str, Any]:
    """The arguments that define a sweep's results (not the executor: every executor gives the same results)."""
    scenario_json = scenario.model_dump_json()
    return {
        "scenario": scenario.name,
        "scenario_sha256": hashlib.sha256(scenario_json.encode()).hexdigest(),
        "runs": runs,
        "seed": seed,
        "vary": [s.text for s in specs],
    }


def prepare_out(out: Path, manifest: dict[str, Any]) -> dict[int, tuple[dict[str, Any], pd.DataFrame]]:
    """Create or reopen a sweep directory; return the runs already finished in it."""
    path = out / MANIFEST
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except ValueError:
            raise SweepError(f"{path} is not a sweep manifest (invalid JSON); use another --out") from None
        if existing != manifest:
            diffs = [
                f"{k}: {existing.get(k)!r} there, {manifest.get(k)!r} now"
                for k in manifest
                if existing.get(k) != manifest.get(k)
            ]
            raise SweepError(
                f"{out} holds a sweep made with different arguments ({'; '.join(diffs)}); "
                "rerun with the same arguments to resume, or use another --out"
            )
    elif out.exists() and any(out.iterdir()):
        raise SweepError(f"{out} is not empty and has no {MANIFEST}; use an empty or new --out directory")
    (out / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    if not path.exists():
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        _atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    done: dict[int, tuple[dict[str, Any], pd.DataFrame]] = {}
    for index in range(manifest["runs"]):
        file = run_path(out, index)
        if file.exists():
            loaded = read_run(file)
            if loaded is not None and loaded[0].get("run") == index:
                done[index] = loaded
    for stale in (out / RUNS_DIR).glob(".run-*.tmp"):
        stale.unlink(missing_ok=True)  # a temp file a killed sweep left behind: never a finished run
    return done


# --- executors -----------------------------------------------------------------------------------------------


def process_pool(workers: int | None = None) -> cf.ProcessPoolExecutor:
    """The default executor: a local process pool (forkserver, so no thread state is forked)."""
    return cf.ProcessPoolExecutor(
        max_workers=workers or os.cpu_count(), mp_context=multiprocessing.get_context("forkserver")
    )


@contextlib.contextmanager
def dask_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[cf.Executor]:
    """A ``concurrent.futures.Executor`` on Dask: an existing cluster at ``scheduler``, else a ``LocalCluster``."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client.get_executor(pure=False)
        return
    # Each worker's statistical profiler samples the running task every 10 ms under the task's GIL: a cost with
    # no reader here (no dashboard). The nannies hand this config to the worker processes they start.
    with (
        dask.config.set({"distributed.worker.profile.enabled": False}),
        LocalCluster(
            n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client.get_executor(pure=False)


# --- the sweep -----------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """A finished sweep's tables.

    ``runs``: one row per run (seed, drawn parameters as ``param:PATH`` columns, status, error, first shard...).
    ``bands``: p10/p50/p90 of each daily fleet metric over the successful runs (day, date, metric, p10, p50, p90, runs).
    ``first_shard``: p10/p50/p90 of the first-shard day, date and customer count.
    ``binding_counts``: per limit, how many runs it triggered the first shard in, and how many it bound first in.
    ``sensitivity``: per varied parameter, Spearman rho and the tornado swing (see ``sim.sweep_stats.sensitivity``).
    """

    scenario_name: str
    manifest: dict[str, Any]
    runs: pd.DataFrame
    bands: pd.DataFrame
    first_shard: pd.DataFrame
    binding_counts: pd.DataFrame
    sensitivity: pd.DataFrame

    @property
    def failed(self) -> pd.DataFrame:
        """The runs that raised, with their seeds and errors."""
        return self.runs[self.runs["status"] != "ok"]

    def write(self, out_dir: str | Path, *, report: bool = True) -> dict[str, Path]:
        """Write every table as Parquet plus report.html, each atomically."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name in ("runs", "bands", "first_shard", "binding_counts", "sensitivity"):
            frame: pd.DataFrame = getattr(self, name)
            target = out / f"{name}.parquet"
            _atomic_write(target, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False, engine="pyarrow"))
            written[name] = target
        if report:
            from sim.sweep_report import render_sweep_report

            page = render_sweep_report(self)
            written["report"] = out / "report.html"
            _atomic_write(written["report"], lambda tmp: Path(tmp).write_text(page))
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
    on_start: Callable[[int, int], None] | None = None,
    on_run: ProgressCallback | None = None,
) -> SweepResult:
    """Run ``runs`` replications of ``scenario`` and aggregate them.

    ``vary``: spec strings (``sim.sweep_vary``) or parsed ``VarySpec``s. ``executor``: any
    ``concurrent.futures.Executor`` (default: a local process pool, shut down afterwards). ``out``: a directory to
    write each run to as it finishes and to resume from. ``on_start(total, already_done)`` and ``on_run(record)``
    report progress. The scenario's ``packing_checks`` are not run.
    A run that raises is kept as a ``failed`` row; if the executor itself loses a task (a worker
    died), its runs count as failed here but are not written, so a rerun retries them.
    """
    from sim.model import resolve_limits

    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    # A sweep keeps fleet metrics, not the per-day CP-SAT packing checks, which would double each run's time.
    if scenario.packing_checks is not None:
        scenario = scenario.model_copy(update={"packing_checks": None})
    specs = [s for s in vary if isinstance(s, VarySpec)]
    texts = [s for s in vary if not isinstance(s, VarySpec)]
    if texts:
        specs = specs + parse_all(texts, resolve_limits(scenario))
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
                        record = {
                            "run": index,
                            "seed_entropy": str(seed),
                            "seed_spawn_key": f"{index},1",
                            "params": params,
                            "status": "lost",
                            "error": f"{type(exc).__name__}: {exc}",
                        }
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
    tables = aggregate(ordered, specs)
    result = SweepResult(scenario_name=scenario.name, manifest=manifest, **tables)
    if out_path is not None:
        result.write(out_path)
    return result
