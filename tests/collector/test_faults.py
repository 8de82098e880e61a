"""Faults: each one gives a clear error, and through the CLI a non-zero exit with nothing written."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from placement.cli import app
from placement.collector.errors import CollectError
from support.kube_apiserver import Fault, write_kubeconfig
from support.kube_fleets import generated_fleet, k3s_longhorn_fleet

FAULTS = [
    (
        "/api/v1/pods",
        Fault(status=403),
        r"forbidden: list pods \(core/v1\) at cluster scope; grant it .*deploy/collector-rbac.yaml.*"
        r'cannot list resource "pods"',
    ),
    ("/api/v1/secrets", Fault(status=403), r"forbidden: list secrets \(core/v1\) at cluster scope"),
    ("/apis/longhorn.io/v1beta2/volumes", Fault(status=403), r"forbidden: list volumes \(longhorn.io/v1beta2\)"),
    ("/apis/apps/v1/deployments", Fault(status=500), r"API server error 500 on list deployments \(apps/v1\)"),
    (
        "/api/v1/nodes",
        Fault(status=503, message="etcd cluster is unavailable"),
        r"API server error 503 on list nodes \(core/v1\) at cluster scope: etcd cluster is unavailable",
    ),
    (
        "/apis/networking.k8s.io/v1/ingresses",
        Fault(delay=3.0),
        r"timeout: .* did not answer list ingresses \(networking.k8s.io/v1\) within 0.3s \(the request deadline",
    ),
]


@pytest.mark.parametrize(
    ("path", "fault", "message"), FAULTS, ids=[f"{f[0]} {f[1].status or 'timeout'}" for f in FAULTS]
)
def test_fault_is_reported(serve, path, fault, message):
    cluster = k3s_longhorn_fleet()
    cluster.faults[path] = fault
    with pytest.raises(CollectError, match=message):
        serve(cluster).collect(source_options={"timeout": 0.3})


def test_missing_longhorn_crd(serve):
    cluster = k3s_longhorn_fleet()
    del cluster.collections["/apis/longhorn.io/v1beta2/volumes"]
    with pytest.raises(
        CollectError,
        match=r"Volume CRD missing: .*volumes.longhorn.io/v1beta2 \(404 on "
        r"/apis/longhorn.io/v1beta2/volumes\)",
    ):
        serve(cluster).collect()


def test_unreachable_api_server(tmp_path):
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    from placement.collector.snapshot import collect_snapshot
    from placement.collector.source import KubernetesSource

    with (
        KubernetesSource.from_kubeconfig(kubeconfig) as source,
        pytest.raises(CollectError, match=rf"unreachable: cannot connect to the API server at http://127.0.0.1:{port}"),
    ):
        collect_snapshot(source, "eu-west-1")


def test_wrong_credentials(serve, tmp_path):
    served = serve(k3s_longhorn_fleet())
    text = served.kubeconfig.read_text().replace("collector-test-token", "stale-token")
    served.kubeconfig.write_text(text)
    with pytest.raises(CollectError, match="unauthorized: the API server rejected the kubeconfig's credentials"):
        served.collect()


runner = CliRunner()


@pytest.mark.parametrize("path", ["/api/v1/pods", "/apis/longhorn.io/v1beta2/volumes", "/api/v1/endpoints"])
def test_cli_keeps_the_previous_snapshot(serve, tmp_path, path):
    served = serve(k3s_longhorn_fleet())
    out = tmp_path / "snapshot.json"
    args = ["collect", "--kubeconfig", str(served.kubeconfig), "--cluster-id", "eu-west-1", "--out", str(out)]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    previous = out.read_bytes()

    served.cluster.faults[path] = Fault(status=500)
    failed = runner.invoke(app, args)
    assert failed.exit_code == 1
    assert "API server error 500" in failed.output and "nothing written" in failed.output
    assert out.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".snapshot")) == []


def test_cli_writes_nothing_when_the_first_collection_fails(serve, tmp_path):
    cluster = generated_fleet(5, 20)
    cluster.faults["/api/v1/configmaps"] = Fault(status=403)
    served = serve(cluster)
    out = tmp_path / "snapshot.json"
    result = runner.invoke(
        app, ["collect", "--kubeconfig", str(served.kubeconfig), "--cluster-id", "c1", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "forbidden: list configmaps (core/v1) at cluster scope" in result.output
    assert not out.exists()
