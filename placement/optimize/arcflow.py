"""Arc-flow bin packing (Valério de Carvalho, 1999) with graph compression (Brandão and Pedroso, 2016), on CP-SAT.

A bin's content is a path through positions 0..C: an arc (d, d + w) places an item of size w at offset d, and a
loss arc ends the bin anywhere. Packing n items into k bins is then an integer flow of k units out of the source in
which each item type's arcs carry exactly its count. The graph is built with items in decreasing size, an item's
arcs starting only where larger items (or up to count-1 copies of itself) can end, so each pattern is one path.
Compression then lifts every node to the highest label its remaining sub-paths allow (label(u) = min over arcs
(u, v, w) of label(v) - w); nodes with equal labels merge, and every path of the smaller graph is still a valid
pattern because the labels rise by at least the size of each arc's item.

The LP relaxation of this model is as strong as Gilmore-Gomory's (the bound is almost always the optimum), which is
why CP-SAT, given the question "do the items fit in exactly k bins?", answers it on Falkenauer-sized instances in
about a second where an assignment model (item x node booleans) fails to close the gap in minutes. ``pack_1d``
asks that question for k = lower bound, lower bound + 1, ... below the best known packing: a yes is a packing with
k bins, a no proves k + 1 is a lower bound. One dimension only: the caller checks the other limits.

Sizes are integers in a unit (MiB for RAM) and are discretised further when the capacity spans more than
``MAX_POSITIONS`` units, or the graph has more than ``MAX_ARCS`` arcs (the unit then doubles until it has not): the
graph's size grows with the number of positions and of distinct sizes. When the unit does not divide every
size, packings come from sizes rounded up and the capacity rounded down (never overfull in bytes), and
infeasibility proofs from sizes rounded down (a relaxation of the true problem); a k where the two disagree is
left unproven.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import reduce

import numpy as np
from ortools.sat.python import cp_model

from placement.optimize.solve import SolveSettings, remaining, solve

MAX_POSITIONS = 2048
MAX_ARCS = 60_000  # a CP-SAT model of this many flow variables builds in about a second


@dataclass(frozen=True, slots=True)
class Discretisation:
    """``unit`` input units per model unit; ``exact`` when the unit divides every size and the capacity."""

    unit: int
    exact: bool
    capacity: int  # in model units, rounded down


def discretise(sizes: np.ndarray, capacity: int, max_positions: int = MAX_POSITIONS) -> Discretisation:
    """The coarsest exact unit (the gcd of sizes and capacity) if it keeps the capacity within ``max_positions``
    units; otherwise the smallest power-of-two unit that does."""
    gcd = reduce(math.gcd, (int(s) for s in np.unique(sizes)), int(capacity)) or 1
    if capacity // gcd <= max_positions:
        unit = gcd
    else:
        unit = 1 << math.ceil(math.log2(capacity / max_positions))
    exact = capacity % unit == 0 and bool((np.asarray(sizes) % unit == 0).all())
    return Discretisation(unit, exact, capacity // unit)


@dataclass(slots=True)
class Graph:
    """Compressed arc-flow graph: item types by decreasing width, arcs as (tail, head, type) over node labels."""

    widths: np.ndarray
    counts: np.ndarray
    source: int
    arcs: list[tuple[int, int, int]]

    @property
    def nodes(self) -> list[int]:
        return sorted({self.source} | {a[0] for a in self.arcs} | {a[1] for a in self.arcs})


def build_graph(widths: np.ndarray, counts: np.ndarray, capacity: int, max_arcs: int | None = None) -> Graph | None:
    """``widths`` distinct and decreasing, all in 1..capacity; ``counts`` items of each. None when the graph
    would have more than ``max_arcs`` arcs before compression."""
    reach = np.zeros(capacity + 1, dtype=bool)
    reach[0] = True
    starts = np.zeros((len(widths), capacity + 1), dtype=bool)  # starts[t, p]: an arc of type t leaves p
    for kind, (width, count) in enumerate(zip(widths.tolist(), counts.tolist(), strict=True)):
        for copies in range(min(count, capacity // width)):
            shift = copies * width  # after `copies` items of this type placed back to back
            starts[kind, shift:] |= reach[: capacity + 1 - shift]
        starts[kind, capacity - width + 1 :] = False
        reach[np.flatnonzero(starts[kind]) + width] = True
    if max_arcs is not None and int(starts.sum()) > max_arcs:
        return None
    label = np.full(capacity + 1, capacity, dtype=np.int64)
    for position in np.flatnonzero(starts.any(axis=0))[::-1]:
        leaving = widths[starts[:, position]]
        label[position] = min(capacity, int((label[position + leaving] - leaving).min()))
    kinds, tails = np.nonzero(starts)
    heads = tails + widths[kinds]
    compressed = np.unique(np.column_stack([label[tails], label[heads], kinds]), axis=0)
    arcs = [(int(t), int(h), int(k)) for t, h, k in compressed]
    return Graph(widths, counts, int(label[0]), arcs)


@dataclass(frozen=True, slots=True)
class OneDimResult:
    """``lower``: a proven lower bound; ``bins``: each bin's item indices for the best packing found (None when
    none better than the caller's was found); ``solves``: (k, model, status) per CP-SAT call."""

    lower: int
    bins: list[list[int]] | None
    discretisation: Discretisation
    wall_seconds: float
    deterministic_seconds: float
    solves: tuple[tuple[int, str, str], ...]


