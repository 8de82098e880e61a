"""The simulated fleet: clusters and run nodes, their counters as numpy arrays, and the engine's view of them.

Nothing here is per-entity Python objects except what the engine needs: each cluster keeps a list of
``RunNode`` values (replaced one at a time when a node's load changes) and its last ``ClusterLoad``. After a
placement or a departure the next load is that one with the changed nodes replaced (``ClusterLoad.with_nodes``,
which carries over what the engine derived from the other nodes); only a node added or removed builds it afresh.
Arrays that grow (clusters, nodes) double their capacity.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import numpy as np

from placement.footprint import Footprint, NodeFootprint, cluster_baseline_objects
from placement.limits import Limits
from placement.model import Cluster, ClusterLoad, RunNode, run_node
from sim.fleet_layout import CLUSTER_COUNTERS, FOOTPRINT_COUNTERS, LOAD_COUNTERS, NODE_CELLS, footprint_adder, grow
from sim.population import Cells


@dataclass(slots=True)
class ClusterInfo:
    """What does not change often: the engine's ``Cluster`` row and the cluster's life cycle."""

    cluster: Cluster
    provider: str
    region: str
    node_alloc: int  # allocatable bytes of one run node on this cluster
    node_footprint: NodeFootprint  # the system pods and objects each of its run nodes brings
    active: bool  # delivered (an ordered cluster is inactive until its lead time passes)
    open: bool  # takes new customers
    created_day: float
    max_pods: int  # kubelet max-pods of this cluster's run nodes (each RunNode carries it too)
    # Raw disk each of its run nodes gives the storage provider (None: its data is on dedicated storage nodes,
    # which the storage cost model buys as the raw disk grows, or the profile does not know the run node's disk).
    node_disk: int | None = None
    decommissioned: bool = False  # shut down: no nodes, no cost, never active again
    last_node_added: float = -1e9  # day the last run node arrived (scale-down waits after it)
    nodes_named: int = 0  # run nodes ever named on the cluster, so a new node never reuses a removed one's name


class Fleet:
    """Counters per cluster (numpy, indexed by cluster number) and per node, plus the engine-facing caches."""

    def __init__(
        self, limits: Limits, ladder: tuple[str, ...], start: datetime, run_node_ram: int, max_pods: int | None = None
    ):
        self.limits = limits
        self.max_pods = max_pods or limits.run_node_max_pods()  # the kubelet's max-pods on the run node type
        self.ladder = ladder
        self.start = start
        self.run_node_ram = run_node_ram
        self.clusters: list[ClusterInfo] = []
        self.index: dict[str, int] = {}
        # Every counter a row of one matrix (a column per cluster number): the operator's ratios and the daily sample
        # read them all at once. ``counters`` holds each row (a view), and stays the same dict as the matrix grows.
        self.counter_matrix = np.zeros((len(CLUSTER_COUNTERS), 8), dtype=np.int64)
        self.counters = dict(zip(CLUSTER_COUNTERS, self.counter_matrix, strict=True))
        self.cluster_nodes: list[list[int]] = []
        self.cluster_runnodes: list[list[RunNode]] = []
        self.loads: list[ClusterLoad | None] = []  # each cluster's last load (None: build it afresh)
        # Per cluster, the run nodes changed (by position) since its last load; None: that load is current.
        self.changed: list[dict[int, RunNode] | None] = []
        self.node_cluster = np.zeros(64, dtype=np.int64)
        self.node_position = np.zeros(64, dtype=np.int64)
        self.node_requested = np.zeros(64, dtype=np.int64)
        self.node_pods = np.zeros(64, dtype=np.int64)
        self.node_max_pods = np.zeros(64, dtype=np.int64)
        # Pods the run nodes of each cluster can hold (the sum of their max-pods), beside the counters.
        self.pods_capacity = np.zeros(8, dtype=np.int64)
        self.node_names: list[str] = []
        self.node_services: list[set[int]] = []  # the services placed on each run node (a drain moves them)
        self.node_by_name: dict[str, int] = {}
        # The open clusters' pairs (None: list them afresh), their positions there, and those changed since.
        self._open_pairs: list[tuple[Cluster, ClusterLoad]] | None = None
        self._open_at: dict[int, int] = {}
        self._open_changed: set[int] = set()
        # Each counter's view over the clusters (``view``), kept until a cluster is added (its arrays may grow).
        self._views: dict[str, np.ndarray] = {}
        self._make_cells()

    def _make_cells(self) -> None:
        """The counters' and ``NODE_CELLS``' memoryviews (``sim.population.Cells``), made again when an array grows:
        a placement reads and stores their elements through them."""
        cells = self.counter_cells = {name: memoryview(array) for name, array in self.counters.items()}
        self.node_cells = Cells(self, NODE_CELLS)
        # The cells a placement reads or stores, picked out of ``counter_cells`` once (a lookup each per placement
        # cost more): ``FOOTPRINT_COUNTERS``' (``add_footprint``), ``LOAD_COUNTERS``' and the placement counts.
        self.footprint_cells = tuple(cells[counter] for _, counter in FOOTPRINT_COUNTERS)
        self.load_cells = tuple(cells[name] for name in LOAD_COUNTERS)
        self.placement_cells = (cells["placements"], cells["placed_to_date"])

    def copy(self) -> Fleet:
        """An independent copy: what changes is copied, what never changes (the limits, the engine's ``Cluster``,
        ``RunNode`` and ``ClusterLoad`` values) is shared."""
        twin = _new_object(Fleet)
        counter_matrix = self.counter_matrix.copy()
        copied = dict(
            clusters=[copy.copy(info) for info in self.clusters],
            index=dict(self.index),
            counter_matrix=counter_matrix,
            counters=dict(zip(CLUSTER_COUNTERS, counter_matrix, strict=True)),
            cluster_nodes=[list(nodes) for nodes in self.cluster_nodes],
            cluster_runnodes=[list(nodes) for nodes in self.cluster_runnodes],
            loads=list(self.loads),
            changed=[None if changed is None else dict(changed) for changed in self.changed],
            node_cluster=self.node_cluster.copy(),
            node_position=self.node_position.copy(),
            node_requested=self.node_requested.copy(),
            node_pods=self.node_pods.copy(),
            node_max_pods=self.node_max_pods.copy(),
            pods_capacity=self.pods_capacity.copy(),
            node_names=list(self.node_names),
            node_services=[set(services) for services in self.node_services],
            node_by_name=dict(self.node_by_name),
            _open_pairs=None if self._open_pairs is None else list(self._open_pairs),
            _open_at=dict(self._open_at),
            _open_changed=set(self._open_changed),
            _views={},  # the original's views are of its own arrays
            counter_cells=None,  # made below, over the copy's arrays
            node_cells=None,
            footprint_cells=None,
            load_cells=None,
            placement_cells=None,
        )
        assert vars(self).keys() == copied.keys() | set(CONFIG_VALUES), "Fleet.copy copies every attribute"
        state = {name: getattr(self, name) for name in CONFIG_VALUES} | copied
        vars(twin).update(state)
        twin._make_cells()
        return twin

    # --- clusters -------------------------------------------------------------------------------------------
    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    def add_cluster(
        self,
        cluster_id: str,
        region: str,
        provider: str,
        ctrl_type: str,
        ctrl_nodes: int,
        day: float,
        active: bool,
        node_alloc: int | None = None,
        max_pods: int | None = None,
        node_disk: int | None = None,
    ) -> int:
        """A new cluster, without run nodes; ``node_alloc``, ``max_pods`` and ``node_disk``: its run nodes' when they
        are not the operator's run node type's (a live start's measured ones)."""
        number = len(self.clusters)
        created = self.start + timedelta(days=day)
        cluster = Cluster(
            id=cluster_id,
            name=cluster_id,
            region=region,
            task_queue=f"deployer-{cluster_id}",
            registry_url=f"registry.{cluster_id}.internal:5000",
            storage_provider=provider,  # type: ignore[arg-type]
            created_at=created,
        )
        alloc = node_alloc or self.limits.run_node_allocatable_bytes(provider, self.run_node_ram)
        node_footprint = NodeFootprint.of(self.limits, provider)
        self.clusters.append(
            ClusterInfo(
                cluster,
                provider,
                region,
                alloc,
                node_footprint,
                active,
                active,
                day,
                max_pods or self.max_pods,
                node_disk or self.limits.run_node_usable_disk_bytes(provider),
            )
        )
        self.index[cluster_id] = number
        grown = grow(self.counter_matrix, number + 1)
        if grown is not self.counter_matrix:
            self.counter_matrix = grown
            self.counters.update(zip(CLUSTER_COUNTERS, grown, strict=True))
        self._views.clear()
        self.pods_capacity = grow(self.pods_capacity, number + 1)
        self._make_cells()
        self.counters["ctrl_rung"][number] = self.ladder.index(ctrl_type)
        self.counters["ctrl_nodes"][number] = ctrl_nodes
        self.counters["etcd_objects"][number] = cluster_baseline_objects(self.limits, provider)
        self.cluster_nodes.append([])
        self.cluster_runnodes.append([])
        self.loads.append(None)
        self.changed.append(None)
        self._open_pairs = None
        return number

    def activate(self, number: int) -> None:
        info = self.clusters[number]
        info.active = info.open = True
        self._open_pairs = None

    def close(self, number: int) -> None:
        self.clusters[number].open = False
        self._open_pairs = None

    def decommission(self, number: int) -> None:
        """Shut an empty cluster down: its run nodes go, it is no longer delivered (so costs nothing)."""
        for node in list(self.cluster_nodes[number]):
            self.remove_node(node)
        info = self.clusters[number]
        info.active = info.open = False
        info.decommissioned = True
        self._open_pairs = None

    def ctrl_type(self, number: int) -> str:
        return self.ladder[self.counters["ctrl_rung"].item(number)]

    def set_ctrl_rung(self, number: int, rung: int) -> None:
        self.counters["ctrl_rung"][number] = rung
        self._touch(number)
        self._open_pairs = None  # its kind changed: ``open_pairs`` groups the kinds again

    # --- nodes ----------------------------------------------------------------------------------------------
    def add_nodes(self, number: int, count: int, day: float = 0.0) -> None:
        info = self.clusters[number]
        for _ in range(count):
            node = len(self.node_names)
            if node >= len(self.node_cluster):
                size = node + 1
                self.node_cluster = grow(self.node_cluster, size)
                self.node_position = grow(self.node_position, size)
                self.node_requested = grow(self.node_requested, size)
                self.node_pods = grow(self.node_pods, size)
                self.node_max_pods = grow(self.node_max_pods, size)
                self._make_cells()
            info.nodes_named += 1
            name = f"{info.cluster.id}-run-{info.nodes_named}"
            self.node_names.append(name)
            self.node_services.append(set())
            self.node_by_name[name] = node
            self.node_cluster[node] = number
            self.node_position[node] = len(self.cluster_nodes[number])
            self.node_max_pods[node] = info.max_pods
            self.cluster_nodes[number].append(node)
            self.node_requested[node] = 0
            self.node_pods[node] = info.node_footprint.pods
            self.cluster_runnodes[number].append(
                RunNode(name, info.node_alloc, 0, info.node_footprint.pods, info.max_pods)
            )
        self.counters["nodes"][number] += count
        self.counters["ram_allocatable"][number] += count * info.node_alloc
        self.counters["pods"][number] += count * info.node_footprint.pods
        self.counters["etcd_objects"][number] += count * info.node_footprint.etcd_objects
        self.pods_capacity[number] += count * info.max_pods
        if count:
            info.last_node_added = day
        self._rebuild(number)

    def remove_node(self, node: int) -> None:
        """Take an empty run node out of its cluster (its services were moved first)."""
        number = int(self.node_cluster[node])
        info = self.clusters[number]
        system = info.node_footprint
        assert self.node_requested[node] == 0 and self.node_pods[node] == system.pods, "drain the node first"
        position = int(self.node_position[node])
        members = self.cluster_nodes[number]
        del members[position]
        del self.cluster_runnodes[number][position]
        for later in members[position:]:
            self.node_position[later] -= 1
        self.node_cluster[node] = -1
        del self.node_by_name[self.node_names[node]]
        self.node_pods[node] = 0
        self.counters["nodes"][number] -= 1
        self.counters["ram_allocatable"][number] -= info.node_alloc
        self.counters["pods"][number] -= system.pods
        self.counters["etcd_objects"][number] -= system.etcd_objects
        self.pods_capacity[number] -= int(self.node_max_pods[node])
        self._rebuild(number)

    def move_service(self, source: int, target: int, ram: int, pods: int) -> None:
        """One service moves between two run nodes of the same cluster (a drain): the cluster's totals stay."""
        self.change_node(source, -ram, -pods)
        self.change_node(target, ram, pods)

    def change_node(self, node: int, ram: int, pods: int) -> None:
        # Elements read and stored through memoryviews (``_make_cells``): numpy's costs about twice as much, per
        # placement.
        cells = self.node_cells
        number = cells.node_cluster[node]
        position = cells.node_position[node]
        runnodes = self.cluster_runnodes[number]
        was = runnodes[position]  # the node's figures as the arrays hold them
        requested = was.requested_ram_bytes + ram
        node_pods = was.pods + pods
        cells.node_requested[node] = requested
        cells.node_pods[node] = node_pods
        changed_node = runnodes[position] = run_node(
            was.name, was.allocatable_ram_bytes, requested, node_pods, was.max_pods
        )
        ram_requested = self.counter_cells["ram_requested"]
        ram_requested[number] = ram_requested[number] + ram
        # ``_touch``, written out (a call per placement and departure).
        changed = self.changed[number]
        if changed is None:
            changed = self.changed[number] = {}
        if self._open_pairs is not None and self.clusters[number].open:
            self._open_changed.add(number)
        changed[position] = changed_node

    # A placement's footprint on cluster ``number`` and its run node (``sign=-1``: taken back): its RAM and pods
    # through ``change_node``, each field of ``FOOTPRINT_COUNTERS`` added to its counter (``footprint_adder``).
    add_footprint: Callable[[Fleet, int, int, Footprint, int], None] = footprint_adder()

    # --- the engine's view ----------------------------------------------------------------------------------
    def _touch(self, number: int) -> None:
        if self.changed[number] is None:
            self.changed[number] = {}
        if self._open_pairs is not None and self.clusters[number].open:
            self._open_changed.add(number)

    def _rebuild(self, number: int) -> None:
        """Its run nodes were added or removed (their positions moved): the next load is built afresh."""
        self.loads[number] = None
        self._touch(number)

    def load(self, number: int) -> ClusterLoad:
        load, changed = self.loads[number], self.changed[number]
        if load is None:  # made afresh from its run nodes (what changed is in them), then given its counters
            load, changed = ClusterLoad(tuple(self.cluster_runnodes[number]), ""), {}
        elif changed is None:
            return load
        rung_of, volumes_of, services_of, customers_of, pods_of, objects_of, disk_of, nodes_of = self.load_cells
        node_disk = self.clusters[number].node_disk
        load = self.loads[number] = load.with_changes(
            changed,
            self.ladder[rung_of[number]],  # ctrl_node_type
            volumes_of[number],
            services_of[number],
            customers_of[number],
            pods_of[number],
            objects_of[number],  # etcd_objects
            load.observed_at,
            disk_of[number],  # disk_bytes
            # The raw disk its replicas may fill: its run nodes' (None: not on its run nodes, or not known).
            None if node_disk is None else nodes_of[number] * node_disk,
        )
        self.changed[number] = None
        return load

    def pair(self, number: int) -> tuple[Cluster, ClusterLoad]:
        return self.clusters[number].cluster, self.load(number)

    def open_pairs(self) -> list[tuple[Cluster, ClusterLoad]]:
        """The clusters new customers may be placed on, with their loads, those of one kind (storage provider and
        control-plane type) together: the engine's answer does not depend on the order, and it reads a kind's
        figures once per run of clusters of that kind."""
        pairs = self._open_pairs
        if pairs is None:
            rungs = self.counters["ctrl_rung"]
            numbers = sorted(
                (i for i, info in enumerate(self.clusters) if info.open),
                key=lambda i: (self.clusters[i].provider, rungs.item(i), i),
            )
            self._open_at = {number: k for k, number in enumerate(numbers)}
            pairs = self._open_pairs = [self.pair(i) for i in numbers]
            self._open_changed.clear()
        elif self._open_changed:
            pairs = self._open_pairs = pairs.copy()  # a new list: callers may still hold the last one
            clusters, at = self.clusters, self._open_at
            for number in self._open_changed:
                pairs[at[number]] = (clusters[number].cluster, self.load(number))  # ``pair``, a call less
            self._open_changed.clear()
        return pairs

    def counter_rows(self) -> np.ndarray:
        """Every counter over the clusters, a row each in ``CLUSTER_COUNTERS``' order (a view, as ``view``'s)."""
        return self.counter_matrix[:, : self.n_clusters]

    def view(self, name: str) -> np.ndarray:
        """A counter over the clusters (a view: writes go to the counter). The operator reads a dozen a day."""
        found = self._views.get(name)
        if found is None:
            found = self._views[name] = self.counters[name][: self.n_clusters]
        return found


_new_object = object.__new__
# A fleet's values from the run's configuration, which never change: a copy shares them.
CONFIG_VALUES = ("limits", "max_pods", "ladder", "start", "run_node_ram")


def start_datetime(day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
