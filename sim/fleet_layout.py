"""What the simulated fleet counts and where (``sim.fleet``): the per-cluster counters, where a placement's
footprint is counted, what a cluster's load is read from, and how its arrays grow."""

from __future__ import annotations

import numpy as np

from placement.footprint import Footprint

CLUSTER_COUNTERS = (
    "customers",
    "services",
    "volumes",
    "pods",
    "etcd_objects",
    "volume_bytes",
    "disk_bytes",
    "ram_requested",
    "ram_allocatable",
    "nodes",
    "pending_nodes",
    "ctrl_rung",
    "ctrl_nodes",
    "placements",  # since the last daily sample
    "rejections",
    "placed_to_date",  # every placement since the start, never reset: its rise over days is their rate
)


# Where each field of a placement's footprint is counted per cluster (its RAM and pods go on its node).
FOOTPRINT_COUNTERS = (
    ("services", "services"),
    ("namespaces", "customers"),
    ("pods", "pods"),
    ("volumes", "volumes"),
    ("volume_bytes", "volume_bytes"),
    ("etcd_objects", "etcd_objects"),
    ("disk_bytes", "disk_bytes"),
)


def footprint_adder():
    """``Fleet.add_footprint``, its loop over ``FOOTPRINT_COUNTERS`` written out (a placement's and a departure's
    footprint is counted field by field; the loop's own steps cost more than the additions). It reads the counters'
    cells in that order from ``Fleet.footprint_cells``."""
    fields = Footprint._fields
    lines = [
        "def add_footprint(self, number, node, footprint, sign=1):",
        f"    {', '.join(fields)} = footprint",
        "    self.change_node(node, sign * ram_bytes, sign * pods)",
        f"    {', '.join(f'{counter}_of' for _, counter in FOOTPRINT_COUNTERS)} = self.footprint_cells",
    ]
    for field, counter in FOOTPRINT_COUNTERS:
        lines += [f"    if {field}:", f"        {counter}_of[number] += sign * {field}"]
    namespace: dict = {}
    exec(compile("\n".join(lines), "<sim.fleet_layout.add_footprint>", "exec"), namespace)
    return namespace["add_footprint"]


# The counters a cluster's ``ClusterLoad`` is made of (``Fleet.load``), in the order it reads them.
LOAD_COUNTERS = ("ctrl_rung", "volumes", "services", "customers", "pods", "etcd_objects", "disk_bytes", "nodes")


# The per-node arrays a placement reads or stores one element of, through ``Fleet.node_cells``.
NODE_CELLS = ("node_cluster", "node_position", "node_requested", "node_pods")


def grow(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` with room for ``size`` entries along its last axis (its rows', for a matrix)."""
    have = array.shape[-1]
    if size <= have:
        return array
    bigger = np.zeros((*array.shape[:-1], max(size, 2 * have, 8)), dtype=array.dtype)
    bigger[..., :have] = array
    return bigger
