"""The storage cost model: replicas that follow the cluster's size, disk, storage nodes, operations, and the one
definition the engine, the simulator's cost and the optimizer read."""

from __future__ import annotations

import numpy as np
import pytest

from placement.footprint import Footprint
from placement.limits import load_profile, shipped_limits
from placement.model import PlacementRequest, VolumeRequest
from placement.storage_cost import Workload, cluster_cost, storage_bill, storage_nodes

GIB = 2**30
SEED = shipped_limits("seed")


def request(volume_gib: int | None = 10, ram_gib: int = 1) -> PlacementRequest:
    volumes = () if volume_gib is None else (VolumeRequest(volume_gib * GIB),)
    return PlacementRequest("cust", ram_gib * GIB, volumes=volumes)


@pytest.mark.parametrize("profile", ["seed", "published"])
def test_a_volume_keeps_one_replica_per_run_node_below_the_providers_count(profile):
    limits = shipped_limits(profile)
    longhorn = limits.storage["longhorn"]
    assert longhorn.replicas == 3  # the design doc: defaultReplicaCount 2, "3 when we have 3+ run nodes"
    seen = {n: Footprint.of(request(), limits, "longhorn", n) for n in (1, 2, 3, 10, None)}
    assert [longhorn.replicas_on(n) for n in (1, 2, 3, 10, None)] == [1, 2, 3, 3, 3]
    for nodes, footprint in seen.items():
        replicas = longhorn.replicas_on(nodes)
        assert footprint.disk_bytes == 10 * GIB * replicas
        fewer = (3 - replicas) * longhorn.ram_bytes_per_replica
        assert footprint.ram_bytes == GIB + longhorn.ram_bytes_per_volume - fewer
    assert seen[2].ram_bytes < seen[3].ram_bytes == seen[None].ram_bytes
    # Ceph's replicas live on its dedicated storage nodes, never fewer than its minimum: the run nodes do not matter.
    ceph = [Footprint.of(request(), limits, "rook-ceph", n) for n in (1, 3, None)]
    assert len(set(ceph)) == 1 and ceph[0].disk_bytes == 30 * GIB
    assert Footprint.of(request(None), limits, "longhorn", 1).disk_bytes == 0


def test_storage_nodes_hold_the_raw_disk_and_never_fall_below_the_mon_quorum():
    ceph = SEED.storage["rook-ceph"]
    node = ceph.storage_node
    assert node is not None and node.name == "AX102"
    usable = node.disk_bytes * ceph.disk_usable_fraction
    counts = storage_nodes(ceph, np.array([0, usable * 3, usable * 3 + 1, usable * 10]))
    assert counts.tolist() == [3, 3, 4, 10]
    assert storage_nodes(SEED.storage["longhorn"], np.array([1e15])).tolist() == [0]


def test_the_bill_counts_storage_nodes_disk_run_nodes_and_operations():
    ceph = storage_bill(SEED, "rook-ceph", np.array([5]), np.array([10 * 1000**4]))
    assert ceph.storage_nodes.tolist() == [10]  # 30 TB raw over 3.84 TB x 0.85 per AX102
    assert ceph.storage_nodes_eur_month.tolist() == [10 * 119.0]
    assert ceph.disk_run_nodes.tolist() == [0]
    assert ceph.operations_eur_month.tolist() == [SEED.storage["rook-ceph"].operations_eur_month]
    longhorn = storage_bill(SEED, "longhorn", np.array([5, 50]), np.array([10 * 1000**4, 10 * 1000**4]))
    # 30 TB of replicas on 3.84 TB run-node disks, 75 % usable: 11 run nodes, so 6 beyond the first cluster's 5.
    assert longhorn.disk_run_nodes.tolist() == [6, 0]
    assert longhorn.storage_nodes.tolist() == [0, 0]
    assert (longhorn.eur_month > 0).all()


def test_the_static_cost_splits_longhorn_at_its_volume_limit_and_prices_every_part():
    workload = Workload(2.5, 4.0, 4 * 0.7 * GIB, 4.0, 6.7 * GIB)
    volumes = np.array([100, 500, 501, 5000])
    longhorn = cluster_cost(SEED, "longhorn", volumes, workload)
    ceph = cluster_cost(SEED, "rook-ceph", volumes, workload)
    assert longhorn["clusters"].tolist() == [1, 1, 2, 10]
    assert ceph["clusters"].tolist() == [1, 1, 1, 1]
    assert (ceph["storage_nodes"] >= 3 * 119.0).all() and (longhorn["storage_nodes"] == 0).all()
    assert (longhorn["operations"] == longhorn["clusters"] * 150.0).all()
    # The customers' own run nodes cost the same under both providers: only storage differs.
    assert np.allclose(longhorn["customers_run_nodes"], ceph["customers_run_nodes"])
    assert (longhorn["storage_ram"] > ceph["storage_ram"]).all()


def test_operations_cost_is_labelled_an_estimate_and_every_cost_figure_has_a_range_or_a_source():
    for name in ("seed", "published"):
        profile = load_profile(name)
        for provider in ("longhorn", "rook-ceph"):
            ops = profile.figure(f"{provider}.operations_eur_per_cluster_month")
            assert "ESTIMATE" in ops.source and ops.low < ops.value < ops.high
            assert profile.figure(f"{provider}.ram_bytes_per_volume").source
        assert profile.figure("rook-ceph.osd_ram_bytes_per_disk").value >= 4 * GIB  # osd_memory_target default
        assert profile.figure("rook-ceph.min_nodes").value == 3 and profile.figure("longhorn.min_nodes").value == 2
