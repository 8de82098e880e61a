"""Fixtures for the router tests: real SQLite files, a private schema in the real PostgreSQL, real uvicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx
import psycopg
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.http_protocol import UVICORN_OPTIONS
from placement.router.store import Store, open_store
from placement.state import ClusterIn, ClusterLoadIn

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
TOKEN = "test-token-1"
OTHER_TOKEN = "test-token-2"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GiB = 1024**3
ROOT = Path(__file__).resolve().parents[2]


class FixedClock:
    """A settable clock, so the router and the in-process engine see the same ``now``."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'router.db'}"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema in the shared ``test`` database, dropped afterwards."""
    schema = f"router_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_url(pg_schema: str) -> str:
    return f"{PG_ADMIN}?schema={pg_schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'router.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def forecast_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite file, or a fresh ``serve_`` schema in the real PostgreSQL (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'router.db'}"
        return
    schema = f"serve_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_ADMIN}?schema={schema}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(sqlite_url: str, clock: FixedClock) -> Iterator[Store]:
    opened = open_store(sqlite_url, clock=clock)
    yield opened
    opened.dispose()


@pytest.fixture
def app(store: Store):
    return create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN, OTHER_TOKEN)))


@pytest.fixture
async def client(app) -> httpx.AsyncClient:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as http:
        yield http


def cluster_body(cluster_id: str, region: str = "eu-west", provider: str = "longhorn", **extra) -> dict:
    body = {
        "id": cluster_id,
        "name": cluster_id.replace("-", " ").title(),
        "region": region,
        "task_queue": f"deployer-{cluster_id}",
        "api_endpoint": f"https://{cluster_id}.example:6443",
        "storage_provider": provider,
        "registry_url": f"{cluster_id}.registry:5000",
    }
    body.update(extra)
    return ClusterIn.model_validate(body).model_dump(mode="json", exclude_none=True)


def load_body(
    nodes: list[tuple[str, str, str]] | None = None,
    observed_at: datetime | None = NOW,
    ctrl: str = "CX52",
    **counts,
) -> dict:
    """``nodes``: (name, allocatable, requested) quantities."""
    nodes = nodes or [("run-1", "250Gi", "100Gi"), ("run-2", "250Gi", "120Gi")]
    body = {
        "observed_at": observed_at.isoformat() if observed_at else None,
        "ctrl_node_type": ctrl,
        "run_nodes": [{"name": n, "allocatable_ram": a, "requested_ram": r} for n, a, r in nodes],
        "volumes": 10,
        "services": 20,
        "customers": 15,
        "pods": 20,
        "etcd_objects": 300,
    }
    body.update(counts)
    if body["observed_at"] is None:
        del body["observed_at"]
    return ClusterLoadIn.model_validate(body).model_dump(mode="json", exclude_none=True)


def seed_store(store: Store, entries: list[tuple[dict, dict | None]]) -> None:
    for cluster, load in entries:
        store.add_cluster(ClusterIn.model_validate(cluster).to_model())
        if load is not None:
            store.put_load(cluster["id"], ClusterLoadIn.model_validate(load).to_model())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_in_thread(app, **options) -> Iterator[int]:
    """``app`` served by uvicorn with the router's options (and ``options``) on a thread of this process: its port."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="uvloop", log_level="warning", **UVICORN_OPTIONS, **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


def metric_samples(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` as {(sample name, sorted labels): value}, over a new connection."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class LiveRouter:
    """``placement serve`` in a subprocess: real uvicorn on loopback, started through the real entry point.

    With ``workers`` > 1 it is ready once every worker counts itself in ``placement_router_workers``. The routers a
    test started (``started``) have their logs shown with its failure (``pytest_runtest_makereport``): a 500's
    traceback is only in the router's log.
    """

    started: ClassVar[list[LiveRouter]] = []

    def __init__(
        self,
        db: str,
        tmp_path: Path,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
        extra_args: tuple[str, ...] = (),
    ):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CAPPLAN_TOKENS": f"{TOKEN},{OTHER_TOKEN}", **(extra_env or {})}
        self.log_path = tmp_path / f"router-{self.port}.log"
        self.log = self.log_path.open("w")
        LiveRouter.started.append(self)
        command = [sys.executable, "-m", "placement", "serve", "--db", db, "--port", str(self.port)]
        if workers != 1:
            command += ["--workers", str(workers)]
        command += list(extra_args)
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self._ready(workers):
            if self.process.poll() is not None:
                raise RuntimeError(f"router exited: {self.log_path.read_text()}")
            if time.monotonic() > deadline:
                self.stop()  # not left running (with its workers) after the test gave up on it
                raise RuntimeError(f"router did not start: {self.log_path.read_text()}")
            time.sleep(0.1)

    def _ready(self, workers: int) -> bool:
        try:
            if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code != 200:
                return False
            return workers == 1 or metric_samples(self.base_url).get(("placement_router_workers", ())) == workers
        except httpx.TransportError:
            return False

    def worker_pids(self) -> list[int]:
        """The router's worker processes (Linux): its children but multiprocessing's resource tracker."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


LOG_SHOWN = 20_000  # characters of each router's log shown with a failure: its end, where a traceback is


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed and LiveRouter.started:
        for router in LiveRouter.started:
            text = router.log_path.read_text(errors="replace")
            report.sections.append((f"router log {router.log_path.name}", text[-LOG_SHOWN:]))
    if report.when == "teardown":
        LiveRouter.started.clear()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextmanager
def live_router_on(backend: str, tmp: Path) -> Iterator[tuple[LiveRouter, str]]:
    """A real router on a fresh SQLite file or PostgreSQL schema, for a whole module: (router, database URL).
    The router is stopped and the schema dropped afterwards."""
    schema = None
    if backend == "sqlite":
        db = f"sqlite:///{tmp / 'router.db'}"
    else:
        schema = f"router_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        db = f"{PG_ADMIN}?schema={schema}"
    router = LiveRouter(db, tmp)
    try:
        yield router, db
    finally:
        router.stop()
        if schema:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
