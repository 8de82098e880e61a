# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Longhorn vs Rook-Ceph
#
# When does Longhorn's per-cluster volume limit make a Ceph cluster the cheaper way to add volumes? This notebook reads
# the figures from both limits profiles (`seed`: the design document's numbers; `published`: the limits catalog's),
# computes the crossover, then runs one volume-heavy growth scenario (`scenarios/longhorn-vs-ceph.yaml`) under three
# storage policies as Monte Carlo sweeps (`sim.sweep`), first at the seed's figures and then with Longhorn's practical
# volume limit drawn from its catalog range.
#
# Set `CAPPLAN_QUICK=0` for the real answers (full horizon, more runs per sweep).

# %%
import os

os.environ.setdefault("MPLBACKEND", "Agg")  # a kernel has its own (inline) backend; a plain `python` run draws to files
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import placement
import sim
from sim.notebooks import NotebookMode, NotebookSweeps, band, binding_shares, plot_band

# Smoke mode (the default, and what the tests run): small fixed-seed runs. CAPPLAN_QUICK=0: full mode.
mode = NotebookMode.from_env()
QUICK = not mode.full
ROOT = mode.scenarios.parent
print(mode.name, "| scenarios in", mode.scenarios)
sweeps = NotebookSweeps()  # every sweep of the notebook on one process pool; the last cell shuts it down


# %% [markdown]
# ## Overhead per node and per volume, from both profiles
#
# RAM the storage system takes on every run node (its base) and per volume, priced at the profile's default run node
# (EUR per GiB-month of its RAM, times the price multiplier).

# %%
GIB = 1024**3
rows = []
profiles = {name: placement.load_profile(name).compile() for name in ("seed", "published")}
for name, limits in profiles.items():
    costs = limits.costs
    node = costs.run_node_types[costs.default_run_node_type]
    eur_per_byte_month = node.eur_month * costs.price_multiplier / node.ram_bytes
    for provider, storage in limits.storage.items():
        rows.append(
            {
                "profile": name,
                "provider": provider,
                "max volumes / cluster": storage.max_volumes,
                "min nodes": storage.min_nodes,
                "replicas": storage.replicas,
                "RAM / node (GiB)": storage.base_ram_bytes_per_node / GIB,
                "RAM / volume (MiB)": storage.ram_bytes_per_volume / 1024**2,
                "EUR / node / month": storage.base_ram_bytes_per_node * eur_per_byte_month,
                "EUR / volume / month": storage.ram_bytes_per_volume * eur_per_byte_month,
            }
        )
overhead = pd.DataFrame(rows).set_index(["profile", "provider"])
overhead.round(2)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
overhead["RAM / node (GiB)"].unstack().plot.bar(ax=axes[0], rot=0)
axes[0].set(title="Storage RAM overhead per run node", xlabel="limits profile", ylabel="RAM per node (GiB)")
overhead["EUR / node / month"].unstack().plot.bar(ax=axes[1], rot=0)
axes[1].set(title="Storage overhead cost per run node", xlabel="limits profile", ylabel="EUR per node per month")
fig.tight_layout()

# %% [markdown]
# ## The crossover
#
# Past its volume limit, Longhorn needs *another cluster*: a new control plane (the scenario's `new_cluster_ctrl_nodes`
# on the ladder's first rung) plus its storage overhead on every node. Ceph takes one cluster up to its (much higher)
# volume limit but more RAM per node. Run nodes scale with the workload; the density (volumes per run node) comes from a
# simulator run of the scenario. The crossover is the smallest volume count at which a Ceph fleet costs less per volume
# than the Longhorn fleet for the same volumes. Cluster counts step, so the curves can cross more than once: the table
# gives the first crossing and the count beyond which Ceph stays cheaper.

# %%
base = sim.load_scenario(ROOT / "scenarios" / "longhorn-vs-ceph.yaml")
if QUICK:
    base = base.model_copy(update={"horizon_years": 1.0})
