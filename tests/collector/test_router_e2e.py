"""End to end: the collected snapshot flows into the router (its database, and its HTTP API under real uvicorn),
and the router's select-cluster decides on it exactly as the in-process engine does on the same snapshot."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from placement.cli import app
from placement.collector.snapshot import Snapshot
from placement.engine import select_cluster
from placement.model import ClusterLoad
from placement.policy import default_policy
from placement.router.store import open_store
from placement.state import ClusterIn, RequestIn
from support.kube_fleets import generated_fleet, k3s_longhorn_fleet

ROOT = Path(__file__).resolve().parents[2]
ROUTER_TOKEN = "collector-e2e-token"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
runner = CliRunner()

CLUSTERS = [
    ClusterIn(
        id="eu-west-1",
        name="Europe West 1",
        region="eu-west",
        task_queue="deployer-eu-west-1",
        registry_url="10.0.1.4:5000",
        api_endpoint="https://10.0.1.2:6443",
        storage_provider="longhorn",
    ),
    ClusterIn(
        id="eu-west-2",
        name="Europe West 2",
        region="eu-west",
        task_queue="deployer-eu-west-2",
        registry_url="10.0.2.4:5000",
        api_endpoint="https://10.0.2.2:6443",
        storage_provider="rook-ceph",
    ),
]
REQUEST = RequestIn(customer_id="cust-new", region="eu-west", ram="2Gi", volumes=[{"size": "10Gi"}], new_customer=True)


def _without_derived(load: ClusterLoad) -> tuple:
    return (
        load.run_nodes,
        load.ctrl_node_type,
        load.volumes,
        load.services,
        load.customers,
        load.pods,
        load.etcd_objects,
        load.observed_at,
    )


def _collect(served, tmp_path: Path, cluster_id: str, *sink: str) -> Snapshot:
    out = tmp_path / f"{cluster_id}.json"
    result = runner.invoke(
        app, ["collect", "--kubeconfig", str(served.kubeconfig), "--cluster-id", cluster_id, "--out", str(out), *sink]
    )
    assert result.exit_code == 0, result.output
    return Snapshot.model_validate_json(out.read_text())


@pytest.fixture
def fleet(serve):
    return serve(k3s_longhorn_fleet()), serve(generated_fleet(4, 400, customers=40, ceph=True))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def router_db(request, tmp_path):
    """The router's database: a SQLite file, or a private schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'router.db'}"
        return
    import psycopg

    schema = f"collector_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_ADMIN}?schema={schema}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_db_sink_feeds_the_routers_select_cluster(fleet, tmp_path, router_db):
    url = router_db
    store = open_store(url)
    for cluster in CLUSTERS:
        store.add_cluster(cluster.to_model())
    snapshots = [_collect(served, tmp_path, c.id, "--db", url) for served, c in zip(fleet, CLUSTERS, strict=True)]

    stored = dict((c.id, load) for c, load in store.fleet())
    for snapshot in snapshots:
        assert _without_derived(stored[snapshot.cluster_id]) == _without_derived(snapshot.to_model())

    now = max(s.load.observed_at for s in snapshots) + timedelta(seconds=30)
    routed = store.decide(REQUEST, now=now)
    local = select_cluster(
        REQUEST.to_model(),
        [(c.to_model(), s.to_model()) for c, s in zip(CLUSTERS, snapshots, strict=True)],
        default_policy(),
        now=now,
    )
    assert routed.placed
    assert routed.to_dict() == local.to_dict()
    store.dispose()


def test_db_sink_refuses_an_unregistered_cluster(serve, tmp_path):
    url = f"sqlite:///{tmp_path / 'router.db'}"
    open_store(url).add_cluster(CLUSTERS[0].to_model())
    served = serve(k3s_longhorn_fleet())
    out = tmp_path / "snap.json"
    result = runner.invoke(
        app,
        [
            "collect",
            "--kubeconfig",
            str(served.kubeconfig),
            "--cluster-id",
            "eu-central-9",
            "--db",
            url,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    assert "cluster 'eu-central-9' is not registered in the router's database" in result.output
    assert not out.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_router(tmp_path):
    """``placement serve`` on loopback (real uvicorn), with the clusters registered."""
    db = f"sqlite:///{tmp_path / 'live-router.db'}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "router.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "placement", "serve", "--db", db, "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ, CAPPLAN_TOKENS=ROUTER_TOKEN),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError((tmp_path / "router.log").read_text())
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("router did not start")
        auth = {"Authorization": f"Bearer {ROUTER_TOKEN}"}
        for cluster in CLUSTERS:
            response = httpx.post(f"{base}/v1/clusters", json=cluster.model_dump(mode="json"), headers=auth)
            assert response.status_code in (200, 201), response.text
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_router_sink_feeds_the_live_routers_select_cluster(fleet, tmp_path, live_router):
    snapshots = [
        _collect(served, tmp_path, c.id, "--router", live_router, "--token", ROUTER_TOKEN)
        for served, c in zip(fleet, CLUSTERS, strict=True)
    ]
    response = httpx.post(
        f"{live_router}/v1/select-cluster",
        json=REQUEST.model_dump(mode="json"),
        headers={"Authorization": f"Bearer {ROUTER_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    local = select_cluster(
        REQUEST.to_model(),
        [(c.to_model(), s.to_model()) for c, s in zip(CLUSTERS, snapshots, strict=True)],
        default_policy(),
        now=datetime.now(UTC),
    )
    assert response.json() == {**local.to_dict(), "customer_quota_checked": True}


def test_router_sink_reports_a_refused_token(fleet, tmp_path, live_router):
    out = tmp_path / "snap.json"
    result = runner.invoke(
        app,
        [
            "collect",
            "--kubeconfig",
            str(fleet[0].kubeconfig),
            "--cluster-id",
            "eu-west-1",
            "--router",
            live_router,
            "--token",
            "wrong",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    assert "router refused the load: PUT" in result.output and "403" in result.output
    assert not out.exists()
