"""A limits profile compiled to plain values: what the engine and the simulator read in their hot loops.

``placement.limits`` builds these from a validated profile (``LimitsProfile.compile``) and re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StorageNodeType:
    """A dedicated storage node (disks and the storage daemons, no customer pods)."""

    name: str
    ram_bytes: int
    disk_bytes: int
    eur_month: float
    setup_eur: float


@dataclass(frozen=True, slots=True)
class StorageLimits:
    """One storage provider's limits and costs. Per-volume figures are at the full replica count (``replicas``);
    a cluster with fewer run nodes than that keeps one replica per run node (``replicas_on``)."""

    provider: str
    max_volumes: int
    min_nodes: int
    replicas: int
    base_ram_bytes_per_node: int  # on every run node (with OSDs there when the provider has no storage nodes)
    ram_bytes_per_volume: int  # one volume's at full replicas: its engine and its replicas
    etcd_objects_per_volume: int  # all of one volume's at full replicas: its own and its replicas'
    provisioners: tuple[str, ...] = ()
    volume_crd: tuple[str, str, str, str] | None = None  # group, version, plural, kind
    counted_crds: tuple[tuple[str, str, str, str], ...] = ()  # custom resources counted as etcd objects
    system_pods_per_node: int = 0
    etcd_objects_per_node: int = 0  # besides its pods
    etcd_objects_per_cluster: int = 0
    ram_bytes_per_replica: int = 0  # part of ram_bytes_per_volume, per replica
    etcd_objects_per_replica: int = 0  # part of etcd_objects_per_volume, per replica
    # The storage cost model (placement.storage_cost): CPU, daemons, disks, storage nodes, operations.
    cpu_cores_per_node: float = 0.0
    cpu_cores_per_instance: float = 0.0  # per engine or replica process (Longhorn's instance managers)
    osd_ram_bytes_per_disk: int = 0
    disks_per_node: int = 0  # data disks (one OSD each) on every node that holds the provider's data
    daemon_ram_bytes_per_cluster: int = 0  # MONs, MGRs (and MDSs) and controllers of one cluster
    osd_cpu_cores_per_disk: float = 0.0
    daemon_cpu_cores_per_cluster: float = 0.0
    disk_usable_fraction: float = 1.0  # of the raw disk, before the provider refuses to write more
    storage_node: StorageNodeType | None = None  # dedicated storage nodes (None: data on the run nodes)
    operations_eur_month: float = 0.0  # per cluster-month, an estimate

    def replicas_on(self, run_nodes: int | None) -> int:
        """Replicas a volume has on a cluster with ``run_nodes`` run nodes (None: a cluster of full size).

        Replicas go to distinct nodes (Longhorn's hard anti-affinity, Ceph's host failure domain), so a cluster with
        fewer data-holding nodes than ``replicas`` keeps one per node; dedicated storage nodes are never fewer
        than the provider's minimum."""
        if run_nodes is None or self.storage_node is not None or run_nodes >= self.replicas:
            return self.replicas
        return max(run_nodes, 1)

    def volume_ram_bytes(self, replicas: int) -> int:
        """RAM of one volume with ``replicas`` replicas (engine and replica processes)."""
        return self.ram_bytes_per_volume - (self.replicas - replicas) * self.ram_bytes_per_replica

    def volume_objects(self, replicas: int) -> int:
        """etcd objects of one volume with ``replicas`` replicas."""
        return self.etcd_objects_per_volume - (self.replicas - replicas) * self.etcd_objects_per_replica


@dataclass(frozen=True, slots=True)
class ControlPlaneType:
    name: str
    vcpu: int
    ram_bytes: int
    comfortable_objects: int
    tight_objects: int
    eur_month: float


@dataclass(frozen=True, slots=True)
class RunNodePrice:
    name: str
    ram_bytes: int
    cores: int
    eur_month: float
    setup_eur: float
    max_pods: int  # the kubelet's --max-pods on this type (its own, or the profile's default)


@dataclass(frozen=True, slots=True)
class Costs:
    price_multiplier: float
    object_storage_eur_month_base: float
    object_storage_eur_per_tb_month: float
    object_storage_included_tb: float
    run_node_types: dict[str, RunNodePrice]
    default_run_node_type: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The numbers the engine and the simulator read, as plain ints and floats."""

    profile: str
    max_nodes: int
    max_pods_cluster: int
    max_namespaces: int
    max_services_cluster: int
    max_pods_per_node: int
    max_etcd_objects: int
    etcd_quota_bytes: int
    etcd_objects_per_customer: int
    etcd_objects_per_service: int
    run_node_ram_bytes: int
    run_node_system_bytes: int  # OS, kube-reserved, eviction, k3s agent and Traefik
    storage: dict[str, StorageLimits]
    control_plane_types: dict[str, ControlPlaneType]
    control_plane_ladder: tuple[str, ...]
    costs: Costs
    node_cidr_mask_size: int = 24
    cluster_cidr_mask_size: int = 16
    run_node_system_pods: int = 0  # pods on every run node whatever the storage (Traefik, svclb)
    etcd_events_per_service: int = 0
    etcd_objects_per_node: int = 0  # Node, Lease, CSINode (its pods and the provider's objects apart)
    etcd_objects_per_cluster: int = 0  # an empty cluster's, besides its storage provider's
    run_node_disk_bytes: int = 0  # raw data disk of a run node (0: not known)

    def run_node_usable_disk_bytes(self, storage_provider: str) -> int | None:
        """Raw disk one run node gives a provider that keeps its replicas on the run nodes: the node's disk times
        the share the provider fills. None: the provider's data is on dedicated storage nodes, or the profile does
        not know the run node's disk (``run_node.disk_bytes`` 0)."""
        storage = self.storage[storage_provider]
        if storage.storage_node is not None or self.run_node_disk_bytes <= 0:
            return None
        return round(self.run_node_disk_bytes * storage.disk_usable_fraction)

    def run_node_allocatable_bytes(self, storage_provider: str, ram_bytes: int | None = None) -> int:
        """RAM left for customer workloads on a run node of a cluster with this storage provider."""
        total = self.run_node_ram_bytes if ram_bytes is None else ram_bytes
        return total - self.run_node_system_bytes - self.storage[storage_provider].base_ram_bytes_per_node

    @property
    def pod_addresses_per_node(self) -> int:
        """Pod IPs in one node's pod range: the most pods a node can run, whatever its max-pods says."""
        return 2 ** (32 - self.node_cidr_mask_size) - 2

    @property
    def pod_cidr_nodes(self) -> int:
        """Node pod ranges in the cluster's pod range: the most nodes of one cluster, its servers included."""
        return 2 ** (self.node_cidr_mask_size - self.cluster_cidr_mask_size)

    def run_node_max_pods(self, node_type: str | None = None) -> int:
        """The kubelet's max-pods on a run node of ``node_type`` (None: the default run node type)."""
        return self.costs.run_node_types[node_type or self.costs.default_run_node_type].max_pods

    def system_pods_per_node(self, storage_provider: str) -> int:
        """Pods every run node of a cluster with this storage provider carries before any customer's."""
        return self.run_node_system_pods + self.storage[storage_provider].system_pods_per_node

    def control_plane(self, node_type: str) -> ControlPlaneType:
        try:
            return self.control_plane_types[node_type]
        except KeyError:
            raise KeyError(
                f"unknown control-plane node type {node_type!r} for profile {self.profile!r}; "
                f"known: {sorted(self.control_plane_types)}"
            ) from None
