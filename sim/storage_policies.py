"""The design document's three storage policies, simulated, and the simulation reconciled with the static crossover.

- **Longhorn only**: every cluster is Longhorn;
- **Ceph on new clusters** ("no big bang"): Longhorn until the first volume shard, then every new cluster is
  Rook-Ceph while the old Longhorn clusters wind down by churn;
- **Ceph from the start**: every cluster is Rook-Ceph.

``compare_policies`` runs each policy on the same seeds (run i of every policy has the same customers), with a
packing check on the last day, and returns per-run rows and p10/p50/p90 bands of cost, clusters, volumes per
cluster and lost customers. ``reconcile`` splits each run's monthly cost into the **packing optimum** of the same
services (the fewest run nodes and clusters that hold them, priced with the same storage cost model) and the
**operator overhead** (what the simulated operator runs beyond it: headroom, lead times, churn holes), and sets the
static model's cost of the same volumes beside the optimum: between two policies the optimum's difference and the
static difference are both storage cost, so they agree in sign where the simulated totals may not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from placement.limits import Limits, load_profile
from placement.storage_cost import Workload, cluster_cost, storage_bill
from sim.scenario import FixedStorage, PackingChecks, Scenario, SwitchStorage
from sim.simulation import run
from sim.storage_crossover import CHALLENGER, INCUMBENT

POLICIES = ("Longhorn only", "Ceph on new clusters", "Ceph from the start")
METRICS = ("cost_eur_month", "clusters", "volumes_per_cluster", "customers_lost", "run_nodes")


def policy_scenarios(scenario: Scenario) -> dict[str, Scenario]:
    """The scenario under each policy (its fleet's first clusters and its new clusters' storage rule)."""

    def with_storage(first: str, new_clusters) -> Scenario:
        clusters = [c.model_copy(update={"storage_provider": first}) for c in scenario.fleet.clusters]
        fleet = scenario.fleet.model_copy(update={"clusters": clusters})
        operator = scenario.operator.model_copy(update={"new_cluster_storage": new_clusters})
        return scenario.model_copy(update={"fleet": fleet, "operator": operator})

    switch_rule = SwitchStorage(kind="switch", before=INCUMBENT, after=CHALLENGER, on_volume_shard=True)
    return {
        POLICIES[0]: with_storage(INCUMBENT, FixedStorage(kind="fixed", provider=INCUMBENT)),
        POLICIES[1]: with_storage(INCUMBENT, switch_rule),
        POLICIES[2]: with_storage(CHALLENGER, FixedStorage(kind="fixed", provider=CHALLENGER)),
    }


@dataclass
class PolicyComparison:
    runs: pd.DataFrame  # one row per (policy, run)
    bands: pd.DataFrame  # per policy and metric: p10, p50, p90
    reconciliation: pd.DataFrame  # per policy (p50 of the runs): simulated, optimum, operator overhead, static
    agreement: pd.DataFrame  # per policy against Longhorn only: the differences and whether their signs agree


def compare_policies(scenario: Scenario, runs: int, *, seed: int = 2026, time_limit: float = 5.0) -> PolicyComparison:
    """Every policy on ``runs`` paired seeds, each with a packing check on its last day."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    last_day = int(scenario.horizon_years * 365.25) - 1
    checks = PackingChecks(days=[last_day], deterministic_time_limit=time_limit)
    seeds = np.random.SeedSequence(seed).spawn(runs)
    rows = []
    for policy, variant in policy_scenarios(scenario).items():
        variant = variant.model_copy(update={"packing_checks": checks})
        for index, run_seed in enumerate(seeds):
            result = run(variant, run_seed)
            rows.append({"policy": policy, "run": index, **_run_row(result, variant)})
    table = pd.DataFrame(rows)
    bands = (
        table.melt(id_vars=["policy", "run"], value_vars=list(METRICS), var_name="metric")
        .groupby(["policy", "metric"], sort=False)["value"]
        .quantile([0.1, 0.5, 0.9])
        .unstack()
        .rename(columns={0.1: "p10", 0.5: "p50", 0.9: "p90"})
        .reset_index()
    )
    reconciliation = table.groupby("policy", sort=False)[list(RECONCILED)].median().reset_index()
    return PolicyComparison(table, bands, reconciliation, agreement(reconciliation))


RECONCILED = (
    "simulated_eur_month",
    "operator_overhead_eur_month",
    "optimum_eur_month",
    "static_eur_month",
    "static_cpu_eur_month",
)


