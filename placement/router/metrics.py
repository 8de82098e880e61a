"""Prometheus metrics: request latency, decisions by cluster, rejections by reason. Labels stay low-cardinality."""

from __future__ import annotations

import collections
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


class RouterMetrics:
    """One registry per app, so several apps in one process (tests) never share counters.

    With ``multiprocess`` (``serve --workers N``, PROMETHEUS_MULTIPROC_DIR set before the workers started) every
    value also lives in the workers' shared files, and ``exposition`` sums them over all workers, whichever
    worker answers the scrape.
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
        self._exposed = self.registry
        if multiprocess:
            # A fresh registry holding only the collector: registering our own metrics there too would export
            # them twice (client_python's multiprocess docs).
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed)

    def exposition(self, extra: Iterable[Metric] = ()) -> bytes:
        """The text format for ``/metrics``; ``extra``: families made at scrape time (the forecast gauges)."""
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
        """An HTTP request answered: its route's path template ("unmatched" when none), method and status."""
        self.child(self.request_seconds, method, route, str(status)).observe(seconds)

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
