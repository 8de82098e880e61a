import itertools

import pytest

from placement.limits import load_profile, shipped_limits
from placement.optimize import Demand, DemandBucket, DrainFleet, Infeasible, SolveSettings, plan_capacity, plan_drain
from placement.optimize.drain import move_weight

GIB = 1024**3
LIMITS = shipped_limits("seed")
# The brute force below adds services' RAM alone: the seed profile without a volume's engine and replica RAM.
ZERO_VOLUME_RAM = {"longhorn.ram_bytes_per_volume": 0, "longhorn.ram_bytes_per_replica": 0}
NO_VOLUME_RAM = load_profile("seed").with_values(ZERO_VOLUME_RAM).compile()


def fleet(drained_services, receivers, target=None):
    clusters = [
        {
            "id": "d",
            "status": "draining",
            "ctrl_node_type": "CX32",
            "nodes": [{"name": "d1", "allocatable": "200Gi"}],
            "services": drained_services,
        }
    ]
    for index, free in enumerate(receivers):
        clusters.append(
            {
                "id": f"r{index}",
                "ctrl_node_type": "CX32",
                "nodes": [{"name": f"r{index}n{k}", "allocatable": f"{gib}Gi"} for k, gib in enumerate(free)],
            }
        )
    return DrainFleet.model_validate({"drain": "d", "target": target or {}, "clusters": clusters})


def brute_force_drain(state: DrainFleet) -> int | None:
    services = state.clusters[0].services
    nodes = [(n.name, n.allocatable) for c in state.clusters[1:] for n in c.nodes]
    best = None
    for choice in itertools.product(range(len(nodes) + 1), repeat=len(services)):
        used = [0] * len(nodes)
        kept_ram = 0
        for service, where in zip(services, choice, strict=True):
            if where == len(nodes):
                kept_ram += service.ram
            else:
                used[where] += service.ram
        if any(u > nodes[k][1] for k, u in enumerate(used)) or kept_ram > (state.target.ram or 0):
            continue
        weight = sum(move_weight(s) for s, where in zip(services, choice, strict=True) if where != len(nodes))
        best = weight if best is None else min(best, weight)
    return best


@pytest.mark.parametrize("target_gib", [0, 6, 12])
def test_drain_matches_brute_force(target_gib):
    services = [
        {"name": "a", "ram": "4Gi", "volume": "20Gi", "node": "d1"},
        {"name": "b", "ram": "6Gi", "node": "d1"},
        {"name": "c", "ram": "3Gi", "node": "d1"},
        {"name": "e", "ram": "2Gi", "volume": "1Gi", "node": "d1"},
        {"name": "f", "ram": "5Gi", "node": "d1"},
    ]
    state = fleet(services, [[8, 5], [7]], {"ram": f"{target_gib}Gi"})
    plan = plan_drain(state, NO_VOLUME_RAM, SolveSettings(5, 2))
    assert plan.outcome.status == "OPTIMAL"
    assert plan.total_weight == plan.outcome.objective == brute_force_drain(state)
    assert plan.remaining_ram_bytes <= target_gib * GIB
    assert [m.order for m in plan.moves] == list(range(1, len(plan.moves) + 1))


def test_drain_respects_the_receivers_volume_limit():
    profile = shipped_limits("seed")
    services = [{"name": f"v{i}", "ram": "1Gi", "volume": "1Gi", "node": "d1"} for i in range(3)]
    state = fleet(services, [[100]])
    tight = profile.__class__(
        **{
            **{f: getattr(profile, f) for f in profile.__dataclass_fields__},
            "storage": {
                **profile.storage,
                "longhorn": profile.storage["longhorn"].__class__(
                    **{
                        **{
                            f: getattr(profile.storage["longhorn"], f)
                            for f in profile.storage["longhorn"].__dataclass_fields__
                        },
                        "max_volumes": 2,
                    }
                ),
            },
        }
    )
    with pytest.raises(Infeasible) as error:
        plan_drain(state, tight)
    assert error.value.constraint == "volume-limit"


def test_drain_service_too_big_for_any_receiver():
    state = fleet([{"name": "big", "ram": "50Gi", "node": "d1"}], [[10, 10]])
    with pytest.raises(Infeasible, match="big"):
        plan_drain(state, LIMITS)


