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
# # Longhorn vs Rook-Ceph: when should new clusters go Ceph?
#
# The answer comes first, in words, from `sim.storage_crossover.storage_crossover`: the storage cost model of the
# limits profile (`placement.storage_cost`; every figure with its source and range) priced for both providers at
# every expected cluster size, its crossover swept over the figures' ranges, and turned into a date with the shipped
# stage 2 and stage 3 growth. Then what drives it, how much rests on the operations-cost estimate, the three policies
# of the design document simulated, and the simulation reconciled with the static view.
#
# Smoke mode (the default, what the tests run) uses few draws and short runs; `CAPPLAN_QUICK=0` runs the full sizes.

# %%
import os

os.environ.setdefault("MPLBACKEND", "Agg")  # a kernel has its own (inline) backend; a plain `python` run draws to files
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sim
from sim.notebooks import NotebookMode
from sim.storage_crossover import format_volumes, quarter, storage_crossover
from sim.storage_policies import compare_policies

mode = NotebookMode.from_env()
DRAWS = mode.pick(smoke=12, full=300)
answer = storage_crossover("seed", draws=DRAWS, seed=2026, scenarios_dir=mode.scenarios)
print(answer.sentence)

# %% [markdown]
# The crossover is the expected number of volumes a new cluster will hold above which one Rook-Ceph cluster costs
# less per month than the Longhorn clusters needed for the same volumes (Longhorn splits at its volume limit; every
# cluster brings a control plane, the provider's minimum nodes and its operations cost; Ceph brings dedicated storage
# nodes sized by the replicas' disk). The band is p10-p90 over draws of every storage figure from its catalog range.
# The design document says "Longhorn if <500 volumes per cluster, Ceph if more"; the rows below set that beside the
# model's answer under both profiles.

# %%
print(mode.name, "|", DRAWS, "draws of the storage figures per profile")
published = storage_crossover("published", draws=DRAWS, seed=2026, scenarios_dir=mode.scenarios)


def summary_row(result):
    day, customers = result.dates["p50"]
    return {
        "crossover at the profile's values (volumes/cluster)": result.crossover,
        "p10": result.band["p10"],
        "p50": result.band["p50"],
        "p90": result.band["p90"],
        "p50 without operations cost": result.band_without_operations["p50"],
        "draws moved >10 % by the operations estimate": f"{result.operations_share:.0%}",
        "largest cluster other limits allow (volumes)": round(result.largest_cluster_volumes),
        "from (p50)": quarter(day),
        "customers then (p50)": None if customers is None else round(customers),
    }


answers = {"seed": answer, "published": published}
DESIGN_DOC_VOLUMES = 500  # "Longhorn if <500 volumes per cluster, Ceph if more" (stage 2)
for name, result in answers.items():
    inside = result.band["p10"] <= DESIGN_DOC_VOLUMES <= result.band["p90"]
    print(
        f"{name}: the design document's {DESIGN_DOC_VOLUMES} volumes per cluster is "
        + ("inside" if inside else "OUTSIDE")
        + f" the model's p10-p90 band ({format_volumes(result.band['p10'])} to {format_volumes(result.band['p90'])})"
        + ("." if inside else ": the model and the design document disagree.")
    )
pd.DataFrame({name: summary_row(result) for name, result in answers.items()}).T

# %% [markdown]
# ## How much rests on the operations-cost estimate
#
# The operations cost per cluster-month (engineer time: Longhorn's simple failure modes against Ceph's PG states,
# CRUSH maps and OSD trees) is an estimate, not a price. The answer is computed again with it set to zero for both
# providers, draw by draw.

# %%
for name, result in answers.items():
    without, band = result.band_without_operations, result.band
    print(
        f"{name}: with the estimate p50 {format_volumes(band['p50'])} (p10-p90 {format_volumes(band['p10'])} to "
        f"{format_volumes(band['p90'])}); without it p50 {format_volumes(without['p50'])} (p10-p90 "
        f"{format_volumes(without['p10'])} to {format_volumes(without['p90'])}); "
        f"{result.operations_share:.0%} of the draws move by more than 10 %."
    )
fig, ax = plt.subplots(figsize=(9, 3.5))
for name, result in answers.items():
    cap = result.largest_cluster_volumes
    ax.hist(np.minimum(result.draws["crossover_volumes"], cap), bins=20, alpha=0.5, label=f"{name}, with operations")
    ax.hist(
        np.minimum(result.draws["crossover_volumes_without_operations"], cap),
        bins=20,
        alpha=0.5,
        histtype="step",
        linewidth=2,
        label=f"{name}, without operations",
    )
ax.set(title="Crossover over the draws (no crossover shown at the largest cluster)", xlabel="volumes per cluster")
ax.legend(fontsize="small")
fig.tight_layout()

# %% [markdown]
# ## What drives it: a tornado over the storage figures
#
# The crossover with one figure at its catalog low and one at its high, the others at the seed profile's values.
# Figures that do not move it are left out of the chart (they stay in the table).

# %%
tornado = answer.tornado
moving = tornado[tornado["swing"] > 0].head(12).iloc[::-1]
fig, ax = plt.subplots(figsize=(9, 0.4 * max(len(moving), 3) + 1))
base = tornado.attrs["crossover_at_values"]
cap = answer.largest_cluster_volumes
for position, (_, row) in enumerate(moving.iterrows()):
    low, high = min(row["crossover_at_low"], cap), min(row["crossover_at_high"], cap)
    ax.barh(position, low - base, left=base, color="tab:blue")
    ax.barh(position, high - base, left=base, color="tab:orange")
