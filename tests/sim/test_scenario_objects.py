"""etcd objects per customer: the seed profile reproduces the design document's ~10 on the stage-1 mix, every kind
included; the published profile counts what the kinds create, and a run says both when they differ. Node settings
(max-pods per run node type, system pods) reach the simulated fleet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import sim
from placement.catalogue import LIMITS
from placement.footprint import NodeFootprint, cluster_baseline_objects
from placement.limits import load_profile, shipped_limits
from placement.yamlio import ConfigError
from sim.config import compile_scenario
from sim.objects import DESIGN_DOC_OBJECTS_PER_CUSTOMER, mean_count, objects_per_customer
from sim.planning import measures
from sim.sampling import draw
from sim.world import World
from tests.sim.conftest import SCENARIOS


def test_seed_reproduces_the_design_documents_figure_on_the_stage1_mix():
    scenario = sim.load_scenario(SCENARIOS / "stage1.yaml")
    figures = objects_per_customer(scenario, shipped_limits("seed"))
    assert abs(figures.used - DESIGN_DOC_OBJECTS_PER_CUSTOMER) <= 1.0
    # The published profile counts Deployments, ReplicaSets, Endpoints, Longhorn's CRs and Events too.
    assert figures.by_profile["published"] > 2 * figures.by_profile["seed"]
    assert figures.differ
    assert any("design document" in line for line in figures.lines())


def test_a_stage1_run_measures_about_ten_objects_per_customer_under_seed(stage1_short):
    result = sim.run(sim.load_scenario(stage1_short).model_copy(update={"packing_checks": None}), seed=1)
    measured = result.summary["objects_per_customer"]
    # every kind: the cluster's and run nodes' objects, customers whose later services are still to come
    assert 9.0 <= measured["measured"] <= 11.0
    assert measured["profile"] == "seed" and measured["differ"]
    assert measured["by_profile"]["published"] > 25
    assert result.summary["warnings"] == []


def test_mean_count_matches_the_sampler():
    scenario = sim.load_scenario(SCENARIOS / "stage1.yaml")
    assert abs(mean_count(scenario.customers.services) - 1.6) < 1e-6  # 1 + Poisson(0.6), clipped at 10


def _profile_with_200_pods(tmp_path) -> tuple[dict, Path]:
    data = load_profile("published").model_dump(by_alias=True, exclude_none=True)
    data["name"] = "published-200-pods"
    data["costs"]["run_node_types"][0]["max_pods"] = 200  # AX162-R, the default type
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return data, path


def test_run_nodes_carry_system_pods_objects_and_their_types_max_pods(tmp_path):
    data, path = _profile_with_200_pods(tmp_path)
    scenario = sim.load_scenario(SCENARIOS / "stage1.yaml").model_copy(update={"limits_profile": str(path)})
    config = compile_scenario(scenario)
    assert config.run_node_max_pods == 200 and config.limits.max_pods_per_node == 110  # the type's own wins
    world = World.build(config, draw(scenario, np.random.SeedSequence(0), 10))
    node_footprint = NodeFootprint.of(config.limits, "longhorn")
    nodes = world.fleet.cluster_runnodes[0]
    assert nodes and all(n.max_pods == 200 and n.pods == node_footprint.pods for n in nodes)
    counters = world.fleet.counters
    assert counters["pods"][0] == len(nodes) * node_footprint.pods
    expected = cluster_baseline_objects(config.limits, "longhorn") + len(nodes) * node_footprint.etcd_objects
    assert counters["etcd_objects"][0] == expected
    # A type's max-pods must fit the node pod range too.
    data["costs"]["run_node_types"][0]["max_pods"] = 300
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as refused:
        load_profile(path)
    text = str(refused.value)
    assert "costs.run_node_types[0].max_pods" in text and "254 pod addresses" in text


def test_planning_reads_pods_per_node_against_the_run_node_types_max_pods(tmp_path):
    """The decision table and the forecast measure pods per node against each run node's own max-pods (its
    type's, 200 here), not the profile's default of 110."""
    _, path = _profile_with_200_pods(tmp_path)
    scenario = sim.load_scenario(SCENARIOS / "stage1.yaml").model_copy(update={"limits_profile": str(path)})
    config = compile_scenario(scenario)
    rows = pd.DataFrame({"day": [0], "cluster_id": ["eu-west-1"], "pods": [300], "run_nodes": [2]})
    levels = measures(rows, config.limits, scenario.operator, ["pods_per_node"])
    assert levels["pods_per_node_capacity"].tolist() == [400.0]
    assert levels["pods_per_node_share"].tolist() == [0.75]


def test_every_threshold_is_marked_hard_or_soft():
    soft = {limit.key for limit in LIMITS if limit.soft}
    hard = {limit.key for limit in LIMITS if not limit.soft}
    # sig-scalability thresholds and comfort levels bend; RAM, a node's max-pods and the etcd quota do not.
    assert {"k8s_pods_cluster", "k8s_services", "k8s_namespaces", "k8s_nodes", "control_plane_objects"} <= soft
    assert {"ram_per_run_node", "pods_per_node", "k8s_etcd_objects"} <= hard