def test_capacity_small_demand_is_one_minimum_longhorn_cluster():
    demand = Demand(customers=10, services=[DemandBucket(ram="2Gi", count=100)])
    plan = plan_capacity(demand, LIMITS)
    assert plan.outcome.status == "OPTIMAL"
    assert [(c.provider, c.run_nodes, c.ctrl_node_type) for c in plan.clusters] == [("longhorn", 2, "CX32")]
    # Two run nodes, a CX32 and the storage cost model's operations estimate for a Longhorn cluster.
    assert plan.eur_month == pytest.approx(2 * 199.0 + 6.80 + LIMITS.storage["longhorn"].operations_eur_month)


def test_capacity_picks_ceph_when_longhorn_clusters_run_out():
    demand = Demand(customers=50, services=[DemandBucket(ram="1Gi", volume="1Gi", count=900)])
    plan = plan_capacity(demand, LIMITS, max_clusters_per_provider=1)
    assert plan.outcome.status == "OPTIMAL"
    assert sum(c.volumes for c in plan.clusters) == 900
    assert any(c.provider == "rook-ceph" and c.run_nodes >= 3 for c in plan.clusters)


def test_capacity_price_multiplier_scales_cost():
    demand = Demand(customers=10, services=[DemandBucket(ram="2Gi", count=100)])
    doubled = LIMITS.__class__(
        **{
            **{f: getattr(LIMITS, f) for f in LIMITS.__dataclass_fields__},
            "costs": LIMITS.costs.__class__(
                **{**{f: getattr(LIMITS.costs, f) for f in LIMITS.costs.__dataclass_fields__}, "price_multiplier": 2.0}
            ),
        }
    )
    # Hetzner's prices double; the operations estimate (engineer time, not a price) does not.
    operations = LIMITS.storage["longhorn"].operations_eur_month
    assert plan_capacity(demand, doubled).eur_month - operations == pytest.approx(
        2 * (plan_capacity(demand, LIMITS).eur_month - operations)
    )


def test_capacity_infeasible_inputs_name_the_constraint():
    with pytest.raises(Infeasible) as error:
        plan_capacity(Demand(customers=1, services=[DemandBucket(ram="400Gi", count=1)]), LIMITS)
    assert error.value.constraint == "services.ram"
    with pytest.raises(Infeasible) as error:
        plan_capacity(
            Demand(customers=1, services=[DemandBucket(ram="1Mi", volume="1Gi", count=30000)]),
            LIMITS,
            max_clusters_per_provider=1,
        )
    assert error.value.constraint == "volume-limit"


def test_capacity_time_limit_is_reported():
    demand = Demand(
        customers=500,
        services=[DemandBucket(ram=f"{g}Gi", volume="1Gi" if g % 2 else None, count=300) for g in range(1, 6)],
    )
    plan = plan_capacity(demand, LIMITS, SolveSettings(time_limit_seconds=0.5, num_workers=1))
    assert plan.outcome.time_limit_seconds == 0.5 and plan.outcome.num_workers == 1
    assert plan.outcome.status in ("OPTIMAL", "FEASIBLE")
    assert (plan.outcome.status == "OPTIMAL") == (plan.outcome.gap == 0.0)


def test_capacity_packs_services_as_bins_not_fluid_ram():
    # Seven services over half a run node each: fluid RAM would fit them on 5 nodes, a real packing needs 7.
    half = LIMITS.run_node_allocatable_bytes("longhorn", LIMITS.costs.run_node_types["AX162-R"].ram_bytes) // 2
    demand = Demand(customers=1, services=[DemandBucket(ram=half + GIB, count=7)])
    plan = plan_capacity(demand, LIMITS, providers=("longhorn",), run_node_type="AX162-R")
    assert sum(c.run_nodes for c in plan.clusters) == 7
    assert plan.packing_verified and all(c.packed_status == "OPTIMAL" for c in plan.clusters)
    assert plan.to_dict()["packing_verified"] is True


def test_capacity_says_when_a_cluster_needs_more_nodes_than_the_cuts_allow():
    # Nine services of 0.4 node: RAM and L2 both say 4 nodes, but only two fit on a node, so the packing needs 5.
    node = LIMITS.run_node_allocatable_bytes("longhorn", LIMITS.costs.run_node_types["AX162-R"].ram_bytes)
    demand = Demand(customers=1, services=[DemandBucket(ram=int(node * 0.4), count=9)])
    plan = plan_capacity(demand, LIMITS, providers=("longhorn",), run_node_type="AX162-R")
    (cluster,) = plan.clusters
    assert cluster.packed_nodes == 5 and cluster.packed_status == "OPTIMAL"
    assert cluster.run_nodes < cluster.packed_nodes and not plan.packing_verified
