"""``placement collect`` through typer's runner and through the installed entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from placement.cli import app
from placement.collector.snapshot import Snapshot
from placement.state import ClusterLoadIn
from support.kube_apiserver import Fault
from support.kube_fleets import k3s_longhorn_fleet

runner = CliRunner()
PLACEMENT = Path(sys.executable).with_name("placement")


def _args(served, *extra: str) -> list[str]:
    return ["collect", "--kubeconfig", str(served.kubeconfig), "--cluster-id", "eu-west-1", *extra]


def test_print_and_out_write_the_same_snapshot(serve, tmp_path):
    served = serve(k3s_longhorn_fleet())
    out = tmp_path / "snapshots" / "eu-west-1.json"
    result = runner.invoke(app, _args(served, "--print", "--out", str(out)))
    assert result.exit_code == 0, result.output
    printed = Snapshot.model_validate_json(result.stdout)
    written = Snapshot.model_validate_json(out.read_text())
    assert printed == written
    assert printed.cluster_id == "eu-west-1"
    assert printed.load.ctrl_node_type == "CX52"
    assert ClusterLoadIn.model_validate(json.loads(out.read_text())["load"]).to_model() == written.to_model()


def test_context_option_selects_the_kubeconfig_context(serve):
    served = serve(k3s_longhorn_fleet())
    result = runner.invoke(app, _args(served, "--print", "--context", "other"))
    assert result.exit_code == 1
    assert "unreachable: cannot connect to the API server at http://127.0.0.1:9" in result.output
    assert runner.invoke(app, _args(served, "--print", "--context", "fake-k3s")).exit_code == 0
    unknown = runner.invoke(app, _args(served, "--print", "--context", "nope"))
    assert unknown.exit_code == 2 and "nope" in unknown.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "nothing to write: pass --db, --router, --out or --print"),
        (["--db", "sqlite:///x.db", "--router", "http://127.0.0.1:1", "--token", "t"], "give one of them"),
        (["--router", "http://127.0.0.1:1"], "--router needs --token"),
        (["--print", "--storage-provider", "nfs"], "--storage-provider 'nfs'"),
    ],
)
def test_bad_options_exit_2(serve, extra, message, monkeypatch):
    monkeypatch.delenv("PLACEMENT_ROUTER_TOKEN", raising=False)
    result = runner.invoke(app, _args(serve(k3s_longhorn_fleet()), *extra))
    assert result.exit_code == 2
    assert message in result.output


def test_bad_cluster_id_and_missing_kubeconfig_exit_2(tmp_path):
    result = runner.invoke(app, ["collect", "--cluster-id", "EU_West", "--print"])
    assert result.exit_code == 2 and "--cluster-id 'EU_West'" in result.output
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["collect", "--cluster-id", "eu", "--print", "--kubeconfig", str(missing)])
    assert result.exit_code == 2 and "no such file" in result.output


@pytest.mark.parametrize("given", ["path", "url"])
def test_a_db_that_is_not_there_exits_2_before_collecting_and_makes_no_file(serve, tmp_path, given):
    """Storing into a SQLite file that is not there would make an empty router database (no clusters, so the load
    is refused after the collection) and leave it behind: refused before the API server is asked."""
    served = serve(k3s_longhorn_fleet())
    missing = tmp_path / "router.db"
    result = runner.invoke(app, _args(served, "--db", str(missing) if given == "path" else f"sqlite:///{missing}"))
    assert result.exit_code == 2, result.output
    assert "no such SQLite file" in result.output
    assert not missing.exists() and served.cluster.requests == []


@pytest.mark.parametrize("where", ["a folder", "below a file"])
def test_an_out_that_cannot_be_written_exits_2_before_collecting(serve, tmp_path, where):
    served = serve(k3s_longhorn_fleet())
    taken = tmp_path / "taken"
    taken.write_text("")
    out = tmp_path if where == "a folder" else taken / "eu-west-1.json"
    result = runner.invoke(app, _args(served, "--out", str(out)))
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--out'" in result.output and served.cluster.requests == []


def test_watch_backs_off_then_recovers(serve, tmp_path):
    cluster = k3s_longhorn_fleet()
    cluster.faults["/api/v1/nodes"] = Fault(status=503, times=2)
    served = serve(cluster)
    out = tmp_path / "snap.json"
    result = runner.invoke(app, _args(served, "--out", str(out), "--watch", "--interval", "0.01", "--iterations", "4"))
    assert result.exit_code == 0, result.output
    assert result.output.count("collection failed") == 2
    assert "collection failed (2 in a row)" in result.output
    assert result.output.count("cluster eu-west-1: 3 run nodes") == 2
    assert Snapshot.model_validate_json(out.read_text()).load.pods == 13


def test_watch_that_never_succeeds_exits_1_and_writes_nothing(serve, tmp_path):
    cluster = k3s_longhorn_fleet()
    cluster.faults["/api/v1/pods"] = Fault(status=403)
    out = tmp_path / "snap.json"
    result = runner.invoke(
        app, _args(serve(cluster), "--out", str(out), "--watch", "--interval", "0.01", "--iterations", "2")
    )
    assert result.exit_code == 1
    assert "forbidden: list pods (core/v1) at cluster scope" in result.output
    assert not out.exists()


def test_installed_entry_point(serve, tmp_path):
    served = serve(k3s_longhorn_fleet())
    completed = subprocess.run(
        [str(PLACEMENT), *_args(served, "--print", "--page-size", "2")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    snapshot = Snapshot.model_validate_json(completed.stdout)
    assert [n.name for n in snapshot.load.run_nodes] == ["run-1", "run-2", "run-3"]
    assert "cluster eu-west-1: 3 run nodes, 13 pods" in completed.stderr
