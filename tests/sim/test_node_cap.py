"""The operator's cap on run nodes per cluster holds at creation and after node orders, nodes on order included.

Regression: with large services a successor was sized for its region's recent demand without the cap (29 run
nodes against a cap of 10); a service no empty run node could hold grew its cluster one node at a time.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from placement.limits import shipped_limits
from placement.yamlio import ConfigError
from sim.config import compile_scenario
from sim.scenario import Scenario

MIN_NODES = {"longhorn": 2, "rook-ceph": 3}


def big_services(
    *, provider: str = "longhorn", cap: int = 10, rate: float = 120, ram: dict | None = None, days: int = 240
) -> Scenario:
    """One region whose services are large enough that a new cluster's demand-based size passes the cap."""
    return Scenario.model_validate(
        {
            "name": "big-services",
            "start_date": "2026-01-01",
            "horizon_days": days,
            "growth": {"kind": "constant", "rate_per_month": rate},
            "regions": {"eu-west": 1},
            "customers": {
                "services": {"kind": "poisson", "mean": 1.6, "max": 10},
                "service_delay": {"kind": "exponential", "mean_days": 20},
                "ram": ram or {"kind": "lognormal", "median": "16Gi", "sigma": 0.7, "min": "1Gi", "max": "64Gi"},
            },
            "churn": {"kind": "monthly", "rate": 0.02},
            "fleet": {
                "clusters": [{"id": "eu-west-1", "region": "eu-west", "storage_provider": provider, "run_nodes": 3}]
            },
            "operator": {
                "node_lead_days": 14,
                "max_run_nodes_per_cluster": cap,
                "shard": {"lead_days": 30},
                "new_cluster_storage": provider,
            },
        }
    )


def assert_within_cap(result, cap: int) -> None:
    ts = result.timeseries
    clusters = ts[ts["cluster_id"] != "fleet"]
    planned = clusters["run_nodes"] + clusters["run_nodes_on_order"]
    assert planned.max() <= cap, clusters.loc[planned > cap, ["day", "cluster_id", "run_nodes", "run_nodes_on_order"]]
    # Ordered clusters carry their first nodes on order; delivered ones run at least the provider's minimum.
    minimum = clusters["storage_provider"].map(MIN_NODES)
    assert (planned >= minimum).all()
    assert (clusters.loc[clusters["run_nodes"] > 0, "run_nodes"] >= minimum[clusters["run_nodes"] > 0]).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_new_clusters_for_large_services_stay_within_the_cap(seed):
    result = sim.run(big_services(), seed)
    events = result.events
    ordered = events[events["kind"] == "cluster_ordered"]
    assert len(ordered) >= 2  # the scenario does exercise the successor sizing, more than once
    assert_within_cap(result, 10)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    provider=st.sampled_from(["longhorn", "rook-ceph"]),
    cap=st.integers(3, 12),
    rate=st.floats(40, 200),
    median=st.sampled_from(["4Gi", "16Gi", "48Gi"]),
)
def test_run_nodes_per_cluster_never_exceed_the_cap(seed, provider, cap, rate, median):
    ram = {"kind": "lognormal", "median": median, "sigma": 0.7, "min": "1Gi", "max": "128Gi"}
    result = sim.run(big_services(provider=provider, cap=cap, rate=rate, ram=ram, days=180), seed)
    assert_within_cap(result, cap)


def test_a_service_no_run_node_holds_is_a_counted_rejection_not_a_bigger_cluster():
    # 300 GiB is more than a 256 GiB run node: no number of nodes makes it fit.
    result = sim.run(big_services(ram={"kind": "fixed", "value": "300Gi"}, days=90), 0)
    summary, events = result.summary, result.events
    assert summary["placements_attempted"] > 0
    assert summary["placements_rejected"] == summary["placements_attempted"]
    assert (events["kind"] == "placement_rejected").any()
    assert not events["kind"].isin(["node_ordered", "cluster_ordered"]).any()
    clusters = result.timeseries[result.timeseries["cluster_id"] != "fleet"]
    # It never grows; scale-down may give back nodes it does not need, down to Longhorn's minimum.
    assert clusters["run_nodes"].max() == 3
    assert clusters["run_nodes"].min() >= shipped_limits("seed").storage["longhorn"].min_nodes


