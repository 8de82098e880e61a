"""A storage provider is data: a third one (OpenEBS Mayastor) added to a limits profile, with no Python change,
works in the engine, the router, the simulator, the optimizer and the collector's class mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from placement.engine import select_cluster
from placement.limits import load_profile
from placement.model import Cluster, ClusterLoad, PlacementRequest, RunNode, VolumeRequest
from placement.optimize import Demand, DemandBucket, DrainFleet, Infeasible, SolveSettings, plan_capacity, plan_drain
from placement.optimize.packing import NodeType, Service, greedy_engine
from placement.policy import load_policy
from placement.router.store import NothingFits, PlacementOrder, UnknownStorageProvider, open_store
from placement.state import RequestIn, VolumeIn
from sim.scenario import load_scenario
from sim.simulation import run
from tests.router.conftest import FixedClock

GiB = 1024**3
MAYASTOR = "openebs-mayastor"
ENTRY = {
    "max_volumes": {"value": 3, "unit": "volumes", "source": "test profile: a small limit so it binds"},
    "min_nodes": {"value": 3, "unit": "nodes", "source": "test profile: io-engine on three nodes"},
    "replicas": {"value": 3, "unit": "replicas", "source": "test profile"},
    "base_ram_bytes_per_node": {"value": "2Gi", "unit": "bytes", "source": "test profile: io-engine hugepages"},
    "ram_bytes_per_volume": {"value": "64Mi", "unit": "bytes", "source": "test profile"},
    "etcd_objects_per_volume": {"value": 4, "unit": "objects", "source": "test profile: PVC, PV, attachment, CR"},
    "provisioners": ["io.openebs.csi-mayastor"],
}


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory) -> Path:
    data = load_profile("seed").model_dump(by_alias=True, exclude_none=True)
    data["name"] = "seed-with-mayastor"
    data["storage"][MAYASTOR] = ENTRY
    path = tmp_path_factory.mktemp("profile") / "mayastor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def policy(profile_path):
    return load_policy(profile=str(profile_path))


def mayastor_cluster(cid: str = "m1") -> Cluster:
    return Cluster(cid, cid, "eu-west", f"deployer-{cid}", "r:5000", storage_provider=MAYASTOR)


def three_nodes(volumes: int = 0) -> ClusterLoad:
    nodes = tuple(RunNode(f"run-{i}", 200 * GiB, 10 * GiB, 5) for i in range(3))
    return ClusterLoad(nodes, "CX52", volumes=volumes)


def volume_request(customer: str = "cust") -> PlacementRequest:
    return PlacementRequest(customer, 2 * GiB, "eu-west", (VolumeRequest(5 * GiB),), new_customer=True)


def test_the_engine_reads_the_new_provider_from_the_profile(policy):
    assert policy.limits.storage[MAYASTOR].max_volumes == 3
    decision = select_cluster(volume_request(), [(mayastor_cluster(), three_nodes(volumes=2))], policy)
    assert decision.placed
    full = select_cluster(volume_request(), [(mayastor_cluster(), three_nodes(volumes=3))], policy)
    rejection = full.results[0].rejection
    assert (rejection.limit, rejection.subject, rejection.used, rejection.capacity) == ("volumes", MAYASTOR, 3, 3)
    assert full.results[0].reason == f"volume-limit: {MAYASTOR} 3/3"
    # Its per-volume RAM and etcd objects are the footprint's.
    longhorn_request = volume_request()
    assert select_cluster(longhorn_request, [(mayastor_cluster(), three_nodes())], policy).placed


def test_the_router_takes_the_provider_of_its_profile_and_refuses_others(policy, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'router.db'}", policy=policy, clock=FixedClock())
    try:
        store.add_cluster(mayastor_cluster())
        store.put_load("m1", three_nodes(volumes=2))
        body = RequestIn(customer_id="c1", region="eu-west", ram="2Gi", volumes=[VolumeIn(size="5Gi")])
        placed = store.place(PlacementOrder("r1", "s1", body))
        assert placed.placed.cluster_id == "m1"
        with pytest.raises(NothingFits, match="volume-limit"):
            store.place(PlacementOrder("r2", "s2", body.model_copy(update={"customer_id": "c2"})))
        with pytest.raises(UnknownStorageProvider, match="'portworx'"):
            store.add_cluster(Cluster("p1", "p1", "eu-west", "q-p1", "r:5000", storage_provider="portworx"))
    finally:
        store.dispose()
    seed_store = open_store(f"sqlite:///{tmp_path / 'seed.db'}", clock=FixedClock())
    try:
        with pytest.raises(UnknownStorageProvider, match=MAYASTOR):
            seed_store.add_cluster(mayastor_cluster())
    finally:
        seed_store.dispose()


def test_the_simulator_runs_a_mayastor_fleet_and_its_volume_limit_binds(profile_path, tmp_path):
    scenario = load_scenario(Path("scenarios/stage1.yaml"))
    data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["horizon_years"] = 0.25
    data["packing_checks"] = None
    data["customers"]["volume_probability"] = 1.0
    data["fleet"]["clusters"][0]["storage_provider"] = MAYASTOR
    data["operator"]["new_cluster_storage"] = {"kind": "fixed", "provider": MAYASTOR}
    path = tmp_path / "mayastor.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}, sort_keys=False))
    result = run(load_scenario(path), seed=1, profile=str(profile_path))
    table = {row["limit"]: row for row in result.summary["decision_table"]}
    assert f"volumes:{MAYASTOR}" in table and "volumes:longhorn" in table
    assert table[f"volumes:{MAYASTOR}"]["first_bind_day"] is not None
    assert table["volumes:longhorn"]["first_bind_day"] is None
    assert (
        f"of {MAYASTOR}'s 3" in table[f"volumes:{MAYASTOR}"]["why"]
        or "volume-limit" in (table[f"volumes:{MAYASTOR}"]["why"])
    )


def test_the_optimizer_sizes_mayastor_nodes_from_the_profile(policy):
    node = NodeType.from_limits(policy.limits, MAYASTOR)
    assert node.min_nodes == 3 and node.max_volumes == 3
    assert node.allocatable_bytes == policy.limits.run_node_allocatable_bytes(MAYASTOR)
    services = [Service(f"s{i}", 2 * GiB, 5 * GiB) for i in range(7)]
    nodes, clusters = greedy_engine(services, node, policy)
    assert clusters == 3 and nodes == 9  # three volumes per cluster, each cluster its three minimum nodes


def test_the_capacity_planner_plans_mayastor_clusters_from_the_profile(policy):
    limits = policy.limits
    demand = Demand(customers=7, services=[DemandBucket(ram=2 * GiB, volume=5 * GiB, count=7)])
    plan = plan_capacity(demand, limits, SolveSettings(10, 1), providers=(MAYASTOR,), max_clusters_per_provider=4)
    assert {c.provider for c in plan.clusters} == {MAYASTOR}
    # Its volume limit (3) and minimum nodes (3) are the profile entry's: seven volumes need three clusters.
    assert len(plan.clusters) == 3 and sum(c.volumes for c in plan.clusters) == 7
    assert all(c.volumes <= 3 and c.run_nodes >= 3 for c in plan.clusters)
    assert plan.packing_verified
    # Every provider of the profile is a candidate by default; a name the profile lacks is refused.
    assert plan_capacity(demand, limits, SolveSettings(10, 1)).outcome.objective is not None
    with pytest.raises(Infeasible, match="portworx"):
        plan_capacity(demand, limits, providers=("portworx",))


def test_the_drain_planner_moves_onto_mayastor_clusters_within_their_volume_limit(policy, profile_path):
    def fleet(receiver_volumes: int) -> DrainFleet:
        held = [{"name": f"h{i}", "ram": "1Gi", "volume": "1Gi", "node": "m-0"} for i in range(receiver_volumes)]
        return DrainFleet.model_validate(
            {
                "drain": "old",
                "clusters": [
                    {
                        "id": "old",
                        "status": "draining",
                        "ctrl_node_type": "CX32",
                        "nodes": [{"name": "n-0", "allocatable": "64Gi"}],
                        "services": [
                            {"name": "db", "ram": "4Gi", "volume": "20Gi", "node": "n-0"},
                            {"name": "web", "ram": "2Gi", "node": "n-0"},
                        ],
                    },
                    {
                        "id": "new",
                        "storage_provider": MAYASTOR,
                        "ctrl_node_type": "CX32",
                        "nodes": [{"name": f"m-{i}", "allocatable": "64Gi"} for i in range(3)],
                        "services": held,
                    },
                ],
            }
        )

    plan = plan_drain(fleet(2), policy.limits, SolveSettings(10, 1))
    assert {(m.service, m.to_cluster) for m in plan.moves} == {("db", "new"), ("web", "new")}
    with pytest.raises(Infeasible, match="volume"):
        plan_drain(fleet(3), policy.limits, SolveSettings(10, 1))  # Mayastor's 3 volumes are taken
    with pytest.raises(Infeasible, match=f"unknown '{MAYASTOR}'"):
        plan_drain(fleet(2), load_policy().limits, SolveSettings(10, 1))
