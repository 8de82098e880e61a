"""A live cluster's run nodes as its snapshot measures them: one run node's allocatable RAM, max-pods and disk.

The simulator sizes a cluster's run nodes by the operator's run node type. A live cluster's may be another size
(bought before, or another type), and its RAM headroom and pod room are its own: a cluster of 60 GiB nodes at 79 %
of its RAM read as 19 % on the base's 250 GiB type. So a cluster with a snapshot keeps its measured size, and the
run nodes the operator adds to it are that size too (a cluster grows with its own kind of node); new clusters take
the operator's type.

The catalogue prices run node types, not sizes: a run's costs price such a cluster's nodes as the operator's type.
Mixed run nodes are simulated as equal ones: the mean allocatable RAM (the cluster's total is the measured one),
the smallest max-pods (the one a full node meets first), and the provider's measured raw disk shared among them
(where its replicas are on the run nodes; on dedicated storage nodes the disk is the storage cost model's).
"""

from __future__ import annotations

from dataclasses import dataclass

from placement.model import ClusterLoad

# A measured size this close to the operator's type's is that type's (a kubelet's reservations vary a little).
SAME_SIZE_SHARE = 0.02


@dataclass(frozen=True)
class MeasuredNodes:
    """``allocatable_bytes``, ``max_pods`` and ``disk_bytes``: the cluster's run nodes' where they differ from the
    type's (None: the type's); ``note``: what the output says about it, if anything."""

    allocatable_bytes: int | None
    max_pods: int | None
    disk_bytes: int | None
    note: str | None


NOT_MEASURED = MeasuredNodes(None, None, None, None)


def measured_nodes(
    cluster: str, load: ClusterLoad, type_name: str, type_allocatable: int, type_max_pods: int, type_disk: int | None
) -> MeasuredNodes:
    """The run nodes of ``load`` against the operator's run node type ``type_name``: ``type_allocatable`` bytes of
    allocatable RAM, ``type_max_pods``, and ``type_disk`` bytes of raw disk for ``cluster``'s storage provider (None:
    its replicas are not on the run nodes)."""
    nodes = load.run_nodes
    if not nodes:
        return NOT_MEASURED
    allocatable = sum(n.allocatable_ram_bytes for n in nodes) // len(nodes)
    pods = [n.max_pods for n in nodes if n.max_pods]
    max_pods = min(pods) if len(pods) == len(nodes) else None
    disk = None
    if type_disk is not None and load.disk_capacity_bytes:
        disk = load.disk_capacity_bytes // len(nodes)
    parts = []
    if not _near(allocatable, type_allocatable):
        parts.append(f"{allocatable / 2**30:,.1f} GiB allocatable (the type: {type_allocatable / 2**30:,.1f} GiB)")
    else:
        allocatable = None
    if max_pods is not None and max_pods != type_max_pods:
        parts.append(f"max-pods {max_pods} (the type: {type_max_pods})")
    else:
        max_pods = None
    if disk is not None and not _near(disk, type_disk):
        parts.append(f"{disk / 2**40:,.2f} TiB of raw disk for the provider (the type: {type_disk / 2**40:,.2f} TiB)")
    else:
        disk = None
    if not parts:
        return NOT_MEASURED
    note = (
        f"cluster {cluster}: its run nodes measure {' and '.join(parts)}, not the operator's run node type "
        f"{type_name}'s: the run simulates them, and the run nodes added to it, at the measured size"
    )
    return MeasuredNodes(allocatable, max_pods, disk, note)


def _near(measured: int, of_type: int) -> bool:
    return abs(measured - of_type) <= SAME_SIZE_SHARE * of_type


def unschedulable_note(cluster: str, load: ClusterLoad) -> str | None:
    """What the output says of run nodes the snapshot lists as unschedulable (cordoned, or not ready): the simulator
    has no such state, so the run counts them as run nodes like the others, where the router's engine gives none
    of their room to a placement until they return."""
    down = [node.name for node in load.run_nodes if not node.schedulable]
    if not down:
        return None
    return (
        f"cluster {cluster}: {len(down)} of its {len(load.run_nodes)} run nodes are unschedulable in the snapshot "
        f"({', '.join(down)}): the run counts them as schedulable run nodes, with their RAM and pods; if they do "
        "not return, its RAM and pod dates are late"
    )