reference = sim.run(base, 0)
end = reference.summary
volumes_per_node = end["volumes_end"] / end["run_nodes_end"]
ctrl_nodes = base.operator.shard.new_cluster_ctrl_nodes
print(f"density from the scenario: {volumes_per_node:.1f} volumes per run node; {ctrl_nodes} control-plane nodes")


def storage_fleet_cost(limits, provider, volumes):
    """EUR/month a fleet of clusters of one provider adds for `volumes` volumes: control planes + storage RAM."""
    storage = limits.storage[provider]
    costs = limits.costs
    node = costs.run_node_types[costs.default_run_node_type]
    eur_per_byte = node.eur_month * costs.price_multiplier / node.ram_bytes
    ctrl = limits.control_plane(limits.control_plane_ladder[0]).eur_month * costs.price_multiplier
    clusters = np.ceil(volumes / storage.max_volumes)
    nodes = np.maximum(np.ceil(volumes / volumes_per_node), clusters * storage.min_nodes)
    ram = nodes * storage.base_ram_bytes_per_node + volumes * storage.ram_bytes_per_volume
    return clusters * ctrl_nodes * ctrl + ram * eur_per_byte


volumes = np.arange(1, 20_001)
crossover = {}
fig, ax = plt.subplots(figsize=(10, 4))
for name, limits in profiles.items():
    lh = storage_fleet_cost(limits, "longhorn", volumes)
    ceph = storage_fleet_cost(limits, "rook-ceph", volumes)
    cheaper = ceph < lh
    # Cluster counts step, so the two curves can cross more than once: report the first crossing and the
    # count beyond which Ceph stays cheaper (None: not within the grid).
    not_cheaper = np.flatnonzero(~cheaper)
    never = f"not up to {volumes[-1]:,}"
    crossover[name] = {
        "Ceph first cheaper at": int(volumes[cheaper.argmax()]) if cheaper.any() else never,
        "Ceph always cheaper from": never if not_cheaper[-1] == len(volumes) - 1 else int(volumes[not_cheaper[-1] + 1]),
        "Longhorn max volumes": limits.storage["longhorn"].max_volumes,
        "EUR / volume at 5,000 (Longhorn)": round(float(lh[4999] / 5000), 3),
        "EUR / volume at 5,000 (Ceph)": round(float(ceph[4999] / 5000), 3),
    }
    ax.plot(volumes, lh / volumes, label=f"Longhorn ({name})")
    ax.plot(volumes, ceph / volumes, "--", label=f"Rook-Ceph ({name})")
ax.set(
    title="Storage overhead per volume (control planes + storage RAM)",
    xlabel="volumes in the fleet",
    ylabel="EUR per volume per month",
    xscale="log",
    yscale="log",
)
ax.legend()
ax.axvline(profiles["seed"].storage["longhorn"].max_volumes, color="grey", ls=":", label="seed Longhorn max volumes")
ax.legend()
pd.DataFrame(crossover).T


# %% [markdown]
# ## One growth scenario, three storage policies
#
# * **Longhorn only**: every new cluster is Longhorn; the fleet shards on the volume limit.
# * **Ceph on new clusters** (the design document's plan): Longhorn until the first volume shard, then new clusters get
#   Rook-Ceph (the scenario file as shipped).
# * **Ceph from the start**: the first cluster and every new one is Rook-Ceph.
#
# The simulator also counts what the overhead model above leaves out: every shard starts part-empty, with the provider's
# minimum nodes and its own HA control plane that climbs the ladder, so the simulated gap can be larger (or of the other
# sign) than the static crossover suggests.


# %%
def with_storage(scenario, first, new_clusters):
    fleet = scenario.fleet.model_copy(
        update={"clusters": [c.model_copy(update={"storage_provider": first}) for c in scenario.fleet.clusters]}
    )
    operator = scenario.operator.model_copy(update={"new_cluster_storage": new_clusters})
    return scenario.model_copy(update={"fleet": fleet, "operator": operator})


