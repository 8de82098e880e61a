"""Hypothesis properties of the engine: the pipeline over numpy columns and a cluster at a time agree, and each
decision agrees with every filter and score plugin read on its own."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placement import engine, scorers
from placement.engine import check_quotas, select_cluster
from placement.filters import FILTERS
from placement.model import Cluster, ClusterLoad, PlacementRequest, RunNode, VolumeRequest
from placement.pipeline import RequestPlan, explain, plan_for
from placement.policy import PolicyConfig, default_policy, load_policy
from placement.rules import FILTER_NAMES

from .fleet import GIB, cycle

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
REGIONS = ("eu-west", "eu-central", "us-east")
POLICIES = (
    default_policy(),
    PolicyConfig(region_mode="strict").compile(),
    PolicyConfig(ram_scoring={"strategy": "most_allocated"}).compile(),
    PolicyConfig(
        ram_scoring={"strategy": "requested_to_capacity_ratio", "shape": [[0, 0], [60, 10], [100, 2]]}
    ).compile(),
    PolicyConfig(ram_scoring={"strategy": "balanced_allocation", "resources": {"memory": 1, "pods": 1}}).compile(),
    PolicyConfig(ram_scoring={"resources": {"memory": 2, "pods": 1}}).compile(),
    PolicyConfig(stale_snapshot={"action": "allow", "max_age_seconds": 600}).compile(),
    PolicyConfig(weights={"region": 0, "ram_headroom": 2, "volume_headroom": 0, "control_plane_headroom": 5}).compile(),
    PolicyConfig(weights={"volume_headroom": 4}, volume_shape=[[0, 2], [50, 10], [100, 0]]).compile(),
    load_policy(profile="published"),
)
CTRL_TYPES = ("CX32", "CX52", "AX162-R", "CX99")

nodes = st.builds(
    lambda alloc, used_share, pods, max_pods, schedulable, name: RunNode(
        name, alloc, alloc * used_share // 100, pods, max_pods, schedulable
    ),
    alloc=st.integers(0, 256).map(lambda g: g * GIB) | st.integers(0, 300 * GIB),
    used_share=st.integers(0, 100),
    pods=st.integers(0, 120),
    max_pods=st.none() | st.integers(20, 250),
    schedulable=st.booleans() | st.just(True),
    name=st.sampled_from(["run-1", "run-2", "run-3", "run-4"]),
)


@st.composite
def loads(draw) -> ClusterLoad:
    return ClusterLoad(
        run_nodes=tuple(draw(st.lists(nodes, max_size=4))),
        ctrl_node_type=draw(st.sampled_from(CTRL_TYPES)),
        volumes=draw(st.integers(0, 520) | st.integers(9_990, 10_010)),
        services=draw(st.integers(0, 400) | st.just(10_000)),
        customers=draw(st.integers(0, 400) | st.just(10_000)),
        pods=draw(st.integers(0, 4_000) | st.just(150_000)),
        etcd_objects=draw(st.integers(0, 13_000) | st.integers(299_980, 300_010)),
        observed_at=draw(
            st.none()
            | st.integers(0, 1_200).map(lambda s: NOW - timedelta(seconds=s))
            | st.integers(-(10**6), 1_200 * 10**6).map(lambda us: NOW - timedelta(microseconds=us))
        ),
    )


@st.composite
def fleets(draw, min_size=0, max_size=12):
    ids = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True), min_size=min_size, max_size=max_size, unique=True
        )
    )
    fleet = []
    for cid in ids:
        cluster = Cluster(
            cid,
            cid,
            draw(st.sampled_from(REGIONS)),
            f"q-{cid}",
            "r:5000",
            None,
            draw(st.sampled_from(["longhorn", "rook-ceph"])),
            draw(st.sampled_from(["active"] * 6 + ["draining", "maintenance"])),
        )
        fleet.append((cluster, draw(loads())))
    return fleet


requests = st.builds(
    PlacementRequest,
    customer_id=st.just("cust"),
    ram_bytes=st.integers(1, 64 * GIB),
    region=st.none() | st.sampled_from((*REGIONS, "ap-south")),
    volumes=st.lists(st.integers(1, 60).map(lambda g: VolumeRequest(g * GIB)), max_size=2).map(tuple),
    customer_volume_count=st.integers(0, 6),
    pods=st.integers(1, 3),
    new_customer=st.booleans(),
)
policies = st.sampled_from(POLICIES)
nows = st.none() | st.just(NOW)


@contextmanager
def columns_from(size: int):
    with mock.patch.object(engine, "NUMPY_MIN_CLUSTERS", size):
        yield


def comparable(decision):
    data = decision.to_dict()
    data["warnings"] = sorted(data["warnings"])
    return data


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), req=requests, policy=policies, now=nows)
def test_columns_and_the_per_cluster_loop_give_the_same_decision(fleet, req, policy, now):
    with columns_from(0):
        columns = select_cluster(req, fleet, policy, now=now)
    with columns_from(10**9):
        loop = select_cluster(req, fleet, policy, now=now)
    assert columns == loop
    assert columns.to_dict() == loop.to_dict()
    assert columns.rejection_counts() == loop.rejection_counts()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), req=requests, policy=policies, now=nows, columns=st.booleans())
def test_each_result_is_what_its_filters_and_scorers_say_alone(fleet, req, policy, now, columns):
    """A rejected cluster failed the first filter that rejects it alone; a feasible one passed every filter, and
    its raw scores and total are the score plugins' own (the pipeline stops early, the explanation does not)."""
    with columns_from(0 if columns else 10**9):
        decision = select_cluster(req, fleet, policy, now=now)
    state = cycle(req, policy, now)
    pairs = {c.id: (c, ld) for c, ld in fleet}
    for result in decision.results:
        verdicts, scores = explain(state, *pairs[result.cluster_id])
        failing = [name for name in FILTER_NAMES if verdicts[name] is not None]
        if result.feasible:
            assert failing == []
            raw = tuple(scores[name] for name, _ in policy.weights)
            assert result.raw_scores == raw
            assert result.total == sum(score * weight for score, (_, weight) in zip(raw, policy.weights, strict=True))
        else:
            assert failing and result.rejection == verdicts[failing[0]]
            assert result.reason == str(verdicts[failing[0]])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(min_size=1), req=requests, policy=policies, now=nows)
