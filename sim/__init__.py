"""capplan's growth simulator (SimPy). It places every service through ``placement.select_cluster``.

scenario = sim.load_scenario("scenarios/stage1.yaml")
result = sim.run(scenario, seed=0)          # SimResult: timeseries, events, customers, summary
result.write("out/stage1")                  # Parquet, summary.json, report.html
sweep = sim.sweep(scenario, 100, vary=["longhorn.max_volumes=catalog"])   # SweepResult: bands, first shard...

The scenario (``sim.scenario``, ``sim.distributions``) is declarative; ``sim.simulation`` runs it with one SimPy
process per driver (``sim.processes``) over a shared world (``sim.world``) and log (``sim.log``).
"""

from __future__ import annotations

from sim import sweep  # the subpackage, callable as sim.sweep(...)
from sim.results import SimResult
from sim.scenario import Scenario, load_scenario
from sim.simulation import run
from sim.sweep import SweepResult

__all__ = ["Scenario", "SimResult", "SweepResult", "load_scenario", "run", "sweep"]