longhorn_only = sim.scenario.FixedStorage(kind="fixed", provider="longhorn")
ceph_only = sim.scenario.FixedStorage(kind="fixed", provider="rook-ceph")
policies = {
    "Longhorn only": with_storage(base, "longhorn", longhorn_only),
    "Ceph on new clusters": base,
    "Ceph from the start": with_storage(base, "rook-ceph", ceph_only),
}
POLICY_RUNS = 3 if QUICK else 20
policy_sweeps = {name: sweeps.run(scenario, POLICY_RUNS) for name, scenario in policies.items()}


def horizon_row(result):
    """What a sweep ends with: p50 (and the cost's p10/p90) on the last day, and the first-shard distribution."""
    first = result.first_shard.set_index("statistic")
    cost = band(result, "cost_eur_month").iloc[-1]
    return {
        "clusters (p50)": band(result, "clusters").iloc[-1]["p50"],
        "run nodes (p50)": band(result, "run_nodes").iloc[-1]["p50"],
        "EUR / month at end (p10)": round(cost["p10"]),
        "EUR / month at end (p50)": round(cost["p50"]),
        "EUR / month at end (p90)": round(cost["p90"]),
        "EUR total (p50)": round(band(result, "cost_eur_cumulative").iloc[-1]["p50"]),
        "first shard (p10)": first.loc["p10", "first_shard_date"],
        "first shard (p50)": first.loc["p50", "first_shard_date"],
        "runs sharded": f"{first.loc['p50', 'runs_sharded']} of {first.loc['p50', 'runs_ok']}",
        "first shard triggered by": binding_shares(result, "first_shard"),
    }


policy_table = pd.DataFrame({name: horizon_row(result) for name, result in policy_sweeps.items()}).T
numbers = ["clusters (p50)", "run nodes (p50)", "EUR / month at end (p50)"]
gap = policy_table.loc["Longhorn only", numbers] - policy_table.loc["Ceph on new clusters", numbers]
print(
    f"Longhorn only vs Ceph on new clusters at the horizon (p50 of {POLICY_RUNS} runs each): "
    f"{gap.iloc[0]:+.0f} clusters, {gap.iloc[1]:+.0f} run nodes, {gap.iloc[2]:+,.0f} EUR/month"
)
policy_table

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for (name, result), color in zip(policy_sweeps.items(), ["tab:blue", "tab:orange", "tab:green"], strict=True):
    plot_band(axes[0], result, "cost_eur_month", name, color=color)
    plot_band(axes[1], result, "clusters", name, color=color)
axes[0].set(title=f"Fleet cost ({POLICY_RUNS} runs per policy)", xlabel="date", ylabel="EUR per month")
axes[1].set(title=f"Clusters ({POLICY_RUNS} runs per policy)", xlabel="date", ylabel="clusters")
for ax in axes:
    ax.legend(fontsize="small")
fig.autofmt_xdate()
fig.tight_layout()

# %% [markdown]
# ## Sensitivity to Longhorn's practical volume limit
#
# The ~500 volumes per cluster is soft: the catalog's range is 400 to 1,000+. Each run of the sweeps below draws
# `longhorn.max_volumes` from the seed profile's catalog range (`catalog`: uniform over 400-1,000). Both Longhorn
# policies use the same sweep seed, so run *i* has the same drawn limit and the same simulation seed under each: the
# per-run differences are the policy's. Ceph from the start has no Longhorn cluster and does not depend on the limit.
#
# The tables are the sweeps' own: `first_shard` (p10/p50/p90 of the first-shard day, date and customers),
# `binding_counts` (which limit triggered the first shard / bound first, share of the runs) and `sensitivity` (Spearman
# rho of the drawn limit with the first-shard day, and the tornado swing between the limit's p10 and p90 draws).

# %%
from IPython.display import display

