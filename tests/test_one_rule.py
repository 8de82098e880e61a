"""Every rule exists once: change one limit in a profile and the router, the simulator and the optimizer's greedy
all change their decisions, the same way, on the same requests and the same fleet.

The fleet is one Longhorn cluster with the provider's minimum run nodes (the greedy's starting fleet); the
requests are new customers with one 8Gi service and one volume each. Each user's decisions are read as
(cluster number, run node position), or None for a rejection, up to and including the first rejection: after
it, the greedy grows its fleet (that is its job) while the router and the simulator keep theirs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from placement import engine
from placement.limits import load_profile
from placement.optimize import greedy
from placement.optimize.packing import NodeType, Service, greedy_engine
from placement.router.store import NothingFits, PlacementOrder, open_store
from placement.state import RequestIn, VolumeIn
from sim.config import compile_scenario
from sim.log import Log
from sim.placing import sign_up
from sim.population import LOST
from sim.sampling import Draws
from sim.scenario import load_scenario
from sim.world import World
from tests.router.conftest import FixedClock

GiB = 1024**3
CUSTOMERS = 8
RAM, VOLUME = 8 * GiB, 5 * GiB
SCENARIO = """
name: one-rule
start_date: 2026-01-01
horizon_years: 1
limits_profile: seed
growth: {kind: linear, start_per_month: 1, slope_per_month: 0}
regions: {eu-west: 1.0}
customers:
  services: {kind: poisson, mean: 1.0, max: 1}
  service_delay: {kind: exponential, mean_days: 45}
  ram: {kind: lognormal, median: 512Mi, sigma: 0.7, min: 128Mi, max: 16Gi}
  volume_probability: 1.0
  volume_size: {kind: lognormal, median: 5Gi, sigma: 0.8, min: 1Gi, max: 50Gi}
churn: {kind: monthly, rate: 0.01}
fleet:
  clusters:
    - {id: c000, region: eu-west, storage_provider: longhorn, run_nodes: 2}
operator: {max_run_nodes_per_cluster: 10, new_cluster_storage: longhorn}
"""


def _until_rejected(decisions: list) -> list:
    first = next((i for i, d in enumerate(decisions) if d is None), len(decisions) - 1)
    return decisions[: first + 1]


def _simulator(config) -> tuple[list, World]:
    """New customers signing up in the simulator (``sim.placing.sign_up``: the engine, then the footprint)."""
    n = CUSTOMERS
    draws = Draws(
        signup=np.zeros(n),
        lifetime=np.full(n, np.inf),
        region=np.zeros(n, dtype=np.int64),
        forced_cluster=np.full(n, -1, dtype=np.int64),
        service_start=np.arange(n + 1, dtype=np.int64),
        service_created=np.zeros(n),
        service_ram=np.full(n, RAM, dtype=np.int64),
        service_volume=np.full(n, VOLUME, dtype=np.int64),
    )
    world, log = World.build(config, draws), Log()
    initial = [world.fleet.pair(i) for i in range(world.fleet.n_clusters)]
    decisions = []
    for customer in range(n):
        sign_up(world, log, customer)
        if world.population.state[customer] == LOST:
            decisions.append(None)
        else:
            node = int(world.population.service_node[customer])
            decisions.append((int(world.population.home[customer]), int(world.fleet.node_position[node])))
    return decisions, initial


def _router(config, initial, database: Path) -> list:
    """The same requests through the router's store (engine, guarded reservation, cached fleet)."""
    store = open_store(f"sqlite:///{database}", policy=config.policy, clock=FixedClock())
    try:
        for cluster, load in initial:
            store.add_cluster(cluster)
            store.put_load(cluster.id, load)
        numbers = {cluster.id: i for i, (cluster, _) in enumerate(initial)}
        positions = {node.name: k for _, load in initial for k, node in enumerate(load.run_nodes)}
        decisions = []
        for customer in range(CUSTOMERS):
            request = RequestIn(
                customer_id=f"c{customer}",
                region="eu-west",
                ram=RAM,
                volumes=[VolumeIn(size=VOLUME)],
                new_customer=True,
            )
            try:
                placed = store.place(PlacementOrder(f"r{customer}", f"s{customer}", request))
            except NothingFits:
                decisions.append(None)
                continue
            decisions.append((numbers[placed.placed.cluster_id], positions[placed.placed.node]))
        return decisions
    finally:
        store.dispose()


