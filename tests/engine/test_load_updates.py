"""A load updated a few run nodes at a time (``ClusterLoad.with_nodes``, as the simulator and ``Footprint.add_to``
update theirs) is the snapshot built afresh: the same fields, the same derived figures, the same decisions."""

from __future__ import annotations

import dataclasses
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placement.engine import select_cluster
from placement.model import NO_POD_CAP, ClusterLoad, PlacementRequest, RunNode, placement_request, run_node

from .fleet import cluster
from .test_properties import columns_from, fleets, loads, nodes, nows, policies, requests

FIELDS = ("ctrl_node_type", "volumes", "services", "customers", "pods", "etcd_objects", "observed_at")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    load=loads(),
    changes=st.lists(st.tuples(st.integers(0, 3), nodes), max_size=4),
    req=requests,
    policy=policies,
    warm=st.booleans(),
    more=st.integers(0, 3),
)
def test_a_load_with_nodes_changed_is_the_snapshot_built_afresh(load, changes, req, policy, warm, more):
    max_pods = policy.limits.max_pods_per_node
    target = cluster("c1")
    if warm:  # what the engine derives from the old load is kept and adjusted, not recomputed
        select_cluster(req, [(target, load)], policy)
        load.largest_free_ram_bytes(max_pods, False)
    changed = {position % len(load.run_nodes): node for position, node in changes} if load.run_nodes else {}
    run_nodes = list(load.run_nodes)
    for position, node in changed.items():
        run_nodes[position] = node
    values = {name: getattr(load, name) for name in FIELDS} | {"volumes": load.volumes + more, "pods": load.pods + more}
    fresh = ClusterLoad(tuple(run_nodes), **values)
    updated = load.with_nodes(changed, volumes=values["volumes"], pods=values["pods"])

    assert updated == fresh
    assert (updated.ram_allocatable_bytes, updated.ram_requested_bytes, updated.schedulable_nodes) == (
        fresh.ram_allocatable_bytes,
        fresh.ram_requested_bytes,
        fresh.schedulable_nodes,
    )
    for cap in (max_pods, NO_POD_CAP):
        assert updated.nodes_by_free_ram(cap) == fresh.nodes_by_free_ram(cap)
    for room in (True, False):
        assert updated.largest_free_ram_bytes(max_pods, room) == fresh.largest_free_ram_bytes(max_pods, room)
    assert select_cluster(req, [(target, updated)], policy) == select_cluster(req, [(target, fresh)], policy)
    # The old snapshot is untouched.
    assert load == dataclasses.replace(load)


def test_with_nodes_names_a_field_it_does_not_have():
    load = ClusterLoad((), "CX52")
    with pytest.raises(TypeError, match="run_nodes"):
        load.with_nodes({}, run_nodes=())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fleet=fleets(min_size=1),
    changes=st.lists(st.tuples(st.integers(0, 11), loads()), min_size=1, max_size=3),
    req=requests,
    policy=policies,
    now=nows,
)
def test_columns_kept_from_the_fleet_before_some_loads_changed_decide_as_the_loop(fleet, changes, req, policy, now):
    """The columns of a fleet whose clusters stay but some loads change (the simulator after a placement) are the
    kept columns with those rows read again: the decision is the one the per-cluster loop makes."""
    fleet = tuple(fleet)
    changed = list(fleet)
    for position, new_load in changes:
        target, _ = changed[position % len(changed)]
        changed[position % len(changed)] = (target, new_load)
    with columns_from(0):
        select_cluster(req, fleet, policy, now=now)  # the engine keeps this fleet's columns
        kept = select_cluster(req, changed, policy, now=now)
    with columns_from(10**9):
        loop = select_cluster(req, changed, policy, now=now)
    assert kept == loop
    assert kept.to_dict() == loop.to_dict()


@settings(max_examples=100, deadline=None)
@given(node=nodes)
def test_run_node_makes_the_run_node_its_fields_give(node):
    made = run_node(
        node.name, node.allocatable_ram_bytes, node.requested_ram_bytes, node.pods, node.max_pods, node.schedulable
    )
    assert type(made) is RunNode
    assert made == node and hash(made) == hash(node) and repr(made) == repr(node)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.pods = 0  # type: ignore[misc]


@settings(max_examples=100, deadline=None)
@given(req=requests)
def test_placement_request_makes_the_request_its_fields_give(req):
    made = placement_request(
        req.customer_id,
        req.ram_bytes,
        req.region,
        req.volumes,
        req.customer_volume_count,
        req.plan,
        req.pods,
        req.new_customer,
        req.etcd_objects,
    )
    assert type(made) is PlacementRequest
    assert made == req and hash(made) == hash(req) and repr(made) == repr(req)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.pods = 0  # type: ignore[misc]


def test_a_load_is_updated_while_other_threads_add_their_answers_to_it():
    """The router decides on one cached load from its event loop and its database threads at once; each decision
    keeps what it derived on the load (``nodes_by_free_ram``, the limits' levels) while the loop makes the next load
    from it (``Footprint.add_to`` through ``with_nodes``). Thread switches forced as often as CPython allows: without
    the update's own copy of those answers, it failed within a few rounds ("dictionary changed size during
    iteration", a placement's 500 in CI)."""
    nodes = tuple(run_node(f"n{i}", 64 * 2**30, i * 2**30, pods=i) for i in range(3))
    changed = {0: run_node("n0", 64 * 2**30, 2**30, pods=1)}
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _round in range(10):
            load = ClusterLoad(run_nodes=nodes, ctrl_node_type="cpx31")
            load.nodes_by_free_ram(NO_POD_CAP)
            # Answers the other thread adds while this one updates the load (a bounded number: each is copied).
            other = threading.Thread(target=lambda load=load: [load.nodes_by_free_ram(cap) for cap in range(300)])
            other.start()
            updated = [load.with_nodes(changed)]
            while other.is_alive():
                updated.append(load.with_nodes(changed))
            other.join()
            for new in updated:
                assert new.run_nodes[0] == changed[0]
                assert new.nodes_by_free_ram(NO_POD_CAP) == sorted(
                    (n.allocatable_ram_bytes - n.requested_ram_bytes, n.name) for n in new.run_nodes
                )
    finally:
        sys.setswitchinterval(interval)
