"""Each filter and scorer on its own, with its reason string and numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from placement import filters, scorers
from placement.catalogue import Rejection
from placement.filters import FILTERS
from placement.footprint import Footprint
from placement.model import RunNode
from placement.pipeline import explain
from placement.policy import SCORER_NAMES, PolicyConfig, default_policy
from placement.rules import FILTER_NAMES
from placement.scoring import least_allocated, most_allocated, requested_to_capacity_ratio

from .fleet import GIB, cluster, cycle, load, request

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def policy_with(**fields):
    return PolicyConfig(**fields).compile()


def test_filters_run_in_the_documented_order():
    assert FILTER_NAMES == (
        "status",
        "snapshot-age",
        "region",
        "volume-limit",
        "control-plane",
        "k8s-thresholds",
        "ram-fit",
        "pods-per-node",
        "disk-fit",
    )
    plugins = dict(FILTERS)
    assert plugins["volume-limit"] is filters.volume_limit
    assert plugins["k8s-thresholds"] is filters.kubernetes_thresholds


# RAM arithmetic without a volume's engine and replicas (their RAM is the footprint's: tests/test_storage_cost.py).
NO_VOLUME = request(volumes=())


def text(rejection: Rejection | None) -> str | None:
    """A rejection as the decision's reason reads it."""
    return None if rejection is None else str(rejection)


def score(name, state, c, snapshot):
    return explain(state, c, snapshot)[1][name]


def test_a_rejection_is_data_and_its_text_is_made_when_read():
    rejection = filters.volume_limit(cycle(), cluster(), load(volumes=500))
    assert (rejection.filter, rejection.limit, rejection.subject) == ("volume-limit", "volumes", "longhorn")
    assert (rejection.used, rejection.needed, rejection.capacity, rejection.unit) == (500, 1, 500, "volumes")
    assert str(rejection) == rejection.reason == "volume-limit: longhorn 500/500"
    ram = filters.ram_fit(cycle(), cluster(), load(nodes=((250, 249, 1),) * 2))
    # The service's 2 GiB and its volume's engine and replicas (the engine judges at the provider's full count).
    needed = 2 * GIB + default_policy().limits.storage["longhorn"].volume_ram_bytes(3)
    assert (ram.limit, ram.used, ram.needed, ram.capacity, ram.unit) == ("ram_per_run_node", 0, needed, GIB, "bytes")


@pytest.mark.parametrize(
    ("status", "reason"), [("active", None), ("draining", "status: draining"), ("maintenance", "status: maintenance")]
)
def test_status(status, reason):
    assert text(filters.status(cycle(), cluster(status=status), load())) == reason


def test_snapshot_age_reject_allow_and_no_clock():
    fresh, stale = load(observed_at=NOW - timedelta(seconds=60)), load(observed_at=NOW - timedelta(seconds=1200))
    c = cluster()
    assert text(filters.snapshot_age(cycle(now=NOW), c, fresh)) is None
    assert text(filters.snapshot_age(cycle(now=NOW), c, stale)) == "snapshot-age: load observed 1200s ago > 900s"
    assert text(filters.snapshot_age(cycle(now=NOW), c, load())) == "snapshot-age: load snapshot has no observed_at"
    assert text(filters.snapshot_age(cycle(), c, stale)) is None  # no now=: ages are not checked
    allow = policy_with(stale_snapshot={"max_age_seconds": 900, "action": "allow"})
    assert text(filters.snapshot_age(cycle(policy=allow, now=NOW), c, stale)) is None
    exactly = load(observed_at=NOW - timedelta(seconds=900))
    assert text(filters.snapshot_age(cycle(now=NOW), c, exactly)) is None  # "older than", not "as old as"


def test_region_strict_and_preferred():
    strict = policy_with(region_mode="strict")
    far = cluster(region="us-east")
    assert (
        text(filters.region(cycle(policy=strict), far, load()))
        == "region: cluster is in us-east, request wants eu-west"
    )
    assert text(filters.region(cycle(policy=strict), cluster(), load())) is None
    assert text(filters.region(cycle(request(region=None), strict), far, load())) is None
    assert text(filters.region(cycle(), far, load())) is None  # preferred: only the score says so


def test_volume_limit():
    c = cluster()
    assert text(filters.volume_limit(cycle(), c, load(volumes=499))) is None
    assert text(filters.volume_limit(cycle(), c, load(volumes=500))) == "volume-limit: longhorn 500/500"
    assert text(filters.volume_limit(cycle(request(volumes=())), c, load(volumes=500))) is None  # no volume, no limit
    ceph = cluster(provider="rook-ceph")
    assert text(filters.volume_limit(cycle(), ceph, load(volumes=9_999))) is None
    assert text(filters.volume_limit(cycle(), ceph, load(volumes=10_000))) == "volume-limit: rook-ceph 10000/10000"


