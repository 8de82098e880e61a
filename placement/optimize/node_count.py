"""The fewest nodes for a multi-dimensional demand, with a proof when one can be had.

In order, each step only when the previous ones left a gap between the best packing and the best lower bound:

1. Lower bounds: L1 in every column, Martello–Toth L2 on RAM.
2. Packings: first-fit and best-fit decreasing, and a balanced worst-fit into L, L+1, ... nodes.
3. Arc-flow on RAM (``placement.optimize.arcflow``): proves the one-dimensional optimum or raises the bound. RAM
   is the only dimension arc-flow models, so its packing is kept only if it also meets every other column (after
   re-dealing same-sized services between its nodes to balance pods, volumes and objects).
4. The assignment model (service x node booleans) on every dimension at once, from the best packing as a hint,
   with the best lower bound as a constraint: it repairs what arc-flow's packing breaks in the other columns and
   proves what it can in the time left.

The status is OPTIMAL only when a packing meets a proven bound; the method names the step that closed the gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from ortools.sat.python import cp_model

from placement.optimize.arcflow import OneDimResult, pack_1d
from placement.optimize.heuristics import bfd_nodes, ffd_nodes, fits, l1_bound, l2_bound, worst_fit_into
from placement.optimize.solve import MIB, SolverOutcome, SolveSettings, proven_by_bound, remaining, solve


@dataclass(frozen=True, slots=True)
class NodeCount:
    l1: int
    l2: int
    ffd: int
    nodes: int
    outcome: SolverOutcome
    node_of: np.ndarray
    ffd_node_of: np.ndarray
    arcflow: OneDimResult | None

    @property
    def discretisation_note(self) -> str:
        """How RAM was rounded, in words an operator reads next to the node count."""
        base = "RAM in MiB: service needs rounded up, node capacity down"
        if self.arcflow is None:
            return base
        grid = self.arcflow.discretisation
        unit = grid.unit * MIB
        unit_text = f"{unit // 1024**3} GiB" if unit % 1024**3 == 0 else f"{unit // MIB} MiB"
        if grid.exact:
            return f"{base}; arc-flow on {grid.capacity} positions of {unit_text} (exact: the unit divides every size)"
        return (
            f"{base}; arc-flow on {grid.capacity} positions of {unit_text}: packings with needs rounded up and "
            "capacity down, infeasibility proofs with needs rounded down"
        )


def _balance_same_sizes(demand: np.ndarray, capacity: np.ndarray, node_of: np.ndarray) -> np.ndarray:
    """Re-deal services of equal RAM between the nodes arc-flow gave them to, heaviest in the other columns first,
    each onto the slot whose node has the most room left there: RAM per node is unchanged."""
    if demand.shape[1] == 1:
        return node_of
    other = demand[:, 1:]
    scale = np.maximum(capacity[1:], 1).astype(np.float64)
    used = np.zeros((int(node_of.max()) + 1, other.shape[1]), dtype=np.int64)  # other columns, as dealt so far
    balanced = node_of.copy()
    for size in np.unique(demand[:, 0]):
        items = np.flatnonzero(demand[:, 0] == size)
        slots = list(node_of[items])
        for item in items[np.argsort(-(other[items] / scale).max(axis=1), kind="stable")]:
            room = [((capacity[1:] - used[b] - other[item]) / scale).min() for b in slots]
            chosen = slots.pop(int(np.argmax(room)))
            used[chosen] += other[item]
            balanced[item] = chosen
    return balanced


def _assignment_model(
    demand: np.ndarray, capacity: np.ndarray, hint: np.ndarray, lower: int, settings: SolveSettings
) -> tuple[SolverOutcome, np.ndarray | None]:
    """CP-SAT over service x node booleans, with ``hint``'s node count as the slots and ``lower`` as a bound."""
    slots = range(int(hint.max()) + 1)
    largest = int(np.argmax(demand[:, 0]))
    # Node labels are interchangeable: relabel the hint so that it keeps the largest service on node 0.
    swap = int(hint[largest])
    hint = np.where(hint == swap, 0, np.where(hint == 0, swap, hint))
    model = cp_model.CpModel()
    used = [model.new_bool_var(f"node{b}") for b in slots]
    on = [[model.new_bool_var(f"s{i}n{b}") for b in slots] for i in range(len(demand))]
    for i, row in enumerate(on):
        model.add_exactly_one(row)
        for b in slots:
            model.add_hint(row[b], int(hint[i]) == b)
    for b in slots:
        for d in range(demand.shape[1]):
            column = demand[:, d]
            if d == 0 or column.sum() > capacity[d]:  # RAM always: it ties the services to used nodes
                model.add(sum(int(column[i]) * on[i][b] for i in np.flatnonzero(column)) <= int(capacity[d]) * used[b])
        model.add_hint(used[b], True)
        if b + 1 < len(slots):
            model.add(used[b] >= used[b + 1])
    # The largest service can always go on the first node.
    model.add(on[largest][0] == 1)
    model.add(sum(used) >= lower)
    model.minimize(sum(used))
    solver, outcome = solve(model, settings)
    if outcome.objective is None:
        return outcome, None
    node_of = np.array([next(b for b in slots if solver.value(on[i][b])) for i in range(len(demand))])
    return outcome, node_of


