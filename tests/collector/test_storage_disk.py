"""The storage provider's disk, read where the provider reports it: Longhorn's Node CRs, the CephCluster status."""

from __future__ import annotations

import pytest

from placement.collector.errors import CollectError
from placement.limits import shipped_limits
from support.kube_fleets import generated_fleet, k3s_longhorn_fleet
from support.kube_objects import ceph_cluster, longhorn_node_with_disks

TB = 1000**4
LONGHORN_NODES = "/apis/longhorn.io/v1beta2/nodes"
CEPH_CLUSTERS = "/apis/ceph.rook.io/v1/cephclusters"


def test_longhorn_disks_are_summed_over_nodes_and_disks(serve):
    cluster = k3s_longhorn_fleet()
    cluster.collections[LONGHORN_NODES] = [
        longhorn_node_with_disks("run-1", {"nvme0": (1920 * 10**9, 1500 * 10**9, 600 * 10**9, 576 * 10**9)}),
        longhorn_node_with_disks(
            "run-2",
            {
                "nvme0": (1920 * 10**9, 1800 * 10**9, 200 * 10**9, 576 * 10**9),
                "nvme1": (1920 * 10**9, 1920 * 10**9, 0, 0),
            },
        ),
    ]
    disk = serve(cluster).collect().inventory.storage_disk
    assert disk is not None and disk.disks == 3
    assert disk.total_bytes == 3 * 1920 * 10**9
    assert disk.available_bytes == (1500 + 1800 + 1920) * 10**9
    assert disk.used_bytes == disk.total_bytes - disk.available_bytes
    assert disk.scheduled_bytes == 800 * 10**9 and disk.reserved_bytes == 2 * 576 * 10**9
    assert "nodes.longhorn.io" in disk.read_from


def test_the_longhorn_node_crs_disk_reaches_the_load_as_the_disk_limit_reads_it(serve):
    cluster = k3s_longhorn_fleet()
    cluster.collections[LONGHORN_NODES] = [
        longhorn_node_with_disks("run-1", {"nvme0": (1920 * 10**9, 1500 * 10**9, 600 * 10**9, 100 * 10**9)}),
        longhorn_node_with_disks("run-2", {"nvme0": (1920 * 10**9, 1800 * 10**9, 200 * 10**9, 100 * 10**9)}),
    ]
    load = serve(cluster).collect().load.to_model()
    # Longhorn schedules by the replicas' provisioned size, within the disks less their reserve and under the
    # share it fills (the seed profile's longhorn.disk_usable_fraction, 0.75: storage-minimal-available 25 %).
    fraction = shipped_limits("seed").storage["longhorn"].disk_usable_fraction
    assert load.disk_bytes == 800 * 10**9
    assert load.disk_capacity_bytes == min(2 * (1920 - 100) * 10**9, round(2 * 1920 * 10**9 * fraction))
    reserved = [longhorn_node_with_disks("run-1", {"nvme0": (1920 * 10**9, 1500 * 10**9, 600 * 10**9, 1000 * 10**9)})]
    cluster.collections[LONGHORN_NODES] = reserved
    assert serve(cluster).collect().load.to_model().disk_capacity_bytes == (1920 - 1000) * 10**9
    # A cluster whose provider reports no disk has no disk capacity: no placement is refused for disk.
    cluster.collections[LONGHORN_NODES] = []
    load = serve(cluster).collect().load.to_model()
    assert (load.disk_bytes, load.disk_capacity_bytes) == (0, None)


def test_a_longhorn_disk_with_a_bad_figure_names_the_node_and_disk(serve):
    cluster = k3s_longhorn_fleet()
    node = longhorn_node_with_disks("run-1", {"nvme0": (1920 * 10**9, 0, 0, 0)})
    node["status"]["diskStatus"]["nvme0"]["storageAvailable"] = "lots"
    cluster.collections[LONGHORN_NODES] = [node]
    with pytest.raises(CollectError, match=r"nodes\.longhorn\.io run-1 disk nvme0 storageAvailable"):
        serve(cluster).collect()


def test_ceph_capacity_comes_from_the_cephcluster_status(serve):
    cluster = generated_fleet(6, 120, customers=10, ceph=True)
    cluster.collections[CEPH_CLUSTERS] = [ceph_cluster(23 * TB, available=20 * TB, used=3 * TB)]
    snapshot = serve(cluster).collect()
    disk = snapshot.inventory.storage_disk
    assert snapshot.inventory.storage_provider == "rook-ceph"
    assert (disk.total_bytes, disk.available_bytes, disk.used_bytes) == (23 * TB, 20 * TB, 3 * TB)
    assert disk.updated_at == "2026-11-30T09:12:44Z" and disk.scheduled_bytes is None
    load = snapshot.load.to_model()
    fraction = shipped_limits("seed").storage["rook-ceph"].disk_usable_fraction  # mon_osd_nearfull_ratio 0.85
    assert (load.disk_bytes, load.disk_capacity_bytes) == (3 * TB, round(23 * TB * fraction))


def test_a_new_ceph_cluster_without_capacity_has_no_disk_figures_and_says_so(serve):
    cluster = generated_fleet(6, 120, customers=10, ceph=True)
    cluster.collections[CEPH_CLUSTERS] = [ceph_cluster(None)]
    snapshot = serve(cluster).collect()
    assert snapshot.inventory.storage_disk is None
    assert snapshot.load.disk_capacity_bytes is None
    assert any("reports no capacity yet" in warning for warning in snapshot.inventory.warnings)
