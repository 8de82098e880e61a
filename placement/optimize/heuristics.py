"""Packing heuristics and lower bounds on the node count, on integer demand arrays.

``demand`` has one row per service and one column per per-node limit (RAM in MiB first, then pods and the cluster
limits a node's services must meet on their own); ``capacity`` is the node's limit in each column. Every
heuristic here returns a packing that meets every column, so its node count is an upper bound; the bounds
(L1 per column, Martello–Toth L2 on RAM) are lower bounds of the same problem. When they meet, that is a proof.
"""

from __future__ import annotations

import numpy as np


def decreasing_order(demand: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Largest share of a node in any dimension first (ties: more RAM first), so pod-heavy small services and
    RAM-heavy large ones are both placed early (the 2-D FFD of ecosystem.md §3)."""
    return np.lexsort((-demand[:, 0], -(demand / np.maximum(capacity, 1)).max(axis=1)))


def _fit_decreasing(demand: np.ndarray, capacity: np.ndarray, best_fit: bool) -> np.ndarray:
    free = np.empty((16, demand.shape[1]), dtype=np.int64)  # room left on each open node; grows by doubling
    count = 0
    node_of = np.empty(len(demand), dtype=np.int64)
    for item in decreasing_order(demand, capacity):
        need = demand[item]
        # One vectorised test over the open nodes: a simulated fleet's check has 10^5 services.
        fits = (free[:count] >= need).all(axis=1)
        if count and fits.any():
            if best_fit:  # the open node left with the least RAM (first such node on ties)
                index = int(np.argmin(np.where(fits, free[:count, 0], np.iinfo(np.int64).max)))
            else:
                index = int(fits.argmax())
        else:
            if count == len(free):
                free = np.concatenate([free, np.empty_like(free)])
            index = count
            free[index] = capacity
            count += 1
        free[index] -= need
        node_of[item] = index
    return node_of


def ffd_nodes(demand: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """First-fit decreasing with every column a per-node cap; returns each item's node."""
    return _fit_decreasing(demand, capacity, best_fit=False)


def bfd_nodes(demand: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Best-fit decreasing (onto the open node with the least RAM left that takes the item); each item's node."""
    return _fit_decreasing(demand, capacity, best_fit=True)


def worst_fit_into(demand: np.ndarray, capacity: np.ndarray, nodes: int) -> np.ndarray | None:
    """Largest first, each item onto the node with the most room left in its tightest dimension, with exactly
    ``nodes`` nodes; None when an item fits nowhere. Balancing RAM and pods together is what FFD misses when
    many small services hit the pods-per-node cap on the last nodes."""
    free = np.tile(capacity, (nodes, 1)).astype(np.float64)
    scale = np.maximum(capacity, 1).astype(np.float64)
    room = (free / scale).min(axis=1)  # kept per node, updated only where an item went
    node_of = np.empty(len(demand), dtype=np.int64)
    for item in np.argsort(-demand[:, 0], kind="stable"):
        fits = (free >= demand[item]).all(axis=1)
        if not fits.any():
            return None
        chosen = int(np.argmax(np.where(fits, room, -1.0)))
        free[chosen] -= demand[item]
        room[chosen] = (free[chosen] / scale).min()
        node_of[item] = chosen
    return node_of


def fits(demand: np.ndarray, capacity: np.ndarray, node_of: np.ndarray) -> bool:
    """Whether the packing ``node_of`` keeps every node within every column's capacity."""
    used = np.zeros((int(node_of.max()) + 1, demand.shape[1]), dtype=np.int64)
    np.add.at(used, node_of, demand)
    return bool((used <= capacity).all())


def l1_bound(demand: np.ndarray, capacity: np.ndarray) -> int:
    """Each column's total over its per-node capacity, rounded up; the largest of them."""
    if not len(demand):
        return 0
    totals = demand.sum(axis=0)
    return max(1, *(-(-int(t) // max(int(c), 1)) for t, c in zip(totals, capacity, strict=True)))


def l2_bound(sizes: np.ndarray, capacity: int) -> int:
    """Martello and Toth's L2 bound (1990) for one dimension.

    For a threshold K <= C/2: items larger than C - K each need a node of their own and share it with nothing of
    size >= K; items in (C/2, C - K] each need their own node too; items in [K, C/2] fill the room those middle
    nodes leave and then whole nodes. L2 is the best of these counts over every K among the item sizes (and 0);
    it is never below L1 and dominates it on instances with many items larger than half a node.
    """
    sizes = np.sort(np.asarray(sizes, dtype=np.int64))
    if not len(sizes):
        return 0
    prefix = np.concatenate([[0], np.cumsum(sizes)])
    n = len(sizes)

    def count_above(limit: np.ndarray) -> np.ndarray:  # items strictly larger than limit
        return n - np.searchsorted(sizes, limit, side="right")

    def sum_from(index: np.ndarray) -> np.ndarray:
        return prefix[n] - prefix[index]

    half = capacity // 2  # 2s <= C  <=>  s <= C // 2
    ks = np.unique(np.concatenate([[0], sizes[sizes <= half]]))
    big = count_above(capacity - ks)  # N1: s > C - K
    middle_start = np.searchsorted(sizes, half, side="right")  # first index with 2s > C
    middle = n - middle_start - big  # N2: C/2 < s <= C - K
    middle_sum = sum_from(np.full_like(ks, middle_start)) - sum_from(n - big)
    small_start = np.searchsorted(sizes, ks, side="left")  # first index with s >= K
    small_sum = prefix[middle_start] - prefix[small_start]  # N3: K <= s <= C/2
    overflow = small_sum - (middle * capacity - middle_sum)
    bound = big + middle + np.maximum(0, -(-overflow // capacity))
    return int(bound.max())
