"""The greedy engine as an operator would run it: services placed in arrival order by the real
``select_cluster``, run nodes and clusters added when it turns every cluster down.

Each placement is added to its cluster's load by the one footprint (``Footprint.add_to``), as the router and
the simulator add theirs, so the fleet the engine sees next is the one they would see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from placement.catalogue import NODE_ADDED_FILTERS
from placement.engine import select_cluster
from placement.footprint import Footprint, NodeFootprint, cluster_baseline_objects
from placement.model import Cluster, ClusterLoad, RunNode
from placement.optimize.shapes import NodeType, Service
from placement.optimize.solve import Infeasible
from placement.policy import Policy


def greedy_engine(services: Sequence[Service], node: NodeType, policy: Policy) -> tuple[int, int]:
    """Place ``services`` in order through the real engine, as an operator would run the fleet.

    The fleet starts as one cluster with the provider's minimum nodes. When the engine rejects a service, the
    operator adds a run node to a cluster the engine turned down for RAM, pods or disk (if it has node room), or
    else opens a new cluster with the minimum nodes. Returns (run nodes, clusters).
    """
    clusters: list[Cluster] = []
    loads: list[ClusterLoad] = []

    def run_node(index: int, position: int) -> RunNode:
        return RunNode(f"c{index:03d}-n{position}", node.allocatable_bytes, max_pods=node.max_pods)

    # Each run node brings its system pods and objects to the cluster (its max-pods already leaves room for them).
    per_node = node.node_footprint or NodeFootprint(node.provider, 0, 0)
    baseline = 0 if node.node_footprint is None else cluster_baseline_objects(policy.limits, node.provider)

    def disk_of(run_nodes: int) -> int | None:
        return None if node.node_disk_bytes is None else run_nodes * node.node_disk_bytes

    def add_node(index: int) -> None:
        load = loads[index]
        nodes = load.run_nodes
        loads[index] = replace(
            load,
            run_nodes=(*nodes, run_node(index, len(nodes))),
            pods=load.pods + per_node.pods,
            etcd_objects=load.etcd_objects + per_node.etcd_objects,
            disk_capacity_bytes=disk_of(len(nodes) + 1),
        )

    def open_cluster() -> None:
        index = len(clusters)
        name = f"c{index:03d}"
        clusters.append(Cluster(name, name, "eu", f"q{index}", "registry", storage_provider=node.provider))
        count = node.min_nodes
        loads.append(
            ClusterLoad(
                tuple(run_node(index, k) for k in range(count)),
                node.ctrl_node_type,
                pods=count * per_node.pods,
                etcd_objects=baseline + count * per_node.etcd_objects,
                disk_capacity_bytes=disk_of(count),
            )
        )

    open_cluster()
    seen_customers: set[str] = set()
    for service in services:
        request = service.request(new_customer=service.customer not in seen_customers)
        for _attempt in range(3):
            decision = select_cluster(request, list(zip(clusters, loads, strict=True)), policy)
            if decision.placed:
                break
            if decision.quota_violations:
                raise Infeasible("quota", "; ".join(decision.quota_violations))
            grow = next(
                (
                    int(result.cluster_id[1:])
                    for result in decision.results
                    if result.rejection is not None
                    and result.rejection.filter in NODE_ADDED_FILTERS
                    and loads[int(result.cluster_id[1:])].node_count < node.max_nodes_per_cluster
                ),
                None,
            )
            if grow is not None:
                add_node(grow)
            else:
                open_cluster()
        else:
            raise Infeasible(
                "engine", f"the engine rejects service {service.name!r} even on a fresh cluster: {decision.reason}"
            )
        index = int(decision.cluster_id[1:])
        # What the engine just checked: on a cluster of this many run nodes (their replicas follow it).
        footprint = Footprint.of(request, policy.limits, node.provider, loads[index].node_count)
        loads[index] = footprint.add_to(loads[index], decision.node_hint)
        seen_customers.add(service.customer)
    return sum(load.node_count for load in loads), len(clusters)
