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
# The design document's scaling progression as simulator scenarios (`scenarios/stage1..4.yaml`), read as a planner acts
# on it: what each stage ends with and what a customer costs per month; the decisions the operator takes and when (the
# decision table); what to order, for which cluster, by when (the procurement calendar, `orders.csv`); which setting to
# change and what it saves (the recommendations of `sim run --recommend`); how sure the answer is (p10/p50/p90 bands
# from a sweep); and which limit binds first under the published figures.
#
# Every number below is the simulator's own output (`SimResult.decisions`, `SimResult.orders`, the summary's cost per
# customer-month, `sim.recommend.recommend`, `sim.sweep`); this notebook only selects and plots.
#
# **Smoke mode** (the default): stages 1 and 2 over their first 120 days, a few runs per sweep, fixed seeds. **Full
# mode** (`CAPPLAN_QUICK=0`): all four stages over their full horizons, 100 runs for the bands.

# %%
import base64
import os

os.environ.setdefault("MPLBACKEND", "Agg")  # a kernel has its own (inline) backend; a plain `python` run draws to files
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image, display

import placement
import sim
from sim.notebooks import NotebookMode, NotebookSweeps, band, binding_shares
from sim.recommend import recommend
from sim.report_planning import never_bound_line
from sim.sweep.report import plots as sweep_plots

mode = NotebookMode.from_env()
sweeps = NotebookSweeps(mode)  # every sweep of the notebook on one executor; the last cell shuts it down
SEED = 0
STAGE_NAMES = mode.pick(smoke=["stage1", "stage2"], full=["stage1", "stage2", "stage3", "stage4"])
SMOKE_DAYS = 120
stages = {}
for name in STAGE_NAMES:
    scenario = sim.load_scenario(mode.scenarios / f"{name}.yaml")
    if not mode.full:
        # Packing checks (CP-SAT against the simulated fleet) fall on days past a smoke run's horizon.
        scenario = scenario.model_copy(
            update={"horizon_days": SMOKE_DAYS, "horizon_years": None, "packing_checks": None}
        )
    stages[name] = scenario
print(mode.name, "| stages:", ", ".join(f"{name} ({s.days:.0f} days)" for name, s in stages.items()))

# %% [markdown]
# ## What each stage ends with, and what a customer costs
#
# One run per stage (seed 0). Cost per customer-month is the run's spend over the horizon (run nodes, control plane,
# object storage for volume backups, setup fees) divided by the customer-months it served
# (`sim.procurement.cost_breakdown`).

# %%
results = {name: sim.run(scenario, SEED) for name, scenario in stages.items()}
END_KEYS = {
    "customers_end": "customers",
    "customers_lost": "lost",
    "clusters_end": "clusters",
    "run_nodes_end": "run nodes",
    "cost_eur_month_end": "EUR / month at the end",
    "cost_eur_per_customer_month": "EUR / customer-month",
    "first_shard_date": "first shard",
    "first_shard_limit": "forced by",
}
ends = pd.DataFrame({name: {label: r.summary[key] for key, label in END_KEYS.items()} for name, r in results.items()}).T
for name, r in results.items():
    s = r.summary
    print(
        f"{name}: {s['customers_end']:,} customers on {s['clusters_end']} clusters and {s['run_nodes_end']} run "
        f"nodes after {s['horizon_days']:.0f} days; EUR {s['cost_eur_per_customer_month']:.2f} per customer-month; "
        f"{len(r.orders)} orders"
    )
    # Where the scenario states what the design document expects of its stage, the run's verdict (sim.design_doc).
    for line in (s["design_doc"] or {}).get("lines", []):
        print(f"{name}, design document: {line}")
ends

# %%
per_customer = pd.DataFrame({name: r.summary["cost_per_customer_month_breakdown_eur"] for name, r in results.items()}).T
fig, ax = plt.subplots(figsize=(9, 3.8))
per_customer.plot.barh(stacked=True, ax=ax)
ax.set(
    title="Cost per customer-month, by part (one run per stage)",
    xlabel="EUR per customer-month",
    ylabel="stage",
)
ax.legend(title="part", fontsize="small", loc="lower right")
fig.tight_layout()
per_customer.round(3)

# %% [markdown]
# ## The decisions, and what never bound
#
# The decision table (`SimResult.decisions`, `decisions.csv`): one row per decision the operator took or would have had
# to take, with the date it was decided and takes effect, the limit's level then, the projected breach and the cost.
# Run-node orders are counted here and listed in the procurement calendar below.

# %%
DECISION_COLUMNS = ["decided_date", "effective_date", "status", "cluster_id", "limit_name", "share",
                    "projected_breach_date", "cluster_customers", "action", "eur_month"]  # fmt: skip
for name, r in results.items():
    decisions = r.decisions
    big = decisions[(decisions["kind"] != "run nodes") | (decisions["status"] != "ordered")]
    print(f"{name}: {len(decisions)} decisions, {len(decisions) - len(big)} of them run-node orders")
    display(big[DECISION_COLUMNS])
    print(f"{name}: never bound (peak utilisation): {never_bound_line(r.summary) or '-'}")

# %% [markdown]
# ## The procurement calendar: what to order, by when
#
# Every order the operator placed (`SimResult.orders`, `orders.csv`): what, for which cluster, the date it has to be
# ordered by and the date it arrives, and what it adds to the bill. The chart adds the orders up: the EUR/month the
# fleet's bill grows by, by order date.

