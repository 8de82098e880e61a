"""``select_cluster``: quotas, then filters, then weighted scores, then a deterministic tie-break.

This is the only placement function: the live router and the simulator both call it. It is pure: it
reads the request, the (cluster, load) pairs and the policy, and touches no database, socket or clock
(``now`` is passed in by the caller that wants snapshot ages checked).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np

from placement.cycle import Cycle
from placement.filters import FILTER_NAMES, FILTERS
from placement.filters import snapshot_age as snapshot_age_filter
from placement.model import Cluster, ClusterLoad, PlacementRequest
from placement.policy import SCORER_NAMES, Policy, default_policy
from placement.scorers import SCORERS, control_plane_headroom, control_plane_shape, ram_headroom, volume_headroom
from placement.scoring import requested_to_capacity_ratio
from placement.units import format_bytes


@dataclass(frozen=True, slots=True)
class ClusterResult:
    """One cluster's trip through the pipeline.

    ``failed_filter`` is the index in ``FILTERS`` of the filter that rejected it (None when it passed them
    all); the filters before it passed and those after it did not run. ``raw_scores`` follows the policy's
    weights and is empty for a rejected cluster.
    """

    cluster_id: str
    task_queue: str
    failed_filter: int | None
    reason: str | None
    raw_scores: tuple[int, ...]
    total: int

    @property
    def feasible(self) -> bool:
        return self.failed_filter is None


class Decision:
    """The engine's answer, with everything needed to explain it (OCM placement-debug shape in ``to_dict``).

    Treat it as immutable. ``results`` (ranked: feasible by score, then rejected, each by cluster id) may be built
    on first access: a decision over a large fleet usually only needs its winner, and building one explained
    ``ClusterResult`` per cluster would cost more than choosing.
    """

    __slots__ = (
        "_build_results",
        "_results",
        "cluster_id",
        "node_hint",
        "quota_violations",
        "reason",
        "task_queue",
        "warnings",
        "weights",
    )

    def __init__(
        self,
        cluster_id: str | None,
        task_queue: str | None,
        node_hint: str | None,
        reason: str,
        weights: tuple[tuple[str, int], ...],
        results: tuple[ClusterResult, ...] | None = (),
        quota_violations: tuple[str, ...] = (),
        warnings: tuple[str, ...] = (),
        *,
        build_results: Callable[[], tuple[ClusterResult, ...]] | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self.task_queue = task_queue
        self.node_hint = node_hint
        self.reason = reason
        self.weights = weights
        self.quota_violations = quota_violations
        self.warnings = warnings
        self._results = results if build_results is None else None
        self._build_results = build_results

    @property
    def results(self) -> tuple[ClusterResult, ...]:
        if self._results is None:
            self._results = self._build_results()
            self._build_results = None
        return self._results

    def _key(self) -> tuple:
        return (
            self.cluster_id,
            self.task_queue,
            self.node_hint,
            self.reason,
            self.weights,
            self.results,
            self.quota_violations,
            self.warnings,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Decision) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Decision(cluster_id={self.cluster_id!r}, task_queue={self.task_queue!r}, "
            f"node_hint={self.node_hint!r}, reason={self.reason!r})"
        )

    @property
    def placed(self) -> bool:
        return self.cluster_id is not None

    def result(self, cluster_id: str) -> ClusterResult:
        for result in self.results:
            if result.cluster_id == cluster_id:
                return result
        raise KeyError(cluster_id)

    def rejection_counts(self) -> dict[str, int]:
        return dict(Counter(FILTER_NAMES[r.failed_filter] for r in self.results if r.failed_filter is not None))

    def cluster_records(self) -> list[dict[str, Any]]:
        """One flat explanation per cluster: filter statuses, and each scorer's raw, weight and weighted score."""
        records = []
        for rank, result in enumerate(self.results, start=1):
            filters = []
            for index, name in enumerate(FILTER_NAMES):
                if result.failed_filter is None or index < result.failed_filter:
                    filters.append({"name": name, "status": "pass"})
                elif index == result.failed_filter:
                    filters.append({"name": name, "status": "fail", "reason": result.reason})
                else:
                    filters.append({"name": name, "status": "not-run"})
            scores = [
                {"name": name, "score": raw, "weight": weight, "weighted": raw * weight}
                for (name, weight), raw in zip(self.weights, result.raw_scores, strict=False)
            ]
            records.append(
                {
                    "cluster_id": result.cluster_id,
                    "task_queue": result.task_queue,
                    "rank": rank if result.feasible else None,
                    "feasible": result.feasible,
                    "reason": result.reason,
                    "filters": filters,
                    "scores": scores,
                    "total": result.total if result.feasible else None,
                }
            )
        return records

    def to_dict(self) -> dict[str, Any]:
        feasible = [r for r in self.results if r.feasible]
        surviving: list[dict[str, Any]] = []
        remaining = list(self.results)
        for index, name in enumerate(FILTER_NAMES):
            remaining = [r for r in remaining if r.failed_filter is None or r.failed_filter > index]
            surviving.append({"name": name, "filteredClusters": [r.cluster_id for r in remaining]})
        return {
            "cluster_id": self.cluster_id,
            "task_queue": self.task_queue,
            "node_hint": self.node_hint,
            "placed": self.placed,
            "reason": self.reason,
            "quota_violations": list(self.quota_violations),
            "warnings": list(self.warnings),
            "filteredPipelineResults": surviving,
            "prioritizeResults": [
                {
                    "name": name,
                    "weight": weight,
                    "scores": [{"clusterName": r.cluster_id, "score": r.raw_scores[i]} for r in feasible],
                }
                for i, (name, weight) in enumerate(self.weights)
            ],
            "aggregatedScores": [{"clusterName": r.cluster_id, "score": r.total} for r in feasible],
            "clusters": self.cluster_records(),
        }