def test_a_filtered_cluster_is_never_chosen(fleet, req, policy, now):
    decision = select_cluster(req, fleet, policy, now=now)
    if not decision.placed:
        assert all(not r.feasible for r in decision.results)
        return
    chosen = decision.result(decision.cluster_id)
    assert chosen.feasible and decision.results[0] is chosen
    cluster, load = next(pair for pair in fleet if pair[0].id == decision.cluster_id)
    state = cycle(req, policy, now)
    assert [view(state, cluster, load) for _, view in FILTERS] == [None] * len(FILTERS)
    assert all(r.total <= chosen.total for r in decision.results if r.feasible)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(min_size=2), req=requests, policy=policies, now=nows, data=st.data(), columns=st.booleans())
def test_the_decision_does_not_depend_on_cluster_order(fleet, req, policy, now, data, columns):
    shuffled = data.draw(st.permutations(fleet))
    with columns_from(0 if columns else 10**9):
        first, second = select_cluster(req, fleet, policy, now=now), select_cluster(req, shuffled, policy, now=now)
    assert (first.cluster_id, first.node_hint, first.reason) == (second.cluster_id, second.node_hint, second.reason)
    assert comparable(first) == comparable(second)


@settings(max_examples=200, deadline=None)
@given(load=loads(), freed_share=st.integers(1, 100), req=requests)
def test_more_free_ram_never_lowers_the_ram_score(load, freed_share, req):
    freer = ClusterLoad(
        tuple(
            RunNode(
                n.name,
                n.allocatable_ram_bytes,
                n.requested_ram_bytes * (100 - freed_share) // 100,
                n.pods,
                n.max_pods,
                n.schedulable,
            )
            for n in load.run_nodes
        ),
        load.ctrl_node_type,
        load.volumes,
        load.services,
        load.customers,
        load.pods,
        load.etcd_objects,
    )
    cluster = Cluster("c", "c", "eu-west", "q", "r")
    state = cycle(req, default_policy())  # least_allocated
    assert scorers.ram_headroom(state, cluster, freer) >= scorers.ram_headroom(state, cluster, load)


