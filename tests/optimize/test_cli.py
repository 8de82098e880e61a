import json
import subprocess
import sys
from pathlib import Path

import pytest

PLACEMENT = [sys.executable, "-m", "placement", "optimize"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PLACEMENT, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "services.yaml").write_text(
        "services:\n  - {name: a, ram: 100Gi, volume: 10Gi}\n  - {name: b, ram: 100Gi}\n  - {name: c, ram: 150Gi}\n"
    )
    (tmp_path / "huge.yaml").write_text("services:\n  - {name: whale, ram: 300Gi}\n")
    (tmp_path / "bad.yaml").write_text("services:\n  - {name: a, ram: lots}\n")
    (tmp_path / "fleet.yaml").write_text(
        "drain: c1\nclusters:\n"
        "  - {id: c1, status: draining, ctrl_node_type: CX32, nodes: [{name: n1, allocatable: 64Gi}],\n"
        "     services: [{name: s1, ram: 8Gi, volume: 20Gi, node: n1}, {name: s2, ram: 4Gi, node: n1}]}\n"
        "  - {id: c2, ctrl_node_type: CX32, nodes: [{name: m1, allocatable: 16Gi}]}\n"
    )
    (tmp_path / "demand.yaml").write_text("customers: 10\nservices:\n  - {ram: 2Gi, count: 100}\n")
    (tmp_path / "bad_demand.yaml").write_text("customers: 10\nservices:\n  - {ram: 2Gi, count: 0}\n")
    return tmp_path


def test_pack_json(files):
    result = run("pack", "--services", str(files / "services.yaml"), "--json", "--time-limit", "5")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["nodes"] == 2 and report["nodes_outcome"]["status"] == "OPTIMAL"
    assert report["greedy_to_optimal_nodes"] == report["greedy_nodes"] / report["nodes"]


def test_pack_table_reports_status(files):
    result = run("pack", "--services", str(files / "services.yaml"), "--force-solver", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "status OPTIMAL (cp-sat)" in result.stdout and "1 workers" in result.stdout


def test_bad_input_exits_2_naming_the_field(files):
    result = run("pack", "--services", str(files / "bad.yaml"))
    assert result.returncode == 2 and "services[0].ram" in result.stderr
    result = run("capacity", "--demand", str(files / "bad_demand.yaml"))
    assert result.returncode == 2 and "services[0].count" in result.stderr


def test_infeasible_exits_1_with_the_reason(files):
    result = run("pack", "--services", str(files / "huge.yaml"))
    assert result.returncode == 1 and "ram" in result.stderr and "whale" in result.stderr


def test_drain_and_capacity_json(files):
    result = run("drain", "--fleet", str(files / "fleet.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [m["service"] for m in plan["moves"]] == ["s1", "s2"] and plan["total_weight"] == 22
    result = run("capacity", "--demand", str(files / "demand.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"]["status"] == "OPTIMAL"


def test_pack_reports_both_greedy_strategies_and_which_to_use(files):
    result = run("pack", "--services", str(files / "services.yaml"))
    assert result.returncode == 0, result.stderr
    assert "least_allocated (policy)" in result.stdout and "most_allocated" in result.stdout
    assert "Use least_allocated (spread)" in result.stdout and "RAM in MiB" in result.stdout
    report = json.loads(run("pack", "--services", str(files / "services.yaml"), "--json").stdout)
    assert report["greedy_strategy"] == "least_allocated"
    assert report["most_allocated_to_optimal_nodes"] == report["most_allocated_nodes"] / report["nodes"]
    assert report["l2_nodes"] <= report["nodes"] and report["ram_rounding"].startswith("RAM in MiB")


def test_capacity_table_shows_the_packing_check(files):
    result = run("capacity", "--demand", str(files / "demand.yaml"))
    assert result.returncode == 0, result.stderr
    assert "Packing check: each cluster's services pack onto its planned run nodes" in result.stdout


def test_capacity_takes_the_providers_to_plan_with_and_refuses_unknown_ones(files):
    result = run("capacity", "--demand", str(files / "demand.yaml"), "--provider", "rook-ceph", "--json")
    assert result.returncode == 0, result.stderr
    assert {c["provider"] for c in json.loads(result.stdout)["clusters"]} == {"rook-ceph"}
    result = run("capacity", "--demand", str(files / "demand.yaml"), "--provider", "portworx")
    assert result.returncode == 2 and "providers" in result.stderr and "portworx" in result.stderr


def test_drain_refuses_a_provider_the_profile_lacks(files):
    fleet = (files / "fleet.yaml").read_text().replace("{id: c2,", "{id: c2, storage_provider: portworx,")
    (files / "portworx.yaml").write_text(fleet)
    result = run("drain", "--fleet", str(files / "portworx.yaml"))
    assert result.returncode == 2 and "storage_provider" in result.stderr and "'portworx'" in result.stderr
