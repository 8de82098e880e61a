"""Benchmark of ``placement.optimize``: ``python -m bench.optimize [--only u120 generated services drain]``.

1. Falkenauer u120 (``bench/data/falkenauer-u120.json``, OR-Library ``binpack1``): 20 instances of 120 items of
   20-100 on bins of 150, mapped as the issue did: a run node of exactly 150 GiB allocatable, no overheads, pods
   out of the way, one size unit = 1 GiB; ``pack`` with a 10 s limit and 2 workers; time to proof per instance,
   every packing re-checked here, the greedy engine under the default spread policy and under most_allocated.
2. Generalisation: instances of the same kind drawn from a seeded ``numpy.random.Generator`` (sizes U[20,100],
   capacity 150), with 250, 500 and 1,000 items, checked the same way (proof = packing meets a lower bound).
3. 2,000 services (RAM lognormal mu=1.0, sigma=0.9 GiB, as in ecosystem.md §3) on at most 40 run nodes:
   CP-SAT forced to run (no FFD=L1 shortcut), 2 workers, 10 s limit.
4. A drain plan for a 500-service cluster onto 4 others (20 run nodes each, partly loaded), 30 s limit.

The greedy-to-optimal ratio on the shipped stage scenarios is measured in simulation runs by ``bench.sim_packing``
(the simulator's packing checks), no longer on synthetic demand here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from placement.limits import shipped_limits
from placement.optimize import DrainFleet, Service, SolveSettings, greedy_to_optimal_ratio, pack, plan_drain
from placement.optimize.packing import NodeType
from placement.units import to_bytes

GIB = 1024**3
MIB = 1024**2
SEED = 20260401
console = Console(width=150)
U120 = Path(__file__).with_name("data") / "falkenauer-u120.json"


def bin_node(capacity_gib: int) -> NodeType:
    """A run node of exactly ``capacity_gib`` GiB allocatable, no per-volume overhead, pods out of the way."""
    node = NodeType.from_limits(shipped_limits("seed"), "longhorn", max_nodes_per_cluster=20)
    return dataclasses.replace(node, allocatable_bytes=capacity_gib * GIB, max_pods=10_000, min_nodes=1)


def bench_bins(name: str, items: list[int], capacity: int, listed: int | None, time_limit: float = 10.0) -> dict:
    """One bin-packing instance through ``greedy_to_optimal_ratio``; the packing is re-checked here."""
    services = [Service(f"s{i}", int(size) * GIB) for i, size in enumerate(items)]
    started = time.perf_counter()
    report = greedy_to_optimal_ratio(
        services, shipped_limits("seed"), node=bin_node(capacity), settings=SolveSettings(time_limit, 2)
    )
    wall = time.perf_counter() - started
    loads = np.bincount(np.array(report.node_of), weights=np.array(items))
    if loads.max() > capacity or len(loads) != report.nodes:
        raise AssertionError(f"{name}: the packing overfills a bin or miscounts: {loads.max()} / {len(loads)}")
    outcome = report.nodes_outcome
    return {
        "name": name,
        "items": len(items),
        "listed": listed,
        "l1": report.l1_nodes,
        "l2": report.l2_nodes,
        "ffd": report.ffd_nodes,
        "nodes": report.nodes,
        "status": outcome.status,
        "method": outcome.method,
        "bound": outcome.best_bound,
        "proof_seconds": outcome.wall_seconds,
        "wall": wall,
        "greedy": report.greedy_nodes,
        "most_allocated": report.most_allocated_nodes,
    }


def bench_u120() -> list[dict]:
    return [bench_bins(i["name"], i["items"], i["capacity"], i["optimal_bins"]) for i in json.loads(U120.read_text())]


def bench_generated(
    rng: np.random.Generator, sizes: tuple[int, ...] = (250, 500, 1000), per_size: int = 10
) -> list[dict]:
    rows = []
    for count in sizes:
        for k in range(per_size):
            items = rng.integers(20, 101, count).tolist()  # U[20, 100], as Falkenauer's u class
            rows.append(bench_bins(f"gen{count}_{k:02d}", items, 150, None))
    return rows


def bins_table(title: str, rows: list[dict]) -> Table:
    table = Table(title=title)
    columns = (
        "instance",
        "listed",
        "L1",
        "L2",
        "FFD",
        "optimum",
        "status",
        "method",
        "proof s",
        "greedy spread",
        "greedy most_allocated",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for r in rows:
        listed = "-" if r["listed"] is None else str(r["listed"])
        table.add_row(
            r["name"],
            listed,
            str(r["l1"]),
            str(r["l2"]),
            str(r["ffd"]),
            str(r["nodes"]),
            r["status"],
            r["method"],
            f"{r['proof_seconds']:.2f}",
            f"{r['greedy']} ({r['greedy'] / r['nodes']:.3f})",
            f"{r['most_allocated']} ({r['most_allocated'] / r['nodes']:.3f})",
        )
    return table


def bins_summary(rows: list[dict]) -> str:
    proven = sum(r["status"] == "OPTIMAL" for r in rows)
    listed = [r for r in rows if r["listed"] is not None]
    at_listed = sum(r["nodes"] == r["listed"] for r in listed)
    below = [f"{r['name']} {r['nodes']} < {r['listed']}" for r in listed if r["nodes"] < r["listed"]]
    spread = [r["greedy"] / r["nodes"] for r in rows]
    packing = [r["most_allocated"] / r["nodes"] for r in rows]
    text = (
        f"{proven}/{len(rows)} proven optimal; time to proof max {max(r['proof_seconds'] for r in rows):.2f} s, "
        f"mean {np.mean([r['proof_seconds'] for r in rows]):.2f} s; greedy spread mean {np.mean(spread):.3f}x "
        f"(worst {max(spread):.3f}x), most_allocated mean {np.mean(packing):.3f}x (worst {max(packing):.3f}x)"
    )
    if listed:
        text += f"; {at_listed}/{len(listed)} at the listed optimum"
    if below:
        text += f"; proven BELOW the listing (a best-known value, not an optimum): {', '.join(below)}"
    return text


def bench_packing(rng: np.random.Generator) -> dict:
    limits = shipped_limits("seed")
    ram = np.minimum(rng.lognormal(1.0, 0.9, 2000), 200.0)
    services = [Service(f"s{i}", int(r * GIB)) for i, r in enumerate(ram)]
    node = NodeType.from_limits(limits, "longhorn", max_nodes_per_cluster=40)
    started = time.perf_counter()
    report = pack(services, node, SolveSettings(time_limit_seconds=10, num_workers=2), force_solver=True)
    wall = time.perf_counter() - started
    return {"report": report, "wall": wall}


def _lognormal(rng: np.random.Generator, spec: dict, size: int) -> np.ndarray:
    values = to_bytes(spec["median"]) * np.exp(rng.normal(0.0, spec["sigma"], size))
    return np.clip(values, to_bytes(spec["min"]), to_bytes(spec["max"])).astype(np.int64)


def bench_drain(rng: np.random.Generator, target: dict | None = None) -> dict:
    limits = shipped_limits("seed")
    alloc = limits.run_node_allocatable_bytes("longhorn")
    ram = _lognormal(rng, {"median": "2Gi", "sigma": 0.8, "min": "128Mi", "max": "32Gi"}, 500)
    drained = {
        "id": "drain-me",
        "status": "draining",
        "ctrl_node_type": "AX162-R",
        "nodes": [{"name": f"d{k}", "allocatable": alloc} for k in range(8)],
        "services": [
            {
                "name": f"s{i}",
                "ram": int(r),
                "node": f"d{i % 8}",
                "customer": f"c{i // 2}",
                **({"volume": int(rng.integers(1, 50)) * GIB} if rng.random() < 0.25 else {}),
            }
            for i, r in enumerate(ram)
        ],
    }
    clusters = [drained]
    for c in range(4):
        nodes = [{"name": f"r{c}n{k}", "allocatable": alloc} for k in range(20)]
        load = _lognormal(rng, {"median": "2Gi", "sigma": 0.8, "min": "128Mi", "max": "32Gi"}, 1500)
        services = [
            {"name": f"r{c}s{i}", "ram": int(r), "node": f"r{c}n{i % 20}", **({"volume": GIB} if i < 300 else {})}
            for i, r in enumerate(load)
        ]
        clusters.append({"id": f"r{c}", "ctrl_node_type": "AX162-R", "nodes": nodes, "services": services})
    fleet = DrainFleet.model_validate({"drain": "drain-me", "target": target or {}, "clusters": clusters})
    started = time.perf_counter()
    plan = plan_drain(fleet, limits, SolveSettings(time_limit_seconds=30, num_workers=2))
    return {"plan": plan, "wall": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=("u120", "generated", "services", "drain"))
    only = set(parser.parse_args().only or ("u120", "generated", "services", "drain"))
    seeds = np.random.SeedSequence(SEED).spawn(4)
    if "u120" in only:
        rows = bench_u120()
        console.print(bins_table("Falkenauer u120: 150 GiB run nodes, 10 s limit, 2 workers", rows))
        console.print(f"[bold]u120[/] {bins_summary(rows)}", highlight=False)
    if "generated" in only:
        rows = bench_generated(np.random.default_rng(seeds[3]))
        console.print(bins_table("Generated U[20,100] on 150: 10 s limit, 2 workers", rows))
        for count in sorted({r["items"] for r in rows}):
            summary = bins_summary([r for r in rows if r["items"] == count])
            console.print(f"[bold]generated {count}[/] {summary}", highlight=False)
    if "services" in only:
        bench_services(np.random.default_rng(seeds[0]))
    if "drain" in only:
        bench_drains(np.random.default_rng(seeds[1]))


def bench_services(rng: np.random.Generator) -> None:
    packing = bench_packing(rng)
    r = packing["report"]
    console.print(
        f"[bold]packing[/] 2000 services: L1 {r.l1_nodes}, FFD {r.ffd_nodes}, optimum {r.nodes} "
        f"{r.nodes_outcome.status} (bound {r.nodes_outcome.best_bound}, gap {r.nodes_outcome.gap}), "
        f"solver {r.nodes_outcome.wall_seconds:.2f}s, total {packing['wall']:.2f}s",
        highlight=False,
    )


def bench_drains(rng: np.random.Generator) -> None:
    state = rng.bit_generator.state
    for label, target in (("empty", None), ("under 400 GiB RAM and 40 volumes", {"ram": "400Gi", "volumes": 40})):
        rng.bit_generator.state = state  # the same fleet for both targets
        drain = bench_drain(rng, target)
        p = drain["plan"]
        console.print(
            f"[bold]drain[/] 500 services onto 4 clusters, {label}: {len(p.moves)} moves, weight "
            f"{p.total_weight}, {p.outcome.status} (bound {p.outcome.best_bound}, gap {p.outcome.gap}), "
            f"solver {p.outcome.wall_seconds:.2f}s, total {drain['wall']:.2f}s",
            highlight=False,
        )


if __name__ == "__main__":
    main()
