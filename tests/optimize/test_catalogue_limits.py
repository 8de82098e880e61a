"""The optimizers read every cluster limit from the catalogue and every size from the footprint: a limit they
never named before (Kubernetes' services per cluster) binds in the packing bound, the greedy engine, the drain
plan and the capacity plan alike, and a provider's per-volume figures change what each service needs."""

from __future__ import annotations

import dataclasses

import pytest

from placement.footprint import Footprint
from placement.limits import shipped_limits
from placement.optimize import Demand, DemandBucket, DrainFleet, Infeasible, SolveSettings, plan_capacity, plan_drain
from placement.optimize.packing import NodeType, Service, greedy_engine, pack
from placement.policy import default_policy

GIB = 1024**3
SEED = shipped_limits("seed")
FEW_SERVICES = dataclasses.replace(SEED, max_services_cluster=4)


def test_pack_and_greedy_group_by_the_services_limit():
    services = [Service(f"s{i}", GIB) for i in range(10)]
    assert pack(services, NodeType.from_limits(SEED, "longhorn")).clusters == 1
    node = NodeType.from_limits(FEW_SERVICES, "longhorn")
    report = pack(services, node)
    assert report.clusters == report.l1_clusters == 3  # 10 services, 4 per cluster
    policy = default_policy().with_limits(FEW_SERVICES)
    nodes, clusters = greedy_engine(services, node, policy)
    assert clusters == 3 and nodes == 3 * node.min_nodes


def test_a_service_over_a_cluster_limit_alone_is_infeasible_naming_its_filter():
    tiny_etcd = dataclasses.replace(SEED, max_etcd_objects=3)
    with pytest.raises(Infeasible) as error:
        pack([Service("api", GIB)], NodeType.from_limits(tiny_etcd, "longhorn"))
    assert error.value.constraint == "k8s-thresholds" and "etcd objects" in str(error.value)


def test_the_drain_plan_keeps_the_receivers_services_limit():
    def fleet(held: int) -> DrainFleet:
        return DrainFleet.model_validate(
            {
                "drain": "old",
                "clusters": [
                    {
                        "id": "old",
                        "status": "draining",
                        "ctrl_node_type": "CX32",
                        "nodes": [{"name": "n", "allocatable": "64Gi"}],
                        "services": [{"name": f"s{i}", "ram": "1Gi", "node": "n"} for i in range(2)],
                    },
                    {
                        "id": "new",
                        "ctrl_node_type": "CX32",
                        "nodes": [{"name": "m", "allocatable": "64Gi"}],
                        "services": [{"name": f"h{i}", "ram": "1Gi", "node": "m"} for i in range(held)],
                    },
                ],
            }
        )

    assert len(plan_drain(fleet(2), FEW_SERVICES, SolveSettings(10, 1)).moves) == 2
    with pytest.raises(Infeasible):
        plan_drain(fleet(3), FEW_SERVICES, SolveSettings(10, 1))  # room for one more service only
    assert len(plan_drain(fleet(3), SEED, SolveSettings(10, 1)).moves) == 2


def test_the_capacity_plan_keeps_the_services_limit():
    demand = Demand(customers=10, services=[DemandBucket(ram=GIB, count=10)])
    plan = plan_capacity(demand, FEW_SERVICES, SolveSettings(10, 1), providers=("longhorn",))
    assert len(plan.clusters) == 3 and all(c.services <= 4 for c in plan.clusters)
    assert len(plan_capacity(demand, SEED, SolveSettings(10, 1), providers=("longhorn",)).clusters) == 1


def test_a_services_needs_are_its_footprint():
    node = NodeType.from_limits(SEED, "rook-ceph")
    service = Service("db", 3 * GIB, 20 * GIB, customer_id="acme")
    footprint = node.footprint(service)
    assert footprint == Footprint.of(service.request(True), SEED, "rook-ceph")
    assert footprint.ram_bytes == 3 * GIB + SEED.storage["rook-ceph"].ram_bytes_per_volume
    heavier = dataclasses.replace(SEED.storage["rook-ceph"], ram_bytes_per_volume=2 * GIB)
    limits = dataclasses.replace(SEED, storage={**SEED.storage, "rook-ceph": heavier})
    assert NodeType.from_limits(limits, "rook-ceph").footprint(service).ram_bytes == 5 * GIB
