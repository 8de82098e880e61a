import dataclasses
import itertools

import numpy as np
import pytest

from placement.limits import shipped_limits
from placement.optimize import Infeasible, Service, SolveSettings, greedy_to_optimal_ratio, pack
from placement.optimize.packing import NodeType, ffd_nodes, worst_fit_into

GIB = 1024**3
LIMITS = shipped_limits("seed")


def small_node(capacity_gib: int = 10, max_pods: int = 110, max_volumes: int | None = None, **overrides) -> NodeType:
    """A node type of the seed profile with its RAM and pods set; ``max_volumes`` changes the profile's Longhorn
    volume limit, which the node type reads through the catalogue."""
    limits = LIMITS
    if max_volumes is not None:
        longhorn = dataclasses.replace(LIMITS.storage["longhorn"], max_volumes=max_volumes)
        storage = {**LIMITS.storage, "longhorn": longhorn}
        limits = dataclasses.replace(LIMITS, storage=storage)
    node = NodeType.from_limits(limits, "longhorn", max_nodes_per_cluster=20)
    fields = {"allocatable_bytes": capacity_gib * GIB, "max_pods": max_pods, "min_nodes": 1, **overrides}
    return dataclasses.replace(node, **fields)


def brute_force_nodes(sizes: list[int], capacity: int, max_pods: int) -> int:
    best = len(sizes)
    for assignment in itertools.product(range(len(sizes)), repeat=len(sizes)):
        loads = [0] * len(sizes)
        pods = [0] * len(sizes)
        for item, b in enumerate(assignment):
            loads[b] += sizes[item]
            pods[b] += 1
        if max(loads) <= capacity and max(pods) <= max_pods:
            best = min(best, len(set(assignment)))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_node_minimum_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    sizes = [int(x) for x in rng.integers(1, 10, size=6)]
    max_pods = int(rng.integers(2, 5))
    services = [Service(f"s{i}", size * GIB) for i, size in enumerate(sizes)]
    report = pack(services, small_node(10, max_pods), SolveSettings(5, 2), force_solver=True)
    assert report.nodes_outcome.status == "OPTIMAL"
    assert report.nodes == brute_force_nodes(sizes, 10, max_pods)
    assert report.l1_nodes <= report.nodes <= report.ffd_nodes


def test_ffd_meeting_l1_is_proven_without_the_solver():
    services = [Service(f"s{i}", 5 * GIB) for i in range(4)]
    report = pack(services, small_node(10))
    assert (report.l1_nodes, report.ffd_nodes, report.nodes) == (2, 2, 2)
    assert report.nodes_outcome.method == "bound" and report.nodes_outcome.status == "OPTIMAL"


def test_cp_sat_beats_ffd_where_ffd_is_not_optimal():
    # FFD puts 6,4 then 5,3... the optimum pairs (6,4) (5,5) (4,3,3) needs 3 bins of 10; FFD needs 4.
    sizes = [6, 5, 5, 4, 4, 3, 3]
    services = [Service(f"s{i}", s * GIB) for i, s in enumerate(sizes)]
    report = pack(services, small_node(10), force_solver=True)
    assert report.nodes == brute_force_nodes(sizes, 10, 110) == 3
    assert report.nodes_outcome.status == "OPTIMAL"


def test_volume_limit_sets_the_cluster_count_and_min_nodes_pad():
    services = [Service(f"s{i}", GIB, 10 * GIB) for i in range(12)]
    report = pack(services, small_node(100, max_volumes=5, min_nodes=2))
    assert report.clusters == report.l1_clusters == 3
    assert report.clusters_status == "OPTIMAL"
    assert report.nodes == 6  # one node holds all the RAM, but each of 3 clusters needs 2 nodes


def test_service_larger_than_a_node_is_infeasible_naming_ram():
    with pytest.raises(Infeasible) as error:
        pack([Service("huge", 11 * GIB)], small_node(10))
    assert error.value.constraint == "ram" and "huge" in str(error.value)


def test_time_limit_is_honoured_and_reported():
    rng = np.random.default_rng(3)
    services = [Service(f"s{i}", int(min(rng.lognormal(1.0, 0.9), 30) * GIB) + 1) for i in range(400)]
    report = pack(services, small_node(40), SolveSettings(time_limit_seconds=0.05), force_solver=True)
    outcome = report.nodes_outcome
    assert outcome.time_limit_seconds == 0.05 and outcome.num_workers == 2
    assert outcome.status in ("OPTIMAL", "FEASIBLE", "UNKNOWN")
    if outcome.status == "OPTIMAL":
        assert outcome.objective == outcome.best_bound
    if outcome.status == "FEASIBLE":
        assert outcome.best_bound < outcome.objective and outcome.gap > 0


def test_deterministic_time_limit_replays_the_same_answer():
    rng = np.random.default_rng(3)
    services = [Service(f"s{i}", int(min(rng.lognormal(1.0, 0.9), 30) * GIB) + 1) for i in range(120)]
    settings = SolveSettings(num_workers=1, deterministic_time_limit=1.0)
    first, second = (pack(services, small_node(40), settings, force_solver=True) for _ in range(2))
    outcome = first.nodes_outcome
    assert outcome.time_limit_seconds is None and outcome.deterministic_time_limit == 1.0
    assert outcome.method == "cp-sat" and outcome.status in ("OPTIMAL", "FEASIBLE")
    assert first.node_of == second.node_of
    assert {k: v for k, v in outcome.to_dict().items() if k != "wall_seconds"} == {
        k: v for k, v in second.nodes_outcome.to_dict().items() if k != "wall_seconds"
    }


def reference_ffd(demand: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """First fit decreasing as a plain loop over the open nodes (the order is ffd_nodes's)."""
    order = np.lexsort((-demand[:, 0], -(demand / np.maximum(capacity, 1)).max(axis=1)))
    free: list[np.ndarray] = []
    node_of = np.empty(len(demand), dtype=np.int64)
    for item in order:
        index = next((k for k, room in enumerate(free) if (demand[item] <= room).all()), len(free))
        if index == len(free):
            free.append(capacity.copy())
        free[index] -= demand[item]
        node_of[item] = index
    return node_of


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_ffd_is_first_fit_and_the_balanced_bound_fits(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    demand = np.column_stack([rng.integers(100, 3000, n), rng.integers(1, 3, n), rng.integers(0, 2, n)])
    capacity = np.array([24000, 110, int(rng.integers(5, 40))], dtype=np.int64)
    node_of = ffd_nodes(demand, capacity)
    assert (node_of == reference_ffd(demand, capacity)).all()
    nodes = int(node_of.max()) + 1
    balanced = worst_fit_into(demand, capacity, nodes)
    assert balanced is not None
    used = np.zeros((nodes, 3), dtype=np.int64)
    np.add.at(used, balanced, demand)
    assert (used <= capacity).all()


def test_greedy_ratio_through_the_real_engine():
    rng = np.random.default_rng(7)
    services = [
        Service(f"s{i}", int(rng.lognormal(2.5, 1.0) * GIB), 10 * GIB if rng.random() < 0.3 else None)
        for i in range(300)
    ]
    report = greedy_to_optimal_ratio(services, LIMITS, max_nodes_per_cluster=4)
    assert report.greedy_nodes >= report.nodes
    assert report.greedy_to_optimal_nodes == report.greedy_nodes / report.nodes >= 1.0
    assert report.greedy_to_optimal_clusters == report.greedy_clusters / report.clusters
    assert report.ratio_exact == (report.nodes_outcome.status == "OPTIMAL" and report.clusters_status == "OPTIMAL")
