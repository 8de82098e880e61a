"""Shared by the simulator benchmarks: time one run of a scenario and report its peak RSS."""

from __future__ import annotations

import os
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
