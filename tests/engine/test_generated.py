"""The pipeline's generated code (``make_slot``, ``evaluate``) is the catalogue's rules, limit by limit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from placement.catalogue import LIMITS
from placement.engine import select_cluster
from placement.pipeline import RequestPlan, evaluate, explain, plan_for
from placement.pipeline_evaluate import PARTS_KEPT
from placement.policy import default_policy
from placement.rules import GATES, levels

from .fleet import GIB, cluster, cycle, load, request


@pytest.mark.parametrize("volumes", [(), (10,)])
@pytest.mark.parametrize("new_customer", [False, True])
def test_slot_thresholds_are_each_limits_own(volumes, new_customer):
    policy = default_policy()
    limits = policy.limits
    for provider in limits.storage:
        for ctrl_name in (*limits.control_plane_types, "no-such-type"):
            this = cycle(request(volumes=volumes, new_customer=new_customer), policy)
            request_plan = RequestPlan(plan_for(policy), this)
            slot = request_plan.slot(provider, ctrl_name)
            ctrl = limits.control_plane_types.get(ctrl_name)
            footprint = this.footprint(provider)
            expected = tuple(limit.threshold(limits, provider, ctrl, footprint) for limit in LIMITS)
            assert request_plan.thresholds(slot) == expected
            assert request_plan.ram_need(slot) == footprint.ram_bytes


def test_each_limit_rejects_at_its_threshold_and_in_catalogue_order():
    """A load one above a limit's threshold is rejected by that limit's rule (or an earlier limit's that reads the
    same level), and exactly at its threshold it is not rejected by that limit."""
    policy = default_policy()
    big = load(nodes=((250, 10, 5), (250, 10, 5)), volumes=0, services=0, customers=0, pods=0, etcd=0)
    fleet_cluster = cluster()
    this = cycle(request(new_customer=True), policy)
    request_plan = RequestPlan(plan_for(policy), this)
    slot = request_plan.slot(fleet_cluster.storage_provider, big.ctrl_node_type)
    base = levels(big, policy.limits.max_pods_per_node)
    assert evaluate(request_plan, [(fleet_cluster, big)])[0] == [-1]
    for i in range(len(LIMITS)):
        for above, expected in ((1, True), (0, False)):
            mutated = replace(big)
            level = list(base)
            level[i] = request_plan.thresholds(slot)[i] + above
            mutated._cache[("levels", policy.limits.max_pods_per_node)] = tuple(level)
            failed = evaluate(request_plan, [(fleet_cluster, mutated)])[0][0]
            if expected:
                assert 0 <= failed - len(GATES) <= i
            else:
                assert failed == -1 or failed - len(GATES) != i


def test_a_changed_limit_changes_the_decision():
    policy = default_policy()
    tight = policy.with_limits(replace(policy.limits, max_services_cluster=10))
    full = load(services=10)
    pairs = [(cluster(), full)]
    assert select_cluster(request(), pairs, policy).cluster_id == "c1"
    decision = select_cluster(request(), pairs, tight)
    assert decision.cluster_id is None
    assert decision.rejections[0][1].limit == "k8s_services"


@pytest.mark.parametrize(("volumes", "other_volumes"), [((), ()), ((10,), (10,)), ((10,), (35,)), ((3, 10), (7, 1))])
def test_requests_that_differ_in_ram_and_volume_sizes_alone_share_a_slot_and_keep_their_own_thresholds(
    volumes, other_volumes
):
    """A slot is kept per request shape without its RAM and its volumes' sizes: the second request reads the
    first's slot, and its thresholds (the raw disk's too) and RAM need are still its own footprint's."""
    policy = default_policy()
    limits = policy.limits
    plan = plan_for(policy)
    plan.shapes.clear()
    for provider in limits.storage:
        ctrl_name = next(iter(limits.control_plane_types))
        first = RequestPlan(plan, cycle(request(ram_gib=1, volumes=volumes), policy))
        slot = first.slot(provider, ctrl_name)
        this = cycle(request(ram_gib=3.5, volumes=other_volumes), policy)
        second = RequestPlan(plan, this)
        assert second.slots[(provider, ctrl_name)] is slot
        footprint = this.footprint(provider)
        ctrl = limits.control_plane_types[ctrl_name]
        assert second.thresholds(slot) == tuple(limit.threshold(limits, provider, ctrl, footprint) for limit in LIMITS)
        assert second.ram_need(slot) == footprint.ram_bytes


