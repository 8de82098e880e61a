"""``select_cluster``: quotas, then filters, then weighted scores, then a deterministic tie-break.

This is the only placement function: the live router and the simulator both call it. It is pure: it
reads the request, the (cluster, load) pairs and the policy, and touches no database, socket or clock
(``now`` is passed in by the caller that wants snapshot ages checked).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from placement.cycle import Cycle
from placement.filters import FILTER_NAMES, FILTERS
from placement.model import Cluster, ClusterLoad, PlacementRequest
from placement.policy import Policy, default_policy
from placement.scorers import SCORERS
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


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer, with everything needed to explain it (OCM placement-debug shape in ``to_dict``)."""

    cluster_id: str | None
    task_queue: str | None
    node_hint: str | None
    reason: str
    weights: tuple[tuple[str, int], ...]
    results: tuple[ClusterResult, ...] = ()  # ranked: feasible by score, then rejected, each by cluster id
    quota_violations: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

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