def check_quotas(request: PlacementRequest, policy: Policy) -> tuple[str, ...]:
    """The design document's per-plan volume quotas. Violations are refused before any cluster is scored."""
    quota = policy.quota(request.plan)
    problems = []
    count = len(request.volumes)
    if count > quota.max_volumes_per_service:
        problems.append(f"quota: {count} volumes per service > {quota.max_volumes_per_service} (plan {request.plan})")
    if request.customer_volume_count + count > quota.max_volumes_per_customer:
        problems.append(
            f"quota: customer would have {request.customer_volume_count + count} volumes > "
            f"{quota.max_volumes_per_customer} (plan {request.plan})"
        )
    for index, volume in enumerate(request.volumes):
        if volume.size_bytes > quota.max_volume_size_bytes:
            problems.append(
                f"quota: volumes[{index}] size {format_bytes(volume.size_bytes)} > "
                f"{format_bytes(quota.max_volume_size_bytes)} (plan {request.plan})"
            )
        if volume.size_bytes <= 0:
            problems.append(f"quota: volumes[{index}] size must be positive")
    return tuple(problems)


def _summarise_rejections(results: Iterable[ClusterResult], total: int) -> str:
    counts = Counter(FILTER_NAMES[r.failed_filter] for r in results if r.failed_filter is not None)
    return _summary(counts, total)


def _summary(counts: Counter, total: int) -> str:
    parts = ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return f"0/{total} clusters fit: {parts}" if parts else f"0/{total} clusters fit: no clusters"