def _greedy(config, ctrl_node_type: str) -> list:
    """The optimizer's greedy on the same services, its first decision for each."""
    node = NodeType.from_limits(
        config.limits, "longhorn", ctrl_node_type=ctrl_node_type, run_node_ram_bytes=config.run_node_ram
    )
    services = [Service(f"s{c}", RAM, VOLUME, customer_id=f"c{c}") for c in range(CUSTOMERS)]
    first: dict[str, object] = {}

    def recording(request, pairs, policy):
        decision = engine.select_cluster(request, pairs, policy)
        if request.customer_id not in first:
            node_of = {n.name: k for _, load in pairs for k, n in enumerate(load.run_nodes)}
            first[request.customer_id] = (
                (int(decision.cluster_id[1:]), node_of[decision.node_hint]) if decision.placed else None
            )
        return decision

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(greedy, "select_cluster", recording)
        greedy_engine(services, node, config.policy)
    return [first[f"c{c}"] for c in range(CUSTOMERS)]


def _decisions(tmp_path: Path, profile: str | Path) -> tuple[list, list, list]:
    scenario_path = tmp_path / "one-rule.yaml"
    scenario_path.write_text(SCENARIO)
    config = compile_scenario(load_scenario(scenario_path), profile=str(profile))
    simulated, initial = _simulator(config)
    routed = _router(config, initial, tmp_path / f"router-{Path(profile).stem}.db")
    greedy = _greedy(config, initial[0][1].ctrl_node_type)
    return _until_rejected(simulated), _until_rejected(routed), _until_rejected(greedy)


def test_a_changed_limit_changes_the_router_the_simulator_and_the_greedy_alike(tmp_path):
    mutated = load_profile("seed").with_values({"longhorn.max_volumes": 4})
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(mutated.model_dump(by_alias=True, exclude_none=True), sort_keys=False))

    simulated, routed, greedy = _decisions(tmp_path, path)
    assert simulated == routed == greedy
    assert simulated[-1] is None and len(simulated) == 5  # four volumes fit, the fifth is refused

    unmutated = _decisions(tmp_path, "seed")
    assert unmutated[0] == unmutated[1] == unmutated[2]
    assert None not in unmutated[0] and len(unmutated[0]) == CUSTOMERS
    assert unmutated[0] != simulated


def test_a_changed_run_node_disk_changes_the_router_the_simulator_and_the_greedy_alike(tmp_path):
    """The disk limit's capacity is the cluster's own (its run nodes' usable disk), not a profile figure the
    filters read: the simulator's fleet, the router's counters (the snapshot's capacity) and the greedy's loads
    all give it to the one filter. Two run nodes of 40 GiB at Longhorn's 75 % hold 60 GiB: the engine asks for a
    volume's full 3 replicas (15 GiB) and the cluster books the 2 it keeps on 2 nodes (10 GiB), so five fit."""
    mutated = load_profile("seed").with_values({"run_node.disk_bytes": 40 * GiB})
    path = tmp_path / "small-disk.yaml"
    path.write_text(yaml.safe_dump(mutated.model_dump(by_alias=True, exclude_none=True), sort_keys=False))

    simulated, routed, greedy = _decisions(tmp_path, path)
    assert simulated == routed == greedy
    assert simulated[-1] is None and len(simulated) == 6
    assert _decisions(tmp_path, "seed")[0] != simulated
