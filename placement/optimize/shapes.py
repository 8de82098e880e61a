"""What the packing optimizers pack: services, and the run node and cluster shape they go onto.

Every number is read from its one definition: what a service adds to a run node and to a cluster is the
placement footprint (``placement.footprint``, per storage provider), and what a cluster can hold is the limit
catalogue (``placement.catalogue``: each limit's capacity for a provider and a control-plane type). The
optimizers count in those terms and keep no arithmetic or list of limits of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from placement.catalogue import BY_KEY, LIMITS, Limit
from placement.footprint import Footprint, NodeFootprint, cluster_baseline_need
from placement.limits import Limits
from placement.model import PlacementRequest, StorageProvider, VolumeRequest

# The catalogue's limits a cluster's services share (volumes, control-plane objects, the Kubernetes thresholds a
# placement grows), in catalogue order. The node count is not among them (a placement adds no node): it is the
# node type's ``max_nodes_per_cluster``. RAM and pods per run node are the node's own columns. The disk is a
# capacity the cluster's nodes bring (``Limit.on_load``), not a fixed one: the capacity plan buys it with run
# nodes or storage nodes (``placement.optimize.capacity``).
CLUSTER_LIMITS: tuple[Limit, ...] = tuple(
    limit for limit in LIMITS if limit.needed and not limit.per_node and limit.on_load is None
)


@dataclass(frozen=True, slots=True)
class Service:
    """One service to place: its RAM request and its volume (``None`` when it has none)."""

    name: str
    ram_bytes: int
    volume_bytes: int | None = None
    customer_id: str | None = None  # None: the service is its own customer
    pods: int = 1

    @property
    def customer(self) -> str:
        return self.customer_id or self.name

    @property
    def volumes(self) -> int:
        return len(self.request(False).volumes)

    def request(self, new_customer: bool) -> PlacementRequest:
        """The engine's request for this service; ``new_customer``: its customer's first service where it lands."""
        volumes = () if self.volume_bytes is None else (VolumeRequest(self.volume_bytes),)
        return PlacementRequest(
            self.customer, self.ram_bytes, volumes=volumes, pods=self.pods, new_customer=new_customer
        )


@dataclass(frozen=True, slots=True)
class NodeType:
    """The run node and cluster shape the services are packed onto.

    ``allocatable_bytes`` and ``max_pods`` are one run node's room for customers' services; the cluster limits are
    read from the catalogue for ``provider`` and ``ctrl_node_type`` under ``limits``, the profile the footprints
    come from too. ``node_footprint`` is what every run node brings before any service (its system pods and
    objects, ``placement.footprint.NodeFootprint``): ``from_limits`` takes its pods off the kubelet's max-pods, and
    each packed node adds it to its cluster's limits, on top of the empty cluster's own objects. None: nothing.
    Each run node also brings ``node_disk_bytes`` of raw disk for the replicas (the catalogue's ``disk``).
    """

    provider: StorageProvider
    allocatable_bytes: int
    max_pods: int
    min_nodes: int
    max_nodes_per_cluster: int
    ctrl_node_type: str
    limits: Limits = field(repr=False, compare=False)
    node_footprint: NodeFootprint | None = None
    # The raw disk one run node gives the provider's replicas (None: on storage nodes, or not known: never binds).
    node_disk_bytes: int | None = None

    @classmethod
    def from_limits(
        cls,
        limits: Limits,
        provider: str = "longhorn",
        max_nodes_per_cluster: int = 20,
        ctrl_node_type: str | None = None,
        run_node_ram_bytes: int | None = None,
        run_node_type: str | None = None,
    ) -> NodeType:
        """``run_node_ram_bytes``: the run node's RAM (None: that of ``run_node_type``, the profile's default run
        node type when None); its max-pods is the run node type's, less the node's system pods."""
        ctrl = limits.control_plane(ctrl_node_type or limits.control_plane_ladder[-1])
        if max_nodes_per_cluster < 1:
            raise ValueError(f"max_nodes_per_cluster: must be at least 1, got {max_nodes_per_cluster}")
        max_nodes = BY_KEY["k8s_nodes"].capacity(limits, provider, ctrl)
        node_footprint = NodeFootprint.of(limits, provider)
        if run_node_ram_bytes is None and run_node_type is not None:
            run_node_ram_bytes = limits.costs.run_node_types[run_node_type].ram_bytes
        return cls(
            provider,
            limits.run_node_allocatable_bytes(provider, run_node_ram_bytes),
            node_footprint.customer_pod_room(limits.run_node_max_pods(run_node_type)),
            limits.storage[provider].min_nodes,
            min(max_nodes_per_cluster, max_nodes),
            ctrl.name,
            limits,
            node_footprint,
            limits.run_node_usable_disk_bytes(provider),
        )

    def footprint(self, service: Service, new_customer: bool = True) -> Footprint:
        """What ``service`` adds to a node and a cluster of this type (with its customer's objects by default:
        the conservative answer when it is not known whether the customer is already there)."""
        return Footprint.of(service.request(new_customer), self.limits, self.provider)

    def capacity(self, limit: Limit) -> int:
        """A cluster's capacity for one of the catalogue's limits, less what the empty cluster already uses."""
        capacity = limit.capacity(self.limits, self.provider, self.limits.control_plane(self.ctrl_node_type))
        assert capacity is not None  # the control-plane type was checked when the node type was made
        if self.node_footprint is None:
            return capacity
        return capacity - cluster_baseline_need(self.limits, self.provider, limit.needed)

    def node_needs(self) -> tuple[int, ...]:
        """What one run node brings to each of ``CLUSTER_LIMITS`` before any service, in that order."""
        if self.node_footprint is None:
            return (0,) * len(CLUSTER_LIMITS)
        return tuple(self.node_footprint.need(limit.needed) for limit in CLUSTER_LIMITS)

    def cluster_capacity(self) -> tuple[int, ...]:
        """The capacity of each of ``CLUSTER_LIMITS``, in that order."""
        return tuple(self.capacity(limit) for limit in CLUSTER_LIMITS)

    @property
    def max_volumes(self) -> int:
        return self.capacity(BY_KEY["volumes"])

    @property
    def tight_objects(self) -> int:
        return self.capacity(BY_KEY["control_plane_objects"])

    def to_dict(self) -> dict:
        skip = ("limits", "node_footprint")
        shape = {name: getattr(self, name) for name in self.__dataclass_fields__ if name not in skip}
        return {
            **shape,
            "node_footprint": None if self.node_footprint is None else self.node_footprint._asdict(),
            "profile": self.limits.profile,
            "cluster_limits": dict(zip((limit.key for limit in CLUSTER_LIMITS), self.cluster_capacity(), strict=True)),
        }


def cluster_needs(footprint: Footprint) -> tuple[int, ...]:
    """What ``footprint`` adds to each of ``CLUSTER_LIMITS``, in that order."""
    return tuple(getattr(footprint, limit.needed) for limit in CLUSTER_LIMITS)
