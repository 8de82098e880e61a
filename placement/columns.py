"""The pipeline of ``placement.pipeline`` over a large fleet's numpy columns.

Nothing here defines a rule: the gates are the same membership tests, the limits the same ``level >
threshold`` over the catalogue's levels and each kind's thresholds, and the scores the same ``utilization``,
``least_allocated``/``most_allocated`` and curve tables, all applied to columns instead of one cluster's numbers.
Columns are built once per fleet and reused while the same fleet is passed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from placement.catalogue import LIMITS
from placement.model import Cluster, ClusterLoad
from placement.pipeline import RequestPlan
from placement.rules import CONTROL, GATES, VOLUMES, levels, utilization
from placement.scorers import ram_headroom
from placement.scoring import MAX_NODE_SCORE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _codes(values: Sequence[str]) -> tuple[dict[str, int], np.ndarray]:
    codes: dict[str, int] = {}
    return codes, np.array([codes.setdefault(v, len(codes)) for v in values], dtype=np.int64)


class FleetColumns:
    """A fleet's per-cluster numbers as numpy columns."""

    def __init__(self, pairs: tuple[tuple[Cluster, ClusterLoad], ...], max_pods_per_node: int) -> None:
        self.pairs = pairs
        self.max_pods_per_node = max_pods_per_node
        self.n = n = len(pairs)
        clusters = [cluster for cluster, _ in pairs]
        loads = [load for _, load in pairs]
        ids = [cluster.id for cluster in clusters]
        rank = np.empty(n, dtype=np.int64)
        rank[sorted(range(n), key=ids.__getitem__)] = np.arange(n)
        self.id_rank = rank  # stable: equal ids keep their input order
        self.status_codes, self.status = _codes([c.status for c in clusters])
        self.region_codes, self.region = _codes([c.region for c in clusters])
        self.kind_codes, self.kind = _codes([(c.storage_provider, ld.ctrl_node_type) for c, ld in pairs])
        self.levels = np.array([levels(ld, max_pods_per_node) for ld in loads], dtype=np.int64).reshape(n, len(LIMITS))
        self.ram_allocatable = np.array([ld.ram_allocatable_bytes for ld in loads], dtype=np.int64)
        self.ram_requested = np.array([ld.ram_requested_bytes for ld in loads], dtype=np.int64)
        # The arithmetic is only exact over columns for non-negative figures; odd data goes cluster by cluster.
        self.usable = bool(n) and int(self.levels[:, [VOLUMES, CONTROL]].min()) >= 0
        self.usable = self.usable and min(int(self.ram_requested.min()), int(self.ram_allocatable.min())) >= 0
        observed = [load.observed_at for load in loads]
        self.observed_us: np.ndarray | None = None
        if all(t is None or t.utcoffset() is not None for t in observed):
            self.has_observed = np.array([t is not None for t in observed], dtype=bool)
            self.observed_us = np.array(
                [0 if t is None else (t - _EPOCH) // _MICROSECOND for t in observed], dtype=np.int64
            )

    def ages(self, request_plan: RequestPlan) -> np.ndarray:
        """Snapshot ages in seconds as ``(now - observed_at).total_seconds()`` gives them (NaN: never observed).

        total_seconds() divides whole microseconds by 10**6 with one correct rounding; so does float64 division
        while the microsecond counts are exact in a float64 (below 2**53), which is checked.
        """
        now = request_plan.cycle.now
        if self.observed_us is not None and now.utcoffset() is not None:
            age_us = (now - _EPOCH) // _MICROSECOND - self.observed_us
            if self.n == 0 or int(np.abs(age_us).max()) < 2**53:
                return np.where(self.has_observed, age_us.astype(np.float64) / 1e6, np.nan)
        ages = [request_plan.cycle.snapshot_age_seconds(load) for _, load in self.pairs]
        return np.array([np.nan if age is None else age for age in ages], dtype=np.float64)


_FLEETS: list[FleetColumns] = []


def columns_for(clusters: Sequence[tuple[Cluster, ClusterLoad]], max_pods_per_node: int) -> FleetColumns:
    pairs = clusters if isinstance(clusters, tuple) else tuple(clusters)
    for columns in _FLEETS:
        # Equal pairs mean equal numbers (the model is frozen values), so a cached fleet is only reused for them.
        if columns.max_pods_per_node == max_pods_per_node and (
            columns.pairs is pairs or (columns.n == len(pairs) and columns.pairs == pairs)
        ):
            return columns
    columns = FleetColumns(pairs, max_pods_per_node)
    _FLEETS.insert(0, columns)
    del _FLEETS[4:]
    return columns


def _member(codes: dict[str, int], column: np.ndarray, allowed) -> np.ndarray:
    table = np.array([name in allowed for name in codes], dtype=bool)
    return table[column]


def evaluate_columns(request_plan: RequestPlan, clusters: Sequence[tuple[Cluster, ClusterLoad]]):
    """``pipeline.evaluate``'s answers for a large fleet. None: the fleet's figures need the per-cluster path."""
    plan = request_plan.plan
    columns = columns_for(clusters, plan.limits.max_pods_per_node)
    if not columns.usable:
        return None
    n = columns.n
    kinds = [request_plan.kind(provider, ctrl) for provider, ctrl in columns.kind_codes]
    footprints = [request_plan.footprint(k.provider) for k in kinds]
    kind = columns.kind

    def per_kind(value_of) -> np.ndarray:
        return np.array([value_of(k) for k in kinds], dtype=np.int64)[kind]

    def per_footprint(field: str) -> np.ndarray:
        return np.array([getattr(f, field) for f in footprints], dtype=np.int64)[kind]

    failing = np.zeros((len(GATES) + len(LIMITS), n), dtype=bool)
    if request_plan.status_gate is not None:
        failing[0] = ~_member(columns.status_codes, columns.status, request_plan.status_gate)
    if request_plan.max_age is not None:
        failing[1] = ~(columns.ages(request_plan) <= request_plan.max_age)
    in_region = None
    if request_plan.wanted is not None:
        in_region = _member(columns.region_codes, columns.region, {request_plan.wanted})
    if request_plan.region_gate is not None:
        failing[2] = ~_member(columns.region_codes, columns.region, request_plan.region_gate)
    capacities = np.array([k.capacities for k in kinds], dtype=np.int64).reshape(len(kinds), len(LIMITS))
    needs = np.array([request_plan.need(k.provider)[0] for k in kinds], dtype=np.int64).reshape(len(kinds), len(LIMITS))
    # Each catalogue limit: used + needed > capacity, as used > capacity - needed (per kind, then per cluster).
    failing[len(GATES) :] = (columns.levels > (capacities - needs)[kind]).T
    rejected = failing.any(axis=0)
    fails = np.where(rejected, failing.argmax(axis=0), -1)
    feasible = ~rejected

    w_region, w_ram, w_volume, w_control = plan.weights
    region_score = np.full(n, MAX_NODE_SCORE, dtype=np.int64) if in_region is None else in_region * MAX_NODE_SCORE
    requested = columns.ram_requested + per_footprint("ram_bytes")
    if plan.ram_fast is not None:
        ram_score = plan.ram_fast(requested, columns.ram_allocatable)
    else:
        ram_score = np.zeros(n, dtype=np.int64)
        if w_ram:
            for i in np.flatnonzero(feasible).tolist():
                cluster, load = columns.pairs[i]
                ram_score[i] = ram_headroom(request_plan.cycle, cluster, load)
    volume_capacity = per_kind(lambda k: k.volume_capacity)
    used = columns.levels[:, VOLUMES] + per_footprint("volumes")
    volume_score = (volume_capacity > 0) * np.array(plan.volume_table, dtype=np.int64)[
        utilization(used, volume_capacity, np.minimum)
    ]
    objects = columns.levels[:, CONTROL] + per_footprint("etcd_objects")
    control_tables = np.array([k.control_table for k in kinds], dtype=np.int64).reshape(len(kinds), 101)
    control_score = control_tables[kind, utilization(objects, per_kind(lambda k: k.control_capacity), np.minimum)]
    totals = region_score * w_region + ram_score * w_ram + volume_score * w_volume + control_score * w_control
    scores = request_plan.pick((region_score, ram_score, volume_score, control_score))

    best = -1
    if feasible.any():
        top = totals[feasible].max()
        candidates = np.flatnonzero(feasible & (totals == top))
        best = int(candidates[np.argmin(columns.id_rank[candidates])])

    def rows() -> list[tuple[int, ...]]:
        return list(zip(*(column.tolist() for column in scores), strict=True)) if scores else [()] * n

    return fails, rows, totals, best
