"""Shared by the simulator benchmarks: time one run of a scenario and report its peak RSS."""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import time
from pathlib import Path

import sim

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def pin_to_one_core() -> str:
    """The targets are for one core; pin the process when the OS allows it."""
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned"


def timed_run(name: str, seed: int = 0, *, packing_checks: bool = False) -> tuple[float, sim.SimResult]:
    """One run; the scenario's CP-SAT packing checks are dropped unless asked for (``bench.sim_packing`` times
    those), so the figure is the simulator's own."""
    scenario = sim.load_scenario(SCENARIOS / f"{name}.yaml")
    if not packing_checks:
        scenario = scenario.model_copy(update={"packing_checks": None})
    started = time.perf_counter()
    result = sim.run(scenario, seed)
    return time.perf_counter() - started, result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def describe(result: sim.SimResult) -> str:
    s = result.summary
    return (
        f"{s['customers_signed_up']} sign-ups, {s['customers_end']} customers at the end, "
        f"{s['placements_attempted']} placements ({s['placements_rejected']} rejected), "
        f"{s['clusters_end']} clusters, {s['run_nodes_end']} run nodes"
    )


def benchmark_main(doc: str, title: str, scenario: str, target_seconds: float, target_rss_mib: float) -> None:
    """The command line of a one-scenario benchmark: time one run (pinned to one core), its RSS, the targets."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="print the top functions by own time")
    parser.add_argument(
        "--packing-checks", action="store_true", help="keep the scenario's CP-SAT packing checks (off: the sim alone)"
    )
    args = parser.parse_args()
    print(f"{title} ({pin_to_one_core()})")
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    seconds, result = timed_run(scenario, args.seed, packing_checks=args.packing_checks)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    rss = peak_rss_mib()
    print(f"  {describe(result)}")
    print(
        f"wall {seconds:.1f} s ({'within' if seconds <= target_seconds else 'OVER'} {target_seconds:g} s), "
        f"peak RSS {rss:.0f} MiB ({'within' if rss <= target_rss_mib else 'OVER'} {target_rss_mib:g} MiB)"
    )