def test_control_plane():
    c = cluster()
    limits = default_policy().limits
    # What a service adds comes from the profile's footprint (its volume's objects, a new customer's namespace).
    adds = Footprint.of(request(), limits, "longhorn").etcd_objects
    tight = limits.control_plane_types["CX32"].tight_objects
    assert text(filters.control_plane(cycle(), c, load(ctrl="CX32", etcd=tight - adds))) is None
    assert (
        text(filters.control_plane(cycle(), c, load(ctrl="CX32", etcd=tight - adds + 1)))
        == f"control-plane: CX32 {tight - adds + 1}+{adds} objects > tight {tight}"
    )
    newcomer = cycle(request(new_customer=True))
    adds_newcomer = Footprint.of(request(new_customer=True), limits, "longhorn").etcd_objects
    assert adds_newcomer == adds + limits.etcd_objects_per_customer
    assert (
        text(filters.control_plane(newcomer, c, load(ctrl="CX32", etcd=tight - adds_newcomer + 1)))
        == f"control-plane: CX32 {tight - adds_newcomer + 1}+{adds_newcomer} objects > tight {tight}"
    )
    assert (
        text(filters.control_plane(cycle(), c, load(ctrl="CX99")))
        == "control-plane: unknown node type 'CX99' in profile seed"
    )


@pytest.mark.parametrize(
    ("fields", "new_customer", "reason"),
    [
        ({"pods": 150_000}, False, "k8s-thresholds: pods 150000/150000"),
        ({"services": 10_000}, False, "k8s-thresholds: services 10000/10000"),
        ({"customers": 10_000}, True, "k8s-thresholds: namespaces 10000/10000"),
        ({"customers": 10_000}, False, None),  # an existing customer brings no namespace
        ({"etcd": 299_992, "ctrl": "AX162-R"}, False, None),  # 299,992 + a service's few objects: not over
    ],
)
def test_kubernetes_thresholds(fields, new_customer, reason):
    got = text(filters.kubernetes_thresholds(cycle(request(new_customer=new_customer)), cluster(), load(**fields)))
    assert got == reason


def test_kubernetes_thresholds_etcd_and_nodes():
    limits = default_policy().limits
    used = limits.max_etcd_objects - Footprint.of(request(), limits, "longhorn").etcd_objects + 1
    assert text(filters.kubernetes_thresholds(cycle(), cluster(), load(etcd=used - 1))) is None
    assert (
        text(filters.kubernetes_thresholds(cycle(), cluster(), load(etcd=used)))
        == f"k8s-thresholds: etcd objects {used}/{limits.max_etcd_objects}"
    )
    many = load(nodes=((250, 0, 0),) * (limits.max_nodes + 1))
    assert (
        text(filters.kubernetes_thresholds(cycle(), cluster(), many))
        == f"k8s-thresholds: nodes {limits.max_nodes + 1}/{limits.max_nodes}"
    )


def test_ram_fit_is_per_node_not_a_cluster_sum():
    ten_small = load(nodes=((250, 249, 1),) * 10)  # 10 GiB free in total, 1 GiB per node
    assert (
        text(filters.ram_fit(cycle(NO_VOLUME), cluster(), ten_small))
        == "ram-fit: largest free run node 1.0 GiB < 2.0 GiB needed (10 schedulable run nodes)"
    )
    assert text(filters.ram_fit(cycle(request(ram_gib=1, volumes=())), cluster(), ten_small)) is None
    cordoned = load(nodes=((250, 0, 0),))
    cordoned = type(cordoned)((RunNode("run-1", 250 * GIB, 0, 0, None, False),), "CX52")
    reason = text(filters.ram_fit(cycle(NO_VOLUME), cluster(), cordoned))
    assert reason == "ram-fit: no schedulable run node (1 run nodes)"


def test_pods_per_node():
    full = load(nodes=((250, 0, 110), (250, 249, 3)))  # room for RAM only on the node with no pod room
    assert text(filters.ram_fit(cycle(NO_VOLUME), cluster(), full)) is None
    assert (
        text(filters.pods_per_node(cycle(NO_VOLUME), cluster(), full))
        == "pods-per-node: no run node with 2.0 GiB free is below its pod cap (110 pods per node)"
    )
    own_cap = type(full)((RunNode("run-1", 250 * GIB, 0, 110, max_pods=250),), "CX52")
    assert text(filters.pods_per_node(cycle(NO_VOLUME), cluster(), own_cap)) is None


