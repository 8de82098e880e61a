"""The router's metrics counted on the event loop and written in batches (``RouterMetrics.flush``) read as if each
value had been written at once."""

from __future__ import annotations

import math
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from placement.router.metrics import FLUSH_EVERY, LATENCY_BUCKETS, RouterMetrics

PLACED = SimpleNamespace(placed=True, cluster_id="c-1", quota_violations=(), rejections=())
RAM = (("c-1", SimpleNamespace(filter="ram")),)
REFUSED = SimpleNamespace(placed=False, cluster_id=None, quota_violations=(), rejections=RAM)
PLACED_WITH_REJECTIONS = SimpleNamespace(placed=True, cluster_id="c-2", quota_violations=(), rejections=RAM)
ROUTE = (("method", "POST"), ("route", "/p"), ("status", "201"))
COUNT = ("placement_http_request_duration_seconds_count", ROUTE)
PLACED_KEY = ("placement_decisions_total", (("cluster", "c-1"), ("endpoint", "placements"), ("outcome", "placed")))


def as_samples(families) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def exposed(metrics: RouterMetrics) -> dict[tuple[str, tuple], float]:
    return as_samples(text_string_to_metric_families(metrics.exposition().decode()))


def written(metrics: RouterMetrics) -> dict[tuple[str, tuple], float]:
    """What the registry holds now, without a flush."""
    return as_samples(metrics.registry.collect())


# Seconds around, on and between the buckets' bounds, and beyond the last.
seconds = st.one_of(st.sampled_from([0.0, *LATENCY_BUCKETS, 3.0]), st.floats(min_value=0, max_value=5))


@given(st.lists(st.tuples(seconds, st.sampled_from([201, 200, 409])), max_size=40), st.integers(0, 3))
def test_batched_latencies_read_as_observed_one_by_one(answers, flushes):
    batched, one_by_one = RouterMetrics(), RouterMetrics(multiprocess=False)
    one_by_one._batched = False  # as with multiprocess, without its files
    for index, (value, status) in enumerate(answers):
        batched.observe_request("POST", "/p", status, value)
        one_by_one.observe_request("POST", "/p", status, value)
        if flushes and index % (flushes + 1) == 0:
            batched.flush()
    expected, got = written(one_by_one), exposed(batched)
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        assert math.isclose(got[name], value, rel_tol=1e-9, abs_tol=1e-12), name


def test_counts_are_in_every_exposition_and_written_every_flush_every():
    metrics = RouterMetrics()
    metrics.observe_request("POST", "/p", 201, 0.002)
    metrics.record_decision_on_loop("placements", PLACED)
    assert COUNT not in written(metrics) and PLACED_KEY not in written(metrics)  # counted, not written yet
    assert exposed(metrics)[COUNT] == 1
    assert exposed(metrics)[PLACED_KEY] == 1
    for _ in range(FLUSH_EVERY // 2):
        metrics.observe_request("POST", "/p", 201, 0.002)
        metrics.record_decision_on_loop("placements", PLACED)
    assert written(metrics)[COUNT] == FLUSH_EVERY // 2 + 1
    assert written(metrics)[PLACED_KEY] == FLUSH_EVERY // 2 + 1
    assert exposed(metrics)[PLACED_KEY] == FLUSH_EVERY // 2 + 1


def test_refusals_rejections_and_threads_decisions_are_written_at_once():
    metrics = RouterMetrics()
    metrics.record_decision_on_loop("placements", REFUSED)
    metrics.record_decision_on_loop("placements", PLACED_WITH_REJECTIONS)
    metrics.record_decision("placements", PLACED)  # from a database thread
    now = written(metrics)
    unschedulable = (("cluster", "none"), ("endpoint", "placements"), ("outcome", "unschedulable"))
    placed_c2 = (("cluster", "c-2"), ("endpoint", "placements"), ("outcome", "placed"))
    assert now[("placement_decisions_total", unschedulable)] == 1
    assert now[("placement_decisions_total", placed_c2)] == 1
    assert now[PLACED_KEY] == 1
    assert now[("placement_rejections_total", (("reason", "ram"),))] == 2
