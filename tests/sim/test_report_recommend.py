"""``sim run --recommend``: the next sensible setting for each binding limit, tried on the same seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import placement.limits
import sim
from sim.assumptions import assumptions
from sim.cli import app
from sim.config import compile_scenario
from sim.overrides import apply_overrides
from sim.recommend import Candidate, NoSetting, candidate, recommend
from sim.report import _run_node_max_pods
from tests.sim.conftest import SCENARIOS

runner = CliRunner()


@pytest.fixture(scope="module")
def stage1_recommended(tmp_path_factory):
    out = tmp_path_factory.mktemp("recommend") / "out"
    args = ["run", str(SCENARIOS / "stage1.yaml"), "--recommend", "--set", "packing_checks=null", "--quiet",
            "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text()), result.output, (out / "report.html").read_text()


def test_stage1_names_max_pods_with_its_saving(stage1_recommended):
    """Must hold (issue 15): on stage 1 the recommendation names max-pods, with its saving."""
    summary, output, html = stage1_recommended
    by_limit = {item["limit"]: item for item in summary["recommendations"]}
    pods = by_limit["pods_per_node"]
    assert pods["override"] == "kubernetes.max_pods_per_node=250" and pods["was"] == "110" and pods["to"] == "250"
    assert pods["helps"] and pods["saving_eur_month"] > 0 and pods["saving_eur_total"] > 0
    # Fewer, fuller nodes: the pods limit first forces a node order later (or never).
    assert pods["first_binds_day_after"] is None or pods["binding_shift_days"] > 0
    assert f"EUR {pods['saving_eur_month']:,.0f}/month on average" in pods["verdict"]
    text = " ".join(output.split())
    assert "max pods per node (kubelet --max-pods) 110 -> 250: saves EUR" in text
    assert "sim compare" in text and "--set-b kubernetes.max_pods_per_node=250" in text
    # Every binding limit gets an answer: a setting with its outcome, or why none helps.
    assert {item["limit"] for item in summary["recommendations"]} >= {"pods_per_node", "max_run_nodes_per_cluster"}
    for item in summary["recommendations"]:
        assert item["verdict"].startswith(("set ", "no setting helps", "no:", "not tried"))
    assert 'id="recommendations"' in html and "Recommendation: set max pods per node" in html


def test_settings_that_cannot_move_a_limit_say_so():
    scenario = sim.load_scenario(SCENARIOS / "stage1.yaml")
    config = compile_scenario(scenario)
    limits, ladder = config.limits, config.ladder
    services = candidate("k8s_services", scenario, limits, ladder)
    assert isinstance(services, NoSetting) and "Kubernetes threshold" in services.reason
    # Both run-node types of the seed profile have 256 GiB: no larger type exists.
    ram = candidate("ram_per_run_node", scenario, limits, ladder)
    assert isinstance(ram, NoSetting) and "largest run-node type" in ram.reason
    # Longhorn's volume limit: Rook-Ceph holds more volumes per cluster.
    volumes = candidate("volumes:longhorn", scenario, limits, ladder)
    assert isinstance(volumes, Candidate) and volumes.override == "operator.new_cluster_storage=rook-ceph"
    assert isinstance(candidate("volumes:rook-ceph", scenario, limits, ladder), NoSetting)
    # max-pods never goes past what a node's pod range holds: 254 pod addresses in a /24, 510 in a /23.
    for mask, now, expected in ((24, 250, "kubernetes.max_pods_per_node=254"), (24, 254, None),
                                (23, 254, "kubernetes.max_pods_per_node=510"), (23, 510, None)):  # fmt: skip
        overrides = {"kubernetes.max_pods_per_node": now, "kubernetes.node_cidr_mask_size": mask}
        raised = scenario.model_copy(update={"limits_overrides": overrides})
        found = candidate("pods_per_node", raised, compile_scenario(raised).limits, ladder)
        assert (found.override if isinstance(found, Candidate) else None) == expected
        if expected is None:
            assert f"pod range (/{mask})" in found.reason
    cap = candidate("max_run_nodes_per_cluster", scenario, limits, ladder)
    assert isinstance(cap, Candidate) and cap.override == "operator.max_run_nodes_per_cluster=20"


def test_max_pods_of_a_run_node_type_that_sets_its_own(tmp_path):
    """A run node type's own max-pods wins over the kubelet default: raising the default would change nothing, so the
    recommendation says where the setting is instead; the report's pods-per-node line reads the type's figure."""
    seed = (Path(placement.limits.__file__).parent / "data" / "limits" / "seed.yaml").read_text()
    own = seed.replace("{name: AX162-R, ram_bytes: 256Gi,", "{name: AX162-R, max_pods: 200, ram_bytes: 256Gi,")
    assert own != seed
    (tmp_path / "own.yaml").write_text(own)
    scenario = sim.load_scenario(SCENARIOS / "stage1.yaml").model_copy(
        update={"limits_profile": str(tmp_path / "own.yaml")}
    )
    config = compile_scenario(scenario)
    assert config.run_node_max_pods == 200
    found = candidate("pods_per_node", scenario, config.limits, config.ladder, config.profile)
    assert isinstance(found, NoSetting) and "AX162-R sets its own max-pods (200)" in found.reason
    rows = {row["name"]: row for row in assumptions(config)}
    assert rows["run node AX162-R: max pods"]["value"] == 200
    assert _run_node_max_pods({"assumptions": list(rows.values())}) == 200


def test_a_band_over_paired_seeds_says_how_sure():
    """``--recommend-runs``: a setting that helps is compared over paired seeds, so the planner sees how sure the
    saving is; the band is ordered and its median agrees in sign with the single paired run."""
    scenario = sim.load_scenario(SCENARIOS / "stage1.yaml")
    year, _ = apply_overrides(scenario, ["packing_checks=null", "horizon_years=0.5"])
    result = sim.run(year, 0)
    items = {item["limit"]: item for item in recommend(year, result, 0, band_runs=3)}
    pods = items["pods_per_node"]
    assert pods["helps"], pods["verdict"]
    band = pods["saving_band"]
    assert band["runs"] == 3 and 0 <= band["cheaper_runs"] <= 3
    assert band["p10_eur_month"] <= band["p50_eur_month"] <= band["p90_eur_month"]
    assert band["p50_eur_month"] > 0 and band["cheaper_runs"] >= 2
    assert f"cheaper on {band['cheaper_runs']} of 3" in pods["verdict"]
    for item in items.values():
        assert "saving_band" not in item or item["helps"]
    with pytest.raises(ValueError, match="band_runs"):
        recommend(year, result, 0, band_runs=0)