def _run_row(result, scenario: Scenario) -> dict:
    limits = load_profile(scenario.limits_profile).compile()
    ts = result.timeseries
    last = ts["day"].max()
    fleet = ts[(ts["day"] == last) & (ts["cluster_id"] == "fleet")].iloc[0]
    clusters = ts[(ts["day"] == last) & (ts["cluster_id"] != "fleet")]
    row = {
        "cost_eur_month": float(fleet["cost_eur_month"]),
        "cost_eur_total": float(fleet["cost_eur_cumulative"]),
        "clusters": int(fleet["clusters"]),
        "run_nodes": int(fleet["run_nodes"]),
        "volumes": int(fleet["volumes"]),
        "volumes_per_cluster": float(fleet["volumes"]) / max(int(fleet["clusters"]), 1),
        "customers_lost": int(result.summary.get("customers_lost", 0)),
    }
    row.update(reconcile_run(limits, scenario, clusters, result.packing))
    return row


def reconcile_run(limits: Limits, scenario: Scenario, clusters: pd.DataFrame, packing: pd.DataFrame | None) -> dict:
    """One run's last day: the simulated cost (backups apart, the same under every policy), the packing optimum of
    the same services priced by the same cost model, the operator overhead between them, and the static model's
    cost of the same volumes and customers (its CPU part apart: the simulator does not count CPU)."""
    costs = limits.costs
    m = costs.price_multiplier
    node_eur = costs.run_node_types[costs.default_run_node_type].eur_month * m
    top = limits.control_plane(limits.control_plane_ladder[-1]).eur_month * m
    ctrl_nodes = scenario.operator.shard.new_cluster_ctrl_nodes
    simulated = float((clusters["cost_eur_month"] - clusters["backup_eur_month"]).sum())
    optimum = static = static_cpu = 0.0
    groups = clusters.groupby("storage_provider")
    checked = packing[packing["day"] == packing["day"].max()] if packing is not None and len(packing) else None
    for provider, group in groups:
        volumes = float(group["volumes"].sum())
        volume_bytes = float(group["volume_bytes"].sum())
        storage = limits.storage[provider]
        customers_ram = float(group["ram_requested_bytes"].sum()) - volumes * storage.ram_bytes_per_volume
        row = None if checked is None else checked[checked["storage_provider"] == provider]
        if row is not None and len(row) and row["optimal_nodes"].notna().all():
            nodes, count = float(row["optimal_nodes"].sum()), float(row["optimal_clusters"].sum())
        else:  # no packing check: the simulated fleet stands for its own optimum
            nodes, count = float(group["run_nodes"].sum()), float(len(group))
        per_cluster = volume_bytes / max(count, 1)
        bill = storage_bill(limits, provider, nodes / max(count, 1), per_cluster, 1)
        optimum += nodes * node_eur + count * ctrl_nodes * top + count * float(bill.eur_month)
        if volumes > 0:
            customers = float(group["customers"].sum())
            services = float(group["services"].sum())
            workload = Workload(
                customers_per_volume=customers / volumes,
                services_per_volume=services / volumes,
                ram_bytes_per_volume=customers_ram / volumes,
                pods_per_volume=services * scenario.customers.pods_per_service / volumes,
                volume_bytes=volume_bytes / volumes,
            )
            parts = cluster_cost(limits, provider, volumes, workload, ctrl_nodes)
            static += float(parts["total"])
            static_cpu += float(parts["storage_cpu"])
    return {
        "simulated_eur_month": simulated,
        "optimum_eur_month": optimum,
        "operator_overhead_eur_month": simulated - optimum,
        "static_eur_month": static - static_cpu,
        "static_cpu_eur_month": static_cpu,
    }


def agreement(reconciliation: pd.DataFrame) -> pd.DataFrame:
    """Each policy against Longhorn only: the differences of the simulated totals, of the packing optima (storage
    cost, operator overhead removed) and of the static model, and whether the last two agree in sign."""
    base = reconciliation.set_index("policy").loc[POLICIES[0]]
    rows = []
    for _, other in reconciliation.iterrows():
        if other["policy"] == POLICIES[0]:
            continue
        simulated = other["simulated_eur_month"] - base["simulated_eur_month"]
        optimum = other["optimum_eur_month"] - base["optimum_eur_month"]
        static = other["static_eur_month"] - base["static_eur_month"]
        overhead = other["operator_overhead_eur_month"] - base["operator_overhead_eur_month"]
        rows.append(
            {
                "policy": other["policy"],
                "simulated_difference": simulated,
                "operator_overhead_difference": overhead,
                "optimum_difference": optimum,
                "static_difference": static,
                "signs_agree": bool(np.sign(round(optimum)) == np.sign(round(static))),
            }
        )
    return pd.DataFrame(rows)
