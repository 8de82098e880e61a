"""Property test: whatever the customer mix, the books balance and the engine's limits hold every day."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from placement.limits import load_profile
from sim.scenario import Scenario

mixes = st.fixed_dictionaries(
    {
        "services": st.sampled_from(
            [{"kind": "fixed", "value": 1}, {"kind": "poisson", "mean": 2.5}, {"kind": "geometric", "mean": 2}]
        ),
        "ram": st.sampled_from(
            [{"kind": "fixed", "value": "2Gi"}, {"kind": "lognormal", "median": "1Gi", "sigma": 1.2, "max": "64Gi"}]
        ),
        "volume_probability": st.floats(0, 1),
        "service_delay": st.sampled_from([{"kind": "fixed", "days": 0}, {"kind": "exponential", "mean_days": 10}]),
    }
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mix=mixes,
    rate=st.floats(50, 600),
    churn=st.sampled_from(
        [{"kind": "none"}, {"kind": "monthly", "rate": 0.2}, {"kind": "lognormal", "mean_months": 2, "sigma": 1}]
    ),
    frozen=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_books_balance_and_limits_hold(mix, rate, churn, frozen, seed):
    scenario = Scenario.model_validate(
        {
            "name": "prop",
            "start_date": "2026-01-01",
            "horizon_days": 90,
            "growth": {"kind": "constant", "rate_per_month": rate},
            "regions": {"eu-west": 1},
            "customers": mix,
            "churn": churn,
            "fleet": {"clusters": [{"id": "eu-west-1", "region": "eu-west", "run_nodes": 2}]},
            "operator": {
                "auto_add_nodes": not frozen,
                "auto_shard": not frozen,
                "auto_upgrade_control_plane": not frozen,
                "node_lead_days": 3,
                "shard": {"lead_days": 5, "pods": 400},
            },
        }
    )
    result = sim.run(scenario, seed)
    ts = result.timeseries
    clusters = ts[ts["cluster_id"] != "fleet"]
    limits = load_profile("seed").compile()
    assert (clusters["ram_requested_bytes"] <= clusters["ram_allocatable_bytes"]).all()
    assert (clusters["pods"] <= clusters["run_nodes"] * limits.max_pods_per_node).all()
    assert (clusters["volumes"] <= clusters["max_volumes"]).all()
    assert (clusters["etcd_objects"] <= clusters["ctrl_tight_objects"]).all()
    assert (clusters[["customers", "services", "volumes", "pods", "etcd_objects"]] >= 0).all().all()
    summary = result.summary
    states = result.customers["state"].value_counts()
    # The fleet row counts a customer once per cluster it has a namespace on (spill puts some on two).
    namespaces = ts[ts["cluster_id"] == "fleet"].iloc[-1]["customers"]
    assert summary["customers_end"] == states.get("active", 0) == namespaces - summary["away_namespaces_end"]
    assert summary["customers_signed_up"] == len(result.customers)
    assert summary["placements_rejected"] <= summary["placements_attempted"]
    if frozen:
        assert set(clusters["run_nodes"]) == {2} and clusters["cluster_id"].nunique() == 1
