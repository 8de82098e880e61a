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
# # Growth planning: stages 1 to 4
#
# The design document's scaling progression as four simulator scenarios (`scenarios/stage1..4.yaml`): what each stage
# ends with, the decision table (which limit binds, when, and what the operator did), p10/p50/p90 bands from a Monte
# Carlo sweep (`sim.sweep`) over the uncertain limits, and which limit binds first under the seed profile vs. with the
# published control-plane and objects-per-customer figures, as shares of each sweep's runs.
#
# Quick mode (default) cuts every horizon to half a year and runs few runs per sweep; `CAPPLAN_QUICK=0` runs the stages
# in full.

# %%
import os

os.environ.setdefault("MPLBACKEND", "Agg")  # a kernel has its own (inline) backend; a plain `python` run draws to files
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import placement
import sim
from sim.notebooks import NotebookMode, NotebookSweeps, band, binding_shares

# Smoke mode (the default, and what the tests run): small fixed-seed runs. CAPPLAN_QUICK=0: full mode.
mode = NotebookMode.from_env()
QUICK = not mode.full
ROOT = mode.scenarios.parent
print(mode.name, "| scenarios in", mode.scenarios)
sweeps = NotebookSweeps()  # every sweep of the notebook on one process pool; the last cell shuts it down


# %%
stages = {}
for n in range(1, 5):
    scenario = sim.load_scenario(ROOT / "scenarios" / f"stage{n}.yaml")
    if QUICK:
        scenario = scenario.model_copy(update={"horizon_years": 0.5})
    stages[f"stage{n}"] = scenario
results = {name: sim.run(scenario, 0) for name, scenario in stages.items()}
summary_keys = [
    "start_date",
    "end_date",
    "customers_end",
    "services_end",
    "volumes_end",
    "clusters_end",
    "run_nodes_end",
    "cost_eur_month_end",
    "first_shard_date",
    "first_shard_limit",
]
pd.DataFrame({name: {k: r.summary[k] for k in summary_keys} for name, r in results.items()}).T

# %% [markdown]
# ## The decision table for each stage

# %%
from IPython.display import display

columns = ["name", "first_bind_date", "customers_at_bind", "cluster_id", "action"]
for name, result in results.items():
    table = pd.DataFrame(result.summary["decision_table"])
    bound = table.dropna(subset=["first_bind_date"]) if len(table) else table
    print(f"{name}: {stages[name].description}")
    display(bound[columns])
    print("did not bind:", ", ".join(table.loc[~table.index.isin(bound.index), "limit"]) or "-")

# %%
fig, axes = plt.subplots(2, 2, figsize=(12, 7))
for ax, (name, result) in zip(axes.flat, results.items(), strict=True):
    ts = result.timeseries
    fleet = ts[ts["cluster_id"] == "fleet"]
    ax.plot(fleet["date"], fleet["customers"], label="customers")
    ax.set(title=f"{name}: customers and run nodes", xlabel="date", ylabel="customers")
    twin = ax.twinx()
    twin.plot(fleet["date"], fleet["run_nodes"], color="tab:orange", label="run nodes")
    twin.set_ylabel("run nodes")
    for day in pd.DataFrame(result.summary["decision_table"]).get("first_bind_date", pd.Series(dtype=str)).dropna():
        ax.axvline(pd.Timestamp(day), color="grey", alpha=0.3, lw=0.8)
    ax.legend(loc="upper left")
    twin.legend(loc="lower right")
fig.autofmt_xdate()
fig.tight_layout()

# %% [markdown]
# ## p10/p50/p90 bands from a sweep
#
# Stage 1 (the stage the fleet is in now) as a sweep: every run has its own seed and draws the seed profile's uncertain
# figures from their catalog ranges (Longhorn's practical volume limit, etcd objects per customer and per service). The
# charts are the sweep report's own (`sim.sweep.report.plots`, the same as `report.html` from `sim sweep`): the daily
# fleet metrics' p10/p50/p90 bands, the first-shard distribution, which limit binds first, and a tornado of how far each
# varied figure moves the first-shard day.

# %%
import base64

from IPython.display import Image, display

from sim.sweep.report import plots as sweep_plots

UNCERTAIN = ["longhorn.max_volumes=catalog", "etcd.objects_per_customer=catalog", "etcd.objects_per_service=catalog"]
BAND_RUNS = 8 if QUICK else 100
stage1_sweep = sweeps.run(stages["stage1"], BAND_RUNS, vary=UNCERTAIN)
for title, png in sweep_plots(stage1_sweep):
    print(title)
    display(Image(base64.b64decode(png)))