def _left(settings: SolveSettings, started: float, arcflow: OneDimResult | None) -> SolveSettings:
    spent = 0.0 if arcflow is None else arcflow.deterministic_seconds
    # With the limit used up the model still gets a moment: enough to return the hint as its solution.
    deterministic = None if settings.deterministic_time_limit is None else 0.01
    return remaining(settings, started, spent) or replace(
        settings, time_limit_seconds=0.01, deterministic_time_limit=deterministic
    )


def min_nodes(demand: np.ndarray, capacity: np.ndarray, settings: SolveSettings, force_solver: bool) -> NodeCount:
    """The fewest nodes holding ``demand`` within ``capacity`` in every column. ``force_solver`` runs the assignment
    model even when a heuristic meets the bound (its method is then ``cp-sat``)."""
    started = time.perf_counter()
    l1 = l1_bound(demand, capacity)
    l2 = l2_bound(demand[:, 0], int(capacity[0]))
    lower = max(l1, l2)
    ffd_assign = ffd_nodes(demand, capacity)
    ffd = int(ffd_assign.max()) + 1
    hint = min((ffd_assign, bfd_nodes(demand, capacity)), key=lambda packing: int(packing.max()))
    for nodes in range(lower, min(int(hint.max()) + 1, lower + 8)):
        balanced = worst_fit_into(demand, capacity, nodes)
        if balanced is not None:
            hint = balanced
            break
    best = int(hint.max()) + 1
    if best == lower and not force_solver:
        return NodeCount(l1, l2, ffd, best, proven_by_bound(best, settings), hint, ffd_assign, None)

    arcflow = None
    if best > lower:
        arcflow = pack_1d(demand[:, 0], int(capacity[0]), lower, best, settings)
        lower = max(lower, arcflow.lower)
        if arcflow.bins is not None:
            packed = np.empty(len(demand), dtype=np.int64)
            for b, items in enumerate(arcflow.bins):
                packed[items] = b
            packed = _balance_same_sizes(demand, capacity, packed)
            if fits(demand, capacity, packed):
                hint, best = packed, int(packed.max()) + 1
        if best == lower and not force_solver:
            outcome = replace(
                proven_by_bound(best, settings), method="arc-flow", wall_seconds=time.perf_counter() - started
            )
            return NodeCount(l1, l2, ffd, best, outcome, hint, ffd_assign, arcflow)

    outcome, node_of = _assignment_model(demand, capacity, hint, lower, _left(settings, started, arcflow))
    # The outcome speaks for the whole search: the caller's limit, the time of every step.
    limit = None if settings.deterministic_time_limit is not None else settings.time_limit_seconds
    outcome = replace(outcome, time_limit_seconds=limit, wall_seconds=time.perf_counter() - started)
    if node_of is None:
        # The heuristic's packing is a solution, so UNKNOWN only means the limit came before the model was searched;
        # when that packing meets the bound it is still a proof (a forced solve that ran out of time).
        if best <= lower:
            proof = {"status": "OPTIMAL", "objective": float(best), "best_bound": float(best), "gap": 0.0}
            outcome = replace(outcome, method="bound", **proof)
        else:
            outcome = replace(outcome, best_bound=float(lower))
        return NodeCount(l1, l2, ffd, best, outcome, hint, ffd_assign, arcflow)
    nodes = int(round(outcome.objective))
    bound = max(lower, int(np.ceil(outcome.best_bound - 1e-6)))
    if nodes <= bound:
        outcome = replace(outcome, status="OPTIMAL", best_bound=float(nodes), gap=0.0)
    elif bound > outcome.best_bound:
        outcome = replace(outcome, best_bound=float(bound), gap=(nodes - bound) / nodes)
    return NodeCount(l1, l2, ffd, nodes, outcome, node_of, ffd_assign, arcflow)