def _types(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Distinct positive sizes in decreasing order, their counts and item indices (zero sizes go with the first)."""
    widths, inverse, counts = np.unique(sizes, return_inverse=True, return_counts=True)
    order = np.argsort(-widths, kind="stable")
    members: list[list[int]] = [[] for _ in widths]
    for item, kind in enumerate(inverse.tolist()):
        members[kind].append(item)
    return widths[order], counts[order], [members[k] for k in order.tolist()]


def _feasible_k(graph: Graph, k: int, settings: SolveSettings) -> tuple[str, list[list[int]] | None, cp_model.CpSolver]:
    """Can the graph's items go into k bins? (status, each bin's item types, solver)."""
    model = cp_model.CpModel()
    flow = [model.new_int_var(0, int(graph.counts[kind]), f"f{i}") for i, (_, _, kind) in enumerate(graph.arcs)]
    inflow: dict[int, list] = {n: [] for n in graph.nodes}
    outflow: dict[int, list] = {n: [] for n in graph.nodes}
    by_type: list[list] = [[] for _ in graph.widths]
    for var, (tail, head, kind) in zip(flow, graph.arcs, strict=True):
        outflow[tail].append(var)
        inflow[head].append(var)
        by_type[kind].append(var)
    for node in graph.nodes:
        loss = model.new_int_var(0, k, f"loss{node}")  # bins that end here (empty ones at the source)
        model.add(sum(inflow[node]) + (k if node == graph.source else 0) == sum(outflow[node]) + loss)
    for kind, arcs in enumerate(by_type):
        model.add(sum(arcs) == int(graph.counts[kind]))
    solver, outcome = solve(model, settings)
    if outcome.status not in ("OPTIMAL", "FEASIBLE"):
        return outcome.status, None, solver
    remaining = [solver.value(v) for v in flow]
    leaving: dict[int, list[int]] = {}
    for index, (tail, _, _) in enumerate(graph.arcs):
        leaving.setdefault(tail, []).append(index)
    bins: list[list[int]] = []
    # Any path of the graph is a valid pattern, so walking the integer flow arc by arc yields valid bins.
    while any(remaining[i] for i in leaving.get(graph.source, [])):
        node, kinds = graph.source, []
        while (index := next((i for i in leaving.get(node, []) if remaining[i]), None)) is not None:
            remaining[index] -= 1
            kinds.append(graph.arcs[index][2])
            node = graph.arcs[index][1]
        bins.append(kinds)
    return "FEASIBLE", bins, solver


def pack_1d(sizes: np.ndarray, capacity: int, lower: int, upper: int, settings: SolveSettings) -> OneDimResult:
    """The fewest bins of ``capacity`` for ``sizes`` between a proven ``lower`` and a known packing's ``upper``
    node count, within ``settings``' limit (wall-clock or deterministic, shared by all the solves)."""
    started = time.perf_counter()
    sizes = np.asarray(sizes, dtype=np.int64)
    positions = MAX_POSITIONS
    while True:
        grid = discretise(sizes, capacity, positions)
        up = -(-sizes // grid.unit)
        positive = np.flatnonzero(up)
        widths, counts, members = _types(up[positive])
        packing = build_graph(widths, counts, grid.capacity, None if grid.capacity < 64 else MAX_ARCS)
        if packing is not None:
            break
        positions = grid.capacity // 2
    members = [[int(positive[i]) for i in kind] for kind in members]
    relaxed = None
    if not grid.exact:
        down = sizes // grid.unit
        kept = down[down > 0]
        if len(kept):
            relaxed_widths, relaxed_counts, _ = _types(kept)
            relaxed = build_graph(relaxed_widths, relaxed_counts, grid.capacity)
    solves: list[tuple[int, str, str]] = []
    spent = [0.0]  # deterministic time used so far by all the solves

    def attempt(graph: Graph, k: int, model: str, share: float = 1.0) -> tuple[str, list[list[int]] | None]:
        budget = remaining(settings, started, spent[0])
        if budget is None:
            return "UNKNOWN", None
        if share < 1.0:
            budget = replace(
                budget,
                time_limit_seconds=budget.time_limit_seconds * share,
                deterministic_time_limit=budget.deterministic_time_limit and budget.deterministic_time_limit * share,
            )
        status, found, solver = _feasible_k(graph, k, budget)
        spent[0] += solver.response_proto.deterministic_time
        solves.append((k, model, status))
        return status, found

    proven = lower  # every k below it is proven infeasible
    bins = None
    for k in range(lower, upper):
        if relaxed is not None and proven == k:
            # Rounded units: only the rounded-down relaxation proves that no k-bin packing exists.
            status, _ = attempt(relaxed, k, "rounded-down", 0.4)
            if status == "INFEASIBLE":
                proven = k + 1
                continue
            if status != "FEASIBLE":
                break  # out of time
        # With rounded units, k bins may be a true optimum that rounding up no longer fits: a share of the time
        # only, so a packing with k + 1 is still looked for.
        status, found = attempt(packing, k, "rounded-up", 1.0 if relaxed is None else 0.4)
        if found is not None:
            pools = [list(m) for m in members]
            bins = [[pools[kind].pop() for kind in kinds] for kinds in found]
            bins = [b for b in bins if b] or [[]]
            # Items that round to zero units take no room: they join the first bin.
            bins[0].extend(int(i) for i in np.flatnonzero(up == 0))
            break
        if relaxed is None:
            if status != "INFEASIBLE":
                break  # out of time
            proven = k + 1  # exact units: no k-bin packing exists
    return OneDimResult(proven, bins, grid, time.perf_counter() - started, spent[0], tuple(solves))