def test_region_scorer():
    assert score("region", cycle(), cluster(), load()) == 100
    assert score("region", cycle(), cluster(region="us-east"), load()) == 0
    assert score("region", cycle(request(region=None)), cluster(region="us-east"), load()) == 100


def test_ram_headroom_scorer_follows_the_strategy():
    snapshot = load(nodes=((100, 40, 5), (100, 18, 5)))  # 58 of 200 GiB requested; the request adds 2
    assert scorers.ram_headroom(cycle(NO_VOLUME), cluster(), snapshot) == 70  # (200 - 60) * 100 / 200
    most = policy_with(ram_scoring={"strategy": "most_allocated"})
    assert scorers.ram_headroom(cycle(NO_VOLUME, policy=most), cluster(), snapshot) == 30
    rtc = policy_with(ram_scoring={"strategy": "requested_to_capacity_ratio", "shape": [[0, 0], [100, 10]]})
    assert scorers.ram_headroom(cycle(NO_VOLUME, policy=rtc), cluster(), snapshot) == 30
    balanced = policy_with(ram_scoring={"strategy": "balanced_allocation", "resources": {"memory": 1, "pods": 1}})
    # memory 60/200 = 0.3, pods 11/220 = 0.05: 100 * (1 - 0.125) = 87
    assert scorers.ram_headroom(cycle(NO_VOLUME, policy=balanced), cluster(), snapshot) == 87
    both = policy_with(ram_scoring={"resources": {"memory": 3, "pods": 1}})
    assert scorers.ram_headroom(cycle(NO_VOLUME, policy=both), cluster(), snapshot) == (70 * 3 + 95 * 1) // 4


def test_more_free_ram_scores_higher_on_least_allocated():
    scores = [scorers.ram_headroom(cycle(), cluster(), load(nodes=((250, used, 5),))) for used in (240, 120, 0)]
    assert scores == sorted(scores) and scores[0] < scores[-1]


def test_volume_headroom_comfort_curve():
    # Default curve: 10 at 0%, 5 at 80%, 0 at 100% of the provider's limit (scores x10).
    assert score("volume_headroom", cycle(), cluster(), load(volumes=0)) == 100  # 1/500 truncates to 0%
    assert score("volume_headroom", cycle(), cluster(), load(volumes=399)) == 50  # 400/500 = 80%
    assert score("volume_headroom", cycle(), cluster(), load(volumes=449)) == 25  # 90%
    assert score("volume_headroom", cycle(), cluster(), load(volumes=499)) == 0  # 100%
    expected = requested_to_capacity_ratio({"v": 51}, {"v": 10_000}, {"v": 1}, [(0, 10), (80, 5), (100, 0)])
    assert score("volume_headroom", cycle(), cluster(provider="rook-ceph"), load(volumes=50)) == expected


def test_control_plane_headroom_scores_the_comfortable_point_as_set():
    # CX32: comfortable 1000, tight 3000 -> the comfortable point is at 33%, scored 8 (x10). The level scored is
    # the cluster's objects with the service's footprint on them.
    adds = Footprint.of(request(), default_policy().limits, "longhorn").etcd_objects
    assert score("control_plane_headroom", cycle(), cluster(), load(ctrl="CX32", etcd=1000 - adds)) == 80
    assert score("control_plane_headroom", cycle(), cluster(), load(ctrl="CX32", etcd=3000 - adds)) == 0
    assert score("control_plane_headroom", cycle(), cluster(), load(ctrl="CX32", etcd=0)) == 100
    softer = policy_with(control_plane_comfort_score=5)
    assert score("control_plane_headroom", cycle(policy=softer), cluster(), load(ctrl="CX32", etcd=1000 - adds)) == 50


@pytest.mark.parametrize("name", SCORER_NAMES)
def test_every_scorer_is_0_to_100(name):
    for snapshot in (
        load(),
        load(volumes=499, etcd=2_990, ctrl="CX32", nodes=((250, 247, 100),)),
        load(volumes=0, etcd=0, nodes=((250, 0, 0),)),
    ):
        assert 0 <= score(name, cycle(), cluster(), snapshot) <= 100


def test_scoring_functions_used_directly_agree_with_the_scorer():
    snapshot = load(nodes=((100, 40, 5),))
    need = 2 * GIB
    expected = least_allocated({"memory": 40 * GIB + need}, {"memory": 100 * GIB}, {"memory": 1})
    assert scorers.ram_headroom(cycle(NO_VOLUME), cluster(), snapshot) == expected
    assert most_allocated({"memory": 40 * GIB + need}, {"memory": 100 * GIB}, {"memory": 1}) == 100 - expected
