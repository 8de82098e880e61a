"""Greedy-to-optimal ratio on the shipped stage scenarios, measured in simulation runs.

    python -m bench.sim_packing [--seed 0] [--stages 1 2 3 4] [--markdown]

Each ``scenarios/stageN.yaml`` runs as shipped, with its ``packing_checks``: on each check day the live services of
every (region, storage provider) group are packed by ``placement.optimize`` (L1, first-fit decreasing, CP-SAT on
one worker with a deterministic time limit) and re-placed in arrival order by the greedy engine with the stage's
policy; the simulated operator's run nodes that day are the third column. Prints one row per check and group, the
run's wall time with and without the checks, and the time spent in the checks.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

import sim
from bench.sim_common import SCENARIOS

COLUMNS = [
    ("stage", "stage"),
    ("date", "date"),
    ("group", "group"),
    ("services", "services"),
    ("L1", "l1_nodes"),
    ("optimal nodes", "optimal_nodes"),
    ("status", "status"),
    ("greedy nodes", "greedy_nodes"),
    ("greedy / opt", "greedy_to_optimal_nodes"),
    ("sim run nodes", "sim_run_nodes"),
    ("sim / opt", "sim_to_optimal_nodes"),
    ("clusters opt / greedy / sim", "clusters"),
    ("check s", "wall"),
]


def measure(stage: str, seed: int) -> dict:
    scenario = sim.load_scenario(SCENARIOS / f"{stage}.yaml")
    started = time.perf_counter()
    result = sim.run(scenario, seed)
    with_checks = time.perf_counter() - started
    started = time.perf_counter()
    sim.run(scenario.model_copy(update={"packing_checks": None}), seed)
    without = time.perf_counter() - started
    return {"stage": stage, "result": result, "with": with_checks, "without": without}


def rows_of(measured: dict) -> list[dict]:
    packing = measured["result"].packing
    walls = measured["result"].meta["packing_wall_seconds"]
    rows = []
    for record, wall in zip(packing.to_dict("records"), walls, strict=True):
        status = record["status"]
        if status == "FEASIBLE":
            status = f"FEASIBLE (gap {record['gap']:.1%})"
        rows.append(
            {
                **record,
                "stage": measured["stage"],
                "date": record["date"].date().isoformat(),
                "group": f"{record['region']} {record['storage_provider']}",
                "status": status,
                "greedy_to_optimal_nodes": f"{record['greedy_to_optimal_nodes']:.3f}",
                "sim_to_optimal_nodes": f"{record['sim_to_optimal_nodes']:.3f}",
                "clusters": f"{record['optimal_clusters']} ({record['clusters_status']}) / "
                f"{record['greedy_clusters']} / {record['sim_clusters']}",
                "wall": f"{wall:.1f}",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--markdown", action="store_true", help="also print the rows as a Markdown table")
    args = parser.parse_args()
    console = Console(width=200)
    table = Table(title=f"Greedy engine and simulated fleet vs the packing optimum (seed {args.seed})")
    for title, _ in COLUMNS:
        table.add_column(title, no_wrap=True)
    all_rows = []
    for n in args.stages:
        measured = measure(f"stage{n}", args.seed)
        rows = rows_of(measured)
        all_rows += rows
        for row in rows:
            table.add_row(*(str(row[key]) for _, key in COLUMNS))
        checks = sum(measured["result"].meta["packing_wall_seconds"])
        console.print(
            f"stage{n}: run {measured['with']:.1f} s with the checks, {measured['without']:.1f} s without "
            f"({checks:.1f} s in {len(rows)} checks)",
            highlight=False,
        )
    console.print(table)
    if args.markdown:
        print("| " + " | ".join(title for title, _ in COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for row in all_rows:
            print("| " + " | ".join(str(row[key]) for _, key in COLUMNS) + " |")


if __name__ == "__main__":
    main()
