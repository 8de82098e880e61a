"""What a storage provider costs a cluster, in EUR per month: the one storage cost model.

The simulator's fleet cost (``sim.collect``), the optimizer's capacity plan and the Longhorn-vs-Ceph crossover
(``sim.storage_crossover``) all read these functions; the figures come from the limits profile (each with its
source and range, ``StorageLimits``). Two kinds of cost:

- **what the simulator and the optimizer add to the run nodes they count**: dedicated storage nodes (their
  number follows the raw disk the volumes take) and the operations cost per cluster-month (an estimate);
- **the static view of one cluster** (``cluster_cost``): run-node equivalents (RAM and CPU the storage takes,
  continuous, as a perfect packing would use them), the provider's minimum nodes, the control plane sized by the
  catalogue's objects, storage nodes and operations. It has no operator in it: it is the packing optimum's view.

Arrays broadcast: every function takes numpy arrays (or scalars) of volumes, bytes and run nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.limits import Limits, StorageLimits


def replicas(storage: StorageLimits, run_nodes) -> np.ndarray:
    """``StorageLimits.replicas_on`` over an array of run-node counts."""
    nodes = np.asarray(run_nodes)
    if storage.storage_node is not None:
        return np.full(nodes.shape, storage.replicas, dtype=np.int64)
    return np.clip(nodes, 1, storage.replicas).astype(np.int64)


def disk_bytes(storage: StorageLimits, volume_bytes, run_nodes) -> np.ndarray:
    """Raw disk the volumes take: their bytes times the replicas the cluster keeps (``Footprint.disk_bytes``)."""
    return np.asarray(volume_bytes, dtype=np.float64) * replicas(storage, run_nodes)


def storage_nodes(storage: StorageLimits, raw_disk_bytes) -> np.ndarray:
    """Dedicated storage nodes a cluster needs for this raw disk: at least the provider's minimum (Ceph's 3 MONs),
    enough usable disk, and enough RAM for the OSDs and daemons. 0 for a provider whose data is on the run nodes."""
    raw = np.asarray(raw_disk_bytes, dtype=np.float64)
    node = storage.storage_node
    if node is None:
        return np.zeros(raw.shape, dtype=np.int64)
    by_disk = np.ceil(raw / (node.disk_bytes * storage.disk_usable_fraction))
    osd_ram = storage.disks_per_node * storage.osd_ram_bytes_per_disk
    spare = node.ram_bytes - osd_ram
    by_ram = np.ceil(storage.daemon_ram_bytes_per_cluster / spare) if spare > 0 else np.inf
    return np.maximum(np.maximum(by_disk, by_ram), storage.min_nodes).astype(np.int64)


def run_nodes_for_disk(limits: Limits, storage: StorageLimits, raw_disk_bytes) -> np.ndarray:
    """Run nodes whose disks hold this raw disk, for a provider that keeps its data on the run nodes (else 0)."""
    raw = np.asarray(raw_disk_bytes, dtype=np.float64)
    usable = limits.run_node_usable_disk_bytes(storage.provider)
    return np.zeros(raw.shape) if usable is None else raw / usable


def storage_node_setup_eur(limits: Limits, provider: str) -> float:
    """The one-off fee of one dedicated storage node of ``provider`` (0 without them): the server's setup fee, as a
    run node's is paid, times the profile's price multiplier."""
    node = limits.storage[provider].storage_node
    return 0.0 if node is None else node.setup_eur * limits.costs.price_multiplier


@dataclass(frozen=True, slots=True)
class StorageBill:
    """What the storage adds to a cluster's bill beside the run nodes its RAM needs, per month (arrays, one entry
    per cluster): dedicated storage nodes, run nodes bought for their disk alone, and operations."""

    storage_nodes: np.ndarray
    storage_nodes_eur_month: np.ndarray
    disk_run_nodes: np.ndarray  # run nodes beyond ``run_nodes`` that the replicas' disk needs
    disk_run_nodes_eur_month: np.ndarray
    operations_eur_month: np.ndarray

    @property
    def eur_month(self) -> np.ndarray:
        return self.storage_nodes_eur_month + self.disk_run_nodes_eur_month + self.operations_eur_month


def storage_bill(limits: Limits, provider: str, run_nodes, volume_bytes, clusters=1) -> StorageBill:
    """Storage nodes for the volumes' raw disk (or run nodes, for a provider that keeps its data on them), and the
    operations cost, for clusters of ``provider`` with ``run_nodes`` run nodes each (prices times the profile's
    price multiplier; operations is an estimate, not a Hetzner price)."""
    storage = limits.storage[provider]
    costs = limits.costs
    m = costs.price_multiplier
    nodes = np.asarray(run_nodes, dtype=np.float64)
    present = np.asarray(clusters, dtype=np.float64) * np.ones_like(nodes)
    raw = disk_bytes(storage, volume_bytes, run_nodes)
    count = storage_nodes(storage, raw) * (present > 0)
    node = storage.storage_node
    extra = np.maximum(np.ceil(run_nodes_for_disk(limits, storage, raw) - 1e-9) - nodes, 0) * (present > 0)
    node_eur = costs.run_node_types[costs.default_run_node_type].eur_month * m
    return StorageBill(
        count,
        count * (0.0 if node is None else node.eur_month * m),
        extra,
        extra * node_eur,
        present * storage.operations_eur_month,
    )


@dataclass(frozen=True, slots=True)
class Workload:
    """Customers as the static model sees them, per volume held: what each volume brings with it."""

    customers_per_volume: float
    services_per_volume: float
    ram_bytes_per_volume: float  # the services' RAM requests per volume held
    pods_per_volume: float
    volume_bytes: float  # mean size of one volume

    def objects_per_volume(self, limits: Limits, storage: StorageLimits) -> float:
        per_service = limits.etcd_objects_per_service + limits.etcd_events_per_service
        return (
            self.customers_per_volume * limits.etcd_objects_per_customer
            + self.services_per_volume * per_service
            + storage.etcd_objects_per_volume
        )


PARTS = (
    "customers_run_nodes",
    "storage_ram",
    "storage_cpu",
    "minimum_nodes",
    "control_plane",
    "storage_nodes",
    "operations",
)


def cluster_cost(
    limits: Limits, provider: str, volumes, workload: Workload, ctrl_nodes: int = 3
) -> dict[str, np.ndarray]:
    """EUR per month of the clusters of ``provider`` that hold ``volumes`` volumes (and their customers), by part
    (``PARTS``), with ``clusters``, ``run_nodes`` (equivalents) and ``storage_node_count``.

    The provider's volume limit splits the volumes over ``ceil(volumes / max_volumes)`` equal clusters; each has
    its own control plane (the ladder's first type comfortable with its objects), its provider's minimum nodes, its
    storage nodes and its operations. Run nodes are counted as equivalents (RAM and CPU over one node's), so this
    is the cost a perfect packing would reach: no operator headroom, no rounding to whole nodes.
    """
    v = np.asarray(volumes, dtype=np.float64)
    storage = limits.storage[provider]
    costs = limits.costs
    m = costs.price_multiplier
    node = costs.run_node_types[costs.default_run_node_type]
    node_eur = node.eur_month * m
    usable_ram = node.ram_bytes - limits.run_node_system_bytes
    clusters = np.maximum(np.ceil(v / storage.max_volumes), 1.0)
    per = v / clusters  # volumes per cluster
    full = storage.replicas
    on_run_nodes = storage.storage_node is None
    customers_ram = per * workload.ram_bytes_per_volume
    storage_ram_cluster = per * storage.ram_bytes_per_volume + (
        storage.daemon_ram_bytes_per_cluster if on_run_nodes else 0
    )
    per_node_ram = storage.base_ram_bytes_per_node  # OSDs included when they run on the run nodes
    # Run-node equivalents by RAM: n * usable = customers + storage per cluster + n * per-node storage.
    n_ram = (customers_ram + storage_ram_cluster) / (usable_ram - per_node_ram)
    cpu = (
        n_ram * storage.cpu_cores_per_node
        + per * (1 + full) * storage.cpu_cores_per_instance
        + (
            storage.daemon_cpu_cores_per_cluster + n_ram * storage.disks_per_node * storage.osd_cpu_cores_per_disk
            if on_run_nodes
            else 0.0
        )
    )
    n_cpu = cpu / node.cores
    raw = per * workload.volume_bytes * full
    n_disk = run_nodes_for_disk(limits, storage, raw)
    needed = np.maximum(n_ram + n_cpu, n_disk)
    n = np.maximum(needed, storage.min_nodes)
    customers_nodes = customers_ram / usable_ram
    objects = per * workload.objects_per_volume(limits, storage) + limits.etcd_objects_per_cluster
    objects = (
        objects + storage.etcd_objects_per_cluster + n * (limits.etcd_objects_per_node + storage.etcd_objects_per_node)
    )
    ctrl_eur = _control_plane_eur(limits, objects) * ctrl_nodes * m
    count = storage_nodes(storage, raw)
    storage_node_eur = 0.0 if storage.storage_node is None else storage.storage_node.eur_month * m
    parts = {
        "customers_run_nodes": clusters * customers_nodes * node_eur,
        "storage_ram": clusters * (n_ram - customers_nodes) * node_eur,
        "storage_cpu": clusters * np.maximum(needed - n_ram, 0) * node_eur,
        "minimum_nodes": clusters * (n - needed) * node_eur,
        "control_plane": clusters * ctrl_eur,
        "storage_nodes": clusters * count * storage_node_eur,
        "operations": clusters * storage.operations_eur_month,
    }
    parts["total"] = sum(parts[name] for name in PARTS)
    parts["clusters"] = clusters
    parts["run_nodes"] = clusters * n
    parts["storage_node_count"] = clusters * count
    return parts


def _control_plane_eur(limits: Limits, objects: np.ndarray) -> np.ndarray:
    """Price of the ladder's first control-plane type comfortable with ``objects`` (the top rung beyond)."""
    ladder = [limits.control_plane(name) for name in limits.control_plane_ladder]
    comfortable = np.array([t.comfortable_objects for t in ladder], dtype=np.float64)
    price = np.array([t.eur_month for t in ladder])
    rung = np.minimum(np.searchsorted(comfortable, objects, side="left"), len(ladder) - 1)
    return price[rung]


def largest_cluster_volumes(limits: Limits, workload: Workload, max_run_nodes: int | None = None) -> float:
    """The most volumes one cluster can hold before a limit other than its storage provider's binds (namespaces,
    services, pods, etcd objects, the top control-plane type's tight level, run nodes): beyond it, any provider
    needs another cluster, so a storage crossover above it never comes."""
    top = limits.control_plane(limits.control_plane_ladder[-1])
    per_service = limits.etcd_objects_per_service + limits.etcd_events_per_service
    objects = workload.customers_per_volume * limits.etcd_objects_per_customer + workload.services_per_volume * (
        per_service
    )
    caps = [
        limits.max_namespaces / workload.customers_per_volume,
        limits.max_services_cluster / workload.services_per_volume,
        limits.max_pods_cluster / workload.pods_per_volume,
        min(limits.max_etcd_objects, top.tight_objects) / objects,
    ]
    if max_run_nodes:
        usable = limits.run_node_ram_bytes - limits.run_node_system_bytes
        caps.append(max_run_nodes * usable / workload.ram_bytes_per_volume)
    return float(min(caps))
