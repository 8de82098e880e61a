"""The replicas' raw disk in the router, on SQLite and PostgreSQL: a placement reserves its volume bytes times the
replicas, the cluster's guard refuses one that would overfill the disk the collector measured, and a release
gives the disk back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from placement.router.db import cluster_counters
from placement.router.store import NothingFits, PlacementOrder, open_store
from placement.state import ClusterLoadIn, RequestIn
from tests.router.conftest import NOW, cluster_body, load_body, seed_store
from tests.router.consistency import check_consistency

GiB = 1024**3
# Three run nodes: Longhorn keeps its full 3 replicas of each volume, so a 10 GiB volume takes 30 GiB of raw disk.
ROOMY = [("run-1", "64Gi", "2Gi"), ("run-2", "64Gi", "2Gi"), ("run-3", "64Gi", "2Gi")]


def order(request_id: str, size: str = "10Gi") -> PlacementOrder:
    return PlacementOrder(request_id, "web", RequestIn(customer_id="cust-1", ram="1Gi", volumes=[{"size": size}]))


def test_a_placement_reserves_its_disk_a_full_disk_refuses_and_a_release_frees_it(db_url, clock):
    store = open_store(db_url, clock=clock)
    try:
        body = load_body(nodes=ROOMY, disk_bytes=10 * GiB, disk_capacity_bytes=85 * GiB, volumes=0)
        seed_store(store, [(cluster_body("dk-1"), body)])
        clock.now = NOW + timedelta(seconds=1)
        first = store.place(order("req-1"))
        store.place(order("req-2"))
        _, load, reserved = store.cluster_state("dk-1")
        assert (load.disk_bytes, load.disk_capacity_bytes, reserved["disk_bytes"]) == (70 * GiB, 85 * GiB, 60 * GiB)
        with pytest.raises(NothingFits, match="disk-fit"):
            store.place(order("req-3"))
        store.place(order("req-small", "5Gi"))  # exactly up to the capacity
        assert store.release(first.placed.service_id) is True
        _, load, reserved = store.cluster_state("dk-1")
        assert (load.disk_bytes, reserved["disk_bytes"]) == (55 * GiB, 45 * GiB)
        store.place(order("req-3"))
        check_consistency(db_url)
        # A new snapshot counts the disk afresh and keeps what was reserved since on top of it.
        clock.now = NOW + timedelta(seconds=10)
        store.put_load("dk-1", ClusterLoadIn.model_validate({**body, "observed_at": NOW.isoformat()}).to_model())
        _, load, _ = store.cluster_state("dk-1")
        assert load.disk_bytes == 10 * GiB + 75 * GiB
        check_consistency(db_url)
    finally:
        store.dispose()


def test_the_disk_guard_refuses_a_placement_decided_on_a_stale_fleet(db_url, clock):
    deciding = open_store(db_url, clock=clock, fleet_cache_seconds=3600)
    other = open_store(db_url, clock=clock, migrate=False)
    try:
        roomy = load_body(nodes=ROOMY, observed_at=NOW - timedelta(minutes=1), disk_capacity_bytes=100 * GiB)
        seed_store(deciding, [(cluster_body("dk-1"), roomy)])
        deciding.refresh_fleet()  # the disk as it was: room for the volume
        # Another router's collector reports the disk nearly full; the deciding router's cache still shows room.
        full = load_body(nodes=ROOMY, observed_at=NOW, disk_bytes=95 * GiB, disk_capacity_bytes=100 * GiB)
        other.put_load("dk-1", ClusterLoadIn.model_validate(full).to_model())
        sent: list[str] = []
        event.listen(deciding.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
        with pytest.raises(NothingFits, match="disk-fit"):
            deciding.place(order("req-1"))
        # It booked on the cached fleet first and the disk guard refused it; decided again on a fresh read.
        assert sum("INSERT INTO reservations" in statement for statement in sent) == 1
        with deciding.engine.connect() as conn:
            row = conn.execute(select(cluster_counters)).one()
        assert (row.base_disk, row.reserved_disk, row.capacity_disk) == (95 * GiB, 0, 100 * GiB)
        check_consistency(db_url)
    finally:
        deciding.dispose()
        other.dispose()


def test_without_a_measured_disk_capacity_nothing_is_refused_for_disk(db_url, clock):
    store = open_store(db_url, clock=clock)
    try:
        seed_store(store, [(cluster_body("dk-1"), load_body(nodes=ROOMY, disk_bytes=10**15, volumes=0))])
        clock.now = NOW + timedelta(seconds=1)
        store.place(order("req-1"))
        _, load, _ = store.cluster_state("dk-1")
        assert (load.disk_bytes, load.disk_capacity_bytes) == (10**15 + 30 * GiB, None)
    finally:
        store.dispose()
