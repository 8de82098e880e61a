"""A router that placed services after its clusters' newest snapshots: the start counts the snapshot's own customers
as the snapshot saw them, starts at the router's load now (the snapshot and the reservations since), and a ledger of
hours fits neither growth nor churn. Built through the router's HTTP API on a real SQLite file."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.store import open_store
from sim.start_from.build import ASSUMED, read_source, start_from
from tests.forecast.conftest import AUTH, NOW, TOKEN, Clock, cluster_body, load_body
from tests.forecast.test_start_from import base, basis, day_zero

GiB = 1024**3


def place(client: TestClient, customer: str, k: int, volume: bool) -> None:
    request = {"customer_id": customer, "ram": "1Gi", "region": "eu-west"}
    if volume:
        request["volumes"] = [{"size": "2Gi"}]
    body = {"request_id": f"{customer}-{k}", "service_name": f"s{k}", "service_id": f"{customer}-{k}",
            "request": request}  # fmt: skip
    response = client.post("/v1/placements", json=body, headers=AUTH)
    assert response.status_code == 201, response.text


@pytest.fixture
def busy_router(tmp_path):
    """eu-west-1: 4 customers placed through the router, then a snapshot counting them and 30 customers it never
    saw (64 services, 32 volumes, 102 GiB requested in all), then within the router's snapshot age 40 more
    services: two for customers the snapshot counted, the rest for 19 new customers (the product API never says
    ``new_customer``); 3 of the new customers release all their services (churn within minutes)."""
    clock = Clock(NOW - timedelta(hours=8))
    url = f"sqlite:///{tmp_path / 'router.db'}"
    store = open_store(url, clock=clock)
    try:
        client = TestClient(create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,))))
        assert client.post("/v1/clusters", json=cluster_body("eu-west-1", "eu-west"), headers=AUTH).status_code == 201
        older = load_body(clock.now, 3, "32Gi", customers=30, services=60, volumes=30, pods=60, etcd_objects=560)
        assert client.put("/v1/clusters/eu-west-1/load", json=older, headers=AUTH).status_code == 200
        for number in range(4):
            place(client, f"old-{number}", 0, volume=number % 2 == 0)
        clock.now += timedelta(minutes=10)
        snapshot = load_body(clock.now, 3, "34Gi", customers=34, services=64, volumes=32, pods=64, etcd_objects=600)
        assert client.put("/v1/clusters/eu-west-1/load", json=snapshot, headers=AUTH).status_code == 200
        for number in range(2):
            clock.now += timedelta(seconds=20)
            place(client, f"old-{number}", 1, volume=True)
        for number in range(19):
            clock.now += timedelta(seconds=20)
            place(client, f"new-{number}", 0, volume=number % 2 == 0)
            place(client, f"new-{number}", 1, volume=False)
        for number in range(3):
            for k in range(2):
                assert client.delete(f"/v1/placements/new-{number}-{k}", headers=AUTH).status_code == 200
    finally:
        store.dispose()
    return url


def test_the_start_counts_the_snapshots_customers_and_the_routers_load_now(busy_router):
    state = read_source(busy_router, NOW)
    started = start_from(base(), state)
    live = started.scenario.start_from.live
    # The snapshot's 34 customers less the 4 the ledger held then; the customers placed since are measured.
    assert sum(not c.measured for c in live.customers) == 30
    assert sum(c.measured for c in live.customers) == 4 + 16
    # The run starts where the router stands now: the snapshot plus the reservations and releases since.
    first = day_zero(started.scenario).loc["eu-west-1"]
    effective = next(c.load_now for c in state.clusters)
    assert effective.services == 64 + 2 + 16 * 2 and effective.volumes == 32 + 2 + 8
    assert abs(first["ram_requested_bytes"] - effective.ram_requested_bytes) < 1024**2
    assert first["services"] == effective.services and first["volumes"] == effective.volumes
    assert not [w for w in started.warnings if "requested RAM" in w or "volumes" in w], started.warnings
    # The product API never said new_customer: fewer than 30 customers, too few to say it does not send it.
    assert not [w for w in started.warnings if "marked new_customer" in w]
    # Hours of ledger: neither growth nor churn is fitted, and the churn says why.
    assert basis(started, "growth") == ASSUMED and basis(started, "churn") == ASSUMED
    assert not started.churn_fit.fitted
    assert "fewer than 8 weeks, so churn is not fitted" in started.churn_fit.message
    assert started.scenario.churn == base().churn
    # Nor the creation delay of later services: services made minutes apart say nothing of a delay of weeks.
    assert started.scenario.customers.service_delay == base().customers.service_delay
    delay = started.provenance.set_index("figure").loc["customers.service_delay"]
    assert delay["basis"] == ASSUMED and "weeks of ledger: fewer than 8 to fit it to" in delay["source"]
