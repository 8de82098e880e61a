"""What one placement adds to a cluster and to the run node it lands on, and how it is added and taken back.

This is the one accounting rule (kube-scheduler's ``NodeInfo.AddPod``/``RemovePod``): the engine's filters and
scores read the footprint to ask "would it fit", and the router's reservations and cached fleet, the
simulator's place and leave, and the optimizer's sizes add or remove it. None keeps arithmetic of its own.
"""

from __future__ import annotations

from typing import NamedTuple

from placement.limits import Limits
from placement.model import ClusterLoad, PlacementRequest, run_node

_new_tuple = tuple.__new__
FIELDS = ("ram_bytes", "pods", "services", "namespaces", "volumes", "volume_bytes", "etcd_objects", "disk_bytes")
# The fields the volumes' sizes decide; their count decides the others (with the request's RAM, pods, etcd objects
# and whether it is the customer's first): two requests that differ only in their volumes' sizes differ only here.
SIZED_FIELDS = ("volume_bytes", "disk_bytes")


class Footprint(NamedTuple):
    """One service's share of a cluster with the given storage provider.

    ``ram_bytes`` is taken on one run node: the service's request plus the storage engine's per-volume RAM.
    ``namespaces`` is 1 for a customer's first service (its namespace and per-customer objects come with it).
    ``disk_bytes`` is the raw disk its volumes take: their bytes times the replicas the cluster keeps.
    A named tuple: the engine makes one per request and storage provider, so it must be cheap to make.
    """

    provider: str
    ram_bytes: int
    pods: int
    services: int
    namespaces: int
    volumes: int
    volume_bytes: int
    etcd_objects: int
    disk_bytes: int = 0

    @classmethod
    def of(cls, request: PlacementRequest, limits: Limits, provider: str, run_nodes: int | None = None) -> Footprint:
        """The footprint on a cluster of ``provider`` with ``run_nodes`` run nodes (None: at its full replica count;
        a cluster with fewer run nodes than the provider's replicas keeps one replica per run node)."""
        storage = limits.storage[provider]
        volumes = request.volumes
        objects = _objects(request, limits)
        if not volumes:  # the usual request; the tuple made directly (a named tuple's ``__new__`` is Python)
            return _new_tuple(
                cls, (provider, request.ram_bytes, request.pods, 1, int(request.new_customer), 0, 0, objects, 0)
            )
        count = len(volumes)
        replicas = storage.replicas_on(run_nodes)
        volume_bytes = sum(volume.size_bytes for volume in volumes)
        return _new_tuple(
            cls,
            (
                provider,
                request.ram_bytes + count * storage.volume_ram_bytes(replicas),
                request.pods,
                1,  # services
                int(request.new_customer),  # namespaces
                count,  # volumes
                volume_bytes,
                objects + count * storage.volume_objects(replicas),  # etcd_objects
                volume_bytes * replicas,  # disk_bytes
            ),
        )

    @property
    def nothing(self) -> int:
        """What a placement adds to a limit it does not grow (the number of run nodes, say)."""
        return 0

    def scaled(self, times: int) -> Footprint:
        """``times`` placements of this footprint (negative: taken back)."""
        return Footprint(self.provider, *(getattr(self, name) * times for name in FIELDS))

    def add_to(self, load: ClusterLoad, node_name: str | None) -> ClusterLoad:
        """The load with this placement on it (``NodeInfo.AddPod``); ``node_name`` is the run node it runs on."""
        return _apply(load, node_name, self, 1)

    def remove_from(self, load: ClusterLoad, node_name: str | None) -> ClusterLoad:
        """The load with this placement taken back (``NodeInfo.RemovePod``)."""
        return _apply(load, node_name, self, -1)


class NodeFootprint(NamedTuple):
    """What one run node brings to its cluster before any customer's service lands on it.

    ``pods`` are the system pods every run node carries (Traefik, ServiceLB's svclb-*, the storage provider's
    DaemonSets and per-node daemons); they count against the node's max-pods and the cluster's pods.
    ``etcd_objects`` are the node's objects: Node, Lease, CSINode, those pods, and the provider's per-node objects.
    """

    provider: str
    pods: int
    etcd_objects: int

    @classmethod
    def of(cls, limits: Limits, provider: str) -> NodeFootprint:
        storage = limits.storage[provider]
        pods = limits.system_pods_per_node(provider)
        return cls(provider, pods, limits.etcd_objects_per_node + pods + storage.etcd_objects_per_node)

    def customer_pod_room(self, max_pods: int) -> int:
        """Pods left for customers' services on a node with this max-pods."""
        return max(max_pods - self.pods, 0)

    def need(self, needed: str) -> int:
        """What the run node adds to a cluster limit that counts the footprint field ``needed`` (pods, etcd
        objects; nothing to the others)."""
        return getattr(self, needed) if needed in ("pods", "etcd_objects") else 0


def _objects(request: PlacementRequest, limits: Limits) -> int:
    """A service's etcd objects besides its volumes'; a request's own estimate replaces the profile's per-service
    figures, its Events included."""
    objects = (
        limits.etcd_objects_per_service + limits.etcd_events_per_service
        if request.etcd_objects is None
        else request.etcd_objects
    )
    return objects + limits.etcd_objects_per_customer if request.new_customer else objects


def cluster_baseline_objects(limits: Limits, provider: str) -> int:
    """The etcd objects of a cluster with no run node and no customer: Kubernetes' and the storage provider's own."""
    return limits.etcd_objects_per_cluster + limits.storage[provider].etcd_objects_per_cluster


def cluster_baseline_need(limits: Limits, provider: str, needed: str) -> int:
    """What an empty cluster already uses of a cluster limit that counts the footprint field ``needed``."""
    return cluster_baseline_objects(limits, provider) if needed == "etcd_objects" else 0


def _apply(load: ClusterLoad, node_name: str | None, footprint: Footprint, sign: int) -> ClusterLoad:
    changed = {}
    if node_name is not None:
        changed = {
            position: run_node(
                node.name,
                node.allocatable_ram_bytes,
                node.requested_ram_bytes + sign * footprint.ram_bytes,
                node.pods + sign * footprint.pods,
                node.max_pods,
                node.schedulable,
            )
            for position, node in enumerate(load.run_nodes)
            if node.name == node_name
        }
    # Every field given in order (``with_changes``): ``with_nodes``'s keywords are checked and looked up one by one,
    # and the router applies a footprint at every placement (its hold in the cached fleet).
    return load.with_changes(
        changed,
        load.ctrl_node_type,
        load.volumes + sign * footprint.volumes,
        load.services + sign * footprint.services,
        load.customers + sign * footprint.namespaces,
        load.pods + sign * footprint.pods,
        load.etcd_objects + sign * footprint.etcd_objects,
        load.observed_at,
        load.disk_bytes + sign * footprint.disk_bytes,
        load.disk_capacity_bytes,
    )
