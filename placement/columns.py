"""The pipeline of ``placement.pipeline`` over a large fleet's numpy columns.

Nothing here defines a rule: the gates are the same membership tests and the same datetime comparison (as
whole microseconds), the limits the same ``level > threshold`` over the catalogue's levels and each kind's
thresholds (the request plan's slots), and the scores the same ``utilization``, ``least_allocated``/
``most_allocated`` and curve tables, all applied to columns instead of one cluster's numbers.

Columns are built once per fleet and reused while the same fleet is passed again; what a policy fixes per kind
of cluster (capacities, curve tables) is kept with them per policy. A request then costs a fixed number of
numpy operations, whatever the fleet's size. Which rule turned each cluster down is only worked out when an
explanation asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import compress
from operator import is_not

import numpy as np

from placement.catalogue import LIMITS, UNBOUNDED
from placement.model import Cluster, ClusterLoad
from placement.pipeline import PolicyPlan, RequestPlan
from placement.pipeline_evaluate import SIZED_LIMITS
from placement.rules import CONTROL, GATES, VOLUMES, levels, utilization
from placement.scorers import ram_headroom
from placement.scoring import MAX_NODE_SCORE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NEVER = np.iinfo(np.int64).min  # the observed time of a load never observed: before any oldest time allowed


def _codes(values: Sequence) -> tuple[dict, np.ndarray]:
    codes: dict = {}
    return codes, np.array([codes.setdefault(v, len(codes)) for v in values], dtype=np.int64)


def _microseconds(moment: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch: ordered exactly as the datetimes are."""
    return (moment - _EPOCH) // _MICROSECOND


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
        # Ties go to the smallest id: among equal totals, the largest ``totals * n + preference`` wins.
        self.preference = n - 1 - rank
        self.status_codes, self.status = _codes([c.status for c in clusters])
        self.region_codes, self.region = _codes([c.region for c in clusters])
        self.kind_codes, self.kind = _codes([(c.storage_provider, ld.ctrl_node_type) for c, ld in pairs])
        self.levels = np.array([levels(ld, max_pods_per_node) for ld in loads], dtype=np.int64).reshape(n, len(LIMITS))
        self.ram_allocatable = np.array([ld.ram_allocatable_bytes for ld in loads], dtype=np.int64)
        self.ram_requested = np.array([ld.ram_requested_bytes for ld in loads], dtype=np.int64)
        # The arithmetic is only exact over columns for non-negative figures; odd data goes cluster by cluster.
        self.usable = bool(n) and int(self.levels[:, [VOLUMES, CONTROL]].min()) >= 0
        self.usable = self.usable and min(int(self.ram_requested.min()), int(self.ram_allocatable.min())) >= 0
        self.volume_levels = np.ascontiguousarray(self.levels[:, VOLUMES])
        self.control_levels = np.ascontiguousarray(self.levels[:, CONTROL])
        observed = [load.observed_at for load in loads]
        self.observed_us: np.ndarray | None = None
        if all(t is None or t.utcoffset() is not None for t in observed):
            self.observed_us = np.array([_NEVER if t is None else _microseconds(t) for t in observed], dtype=np.int64)
        self._members: dict = {}
        self._plans: dict[int, tuple[PolicyPlan, tuple]] = {}
        self._sized_quiet: tuple[PolicyPlan, list[bool]] | None = None

    def with_loads(self, pairs: tuple[tuple[Cluster, ClusterLoad], ...]) -> FleetColumns | None:
        """These columns for ``pairs``: the same clusters in the same order, a few of them with a new load (the
        simulator's fleet after a placement). Only the changed clusters' rows are read again; None when that does
        not apply (another cluster, a new kind of cluster, many changes, figures the columns cannot hold)."""
        old = self.pairs
        changed = list(compress(range(self.n), map(is_not, old, pairs)))  # in C: a fleet of 100 costs ~2 µs
        if len(changed) > max(8, self.n // 8) or not self.usable:
            return None
        loads = []
        for i in changed:
            cluster, load = pairs[i]
            if cluster is not old[i][0] or (cluster.storage_provider, load.ctrl_node_type) not in self.kind_codes:
                return None
            loads.append(load)
        rows = np.array([levels(ld, self.max_pods_per_node) for ld in loads], dtype=np.int64).reshape(-1, len(LIMITS))
        allocatable = np.array([ld.ram_allocatable_bytes for ld in loads], dtype=np.int64)
        requested = np.array([ld.ram_requested_bytes for ld in loads], dtype=np.int64)
        if len(loads) and (
            min(int(allocatable.min()), int(requested.min()), int(rows[:, [VOLUMES, CONTROL]].min())) < 0
        ):
            return None
        observed = [ld.observed_at for ld in loads]
        if self.observed_us is None or not all(t is None or t.utcoffset() is not None for t in observed):
            return None
        columns = object.__new__(FleetColumns)
        columns.__dict__.update(self.__dict__)  # what depends on the clusters alone (ids, status, region) is shared
        columns.pairs = pairs
        columns.levels = self.levels.copy()
        columns.levels[changed] = rows
        columns.ram_allocatable = self.ram_allocatable.copy()
        columns.ram_allocatable[changed] = allocatable
        columns.ram_requested = self.ram_requested.copy()
        columns.ram_requested[changed] = requested
        columns.volume_levels = np.ascontiguousarray(columns.levels[:, VOLUMES])
        columns.control_levels = np.ascontiguousarray(columns.levels[:, CONTROL])
        columns.observed_us = self.observed_us.copy()
        columns.observed_us[changed] = [_NEVER if t is None else _microseconds(t) for t in observed]
        columns._sized_quiet = None
        kind = np.array([self.kind_codes[(pairs[i][0].storage_provider, pairs[i][1].ctrl_node_type)] for i in changed])
        if len(changed) and not np.array_equal(kind, self.kind[changed]):
            columns.kind = self.kind.copy()
            columns.kind[changed] = kind
            columns._plans = {}  # each cluster's capacities and curve tables follow its kind
        return columns

    def member(self, attribute: str, allowed: frozenset) -> np.ndarray:
        """Whether each cluster's ``attribute`` (status or region) is one of ``allowed`` (kept per fleet)."""
        found = self._members.get((attribute, allowed))
        if found is None:
            codes, column = (
                (self.status_codes, self.status) if attribute == "status" else (self.region_codes, self.region)
            )
            found = np.array([name in allowed for name in codes], dtype=bool)[column]
            self._members[(attribute, allowed)] = found
        return found

    def sized_quiet(self, plan: PolicyPlan) -> list[bool]:
        """Per kind (``kind_codes``), whether no cluster's level of a ``SIZED_LIMITS`` limit may bind it under
        ``plan``, whatever the need (none is above UNBOUNDED): then any footprint's need decides the same as the
        request's own (kept per fleet, for its last plan)."""
        kept = self._sized_quiet
        if kept is None or kept[0] is not plan:
            highest = self.levels[:, list(SIZED_LIMITS)].max(axis=0).tolist()
            quiet = [
                all(
                    level <= plan.kind(provider, ctrl).capacities[i] - UNBOUNDED
                    for i, level in zip(SIZED_LIMITS, highest, strict=True)
                )
                for provider, ctrl in self.kind_codes
            ]
            kept = self._sized_quiet = (plan, quiet)
        return kept[1]

    def per_kind(self, plan: PolicyPlan) -> tuple:
        """What ``plan`` fixes per kind of cluster, as columns: each cluster's volume and control-plane capacity,
        and its volume and control-plane curve tables (one row per kind, each cluster's row number)."""
        kept = self._plans.get(id(plan))
        if kept is None or kept[0] is not plan:
            if len(self._plans) >= 8:
                self._plans.clear()
            kinds = [plan.kind(provider, ctrl) for provider, ctrl in self.kind_codes]
            volume_capacity = np.array([k.volume_capacity for k in kinds], dtype=np.int64)[self.kind]
            control_capacity = np.array([k.control_capacity for k in kinds], dtype=np.int64)[self.kind]
            volume_tables = np.array([k.volume_table for k in kinds], dtype=np.int64).reshape(len(kinds), -1)
            control_tables = np.array([k.control_table for k in kinds], dtype=np.int64).reshape(len(kinds), -1)
            kept = self._plans[id(plan)] = (plan, (volume_capacity, control_capacity, volume_tables, control_tables))
        return kept[1]


_FLEETS: list[FleetColumns] = []


def columns_for(clusters: Sequence[tuple[Cluster, ClusterLoad]], max_pods_per_node: int) -> FleetColumns:
    pairs = clusters if isinstance(clusters, tuple) else tuple(clusters)
    for columns in _FLEETS:
        # Equal pairs mean equal numbers (the model is frozen values), so a cached fleet is only reused for them.
        if columns.max_pods_per_node == max_pods_per_node and (
            columns.pairs is pairs or (columns.n == len(pairs) and columns.pairs == pairs)
        ):
            return columns
    columns = None
    for kept in _FLEETS:
        if kept.max_pods_per_node == max_pods_per_node and kept.n == len(pairs):
            columns = kept.with_loads(pairs)
            if columns is not None:
                break
    if columns is None:
        columns = FleetColumns(pairs, max_pods_per_node)
    _FLEETS.insert(0, columns)
    del _FLEETS[4:]
    return columns


def evaluate_columns(request_plan: RequestPlan, clusters: Sequence[tuple[Cluster, ClusterLoad]]):
    """``pipeline.evaluate``'s answers for a large fleet, with the rejecting rules (``fails``) and the raw scores
    as functions that work them out when read. None: the fleet's figures need the per-cluster path."""
    plan = request_plan.plan
    if request_plan.only is not None:
        return None
    columns = columns_for(clusters, plan.limits.max_pods_per_node)
    oldest = request_plan.oldest
    if not columns.usable or (oldest is not None and (columns.observed_us is None or oldest.utcoffset() is None)):
        return None
    n, kind = columns.n, columns.kind
    slots = request_plan.slots
    # Per kind: the thresholds of the catalogue's limits, then what the scores read of the footprint. Where the
    # sized limits are quiet, the slot's own footprint gives their needs (the request's is not worked out).
    per_kind = np.array(
        [
            (
                *request_plan.thresholds(slot, slot.footprint if quiet else None),
                request_plan.ram_need(slot),
                slot.volumes,
                slot.etcd_objects,
            )
            for slot, quiet in zip(
                (slots.get(code) or request_plan.slot(*code) for code in columns.kind_codes),
                columns.sized_quiet(plan),
                strict=True,
            )
        ],
        dtype=np.int64,
    )[kind]
    count = len(LIMITS)
    # Each catalogue limit: used + needed > capacity, as used > capacity - needed.
    over = columns.levels > per_kind[:, :count]
    gates = [
        None if request_plan.status_gate is None else columns.member("status", request_plan.status_gate),
        None if oldest is None else columns.observed_us >= _microseconds(oldest),
        None if request_plan.region_gate is None else columns.member("region", request_plan.region_gate),
    ]
    feasible = ~over.any(axis=1)
    for passing in gates:
        if passing is not None:
            feasible &= passing

    volume_capacity, control_capacity, volume_tables, control_tables = columns.per_kind(plan)
    w_region, w_ram, w_volume, w_control = plan.weights
    wanted = request_plan.wanted
    region_score = (
        np.full(n, MAX_NODE_SCORE, dtype=np.int64)
        if wanted is None
        else columns.member("region", frozenset((wanted,))) * MAX_NODE_SCORE
    )
    requested = columns.ram_requested + per_kind[:, count]
    if plan.ram_fast is not None:
        ram_score = plan.ram_fast(requested, columns.ram_allocatable)
    else:
        ram_score = np.zeros(n, dtype=np.int64)
        if w_ram:
            for i in np.flatnonzero(feasible).tolist():
                cluster, load = columns.pairs[i]
                ram_score[i] = ram_headroom(request_plan.cycle, cluster, load)
    volume_used = columns.volume_levels + per_kind[:, count + 1]
    volume_score = volume_tables[kind, utilization(volume_used, volume_capacity, np.minimum)]
    objects = columns.control_levels + per_kind[:, count + 2]
    control_score = control_tables[kind, utilization(objects, control_capacity, np.minimum)]
    totals = region_score * w_region + ram_score * w_ram + volume_score * w_volume + control_score * w_control
    ranked = np.where(feasible, totals * n + columns.preference, -1)
    best = int(ranked.argmax())
    if ranked[best] < 0:
        best = -1

    def fails() -> np.ndarray:
        failing = np.zeros((len(GATES) + count, n), dtype=bool)
        for rule, passing in enumerate(gates):
            if passing is not None:
                failing[rule] = ~passing
        failing[len(GATES) :] = over.T
        return np.where(feasible, -1, failing.argmax(axis=0))

    fails.none = bool(feasible.all())  # no cluster rejected: ``Decision.rejections`` needs no rule worked out

    def rows() -> list[tuple[int, ...]]:
        scores = request_plan.pick((region_score, ram_score, volume_score, control_score))
        return list(zip(*(column.tolist() for column in scores), strict=True)) if scores else [()] * n

    return fails, rows, totals, best
