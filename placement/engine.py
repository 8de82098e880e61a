"""``select_cluster``: quotas, then filters, then weighted scores, then a deterministic tie-break.

This is the only placement function: the live router, the simulator and the optimizer's greedy all call it.
It is pure: it reads the request, the (cluster, load) pairs and the policy, and touches no database, socket or
clock (``now`` is passed in by the caller that wants snapshot ages checked). The rules themselves are in
``placement.pipeline`` and ``placement.catalogue``; fleets of ``NUMPY_MIN_CLUSTERS`` or more are evaluated over
numpy columns (``placement.columns``) by the same rules.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np

from placement.columns import evaluate_columns
from placement.cycle import Cycle
from placement.decision import REASON, REJECTIONS, ClusterResult, Decision
from placement.model import Cluster, ClusterLoad, PlacementRequest
from placement.pipeline import RequestPlan, plan_for
from placement.policy import Policy, default_policy
from placement.rules import FILTER_NAMES, RULE_FILTER
from placement.units import format_bytes

__all__ = ["ClusterResult", "Decision", "check_quotas", "select_cluster"]

NUMPY_MIN_CLUSTERS = 64


def check_quotas(request: PlacementRequest, policy: Policy) -> tuple[str, ...]:
    """The design document's per-plan volume quotas. Violations are refused before any cluster is scored."""
    quota = policy.quota(request.plan)
    count = len(request.volumes)
    # Each rule once, no quick pass that restates them: the usual request costs about 60 ns more this way, about
    # 0.2 % of a forecast run.
    problems = []
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


def _node_hint(request_plan: RequestPlan, cluster: Cluster, load: ClusterLoad) -> str | None:
    """The run node kube-scheduler would likely pick: the feasible node (schedulable, below its pod cap, with the
    RAM free) the RAM strategy scores highest: the most free RAM, or the least when packing; then by name."""
    cycle = request_plan.cycle
    slot = request_plan.slots.get((cluster.storage_provider, load.ctrl_node_type))
    need = request_plan.ram_need(slot) if slot is not None else cycle.footprint(cluster.storage_provider).ram_bytes
    # The load's kept list read without a call (``nodes_by_free_ram`` makes it when it is not kept yet).
    cap = cycle.limits.max_pods_per_node
    nodes = load._cache.get(("nodes", cap)) or load.nodes_by_free_ram(cap)  # ascending (free RAM, name)
    if not nodes or nodes[-1][0] < need:
        return None
    # (x,) sorts before every (x, name): the first node with free RAM >= need, or the first with the most.
    return nodes[bisect_left(nodes, (need if cycle.policy.ram_strategy == "most_allocated" else nodes[-1][0],))][1]


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
    quota_violations = check_quotas(request, policy)
    if quota_violations:
        return Decision(None, None, None, "; ".join(quota_violations), policy.weights, (), quota_violations)
    plan = plan_for(policy)
    request_plan = RequestPlan.start(plan, Cycle.start(request, policy, now))
    evaluated = None
    if len(clusters) >= NUMPY_MIN_CLUSTERS:
        evaluated = evaluate_columns(request_plan, clusters)
    if evaluated is None:
        fails, raws, totals, best, winner = plan.evaluate(request_plan, clusters)
    else:
        fails, raws, totals, best, winner = (*evaluated, None)
    # The decision: its results and reason made when read (``_explain``), from what the evaluation gave.
    cycle = request_plan.cycle
    warnings = () if now is None else _stale_warnings(cycle, clusters)
    explain = partial(_explain, _build_results, request_plan, clusters, fails, raws, totals, best, winner)
    if best < 0:
        return Decision.lazy(None, None, None, policy.weights, warnings, explain)
    cluster, load = clusters[best]
    none_rejected = fails.none if callable(fails) else fails.count(-1) == len(fails)
    return Decision.lazy(
        cluster.id,
        cluster.task_queue,
        _node_hint(request_plan, cluster, load),
        policy.weights,
        warnings,
        explain,
        cycle,
        cluster.storage_provider,
        () if none_rejected else None,
    )


