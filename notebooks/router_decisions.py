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
# # Router decisions
#
# A fleet of four clusters (`examples/router-fleet.yaml`; three in eu-west: two Longhorn, one Rook-Ceph; one in us-east)
# and a batch of `create_service` requests through the placement engine (`placement.select_cluster`): which cluster
# wins, each cluster's score breakdown, and what changes when one cluster approaches its Longhorn volume limit or is set
# to `draining`. Then the same fleet as the simulator's starting point: what the operator will have to decide and order
# for it, what a customer costs, and which setting to change (the simulator's decision table, procurement calendar, cost
# per customer-month and recommendations).
#
# Smoke mode (the default) places a batch of 12 requests and simulates 90 days; full mode (`CAPPLAN_QUICK=0`) 200
# requests and a year.

# %%
import os

os.environ.setdefault("MPLBACKEND", "Agg")  # a kernel has its own (inline) backend; a plain `python` run draws to files
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

import placement
import sim
from sim.notebooks import NotebookMode, NotebookSweeps

mode = NotebookMode.from_env()
print(mode.name)

# %%
from placement.state import RequestIn, load_state

FLEET_FILE = mode.scenarios.parent / "examples" / "router-fleet.yaml"  # a state file, as `placement select` reads
fleet = load_state(FLEET_FILE)
policy = placement.load_policy(profile="seed")
pd.DataFrame(
    [
        {
            "cluster": c.id,
            "region": c.region,
            "storage": c.storage_provider,
            "status": c.status,
            "run nodes": load.node_count,
            "RAM requested / allocatable (%)": round(100 * load.ram_requested_bytes / load.ram_allocatable_bytes, 1),
            "volumes": load.volumes,
            "etcd objects": load.etcd_objects,
            "control plane": load.ctrl_node_type,
        }
        for c, load in fleet
    ]
).set_index("cluster")

# %% [markdown]
# ## A batch of requests
#
# Requests drawn from a seeded generator: RAM sizes from the plans, half with a volume, regions mostly eu-west. Each
# goes through `select_cluster` against the same snapshot (a batch priced before any of it lands).

# %%
rng = np.random.default_rng(np.random.SeedSequence(8))
batch_size = mode.pick(smoke=12, full=200)
regions = ["eu-west", "us-east", None]  # None: the customer did not ask for a region
requests = [
    RequestIn(
        customer_id=f"cust-{i}",
        region=regions[rng.choice(3, p=[0.7, 0.2, 0.1])],
        ram=str(rng.choice(["256Mi", "512Mi", "1Gi", "2Gi", "8Gi"])),
        volumes=[{"size": "10Gi"}] if rng.random() < 0.5 else [],
        new_customer=bool(rng.random() < 0.5),
    ).to_model()
    for i in range(batch_size)
]
decisions = [placement.select_cluster(request, fleet, policy) for request in requests]
winners = pd.DataFrame(
    [
        {
            "customer": r.customer_id,
            "region": r.region,
            "RAM (MiB)": r.ram_bytes // 1024**2,
            "volumes": len(r.volumes),
            "placed on": d.cluster_id,
            "reason": d.reason,
        }
        for r, d in zip(requests, decisions, strict=True)
    ]
)
winners.head(12)


# %%
def score_breakdown(decision):
    """Per-cluster rows: each scorer's weighted score, or the filter that rejected the cluster."""
    rows = []
    for record in decision.cluster_records():
        row = {
            "cluster": record["cluster_id"],
            "feasible": record["feasible"],
            "total": record["total"],
            "rejected because": record["reason"] if not record["feasible"] else None,
        }
        row.update({score["name"]: score["weighted"] for score in record["scores"]})
        rows.append(row)
    return pd.DataFrame(rows).set_index("cluster")


first = decisions[0]
print(requests[0])
print("->", first.cluster_id, "|", first.reason)
score_breakdown(first)

