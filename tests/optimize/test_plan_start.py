"""The capacity plan's greedy start (``placement.optimize.plan_start``): a plan meeting every constraint of the
model, so a large RAM-bound demand gets a plan even when CP-SAT finds none within its limit (a RAM-heavy probe's
group once had no plan at all, and the fleet-wide sum of the plans left it out)."""

import math

import numpy as np

from placement.limits import shipped_limits
from placement.optimize import Demand, DemandBucket, SolveSettings, plan_capacity
from placement.optimize.plan_start import ClusterShape, greedy_plan

LIMITS = shipped_limits("seed")
GIB = 2**30


def ram_heavy(services: int, seed: int = 0) -> Demand:
    """Lognormal RAM around 3 GiB (sigma 0.8, 256 MiB to 48 GiB) on a quarter-octave grid, a quarter with volumes."""
    rng = np.random.default_rng(seed)
    ram = np.clip(rng.lognormal(np.log(3 * GIB), 0.8, services), 256 * 2**20, 48 * GIB)
    steps = np.round(np.log2(ram) * 4)
    volume = rng.random(services) < 0.25
    keys, counts = np.unique(np.column_stack((steps, volume)), axis=0, return_counts=True)
    buckets = [
        DemandBucket(ram=int(round(2 ** (s / 4))), volume=5 * GIB if v else None, count=int(c))
        for (s, v), c in zip(keys.tolist(), counts.tolist(), strict=True)
    ]
    return Demand(customers=services * 5 // 8, services=buckets)


def test_the_greedy_start_fills_each_cluster_within_every_constraint():
    shape = ClusterShape("longhorn", np.array([60_000, 9_000, 1_000]), np.array([1, 1, 1]), 200_000, 100, 3, 20)
    totals = [30, 200, 1500]
    plan = greedy_plan(shape, totals, 10)
    assert plan is not None
    assert np.sum([c.counts for c in plan], axis=0).tolist() == totals
    for cluster in plan:
        counts = np.array(cluster.counts)
        assert cluster.nodes == shape.nodes_for(counts) <= shape.max_nodes
        assert cluster.nodes >= math.ceil(int(shape.needs @ counts) / shape.capacity)
    # Too few clusters: no plan rather than a wrong one.
    assert greedy_plan(shape, totals, 1) is None


def test_a_ram_heavy_demand_gets_a_plan_even_when_the_solver_has_almost_no_time():
    demand = ram_heavy(5000)
    settings = SolveSettings(num_workers=1, seed=0, deterministic_time_limit=1e-4)
    plan = plan_capacity(
        demand, LIMITS, settings, max_clusters_per_provider=8, utilisation=0.8, pods_utilisation=0.9,
        providers=("longhorn",),
    )  # fmt: skip
    # CP-SAT gets no time to find anything: the greedy start is the plan, and says so.
    assert plan.outcome.status == "FEASIBLE" and plan.outcome.method == "greedy"
    assert sum(c.services for c in plan.clusters) == demand.service_count
    usable = LIMITS.run_node_allocatable_bytes("longhorn") * 0.8
    ram = sum(b.ram * b.count for b in demand.services)
    nodes = sum(c.run_nodes for c in plan.clusters)
    assert nodes >= math.ceil(ram / usable) and all(c.run_nodes <= 20 for c in plan.clusters)
    assert plan.eur_month == round(sum(c.eur_month for c in plan.clusters), 2)
