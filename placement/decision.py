"""The engine's answer: the chosen cluster and, built only when read, why each cluster ranked as it did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from placement.catalogue import Rejection
from placement.rules import FILTER_NAMES

_new_object = object.__new__
# What a lazy decision asks its ``explain`` for (``Decision.lazy``).
REASON, RESULTS, REJECTIONS = "reason", "results", "rejections"


@dataclass(frozen=True, slots=True)
class ClusterResult:
    """One cluster's trip through the pipeline.

    ``rejection`` is the record of the filter that turned it down (None when it passed them all); the
    filters before it passed and those after it did not run. ``raw_scores`` follows the policy's weights and
    is empty for a rejected cluster.
    """

    cluster_id: str
    task_queue: str
    rejection: Rejection | None
    raw_scores: tuple[int, ...]
    total: int

    @property
    def feasible(self) -> bool:
        return self.rejection is None

    @property
    def failed_filter(self) -> int | None:
        """The rejecting filter's index in ``FILTER_NAMES``."""
        return None if self.rejection is None else FILTER_NAMES.index(self.rejection.filter)

    @property
    def reason(self) -> str | None:
        return None if self.rejection is None else str(self.rejection)


class Decision:
    """The engine's answer, with everything needed to explain it (OCM placement-debug shape in ``to_dict``).

    Treat it as immutable. ``results`` (ranked: feasible by score, then rejected, each by cluster id) and
    ``reason`` may be built on first access: a caller that only needs the winner (the simulator, the router's
    reservation) pays for no text, and building one explained ``ClusterResult`` per cluster of a large fleet
    would cost more than choosing.
    """

    __slots__ = (
        "_cycle",
        "_explain",
        "_provider",
        "_reason",
        "_rejections",
        "_results",
        "cluster_id",
        "node_hint",
        "quota_violations",
        "task_queue",
        "warnings",
        "weights",
    )

    def __init__(
        self,
        cluster_id: str | None,
        task_queue: str | None,
        node_hint: str | None,
        reason: str | None,
        weights: tuple[tuple[str, int], ...],
        results: tuple[ClusterResult, ...] | None = (),
        quota_violations: tuple[str, ...] = (),
        warnings: tuple[str, ...] = (),
        *,
        cycle: Any = None,
        provider: str | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self.task_queue = task_queue
        self.node_hint = node_hint
        self._reason = reason
        self.weights = weights
        self.quota_violations = quota_violations
        self.warnings = warnings
        self._results = results
        self._rejections = None
        self._explain = None  # a decision made here is complete (``lazy`` makes the engine's)
        self._cycle = cycle  # the request's ``Cycle`` and the chosen cluster's storage provider, for ``footprint``
        self._provider = provider

    def footprint(self, run_nodes: int | None = None):
        """What the service adds to the chosen cluster (``Footprint``), which has ``run_nodes`` run nodes (None: at
        full size); None when nothing was chosen. The one the engine judged, when the cluster's size gives the same."""
        if self._cycle is None:
            return None
        return self._cycle.footprint(self._provider, run_nodes)

    @property
    def reason(self) -> str:
        """One line saying why: the winner's scores, or what turned every cluster down (made when read)."""
        if self._reason is None:
            self._reason = self._explain(REASON)
        return self._reason

    @property
    def results(self) -> tuple[ClusterResult, ...]:
        if self._results is None:
            self._results = self._explain(RESULTS)
        return self._results

    @property
    def rejections(self) -> tuple[tuple[str, Rejection], ...]:
        """(cluster id, rejection) of each rejected cluster, by cluster id: what ``results`` says of them, without
        ranking the feasible ones or building their results when ``results`` was not read."""
        if self._results is None:
            known = self._rejections
            return known if known is not None else self._explain(REJECTIONS)
        return tuple((r.cluster_id, r.rejection) for r in self._results if r.rejection is not None)

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

    @classmethod
    def lazy(
        cls,
        cluster_id: str | None,
        task_queue: str | None,
        node_hint: str | None,
        weights: tuple[tuple[str, int], ...],
        warnings: tuple[str, ...],
        explain: Callable[[str], Any],
        cycle: Any = None,
        provider: str | None = None,
        rejections: tuple | None = None,
    ) -> Decision:
        """The engine's answer to every request it judged: ``explain(what)`` makes its ``REASON``, its ``RESULTS``
        or (when ``results`` was not read) its ``REJECTIONS`` when first read. Filled by plain stores: a class call
        with keywords (the type's call, ``__init__`` dispatched through it) costs more than the stores, once per
        placement. ``cycle`` and ``provider``: the request's ``Cycle`` and the chosen cluster's storage provider
        (``footprint``). ``rejections``: ``()`` when the caller knows no cluster was rejected (the usual answer,
        which the simulator reads after every placement: nothing is made for it), else None (made when read)."""
        decision = _new_object(cls)
        # One assignment of every slot, as ``__init__`` sets them.
        decision.cluster_id, decision.task_queue, decision.node_hint, decision.weights, decision.warnings = (
            cluster_id, task_queue, node_hint, weights, warnings,
        )  # fmt: skip
        decision._reason, decision._results, decision.quota_violations, decision._explain = None, None, (), explain
        decision._cycle, decision._provider, decision._rejections = cycle, provider, rejections
        return decision

    @property
    def placed(self) -> bool:
        return self.cluster_id is not None

    def result(self, cluster_id: str) -> ClusterResult:
        for result in self.results:
            if result.cluster_id == cluster_id:
                return result
        raise KeyError(cluster_id)

    def rejection_counts(self) -> dict[str, int]:
        return dict(Counter(r.rejection.filter for r in self.results if r.rejection is not None))

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