def _never(*args, **kwargs):
    raise AssertionError("a quota violation reached filtering or scoring")


@settings(max_examples=150, deadline=None)
@given(
    fleet=fleets(),
    req=requests.filter(lambda r: bool(check_quotas(r, default_policy()))),
    now=nows,
)
def test_a_quota_violation_never_reaches_scoring(fleet, req, now):
    with (
        mock.patch.object(engine, "evaluate_columns", _never),
        mock.patch.object(engine, "RequestPlan", _never),
        mock.patch.object(engine, "Cycle", mock.Mock(start=_never)),
    ):
        decision = select_cluster(req, fleet, default_policy(), now=now)
        assert not decision.placed and decision.results == ()
        assert decision.quota_violations == check_quotas(req, default_policy())
        assert decision.reason == "; ".join(decision.quota_violations)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fleet=fleets(min_size=1),
    base=requests,
    rams=st.lists(st.integers(1, 64 * GIB), min_size=1, max_size=4),
    others=st.lists(requests, max_size=3),
    policy=policies,
    now=nows,
)
def test_what_the_engine_keeps_per_request_shape_never_leaks_into_another(fleet, base, rams, others, policy, now):
    """A policy's plan keeps each request shape's thresholds for the next request of that shape; requests of
    other shapes in between (the same request but for its RAM, or anything else), in any order, decide as they
    would on a plan that has seen nothing."""
    reqs = [base, *(dataclasses.replace(base, ram_bytes=ram) for ram in rams), *others]
    fresh = [select_cluster(req, fleet, dataclasses.replace(policy), now=now) for req in reqs]
    warm = [select_cluster(req, fleet, policy, now=now) for req in [*reqs, *reversed(reqs)]]
    assert warm == [*fresh, *reversed(fresh)]
    assert [d.reason for d in warm] == [d.reason for d in [*fresh, *reversed(fresh)]]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(min_size=2), req=requests, policy=policies, now=nows)
def test_a_cluster_left_unscored_could_not_have_won(fleet, req, policy, now):
    """The evaluation without raw scores skips the RAM score of a cluster bound below the best total so far: the
    same rejections and winner as the evaluation that scores every cluster, and the same totals where it scored."""
    plan = plan_for(policy)
    pruned = plan.evaluate(RequestPlan(plan, cycle(req, policy, now)), fleet)
    scored = plan.scored(RequestPlan(plan, cycle(req, policy, now)), fleet)
    assert pruned[0] == scored[0] and pruned[3] == scored[3]
    assert all(mine is None or mine == total for mine, total in zip(pruned[2], scored[2], strict=True))
    assert all(mine is not None for mine, failed in zip(pruned[2], pruned[0], strict=True) if failed >= 0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(min_size=1), req=requests, policy=policies, now=nows)
def test_the_winners_scores_kept_by_the_evaluation_are_the_ones_scoring_it_gives(fleet, req, policy, now):
    """The evaluation without raw scores keeps the winner's as it finds it (for the placed reason): the same scores
    as the evaluation that lists every cluster's, as a fresh evaluation of the winner alone, and in the reason."""
    plan = plan_for(policy)
    request_plan = RequestPlan(plan, cycle(req, policy, now))
    fails, raws, totals, best, winner = plan.evaluate(request_plan, fleet)
    scored = plan.scored(RequestPlan(plan, cycle(req, policy, now)), fleet)
    assert scored[4] is None
    if best < 0:
        assert winner is None
        return
    alone = plan.scored(RequestPlan(plan, cycle(req, policy, now)), [fleet[best]])[1][0]
    assert request_plan.pick(winner) == scored[1][best] == alone
    assert raws() == scored[1]
    kept = engine._placed_reason(request_plan, fleet, fails, raws, totals, best, winner)
    assert kept == engine._placed_reason(request_plan, fleet, fails, raws, totals, best)  # scored again