def _node_hint(cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> str | None:
    """The run node kube-scheduler would likely pick: the feasible node the RAM strategy scores highest."""
    limits = cycle.limits
    need = cycle.ram_need_bytes(limits.storage[cluster.storage_provider])
    pack = cycle.policy.ram_strategy == "most_allocated"
    best_key: tuple[int, str] | None = None
    best_name = None
    for node in load.run_nodes:
        free = node.allocatable_ram_bytes - node.requested_ram_bytes
        if not node.schedulable or free < need or node.pods >= (node.max_pods or limits.max_pods_per_node):
            continue
        key = (free if pack else -free, node.name)
        if best_key is None or key < best_key:
            best_key, best_name = key, node.name
    return best_name


def select_cluster_reference(
    request: PlacementRequest,
    clusters: Sequence[tuple[Cluster, ClusterLoad]],
    policy: Policy | None = None,
    *,
    now: datetime | None = None,
) -> Decision:
    """The straightforward pipeline: every filter plugin, then every score plugin, for every cluster.

    ``select_cluster`` must give the same decision; the tests hold it to this one.
    """
    policy = policy or default_policy()
    weights = policy.weights
    quota_violations = check_quotas(request, policy)
    if quota_violations:
        return Decision(None, None, None, "; ".join(quota_violations), weights, (), quota_violations)

    cycle = Cycle.start(request, policy, now)
    scorers = [SCORERS[name] for name, _ in weights]
    weight_values = [weight for _, weight in weights]
    feasible: list[tuple[int, str, ClusterResult, Cluster, ClusterLoad]] = []
    rejected: list[ClusterResult] = []
    for cluster, load in clusters:
        failed = None
        reason = None
        for index, (_, plugin) in enumerate(FILTERS):
            reason = plugin(cycle, cluster, load)
            if reason is not None:
                failed = index
                break
        if failed is not None:
            rejected.append(ClusterResult(cluster.id, cluster.task_queue, failed, reason, (), 0))
            continue
        raw = tuple(scorer(cycle, cluster, load) for scorer in scorers)
        total = sum(score * weight for score, weight in zip(raw, weight_values, strict=True))
        result = ClusterResult(cluster.id, cluster.task_queue, None, None, raw, total)
        feasible.append((-total, cluster.id, result, cluster, load))

    warnings = _stale_warnings(cycle, clusters)
    rejected.sort(key=lambda r: r.cluster_id)
    if not feasible:
        return Decision(
            None,
            None,
            None,
            _summarise_rejections(rejected, len(rejected)),
            weights,
            tuple(rejected),
            warnings=warnings,
        )
    # Highest total wins; equal totals go to the smallest cluster id, so replays are exact.
    feasible.sort(key=lambda item: (item[0], item[1]))
    _, _, best, best_cluster, best_load = feasible[0]
    breakdown = ", ".join(
        f"{name} {raw}x{weight}" for (name, weight), raw in zip(weights, best.raw_scores, strict=True)
    )
    reason = (
        f"{best.cluster_id}: score {best.total} ({breakdown}); "
        f"{len(feasible)}/{len(feasible) + len(rejected)} clusters fit"
    )
    return Decision(
        best.cluster_id,
        best.task_queue,
        _node_hint(cycle, best_cluster, best_load),
        reason,
        weights,
        tuple(item[2] for item in feasible) + tuple(rejected),
        warnings=warnings,
    )


def _stale_warnings(cycle: Cycle, clusters: Sequence[tuple[Cluster, ClusterLoad]]) -> tuple[str, ...]:
    policy = cycle.policy
    if policy.stale_action != "allow" or policy.max_snapshot_age_seconds is None or cycle.now is None:
        return ()
    warnings = []
    for cluster, load in clusters:
        age = cycle.snapshot_age_seconds(load)
        if age is None or age > policy.max_snapshot_age_seconds:
            seen = "never observed" if age is None else f"observed {age:.0f}s ago"
            warnings.append(f"{cluster.id}: stale load snapshot ({seen}), used anyway by policy")
    return tuple(warnings)


# --- the fast path -----------------------------------------------------------------------------------------
#
# ``select_cluster`` computes exactly what ``select_cluster_reference`` does, with the per-policy work done once
# (``_PolicyPlan``), the per-request work once per storage provider, the score curves as 101-entry tables built
# from ``placement.scoring`` itself, and the per-cluster explanation (``ClusterResult`` with its reason string)
# built only when someone reads ``Decision.results``. Reasons always come from the filter plugins themselves.
# Fleets of ``NUMPY_MIN_CLUSTERS`` or more run on cached numpy columns instead of a Python loop.

NUMPY_MIN_CLUSTERS = 48
_STATUS, _SNAPSHOT_AGE, _REGION, _VOLUME_LIMIT, _CONTROL_PLANE, _K8S, _RAM_FIT, _PODS_PER_NODE = range(8)
assert FILTER_NAMES == (
    "status",
    "snapshot-age",
    "region",
    "volume-limit",
    "control-plane",
    "k8s-thresholds",
    "ram-fit",
    "pods-per-node",
), "the fast path below follows FILTERS in this order"


def _curve_table(shape: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """A single-resource RequestedToCapacityRatio score for every utilization 0..100, from the general function."""
    return tuple(
        requested_to_capacity_ratio({"r": utilization}, {"r": 100}, {"r": 1}, shape) for utilization in range(101)
    )


def _utilization(used: int, capacity: int) -> int:
    # Upstream's resourceScoringFunction: used above capacity counts as full.
    return 100 if used > capacity else used * 100 // capacity


class _PolicyPlan:
    """Everything ``select_cluster`` needs from a policy that does not depend on the request."""

    def __init__(self, policy: Policy) -> None:
        limits = policy.limits
        self.policy = policy
        self.limits = limits
        weights = dict(policy.weights)
        self.w_region = weights.get("region", 0)
        self.w_ram = weights.get("ram_headroom", 0)
        self.w_volume = weights.get("volume_headroom", 0)
        self.w_control = weights.get("control_plane_headroom", 0)
        self.scorer_names = tuple(name for name, _ in policy.weights)
        # Raw scores are kept in the policy's weight order; None: all four, already in that order.
        positions = [SCORER_NAMES.index(name) for name in self.scorer_names]
        self.score_positions = positions
        self.pick_scores = None if positions == [0, 1, 2, 3] else (lambda scores: tuple(scores[i] for i in positions))
        ram_weights = policy.ram_resource_weights
        # Memory-only Fit strategies reduce to one integer division (weighted mean of one resource).
        self.ram_mode = None
        if set(ram_weights) == {"memory"} and policy.ram_strategy in ("least_allocated", "most_allocated"):
            self.ram_mode = policy.ram_strategy
        self.volume_table = _curve_table(policy.volume_shape)
        self.control_tables: dict[str, tuple[int, tuple[int, ...]]] = {}
        for name, ctrl in limits.control_plane_types.items():
            shape = control_plane_shape(ctrl, policy.control_plane_comfort_score)
            self.control_tables[name] = (ctrl.tight_objects, _curve_table(shape))
        self.volume_limit = {p: s.max_volumes for p, s in limits.storage.items()}
        self.np_volume_table = np.array(self.volume_table, dtype=np.int64)
        self.np_control = {
            name: (tight, np.array(table, dtype=np.int64)) for name, (tight, table) in self.control_tables.items()
        }


_PLANS: dict[int, _PolicyPlan] = {}


def _plan_for(policy: Policy) -> _PolicyPlan:
    plan = _PLANS.get(id(policy))
    if plan is None or plan.policy is not policy:
        if len(_PLANS) >= 32:
            _PLANS.clear()
        plan = _PLANS[id(policy)] = _PolicyPlan(policy)
    return plan


def select_cluster(
    request: PlacementRequest,
    clusters: Sequence[tuple[Cluster, ClusterLoad]],
    policy: Policy | None = None,
    *,
    now: datetime | None = None,
) -> Decision:
    """Choose a cluster for one new service.

    ``clusters`` is a sequence of (cluster, load) pairs; the answer does not depend on their order.
    ``now`` enables the policy's snapshot-age rule; without it, snapshot ages are not checked.
    """
    policy = policy or default_policy()
    weights = policy.weights
    quota_violations = check_quotas(request, policy)
    if quota_violations:
        return Decision(None, None, None, "; ".join(quota_violations), weights, (), quota_violations)
    plan = _plan_for(policy)
    cycle = Cycle.start(request, policy, now)
    storage = plan.limits.storage
    need = {p: cycle.ram_need_bytes(s) for p, s in storage.items()}
    added = {p: cycle.new_objects(s) for p, s in storage.items()}
    evaluated = None
    if len(clusters) >= NUMPY_MIN_CLUSTERS:
        evaluated = _evaluate_columns(plan, cycle, clusters, need, added)
    if evaluated is None:
        evaluated = _evaluate_loop(plan, cycle, clusters, need, added)
    return _decide(plan, cycle, clusters, *evaluated)


def _evaluate_loop(plan, cycle, clusters, need, added):
    """Per cluster: the first failing filter (-1: none), the raw scores and the total. Small fleets."""
    request, policy, limits = cycle.request, plan.policy, plan.limits
    wanted = request.region
    strict = policy.region_mode == "strict" and wanted is not None
    check_age = (
        policy.max_snapshot_age_seconds is not None and policy.stale_action == "reject" and cycle.now is not None
    )
    volume_count = cycle.volume_count
    volume_limit, control_tables, volume_table = plan.volume_limit, plan.control_tables, plan.volume_table
    max_pods_cluster, max_services, max_namespaces = (
        limits.max_pods_cluster,
        limits.max_services_cluster,
        limits.max_namespaces,
    )
    max_etcd, max_nodes, max_pods_node = limits.max_etcd_objects, limits.max_nodes, limits.max_pods_per_node
    request_pods, new_customer = request.pods, request.new_customer
    w_region, w_ram, w_volume, w_control = plan.w_region, plan.w_ram, plan.w_volume, plan.w_control
    ram_mode = plan.ram_mode
    pick = plan.pick_scores
    fails: list[int] = []
    raws: list[tuple[int, ...] | None] = []
    totals: list[int] = []
    best = -1
    best_key = None
    for index, (cluster, load) in enumerate(clusters):
        provider = cluster.storage_provider
        failed = -1
        if cluster.status != "active":
            failed = _STATUS
        elif check_age and snapshot_age_filter(cycle, cluster, load) is not None:
            failed = _SNAPSHOT_AGE
        elif strict and cluster.region != wanted:
            failed = _REGION
        elif volume_count and load.volumes + volume_count > volume_limit[provider]:
            failed = _VOLUME_LIMIT
        else:
            control = control_tables.get(load.ctrl_node_type)
            objects = load.etcd_objects + added[provider]
            if control is None or objects > control[0]:
                failed = _CONTROL_PLANE
            elif (
                load.pods + request_pods > max_pods_cluster
                or load.services + 1 > max_services
                or (new_customer and load.customers + 1 > max_namespaces)
                or objects > max_etcd
                or len(load.run_nodes) > max_nodes
            ):
                failed = _K8S
            else:
                need_bytes = need[provider]
                if load.largest_free_ram_bytes(max_pods_node, False) < need_bytes:
                    failed = _RAM_FIT
                elif load.largest_free_ram_bytes(max_pods_node, True) < need_bytes:
                    failed = _PODS_PER_NODE
        fails.append(failed)
        if failed >= 0:
            raws.append(None)
            totals.append(0)
            continue
        region_score = 100 if wanted is None or cluster.region == wanted else 0
        if ram_mode is None:
            ram_score = ram_headroom(cycle, cluster, load) if w_ram else 0
        else:
            capacity = load.ram_allocatable_bytes
            requested = load.ram_requested_bytes + need_bytes
            if requested < 0 or capacity < 0:  # odd data: Go's truncating division differs from //: ask the plugin
                ram_score = ram_headroom(cycle, cluster, load)
            elif capacity <= 0:
                ram_score = 0
            elif ram_mode == "least_allocated":
                ram_score = (capacity - requested) * 100 // capacity if requested <= capacity else 0
            else:
                ram_score = (requested if requested < capacity else capacity) * 100 // capacity
        limit = volume_limit[provider]
        used = load.volumes + volume_count
        if used < 0 or objects < 0:  # odd data: outside the tables, so ask the plugins
            volume_score = volume_headroom(cycle, cluster, load)
            control_score = control_plane_headroom(cycle, cluster, load)
        else:
            volume_score = volume_table[_utilization(used, limit)] if limit > 0 else 0
            control_score = control[1][_utilization(objects, control[0])]
        total = region_score * w_region + ram_score * w_ram + volume_score * w_volume + control_score * w_control
        totals.append(total)
        scores = (region_score, ram_score, volume_score, control_score)
        raws.append(scores if pick is None else pick(scores))
        key = (-total, cluster.id)
        if best_key is None or key < best_key:
            best, best_key = index, key
    return fails, raws, totals, best, (raws[best] if best >= 0 else None)


def _decide(plan, cycle, clusters, fails, raws, totals, best, best_raw) -> Decision:
    weights = plan.policy.weights
    total_count = len(clusters)
    warnings = _stale_warnings(cycle, clusters)
    build = partial(_build_results, cycle, clusters, fails, raws, totals)
    if best < 0:
        if isinstance(fails, np.ndarray):
            tally = np.bincount(fails[fails >= 0], minlength=len(FILTER_NAMES)).tolist()
            counts = Counter({FILTER_NAMES[i]: n for i, n in enumerate(tally) if n})
        else:
            counts = Counter(FILTER_NAMES[f] for f in fails)
        return Decision(
            None, None, None, _summary(counts, total_count), weights, None, (), warnings, build_results=build
        )
    cluster, load = clusters[best]
    total = int(totals[best])
    feasible = int((fails < 0).sum()) if isinstance(fails, np.ndarray) else fails.count(-1)
    breakdown = ", ".join(f"{name} {raw}x{weight}" for (name, weight), raw in zip(weights, best_raw, strict=True))
    reason = f"{cluster.id}: score {total} ({breakdown}); {feasible}/{total_count} clusters fit"
    return Decision(
        cluster.id,
        cluster.task_queue,
        _node_hint(cycle, cluster, load),
        reason,
        weights,
        None,
        (),
        warnings,
        build_results=build,
    )


def _build_results(cycle, clusters, fails, raws, totals) -> tuple[ClusterResult, ...]:
    if isinstance(fails, np.ndarray):
        fails, totals, raws = fails.tolist(), totals.tolist(), raws()
    ids = [cluster.id for cluster, _ in clusters]
    feasible = [i for i, failed in enumerate(fails) if failed < 0]
    feasible.sort(key=lambda i: (-totals[i], ids[i]))
    rejected = [i for i, failed in enumerate(fails) if failed >= 0]
    rejected.sort(key=ids.__getitem__)
    results = []
    for i in feasible:
        cluster = clusters[i][0]
        results.append(ClusterResult(cluster.id, cluster.task_queue, None, None, raws[i], totals[i]))
    for i in rejected:
        cluster, load = clusters[i]
        failed = fails[i]
        # The plugin that failed says why, in its own words and numbers.
        results.append(
            ClusterResult(cluster.id, cluster.task_queue, failed, FILTERS[failed][1](cycle, cluster, load), (), 0)
        )
    return tuple(results)


class _FleetColumns:
    """A fleet's per-cluster numbers as numpy columns, built once per fleet and reused while it is unchanged."""

    def __init__(self, pairs: tuple[tuple[Cluster, ClusterLoad], ...]) -> None:
        self.pairs = pairs
        self.n = n = len(pairs)
        clusters = [cluster for cluster, _ in pairs]
        self.loads = loads = [load for _, load in pairs]
        ids = [cluster.id for cluster in clusters]
        rank = np.empty(n, dtype=np.int64)
        rank[sorted(range(n), key=ids.__getitem__)] = np.arange(n)
        self.id_rank = rank  # stable: equal ids keep their input order, as the reference's sort does
        self.active = np.array([cluster.status == "active" for cluster in clusters], dtype=bool)
        self.region_codes: dict[str, int] = {}
        self.region = np.array(
            [self.region_codes.setdefault(c.region, len(self.region_codes)) for c in clusters], dtype=np.int64
        )
        self.provider_codes: dict[str, int] = {}
        self.provider = np.array(
            [self.provider_codes.setdefault(c.storage_provider, len(self.provider_codes)) for c in clusters],
            dtype=np.int64,
        )
        self.ctrl_codes: dict[str, int] = {}
        self.ctrl = np.array(
            [self.ctrl_codes.setdefault(ld.ctrl_node_type, len(self.ctrl_codes)) for ld in loads], dtype=np.int64
        )

        def column(attribute: str) -> np.ndarray:
            return np.array([getattr(load, attribute) for load in loads], dtype=np.int64)

        self.volumes = column("volumes")
        self.services = column("services")
        self.customers = column("customers")
        self.pods = column("pods")
        self.etcd_objects = column("etcd_objects")
        self.ram_allocatable = column("ram_allocatable_bytes")
        self.ram_requested = column("ram_requested_bytes")
        self.node_count = np.array([len(load.run_nodes) for load in loads], dtype=np.int64)
        # Table lookups below need non-negative utilizations; odd data goes through the loop instead.
        self.usable = (
            bool(n)
            and min(self.volumes.min(), self.etcd_objects.min(), self.ram_requested.min(), self.ram_allocatable.min())
            >= 0
        )
        self._largest_free: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # Observation times as whole microseconds since the epoch, which is what timedelta holds exactly.
        observed = [load.observed_at for load in loads]
        self.observed_us: np.ndarray | None = None
        if all(t is None or t.utcoffset() is not None for t in observed):
            self.has_observed = np.array([t is not None for t in observed], dtype=bool)
            self.observed_us = np.array(
                [0 if t is None else (t - _EPOCH) // _MICROSECOND for t in observed], dtype=np.int64
            )

    def largest_free(self, max_pods_per_node: int) -> tuple[np.ndarray, np.ndarray]:
        cached = self._largest_free.get(max_pods_per_node)
        if cached is None:
            cached = (
                np.array([ld.largest_free_ram_bytes(max_pods_per_node, False) for ld in self.loads], dtype=np.int64),
                np.array([ld.largest_free_ram_bytes(max_pods_per_node, True) for ld in self.loads], dtype=np.int64),
            )
            self._largest_free[max_pods_per_node] = cached
        return cached


_FLEETS: list[_FleetColumns] = []
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _stale_mask(columns: _FleetColumns, cycle: Cycle, max_age_seconds: float) -> np.ndarray:
    """Where the snapshot-age filter rejects, computed as ``(now - observed_at).total_seconds()`` does.

    total_seconds() divides whole microseconds by 10**6 with one correct rounding; so does float64 division while
    the microsecond counts are exact in a float64 (below 2**53), which is checked.
    """
    now = cycle.now
    if columns.observed_us is not None and now.utcoffset() is not None:
        age_us = (now - _EPOCH) // _MICROSECOND - columns.observed_us
        if columns.n == 0 or int(np.abs(age_us).max()) < 2**53:
            return ~columns.has_observed | (age_us.astype(np.float64) / 1e6 > max_age_seconds)
    stale = np.zeros(columns.n, dtype=bool)
    for i in range(columns.n):
        cluster, load = columns.pairs[i]
        stale[i] = snapshot_age_filter(cycle, cluster, load) is not None
    return stale


def _columns_for(clusters: Sequence[tuple[Cluster, ClusterLoad]]) -> _FleetColumns:
    pairs = clusters if isinstance(clusters, tuple) else tuple(clusters)
    for columns in _FLEETS:
        # Equal pairs mean equal numbers (the model is frozen values), so a cached fleet is only reused for them.
        if columns.pairs is pairs or (columns.n == len(pairs) and columns.pairs == pairs):
            return columns
    columns = _FleetColumns(pairs)
    _FLEETS.insert(0, columns)
    del _FLEETS[4:]
    return columns


def _per_code(codes: dict[str, int], value_of, default: int) -> np.ndarray:
    values = [default] * len(codes)
    for name, code in codes.items():
        values[code] = value_of(name)
    return np.array(values, dtype=np.int64)


def _evaluate_columns(plan, cycle, clusters, need, added):
    """The loop's answers for a large fleet, column by column. None: let the loop handle this fleet."""
    columns = _columns_for(clusters)
    if not columns.usable:
        return None
    request, policy, limits = cycle.request, plan.policy, plan.limits
    for provider in columns.provider_codes:
        if provider not in limits.storage or need[provider] < 0:
            return None
    provider = columns.provider
    need_bytes = _per_code(columns.provider_codes, need.__getitem__, 0)[provider]
    objects = columns.etcd_objects + _per_code(columns.provider_codes, added.__getitem__, 0)[provider]
    volume_limit = _per_code(columns.provider_codes, plan.volume_limit.__getitem__, 0)[provider]
    control_tables = plan.np_control
    known = np.array([name in control_tables for name in columns.ctrl_codes], dtype=bool)[columns.ctrl]
    tight = _per_code(columns.ctrl_codes, lambda name: control_tables[name][0] if name in control_tables else 1, 1)[
        columns.ctrl
    ]
    wanted = request.region
    volume_count = cycle.volume_count

    failing = [~columns.active]
    if policy.max_snapshot_age_seconds is not None and policy.stale_action == "reject" and cycle.now is not None:
        failing.append(_stale_mask(columns, cycle, policy.max_snapshot_age_seconds))
    else:
        failing.append(np.zeros(columns.n, dtype=bool))
    in_region = (columns.region == columns.region_codes.get(wanted, -1)) if wanted is not None else None
    if policy.region_mode == "strict" and in_region is not None:
        failing.append(~in_region)
    else:
        failing.append(np.zeros(columns.n, dtype=bool))
    if volume_count:
        failing.append(columns.volumes + volume_count > volume_limit)
    else:
        failing.append(np.zeros(columns.n, dtype=bool))
    failing.append(~known | (objects > tight))
    k8s = (
        (columns.pods + request.pods > limits.max_pods_cluster)
        | (columns.services + 1 > limits.max_services_cluster)
        | (objects > limits.max_etcd_objects)
        | (columns.node_count > limits.max_nodes)
    )
    if request.new_customer:
        k8s |= columns.customers + 1 > limits.max_namespaces
    failing.append(k8s)
    largest_any, largest_room = columns.largest_free(limits.max_pods_per_node)
    failing.append(largest_any < need_bytes)
    failing.append(largest_room < need_bytes)
    matrix = np.stack(failing)
    rejected = matrix.any(axis=0)
    fails = np.where(rejected, matrix.argmax(axis=0), -1)
    feasible = ~rejected

    region_score = np.full(columns.n, 100, dtype=np.int64) if in_region is None else np.where(in_region, 100, 0)
    capacity = columns.ram_allocatable
    if plan.ram_mode == "least_allocated":
        requested = columns.ram_requested + need_bytes
        ram_score = np.where(
            (capacity > 0) & (requested <= capacity), (capacity - requested) * 100 // np.maximum(capacity, 1), 0
        )
    elif plan.ram_mode == "most_allocated":
        requested = columns.ram_requested + need_bytes
        ram_score = np.where(capacity > 0, np.minimum(requested, capacity) * 100 // np.maximum(capacity, 1), 0)
    else:
        ram_score = np.zeros(columns.n, dtype=np.int64)
        if plan.w_ram:
            for i in np.flatnonzero(feasible).tolist():
                cluster, load = columns.pairs[i]
                ram_score[i] = ram_headroom(cycle, cluster, load)
    used = columns.volumes + volume_count
    volume_util = np.where(used > volume_limit, 100, used * 100 // np.maximum(volume_limit, 1))
    volume_score = np.where(volume_limit > 0, plan.np_volume_table[volume_util], 0)
    control_util = np.where(objects > tight, 100, objects * 100 // tight)
    table = np.zeros((len(columns.ctrl_codes), 101), dtype=np.int64)
    for name, code in columns.ctrl_codes.items():
        if name in control_tables:
            table[code] = control_tables[name][1]
    control_score = table[columns.ctrl, control_util]
    totals = (
        region_score * plan.w_region
        + ram_score * plan.w_ram
        + volume_score * plan.w_volume
        + control_score * plan.w_control
    )
    scores = [(region_score, ram_score, volume_score, control_score)[i] for i in plan.score_positions]

    best, best_raw = -1, None
    if feasible.any():
        top = totals[feasible].max()
        candidates = np.flatnonzero(feasible & (totals == top))
        best = int(candidates[np.argmin(columns.id_rank[candidates])])
        best_raw = tuple(int(column[best]) for column in scores)

    def rows() -> list[tuple[int, ...]]:
        return list(zip(*(column.tolist() for column in scores), strict=True)) if scores else [()] * columns.n

    return fails, rows, totals, best, best_raw