display(stage1_sweep.first_shard.set_index("statistic").round({"first_shard_day": 1, "first_shard_customers": 0}))
display(stage1_sweep.binding_counts.set_index("limit").round(2))
stage1_sweep.sensitivity.set_index("parameter").round(2)

# %% [markdown]
# ## Which limit binds first, and how it moves
#
# Four variants per stage: the seed profile; the seed with the published profile's control-plane ladder (node types and
# their object capacities); the seed with the published etcd objects per customer and per service (`limits_overrides`);
# and both. The control-plane ladder is not a single figure, so that variant is a profile file: the seed with the
# published `control_plane_types` and `control_plane_ladder` (stage files name control-plane rungs by position, so they
# run on either).
#
# Each (stage, variant) is a sweep that draws Longhorn's volume limit from its catalog range; all sweeps share one seed,
# so run *i* has the same draw and simulation seed in every variant. "Binds first" and "first shard triggered by" are
# the sweeps' `binding_counts` as shares of the runs; the first-shard day is the sweeps' `first_shard` p10/p50/p90.

# %%
import tempfile
from pathlib import Path

import yaml

seed_profile = placement.load_profile("seed")
published = placement.load_profile("published")
hybrid = seed_profile.model_copy(
    update={
        "name": "seed-with-published-control-plane",
        "control_plane_types": published.control_plane_types,
        "control_plane_ladder": published.control_plane_ladder,
    }
)
profile_dir = tempfile.TemporaryDirectory(prefix="capplan-profiles-")  # removed once the sweeps are done
hybrid_path = Path(profile_dir.name) / "seed-published-ctrl.yaml"
hybrid_path.write_text(yaml.safe_dump(hybrid.model_dump(by_alias=True, mode="json"), sort_keys=False))
placement.load_profile(hybrid_path)  # validates the file before any run uses it

etcd_published = {
    path: published.figure(path).value for path in ("etcd.objects_per_customer", "etcd.objects_per_service")
}
variants = {
    "seed": {},
    "published control plane": {"limits_profile": str(hybrid_path)},
    "published objects/customer": {"limits_overrides": etcd_published},
    "both": {"limits_profile": str(hybrid_path), "limits_overrides": etcd_published},
}
VARIANT_RUNS = 2 if QUICK else 10
rows = []
for stage, scenario in stages.items():
    for variant, update in variants.items():
        result = sweeps.run(scenario.model_copy(update=update), VARIANT_RUNS, vary=["longhorn.max_volumes=catalog"])
        first = result.first_shard.set_index("statistic")["first_shard_day"]
        rows.append(
            {
                "stage": stage,
                "variant": variant,
                "binds first": binding_shares(result, "first_bind"),
                "first shard triggered by": binding_shares(result, "first_shard"),
                "first shard day (p10)": first["p10"],
                "first shard day (p50)": first["p50"],
                "first shard day (p90)": first["p90"],
                "clusters (p50)": band(result, "clusters").iloc[-1]["p50"],
                "EUR / month (p50)": band(result, "cost_eur_month").iloc[-1]["p50"],
            }
        )
profile_dir.cleanup()
moves = pd.DataFrame(rows).set_index(["stage", "variant"])
moves.round(1)

# %%
fig, ax = plt.subplots(figsize=(11, 4.2))
width = 0.8 / len(variants)
positions = np.arange(len(stages))
for j, variant in enumerate(variants):
    days = moves.xs(variant, level="variant").loc[list(stages)]
    p10, p50, p90 = (days[f"first shard day ({p})"].to_numpy(dtype=float) for p in ("p10", "p50", "p90"))
    x = positions + (j - (len(variants) - 1) / 2) * width
    ax.bar(x, p50, width, label=variant, yerr=[p50 - p10, p90 - p50], capsize=3)
    for xi, mid, high in zip(x, p50, p90, strict=True):
        ax.text(
            xi,
            0 if np.isnan(high) else high,
            "none" if np.isnan(mid) else f"{mid:.0f}",
            ha="center",
            va="bottom",
            fontsize="x-small",
        )
ax.set_xticks(positions, list(stages))
ax.set(
    title=f"Days until the first shard: p50 (labelled), whiskers p10-p90, none = no shard ({VARIANT_RUNS} runs)",
    xlabel="stage",
    ylabel="days from the stage's start",
)
ax.legend(title="limits variant", fontsize="small")
fig.tight_layout()

# %%
sweeps.shutdown()