def test_a_cluster_judged_again_for_another_ram_is_judged_as_afresh():
    """``evaluate`` keeps what a cluster's judgement owes to the request shape and the load alone on the load, under the
    slot's key (``ClusterLoad._parts``), for every wanted region: judged again for other RAM sizes (around the largest
    free node's, so the RAM limits bind for some), other volume sizes of the same count (around a cluster's raw disk
    left, so the disk limit binds for some) and other regions, one load shared by clusters in two regions, the answers
    are those of a plan with nothing kept."""
    policy = default_policy()
    plan = plan_for(policy)
    shared = load(nodes=((250, 100, 5), (250, 200, 5)))
    # Raw disk left for about one 10 GiB volume's replicas, so the disk limit binds for some volume sizes.
    disk = replace(shared, disk_bytes=100 * GIB, disk_capacity_bytes=130 * GIB)
    pairs = [
        (cluster("a", region="eu-west"), shared),
        (cluster("b", region="us-east"), shared),
        (cluster("c", region="us-east", provider="rook-ceph"), load(nodes=((250, 240, 5),), volumes=0)),
        (cluster("d", region="eu-west"), disk),
    ]
    disk_rule = len(GATES) + [limit.key for limit in LIMITS].index("disk")
    disk_verdicts = set()
    for ram_gib in (1, 151, 9, 149, 150, 11, 240, 2):
        for region in ("eu-west", "us-east", None):
            for volumes in ((), (10,), (1,), (25,), (5, 5)):
                this = cycle(request(ram_gib=ram_gib, region=region, volumes=volumes), policy)
                kept = evaluate(RequestPlan(plan, this), pairs)
                plan.shapes.clear()
                fresh = evaluate(RequestPlan(plan, this), pairs)
                assert kept == fresh
                disk_verdicts.add(kept[0][3] == disk_rule)
                plan.shapes.clear()
                evaluate(RequestPlan(plan, this), pairs)  # for the next round's kept answer
    assert disk_verdicts == {True, False}


def test_a_loads_part_is_kept_under_its_slots_key_alone_and_never_carried_to_a_changed_load():
    """A part is kept on the load it was made of, one per slot (request shape and kind) whatever the wanted region;
    a load made from it with a changed node starts with none; an explanation keeps none."""
    policy = default_policy()
    plan = plan_for(policy)
    plan.shapes.clear()
    shared = load(nodes=((250, 100, 5), (250, 200, 5)))
    pairs = [(cluster("a", region="eu-west"), shared), (cluster("b", region="us-east"), shared)]
    for region in ("eu-west", "us-east", None):
        for ram_gib in (1, 3):
            evaluate(RequestPlan(plan, cycle(request(ram_gib=ram_gib, region=region, volumes=()), policy)), pairs)
    (key,) = [slot.part_key for slot in plan.slots_for(request(volumes=())).values()]
    assert list(shared._parts) == [key]
    with_volume = RequestPlan(plan, cycle(request(), policy))
    evaluate(with_volume, pairs)
    assert len(shared._parts) == 2 and with_volume.slots[("longhorn", shared.ctrl_node_type)].part_key in shared._parts
    changed = shared.with_nodes({0: replace(shared.run_nodes[0], requested_ram_bytes=120 * GIB)})
    assert changed._parts == {} and len(shared._parts) == 2
    fresh = load(nodes=((250, 100, 5),))
    explain(cycle(request(volumes=()), policy), cluster("c"), fresh)
    assert fresh._parts == {}


def test_a_long_lived_load_keeps_a_bounded_number_of_parts():
    """A load judged under ever new slots (a policy's shapes dropped again and again) keeps at most ``PARTS_KEPT``."""
    policy = default_policy()
    plan = plan_for(policy)
    kept = load()
    for round_ in range(3 * PARTS_KEPT):
        plan.shapes.clear()
        evaluate(RequestPlan(plan, cycle(request(ram_gib=1 + round_ % 3), policy)), [(cluster(), kept)])
        assert 1 <= len(kept._parts) <= PARTS_KEPT
