"""429 and 5xx with Retry-After: waited out and retried as client-go does, within the collection's deadline.

The source's clock and sleep are replaced by a fake clock that advances only when the collector waits, so the
tests assert the waits asked for and the deadline arithmetic, never wall-clock time.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from placement.cli import app
from placement.collector.errors import CollectError
from placement.collector.snapshot import Snapshot
from support.kube_apiserver import Fault
from support.kube_fleets import k3s_longhorn_fleet

runner = CliRunner()
PODS = "/api/v1/pods"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _collect(serve, cluster, clock: FakeClock, **source_options):
    return serve(cluster).collect(source_options={"clock": clock, "sleep": clock.sleep, **source_options})


def test_429_with_retry_after_is_waited_out_and_retried(serve):
    cluster = k3s_longhorn_fleet()
    cluster.faults[PODS] = Fault(status=429, retry_after="2", times=2)
    clock = FakeClock()
    snapshot = _collect(serve, cluster, clock)
    assert clock.slept == [2, 2]
    assert snapshot.load.pods == 13
    assert (snapshot.inventory.retries, snapshot.inventory.retry_wait_seconds) == (2, 4.0)
    assert [r.path for r in cluster.requests].count(PODS) == 3


@pytest.mark.parametrize("status", [500, 503, 504])
def test_5xx_with_retry_after_is_retried(serve, status):
    cluster = k3s_longhorn_fleet()
    cluster.faults["/api/v1/nodes"] = Fault(
        status=status, retry_after="1", times=1, message="apiserver is shutting down"
    )
    clock = FakeClock()
    snapshot = _collect(serve, cluster, clock)
    assert clock.slept == [1]
    assert [n.name for n in snapshot.load.run_nodes] == ["run-1", "run-2", "run-3"]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault(status=503, times=1), r"API server error 503 on list pods"),  # no Retry-After: not retried
        (Fault(status=429, times=1), r"unexpected answer 429 on list pods"),
        # client-go reads whole seconds only; an HTTP-date is not a wait it honours
        (Fault(status=429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT", times=1), r"answer 429 on list pods"),
        (Fault(status=403, retry_after="1", times=1), r"forbidden: list pods"),  # only 429 and 5xx are retried
    ],
    ids=["503 without Retry-After", "429 without Retry-After", "HTTP-date", "403 with Retry-After"],
)
def test_answers_that_do_not_ask_to_be_retried_fail_at_once(serve, fault, message):
    cluster = k3s_longhorn_fleet()
    cluster.faults[PODS] = fault
    clock = FakeClock()
    with pytest.raises(CollectError, match=message):
        _collect(serve, cluster, clock)
    assert clock.slept == []


def test_retries_are_bounded_as_in_client_go(serve):
    cluster = k3s_longhorn_fleet()
    cluster.faults[PODS] = Fault(status=429, retry_after="0")
    clock = FakeClock()
    with pytest.raises(CollectError, match=r"answer 429 on list pods .*still refused after 10 retries"):
        _collect(serve, cluster, clock)
    assert clock.slept == [0] * 10
    assert [r.path for r in cluster.requests].count(PODS) == 11


def test_waits_count_against_the_collection_deadline(serve):
    cluster = k3s_longhorn_fleet()
    cluster.faults[PODS] = Fault(status=503, retry_after="3", times=5)
    clock = FakeClock()
    with pytest.raises(
        CollectError,
        match=r"API server error 503 on list pods .*asks to retry after 3s, past the collection deadline "
        r"\(--collection-timeout 7s\)",
    ):
        _collect(serve, cluster, clock, collection_timeout=7)
    assert clock.slept == [3, 3]  # a third wait would end at 9 s, past the 7 s deadline


def test_no_request_is_sent_after_the_collection_deadline(serve):
    served = serve(k3s_longhorn_fleet())
    clock = FakeClock()
    with served.source(clock=clock, sleep=clock.sleep, collection_timeout=5) as source:
        from placement.collector import resources

        source.start_collection()
        assert source.count(resources.SECRETS) == 4
        clock.now += 5
        with pytest.raises(CollectError, match=r"collection deadline \(--collection-timeout 5s\) passed before list"):
            source.count(resources.SECRETS)
    assert [r.path for r in served.cluster.requests] == ["/api/v1/secrets"]


def test_cli_retries_within_its_collection_timeout(serve, tmp_path):
    cluster = k3s_longhorn_fleet()
    cluster.faults[PODS] = Fault(status=429, retry_after="1", times=1)
    served = serve(cluster)
    out = tmp_path / "snap.json"
    args = ["collect", "--kubeconfig", str(served.kubeconfig), "--cluster-id", "eu-west-1", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert Snapshot.model_validate_json(out.read_text()).inventory.retries == 1

    cluster.faults[PODS] = Fault(status=429, retry_after="60", times=1)
    failed = runner.invoke(app, [*args, "--collection-timeout", "30"])
    assert failed.exit_code == 1
    assert "asks to retry after 60s, past the collection deadline (--collection-timeout 30s)" in failed.output
