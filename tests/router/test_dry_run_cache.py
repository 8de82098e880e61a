"""Dry runs answered without the database: the customer's volume count kept with the cached fleet and written
through by placements, and the answers kept per fleet version until a snapshot turns stale."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event

from placement import select_cluster
from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.store import PlacementOrder, open_store
from placement.state import RequestIn
from tests.router.conftest import AUTH, NOW, TOKEN, FixedClock, cluster_body, load_body, seed_store

pytestmark = pytest.mark.anyio
QUOTA = 5  # the default plan's volumes per customer


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def cached(sqlite_url, clock):
    """A router whose fleet cache outlives the test (a minute), and the SQL statements it sends."""
    store = open_store(sqlite_url, clock=clock, fleet_cache_seconds=60)
    sent: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    app = create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
        yield store, client, sent
    store.dispose()


def volume_request(customer: str = "cust-1") -> dict:
    return {"customer_id": customer, "ram": "1Gi", "region": "eu-west", "volumes": [{"size": "1Gi"}]}


def reads_of_customer_volumes(sent: list[str]) -> int:
    return sum(statement.startswith("SELECT customer_volumes.") for statement in sent)


async def test_the_customer_count_is_read_once_then_written_through_by_placements(cached):
    store, client, sent = cached
    seed_store(store, [(cluster_body("eu-west-1"), load_body(volumes=0))])
    for _ in range(3):
        assert (await client.post("/v1/select-cluster", json=volume_request())).status_code == 200
    assert reads_of_customer_volumes(sent) == 1
    # Placements add to the cached count as their upsert added to the row; none of them reads it.
    for index in range(QUOTA):
        placed = await client.post(
            "/v1/placements",
            json={"request_id": f"r{index}", "service_name": "web", "request": volume_request()},
            headers=AUTH,
        )
        assert placed.status_code == 201, placed.text
    assert reads_of_customer_volumes(sent) == 1
    # The dry run sees the quota full, from the cache, and says so as the database would.
    refused = await client.post("/v1/select-cluster", json=volume_request())
    assert refused.status_code == 409
    assert refused.json()["decision"]["quota_violations"]
    assert reads_of_customer_volumes(sent) == 1
    assert store.customer_volume_count("cust-1") == QUOTA
    # A release drops the cache: the next dry run reads the count again, and fits.
    service_id = placed.json()["service_id"]
    assert (await client.delete(f"/v1/placements/{service_id}", headers=AUTH)).status_code == 200
    assert (await client.post("/v1/select-cluster", json=volume_request())).status_code == 200
    assert reads_of_customer_volumes(sent) == 3  # the test's own read above, and the dry run's


async def test_a_placement_decided_on_a_stale_cached_count_is_held_by_the_quota_guard(cached, sqlite_url, clock):
    store, client, _ = cached
    seed_store(store, [(cluster_body("eu-west-1"), load_body(volumes=0))])
    assert (await client.post("/v1/select-cluster", json=volume_request())).status_code == 200
    # Another process (its own store on the same database) fills the customer's quota; this one's cache is behind.
    other = open_store(sqlite_url, clock=clock, migrate=False)
    try:
        for index in range(QUOTA):
            other.place(PlacementOrder(f"other-{index}", "web", RequestIn.model_validate(volume_request())))
    finally:
        other.dispose()
    assert (await client.post("/v1/select-cluster", json=volume_request())).status_code == 200  # the cached count
    refused = await client.post(
        "/v1/placements", json={"request_id": "late", "service_name": "web", "request": volume_request()}, headers=AUTH
    )
    assert refused.status_code == 409
    assert refused.json()["decision"]["quota_violations"]
    assert store.customer_volume_count("cust-1") == QUOTA


async def test_a_cached_answer_ends_when_a_snapshot_turns_stale(cached, clock):
    store, client, _ = cached
    max_age = store.policy.max_snapshot_age_seconds
    observed = NOW - timedelta(seconds=max_age - 1)
    seed_store(
        store,
        [
            (cluster_body("eu-west-1"), load_body(observed_at=observed, volumes=0)),
            (cluster_body("eu-west-2"), load_body([("run-1", "250Gi", "200Gi")], volumes=400)),
        ],
    )
    body = {"customer_id": "c1", "ram": "1Gi", "region": "eu-west"}
    first = await client.post("/v1/select-cluster", json=body)
    assert first.json()["cluster_id"] == "eu-west-1"
    assert (await client.post("/v1/select-cluster", json=body)).json() == first.json()
    clock.now = NOW + timedelta(seconds=2)  # eu-west-1's snapshot is now older than the policy allows
    later = await client.post("/v1/select-cluster", json=body)
    expected = select_cluster(RequestIn.model_validate(body).to_model(), store.fleet(), store.policy, now=clock.now)
    assert later.json() == {**expected.to_dict(), "customer_quota_checked": True}
    assert later.json()["cluster_id"] == "eu-west-2"
