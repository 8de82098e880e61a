"""Placements booked from the event loop (PostgreSQL): a lost guard is decided again on the cached fleet, which
holds what this router booked, before the thread path is asked."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import event

from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.reservation import Reservations
from placement.router.store import PlacementOrder, open_store
from placement.state import RequestIn
from tests.router.conftest import AUTH, TOKEN, cluster_body, load_body, seed_store
from tests.router.consistency import check_consistency

pytestmark = pytest.mark.anyio
# Two nodes with room for one 2Gi service each.
ONE_SLOT_EACH = [("run-1", "16Gi", "13Gi"), ("run-2", "16Gi", "13Gi")]


def placement_body(request_id: str) -> dict:
    return {"request_id": request_id, "service_name": "web", "request": {"customer_id": "cust-1", "ram": "2Gi"}}


async def test_a_guard_lost_to_this_routers_own_placement_is_decided_again_on_the_loop(pg_url, clock, monkeypatch):
    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("lb-1"), load_body(nodes=ONE_SLOT_EACH))])
        store.refresh_fleet()
        decided = Reservations.booked_on_cache
        nodes: list[str | None] = []

        def racing(self, order, now):
            booking = decided(self, order, now)
            if booking is not None and not nodes:
                # A concurrent placement through this router takes the same node's only slot first, and the
                # cached fleet learns of it (as the loop's placements add what they booked).
                rival = PlacementOrder("rival", "rival", RequestIn(customer_id="c2", ram="2Gi"))
                nodes.append(store.place(rival).placed.node)
            if booking is not None:
                nodes.append(booking.placed.node)
            return booking

        monkeypatch.setattr(Reservations, "booked_on_cache", racing)
        sent: list[str] = []
        event.listen(store.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
        app = create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
            # The request's first decision: the rival's node (same request, same cached fleet).
            placed = await client.post("/v1/placements", json=placement_body("req-1"), headers=AUTH)
        assert placed.status_code == 201, placed.text
        rival, lost, chosen = nodes
        assert lost == rival  # its first booking lost the node's guard
        assert chosen != rival and placed.json()["node"] == chosen  # decided again on the cache: the other node
        # Only the rival's booking went through SQLAlchemy: the retry was the loop's, not the thread path's fresh
        # read of the fleet and second statement.
        assert sum("INSERT INTO reservations" in statement for statement in sent) == 1
        assert not any(statement.startswith("SELECT clusters.") for statement in sent)
        check_consistency(pg_url)
    finally:
        store.dispose()


async def test_a_guard_lost_twice_on_the_loop_takes_the_thread_path(pg_url, clock, monkeypatch):
    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    other = open_store(pg_url, clock=clock, migrate=False)
    try:
        seed_store(store, [(cluster_body("lb-1"), load_body(nodes=ONE_SLOT_EACH))])
        store.refresh_fleet()
        # Another router took both slots: this router's cached fleet cannot know, so both loop attempts lose.
        for index in range(2):
            other.place(PlacementOrder(f"other-{index}", f"other-{index}", RequestIn(customer_id="c2", ram="2Gi")))
        calls = []
        decided = Reservations.booked_on_cache

        def counted(self, order, now):
            calls.append(order.request_id)
            return decided(self, order, now)

        monkeypatch.setattr(Reservations, "booked_on_cache", counted)
        app = create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
            refused = await client.post("/v1/placements", json=placement_body("req-1"), headers=AUTH)
        # The thread path read the fleet again and found nothing fits: a 409 from the database's own figures.
        assert refused.status_code == 409, refused.text
        assert calls == ["req-1", "req-1"]
        check_consistency(pg_url)
    finally:
        store.dispose()
        other.dispose()
