"""Packing bound: the fewest run nodes and clusters that hold a set of services, and how the greedy engine
compares.

Nodes are a bin-packing problem in RAM and pods, with the cluster limits a node's services must meet on their own
(volumes, control-plane objects); volume limits and control-plane objects are cluster-level, so otherwise they only
decide how many clusters the nodes are grouped into. The node count comes from ``placement.optimize.node_count``:
L1 and Martello–Toth L2 bounds, first/best-fit decreasing and balanced worst-fit packings, an arc-flow model on RAM
(CP-SAT) that proves the one-dimensional optimum, and the assignment model over every dimension when arc-flow's
packing breaks pods or volumes. The cluster count is the larger of its three lower bounds whenever a grouping of
the packed nodes meets it.

The greedy engine is measured twice: under the given policy (the default spreads: ``least_allocated``) and under
the same policy with the packing strategy ``most_allocated``, both against the optimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from placement.catalogue import NODE_FIT_FILTERS
from placement.engine import select_cluster
from placement.limits import Limits
from placement.model import Cluster, ClusterLoad, PlacementRequest, RunNode, VolumeRequest
from placement.optimize.heuristics import ffd_nodes, worst_fit_into
from placement.optimize.node_count import min_nodes
from placement.optimize.solve import Infeasible, SolverOutcome, SolveSettings, mib_ceil, mib_floor
from placement.policy import Policy, default_policy

__all__ = ["NodeType", "PackingReport", "Service", "ffd_nodes", "greedy_to_optimal_ratio", "pack", "worst_fit_into"]


@dataclass(frozen=True, slots=True)
class Service:
    """One service to place: its RAM request and its volume (``None`` when it has none)."""

    name: str
    ram_bytes: int
    volume_bytes: int | None = None
    customer_id: str | None = None  # None: the service is its own customer
    pods: int = 1

    @property
    def volumes(self) -> int:
        return 0 if self.volume_bytes is None else 1

    @property
    def customer(self) -> str:
        return self.customer_id or self.name


@dataclass(frozen=True, slots=True)
class NodeType:
    """The run node and cluster shape the services are packed onto."""

    provider: str
    allocatable_bytes: int
    max_pods: int
    max_volumes: int
    min_nodes: int
    max_nodes_per_cluster: int
    ctrl_node_type: str
    tight_objects: int
    ram_bytes_per_volume: int
    objects_per_service: int
    objects_per_volume: int
    objects_per_customer: int

    @classmethod
    def from_limits(
        cls,
        limits: Limits,
        provider: str = "longhorn",
        max_nodes_per_cluster: int = 20,
        ctrl_node_type: str | None = None,
        run_node_ram_bytes: int | None = None,
    ) -> NodeType:
        """``run_node_ram_bytes``: the run node's RAM (None: the profile's default run node)."""
        storage = limits.storage[provider]
        ctrl = limits.control_plane(ctrl_node_type or limits.control_plane_ladder[-1])
        if max_nodes_per_cluster < 1:
            raise ValueError(f"max_nodes_per_cluster: must be at least 1, got {max_nodes_per_cluster}")
        return cls(
            provider,
            limits.run_node_allocatable_bytes(provider, run_node_ram_bytes),
            limits.max_pods_per_node,
            storage.max_volumes,
            storage.min_nodes,
            min(max_nodes_per_cluster, limits.max_nodes),
            ctrl.name,
            ctrl.tight_objects,
            storage.ram_bytes_per_volume,
            limits.etcd_objects_per_service,
            storage.etcd_objects_per_volume,
            limits.etcd_objects_per_customer,
        )

    def ram_need(self, service: Service) -> int:
        return service.ram_bytes + service.volumes * self.ram_bytes_per_volume

    def service_objects(self, service: Service) -> int:
        return self.objects_per_service + service.volumes * self.objects_per_volume


@dataclass(frozen=True, slots=True)
class PackingReport:
    """Minimum nodes and clusters, their bounds, the FFD answer, and the greedy engine's answer against them.

    ``greedy_to_optimal_nodes`` is greedy nodes / optimal nodes. When the node solve is only FEASIBLE, the
    ratio is against the best solution found (a lower estimate of the true ratio) and ``ratio_exact`` is False.
    """

    services: int
    node_type: NodeType
    l1_nodes: int
    ffd_nodes: int
    nodes: int
    nodes_outcome: SolverOutcome
    l1_clusters: int
    ffd_clusters: int
    clusters: int
    clusters_status: str
    greedy_nodes: int | None = None
    greedy_clusters: int | None = None
    greedy_to_optimal_nodes: float | None = None
    greedy_to_optimal_clusters: float | None = None
    ratio_exact: bool = False
    node_of: tuple[int, ...] = field(default=(), repr=False)
    l2_nodes: int | None = None
    ram_rounding: str = ""
    greedy_strategy: str | None = None
    most_allocated_nodes: int | None = None
    most_allocated_clusters: int | None = None
    most_allocated_to_optimal_nodes: float | None = None
    most_allocated_to_optimal_clusters: float | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("node_of")
        data["nodes_outcome"] = self.nodes_outcome.to_dict()
        return data


def _check_fits(services: Sequence[Service], node: NodeType) -> None:
    for service in services:
        need = node.ram_need(service)
        if need > node.allocatable_bytes:
            raise Infeasible(
                "ram",
                f"service {service.name!r} needs {need} bytes of RAM but a {node.provider} run "
                f"node has {node.allocatable_bytes} allocatable",
            )
        if service.pods > node.max_pods:
            raise Infeasible("pods", f"service {service.name!r} has {service.pods} pods > {node.max_pods} per node")
        objects = node.service_objects(service) + node.objects_per_customer
        if objects > node.tight_objects:
            raise Infeasible(
                "control-plane",
                f"service {service.name!r} alone brings {objects} etcd objects > "
                f"{node.ctrl_node_type} tight {node.tight_objects}",
            )
        if service.volumes > node.max_volumes:
            raise Infeasible("volume-limit", f"{node.provider} max_volumes is {node.max_volumes}")


def l1_nodes(services: Sequence[Service], node: NodeType) -> int:
    ram = sum(mib_ceil(node.ram_need(s)) for s in services)
    pods = sum(s.pods for s in services)
    volumes = sum(s.volumes for s in services)
    return max(
        1 if services else 0,
        -(-ram // mib_floor(node.allocatable_bytes)),
        -(-pods // node.max_pods),
        -(-volumes // node.max_volumes),
    )


def _demand(services: Sequence[Service], node: NodeType) -> tuple[np.ndarray, np.ndarray]:
    """Per-node dimensions: RAM (MiB), pods, and the cluster limits a node's services must meet on their own
    (volumes, etcd objects counting each service's customer objects, conservatively)."""
    demand = np.array(
        [
            [mib_ceil(node.ram_need(s)), s.pods, s.volumes, node.service_objects(s) + node.objects_per_customer]
            for s in services
        ],
        dtype=np.int64,
    )
    capacity = np.array(
        [mib_floor(node.allocatable_bytes), node.max_pods, node.max_volumes, node.tight_objects], dtype=np.int64
    )
    return demand, capacity


def _group_into_clusters(services: Sequence[Service], node_of: np.ndarray, node: NodeType, nodes: int) -> int:
    """First-fit decreasing of the packed nodes into clusters by (volumes, etcd objects), at most max nodes each."""
    volumes = np.zeros(nodes, dtype=np.int64)
    objects = np.zeros(nodes, dtype=np.int64)
    customers: list[set[str]] = [set() for _ in range(nodes)]
    for service, b in zip(services, node_of, strict=True):
        volumes[b] += service.volumes
        objects[b] += node.service_objects(service)
        customers[b].add(service.customer)
    objects += np.array([len(c) for c in customers], dtype=np.int64) * node.objects_per_customer
    clusters: list[list[int]] = []  # [nodes, volumes, objects]
    for b in sorted(range(nodes), key=lambda k: (-volumes[k], -objects[k])):
        for cluster in clusters:
            if (
                cluster[0] < node.max_nodes_per_cluster
                and cluster[1] + volumes[b] <= node.max_volumes
                and cluster[2] + objects[b] <= node.tight_objects
            ):
                cluster[0] += 1
                cluster[1] += int(volumes[b])
                cluster[2] += int(objects[b])
                break
        else:
            if volumes[b] > node.max_volumes or objects[b] > node.tight_objects:
                raise Infeasible("cluster", "one node's services exceed a cluster limit on their own")
            clusters.append([1, int(volumes[b]), int(objects[b])])
    return len(clusters)


def _cluster_bound(services: Sequence[Service], node: NodeType, nodes: int) -> int:
    volumes = sum(s.volumes for s in services)
    objects = (
        sum(node.service_objects(s) for s in services) + len({s.customer for s in services}) * node.objects_per_customer
    )
    return max(
        1 if services else 0,
        -(-nodes // node.max_nodes_per_cluster),
        -(-volumes // node.max_volumes),
        -(-objects // node.tight_objects),
    )


def pack(
    services: Sequence[Service], node: NodeType, settings: SolveSettings | None = None, *, force_solver: bool = False
) -> PackingReport:
    """The fewest nodes and clusters for ``services``. ``force_solver`` runs CP-SAT even when FFD meets L1."""
    settings = settings or SolveSettings()
    if not services:
        raise Infeasible("services", "no services to pack")
    _check_fits(services, node)
    demand, capacity = _demand(services, node)
    count = min_nodes(demand, capacity, settings, force_solver)
    bound, ffd, nodes, outcome = l1_nodes(services, node), count.ffd, count.nodes, count.outcome
    node_of, ffd_assign = count.node_of, count.ffd_node_of
    ffd_clusters = _group_into_clusters(services, ffd_assign, node, ffd)
    cluster_bound = _cluster_bound(services, node, nodes)
    clusters = _group_into_clusters(services, node_of, node, nodes)
    clusters = min(clusters, ffd_clusters) if ffd == nodes else clusters
    # Each cluster needs its storage provider's minimum node count; the padding nodes stay empty.
    nodes = max(nodes, clusters * node.min_nodes)
    ffd = max(ffd, ffd_clusters * node.min_nodes)
    clusters_status = "OPTIMAL" if clusters == cluster_bound and outcome.proven_optimal else "FEASIBLE"
    return PackingReport(
        len(services),
        node,
        bound,
        ffd,
        nodes,
        outcome,
        cluster_bound,
        ffd_clusters,
        clusters,
        clusters_status,
        node_of=tuple(int(b) for b in node_of),
        l2_nodes=count.l2,
        ram_rounding=count.discretisation_note,
    )


@dataclass(slots=True)
class _GreedyCluster:
    cluster: Cluster
    nodes: list[RunNode]
    volumes: int = 0
    services: int = 0
    customers: set[str] = field(default_factory=set)
    objects: int = 0

    def load(self, ctrl: str) -> ClusterLoad:
        return ClusterLoad(
            tuple(self.nodes),
            ctrl,
            volumes=self.volumes,
            services=self.services,
            customers=len(self.customers),
            pods=sum(n.pods for n in self.nodes),
            etcd_objects=self.objects,
        )


def greedy_engine(services: Sequence[Service], node: NodeType, policy: Policy) -> tuple[int, int]:
    """Place ``services`` in order through the real engine, as an operator would run the fleet.

    The fleet starts as one cluster with the provider's minimum nodes. When the engine rejects a service, the
    operator adds a run node to a cluster the engine turned down for RAM or pods (if it has node room), or
    else opens a new cluster with the minimum nodes. Returns (run nodes, clusters).
    """
    fleet: list[_GreedyCluster] = []
    loads: list[ClusterLoad | None] = []

    def new_node(cluster: _GreedyCluster) -> None:
        cluster.nodes.append(
            RunNode(f"{cluster.cluster.id}-n{len(cluster.nodes)}", node.allocatable_bytes, max_pods=node.max_pods)
        )

    def open_cluster() -> None:
        index = len(fleet)
        cluster = Cluster(
            f"c{index:03d}", f"c{index:03d}", "eu", f"q{index}", "registry", storage_provider=node.provider
        )
        entry = _GreedyCluster(cluster, [])
        for _ in range(node.min_nodes):
            new_node(entry)
        fleet.append(entry)
        loads.append(None)

    open_cluster()
    seen_customers: set[str] = set()
    for service in services:
        request = PlacementRequest(
            customer_id=service.customer,
            ram_bytes=service.ram_bytes,
            pods=service.pods,
            volumes=(VolumeRequest(service.volume_bytes),) if service.volume_bytes is not None else (),
            new_customer=service.customer not in seen_customers,
        )
        for _attempt in range(3):
            pairs = []
            for index, entry in enumerate(fleet):
                if loads[index] is None:
                    loads[index] = entry.load(node.ctrl_node_type)
                pairs.append((entry.cluster, loads[index]))
            decision = select_cluster(request, pairs, policy)
            if decision.placed:
                break
            if decision.quota_violations:
                raise Infeasible("quota", "; ".join(decision.quota_violations))
            grow = next(
                (
                    i
                    for i, r in enumerate(decision.results)
                    if r.rejection is not None
                    and r.rejection.filter in NODE_FIT_FILTERS
                    and len(fleet[int(r.cluster_id[1:])].nodes) < node.max_nodes_per_cluster
                ),
                None,
            )
            if grow is not None:
                index = int(decision.results[grow].cluster_id[1:])
                new_node(fleet[index])
                loads[index] = None
            else:
                open_cluster()
        else:
            raise Infeasible(
                "engine", f"the engine rejects service {service.name!r} even on a fresh cluster: {decision.reason}"
            )
        index = int(decision.cluster_id[1:])
        entry = fleet[index]
        position = next(k for k, n in enumerate(entry.nodes) if n.name == decision.node_hint)
        placed = entry.nodes[position]
        entry.nodes[position] = RunNode(
            placed.name,
            placed.allocatable_ram_bytes,
            placed.requested_ram_bytes + node.ram_need(service),
            placed.pods + service.pods,
            placed.max_pods,
        )
        entry.volumes += service.volumes
        entry.services += 1
        entry.objects += node.service_objects(service)
        if service.customer not in seen_customers:
            entry.objects += node.objects_per_customer
        seen_customers.add(service.customer)
        entry.customers.add(service.customer)
        loads[index] = None
    return sum(len(e.nodes) for e in fleet), len(fleet)


def greedy_to_optimal_ratio(
    services: Sequence[Service],
    limits: Limits,
    policy: Policy | None = None,
    *,
    provider: str = "longhorn",
    max_nodes_per_cluster: int = 20,
    ctrl_node_type: str | None = None,
    settings: SolveSettings | None = None,
    force_solver: bool = False,
    run_node_ram_bytes: int | None = None,
    node: NodeType | None = None,
    compare_most_allocated: bool = True,
) -> PackingReport:
    """The packing bound for ``services`` with the greedy engine's answer and the ratio between them.

    ``services`` should be in arrival order: the greedy engine places them in that order. ``node`` replaces the
    node type built from ``limits`` (e.g. a bin-packing benchmark's bins). ``compare_most_allocated`` also runs the
    engine with the policy's RAM strategy switched to ``most_allocated`` (the packing strategy).
    """
    policy = (policy or default_policy()).with_limits(limits)
    node = node or NodeType.from_limits(limits, provider, max_nodes_per_cluster, ctrl_node_type, run_node_ram_bytes)
    report = pack(services, node, settings, force_solver=force_solver)
    greedy_nodes, greedy_clusters = greedy_engine(services, node, policy)
    packing: dict = {}
    if compare_most_allocated:
        nodes, clusters = (
            (greedy_nodes, greedy_clusters)
            if policy.ram_strategy == "most_allocated"
            else greedy_engine(services, node, replace(policy, ram_strategy="most_allocated"))
        )
        packing = {
            "most_allocated_nodes": nodes,
            "most_allocated_clusters": clusters,
            "most_allocated_to_optimal_nodes": nodes / report.nodes,
            "most_allocated_to_optimal_clusters": clusters / report.clusters,
        }
    return PackingReport(
        **{
            **{f: getattr(report, f) for f in report.__dataclass_fields__},
            "greedy_nodes": greedy_nodes,
            "greedy_clusters": greedy_clusters,
            "greedy_to_optimal_nodes": greedy_nodes / report.nodes,
            "greedy_to_optimal_clusters": greedy_clusters / report.clusters,
            "ratio_exact": report.nodes_outcome.proven_optimal and report.clusters_status == "OPTIMAL",
            "greedy_strategy": policy.ram_strategy,
            **packing,
        }
    )
