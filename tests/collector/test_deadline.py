"""--timeout is a total deadline per request: an answer trickled one byte at a time cannot outlast it.

No wall-clock assertions: each trickled answer would take far longer than the deadline to finish, and the tests
check that the request failed as a timeout while the server was still trickling (it had sent only part of the
answer and the client was gone before the end), i.e. that a deadline well below the trickle's length cut it off.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from placement.cli import app
from placement.collector import resources
from placement.collector.errors import CollectError
from support.kube_apiserver import Fault
from support.kube_fleets import k3s_longhorn_fleet

runner = CliRunner()
INGRESSES = "/apis/networking.k8s.io/v1/ingresses"
PAUSE = 0.05  # seconds between bytes: the answers below (~370 bytes) would take ~18 s to trickle out


def _trickled(cluster, path):
    [progress] = cluster.trickles[path]
    return progress


def test_a_trickled_body_fails_at_the_request_deadline(serve):
    cluster = k3s_longhorn_fleet()
    cluster.faults[INGRESSES] = Fault(trickle=PAUSE)
    with pytest.raises(
        CollectError,
        match=r"timeout: the API server at http://127.0.0.1:\d+ did not answer list ingresses "
        r"\(networking.k8s.io/v1\) within 1s \(the request deadline, --timeout 1\)",
    ):
        serve(cluster).collect(source_options={"timeout": 1.0})
    progress = _trickled(cluster, INGRESSES)
    assert progress.total * PAUSE > 10  # the whole answer would have taken over 10 s
    assert not progress.finished
    assert progress.sent < progress.total / 2


def test_trickled_headers_fail_at_the_request_deadline(serve):
    cluster = k3s_longhorn_fleet()
    cluster.faults[INGRESSES] = Fault(trickle=PAUSE, trickle_headers=True)
    with pytest.raises(CollectError, match=r"timeout: .* did not answer list ingresses .* within 1s"):
        serve(cluster).collect(source_options={"timeout": 1.0})
    progress = _trickled(cluster, INGRESSES)
    assert not progress.finished
    assert progress.sent < progress.total / 2


def test_the_collection_deadline_bounds_a_request_too(serve):
    """A request gets at most what is left of the collection's deadline, even when --timeout is longer."""
    cluster = k3s_longhorn_fleet()
    cluster.faults[INGRESSES] = Fault(trickle=PAUSE)
    with pytest.raises(CollectError, match=r"within .*s \(what was left of the collection deadline"):
        serve(cluster).collect(source_options={"timeout": 60.0, "collection_timeout": 1.5})
    assert not _trickled(cluster, INGRESSES).finished


def test_the_connection_cut_at_the_deadline_is_not_reused(serve):
    cluster = k3s_longhorn_fleet()
    cluster.faults[INGRESSES] = Fault(trickle=PAUSE, times=1)
    served = serve(cluster)
    with served.source(timeout=1.0) as source:
        with pytest.raises(CollectError, match="timeout"):
            source.count(resources.INGRESSES)
        assert source.count(resources.INGRESSES) == 2
        assert source.count(resources.SECRETS) == 4


def test_cli_timeout_is_a_total_deadline(serve, tmp_path):
    cluster = k3s_longhorn_fleet()
    cluster.faults[INGRESSES] = Fault(trickle=PAUSE)
    served = serve(cluster)
    out = tmp_path / "snap.json"
    result = runner.invoke(
        app,
        ["collect", "--kubeconfig", str(served.kubeconfig), "--cluster-id", "c1", "--out", str(out), "--timeout", "1"],
    )
    assert result.exit_code == 1
    assert "did not answer list ingresses (networking.k8s.io/v1) within 1s" in result.output
    assert "nothing written" in result.output
    assert not out.exists()
    assert not _trickled(cluster, INGRESSES).finished
