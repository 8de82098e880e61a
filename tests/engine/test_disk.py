"""Disk as a catalogue limit: the replicas' raw disk (volume bytes x replicas) against the cluster's usable disk."""

from __future__ import annotations

from dataclasses import replace

from placement import filters
from placement.catalogue import BY_KEY
from placement.engine import NUMPY_MIN_CLUSTERS, select_cluster
from placement.footprint import Footprint
from placement.limits import shipped_limits
from placement.policy import default_policy
from placement.router.views import headroom

from .fleet import GIB, cluster, cycle, load, request

REPLICAS = shipped_limits().storage["longhorn"].replicas


def disk_load(used_gib: int, capacity_gib: int | None):
    return replace(
        load(), disk_bytes=used_gib * GIB, disk_capacity_bytes=None if capacity_gib is None else capacity_gib * GIB
    )


def test_a_full_disk_rejects_with_the_limit_used_needed_and_capacity():
    full = disk_load(950, 1000)  # a 20 GiB volume takes 20 x replicas of raw disk
    rejection = filters.disk_fit(cycle(request(volumes=(20,))), cluster(), full)
    assert (rejection.filter, rejection.limit, rejection.subject, rejection.unit) == (
        "disk-fit",
        "disk",
        "longhorn",
        "bytes",
    )
    assert (rejection.used, rejection.needed, rejection.capacity) == (950 * GIB, 20 * REPLICAS * GIB, 1000 * GIB)
    assert str(rejection) == f"disk-fit: longhorn raw disk 950.0 GiB + {20 * REPLICAS}.0 GiB > 1000.0 GiB usable"
    # The same volume fits where the disk has room for its replicas, exactly up to the capacity.
    assert filters.disk_fit(cycle(request(volumes=(20,))), cluster(), disk_load(1000 - 20 * REPLICAS, 1000)) is None


def test_the_engine_refuses_a_full_disk_on_both_paths_and_places_elsewhere():
    req = request(volumes=(20,))
    for count in (2, NUMPY_MIN_CLUSTERS + 1):  # the per-cluster pipeline and the numpy columns
        full = [(cluster(f"a{i:03d}"), disk_load(990, 1000)) for i in range(count - 1)]
        roomy = (cluster("z-roomy"), disk_load(100, 1000))
        decision = select_cluster(req, [*full, roomy], default_policy())
        assert decision.cluster_id == "z-roomy"
        rejected = dict(decision.rejections)
        assert len(rejected) == count - 1
        assert {r.limit for r in rejected.values()} == {"disk"}
        refused = select_cluster(req, full, default_policy())
        assert refused.cluster_id is None
        assert refused.reason == f"0/{count - 1} clusters fit: {count - 1} disk-fit"


def test_requests_that_differ_in_volume_sizes_alone_are_each_judged_by_their_own_disk_on_both_paths():
    """Requests of one volume count share what the engine keeps per request shape, but not their disk need: one
    after another, on a cluster with raw disk left for a volume of about 10 GiB, each size is refused exactly when
    the disk filter refuses it; a fleet whose disk capacities are unknown takes every size."""
    left = 10 * REPLICAS
    for count in (2, NUMPY_MIN_CLUSTERS + 1):  # the per-cluster pipeline and the numpy columns
        tight = [(cluster(f"a{i:03d}"), disk_load(1000 - left, 1000)) for i in range(count)]
        unknown = [(cluster(f"u{i:03d}"), disk_load(10**6, None)) for i in range(count)]
        for sizes in ((), (10,), (11,), (1,), (30,), (10,), (9,), (12,), ()):
            req = request(volumes=sizes)
            fits = filters.disk_fit(cycle(req), *tight[0]) is None
            assert select_cluster(req, tight, default_policy()).placed == fits
            assert select_cluster(req, unknown, default_policy()).placed
            assert fits == (sum(sizes) <= 10)


def test_unknown_disk_capacity_and_services_without_volumes_are_never_refused_for_disk():
    assert filters.disk_fit(cycle(request(volumes=(50,))), cluster(), disk_load(10**6, None)) is None
    overfull = disk_load(2000, 1000)  # measured over its capacity: a service without a volume adds no disk
    assert filters.disk_fit(cycle(request(volumes=())), cluster(), overfull) is None
    assert filters.disk_fit(cycle(request(volumes=(1,))), cluster(), overfull) is not None


def test_the_footprint_adds_and_takes_back_the_replicas_disk():
    limits = shipped_limits()
    footprint = Footprint.of(request(volumes=(20,)), limits, "longhorn", run_nodes=5)
    assert footprint.disk_bytes == 20 * GIB * REPLICAS
    # On a cluster with fewer run nodes than replicas, one replica per run node.
    assert Footprint.of(request(volumes=(20,)), limits, "longhorn", run_nodes=1).disk_bytes == 20 * GIB
    before = disk_load(100, 1000)
    after = footprint.add_to(before, "run-1")
    assert after.disk_bytes == before.disk_bytes + footprint.disk_bytes
    assert after.disk_capacity_bytes == before.disk_capacity_bytes
    assert footprint.remove_from(after, "run-1").disk_bytes == before.disk_bytes


def test_the_headroom_view_shows_the_disk_as_the_filter_reads_it():
    rows = {row["limit"]: row for row in headroom(cluster(), disk_load(300, 1000), default_policy())}
    assert rows[BY_KEY["disk"].view.format(provider="longhorn")] == {
        "limit": "longhorn.disk_bytes",
        "used": 300 * GIB,
        "capacity": 1000 * GIB,
        "free": 700 * GIB,
    }
    unknown = {row["limit"]: row for row in headroom(cluster(), disk_load(300, None), default_policy())}
    assert unknown["longhorn.disk_bytes"]["capacity"] is None
