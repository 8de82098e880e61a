"""Placements booked from the event loop (PostgreSQL): a lost guard is decided again on the cached fleet, which
holds what this router booked, before the thread path is asked."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import event

from placement.footprint import Footprint
from placement.router.app import create_app
from placement.router.cache import FleetCache
from placement.router.config import RouterSettings
from placement.router.gate import DatabaseGate
from placement.router.loop_booking import LoopPlacements
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


async def test_concurrent_placements_see_each_others_room_held_from_the_decision_on(pg_url, clock, monkeypatch):
    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("lb-1"), load_body(nodes=ONE_SLOT_EACH))])
        store.refresh_fleet()
        booked = []
        book = LoopPlacements._book

        async def counted(self, connections, booking, hold):
            booked.append(booking.placed.node)
            return await book(self, connections, booking, hold)

        monkeypatch.setattr(LoopPlacements, "_book", counted)
        app = create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
            # Both decided before either booking is back: the second sees the first's node taken.
            answers = await asyncio.gather(
                *(client.post("/v1/placements", json=placement_body(f"req-{i}"), headers=AUTH) for i in range(2))
            )
        assert [answer.status_code for answer in answers] == [201, 201]
        assert sorted(answer.json()["node"] for answer in answers) == ["run-1", "run-2"]
        assert sorted(booked) == ["run-1", "run-2"]  # one booking each: no guard lost, nothing decided again
        # Both held, both booked: the cached fleet counts each once, as the database does.
        cached = store.cache.fresh().fleet
        store.refresh_fleet()
        assert store.cache.fresh().fleet == cached
        check_consistency(pg_url)
    finally:
        store.dispose()


async def test_a_fleet_read_while_a_booking_is_in_flight_still_holds_its_room(pg_url, clock, monkeypatch):
    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("lb-1"), load_body(nodes=ONE_SLOT_EACH))])
        store.refresh_fleet()
        booked: list[str] = []
        book = LoopPlacements._book
        first_sent = asyncio.Event()
        second_decided = asyncio.Event()

        async def refilled_meanwhile(self, connections, booking, hold):
            booked.append(booking.placed.node)
            if len(booked) == 1:
                # The fleet is read again (the cache's refill) while this booking is in flight, and the next
                # placement is decided on that read before this one's answer is back.
                store.refresh_fleet()
                first_sent.set()
                await second_decided.wait()
            else:
                second_decided.set()
            return await book(self, connections, booking, hold)

        async def second() -> httpx.Response:
            await first_sent.wait()
            return await client.post("/v1/placements", json=placement_body("req-2"), headers=AUTH)

        monkeypatch.setattr(LoopPlacements, "_book", refilled_meanwhile)
        app = create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
            answers = await asyncio.gather(
                client.post("/v1/placements", json=placement_body("req-1"), headers=AUTH), second()
            )
        assert [answer.status_code for answer in answers] == [201, 201]
        assert sorted(answer.json()["node"] for answer in answers) == ["run-1", "run-2"]
        assert sorted(booked) == ["run-1", "run-2"]  # the second saw the first's slot taken: no guard lost
        cached = store.cache.fresh().fleet
        store.refresh_fleet()
        assert store.cache.fresh().fleet == cached  # each counted once, as the database counts them
        check_consistency(pg_url)
    finally:
        store.dispose()


def test_a_hold_is_let_go_or_booked_once_and_a_refill_since_decides_where_it_counts(sqlite_url, clock):
    store = open_store(sqlite_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("lb-1"), load_body(nodes=ONE_SLOT_EACH))])
        store.refresh_fleet()
        cache = store.cache
        before = cache.fresh().fleet
        footprint = Footprint.of(store.request_model(RequestIn(ram="2Gi")), store.policy.limits, "longhorn")
        with_one = [(cluster, footprint.add_to(load, "run-1")) for cluster, load in before]

        hold = cache.hold("lb-1", "run-1", footprint)
        assert cache.fresh().fleet == with_one
        cache.let_go(hold)
        assert cache.fresh().fleet == before
        cache.let_go(hold)  # ended: nothing
        assert cache.fresh().fleet == before
        # Its caller stopped waiting (a 503), but the statement committed: the booking counts after all, once.
        cache.booked(hold)
        assert cache.fresh().fleet == with_one
        cache.booked(hold)
        assert cache.fresh().fleet == with_one
        store.refresh_fleet()  # (not in the database: the test books by hand)
        assert cache.fresh().fleet == before

        hold = cache.hold("lb-1", "run-1", footprint)
        cache.booked(hold, ("cust-1", 3))
        cache.let_go(hold)  # ended: nothing
        assert cache.fresh().fleet == with_one
        assert cache.fresh().customer_volumes("cust-1") == 3

        # Held, then the fleet read again (the booking not in the database yet): the new read holds it too, so the
        # placements decided on it see the room taken; let go, it leaves the new read; booked, it is counted once.
        store.refresh_fleet()
        with_one_on_run_2 = [(cluster, footprint.add_to(load, "run-2")) for cluster, load in before]
        hold = cache.hold("lb-1", "run-2", footprint)
        store.refresh_fleet()
        assert cache.fresh().fleet == with_one_on_run_2
        store.refresh_fleet()  # and the read after it
        assert cache.fresh().fleet == with_one_on_run_2
        cache.let_go(hold)
        assert cache.fresh().fleet == before
        hold = cache.hold("lb-1", "run-1", footprint)
        store.refresh_fleet()
        assert cache.fresh().fleet == with_one
        cache.booked(hold)
        assert cache.fresh().fleet == with_one
        # A fleet dropped (a write through this process) while a booking is in flight: the next read holds it too.
        hold = cache.hold("lb-1", "run-2", footprint)
        cache.drop()
        assert cache.fresh() is None
        store.refresh_fleet()
        assert cache.fresh().fleet == with_one_on_run_2
        cache.let_go(hold)
        assert cache.fresh().fleet == before

        # Bookings answered while a read is under way (the read may have run before they committed) are added to
        # it, whether held (the loop's) or not (the thread path's); those answered before it began are not.
        def read_while_answered() -> list:
            cache.booked(cache.hold("lb-1", "run-1", footprint))
            cache.add("lb-1", "run-2", footprint)
            return before

        cache.booked(cache.hold("lb-1", "run-1", footprint))
        cache.refill(read_while_answered)
        both = [(cluster, footprint.add_to(footprint.add_to(load, "run-1"), "run-2")) for cluster, load in before]
        assert cache.fresh().fleet == both
        cache.refill(lambda: before)
        assert cache.fresh().fleet == before
    finally:
        store.dispose()


async def test_the_fleet_read_through_the_loops_connections_is_the_thread_paths(pg_url, clock):
    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    placing = LoopPlacements(store, DatabaseGate(5.0), lambda _decision: None)
    try:
        seed_store(
            store,
            [
                (cluster_body("lb-1"), load_body(nodes=ONE_SLOT_EACH)),
                (cluster_body("lb-2", region="us-east"), load_body()),
                (cluster_body("lb-3"), None),  # no snapshot yet
            ],
        )
        volume = RequestIn(customer_id="cust-1", ram="1Gi", volumes=[{"size": "1Gi"}])
        store.place(PlacementOrder("v1", "v1", volume))
        store.refresh_fleet()  # through SQLAlchemy, in this thread
        threaded = store.cache.fresh()
        assert await placing.refill()
        looped = store.cache.fresh()
        assert looped.version != threaded.version  # read again
        assert looped.fleet == threaded.fleet
        assert looped.snapshot.customer_volumes == threaded.snapshot.customer_volumes == {"cust-1": 1}
    finally:
        await placing.close()
        store.dispose()


async def test_a_loop_booking_writes_the_customers_count_it_answered_through_to_the_cache(pg_url, clock):
    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("lb-1"), load_body())])
        store.refresh_fleet()
        sent: list[str] = []
        event.listen(store.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
        app = create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
            for index in range(3):
                body = placement_body(f"vol-{index}")
                body["request"]["volumes"] = [{"size": "1Gi"}]
                placed = await client.post("/v1/placements", json=body, headers=AUTH)
                assert placed.status_code == 201, placed.text
        assert not any("INSERT INTO reservations" in statement for statement in sent)  # all three on the loop
        # The statement's answer (the customer's count after it, read by its column's place) is the cache's.
        assert store.cache.fresh().customer_volumes("cust-1") == 3
        assert store.repository.customer_volume_count("cust-1") == 3
        check_consistency(pg_url)
    finally:
        store.dispose()


async def test_a_loop_connection_keeps_a_cursor_per_statement_and_its_adapters_with_it(pg_url, clock):
    store = open_store(pg_url, clock=clock)
    placing = LoopPlacements(store, DatabaseGate(5.0), lambda _decision: None)
    connections = placing.connections
    conn, _reused = await connections.take()
    try:
        with_volume, without = "SELECT %(a)s::int + 1", "SELECT %(a)s::int + 2"
        adapters, sent = {}, {}
        for sql, value in [(with_volume, 1), (without, 2), (with_volume, 3), (without, 4)]:
            cursor = connections.cursor(conn, sql)
            await cursor.execute(connections.query(sql), {"a": value})
            assert (await cursor.fetchone())[0] == value + (1 if sql is with_volume else 2)
            adapters.setdefault(sql, cursor._tx)
            # Bookings of both shapes alternate: each statement's cursor keeps its adapter map across them.
            assert cursor._tx is adapters[sql]
            # And each statement goes as the same bytes, encoded once, not as text psycopg encodes at every call.
            assert cursor._last_query == sql.encode() and cursor._last_query is sent.setdefault(sql, cursor._last_query)
        assert connections.cursor(conn, with_volume) is not connections.cursor(conn, without)
    finally:
        await connections.give_back(conn)
        await placing.close()
        store.dispose()


def test_a_read_that_saw_more_bookings_answered_than_are_kept_is_not_installed(sqlite_url, clock):
    store = open_store(sqlite_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("lb-1"), load_body())])
        store.refresh_fleet()
        fleet = store.cache.fresh().fleet
        footprint = Footprint.of(store.request_model(RequestIn(ram="1Gi")), store.policy.limits, "longhorn")
        cache = FleetCache(max_age_seconds=3600, booked_kept=2)

        def with_added(on: list, count: int) -> list:
            for _ in range(count):
                on = [(cluster, footprint.add_to(load, "run-1")) for cluster, load in on]
            return on

        def read_while_answered(count: int):
            def read() -> list:
                for _ in range(count):
                    cache.add("lb-1", "run-1", footprint)
                return fleet

            return read

        cache.refill(read_while_answered(2))  # as many as are kept: installed, with both added
        installed = cache.fresh()
        assert installed.fleet == with_added(fleet, 2)
        cache.refill(read_while_answered(3))  # more: which of them the read holds is not known, so it is not installed
        assert cache.fresh().snapshot.read_at == installed.snapshot.read_at
        assert cache.fresh().fleet == with_added(fleet, 5)  # the cached fleet, with the three added to it
        cache.refill(lambda: fleet)
        assert cache.fresh().fleet == fleet
    finally:
        store.dispose()


class _AnswerDropped:
    """A cursor as psycopg's is when its task is cancelled while it waits: the statement runs to its end (committed,
    when ``runs``) and then the cancellation is raised in place of its answer."""

    def __init__(self, cursor, runs: bool):
        self.cursor = cursor
        self.runs = runs

    async def execute(self, query, params):
        if self.runs:
            await self.cursor.execute(query, params)
        raise asyncio.CancelledError


@pytest.mark.parametrize("committed", [True, False])
async def test_a_booking_cancelled_at_its_deadline_counts_and_stays_cached_exactly_when_it_committed(
    pg_url, clock, monkeypatch, committed
):
    """Past the deadline the caller is answered 503 and the booking is cancelled inside psycopg, which may find the
    statement committed already: the placement was made, and must be counted (metrics) and kept in the cached fleet
    like any other, though its answer never came; one that did not commit is neither."""
    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("lb-1"), load_body(nodes=ONE_SLOT_EACH))])
        store.refresh_fleet()
        counted = []
        placing = LoopPlacements(store, DatabaseGate(deadline=1.5), counted.append)
        connections = placing.connections
        plain_cursor = connections.cursor
        monkeypatch.setattr(connections, "cursor", lambda conn, sql: _AnswerDropped(plain_cursor(conn, sql), committed))
        order = PlacementOrder("late-1", "web", RequestIn(customer_id="cust-1", ram="2Gi"))
        booking = store.reservations.booked_on_cache(order, clock())
        node = booking.placed.node
        hold = store.cache.hold(booking.placed.cluster_id, node, booking.footprint)
        store.cache.let_go(hold)  # the caller was answered 503 first (``LoopPlacements.place``)
        with pytest.raises(asyncio.CancelledError):
            await placing._book(connections, booking, hold)
        await placing.close()
        assert [d.cluster_id for d in counted] == (["lb-1"] if committed else [])
        assert hold.booked is committed
        _, load = next(pair for pair in store.cache.fresh().fleet if pair[0].id == "lb-1")
        free = {n.name: n.allocatable_ram_bytes - n.requested_ram_bytes for n in load.run_nodes}
        assert free[node] == (1 if committed else 3) * 1024**3
        assert check_consistency(pg_url)["active"] == (1 if committed else 0)
    finally:
        store.dispose()
