"""``sim forecast``: the Monte Carlo forecast from a live source, on a process pool or a Dask cluster."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from placement.cli_common import error_console, fail, output_folder
from placement.yamlio import ConfigError
from sim.forecast.core import WORKER_MODULES, Forecast, forecast, started_from
from sim.forecast.output import urgency, write_forecast
from sim.forecast.publish import (
    DEFAULT_CPU_SHARE,
    background_priority,
    quota_possible,
    standing_cpu_cores,
    standing_workers,
)
from sim.forecast.refusals import turned_away_line
from sim.scenario import load_scenario
from sim.start_from.build import read_source
from sim.start_from.sources import StartFromError
from sim.sweep.cli import scheduler_address
from sim.sweep.executors import SchedulerError, dask_executor, process_pool

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASE = ROOT / "scenarios" / "stage2.yaml"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KEEP_FORECASTS = 120  # a week of forecasts at the 6 h cadence; older ones are pruned as new ones land
NICE = 10


def parse_as_of(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of {text!r}: not an ISO 8601 date-time (e.g. 2026-12-01T06:00:00Z)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _scheduler_or_dask(value: str | None) -> str | None:
    """``--scheduler``: 'dask' (a LocalCluster) or a scheduler's address (``scheduler_address``)."""
    return value if value == "dask" else scheduler_address(value)


def forecast_command(
    out: Annotated[Path, typer.Option("--out", help="output directory", callback=output_folder)],
    start_from: Annotated[
        str | None,
        typer.Option(
            "--start-from",
            help="the router's database (SQLite path or PostgreSQL URL, read only), a folder of collector "
            "snapshots, or a state YAML (default: the --base scenario's start_from)",
        ),
    ] = None,
    base: Annotated[
        Path, typer.Option("--base", help="scenario for what the source cannot tell (mix, churn, operator)")
    ] = DEFAULT_BASE,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Monte Carlo runs")] = 100,
    horizon_days: Annotated[float, typer.Option("--horizon-days", min=1, help="days forecast")] = 730,
    seed: Annotated[int, typer.Option("--seed", min=0, help="root seed")] = 0,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="the forecast's now, ISO 8601 (default: the clock); fixes the output bytes"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="local processes (or Dask workers); with --every, default one core fewer than the CPUs",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="'dask' for a Dask LocalCluster, or tcp://HOST:8786", callback=_scheduler_or_dask
        ),
    ] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="runs per task")] = 1,
    min_weeks: Annotated[
        float | None, typer.Option("--min-weeks", min=0, help="history needed to fit growth (default 8 weeks)")
    ] = None,
    publish: Annotated[
        str | None, typer.Option("--publish", help="also write the result into the router's forecasts table")
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="repeat at this interval (e.g. 6h), at low priority")
    ] = None,
    cpu_share: Annotated[
        float | None,
        typer.Option(
            "--cpu-share",
            min=0.01,
            max=1.0,
            help="with --every: the most CPU the runs take, as a share of their workers' cores (default 0.5; 1: no "
            "cap), where a CPU cgroup can be written",
        ),
    ] = None,
) -> None:
    """Forecast, from the live fleet, the p10/p50/p90 day each catalogue limit binds on each cluster, the
    order-by date and the operator's action; write forecast.parquet/.csv and forecast.html to --out."""
    try:
        fixed_now = parse_as_of(as_of) if as_of else None
    except ValueError as exc:
        fail(str(exc))
    if every is not None and publish is None:
        fail("--every repeats a published forecast: give --publish DB_URL too")
    if every is not None:
        try:
            parse_every(every)
        except ValueError as exc:
            fail(str(exc))
    if every is not None and fixed_now is not None:
        fail("--every forecasts from the clock each time; it cannot be combined with --as-of")
    if cpu_share is not None and every is None:
        fail("--cpu-share caps a standing forecast's runs: give --every too")
    try:
        base_scenario = load_scenario(base)
    except (ConfigError, OSError) as exc:
        fail(f"--base: {exc}")
    if start_from is None:  # the base scenario names its source (its as_of too, unless --as-of says otherwise)
        if base_scenario.start_from is None:
            fail("give --start-from SOURCE, or a --base scenario with a start_from: key")
        start_from = base_scenario.start_from
        if every is None:  # a standing forecast reads the clock each time
            fixed_now = fixed_now or start_from.as_of

    # A standing forecast (--every) runs its Monte Carlo on idle CPU time only (background_priority), while this
    # process, which writes into the router's database, stays at a milder nice (see _publish). A Dask cluster's
    # workers are its own to place.
    initializer = None
    if every is not None and scheduler is None:
        workers = standing_workers(workers)  # and one core left to the router (see standing_workers)
        # and their CPU capped (see DEFAULT_CPU_SHARE)
        cores = standing_cpu_cores(workers, DEFAULT_CPU_SHARE if cpu_share is None else cpu_share)
        initializer = functools.partial(background_priority, cores)
        if cores is not None and not quota_possible():
            error_console.print(
                "--cpu-share: no CPU cgroup this process may write, so the runs' CPU is not capped (they still run "
                "at idle priority); under systemd give the unit CPUQuota=",
                highlight=False,
            )

    def make() -> Forecast:
        result = _one(start_from, base_scenario, base, runs, horizon_days, seed, fixed_now, workers, scheduler,
                      chunk_size, min_weeks, initializer)  # fmt: skip
        _summary(result, write_forecast(result, out))
        return result

    if publish is None:
        make()
        return
    _publish(make, publish, every)


