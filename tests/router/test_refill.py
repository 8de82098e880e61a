"""The cached fleet is read once for all the requests that need it (single flight), ahead of its expiry, and with
the volume counts of the customers it knew; placements then decide without reading the fleet in their
transactions, and every placement's statements are the booking's (rows first, guarded counters last)."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest
from sqlalchemy import event

from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.fleet_rows import FLEET, NODES, FleetRows, fleet_from_rows
from placement.router.store import PlacementOrder, open_store
from placement.state import RequestIn
from tests.router.conftest import AUTH, TOKEN, cluster_body, load_body, seed_store

pytestmark = pytest.mark.anyio


@pytest.fixture
async def router(db_url, clock, monkeypatch):
    store = open_store(db_url, clock=clock, fleet_cache_seconds=60)
    sent: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    # And what the event loop's own connections send (placement.router.loop_booking, PostgreSQL): through a
    # cursor, as AsyncConnection.execute sends too.
    execute = psycopg.AsyncCursor.execute

    async def recorded(cursor, query, *args, **kwargs):
        sent.append(query.decode() if isinstance(query, bytes) else query)  # a booking's statement goes as bytes
        return await execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", recorded)
    app = create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,)))
    seed_store(store, [(cluster_body("eu-west-1"), load_body(volumes=0)), (cluster_body("eu-west-2"), load_body())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
        yield store, client, sent
    store.dispose()


def fleet_reads(sent: list[str]) -> int:
    return sum(statement.startswith("SELECT clusters.id") for statement in sent)


def customer_reads(sent: list[str]) -> int:
    return sum(statement.startswith("SELECT customer_volumes.") for statement in sent)


def dry_run(customer: str) -> dict:
    return {"customer_id": customer, "ram": "1Gi", "region": "eu-west", "volumes": [{"size": "1Gi"}]}


async def test_requests_that_find_the_fleet_expired_share_one_read(router):
    store, client, sent = router
    store.cache.drop()
    sent.clear()
    answers = await asyncio.gather(*(client.post("/v1/select-cluster", json=dry_run("cust-1")) for _ in range(20)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1
    assert fleet_reads(sent) == 1
    assert customer_reads(sent) == 1


async def test_a_refill_reads_the_known_customers_again_in_one_read(router, db_url, clock):
    store, client, sent = router
    for customer in ("cust-1", "cust-2"):
        assert (await client.post("/v1/select-cluster", json=dry_run(customer))).status_code == 200
    # Another process places a volume for cust-1; the next refill must see it.
    other = open_store(db_url, clock=clock, migrate=False)
    try:
        other.place(PlacementOrder("elsewhere", "web", RequestIn.model_validate(dry_run("cust-1"))))
    finally:
        other.dispose()
    store.refresh_fleet()
    sent.clear()
    for customer in ("cust-1", "cust-2"):
        assert (await client.post("/v1/select-cluster", json=dry_run(customer))).status_code == 200
    assert customer_reads(sent) == 0
    assert store.cache.fresh().customer_volumes("cust-1") == 1
    assert store.cache.fresh().customer_volumes("cust-2") == 0


async def test_the_fleet_is_read_ahead_of_its_expiry(router):
    store, client, sent = router
    store.refresh_fleet()
    store.cache.refresh_after = 0.0  # due at once
    before = store.cache.fresh().version
    sent.clear()
    assert (await client.post("/v1/select-cluster", json=dry_run("cust-1"))).status_code == 200
    for _ in range(500):  # the read runs in the background; the request did not wait for it
        if store.cache.fresh().version > before:
            break
        await asyncio.sleep(0.01)
    assert store.cache.fresh().version > before
    assert fleet_reads(sent) == 1


async def test_placements_read_the_fleet_once_outside_their_transactions(router):
    store, client, sent = router
    store.cache.drop()
    sent.clear()
    bodies = [{"request_id": f"r{i}", "service_name": "web", "request": dry_run(f"c{i}")} for i in range(8)]
    answers = await asyncio.gather(*(client.post("/v1/placements", json=body, headers=AUTH) for body in bodies))
    assert {answer.status_code for answer in answers} == {201}
    assert fleet_reads(sent) == 1
    # Each placement: its booking (on SQLite also the ledger read before it, in its transaction).
    bookings = [s for s in sent if s.startswith("WITH ledger AS") or s.startswith("INSERT INTO reservations")]
    assert len(bookings) == 8
    totals = store.ledger_totals()
    assert sum(cluster["services"] for cluster in totals.values()) == 8
    for cluster_id in totals:
        _, _, reserved = store.cluster_state(cluster_id)
        assert reserved["services"] == totals[cluster_id]["services"]
        assert reserved["volumes"] == totals[cluster_id]["volumes"]


def test_a_fleet_read_again_makes_again_only_the_clusters_whose_rows_changed(db_url, clock):
    store = open_store(db_url, clock=clock)
    try:
        seed_store(store, [(cluster_body("eu-west-1"), load_body(volumes=0)), (cluster_body("eu-west-2"), load_body())])

        def rows() -> tuple[list[str], list[tuple], list[tuple]]:
            with store.engine.connect() as conn:
                clusters = conn.execute(FLEET)
                names = list(clusters.keys())
                return names, [tuple(row) for row in clusters], [tuple(row) for row in conn.execute(NODES)]

        fleet_rows = FleetRows()
        first = fleet_rows.fleet(*rows())
        with store.engine.connect() as conn:
            assert first == fleet_from_rows(conn.execute(FLEET).all(), conn.execute(NODES))
        assert all(a is b for a, b in zip(fleet_rows.fleet(*rows()), first, strict=True))  # nothing changed
        store.place(PlacementOrder("r-1", "web", RequestIn(customer_id="c-1", ram="1Gi")))
        again = fleet_rows.fleet(*rows())
        with store.engine.connect() as conn:
            assert again == fleet_from_rows(conn.execute(FLEET).all(), conn.execute(NODES))
        placed_on = store.ledger_totals()
        assert [pair is before for pair, before in zip(again, first, strict=True)] == [
            cluster.id not in placed_on for cluster, _load in first
        ]
    finally:
        store.dispose()


ODD_CUSTOMERS = ['c "quoted"', "c,comma", "c\\backslash", "c{braces}", "NULL", "ç ü", "c'1"]


async def test_a_refill_reads_the_counts_of_customers_with_any_id(router, db_url, clock):
    # On PostgreSQL the ids go to the database as one JSON array: ids with quotes, commas, backslashes, braces or
    # the word NULL are read back as themselves, by the event loop's refill and the thread's alike.
    store, client, _sent = router
    for customer in ODD_CUSTOMERS:
        assert (await client.post("/v1/select-cluster", json=dry_run(customer))).status_code == 200
    other = open_store(db_url, clock=clock, migrate=False)
    try:
        for index, customer in enumerate(ODD_CUSTOMERS[::2]):
            other.place(PlacementOrder(f"elsewhere-{index}", "web", RequestIn.model_validate(dry_run(customer))))
    finally:
        other.dispose()
    expected = {customer: int(customer in ODD_CUSTOMERS[::2]) for customer in ODD_CUSTOMERS}
    store.refresh_fleet()
    assert {customer: store.cache.fresh().customer_volumes(customer) for customer in ODD_CUSTOMERS} == expected
    if store.engine.dialect.name == "postgresql":
        store.cache.refresh_after = 0.0  # due at once: the next request reads it again from the event loop
        before = store.cache.fresh().version
        assert (await client.post("/v1/select-cluster", json=dry_run("c-1"))).status_code == 200
        for _ in range(500):
            if store.cache.fresh().version > before:
                break
            await asyncio.sleep(0.01)
        assert store.cache.fresh().version > before
        assert {customer: store.cache.fresh().customer_volumes(customer) for customer in ODD_CUSTOMERS} == expected
