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
# A fleet of four clusters (three in eu-west: two Longhorn, one Rook-Ceph; one in us-east) and a batch of
# `create_service` requests through the placement engine (`placement.select_cluster`): which cluster wins, each
# cluster's score breakdown, and what changes when one cluster approaches its Longhorn volume limit or is set to
# `draining`.
#
# The engine is instant, so quick and full mode differ only in the batch size.

# %%
import os

os.environ.setdefault("MPLBACKEND", "Agg")  # a kernel has its own (inline) backend; a plain `python` run draws to files
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import placement
from sim.notebooks import NotebookMode

# Smoke mode (the default, and what the tests run): small fixed-seed runs. CAPPLAN_QUICK=0: full mode.
mode = NotebookMode.from_env()
QUICK = not mode.full
ROOT = mode.scenarios.parent
print(mode.name, "| scenarios in", mode.scenarios)

# %%
from placement.state import FleetState, RequestIn


def cluster_entry(cluster_id, region, storage, ctrl, nodes, requested, volumes, customers):
    """One state-file entry: `nodes` run nodes of 256 GB, each with `requested` of its RAM taken."""
    services = int(customers * 1.4)
    return {
        "cluster": {
            "id": cluster_id,
            "name": cluster_id.replace("-", " ").title(),
            "region": region,
            "task_queue": f"deployer-{cluster_id}",
            "registry_url": "10.0.0.4:5000",
            "storage_provider": storage,
        },
        "load": {
            "ctrl_node_type": ctrl,
            "volumes": volumes,
            "services": services,
            "customers": customers,
            "pods": services,
            "etcd_objects": 2 * customers + 8 * services,
            "run_nodes": [
                {"name": f"run-{i}", "allocatable_ram": "250Gi", "requested_ram": requested, "pods": services // nodes}
                for i in range(1, nodes + 1)
            ],
        },
    }


fleet_yaml = {
    "clusters": [
        cluster_entry(
            "eu-west-1", "eu-west", "longhorn", "CX52", nodes=4, requested="60Gi", volumes=100, customers=150
        ),
        cluster_entry(
            "eu-west-2", "eu-west", "rook-ceph", "CX52", nodes=6, requested="100Gi", volumes=800, customers=250
        ),
        cluster_entry(
            "eu-west-3", "eu-west", "longhorn", "CX52", nodes=4, requested="150Gi", volumes=300, customers=250
        ),
        cluster_entry("us-east-1", "us-east", "longhorn", "CX32", nodes=2, requested="40Gi", volumes=30, customers=40),
    ]
}
state = FleetState.model_validate(fleet_yaml)
fleet = state.to_model()
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
batch_size = 12 if QUICK else 200
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


steps = np.unique(np.r_[np.linspace(0, max_volumes, 11 if QUICK else 51).astype(int), max_volumes - 1])
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