# %%
fig, ax = plt.subplots(figsize=(10, 4))
for name, r in results.items():
    orders = r.orders
    if orders.empty:
        continue
    # Stages start years apart: days from each stage's start put them on one axis.
    added = orders.groupby("decided_day")["eur_month"].sum().cumsum()
    ax.step(added.index, added.to_numpy(), where="post", label=f"{name} ({len(orders)} orders)")
    shards = orders[orders["kind"] == "new cluster"]
    ax.scatter(shards["decided_day"], added.loc[shards["decided_day"]].to_numpy(), marker="^", zorder=3)
ax.set(
    title="Orders: EUR/month added to the bill by order date (triangles: new clusters)",
    xlabel="order by (days from the stage's start)",
    ylabel="EUR per month added",
)
ax.legend(fontsize="small")
fig.tight_layout()
calendar = pd.concat({name: r.orders for name, r in results.items()}, names=["stage", "order"])
ORDER_COLUMNS = ["order_by", "arrives", "kind", "cluster_id", "what", "eur_month", "setup_eur", "limit"]
display(calendar.groupby(["stage", "kind"])[["quantity", "eur_month", "setup_eur"]].sum())
calendar[ORDER_COLUMNS].groupby(level="stage").head(6)

# %% [markdown]
# ## What to change: recommendations
#
# For each limit that forced a decision and is a setting (max-pods, run-node type, control-plane rung, storage provider,
# shard thresholds), `sim.recommend` reruns the stage with the next sensible setting on the same seed and reports the
# saving and the shift of the binding date, or why no setting helps. How sure: a setting that helps is also compared
# over more paired seeds (the p10-p90 of its saving, and on how many seeds it is cheaper). Smoke mode: stage 1, 3 seeds;
# full mode: every stage, 20 seeds.

# %%
RECOMMENDED = mode.pick(smoke=["stage1"], full=list(stages))
BAND_SEEDS = mode.pick(smoke=3, full=20)  # a setting that helps is also compared over this many paired seeds
recommendations = pd.DataFrame(
    [
        {"stage": name, **item}
        for name in RECOMMENDED
        for item in recommend(stages[name], results[name], SEED, band_runs=BAND_SEEDS, executor=sweeps.pool)
    ]
)
for row in recommendations.itertuples():
    print(f"{row.stage}, {row.limit_name}: {row.verdict}")
recommendations.reindex(
    columns=["stage", "limit_name", "setting", "was", "to", "saving_eur_month", "binding_shift_days", "helps"]
)

# %% [markdown]
# ## How sure: p10/p50/p90 bands from a sweep
#
# Stage 1 (the stage the fleet is in now) as a sweep: every run has its own seed and draws the seed profile's uncertain
# figures from their catalog ranges (Longhorn's practical volume limit, etcd objects per customer and per service). The
# charts are the sweep report's own (`sim.sweep.report.plots`, the same as `report.html` from `sim sweep`): the daily
# fleet metrics' bands, the first-shard distribution, which limit binds first, and a tornado of how far each varied
# figure moves the first-shard day.

# %%
UNCERTAIN = ["longhorn.max_volumes=catalog", "etcd.objects_per_customer=catalog", "etcd.objects_per_service=catalog"]
BAND_RUNS = mode.pick(smoke=4, full=100)
stage1_sweep = sweeps.run(stages["stage1"], BAND_RUNS, vary=UNCERTAIN)
for title, png in sweep_plots(stage1_sweep):
    print(f"sweep chart: {title}")
    display(Image(base64.b64decode(png)))
display(stage1_sweep.first_shard.set_index("statistic").round({"first_shard_day": 1, "first_shard_customers": 0}))
display(stage1_sweep.binding_counts.set_index("limit").round(2))
stage1_sweep.sensitivity.set_index("parameter").round(2)

# %% [markdown]
# ## Which limit binds first under the published figures
#
# Four variants per stage: the seed profile; the seed with the published profile's control-plane ladder (node types and
# their object capacities); the seed with the published etcd objects per customer and per service (`limits_overrides`);
# and both. The control-plane ladder is not a single figure, so that variant is a profile file: the seed with the
# published `control_plane_types` and `control_plane_ladder`.
#
# Each (stage, variant) is a sweep that draws Longhorn's volume limit from its catalog range; all sweeps share one seed,
# so run *i* has the same draw and simulation seed in every variant. Smoke mode: stage 1, 2 runs per variant.

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
VARIANT_STAGES = mode.pick(smoke=["stage1"], full=list(stages))
VARIANT_RUNS = mode.pick(smoke=2, full=10)
rows = []
for stage in VARIANT_STAGES:
    for variant, update in variants.items():
        result = sweeps.run(
            stages[stage].model_copy(update=update), VARIANT_RUNS, vary=["longhorn.max_volumes=catalog"]
        )
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
positions = np.arange(len(VARIANT_STAGES))
for j, variant in enumerate(variants):
    days = moves.xs(variant, level="variant").loc[VARIANT_STAGES]
    p10, p50, p90 = (days[f"first shard day ({p})"].to_numpy(dtype=float) for p in ("p10", "p50", "p90"))
    x = positions + (j - (len(variants) - 1) / 2) * width
    ax.bar(x, np.nan_to_num(p50), width, label=variant, yerr=np.nan_to_num([p50 - p10, p90 - p50]), capsize=3)
    for xi, mid, high in zip(x, p50, p90, strict=True):
        label = "none" if np.isnan(mid) else f"{mid:.0f}"
        ax.text(xi, 0 if np.isnan(high) else high, label, ha="center", va="bottom", fontsize="x-small")
ax.set_xticks(positions, VARIANT_STAGES)
ax.set(
    title=f"Days until the first shard: p50 (labelled), whiskers p10-p90, none = no shard ({VARIANT_RUNS} runs)",
    xlabel="stage",
    ylabel="days from the stage's start",
)
ax.legend(title="limits variant", fontsize="small")
fig.tight_layout()

# %%
sweeps.shutdown()