ax.set_yticks(range(len(moving)), moving["figure"])
ax.axvline(base, color="grey", lw=0.8)
ax.set(title="Crossover with each figure at its low (blue) and high (orange)", xlabel="volumes per cluster")
fig.tight_layout()
tornado[["figure", "low", "value", "high", "unit", "crossover_at_low", "crossover_at_high", "swing"]]

# %% [markdown]
# ## The cost of one cluster's volumes, part by part
#
# At the seed profile's values: each part per volume-month for Longhorn and Rook-Ceph. Longhorn's steps are its
# volume limit (another cluster: a control plane, minimum nodes, operations); Ceph's are its storage nodes.

# %%
costs = answer.costs
fig, ax = plt.subplots(figsize=(9, 4))
for provider, group in costs.groupby("provider"):
    ax.plot(group["volumes"], group["eur_per_volume_month"], label=provider)
ax.axvline(answer.band["p50"], color="grey", ls=":", label="crossover (p50)")
ax.set(xscale="log", xlabel="volumes per cluster", ylabel="EUR per volume-month", title="Cost per volume (seed)")
ax.legend()
fig.tight_layout()
parts = ["storage_ram", "storage_cpu", "minimum_nodes", "control_plane", "storage_nodes", "operations", "total"]
sizes = [100, 250, 500, 1000, 2000]
rows = [
    costs[(costs["provider"] == p) & (costs["volumes"] >= v)].iloc[0] for v in sizes for p in ("longhorn", "rook-ceph")
]
pd.DataFrame(rows).set_index(["volumes", "provider"])[parts].round(0)

# %% [markdown]
# ## From volumes per cluster to a date
#
# The shipped stage 2 and stage 3 growth (expected sign-ups less churn, from each stage's start) and the volumes one
# cluster of the larger region would hold were storage no limit (the region's volumes over as many clusters as the
# other limits need). The band's dates are where that line crosses the band.

# %%
growth = answer.growth
fig, ax = plt.subplots(figsize=(10, 4))
ax.plot(growth["date"], growth["volumes_per_cluster"], label="volumes per cluster (larger region)")
ax.axhspan(min(answer.band["p10"], cap), min(answer.band["p90"], cap), alpha=0.2, color="tab:orange", label="p10-p90")
ax.axhline(min(answer.band["p50"], cap), color="tab:orange", label="crossover p50")
ax.set(title="Shipped growth (stage 2, then stage 3)", xlabel="date", ylabel="volumes per cluster")
ax.legend(fontsize="small")
fig.autofmt_xdate()
fig.tight_layout()
pd.DataFrame(
    {q: {"volumes": answer.band[q], "date": quarter(d), "customers": c} for q, (d, c) in answer.dates.items()}
).T

# %% [markdown]
# ## The design document's three policies, simulated
#
# `scenarios/longhorn-vs-ceph.yaml` (volume-heavy growth) under Longhorn only, Ceph on new clusters ("no big bang":
# old Longhorn clusters wind down by churn) and Ceph from the start, on paired seeds. The fleet cost now counts the
# storage cost model (storage nodes, run nodes bought for replicas' disk, operations). Bands are p10/p50/p90 over the
# runs at the horizon.

# %%
scenario = sim.load_scenario(mode.scenarios / "longhorn-vs-ceph.yaml")
scenario = scenario.model_copy(update={"horizon_years": mode.pick(smoke=0.2, full=3.0)})
comparison = compare_policies(scenario, mode.pick(smoke=1, full=20), seed=2026, time_limit=mode.pick(1.0, 10.0))
bands = comparison.bands.pivot(index="policy", columns="metric", values=["p10", "p50", "p90"])
bands = bands.swaplevel(axis=1).sort_index(axis=1, level=0)
bands.round(1)

# %% [markdown]
# ## Reconciling the static view with the simulation
#
# A simulated fleet's cost is the packing optimum of its services (the fewest run nodes and clusters that hold them,
# priced with the same storage cost model) plus the operator's overhead (headroom, lead times, churn holes). Between
# two policies the optimum's difference is the storage cost's, and so is the static model's at the same volumes; the
# operator overhead is shown apart. The static column leaves out storage CPU, which the simulator does not count
# (shown in its own column).

# %%
agreement = comparison.agreement
for _, row in agreement.iterrows():
    print(
        f"{row['policy']} against Longhorn only: simulated {row['simulated_difference']:+,.0f} EUR/month, of which "
        f"operator overhead {row['operator_overhead_difference']:+,.0f}; storage at the packing optimum "
        f"{row['optimum_difference']:+,.0f}, static model {row['static_difference']:+,.0f}: "
        + ("the same sign." if row["signs_agree"] else "OPPOSITE SIGNS: see the runs below.")
    )
fig, ax = plt.subplots(figsize=(9, 3.5))
recon = comparison.reconciliation.set_index("policy")
recon[["optimum_eur_month", "operator_overhead_eur_month"]].plot.barh(stacked=True, ax=ax)
ax.set(title="Simulated cost = packing optimum + operator overhead (p50 of runs)", xlabel="EUR per month")
fig.tight_layout()
recon.round(0)

# %% [markdown]
# ## Every cost figure and its source
#
# The figures the storage cost model reads, from the seed profile (`placement/data/limits/seed.yaml`), with their
# ranges. `[A]` marks an assumption and `ESTIMATE` the operations cost; `[D]` a figure derived from sources.

# %%
pd.set_option("display.max_colwidth", 200)
answer.sources