def _one(
    source,
    base_scenario,
    base_path,
    runs,
    horizon_days,
    seed,
    now,
    workers,
    scheduler,
    chunk_size,
    min_weeks,
    initializer=None,
):
    state = _or_fail(source, lambda: read_source(source, now or datetime.now(UTC)))
    progress = Progress(
        TextColumn("[bold]forecast"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=error_console
    )
    if scheduler == "dask":
        executor_ctx = dask_executor(workers)
    elif scheduler:
        executor_ctx = dask_executor(workers, scheduler)
    else:
        # The workers start (and import) while the growth and churn are fitted, once the source has read well.
        executor_ctx = process_pool(workers, initializer, start=True, preload=WORKER_MODULES)
    with contextlib.ExitStack() as stack:
        try:
            executor = stack.enter_context(executor_ctx)
        except SchedulerError as exc:
            fail(str(exc))
        try:
            started = _or_fail(
                source, lambda: started_from(state, base_scenario, horizon_days=horizon_days, min_weeks=min_weeks)
            )
            with progress:
                return _run(started, runs, seed, executor, chunk_size, base_path, progress)
        except BaseException:
            # Stopped (SIGTERM, Ctrl-C) or failed mid-forecast: the pool's own exit would wait for every queued run.
            if isinstance(executor, cf.ProcessPoolExecutor):
                executor.shutdown(wait=True, cancel_futures=True)
            raise


def _or_fail(source, step):
    """``step()``, or the command fails with a clear error on a bad source (nothing is written)."""
    try:
        return step()
    except StartFromError as exc:
        fail(str(exc))
    except ConfigError as exc:
        shown = getattr(source, "url", None) or getattr(source, "path", None) or source
        fail(f"{shown}: the started scenario is not valid: {exc}")


def _run(started, runs, seed, executor, chunk_size, base_path, progress) -> Forecast:
    task = progress.add_task("forecast", total=runs)
    try:
        return forecast(
            started,
            runs,
            seed=seed,
            executor=executor,
            chunk_size=chunk_size,
            base_name=_shown(base_path),
            on_run=lambda outcome: progress.advance(task),
        )
    except (RuntimeError, ValueError) as exc:
        fail(str(exc), code=1)


def _shown(path: Path) -> str:
    """A path as shown in the outputs: relative to the project when inside it (the same bytes on any machine)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _summary(result: Forecast, written: dict[str, Path]) -> None:
    head = result.header
    error_console.print(
        f"{head['runs_ok']} of {head['runs']} runs; customers {head['customers_measured']} measured, "
        f"{head['customers_estimated']} estimated; wrote {written['html']} and {written['parquet']}",
        highlight=False,
    )
    if head["runs_turning_away"]:
        error_console.print(turned_away_line(head), highlight=False, markup=False)
    for warning in result.warnings:
        error_console.print(f"warning: {warning}", highlight=False, markup=False)
    soon = result.table.dropna(subset=["p50_days"]).sort_values("p50_days").head(5)
    for row in soon.itertuples():
        overdue = " (overdue: order now)" if urgency(row) == "overdue" else ""
        error_console.print(
            f"{row.cluster} {row.limit_name}: binds in {_days(row.p50_days)} (p50, {row.p50_date}); "
            f"order by {row.order_by_date}{overdue}: {row.action}",
            highlight=False,
            markup=False,
        )
    ordered = result.orders.dropna(subset=["p50_days"]).sort_values(["p50_days", "cluster"]).head(5)
    for row in ordered.itertuples():
        error_console.print(
            f"{row.cluster}: the operator orders {row.order} in {_days(row.p50_days)} (p50, {row.p50_date}; "
            f"p10 {row.p10_days:.0f}), forced by {row.limit}",
            highlight=False,
            markup=False,
        )


def _days(value: float) -> str:
    return "1 day" if f"{value:.0f}" == "1" else f"{value:.0f} days"


def parse_every(text: str) -> float:
    """``6h``, ``30m``, ``1d``, ``90s`` in seconds; ``ValueError`` naming the option otherwise."""
    number, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        seconds = float(number) * UNITS[unit]
    except (KeyError, ValueError):
        raise ValueError(f"--every {text!r}: give a number and a unit, s, m, h or d (e.g. 6h)") from None
    if seconds < 1:
        raise ValueError(f"--every {text!r}: must be at least one second")
    return seconds


def _publish(make, url: str, every: str | None) -> None:
    """Publish into the router's forecasts tables (``placement.router.forecasts``, one transaction each): once, or
    every ``every`` at low priority. The database is checked before any forecast is run; in a standing process a
    tick that fails (a source unreachable for a while) is reported and tried again at the next tick."""
    from placement.router.forecasts import ForecastError, ForecastsNotMigrated, forecast_engine
    from placement.router.forecasts import publish as write
    from sim.forecast.publish import draft_of
    from sim.start_from.sources import safe_url

    try:
        interval = parse_every(every) if every else None
    except ValueError as exc:
        fail(str(exc))
    try:
        engine = forecast_engine(url)
    except ForecastsNotMigrated as exc:
        fail(f"--publish: {exc}")
    except Exception as exc:
        fail(f"--publish {safe_url(url)}: cannot open it: {str(exc).strip().splitlines()[0]}")
    shown = safe_url(url)
    try:
        if interval is None:
            forecast_id = write(engine, draft_of(make()), keep=KEEP_FORECASTS)
            error_console.print(f"published forecast {forecast_id} to {shown}", highlight=False)
            return
        # A standing forecast must not slow the router's placements on the same machine: its runs take idle CPU
        # only (background_priority in the workers); this process reads, fits, summarises and writes at nice 10,
        # not lower, so that it never sits descheduled while it holds SQLite's write lock.
        os.nice(NICE)
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        tick, due = 0, time.monotonic()
        while True:
            tick += 1
            try:
                forecast_id = write(engine, draft_of(make()), keep=KEEP_FORECASTS)
                error_console.print(f"tick {tick}: published forecast {forecast_id} to {shown}", highlight=False)
            except ForecastError:
                raise
            except (typer.Exit, Exception) as exc:  # a bad source at this tick: the last forecast stays served
                error_console.print(f"tick {tick}: not published ({type(exc).__name__} {exc})", highlight=False)
            due = max(due + interval, time.monotonic())
            time.sleep(max(0.0, due - time.monotonic()))
    except ForecastError as exc:
        fail(f"--publish: {exc}", code=1)
    finally:
        engine.dispose()


def _exit_on_sigterm(signum, frame) -> None:
    """SIGTERM (systemd's and kill's stop) ends Python at once by default, and a tick's pool workers, each in a
    session of its own (background_priority), would outlive it idle, out of reach of a process-group kill. As
    SystemExit the pool is shut down on the way out (``_one``) and the process exits with 143, as if killed."""
    raise SystemExit(128 + signum)


def backtest_command(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO.yaml", help="the scenario file")],
    at: Annotated[int, typer.Option("--at", min=1, help="the day the forecast is made (days after the start)")],
    out: Annotated[Path, typer.Option("--out", help="output directory", callback=output_folder)] = Path("out/backtest"),
    horizon_days: Annotated[float, typer.Option("--horizon-days", min=1, help="days forecast after --at")] = 365,
    runs: Annotated[int, typer.Option("--runs", min=1, help="forecast runs")] = 20,
    seed: Annotated[int, typer.Option("--seed", min=0, help="the full run's seed (and the forecast's root)")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="local processes")] = None,
) -> None:
    """Run SCENARIO to --at, export it as a router database, forecast from there, and compare with what the run
    did after --at (and with predict_linear over each limit's last 30 days); write pairs.csv/.parquet and the
    forecast made on --at to --out."""
    from placement.atomic import atomic_write
    from sim.forecast.backtest import backtest

    try:
        scenario = load_scenario(scenario_path)
    except (ConfigError, OSError) as exc:
        fail(str(exc))
    try:
        with process_pool(workers, preload=WORKER_MODULES) as pool:
            result = backtest(scenario, at, horizon_days=horizon_days, runs=runs, seed=seed, executor=pool)
    except (StartFromError, ValueError) as exc:
        fail(str(exc))
    write_forecast(result.forecast, out / "forecast")
    pairs = result.pairs
    atomic_write(out / "pairs.parquet", lambda tmp: pairs.to_parquet(tmp, index=False, engine="pyarrow"))
    atomic_write(out / "pairs.csv", pairs.to_csv(index=False, lineterminator="\n"))
    score = result.summary()
    error_console.print(
        f"{scenario.name} at day {at}, {horizon_days:g} days ahead: {score['pairs']} cluster x limit pairs, "
        f"{score['pairs_truth_within_horizon']} bound within the horizon in the run; truth inside p10-p90 in "
        f"{score['coverage_p10_p90']:.0%} of {score['informative_pairs']} informative pairs; median |p50 - truth| "
        f"{score['mae_p50_days']:.1f} days, predict_linear {score['mae_baseline_days']:.1f} days; wrote {out}",
        highlight=False,
    )
