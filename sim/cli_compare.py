"""``sim compare A.yaml [B.yaml]``: paired runs of two scenarios (or of one and a what-if of it), side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from placement.cli_common import error_console, fail, output_folder
from sim import fmt
from sim.cli_run import SET_OPTION, console, load_with_overrides
from sim.compare import compare
from sim.outcomes import BY_NAME, PERCENTILE_NOTE
from sim.overrides import OverrideError, apply_overrides
from sim.sweep.executors import process_pool


def _label(name: str, record: list[dict]) -> str:
    return name + "".join(f" + {r['path']}={r['value']}" for r in record)


def _joined(record: list[dict]) -> str:
    return ", ".join(f"{r['path']}={r['value']}" for r in record)


def compare_command(
    scenario_a: Annotated[Path, typer.Argument(metavar="A.yaml", help="the baseline scenario")],
    scenario_b: Annotated[
        Path | None, typer.Argument(metavar="[B.yaml]", help="the alternative (default: A again, with --set-b)")
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="paired runs per side")] = 20,
    seed: Annotated[int, typer.Option("--seed", min=0, help="root seed; run i of A and of B share its seed")] = 0,
    overrides: Annotated[list[str] | None, SET_OPTION] = None,
    overrides_a: Annotated[
        list[str] | None, typer.Option("--set-a", metavar="PATH=VALUE", help="what-if on A only (repeatable)")
    ] = None,
    overrides_b: Annotated[
        list[str] | None, typer.Option("--set-b", metavar="PATH=VALUE", help="what-if on B only (repeatable)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="output directory (default out/compare-A-vs-B)", callback=output_folder)
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="local processes (default: all cores)")
    ] = None,
) -> None:
    """Run A and B on the same seeds; print and write the outcomes with the paired differences and their bands."""
    both = list(overrides or [])
    side_a = both + list(overrides_a or [])
    side_b = both + list(overrides_b or [])
    if scenario_b is None and not overrides_b and not overrides_a:
        fail("give B.yaml, or --set-a/--set-b to compare A with a what-if of itself")
    path_b = scenario_b or scenario_a
    loaded = []
    for path, sets in ((scenario_a, side_a), (path_b, side_b)):
        scenario = load_with_overrides(path, sets)
        try:
            scenario, record = apply_overrides(scenario, sets)
        except OverrideError as exc:  # pragma: no cover - load_with_overrides checked them
            fail(str(exc))
        loaded.append((scenario, record))
    (a, record_a), (b, record_b) = loaded
    # Labels name what differs; what --set changed on both sides is said once, in the manifest.
    shared = len(both)
    labels = (_label(a.name, record_a[shared:]), _label(b.name, record_b[shared:]))
    out_dir = out or output_folder(Path("out") / f"compare-{a.name}-vs-{b.name}")
    progress = Progress(
        TextColumn("[bold]compare"), BarColumn(), TextColumn("{task.completed}/{task.total} runs"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=error_console,
    )  # fmt: skip
    manifest = {
        "file_a": str(scenario_a),
        "file_b": str(path_b),
        "overrides_both": _joined(record_a[:shared]),
        "overrides_a": _joined(record_a[shared:]),
        "overrides_b": _joined(record_b[shared:]),
    }
    try:
        with progress, process_pool(workers or None) as pool:
            task = progress.add_task("compare", total=2 * runs)
            result = compare(
                a, b, runs, seed, labels=labels, executor=pool, manifest=manifest,
                on_run=lambda side, record: progress.advance(task),
            )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    written = result.write(out_dir)
    print_outcomes(result)
    for name, path in written.items():
        console.print(f"wrote {name}: {path}", highlight=False, markup=False)


def print_outcomes(result) -> None:
    a, b = result.labels
    table = Table(title=Text(f"A: {a}  vs  B: {b}  (p50, then p10 – p90)"), title_justify="left")
    for column in ("outcome", "A", "B", "B − A (paired)", "B lower"):
        table.add_column(column, justify="left" if column == "outcome" else "right", overflow="fold")
    for row in result.outcomes.to_dict("records"):
        unit = BY_NAME[row["outcome"]].unit
        cells = (
            row["label"],
            fmt.band(row["a_p10"], row["a_p50"], row["a_p90"], unit),
            fmt.band(row["b_p10"], row["b_p50"], row["b_p90"], unit),
            fmt.band(row["diff_p10"], row["diff_p50"], row["diff_p90"], unit, signed=True),
            fmt.share(row["b_lower_share"], 0),
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    for side, label in zip(("a", "b"), result.labels, strict=True):
        verdict = result.design_doc.get(side)
        if verdict:
            console.print(f"{side.upper()} ({label}): {verdict}", highlight=False, markup=False)
    if result.failed:
        console.print(f"{len(result.failed)} runs failed (left out): see compare.json", highlight=False)
    console.print(PERCENTILE_NOTE, highlight=False, markup=False)
