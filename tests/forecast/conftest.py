"""Router databases with a history, built through the router itself (its HTTP API on a real SQLite file or a real
PostgreSQL database named ``forecast_*``), collector snapshot folders, and the shipped state file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.store import open_store

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
TOKEN = "forecast-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
GiB = 1024**3


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def cluster_body(cluster_id: str, region: str, provider: str = "longhorn", status: str = "active") -> dict:
    return {
        "id": cluster_id,
        "name": cluster_id,
        "region": region,
        "task_queue": f"deployer-{cluster_id}",
        "api_endpoint": f"https://{cluster_id}.example:6443",
        "storage_provider": provider,
        "registry_url": f"{cluster_id}.registry:5000",
        "status": status,
    }


def load_body(observed_at: datetime, nodes: int, requested: str, ctrl: str = "CX52", **counts) -> dict:
    body = {
        "observed_at": observed_at.isoformat(),
        "ctrl_node_type": ctrl,
        "run_nodes": [
            {"name": f"run-{i + 1}", "allocatable_ram": "250Gi", "requested_ram": requested} for i in range(nodes)
        ],
    }
    return body | counts


@dataclass
class History:
    """What was put into the router: its URL, the clock's end, customers placed, churned, and not in the ledger."""

    url: str
    now: datetime
    customers: int
    churned: int
    services: int
    unseen: dict[str, int]
    weeks: int


def build_history(
    url: str,
    *,
    weeks: int = 20,
    per_week: float = 6.0,
    seed: int = 7,
    unseen: int = 15,
    asking: tuple[str, ...] = ("eu-west",),
) -> History:
    """A router database with ``weeks`` of constant-rate sign-ups (Poisson, ``per_week``) through its HTTP API.

    Each customer places one or two services (1 GiB each, half of them with a 2 GiB volume) in eu-west; every
    tenth customer releases all of them three days later (churn). Before each placement the collector's snapshot
    of every cluster arrives (the router refuses stale ones): what the ledger holds plus ``unseen`` customers the
    router never saw on each eu-west cluster, each with two services and one volume; us-east-1 is draining and its
    12 customers are all unseen. Customer number n asks for region ``asking[n % len(asking)]`` (a region without a
    cluster: the engine places it on eu-west's).
    """
    rng = np.random.default_rng(seed)
    start = NOW - timedelta(weeks=weeks)
    clock = Clock(start)
    store = open_store(url, clock=clock)
    active: dict[str, dict[str, list[bool]]] = {"eu-west-1": {}, "eu-west-2": {}}
    try:
        client = TestClient(create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,))))
        for body in (
            cluster_body("eu-west-1", "eu-west"),
            cluster_body("eu-west-2", "eu-west", "rook-ceph"),
            cluster_body("us-east-1", "us-east", status="draining"),
        ):
            assert client.post("/v1/clusters", json=body, headers=AUTH).status_code == 201
        times = np.sort(rng.uniform(0, weeks * 7, size=rng.poisson(per_week * weeks)))
        services = churned = 0
        for number, day in enumerate(times.tolist()):
            clock.now = start + timedelta(days=day)
            _snapshots(client, clock.now, active, unseen)
            customer = f"cust-{number:04d}"
            count = 1 + int(rng.random() < 0.5)
            for k in range(count):
                with_volume = bool(rng.random() < 0.5)
                request = {"customer_id": customer, "ram": "1Gi", "region": asking[number % len(asking)]}
                if with_volume:
                    request["volumes"] = [{"size": "2Gi"}]
                body = {
                    "request_id": f"{customer}-{k}",
                    "service_name": f"svc-{k}",
                    "service_id": f"{customer}-svc-{k}",
                    "request": request,
                }
                response = client.post("/v1/placements", json=body, headers=AUTH)
                assert response.status_code == 201, response.text
                active[response.json()["cluster_id"]].setdefault(customer, []).append(with_volume)
                services += 1
            if number % 10 == 9:
                clock.now += timedelta(days=3)
                for k in range(count):
                    assert client.delete(f"/v1/placements/{customer}-svc-{k}", headers=AUTH).status_code == 200
                for held in active.values():
                    held.pop(customer, None)
                churned += 1
        clock.now = NOW
        _snapshots(client, NOW - timedelta(hours=1), active, unseen)
    finally:
        store.dispose()
    return History(url, NOW, len(times), churned, services, {"eu-west-1": unseen, "eu-west-2": unseen}, weeks)


def _snapshots(client: TestClient, at: datetime, active: dict[str, dict[str, list[bool]]], unseen: int) -> None:
    for cluster_id, held in active.items():
        services = sum(len(v) for v in held.values()) + 2 * unseen
        customers = len(held) + unseen
        body = load_body(
            at, 3, f"{services // 3 + 1}Gi", customers=customers, services=services,
            volumes=sum(sum(v) for v in held.values()) + unseen, pods=services, etcd_objects=10 * customers,
        )  # fmt: skip
        assert client.put(f"/v1/clusters/{cluster_id}/load", json=body, headers=AUTH).status_code == 200
    body = load_body(at, 2, "20Gi", ctrl="CX32", customers=12, services=14, volumes=6, pods=14, etcd_objects=140)
    assert client.put("/v1/clusters/us-east-1/load", json=body, headers=AUTH).status_code == 200


@pytest.fixture(scope="session")
def sqlite_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    path = tmp_path_factory.mktemp("router") / "router.db"
    return build_history(f"sqlite:///{path}")


@pytest.fixture(scope="session")
def pg_history() -> Iterator[History]:
    name = f"forecast_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{PG_SERVER}/test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield build_history(f"{PG_SERVER}/{name}")
    finally:
        with psycopg.connect(f"{PG_SERVER}/test", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
