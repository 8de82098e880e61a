"""Prometheus metrics: request latency, decisions by cluster, rejections by reason. Labels stay low-cardinality."""

from __future__ import annotations

import bisect
import collections
import math
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from placement.engine import Decision

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_BOUNDS = (*map(float, LATENCY_BUCKETS), math.inf)  # the histogram's buckets' upper bounds, as prometheus_client's
# Answers and placed decisions counted here before they are written to their metrics (``RouterMetrics.flush``).
FLUSH_EVERY = 256


class RouterMetrics:
    """One registry per app, so several apps in one process (tests) never share counters.

    With ``multiprocess`` (``serve --workers N``, PROMETHEUS_MULTIPROC_DIR set before the workers started) every
    value also lives in the workers' shared files, and ``exposition`` sums them over all workers, whichever
    worker answers the scrape.

    On the event loop, answers' latencies and placed decisions are counted in plain lists and dicts and written to
    their metrics in batches (``flush``: every ``FLUSH_EVERY`` of them, and before every exposition). A histogram's
    observation and a counter's increment are Python calls that take a lock or two: ~22,000 instructions a
    placement for its latency and its decision (callgrind); binned here, ~1,000. Only where one thread counts (the
    loop: the ASGI app, the loop's placements, and the scrape), and not with ``multiprocess``: another worker may
    answer the scrape, and this one's counts would not be in it until its next flush.
    """

    def __init__(self, *, multiprocess: bool = False) -> None:
        self.multiprocess = multiprocess
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "placement_http_request_duration_seconds",
            "HTTP request latency by route template, method and status code.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "placement_decisions_total",
            "Engine decisions by chosen cluster ('none' when nothing fits), endpoint and outcome.",
            ["endpoint", "cluster", "outcome"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "placement_rejections_total",
            "Clusters rejected in decisions, by filter name; 'quota' counts requests refused by a quota.",
            ["reason"],
            registry=self.registry,
        )
        self.db_unavailable = Counter(
            "placement_db_unavailable_total",
            "Requests answered 503 because the database could not be reached in time.",
            registry=self.registry,
        )
        self.workers = Gauge(
            "placement_router_workers",
            "Router worker processes serving (summed over the live workers).",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.workers.set(1)
        # Each labelled child, looked up once: ``labels()`` checks and converts its values and takes a lock on every
        # call, twice per placement (its latency and its decision).
        self._children: dict[tuple[Any, ...], Any] = {}
        self._batched = not multiprocess
        # (method, route, status) -> each bucket's count (as in _BOUNDS), then the seconds' sum; (endpoint, cluster
        # id) -> placed decisions; and how many of both since the last flush.
        self._latencies: dict[tuple[str, str, int], list[float]] = {}
        self._placed: dict[tuple[str, str], int] = {}
        self._counted = 0
        self._exposed = self.registry
        if multiprocess:
            # A fresh registry holding only the collector: registering our own metrics there too would export
            # them twice (client_python's multiprocess docs).
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed)

    def exposition(self, extra: Iterable[Metric] = ()) -> bytes:
        """The text format for ``/metrics``; ``extra``: families made at scrape time (the forecast gauges)."""
        self.flush()
        return generate_latest(_Joined(self._exposed, extra))

    def process_exited(self) -> None:
        """A worker's last act: drop its live gauge files, so the worker count no longer includes it."""
        if self.multiprocess:
            mark_process_dead(os.getpid())

    def child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept."""
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """An HTTP request answered: its route's path template ("unmatched" when none), method and status. On the
        event loop."""
        if not self._batched:
            self.child(self.request_seconds, method, route, str(status)).observe(seconds)
            return
        key = (method, route, status)
        binned = self._latencies.get(key)
        if binned is None:
            binned = self._latencies[key] = [0] * len(_BOUNDS) + [0.0]
        binned[bisect.bisect_left(_BOUNDS, seconds)] += 1  # the first bound at or above: observe's bucket
        binned[-1] += seconds
        self._counted += 1
        if self._counted >= FLUSH_EVERY:
            self.flush()

    def record_decision_on_loop(self, endpoint: str, decision: Decision) -> None:
        """``record_decision`` from the event loop, where a placed decision with no cluster rejected (a placement's
        usual decision) is counted and written with the next flush."""
        if not (self._batched and decision.placed and not decision.rejections):
            self.record_decision(endpoint, decision)
            return
        key = (endpoint, decision.cluster_id)
        self._placed[key] = self._placed.get(key, 0) + 1
        self._counted += 1
        if self._counted >= FLUSH_EVERY:
            self.flush()

    def record_decision(self, endpoint: str, decision: Decision) -> None:
        outcome = "placed" if decision.placed else ("quota" if decision.quota_violations else "unschedulable")
        self.child(self.decisions, endpoint, decision.cluster_id or "none", outcome).inc()
        if decision.quota_violations:
            self.rejections.labels("quota").inc()
        # Counted from the rejected clusters alone: ``rejection_counts`` reads ``results``, which ranks and explains
        # every cluster (~4 % of a placement's CPU in the router, profiled), and a placement's answer needs neither.
        rejections = decision.rejections
        if rejections:  # a placement's decision usually has none
            counts = collections.Counter(rejection.filter for _cluster_id, rejection in rejections)
            for reason, count in counts.items():
                self.rejections.labels(reason).inc(count)

    def flush(self) -> None:
        """Write what the event loop counted since the last flush to the metrics. On the event loop."""
        self._counted = 0
        for (method, route, status), binned in self._latencies.items():
            if any(binned):
                histogram = self.child(self.request_seconds, method, route, str(status))
                # prometheus_client's own layout: a value per bucket in ``_buckets`` (the observations up to its
                # bound and above the previous one), and ``_sum``; tests/router/test_metrics_batches.py checks it.
                for index, count in enumerate(binned[:-1]):
                    if count:
                        histogram._buckets[index].inc(count)
                histogram._sum.inc(binned[-1])
                binned[:] = [0] * len(_BOUNDS) + [0.0]
        placed, self._placed = self._placed, {}
        for (endpoint, cluster_id), count in placed.items():
            self.child(self.decisions, endpoint, cluster_id, "placed").inc(count)


class _Joined:
    """A registry's families followed by ``extra``: what ``generate_latest`` reads."""

    def __init__(self, registry: CollectorRegistry, extra: Iterable[Metric]) -> None:
        self.registry = registry
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        yield from self.extra


class LatencyMiddleware:
    """A plain ASGI middleware (cheaper than BaseHTTPMiddleware) that times every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: RouterMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, time.perf_counter() - start)