# %%
scorers = [name for name, _ in policy.weights]
weighted = pd.concat({i: score_breakdown(d) for i, d in enumerate(decisions)}, names=["request", "cluster"])
mean_scores = weighted[weighted["feasible"]].groupby("cluster")[scorers].mean()
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
mean_scores.plot.barh(stacked=True, ax=axes[0])
axes[0].set(
    title="Mean weighted score per cluster, by scorer (feasible only)",
    xlabel="weighted score (points)",
    ylabel="cluster",
)
winners["placed on"].fillna("(not placed)").value_counts().sort_index().plot.bar(ax=axes[1], rot=0)
axes[1].set(title=f"Where the batch of {len(requests)} requests lands", xlabel="cluster", ylabel="requests")
fig.tight_layout()
mean_scores.round(1)

# %% [markdown]
# ## One cluster approaches its volume limit
#
# eu-west-1 (Longhorn) is moved step by step towards the profile's `longhorn.max_volumes`; the same eu-west request with
# one volume is placed against each snapshot.

# %%
import dataclasses

limits = policy.limits
max_volumes = limits.storage["longhorn"].max_volumes
volume_request = placement.model.PlacementRequest(
    customer_id="cust-volume",
    ram_bytes=1024**3,
    region="eu-west",
    volumes=(placement.model.VolumeRequest(10 * 1024**3),),
)


def with_load(fleet, cluster_id, **changes):
    return [(c, dataclasses.replace(load, **changes) if c.id == cluster_id else load) for c, load in fleet]


def with_status(fleet, cluster_id, status):
    return [(dataclasses.replace(c, status=status) if c.id == cluster_id else c, load) for c, load in fleet]


steps = np.unique(np.r_[np.linspace(0, max_volumes, mode.pick(smoke=11, full=51)).astype(int), max_volumes - 1])
rows = []
for volumes in steps:
    decision = placement.select_cluster(volume_request, with_load(fleet, "eu-west-1", volumes=int(volumes)), policy)
    breakdown = score_breakdown(decision)
    rows.append(
        {
            "eu-west-1 volumes": int(volumes),
            "placed on": decision.cluster_id,
            **{f"{c} total": breakdown.loc[c, "total"] for c in ("eu-west-1", "eu-west-2", "eu-west-3")},
            "eu-west-1 rejected because": breakdown.loc["eu-west-1", "rejected because"],
        }
    )
approach = pd.DataFrame(rows).set_index("eu-west-1 volumes")
fig, ax = plt.subplots(figsize=(10, 4))
approach[[c for c in approach.columns if c.endswith("total")]].astype(float).plot(ax=ax, marker=".")
ax.axvline(max_volumes, color="red", ls="--", label=f"Longhorn max volumes ({max_volumes})")
ax.set(
    title="Total score as eu-west-1 fills its Longhorn volumes",
    xlabel="volumes on eu-west-1",
    ylabel="total score (points; missing = rejected)",
)
ax.legend()
approach

# %% [markdown]
# ## eu-west-1 set to `draining`
#
# A draining cluster keeps its customers but takes no new ones: the batch is re-run against the fleet with eu-west-1
# draining, and the winners compared.

# %%
drained = with_status(fleet, "eu-west-1", "draining")
after = [placement.select_cluster(request, drained, policy) for request in requests]
compare = pd.DataFrame(
    {
        "active fleet": [d.cluster_id or "(not placed)" for d in decisions],
        "eu-west-1 draining": [d.cluster_id or "(not placed)" for d in after],
    }
)
counts = pd.DataFrame({col: compare[col].value_counts() for col in compare}).fillna(0).astype(int)
fig, ax = plt.subplots(figsize=(8, 3.8))
counts.plot.bar(ax=ax, rot=0)
ax.set(title="Placements before and after draining eu-west-1", xlabel="cluster", ylabel="requests")
fig.tight_layout()
print("eu-west-1 when draining:", score_breakdown(after[0]).loc["eu-west-1", "rejected because"])
counts

