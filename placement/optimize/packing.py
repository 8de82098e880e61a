"""Packing bound: the fewest run nodes and clusters that hold a set of services, and how the greedy engine
compares.

Nodes are a bin-packing problem in RAM and pods, with the cluster limits a node's services must meet on their own
(every cluster limit of the catalogue a placement grows: volumes, control-plane objects, the Kubernetes
thresholds); those limits are cluster-level, so otherwise they only decide how many clusters the nodes are
grouped into. What each service needs is its placement footprint and what a node and a cluster hold is read from
the catalogue (``placement.optimize.shapes``). The node count comes from ``placement.optimize.node_count``:
L1 and Martello–Toth L2 bounds, first/best-fit decreasing and balanced worst-fit packings, an arc-flow model on RAM
(CP-SAT) that proves the one-dimensional optimum, and the assignment model over every dimension when arc-flow's
packing breaks pods or volumes. The cluster count is the larger of its lower bounds whenever a grouping of
the packed nodes meets it.

The greedy engine is measured twice: under the given policy (the default spreads: ``least_allocated``) and under
the same policy with the packing strategy ``most_allocated``, both against the optimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from placement.footprint import Footprint
from placement.limits import Limits
from placement.optimize.greedy import greedy_engine
from placement.optimize.heuristics import ffd_nodes, worst_fit_into
from placement.optimize.node_count import min_nodes
from placement.optimize.shapes import CLUSTER_LIMITS, NodeType, Service, cluster_needs
from placement.optimize.solve import Infeasible, SolverOutcome, SolveSettings, mib_ceil, mib_floor
from placement.policy import Policy, default_policy

__all__ = [
    "NodeType",
    "PackingReport",
    "Service",
    "ffd_nodes",
    "greedy_engine",
    "greedy_to_optimal_ratio",
    "pack",
    "worst_fit_into",
]


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
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "node_of"}
        data["node_type"] = self.node_type.to_dict()
        data["nodes_outcome"] = self.nodes_outcome.to_dict()
        return data


def _footprints(services: Sequence[Service], node: NodeType) -> tuple[list[Footprint], list[Footprint]]:
    """Each service's footprint with its customer's objects (``new``) and without (``old``)."""
    return [node.footprint(s, True) for s in services], [node.footprint(s, False) for s in services]


def _check_fits(services: Sequence[Service], new: list[Footprint], node: NodeType) -> None:
    """Every service fits a node and a cluster of this type on its own, or nothing can hold it."""
    # A service's cluster has at least the run node it lands on.
    capacity = tuple(c - n for c, n in zip(node.cluster_capacity(), node.node_needs(), strict=True))
    for service, footprint in zip(services, new, strict=True):
        if footprint.ram_bytes > node.allocatable_bytes:
            raise Infeasible(
                "ram",
                f"service {service.name!r} needs {footprint.ram_bytes} bytes of RAM but a {node.provider} run "
                f"node has {node.allocatable_bytes} allocatable",
            )
        if footprint.pods > node.max_pods:
            raise Infeasible("pods", f"service {service.name!r} has {footprint.pods} pods > {node.max_pods} per node")
        for limit, need, room in zip(CLUSTER_LIMITS, cluster_needs(footprint), capacity, strict=True):
            if need > room:
                source = limit.source.format(provider=node.provider, ctrl=node.ctrl_node_type)
                raise Infeasible(
                    limit.filter,
                    f"service {service.name!r} alone brings {need} {limit.unit} of {limit.label} > {room} ({source})",
                )


def _demand(new: list[Footprint], node: NodeType) -> tuple[np.ndarray, np.ndarray]:
    """Per-node columns: RAM (MiB) and pods, then the cluster limits a node's services could break on their own
    (each service with its customer's objects, conservatively). A cluster limit the whole set stays within
    cannot bind on one node, so it is left out of the node count's model."""
    rows = np.array([[mib_ceil(f.ram_bytes), f.pods, *cluster_needs(f)] for f in new], dtype=np.int64)
    room = np.subtract(node.cluster_capacity(), node.node_needs())  # what the node's own share leaves
    capacity = np.array([mib_floor(node.allocatable_bytes), node.max_pods, *room], dtype=np.int64)
    binding = np.ones(len(capacity), dtype=bool)
    binding[2:] = rows[:, 2:].sum(axis=0) > capacity[2:]
    return rows[:, binding], capacity[binding]


def _node_sums(
    services: Sequence[Service],
    new: list[Footprint],
    old: list[Footprint],
    node_of: np.ndarray,
    nodes: int,
    node: NodeType,
) -> np.ndarray:
    """Each packed node's share of every cluster limit, its own system pods and objects included; a customer's
    objects counted once per node."""
    sums = np.tile(np.array(node.node_needs(), dtype=np.int64), (nodes, 1))
    seen: set[tuple[int, str]] = set()
    for service, with_customer, without, b in zip(services, new, old, node_of.tolist(), strict=True):
        first = (b, service.customer) not in seen
        seen.add((b, service.customer))
        sums[b] += cluster_needs(with_customer if first else without)
    return sums


def _group_into_clusters(sums: np.ndarray, node: NodeType) -> int:
    """First-fit decreasing of the packed nodes into clusters by every cluster limit, at most max nodes each."""
    capacity = np.array(node.cluster_capacity(), dtype=np.int64)
    if (sums > capacity).any():
        raise Infeasible("cluster", "one node's services exceed a cluster limit on their own")
    clusters: list[np.ndarray] = []  # each cluster's sums
    members: list[int] = []
    # Largest first, in catalogue order (volumes, then control-plane objects, ...).
    for b in sorted(range(len(sums)), key=lambda k: tuple(-sums[k])):
        for c, used in enumerate(clusters):
            if members[c] < node.max_nodes_per_cluster and (used + sums[b] <= capacity).all():
                used += sums[b]
                members[c] += 1
                break
        else:
            clusters.append(sums[b].copy())
            members.append(1)
    return len(clusters)


def _cluster_bound(
    services: Sequence[Service], new: list[Footprint], old: list[Footprint], node: NodeType, nodes: int
) -> int:
    """The fewest clusters: the nodes over max nodes per cluster, and each cluster limit's total (a customer's
    objects once) over its capacity."""
    seen: set[str] = set()
    total = nodes * np.array(node.node_needs(), dtype=np.int64)
    for service, with_customer, without in zip(services, new, old, strict=True):
        total += cluster_needs(without if service.customer in seen else with_customer)
        seen.add(service.customer)
    capacity = node.cluster_capacity()
    return max(
        1 if services else 0,
        -(-nodes // node.max_nodes_per_cluster),
        *(-(-int(t) // c) for t, c in zip(total, capacity, strict=True)),
    )


def pack(
    services: Sequence[Service], node: NodeType, settings: SolveSettings | None = None, *, force_solver: bool = False
) -> PackingReport:
    """The fewest nodes and clusters for ``services``. ``force_solver`` runs CP-SAT even when FFD meets L1."""
    settings = settings or SolveSettings()
    if not services:
        raise Infeasible("services", "no services to pack")
    new, old = _footprints(services, node)
    _check_fits(services, new, node)
    demand, capacity = _demand(new, node)
    count = min_nodes(demand, capacity, settings, force_solver)
    ffd, nodes, outcome = count.ffd, count.nodes, count.outcome
    node_of, ffd_assign = count.node_of, count.ffd_node_of
    ffd_clusters = _group_into_clusters(_node_sums(services, new, old, ffd_assign, ffd, node), node)
    cluster_bound = _cluster_bound(services, new, old, node, nodes)
    clusters = _group_into_clusters(_node_sums(services, new, old, node_of, nodes, node), node)
    clusters = min(clusters, ffd_clusters) if ffd == nodes else clusters
    # Each cluster needs its storage provider's minimum node count; the padding nodes stay empty.
    nodes = max(nodes, clusters * node.min_nodes)
    ffd = max(ffd, ffd_clusters * node.min_nodes)
    clusters_status = "OPTIMAL" if clusters == cluster_bound and outcome.proven_optimal else "FEASIBLE"
    return PackingReport(
        len(services),
        node,
        count.l1,
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
    run_node_type: str | None = None,
    node: NodeType | None = None,
    compare_most_allocated: bool = True,
) -> PackingReport:
    """The packing bound for ``services`` with the greedy engine's answer and the ratio between them.

    ``services`` should be in arrival order: the greedy engine places them in that order. ``node`` replaces the
    node type built from ``limits`` (e.g. a bin-packing benchmark's bins). ``compare_most_allocated`` also runs the
    engine with the policy's RAM strategy switched to ``most_allocated`` (the packing strategy).
    """
    policy = (policy or default_policy()).with_limits(limits)
    node = node or NodeType.from_limits(
        limits, provider, max_nodes_per_cluster, ctrl_node_type, run_node_ram_bytes, run_node_type
    )
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
