"""Builders for small scenarios in code (the theory tests need many tiny, fast runs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sim.distributions import DAYS_PER_MONTH
from sim.scenario import FixedStorage, Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"

# Run nodes that carry only customers' pods, so a pod cap is the customers' slots (the queueing formulas' servers).
NO_SYSTEM_PODS = {"run_node.system_pods_per_node": 0, "longhorn.system_pods_per_node": 0}
# Capacity that never binds: the theory tests need an M/M/inf system. Ten million pods per node need a /8 pod range,
# and a cluster range that holds a few of those (a /1: 128 node ranges).
UNLIMITED = {
    **NO_SYSTEM_PODS,
    "kubernetes.node_cidr_mask_size": 8,
    "kubernetes.cluster_cidr_mask_size": 1,
    "kubernetes.max_pods_per_node": 1e7,
    "kubernetes.max_pods_cluster": 1e8,
    "kubernetes.max_services_cluster": 1e8,
    "kubernetes.max_namespaces": 1e8,
    "kubernetes.max_etcd_objects": 1e9,
}
FROZEN = {"auto_add_nodes": False, "auto_upgrade_control_plane": False, "auto_shard": False}


def queue_scenario(
    *,
    arrivals_per_day: float,
    lifetime: dict[str, Any],
    horizon_days: float,
    overrides: dict[str, float] | None = None,
    run_nodes: int = 2,
    ctrl: str = "AX162-R",
) -> Scenario:
    """One Longhorn cluster, one 1 MiB service per customer, no volumes, no operator: a queue."""
    return Scenario.model_validate(
        {
            "name": "queue",
            "start_date": "2026-01-01",
            "horizon_days": horizon_days,
            "growth": {"kind": "constant", "rate_per_month": arrivals_per_day * DAYS_PER_MONTH},
            "regions": {"eu-west": 1.0},
            "customers": {"services": {"kind": "fixed", "value": 1}, "ram": {"kind": "fixed", "value": "1Mi"}},
            "churn": lifetime,
            "fleet": {
                "clusters": [{"id": "eu-west-1", "region": "eu-west", "run_nodes": run_nodes, "ctrl_node_type": ctrl}]
            },
            "limits_overrides": UNLIMITED if overrides is None else overrides,
            "operator": FROZEN,
        }
    )


def months(days: float) -> float:
    return days / DAYS_PER_MONTH


@pytest.fixture(scope="session")
def stage1_short(tmp_path_factory) -> Path:
    """Stage 1 cut to 150 days with one packing check on day 120, as a file (for the CLI and determinism tests)."""
    text = (SCENARIOS / "stage1.yaml").read_text().replace("horizon_years: 2", "horizon_days: 150")
    text = re.sub(r"(?m)^packing_checks:.*$", "packing_checks: {days: [120]}", text)
    assert "packing_checks: {days: [120]}" in text
    path = tmp_path_factory.mktemp("scenarios") / "stage1-short.yaml"
    path.write_text(text)
    return path


def rook_ceph_shards(horizon_days: float) -> Scenario:
    """Stage 1 with no node orders: a cluster shards at 150 pods, and every new cluster is Rook-Ceph."""
    scenario = load_scenario(SCENARIOS / "stage1.yaml")
    operator = scenario.operator.model_copy(
        update={
            "auto_add_nodes": False,
            "new_cluster_storage": FixedStorage(kind="fixed", provider="rook-ceph"),
            "shard": scenario.operator.shard.model_copy(update={"pods": 150, "lead_days": 5}),
        }
    )
    return scenario.model_copy(update={"operator": operator, "horizon_days": horizon_days, "horizon_years": None})
