"""What every optimizer shares: solver settings, an honest solver outcome, and the infeasibility error."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

from ortools.sat.python import cp_model

MIB = 1024 * 1024


class Infeasible(ValueError):
    """The input cannot be satisfied; ``constraint`` names the constraint that makes it so."""

    def __init__(self, constraint: str, message: str) -> None:
        super().__init__(f"{constraint}: {message}")
        self.constraint = constraint


@dataclass(frozen=True, slots=True)
class SolveSettings:
    """CP-SAT's limits. ``deterministic_time_limit`` (CP-SAT's own work units, roughly seconds on one core)
    replaces the wall-clock limit when set: with one worker the answer then depends only on the model, not on
    how busy the machine is, which is what a seeded simulation needs to replay byte for byte."""

    time_limit_seconds: float = 10.0
    num_workers: int = 2
    seed: int = 0
    deterministic_time_limit: float | None = None


@dataclass(frozen=True, slots=True)
class SolverOutcome:
    """The solver's own words. ``status`` is OPTIMAL only when the bound meets the objective.

    ``method`` is ``cp-sat`` when the solver ran, or ``bound`` when a heuristic met the lower bound and the
    solver was not needed (that is a proof too).
    """

    status: str
    objective: float | None
    best_bound: float | None
    gap: float | None
    wall_seconds: float
    time_limit_seconds: float | None
    num_workers: int
    method: str = "cp-sat"
    deterministic_time_limit: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def proven_optimal(self) -> bool:
        return self.status == "OPTIMAL"


def _wall_limit(settings: SolveSettings) -> float | None:
    return None if settings.deterministic_time_limit is not None else settings.time_limit_seconds


def proven_by_bound(objective: float, settings: SolveSettings) -> SolverOutcome:
    return SolverOutcome(
        "OPTIMAL",
        objective,
        objective,
        0.0,
        0.0,
        _wall_limit(settings),
        settings.num_workers,
        method="bound",
        deterministic_time_limit=settings.deterministic_time_limit,
    )


def solve(model: cp_model.CpModel, settings: SolveSettings) -> tuple[cp_model.CpSolver, SolverOutcome]:
    solver = cp_model.CpSolver()
    if settings.deterministic_time_limit is not None:
        # No wall-clock limit here: it would make the answer depend on the machine's load.
        solver.parameters.max_deterministic_time = settings.deterministic_time_limit
    else:
        solver.parameters.max_time_in_seconds = settings.time_limit_seconds
    solver.parameters.num_workers = settings.num_workers
    solver.parameters.random_seed = settings.seed
    code = solver.solve(model)
    status = solver.status_name(code)
    objective = bound = gap = None
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        objective = solver.objective_value
        bound = solver.best_objective_bound
        gap = 0.0 if objective == bound else abs(objective - bound) / max(abs(objective), 1e-9)
    return solver, SolverOutcome(
        status,
        objective,
        bound,
        gap,
        solver.wall_time,
        _wall_limit(settings),
        settings.num_workers,
        deterministic_time_limit=settings.deterministic_time_limit,
    )


def remaining(settings: SolveSettings, started: float, deterministic_spent: float) -> SolveSettings | None:
    """``settings`` with what is left of its limit after a step that began at ``started`` (``perf_counter``) and
    used ``deterministic_spent`` of CP-SAT's deterministic time; None when nothing useful is left. The clock is the
    one the settings chose, so a deterministic run stays deterministic across steps."""
    if settings.deterministic_time_limit is not None:
        left = settings.deterministic_time_limit - deterministic_spent
        return replace(settings, deterministic_time_limit=left) if left > 0.01 else None
    left = settings.time_limit_seconds - (time.perf_counter() - started)
    return replace(settings, time_limit_seconds=left) if left > 0.01 else None


def mib_ceil(value_bytes: int) -> int:
    """CP-SAT is integer-only; demands round up to MiB so a solution in MiB never overfills in bytes."""
    return -(-value_bytes // MIB)


def mib_floor(value_bytes: int) -> int:
    return value_bytes // MIB
