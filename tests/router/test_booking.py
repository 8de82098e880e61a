"""A booking is all or nothing: a guard lost after the decision leaves no row and no count behind, on SQLite (its
transaction rolls back) and on PostgreSQL (the one statement undoes itself, ``capplan_guard_lost()``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, insert, select

from placement.catalogue import node_takes
from placement.footprint import Footprint
from placement.model import RunNode
from placement.router import counters
from placement.router.db import node_counters, reservations, services, volumes
from placement.router.db import volumes as volumes_table
from placement.router.ledger import PLACED
from placement.router.store import NothingFits, PlacementOrder, open_store
from placement.state import ClusterLoadIn, RequestIn
from tests.router.conftest import NOW, cluster_body, load_body, seed_store
from tests.router.consistency import check_consistency

GiB = 1024**3
ROOMY = [("run-1", "16Gi", "2Gi")]


def rows(store) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar()
            for table in (reservations, services, volumes)
        )


@pytest.mark.parametrize(
    ("taken", "asked"),
    [
        # the node's RAM went to someone else: the node's guard is lost after the cluster's matched
        ({"nodes": [("run-1", "16Gi", "15Gi")]}, {"ram": "4Gi", "volumes": [{"size": "1Gi"}]}),
        # the cluster's last volume slot went: the cluster's guard is lost
        ({"nodes": ROOMY, "volumes": 500}, {"ram": "1Gi", "volumes": [{"size": "1Gi"}]}),
    ],
    ids=["node", "cluster"],
)
def test_a_guard_lost_after_the_decision_leaves_nothing_behind(db_url, clock, taken, asked):
    deciding = open_store(db_url, clock=clock, fleet_cache_seconds=3600)
    other = open_store(db_url, clock=clock, migrate=False)
    try:
        seed_store(deciding, [(cluster_body("bk-1"), load_body(nodes=ROOMY, observed_at=NOW - timedelta(minutes=1)))])
        deciding.refresh_fleet()  # the room as it was
        # Another router's collector reports the room gone; the deciding router's cached fleet still shows it.
        other.put_load("bk-1", ClusterLoadIn.model_validate(load_body(observed_at=NOW, **taken)).to_model())
        sent: list[str] = []
        event.listen(deciding.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
        order = PlacementOrder("req-1", "web", RequestIn(customer_id="cust-1", **asked))
        with pytest.raises(NothingFits):
            deciding.place(order)
        # It booked on the cached fleet first (the guard was lost), then decided again on a fresh read.
        assert sum("INSERT INTO reservations" in statement for statement in sent) == 1
        assert rows(deciding) == (0, 0, 0)
        assert deciding.customer_volume_count("cust-1") == 0
        _, _, reserved = deciding.cluster_state("bk-1")
        assert set(reserved.values()) == {0}
        check_consistency(db_url)
    finally:
        deciding.dispose()
        other.dispose()


def test_on_postgresql_a_placement_is_one_statement_outside_any_transaction(pg_url, clock):
    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("bk-1"), load_body(nodes=ROOMY))])
        store.refresh_fleet()
        sent: list[tuple[str, str | None]] = []

        def record(conn, _cursor, statement, *_args) -> None:
            sent.append((statement, conn.get_execution_options().get("isolation_level")))

        event.listen(store.engine, "before_cursor_execute", record)
        order = PlacementOrder("req-1", "web", RequestIn(customer_id="cust-1", ram="1Gi", volumes=[{"size": "1Gi"}]))
        first = store.place(order)
        assert [level for _, level in sent] == ["AUTOCOMMIT"]
        assert sent[0][0].startswith("WITH ledger AS")
        # The same request id again: the ledger's primary key refuses the second booking, which answers as a replay.
        again = store.place(order)
        assert (again.replayed, again.placed) == (True, first.placed)
        assert rows(store) == (1, 1, 1)
        check_consistency(pg_url)
    finally:
        store.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    allocatable=st.integers(1, 64),
    requested=st.integers(0, 64),
    reserved=st.integers(0, 8),
    pods=st.integers(0, 120),
    reserved_pods=st.integers(0, 5),
    max_pods=st.none() | st.integers(1, 120),
    schedulable=st.booleans(),
    ram=st.integers(1, 16),
)
def test_the_node_guard_is_the_catalogues_node_rules(
    store, allocatable, requested, reserved, pods, reserved_pods, max_pods, schedulable, ram
):
    """The guarded UPDATE of a node matches exactly when the catalogue's per-node rules take the placement on the
    node the fleet shows (its snapshot plus what was reserved since)."""
    if not store.list_clusters():
        seed_store(store, [(cluster_body("bk-1"), None)])
    limits = store.policy.limits
    row = {
        "cluster_id": "bk-1",
        "node_name": "run-1",
        "position": 0,
        "allocatable_ram": allocatable * GiB,
        "requested_ram": requested * GiB,
        "reserved_ram": reserved * GiB,
        "pods": pods,
        "reserved_pods": reserved_pods,
        "max_pods": max_pods,
        "schedulable": schedulable,
    }
    footprint = Footprint("longhorn", ram * GiB, 1, 1, 0, 0, 0, 10)
    node = RunNode(
        "run-1", allocatable * GiB, (requested + reserved) * GiB, pods + reserved_pods, max_pods, schedulable
    )
    with store.engine.connect() as conn:
        conn.execute(insert(node_counters), row)
        matched = conn.execute(
            counters.reserve_on_node(),
            {
                "match_cluster_id": "bk-1",
                "match_node_name": "run-1",
                **counters.node_additions(footprint),
                **counters.node_guard_capacities(limits),
            },
        ).rowcount
        conn.rollback()
    assert matched == int(node_takes(node, footprint, limits))


@pytest.mark.parametrize("run_nodes", [1, 4])
def test_a_booking_reserves_the_footprint_the_engine_judged_on_the_clusters_size(db_url, clock, run_nodes):
    # A cluster with fewer run nodes than its provider's replicas keeps one replica per node: less RAM, disk and
    # objects per volume. The booking takes the decision's footprint; it must be the one made for this size.
    store = open_store(db_url, clock=clock)
    try:
        nodes = [(f"run-{n}", "64Gi", "2Gi") for n in range(run_nodes)]
        seed_store(store, [(cluster_body("eu-west-1"), load_body(nodes=nodes))])
        request = RequestIn(customer_id="c-1", ram="1Gi", volumes=[{"size": "2Gi"}])
        store.place(PlacementOrder("r-1", "web", request))
        with store.engine.connect() as conn:
            row = conn.execute(select(reservations)).one()
        model = store.reservations.request_model(request)
        expected = Footprint.of(model, store.policy.limits, "longhorn", run_nodes)
        kept = counters.ledger_values(expected)
        assert {name: row._mapping[name] for name in kept} == kept
        assert expected != Footprint.of(model, store.policy.limits, "longhorn", 1 if run_nodes > 1 else 4)
    finally:
        store.dispose()


@pytest.mark.parametrize("volumes", [[], [{"size": "1Gi", "mount_path": "/srv"}]], ids=["plain", "volume"])
def test_on_postgresql_a_bookings_parameters_are_its_statements_binds_and_write_what_was_placed(pg_url, clock, volumes):
    # The statement's parameters are built directly (``BookingStatements.statement_params``), not from the rows'
    # dicts: they must be exactly the statement's binds, and write the rows the placement describes.
    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("bk-1"), load_body(nodes=ROOMY))])
        store.refresh_fleet()
        reservations_ = store.reservations
        order = PlacementOrder("req-1", "web", RequestIn(customer_id="cust-1", ram="1Gi", volumes=volumes), "repo")
        booking = reservations_.booked_on_cache(order, clock())
        assert booking.rows is None
        shape = (booking.binding, booking.volume_count, booking.customer is not None)
        binds = reservations_.statements._combine(*shape).compile(dialect=store.engine.dialect).binds
        _sql, params = reservations_.statements.statement(store.engine.dialect, booking)
        # Every bind has its value; beyond them, only the capacities of guards this footprint does not bind.
        assert set(binds) <= set(params)
        assert all(name.startswith("cap_") for name in set(params) - set(binds))
        placed = store.place(order).placed
        with store.engine.connect() as conn:
            ledger = conn.execute(select(reservations)).one()
            service = conn.execute(select(services)).one()
            volume_rows = conn.execute(select(volumes_table).order_by(volumes_table.c.id)).all()
        assert (ledger.request_id, ledger.service_id, ledger.cluster_id, ledger.node_name) == (
            "req-1",
            placed.service_id,
            "bk-1",
            placed.node,
        )
        assert (ledger.customer_id, ledger.body_hash, ledger.volumes) == ("cust-1", order.body_hash(), len(volumes))
        assert ledger.response == PLACED.dump_python(placed, mode="json")
        assert (service.id, service.name, service.repo, service.ram_bytes, service.pods, service.customer_id) == (
            placed.service_id,
            "web",
            "repo",
            GiB,
            1,
            "cust-1",
        )
        assert [(v.id, v.mount_path, v.size_bytes, v.node_name) for v in volume_rows] == [
            (f"{placed.service_id}-vol-0", "/srv", GiB, placed.node) for _ in volumes
        ]
        check_consistency(pg_url)
    finally:
        store.dispose()


def test_the_ledger_keeps_the_region_each_request_asked_for(db_url, clock):
    # With no cluster open in the region asked for, the preferred region mode places the service elsewhere; the
    # ledger keeps the region asked for beside the cluster (migration 0010), so a forecast started from it sends
    # that region's new customers where the engine would, not to the region they happened to land in.
    store = open_store(db_url, clock=clock)
    try:
        seed_store(store, [(cluster_body("eu-west-1"), load_body(nodes=ROOMY))])
        asked = {"r-1": "ap-south", "r-2": "eu-west", "r-3": None}
        for request_id, region in asked.items():
            request = RequestIn(customer_id=f"c-{request_id}", ram="1Gi", region=region, volumes=[{"size": "1Gi"}])
            assert store.place(PlacementOrder(request_id, "web", request)).placed.cluster_id == "eu-west-1"
        with store.engine.connect() as conn:
            kept = dict(conn.execute(select(reservations.c.request_id, reservations.c.region)).all())
        assert kept == asked
    finally:
        store.dispose()


@pytest.mark.parametrize("new_customer", [False, True])
@pytest.mark.parametrize("volumes", [[], [{"size": "1Gi", "mount_path": "/srv"}]], ids=["plain", "volume"])
def test_on_postgresql_the_booking_statement_stays_within_what_psycopg_caches_the_parsing_of(
    pg_url, clock, volumes, new_customer
):
    # Over 4,096 characters or 50 parameters, psycopg parses the statement's text again at every placement.
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS

    store = open_store(pg_url, clock=clock, fleet_cache_seconds=3600)
    try:
        seed_store(store, [(cluster_body("bk-1"), load_body(nodes=ROOMY))])
        store.refresh_fleet()
        request = RequestIn(
            customer_id="cust-1", ram="1Gi", region="eu-west", new_customer=new_customer, etcd_objects=5,
            volumes=volumes,
        )  # fmt: skip
        booking = store.reservations.booked_on_cache(PlacementOrder("req-1", "web", request, "repo"), clock())
        sql, params = store.reservations.statements.statement(store.engine.dialect, booking)
        assert len(sql.encode()) <= MAX_CACHED_STATEMENT_LENGTH
        assert len(params) <= MAX_CACHED_STATEMENT_PARAMS
        # Bound without casts, the row's own values are written with their columns' types.
        placed = store.place(PlacementOrder("req-1", "web", request, "repo")).placed
        with store.engine.connect() as conn:
            row = conn.execute(select(reservations)).one()
        assert (row.request_id, row.region, row.pods, row.volumes) == ("req-1", "eu-west", 1, len(volumes))
        assert row.new_customer is new_customer and row.ram_bytes >= GiB and placed.cluster_id == "bk-1"
    finally:
        store.dispose()
