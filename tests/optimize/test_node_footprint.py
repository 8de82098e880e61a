"""The optimizers count each run node's own footprint (``NodeFootprint``: system pods against max-pods, its objects
and the empty cluster's against the control plane) as the simulator's fleet does, from the one definition."""

import math

from placement.catalogue import BY_KEY
from placement.footprint import NodeFootprint, cluster_baseline_objects
from placement.limits import shipped_limits
from placement.optimize import Demand, DemandBucket, SolveSettings, plan_capacity
from placement.optimize.packing import NodeType, Service, pack
from placement.optimize.shapes import CLUSTER_LIMITS

LIMITS = shipped_limits("seed")
MIB = 1024**2
SMALL = 128 * MIB  # pods bind long before RAM


def test_a_run_node_holds_its_max_pods_less_its_system_pods():
    node = NodeType.from_limits(LIMITS, "longhorn")
    system = NodeFootprint.of(LIMITS, "longhorn").pods
    assert system > 0
    assert node.max_pods == LIMITS.run_node_max_pods() - system
    services = [Service(f"s{i}", SMALL, customer_id=f"c{i // 4}") for i in range(1000)]
    report = pack(services, node, SolveSettings(5, 1))
    assert report.nodes == max(math.ceil(1000 / node.max_pods), LIMITS.storage["longhorn"].min_nodes)


def test_a_cluster_limit_leaves_room_for_the_empty_cluster_and_each_run_nodes_objects():
    node = NodeType.from_limits(LIMITS, "longhorn")
    limit = BY_KEY["control_plane_objects"]
    tight = limit.capacity(LIMITS, "longhorn", LIMITS.control_plane(node.ctrl_node_type))
    assert node.capacity(limit) == tight - cluster_baseline_objects(LIMITS, "longhorn")
    per_node = dict(zip((limit.key for limit in CLUSTER_LIMITS), node.node_needs(), strict=True))
    assert per_node["control_plane_objects"] == NodeFootprint.of(LIMITS, "longhorn").etcd_objects > 0


def test_the_capacity_plan_counts_system_pods_at_the_operators_pods_level():
    demand = Demand(customers=250, services=[DemandBucket(ram=SMALL, count=1000)])
    system = NodeFootprint.of(LIMITS, "longhorn").pods
    max_pods = LIMITS.run_node_max_pods()
    for share in (1.0, 0.9):
        plan = plan_capacity(demand, LIMITS, SolveSettings(10, 1), providers=("longhorn",), pods_utilisation=share)
        room = math.floor(share * max_pods) - system
        assert sum(c.run_nodes for c in plan.clusters) == math.ceil(1000 / room)
        assert plan.packing_verified
