"""``select_cluster`` end to end: quotas, the rejection summary, the tie-break, the node hint, stale snapshots,
region modes, the OCM-shaped explanation, limits profiles and policy files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from placement import engine
from placement.engine import check_quotas, select_cluster
from placement.limits import PROFILE_NAMES, LimitsProfile, load_profile
from placement.policy import PolicyConfig, default_policy, load_policy
from placement.state import load_state
from placement.yamlio import ConfigError, parse_yaml_model

from .fleet import GIB, cluster, load, request

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def both(req, fleet, policy=None, now=None):
    """The decision, after checking that the pipeline over numpy columns gives the same one."""
    decision = select_cluster(req, fleet, policy, now=now)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "NUMPY_MIN_CLUSTERS", 1)
        columns = select_cluster(req, fleet, policy, now=now)
    assert decision == columns
    assert decision.to_dict() == columns.to_dict()
    return decision


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"volumes": (51,)}, "quota: volumes[0] size 51Gi > 50Gi (plan default)"),
        ({"volumes": (10, 10)}, "quota: 2 volumes per service > 1 (plan default)"),
        ({"customer_volume_count": 5}, "quota: customer would have 6 volumes > 5 (plan default)"),
    ],
)
def test_quota_violations_are_refused_before_any_cluster(kwargs, problem):
    req = request(**kwargs)
    assert problem in check_quotas(req, default_policy())
    decision = both(req, [(cluster(), load())])
    assert not decision.placed and decision.results == ()
    assert decision.quota_violations == check_quotas(req, default_policy())
    assert problem in decision.reason


def test_quota_zero_size_and_plans():
    req = request(volumes=(0,))
    assert "quota: volumes[0] size must be positive" in check_quotas(req, default_policy())
    policy = PolicyConfig(quotas={"default": {}, "pro": {"max_volume_size": "200Gi", "max_volumes_per_customer": 50}})
    compiled = policy.compile()
    assert check_quotas(request(volumes=(100,), plan="pro", customer_volume_count=20), compiled) == ()
    assert check_quotas(request(volumes=(100,), plan="unknown-plan"), compiled) == (
        "quota: volumes[0] size 100Gi > 50Gi (plan unknown-plan)",
    )


def test_nothing_fits_summarises_the_reasons():
    fleet = [
        (cluster("a"), load(volumes=500)),
        (cluster("b"), load(volumes=500)),
        (cluster("c", status="draining"), load()),
    ]
    decision = both(request(), fleet)
    assert not decision.placed and decision.cluster_id is None and decision.node_hint is None
    assert decision.reason == "0/3 clusters fit: 2 volume-limit, 1 status"
    assert decision.rejection_counts() == {"volume-limit": 2, "status": 1}
    assert [r.reason for r in decision.results] == [
        "volume-limit: longhorn 500/500",
        "volume-limit: longhorn 500/500",
        "status: draining",
    ]
    assert all(not r.feasible and r.raw_scores == () for r in decision.results)


def test_empty_fleet():
    decision = both(request(), [])
    assert decision.reason == "0/0 clusters fit: no clusters" and decision.results == ()


def test_tie_break_by_cluster_id():
    fleet = [(cluster(cid), load()) for cid in ("c3", "c1", "c2")]
    decision = both(request(), fleet)
    assert decision.cluster_id == "c1"
    assert [r.cluster_id for r in decision.results] == ["c1", "c2", "c3"]
    assert len({r.total for r in decision.results}) == 1


def test_highest_weighted_total_wins_and_is_explained():
    fleet = [(cluster("busy"), load(nodes=((250, 200, 50),))), (cluster("calm"), load(nodes=((250, 20, 5),)))]
    decision = both(request(), fleet)
    assert decision.cluster_id == "calm" and decision.task_queue == "deployer-calm"
    best = decision.result("calm")
    assert best.total == sum(raw * w for raw, (_, w) in zip(best.raw_scores, decision.weights, strict=True))
    assert decision.reason.startswith(f"calm: score {best.total} (region 100x3, ram_headroom ")
    assert decision.reason.endswith("; 2/2 clusters fit")
    with pytest.raises(KeyError):
        decision.result("nope")


def test_node_hint_follows_the_ram_strategy():
    snapshot = load(nodes=((250, 100, 5), (250, 10, 5), (250, 247, 5), (250, 0, 110)))
    fleet = [(cluster(), snapshot)]
    assert both(request(), fleet).node_hint == "run-2"  # most free RAM among nodes with pod room
    packing = PolicyConfig(ram_scoring={"strategy": "most_allocated"}).compile()
    assert both(request(), fleet, packing).node_hint == "run-3"  # fullest node that still fits 2 GiB (3 free)


def test_stale_snapshots_reject_or_allow_by_policy():
    fresh = load(observed_at=NOW - timedelta(minutes=1))
    stale = load(observed_at=NOW - timedelta(hours=1))
    fleet = [(cluster("fresh"), fresh), (cluster("a-stale"), stale)]
    decision = both(request(), fleet, now=NOW)
    assert decision.cluster_id == "fresh"
    assert decision.result("a-stale").reason == "snapshot-age: load observed 3600s ago > 900s"
    allow = PolicyConfig(stale_snapshot={"action": "allow"}).compile()
    allowed = both(request(), fleet, allow, now=NOW)
    assert allowed.cluster_id == "a-stale"  # both feasible and equal: the id decides
    assert allowed.warnings == ("a-stale: stale load snapshot (observed 3600s ago), used anyway by policy",)
    assert both(request(), fleet).cluster_id == "a-stale"  # without now= no age is checked


def test_strict_and_preferred_region():
    fleet = [(cluster("far", region="us-east"), load(nodes=((250, 0, 0),))), (cluster("near"), load())]
    assert both(request(), fleet).cluster_id == "near"
    only_far = [fleet[0]]
    assert both(request(), only_far).cluster_id == "far"  # preferred: another region is still allowed
    strict = PolicyConfig(region_mode="strict").compile()
    refused = both(request(), only_far, strict)
    assert refused.reason == "0/1 clusters fit: 1 region"


def test_to_dict_has_the_ocm_debug_shape_and_is_json():
    fleet = load_state("examples/state.yaml")
    decision = both(request(), fleet)
    data = json.loads(json.dumps(decision.to_dict()))
    assert {
        "cluster_id",
        "task_queue",
        "node_hint",
        "reason",
        "filteredPipelineResults",
        "prioritizeResults",
        "aggregatedScores",
        "clusters",
    } <= set(data)
    pipeline = {step["name"]: step["filteredClusters"] for step in data["filteredPipelineResults"]}
    assert pipeline["status"] == ["eu-west-2", "eu-west-1"]  # the draining cluster drops out first
    assert pipeline["volume-limit"] == ["eu-west-2", "eu-west-1"]  # eu-west-1 is at 497/500: one more fits
    assert decision.result("us-east-1").reason == "status: draining"
    assert [s["name"] for s in data["prioritizeResults"]] == [name for name, _ in decision.weights]
    record = data["clusters"][0]
    assert record["cluster_id"] == decision.cluster_id and record["rank"] == 1
    assert {s["name"] for s in record["scores"]} == {
        "region",
        "ram_headroom",
        "volume_headroom",
        "control_plane_headroom",
    }
    assert all(s["weighted"] == s["score"] * s["weight"] for s in record["scores"])


def test_results_are_built_only_when_read(monkeypatch):
    fleet = [(cluster(f"c{i}"), load()) for i in range(3)]
    decision = select_cluster(request(), fleet)
    calls = []
    real = engine._build_results
    monkeypatch.setattr(engine, "_build_results", lambda *a: calls.append(1) or real(*a))
    lazy = select_cluster(request(), fleet)
    assert calls == [] and lazy.cluster_id == decision.cluster_id
    assert lazy.results == decision.results and calls == [1]
    assert lazy.results is lazy.results and calls == [1]


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_shipped_profiles_load_and_every_figure_has_a_source(name):
    profile = load_profile(name)
    paths = profile.figure_paths()
    assert len(paths) >= 25
    for path in paths:
        figure = profile.figure(path)
        assert len(figure.source.strip()) >= 3, path
        if figure.low is not None:
            assert figure.low <= figure.value, path
        if figure.high is not None:
            assert figure.value <= figure.high, path
    limits = profile.compile()
    assert limits.profile == name and limits.storage["longhorn"].max_volumes > 0
    snapshot = load(ctrl=limits.control_plane_ladder[-1])
    assert both(request(), [(cluster(), snapshot)], load_policy(profile=name)).placed


def test_both_profiles_have_the_same_keys():
    assert load_profile("seed").figure_paths() == load_profile("published").figure_paths()


def test_profile_with_values_changes_the_engine_answer():
    profile = load_profile("seed")
    tighter = profile.with_values({"longhorn.max_volumes": 10})
    assert tighter.figure("longhorn.max_volumes").value == 10
    assert tighter.figure("longhorn.max_volumes").source == profile.figure("longhorn.max_volumes").source
    assert tighter.figure("longhorn.max_volumes").low is None  # outside the catalog range: range dropped
    policy = PolicyConfig().compile(tighter)
    decision = both(request(), [(cluster(), load(volumes=10))], policy)
    assert decision.reason == "0/1 clusters fit: 1 volume-limit"
    assert decision.results[0].reason == "volume-limit: longhorn 10/10"
    with pytest.raises(KeyError, match="unknown limits figure"):
        profile.with_values({"longhorn.no_such_figure": 1})


def test_bad_profile_yaml_names_line_and_field():
    text = load_profile("seed").model_dump_json()
    data = json.loads(text)
    data["storage"]["longhorn"]["max_volumes"]["source"] = ""
    bad = yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        parse_yaml_model(bad, LimitsProfile, source="bad.yaml")
    message = str(info.value)
    assert "bad.yaml" in message and "storage.longhorn.max_volumes.source" in message
    reported = int(message.split("line ")[1].split(":")[0])
    lines = bad.splitlines()
    assert lines[reported - 1].strip() == "source: ''"
    assert any(text.strip() == "max_volumes:" for text in lines[reported - 6 : reported - 1])


def test_bad_policy_yaml_names_line_and_field(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("region_mode: strict\nweights:\n  region: 3\n  gravity: 2\nram_scoring:\n  strategy: fastest\n")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 2: weights: Value error, unknown scorers ['gravity']" in message
    assert "line 6: ram_scoring.strategy:" in message
    path.write_text("limits_profile: seed\nsurprise: 1\n")
    with pytest.raises(ConfigError, match="line 2: surprise: Extra inputs are not permitted"):
        load_policy(path)
    path.write_text("weights: [unclosed\n")
    with pytest.raises(ConfigError, match="line 2: not valid YAML"):
        load_policy(path)


def test_ram_bytes_in_gib_helper_is_consistent():
    assert request(ram_gib=2).ram_bytes == 2 * GIB


def test_a_changed_fleet_is_not_answered_from_cached_columns(monkeypatch):
    monkeypatch.setattr(engine, "NUMPY_MIN_CLUSTERS", 1)
    fleet = [(cluster(f"c{i}"), load(volumes=100)) for i in range(5)]
    assert both(request(), fleet).cluster_id == "c0"
    fleet[0] = (fleet[0][0], load(volumes=500))  # the same list object, changed in place
    changed = both(request(), fleet)
    assert changed.cluster_id == "c1" and changed.result("c0").reason == "volume-limit: longhorn 500/500"
    fleet[1] = (cluster("c1", status="draining"), fleet[1][1])
    assert both(request(), fleet).cluster_id == "c2"
