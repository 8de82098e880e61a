"""A first capacity plan built greedily, as CP-SAT's starting point and as the plan when CP-SAT finds none.

On a large demand (thousands of services in some sixty buckets, several cluster slots, the L2 cuts' large
coefficients) CP-SAT on one worker with a short deterministic limit can end without any solution (UNKNOWN): the
capacity plan then had no figure at all for the group, and a fleet-wide sum of the plans left the group out
(EUR 9,950 planned against EUR 31,243 simulated on a RAM-heavy probe). This builds a plan that meets every
constraint of ``placement.optimize.capacity``'s model, in the model's own integer terms: clusters of one storage
provider filled in turn, each bucket (largest RAM first) taking as many of its services as still fit the
cluster's run nodes (cap), pods, the L2 cuts and every cluster limit under some control-plane type. It is a
complete hint (every variable), so CP-SAT starts from it and improves on it; it is no optimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class ClusterShape:
    """One storage provider's cluster in the plan's integer terms (MiB, pods, each limit's scaled load)."""

    provider: str
    needs: np.ndarray  # MiB per service of each bucket
    pods: np.ndarray  # pods per service of each bucket
    capacity: int  # usable MiB per run node
    pod_room: int  # usable pods per run node after its system pods
    min_nodes: int
    max_nodes: int
    # Per cluster limit: the scaled load per service of each bucket, per run node, per cluster, and the scaled
    # room under each control-plane type (ladder order, cheapest first).
    loads: list[np.ndarray] = field(default_factory=list)
    per_node: list[int] = field(default_factory=list)
    per_cluster: list[int] = field(default_factory=list)
    rooms: list[list[int]] = field(default_factory=list)

    def nodes_for(self, counts: np.ndarray) -> int:
        """The fewest run nodes the model allows for these services: RAM, pods, the L2 cuts, the minimum."""
        used = counts > 0
        needs, cap = self.needs[used], self.capacity
        c = counts[used]
        nodes = max(self.min_nodes, -(-int(needs @ c) // cap), -(-int(self.pods[used] @ c) // self.pod_room))
        nodes = max(nodes, int(c[2 * needs > cap].sum()))
        for k in np.unique(needs[2 * needs <= cap]).tolist():
            mask = needs >= k
            weight = np.where(needs[mask] > cap - k, cap, needs[mask])
            nodes = max(nodes, -(-int(weight @ c[mask]) // cap))
        return nodes

    def ctrl_for(self, counts: np.ndarray, nodes: int) -> int | None:
        """The first control-plane type of the ladder (cheapest) under which every cluster limit holds, or None."""
        totals = [
            int(load @ counts) + per_node * nodes + per_cluster
            for load, per_node, per_cluster in zip(self.loads, self.per_node, self.per_cluster, strict=True)
        ]
        for t in range(len(self.rooms[0]) if self.rooms else 1):
            if all(total <= rooms[t] for total, rooms in zip(totals, self.rooms, strict=True)):
                return t
        return None

    def fits(self, counts: np.ndarray) -> tuple[int, int] | None:
        nodes = self.nodes_for(counts)
        if nodes > self.max_nodes:
            return None
        ctrl = self.ctrl_for(counts, nodes)
        return None if ctrl is None else (nodes, ctrl)


@dataclass(frozen=True, slots=True)
class StartCluster:
    provider: str
    slot: int
    counts: list[int]
    nodes: int
    ctrl: int  # index into the control-plane ladder


def greedy_plan(shape: ClusterShape, totals: list[int], max_clusters: int) -> list[StartCluster] | None:
    """Clusters of ``shape`` holding ``totals`` services per bucket, each filled before the next; None when
    ``max_clusters`` do not hold them."""
    left = np.array(totals, dtype=np.int64)
    order = sorted(range(len(left)), key=lambda b: (-int(shape.needs[b]), b))
    clusters = []
    for slot in range(max_clusters):
        if not left.any():
            break
        counts = np.zeros(len(left), dtype=np.int64)
        for b in order:
            if not left[b]:
                continue
            low, high = 0, int(left[b])  # the most of bucket b that still fit: feasibility falls with the count
            while low < high:
                mid = (low + high + 1) // 2
                counts[b] = mid
                if shape.fits(counts) is None:
                    high = mid - 1
                else:
                    low = mid
            counts[b] = low
        found = shape.fits(counts)
        if not counts.any() or found is None:
            return None
        left -= counts
        clusters.append(StartCluster(shape.provider, slot, counts.tolist(), *found))
    return None if left.any() else clusters


def storage_nodes(min_nodes: int, raw_gib: int, per_node_gib: int) -> int:
    """Dedicated storage nodes of a cluster holding ``raw_gib`` of replicas, at least the provider's minimum."""
    return max(min_nodes, math.ceil(raw_gib / per_node_gib) if per_node_gib > 0 else min_nodes)
