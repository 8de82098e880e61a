"""``placement select`` through its real entry point (the installed console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from placement.cli import app

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "examples" / "state.yaml"
PLACEMENT = Path(sys.executable).parent / "placement"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}  # a wide terminal, so table cells are not wrapped
    return subprocess.run(
        [str(PLACEMENT), "select", *args], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env
    )


def test_table_output():
    done = run("--state", str(STATE), "--region", "eu-west", "--ram", "2Gi", "--volume", "10Gi")
    assert done.returncode == 0, done.stderr
    assert "Decision: eu-west-2 (task queue deployer-eu-west-2, node hint run-3)" in done.stdout
    assert "Per-cluster filters and scores" in done.stdout
    assert "status: draining" in done.stdout


def test_json_output_has_the_ocm_debug_keys():
    done = run("--state", str(STATE), "--region", "eu-west", "--ram", "2Gi", "--volume", "10Gi", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["cluster_id"] == "eu-west-2" and data["placed"] is True
    for key in ("filteredPipelineResults", "prioritizeResults", "aggregatedScores", "clusters"):
        assert data[key], key
    assert {c["cluster_id"] for c in data["clusters"]} == {"eu-west-1", "eu-west-2", "us-east-1"}


def test_the_design_documents_short_input_takes_the_policys_defaults(tmp_path):
    short = run("--state", str(STATE), "--region", "eu-west", "--has-volume", "--json")
    full = run("--state", str(STATE), "--region", "eu-west", "--ram", "512Mi", "--volume", "10Gi", "--json")
    assert short.returncode == 0, short.stderr
    assert json.loads(short.stdout) == json.loads(full.stdout)
    policy = tmp_path / "defaults.yaml"
    policy.write_text("defaults: {ram: 2Gi, volume_size: 20Gi}\n")
    custom = run("--state", str(STATE), "--region", "eu-west", "--has-volume", "--policy", str(policy), "--json")
    explicit = run("--state", str(STATE), "--region", "eu-west", "--ram", "2Gi", "--volume", "20Gi", "--json")
    assert json.loads(custom.stdout) == json.loads(explicit.stdout)
    policy.write_text("defaults: {ram: 240Gi}\n")  # more than any run node has free
    too_big = run("--state", str(STATE), "--region", "eu-west", "--policy", str(policy), "--json")
    assert too_big.returncode == 1
    assert json.loads(too_big.stdout)["reason"] == "0/3 clusters fit: 2 ram-fit, 1 status"


def test_nothing_fits_exits_1(tmp_path):
    policy = tmp_path / "strict.yaml"
    policy.write_text("region_mode: strict\n")
    done = run("--state", str(STATE), "--region", "ap-south", "--ram", "2Gi", "--policy", str(policy), "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["reason"] == "0/3 clusters fit: 2 region, 1 status"


runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["select", *args])


def test_bad_quantity_exits_2_naming_the_field():
    result = invoke("--state", str(STATE), "--ram", "two gigs")
    assert result.exit_code == 2
    assert "ram" in result.output and "bad request" in result.output


def test_bad_volume_quantity_exits_2():
    result = invoke("--state", str(STATE), "--ram", "2Gi", "--volume", "lots")
    assert result.exit_code == 2 and "volumes[0].size" in result.output.replace("\n", "")


def test_missing_state_file_exits_2(tmp_path):
    missing = tmp_path / "nope.yaml"
    result = invoke("--state", str(missing), "--ram", "2Gi")
    assert result.exit_code == 2
    assert "nope.yaml" in result.output and "cannot read" in result.output


def test_malformed_state_yaml_names_the_line(tmp_path):
    state = tmp_path / "state.yaml"
    state.write_text("clusters:\n  - cluster:\n      id: a\n    load: [unclosed\n")
    result = invoke("--state", str(state), "--ram", "2Gi")
    assert result.exit_code == 2
    assert "not valid YAML" in result.output and "line " in result.output


def test_invalid_state_field_names_line_and_field(tmp_path):
    text = STATE.read_text().replace("volumes: 497", "volumes: -4", 1)
    state = tmp_path / "state.yaml"
    state.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), start=1) if "volumes: -4" in t)
    result = invoke("--state", str(state), "--ram", "2Gi")
    assert result.exit_code == 2
    assert f"line {line}: clusters[0].load.volumes" in result.output.replace("\n", " ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("limits_profile: seed\nfavourite_colour: blue\n", "line 2: favourite_colour: Extra inputs are not permitted"),
        ("weights:\n  region: 11\n", "line 1: weights: Value error, weight of region must be in 0..10, got 11"),
    ],
)
def test_bad_policy_exits_2_naming_the_key(tmp_path, text, expected):
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    result = invoke("--state", str(STATE), "--ram", "2Gi", "--policy", str(policy))
    assert result.exit_code == 2
    assert expected in result.output.replace("\n", " ")


def test_quota_violation_is_reported_and_exits_1():
    result = invoke("--state", str(STATE), "--ram", "2Gi", "--volume", "100Gi", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["quota_violations"] == ["quota: volumes[0] size 100Gi > 50Gi (plan default)"]


def test_a_provisioning_cluster_may_have_no_load_and_only_it(tmp_path):
    """A cluster on order has no snapshot yet: a state file may list it without ``load`` (the status filter refuses
    it); any other cluster without one is refused, naming the line and the cluster."""
    document = yaml.safe_load(STATE.read_text())
    ordered = {"cluster": {**document["clusters"][1]["cluster"], "id": "eu-west-9", "task_queue": "deployer-eu-west-9",
               "status": "provisioning"}}  # fmt: skip
    document["clusters"].append(ordered)
    state = tmp_path / "state.yaml"
    state.write_text(yaml.safe_dump(document, sort_keys=False))
    result = invoke("--state", str(state), "--region", "eu-west", "--ram", "2Gi", "--json")
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    rejected = {c["cluster_id"]: c["reason"] for c in decision["clusters"] if not c["feasible"]}
    assert rejected["eu-west-9"].startswith("status: ") and "provisioning" in rejected["eu-west-9"]
    assert decision["cluster_id"] != "eu-west-9"
    ordered["cluster"]["status"] = "active"
    state.write_text(yaml.safe_dump(document, sort_keys=False))
    result = invoke("--state", str(state), "--ram", "2Gi")
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "load: required for cluster 'eu-west-9' (status active); only a cluster still provisioning" in said
    assert "line " in said and "clusters[3]" in said