# %% [markdown]
# ## What this fleet needs next
#
# The fleet above as the simulator's starting point (`start_from:` the same state file), growing and churning as stage 2
# assumes, with stage 2's operator. Everything below is the simulator's output for that run: the decisions the operator
# takes (`SimResult.decisions`), what to order by when (`SimResult.orders`, `orders.csv`), the cost per customer-month
# and its parts, and for each limit that forced a decision the next sensible setting tried on the same seed
# (`sim.recommend`).

# %%
from datetime import UTC, datetime

from sim.recommend import recommend
from sim.report_planning import never_bound_line
from sim.start_from.build import read_source, start_from

FORWARD_DAYS = mode.pick(smoke=90, full=365)
base = sim.load_scenario(mode.scenarios / "stage2.yaml").model_copy(
    update={"horizon_days": FORWARD_DAYS, "horizon_years": None, "packing_checks": None}
)
started = start_from(base, read_source(str(FLEET_FILE), datetime(2026, 12, 1, tzinfo=UTC)))
forward = sim.run(started.scenario, 0)
summary = forward.summary
for warning in started.warnings:
    print("note:", warning)
print(
    f"After {FORWARD_DAYS} days: {summary['customers_end']:,} customers on {summary['clusters_end']} clusters and "
    f"{summary['run_nodes_end']} run nodes, EUR {summary['cost_eur_month_end']:,.0f}/month; "
    f"EUR {summary['cost_eur_per_customer_month']:.2f} per customer-month; {len(forward.orders)} orders; "
    f"{summary['customers_lost']} customers lost"
)
print("never bound (peak utilisation):", never_bound_line(summary) or "-")
decisions_ahead = forward.decisions
display(
    decisions_ahead[
        ["decided_date", "effective_date", "status", "cluster_id", "limit_name", "share", "action", "eur_month"]
    ]
)
pd.Series(summary["cost_per_customer_month_breakdown_eur"], name="EUR per customer-month").round(3)

# %%
orders = forward.orders
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
by_cluster = orders.pivot_table(index="cluster_id", columns="kind", values="eur_month", aggfunc="sum", fill_value=0)
if by_cluster.empty:
    axes[0].text(0.5, 0.5, "no orders within the horizon", ha="center", va="center", transform=axes[0].transAxes)
else:
    by_cluster.plot.barh(stacked=True, ax=axes[0])
axes[0].set(title=f"Orders over {FORWARD_DAYS} days, by cluster", xlabel="EUR per month added", ylabel="cluster")
fleet_days = forward.timeseries[forward.timeseries["cluster_id"] == "fleet"]
axes[1].plot(pd.to_datetime(fleet_days["date"]), fleet_days["cost_eur_month"], label="fleet cost")
for order_by in pd.to_datetime(orders.loc[orders["kind"] != "run nodes", "order_by"]):
    axes[1].axvline(order_by, color="grey", alpha=0.4, lw=0.8)
axes[1].set(title="Fleet cost (grey: new clusters and upgrades ordered)", xlabel="date", ylabel="EUR per month")
axes[1].legend(fontsize="small")
fig.autofmt_xdate()
fig.tight_layout()
orders[["order_by", "arrives", "kind", "cluster_id", "what", "eur_month", "setup_eur", "limit"]]

# %%
sweeps = NotebookSweeps(mode)  # smoke mode: the paired seeds in the kernel's process, no workers to start
advice = recommend(started.scenario, forward, 0, band_runs=mode.pick(smoke=3, full=20), executor=sweeps.pool)
sweeps.shutdown()
for item in advice:
    print(f"{item['limit_name']}: {item['verdict']}")
pd.DataFrame(advice, columns=["limit_name", "setting", "was", "to", "saving_eur_month", "binding_shift_days", "helps"])
