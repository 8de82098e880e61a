"""``sim sweep``: Monte Carlo runs of one scenario on a process pool or a Dask cluster, with a progress bar."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from placement.cli_common import error_console, fail, output_folder
from placement.yamlio import ConfigError
from sim import fmt
from sim.cli_run import load_live_scenario
from sim.design_doc import sweep_verdict
from sim.outcomes import BY_NAME, METRIC_NAMES, PERCENTILE_NOTE
from sim.sweep.core import sweep
from sim.sweep.executors import SchedulerError, dask_executor
from sim.sweep.store import SweepError


def scheduler_address(address: str | None) -> str | None:
    """``--scheduler``'s check (a typer callback), made before any work: an address a Dask client can dial
    (``tcp://HOST:PORT``, or any scheme of Dask's comms), as Dask itself reads it."""
    if address is None:
        return None
    from distributed.comm.addressing import get_address_host_port  # here: Dask loads only when it is asked for

    try:
        get_address_host_port(address)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{address!r} is not a Dask scheduler's address such as tcp://HOST:8786 ({exc})"
        ) from None
    return address


def sweep_command(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO.yaml", help="the scenario file")],
    runs: Annotated[int, typer.Option("--runs", min=1, help="number of runs")] = 100,
    vary: Annotated[
        list[str] | None,
        typer.Option(
            "--vary",
            help="PATH=uniform:A:B | triangular:A:MODE:B | choice:V1,V2,... | catalog (repeatable); PATH is any "
            "numeric scenario field (growth.start_per_month, churn.rate, operator.node_lead_days, "
            "fleet.clusters[0].run_nodes) or limits figure (longhorn.max_volumes, kubernetes.max_pods_per_node); "
            "e.g. longhorn.max_volumes=uniform:400:1000",
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="run on a Dask LocalCluster of K")] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="existing Dask scheduler, tcp://HOST:8786", callback=scheduler_address),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="output directory (resumable)", callback=output_folder)] = Path(
        "out/sweep"
    ),
    seed: Annotated[int, typer.Option("--seed", min=0, help="root seed")] = 0,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="runs per task")] = 1,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            help=f"outcome for the sensitivity table and the tornado: {' | '.join(METRIC_NAMES)}",
        ),
    ] = "cost_total",
) -> None:
    """Run a Monte Carlo sweep; write per-run files, bands and a report to --out. Rerun to resume."""
    if metric not in METRIC_NAMES:
        fail(f"--metric {metric!r}: unknown outcome; use one of {', '.join(METRIC_NAMES)}")
    try:
        scenario = load_live_scenario(scenario_path)  # a live source read once: every run starts from the same fleet
    except (ConfigError, OSError) as exc:
        fail(str(exc))
    progress = Progress(
        TextColumn("[bold]sweep"),
        BarColumn(),
        TextColumn("{task.fields[ok]} done, [red]{task.fields[failed]} failed[/red], {task.fields[left]} remaining"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=error_console,
    )
    state = {"ok": 0, "failed": 0, "task": None, "total": runs}

    def on_start(total: int, already: int) -> None:
        state["task"] = progress.add_task(
            "sweep", total=total, completed=already, ok=already, failed=0, left=total - already
        )
        if already:
            error_console.print(f"resuming: {already} of {total} runs already in {out}")
        state["ok"] = already

    def on_run(record: dict) -> None:
        key = "ok" if record["status"] == "ok" else "failed"
        state[key] += 1
        if key == "failed":
            progress.console.print(
                f"[red]run {record['run']} failed[/red] (seed {record['seed_entropy']}, "
                f"spawn key {record['seed_spawn_key']}): {record['error']}",
                highlight=False,
            )
        progress.update(
            state["task"], advance=1, ok=state["ok"], failed=state["failed"], left=runs - state["ok"] - state["failed"]
        )

    executor_ctx = dask_executor(workers, scheduler) if (workers or scheduler) else contextlib.nullcontext(None)
    try:
        with executor_ctx as executor, progress:
            result = sweep(
                scenario,
                runs,
                vary=vary or [],
                executor=executor,
                out=out,
                seed=seed,
                chunk_size=chunk_size,
                metric=metric,
                on_start=on_start,
                on_run=on_run,
            )
    except (SweepError, SchedulerError, ValueError) as exc:  # VaryError and ConfigError are ValueErrors
        fail(str(exc))
    shard = result.first_shard.set_index("statistic")
    error_console.print(
        f"{runs} runs: {len(result.failed)} failed; wrote {out}/report.html and Parquet tables", highlight=False
    )
    if shard["runs_sharded"].iloc[0]:
        dates = ", ".join(f"{s} {shard.loc[s, 'first_shard_date'].date()}" for s in ("p10", "p50", "p90"))
        error_console.print(f"first shard: {dates}", highlight=False)
    verdict = sweep_verdict(result.runs)
    if verdict:
        error_console.print(verdict, highlight=False, markup=False)
    item = BY_NAME[metric]
    for row in result.sensitivity.head(5).itertuples():
        error_console.print(
            f"{item.label}: {row.parameter} swings it by {fmt.quantity(row.swing, item.unit)} "
            f"(Spearman ρ {fmt.number(row.spearman_rho, 2)})",
            highlight=False,
            markup=False,
        )
    error_console.print(PERCENTILE_NOTE, highlight=False, markup=False)