VOLUME_LIMIT = "longhorn.max_volumes=catalog"
LIMIT_RUNS = 8 if QUICK else 100
limit_sweeps = {
    name: sweeps.run(policies[name], LIMIT_RUNS, vary=[VOLUME_LIMIT])
    for name in ("Longhorn only", "Ceph on new clusters")
}
FIRST_SHARD_ROUNDING = {"first_shard_day": 1, "first_shard_customers": 0}
display(
    pd.concat({name: r.first_shard.set_index("statistic") for name, r in limit_sweeps.items()}, names=["policy"]).round(
        FIRST_SHARD_ROUNDING
    )
)
display(
    pd.concat({name: r.binding_counts.set_index("limit") for name, r in limit_sweeps.items()}, names=["policy"]).round(
        2
    )
)
pd.concat({name: r.sensitivity.set_index("parameter") for name, r in limit_sweeps.items()}, names=["policy"]).round(2)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for (name, result), color in zip(limit_sweeps.items(), ["tab:blue", "tab:orange"], strict=True):
    plot_band(axes[0], result, "cost_eur_month", name, color=color)
    plot_band(axes[1], result, "clusters", name, color=color)
axes[0].set(
    title=f"Fleet cost, Longhorn limit drawn from 400-1,000 ({LIMIT_RUNS} runs)", xlabel="date", ylabel="EUR per month"
)
axes[1].set(
    title=f"Clusters, Longhorn limit drawn from 400-1,000 ({LIMIT_RUNS} runs)", xlabel="date", ylabel="clusters"
)
for ax in axes:
    ax.legend(fontsize="small")
fig.autofmt_xdate()
fig.tight_layout()

# %% [markdown]
# Per run, against the limit it drew: the first-shard day, the clusters at the horizon, and what the Longhorn-only fleet
# spends over the horizon beyond the same run with Ceph on new clusters. Both policies are identical up to the first
# shard (the switch to Ceph happens there), so their first-shard points coincide.

# %%
LIMIT = "param:longhorn.max_volumes"
longhorn_runs = limit_sweeps["Longhorn only"].runs
ceph_runs = limit_sweeps["Ceph on new clusters"].runs
assert (longhorn_runs[LIMIT] == ceph_runs[LIMIT]).all()  # paired: run i drew the same limit in both sweeps
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for (name, runs), marker in zip(
    [("Longhorn only", longhorn_runs), ("Ceph on new clusters", ceph_runs)], "os", strict=True
):
    axes[0].scatter(runs[LIMIT], runs["first_shard_day"], marker=marker, label=name)
    axes[1].scatter(runs[LIMIT], runs["clusters_end"], marker=marker, label=name)
axes[0].set(
    title="First shard vs the drawn limit",
    xlabel="Longhorn max volumes per cluster (drawn)",
    ylabel="first-shard day (days from the start)",
)
axes[1].set(
    title="Clusters at the horizon vs the drawn limit",
    xlabel="Longhorn max volumes per cluster (drawn)",
    ylabel="clusters",
)
extra = longhorn_runs["cost_eur_total"] - ceph_runs["cost_eur_total"]
axes[2].scatter(longhorn_runs[LIMIT], extra, color="tab:red")
axes[2].axhline(0, color="grey", lw=0.8)
axes[2].set(
    title="Longhorn only minus Ceph on new clusters",
    xlabel="Longhorn max volumes per cluster (drawn)",
    ylabel="EUR over the horizon (same run)",
)
for ax in axes[:2]:
    ax.legend(fontsize="small")
fig.tight_layout()
pd.DataFrame(
    {
        "Longhorn max volumes": longhorn_runs[LIMIT].round(0),
        "first shard day (Longhorn only)": longhorn_runs["first_shard_day"],
        "first shard day (Ceph on new)": ceph_runs["first_shard_day"],
        "clusters (Longhorn only)": longhorn_runs["clusters_end"],
        "clusters (Ceph on new)": ceph_runs["clusters_end"],
        "EUR total, Longhorn only minus Ceph on new": extra.round(0),
    }
).sort_values("Longhorn max volumes")

# %%
sweeps.shutdown()