def test_a_cap_that_cannot_hold_a_new_cluster_is_a_config_error():
    with pytest.raises(ConfigError, match=r"max_run_nodes_per_cluster: 2 is below rook-ceph's minimum of 3"):
        sim.run(big_services(provider="rook-ceph", cap=2))
    scenario = big_services(cap=10)
    shard = scenario.operator.shard.model_copy(update={"new_cluster_run_nodes": 12})
    with pytest.raises(ConfigError, match=r"new_cluster_run_nodes: 12 exceed operator.max_run_nodes_per_cluster"):
        sim.run(scenario.model_copy(update={"operator": scenario.operator.model_copy(update={"shard": shard})}))
    with pytest.raises(ConfigError, match=r"fleet.clusters\[0\].run_nodes: 3 run nodes exceed"):
        sim.run(big_services(cap=2))


def test_the_pod_cidr_caps_run_nodes_per_cluster():
    # A /20 cluster pod range in /24 node ranges holds 16 nodes: 15 run nodes beside the first cluster's single
    # server, 13 beside a new cluster's three. Without a cap of its own the operator grows each cluster to that
    # and then shards, and never past it.
    scenario = big_services(rate=200, days=240).model_copy(
        update={"limits_overrides": {"kubernetes.cluster_cidr_mask_size": 20}}
    )
    scenario = scenario.model_copy(
        update={"operator": scenario.operator.model_copy(update={"max_run_nodes_per_cluster": None})}
    )
    result = sim.run(scenario, 0)
    clusters = result.timeseries[result.timeseries["cluster_id"] != "fleet"]
    planned = clusters["run_nodes"] + clusters["run_nodes_on_order"]
    first = clusters["cluster_id"] == "eu-west-1"
    assert planned[first].max() <= 15 and planned[~first].max() <= 13
    assert planned[first].max() >= 12  # the demand does reach the cap
    assert (result.events["kind"] == "cluster_ordered").any()


def test_a_cap_past_the_pod_cidr_is_a_config_error():
    with pytest.raises(ConfigError, match=r"max_run_nodes_per_cluster: 500 run nodes and 3 control-plane nodes exceed"):
        sim.run(big_services(cap=500))
    wider = big_services(cap=500).model_copy(update={"limits_overrides": {"kubernetes.cluster_cidr_mask_size": 15}})
    assert compile_scenario(wider).scenario.operator.max_run_nodes_per_cluster == 500
    unset = big_services().model_copy(
        update={"operator": big_services().operator.model_copy(update={"max_run_nodes_per_cluster": None})}
    )
    assert compile_scenario(unset).scenario.operator.max_run_nodes_per_cluster == 253


def test_the_first_shard_names_the_cap_that_bound():
    """The operator's cap, or the pod CIDR's node ranges its control plane leaves, whichever was reached."""
    operator = sim.run(big_services(cap=10, days=150), 0).summary
    assert operator["first_shard_limit"] == "max_run_nodes_per_cluster"
    assert operator["first_shard_why"] == (
        "eu-west-1: needs more than 10 run nodes (max_run_nodes_per_cluster; the pod CIDR's 256 node ranges less "
        "its 1 control-plane node(s) leave 255)"
    )
    # A /17 in /20 node ranges holds 8; with no cap set, a cluster of three servers may have the other 5.
    scenario = big_services(days=150)
    scenario = scenario.model_copy(
        update={
            "limits_overrides": {"kubernetes.cluster_cidr_mask_size": 17, "kubernetes.node_cidr_mask_size": 20},
            "operator": scenario.operator.model_copy(update={"max_run_nodes_per_cluster": None}),
            "fleet": scenario.fleet.model_copy(
                update={"clusters": [scenario.fleet.clusters[0].model_copy(update={"ctrl_nodes": 3})]}
            ),
        }
    )
    cidr = sim.run(scenario, 0).summary
    assert cidr["first_shard_limit"] == "max_run_nodes_per_cluster"
    assert cidr["first_shard_why"] == (
        "eu-west-1: needs more than 5 run nodes (the pod CIDR's 8 node ranges less its 3 control-plane node(s))"
    )
