"""A limits profile compiled to plain values: what the engine and the simulator read in their hot loops.

``placement.limits`` builds these from a validated profile (``LimitsProfile.compile``) and re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StorageLimits:
    provider: str
    max_volumes: int
    min_nodes: int
    replicas: int
    base_ram_bytes_per_node: int
    ram_bytes_per_volume: int
    etcd_objects_per_volume: int  # all of one volume's: its own and its replicas'
    provisioners: tuple[str, ...] = ()
    volume_crd: tuple[str, str, str, str] | None = None  # group, version, plural, kind
    counted_crds: tuple[tuple[str, str, str, str], ...] = ()  # custom resources counted as etcd objects
    system_pods_per_node: int = 0
    etcd_objects_per_node: int = 0  # besides its pods
    etcd_objects_per_cluster: int = 0


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
    run_node_system_pods: int = 0  # pods on every run node whatever the storage (Traefik, svclb)
    etcd_events_per_service: int = 0
    etcd_objects_per_node: int = 0  # Node, Lease, CSINode (its pods and the provider's objects apart)
    etcd_objects_per_cluster: int = 0  # an empty cluster's, besides its storage provider's

    def run_node_allocatable_bytes(self, storage_provider: str, ram_bytes: int | None = None) -> int:
        """RAM left for customer workloads on a run node of a cluster with this storage provider."""
        total = self.run_node_ram_bytes if ram_bytes is None else ram_bytes
        return total - self.run_node_system_bytes - self.storage[storage_provider].base_ram_bytes_per_node

    @property
    def pod_addresses_per_node(self) -> int:
        """Pod IPs in one node's pod range: the most pods a node can run, whatever its max-pods says."""
        return 2 ** (32 - self.node_cidr_mask_size) - 2

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
