"""Benchmark of ``placement.optimize``: ``python -m bench.optimize``.

1. 2,000 services (RAM lognormal mu=1.0, sigma=0.9 GiB, as in ecosystem.md §3) on at most 40 run nodes:
   CP-SAT forced to run (no FFD=L1 shortcut), 2 workers, 10 s limit.
2. A drain plan for a 500-service cluster onto 4 others (20 run nodes each, partly loaded), 30 s limit.

The greedy-to-optimal ratio on the shipped stage scenarios is measured in simulation runs by ``bench.sim_packing``
(the simulator's packing checks), no longer on synthetic demand here.
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console

from placement.limits import shipped_limits
from placement.optimize import DrainFleet, Service, SolveSettings, pack, plan_drain
from placement.optimize.packing import NodeType
from placement.units import to_bytes

GIB = 1024**3
MIB = 1024**2
SEED = 20260401
console = Console(width=150)


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
    seeds = np.random.SeedSequence(SEED).spawn(3)
    packing = bench_packing(np.random.default_rng(seeds[0]))
    r = packing["report"]
    console.print(
        f"[bold]packing[/] 2000 services: L1 {r.l1_nodes}, FFD {r.ffd_nodes}, optimum {r.nodes} "
        f"{r.nodes_outcome.status} (bound {r.nodes_outcome.best_bound}, gap {r.nodes_outcome.gap}), "
        f"solver {r.nodes_outcome.wall_seconds:.2f}s, total {packing['wall']:.2f}s",
        highlight=False,
    )
    for label, target in (("empty", None), ("under 400 GiB RAM and 40 volumes", {"ram": "400Gi", "volumes": 40})):
        drain = bench_drain(np.random.default_rng(seeds[1]), target)
        p = drain["plan"]
        console.print(
            f"[bold]drain[/] 500 services onto 4 clusters, {label}: {len(p.moves)} moves, weight "
            f"{p.total_weight}, {p.outcome.status} (bound {p.outcome.best_bound}, gap {p.outcome.gap}), "
            f"solver {p.outcome.wall_seconds:.2f}s, total {drain['wall']:.2f}s",
            highlight=False,
        )


if __name__ == "__main__":
    main()
