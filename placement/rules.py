"""The rules of the placement pipeline, defined once: gates and limits (filters), then the score plugins.

Every rule is written once, as arithmetic that reads the same over one cluster's numbers and over a fleet's
numpy columns (``placement.pipeline`` runs it a cluster at a time, ``placement.columns`` on columns):

- the status and region gates are membership tests of a cluster attribute;
- the snapshot-age rule is ``not age <= max_age`` (an unknown age is NaN, which fails it);
- every limit of ``placement.catalogue`` is ``level + needed > capacity``: the level read from the load, what
  the placement needs (its footprint), the capacity per kind of cluster (storage provider, control-plane type);
- the volume and control-plane scores are a RequestedToCapacityRatio curve (a 101-entry table built from
  ``placement.scoring``) at ``utilization(used + needed, capacity)``, and the RAM score kube-scheduler's
  NodeResourcesFit strategy (``least_allocated``/``most_allocated`` below, or the general functions).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from placement.catalogue import LIMITS, UNBOUNDED
from placement.model import ClusterLoad
from placement.scoring import MAX_NODE_SCORE, requested_to_capacity_ratio

GATES = ("status", "snapshot-age", "region")
FILTER_NAMES: tuple[str, ...] = GATES + tuple(dict.fromkeys(limit.filter for limit in LIMITS))
# Rule number -> filter number: the gates, then one rule per catalogue limit.
RULE_FILTER: tuple[int, ...] = (0, 1, 2, *(FILTER_NAMES.index(limit.filter) for limit in LIMITS))
VOLUMES, CONTROL = (
    next(i for i, limit in enumerate(LIMITS) if limit.key == key) for key in ("volumes", "control_plane_objects")
)
ACTIVE = frozenset({"active"})


# kube-scheduler's resourceScoringFunction input, 0..100, as source over ``used`` and ``capacity``: the ratio, the
# cap (used above capacity is full), then the result (odd negative figures count as empty). ``utilization`` is made
# from it, and ``placement.pipeline.evaluate`` writes it inline (``utilization_lines``): two calls a cluster were ~5 %
# of a decision.
UTILIZATION = ("value = used * 100 // (capacity + (capacity <= 0))", "100", "value * (value > 0)")


def utilization_lines(used: str, capacity: str, into: str, indent: str) -> str:
    """``into = utilization(used, capacity)`` as inline statements (``used`` and ``capacity`` are expressions). The
    cap is a comparison, not ``min``: a call of the builtin ``min`` costs more than the rest of the rule."""
    names = {"used": f"({used})", "capacity": capacity, "value": into}
    ratio, cap, result = (
        re.sub(r"\b(used|capacity|value)\b", lambda m: names[m.group(1)], line) for line in UTILIZATION
    )
    return f"{indent}{ratio}\n{indent}if {into} > {cap}:\n{indent}    {into} = {cap}\n{indent}{into} = {result}"


def _utilization_function() -> Callable:
    ratio, cap, result = UTILIZATION
    body = f"    {ratio}\n    value = minimum(value, {cap})\n    return {result}\n"
    source = f"def utilization(used, capacity, minimum=min):\n{body}"
    namespace: dict = {}
    exec(compile(source, "<placement.rules.utilization>", "exec"), namespace)
    function = namespace["utilization"]
    function.__doc__ = "``UTILIZATION``; ``minimum`` is the element-wise min (``numpy.minimum`` over columns)."
    return function


utilization = _utilization_function()


# kube-scheduler's NodeResourcesFit LeastAllocated and MostAllocated on memory alone, for non-negative figures, as
# source over ``requested`` and ``capacity`` (statements, then the score), as ``UTILIZATION`` is: the functions
# below are made from it, and ``placement.pipeline.evaluate`` writes the policy's inline (``ram_score_lines``).
RAM_SCORES = {
    "least_allocated": (
        ("fits = (capacity > 0) * (requested <= capacity)",),
        "fits * ((capacity - requested) * MAX_NODE_SCORE // (capacity + (capacity <= 0)))",
    ),
    "most_allocated": (
        ("over = requested > capacity", "clipped = over * capacity + (1 - over) * requested"),
        "(capacity > 0) * (clipped * MAX_NODE_SCORE // (capacity + (capacity <= 0)))",
    ),
}


def ram_score_lines(strategy: str, into: str, indent: str) -> str:
    """``into = <strategy>(requested, capacity)`` as inline statements over the locals ``requested`` and
    ``capacity`` (the rule's own names are prefixed ``ram_``)."""
    statements, result = RAM_SCORES[strategy]
    rename = {"fits": "ram_fits", "over": "ram_over", "clipped": "ram_clipped"}

    def named(line: str) -> str:
        return re.sub(r"\b(fits|over|clipped)\b", lambda m: rename[m.group(1)], line)

    return "\n".join(f"{indent}{named(line)}" for line in (*statements, f"{into} = {result}"))


def _ram_score_function(strategy: str) -> Callable:
    statements, result = RAM_SCORES[strategy]
    body = "".join(f"    {line}\n" for line in statements)
    source = f"def {strategy}(requested, capacity):\n{body}    return {result}\n"
    namespace: dict = {"MAX_NODE_SCORE": MAX_NODE_SCORE}
    exec(compile(source, f"<placement.rules.{strategy}>", "exec"), namespace)
    function = namespace[strategy]
    function.__doc__ = f"NodeResourcesFit {strategy} on memory alone, for non-negative figures (``RAM_SCORES``)."
    return function


least_allocated = _ram_score_function("least_allocated")
most_allocated = _ram_score_function("most_allocated")


def curve_table(shape: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """A single-resource RequestedToCapacityRatio score for every utilization 0..100, from the general function."""
    return tuple(
        requested_to_capacity_ratio({"r": utilization}, {"r": 100}, {"r": 1}, shape) for utilization in range(101)
    )


def _levels_function(count: int) -> Callable[[ClusterLoad, object], tuple[int, ...]]:
    """``read_levels(load, limits)``: each catalogue limit's ``level``, generated as one tuple expression (as
    ``placement.pipeline.evaluate`` is) so that a load's levels cost the limits' own rules and nothing more: a level
    kept as source (``placement.catalogue.on_load``) is written inline, any other called."""
    entries = [
        f"({limit.level.source})" if hasattr(limit.level, "source") else f"level_{i}(load, limits)"
        for i, limit in enumerate(LIMITS[:count])
    ]
    namespace: dict = {f"level_{i}": limit.level for i, limit in enumerate(LIMITS)} | {"UNBOUNDED": UNBOUNDED}
    source = f"def read_levels(load, limits):\n    return ({', '.join(entries)},)"
    exec(compile(source, "<placement.rules.levels>", "exec"), namespace)
    return namespace["read_levels"]


_read_levels = _levels_function(len(LIMITS))


def levels(load: ClusterLoad, max_pods_per_node: int) -> tuple[int, ...]:
    """Each catalogue limit's level on this load (cached on the load: a snapshot never changes).

    The levels read the limits profile only through its pods-per-node default, which keys the cache.
    """
    key = ("levels", max_pods_per_node)
    found = load._cache.get(key)
    if found is None:
        pods_only = _PODS_ONLY.get(max_pods_per_node) or _pods_only(max_pods_per_node)
        found = load._cache[key] = _read_levels(load, pods_only)
    return found


@dataclass(frozen=True, slots=True)
class _PodsOnly:
    max_pods_per_node: int


_PODS_ONLY: dict[int, _PodsOnly] = {}


def _pods_only(max_pods_per_node: int) -> _PodsOnly:
    found = _PODS_ONLY.get(max_pods_per_node)
    if found is None:
        if len(_PODS_ONLY) >= 64:
            _PODS_ONLY.clear()
        found = _PODS_ONLY[max_pods_per_node] = _PodsOnly(max_pods_per_node)
    return found
