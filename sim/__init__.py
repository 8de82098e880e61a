"""capplan's growth simulator (SimPy). It places every service through ``placement.select_cluster``.

scenario = sim.load_scenario("scenarios/stage1.yaml")
result = sim.run(scenario, seed=0)          # SimResult: timeseries, events, customers, summary
result.write("out/stage1")                  # Parquet, summary.json, report.html
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.results import SimResult, collect
from sim.scenario import Scenario, load_scenario


def run(
    scenario: Scenario,
    seed: int | np.random.SeedSequence = 0,
    *,
    progress: Callable[[float], None] | None = None,
    profile: str | None = None,
) -> SimResult:
    """Run one replication. ``seed`` is an int or a ``SeedSequence``; ``profile`` overrides the scenario's."""
    from sim.model import Simulation

    return collect(Simulation(scenario, seed, profile=profile, progress=progress).run())


# Imported eagerly, after run: binds ``sim.sweep`` to the function (the module stays importable as sim.sweep).
from sim.sweep import SweepResult, sweep  # noqa: E402

__all__ = ["Scenario", "SimResult", "SweepResult", "load_scenario", "run", "sweep"]