def _summary(counts: Counter, total: int) -> str:
    parts = ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return f"0/{total} clusters fit: {parts}" if parts else f"0/{total} clusters fit: no clusters"


def _explain(build_results, request_plan: RequestPlan, clusters, fails, raws, totals, best, winner, what: str) -> Any:
    """What a decision reads when first asked (``Decision.lazy``'s ``explain``): its ``REASON``, its ``RESULTS`` or
    its ``REJECTIONS``, from the evaluation's answers; ``build_results`` is ``_build_results`` as it was when the
    decision was made."""
    if what == REASON:
        if best < 0:
            return _rejected_reason(fails, len(clusters))
        return _placed_reason(request_plan, clusters, fails, raws, totals, best, winner)
    if what == REJECTIONS:
        return build_results(request_plan, clusters, fails, raws, totals, rejected_only=True)
    return build_results(request_plan, clusters, fails, raws, totals)


def _rejected_reason(fails, total_count: int) -> str:
    fails = fails() if callable(fails) else fails
    if isinstance(fails, np.ndarray):
        tally = enumerate(np.bincount(fails[fails >= 0], minlength=len(RULE_FILTER)).tolist())
    else:
        tally = Counter(fails).items()
    counts: Counter = Counter()
    for rule, n in tally:
        if n:
            counts[FILTER_NAMES[RULE_FILTER[rule]]] += n
    return _summary(counts, total_count)


def _scores_of_one(request_plan: RequestPlan, pair: tuple[Cluster, ClusterLoad]) -> tuple[int, ...]:
    """One cluster's raw scores (policy order), as the plan's evaluation over any fleet holding it gives them."""
    return request_plan.plan.scored(request_plan, [pair])[1][0]


def _placed_reason(request_plan: RequestPlan, clusters, fails, raws, totals, best: int, winner=None) -> str:
    # The winner's raw scores alone: as the evaluation kept them (``winner``), else listed, else (the columns' path,
    # which works them out on reading) worked out for its cluster only.
    if winner is not None:
        best_raw = request_plan.pick(winner)
    else:
        best_raw = _scores_of_one(request_plan, clusters[best]) if callable(raws) else raws[best]
    cluster_id, weights, count = clusters[best][0].id, request_plan.cycle.policy.weights, len(clusters)
    fails = fails() if callable(fails) else fails
    feasible = int((fails < 0).sum()) if isinstance(fails, np.ndarray) else fails.count(-1)
    breakdown = ", ".join(f"{name} {raw}x{weight}" for (name, weight), raw in zip(weights, best_raw, strict=True))
    return f"{cluster_id}: score {int(totals[best])} ({breakdown}); {feasible}/{count} clusters fit"


def _build_results(request_plan, clusters, fails, raws, totals, *, rejected_only: bool = False) -> tuple:
    """``Decision.results``; with ``rejected_only``, ``Decision.rejections``: the rejected clusters alone."""
    if callable(fails):
        fails = fails().tolist()
    rejected = [i for i, failed in enumerate(fails) if failed >= 0]
    if rejected_only and not rejected:
        return ()
    ids = [cluster.id for cluster, _ in clusters]
    rejected.sort(key=ids.__getitem__)
    if rejected_only:
        return tuple((ids[i], request_plan.rejection(fails[i], *clusters[i])) for i in rejected)
    if callable(raws):
        if isinstance(totals, np.ndarray):
            raws, totals = raws(), totals.tolist()
        elif None in totals:  # a cluster that could not win was not scored (``placement.pipeline_evaluate``)
            raws, totals = request_plan.plan.scored(request_plan, clusters)[1:3]  # one evaluation gives both
        else:
            raws = raws()
    feasible = [i for i, failed in enumerate(fails) if failed < 0]
    feasible.sort(key=lambda i: (-totals[i], ids[i]))
    results = []
    for i in feasible:
        cluster = clusters[i][0]
        results.append(ClusterResult(cluster.id, cluster.task_queue, None, raws[i], totals[i]))
    for i in rejected:
        cluster, load = clusters[i]
        rejection = request_plan.rejection(fails[i], cluster, load)
        results.append(ClusterResult(cluster.id, cluster.task_queue, rejection, (), 0))
    return tuple(results)


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
