"""The store as the collector uses it (``open_store``, ``add_cluster``, ``put_load``), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from placement.limits import load_profile
from placement.model import Cluster, ClusterLoad, RunNode
from placement.router.db import cluster_loads
from placement.router.store import (
    ClusterExists,
    PlacementOrder,
    SnapshotFromTheFuture,
    UnknownCluster,
    open_store,
)
from placement.state import RequestIn
from tests.router.conftest import NOW, FixedClock

GiB = 1024**3


def a_cluster(cluster_id: str = "eu-west-1") -> Cluster:
    return Cluster(cluster_id, "EU West 1", "eu-west", f"deployer-{cluster_id}", "10.0.1.4:5000")


def a_load(**changes) -> ClusterLoad:
    values = dict(
        run_nodes=(RunNode("run-1", 250 * GiB, 100 * GiB, 10),),
        ctrl_node_type="CX32",
        volumes=3,
        services=4,
        customers=2,
        pods=4,
        etcd_objects=40,
    )
    values.update(changes)
    return ClusterLoad(**values)


def test_collector_contract(db_url):
    clock = FixedClock()
    store = open_store(db_url, clock=clock)
    try:
        with pytest.raises(UnknownCluster):
            store.put_load("nope", a_load())
        store.add_cluster(a_cluster())
        with pytest.raises(ClusterExists):
            store.add_cluster(a_cluster())
        store.put_load("eu-west-1", a_load())  # observed_at defaults to the store's now
        clock.now = NOW + timedelta(seconds=10)
        store.put_load("eu-west-1", a_load(volumes=7, observed_at=NOW + timedelta(seconds=5)))
        with store.engine.connect() as conn:
            observed = [row.observed_at for row in conn.execute(select(cluster_loads).order_by(cluster_loads.c.id))]
        assert [o.replace(tzinfo=None) for o in observed] == [
            NOW.replace(tzinfo=None),
            (NOW + timedelta(seconds=5)).replace(tzinfo=None),
        ]
        [(cluster, load)] = store.fleet()
        assert cluster.id == "eu-west-1"
        assert load.volumes == 7
        assert load.run_nodes == a_load().run_nodes
        assert load.observed_at == NOW + timedelta(seconds=5)
    finally:
        store.dispose()


def test_reserve_release_and_ledger(db_url):
    clock = FixedClock()
    store = open_store(db_url, clock=clock)
    try:
        store.add_cluster(a_cluster())
        store.put_load("eu-west-1", a_load(observed_at=NOW))
        clock.now = NOW + timedelta(seconds=1)
        order = PlacementOrder("req-1", "web", RequestIn(customer_id="c1", ram="4Gi", volumes=[{"size": "1Gi"}]))
        placed = store.place(order)
        assert not placed.replayed
        assert store.place(order).placed == placed.placed
        [(_, load)] = store.fleet()
        # The service's 4 GiB and the share of its Longhorn volume's processes (engine, replica) on the node: more
        # than nothing, never more than the whole volume's RAM (placement.limit_values.StorageLimits).
        volume_ram = load.run_nodes[0].requested_ram_bytes - 104 * GiB
        assert 0 < volume_ram <= load_profile("seed").compile().storage["longhorn"].ram_bytes_per_volume
        assert (load.volumes, load.services, load.pods) == (4, 5, 5)
        assert store.customer_volume_count("c1") == 1
        assert store.ledger_totals() == {"eu-west-1": {"services": 1, "ram_bytes": 4 * GiB + volume_ram, "volumes": 1}}
        assert store.release(placed.placed.service_id) is True
        [(_, load)] = store.fleet()
        assert load.run_nodes[0].requested_ram_bytes == 100 * GiB
        assert (load.volumes, load.services, load.pods) == (3, 4, 4)
        assert store.customer_volume_count("c1") == 0
        assert store.ledger_totals() == {}
    finally:
        store.dispose()


def test_a_snapshot_from_the_future_is_refused_and_cannot_pin_the_cluster(db_url):
    clock = FixedClock()
    store = open_store(db_url, clock=clock)  # the default skew: 300 s
    try:
        store.add_cluster(a_cluster())
        store.put_load("eu-west-1", a_load(volumes=3, observed_at=NOW))
        with pytest.raises(SnapshotFromTheFuture, match="more than 300 s ahead"):
            store.put_load("eu-west-1", a_load(volumes=499, observed_at=NOW + timedelta(seconds=301)))
        with store.engine.connect() as conn:
            assert len(conn.execute(select(cluster_loads)).all()) == 1  # nothing half-written
        [(_, load)] = store.fleet()
        assert (load.volumes, load.observed_at) == (3, NOW)

        # Ahead within the skew: accepted, and counted as observed when received, so a placement made in the
        # next minutes is not taken as already in it (and a release gives its room back).
        store.put_load("eu-west-1", a_load(volumes=4, observed_at=NOW + timedelta(seconds=299)))
        [(_, load)] = store.fleet()
        assert (load.volumes, load.observed_at) == (4, NOW)
        clock.now = NOW + timedelta(seconds=60)
        order = PlacementOrder("r-1", "web", RequestIn(customer_id="c1", ram="1Gi", volumes=[{"size": "1Gi"}]))
        placed = store.place(order)
        clock.now = NOW + timedelta(seconds=120)
        store.put_load("eu-west-1", a_load(volumes=4, observed_at=NOW + timedelta(seconds=30)))
        [(_, load)] = store.fleet()
        assert load.volumes == 5, "the reservation made after the snapshot was received stays on top of it"
        store.release(placed.placed.service_id)
        [(_, load)] = store.fleet()
        assert load.volumes == 4

        # A database pinned before the check (a snapshot from 2100 accepted by an older router): the next real
        # snapshot replaces it.
        lax = open_store(db_url, clock=clock, migrate=False, max_clock_skew_seconds=10**10)
        try:
            lax.put_load("eu-west-1", a_load(volumes=499, observed_at=datetime(2100, 1, 1, tzinfo=UTC)))
        finally:
            lax.dispose()
        clock.now = NOW + timedelta(seconds=180)
        store.put_load("eu-west-1", a_load(volumes=6, observed_at=clock.now))
        [(_, load)] = store.fleet()
        assert (load.volumes, load.observed_at) == (6, clock.now)
    finally:
        store.dispose()
