"""Offline CP-SAT planning: packing bounds (and how far the greedy engine is from them), drain plans and
capacity plans. The live path stays greedy (``placement.engine``); nothing here runs per request.
"""

from placement.optimize.capacity import CapacityPlan, Demand, DemandBucket, plan_capacity
from placement.optimize.drain import DrainFleet, DrainPlan, plan_drain
from placement.optimize.packing import PackingReport, Service, greedy_to_optimal_ratio, pack
from placement.optimize.solve import Infeasible, SolverOutcome, SolveSettings

__all__ = [
    "CapacityPlan",
    "Demand",
    "DemandBucket",
    "DrainFleet",
    "DrainPlan",
    "Infeasible",
    "PackingReport",
    "Service",
    "SolveSettings",
    "SolverOutcome",
    "greedy_to_optimal_ratio",
    "pack",
    "plan_capacity",
    "plan_drain",
]
