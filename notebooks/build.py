"""Writes the planners' notebooks from the cells below, outputs stripped: ``python notebooks/build.py``.

The notebooks are generated so that a review reads Python, not JSON. Each reads ``CAPPLAN_QUICK``: on (the
default, and what the test suite runs) it shortens horizons and replications; ``CAPPLAN_QUICK=0`` gives the
real answers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''\
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import placement
import sim

# Quick mode (the default, and what CI runs): short horizons, few replications. CAPPLAN_QUICK=0 for real answers.
QUICK = os.environ.get("CAPPLAN_QUICK", "1") != "0"
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "scenarios").is_dir())
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 30)
print("quick mode" if QUICK else "full mode", "| scenarios in", ROOT / "scenarios")'''

REPLICATE = '''\
def replicate(scenario, seeds, root_seed=2026):
    """Independent seeded runs of one scenario: one SeedSequence child per replication."""
    children = np.random.SeedSequence(root_seed).spawn(seeds)
    return [sim.run(scenario, child) for child in children]


def bands(results, column, quantiles=(0.1, 0.5, 0.9)):
    """p10/p50/p90 of a fleet time-series column across replications, by date."""
    frames = []
    for i, result in enumerate(results):
        fleet = result.timeseries[result.timeseries["cluster_id"] == "fleet"][["date", column]]
        frames.append(fleet.assign(replication=i))
    wide = pd.concat(frames).pivot(index="date", columns="replication", values=column)
    out = wide.quantile(list(quantiles), axis=1).T
    out.columns = [f"p{round(q * 100)}" for q in quantiles]
    return out'''


def longhorn_vs_ceph() -> list:
    return [
        new_markdown_cell(
            "# Longhorn vs Rook-Ceph\n\n"
            "When does Longhorn's per-cluster volume limit make a Ceph cluster the cheaper way to add volumes? "
            "This notebook reads the figures from both limits profiles (`seed`: the design document's numbers; "
            "`published`: the limits catalog's), computes the crossover, then runs one volume-heavy growth "
            "scenario (`scenarios/longhorn-vs-ceph.yaml`) under three storage policies through the simulator.\n\n"
            "Set `CAPPLAN_QUICK=0` for the real answers (full horizon, more replications)."
        ),
        new_code_cell(SETUP),
        new_code_cell(REPLICATE),
        new_markdown_cell(
            "## Overhead per node and per volume, from both profiles\n\n"
            "RAM the storage system takes on every run node (its base) and per volume, priced at the profile's "
            "default run node (EUR per GiB-month of its RAM, times the price multiplier)."
        ),
        new_code_cell('''\
GIB = 1024**3
rows = []
profiles = {name: placement.load_profile(name).compile() for name in ("seed", "published")}
for name, limits in profiles.items():
    costs = limits.costs
    node = costs.run_node_types[costs.default_run_node_type]
    eur_per_byte_month = node.eur_month * costs.price_multiplier / node.ram_bytes
    for provider, storage in limits.storage.items():
        rows.append({
            "profile": name,
            "provider": provider,
            "max volumes / cluster": storage.max_volumes,
            "min nodes": storage.min_nodes,
            "replicas": storage.replicas,
            "RAM / node (GiB)": storage.base_ram_bytes_per_node / GIB,
            "RAM / volume (MiB)": storage.ram_bytes_per_volume / 1024**2,
            "EUR / node / month": storage.base_ram_bytes_per_node * eur_per_byte_month,
            "EUR / volume / month": storage.ram_bytes_per_volume * eur_per_byte_month,
        })
overhead = pd.DataFrame(rows).set_index(["profile", "provider"])
overhead.round(2)'''),
        new_code_cell('''\
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
overhead["RAM / node (GiB)"].unstack().plot.bar(ax=axes[0], rot=0)
axes[0].set(title="Storage RAM overhead per run node", xlabel="limits profile", ylabel="RAM per node (GiB)")
overhead["EUR / node / month"].unstack().plot.bar(ax=axes[1], rot=0)
axes[1].set(title="Storage overhead cost per run node", xlabel="limits profile", ylabel="EUR per node per month")
fig.tight_layout()'''),
        new_markdown_cell(
            "## The crossover\n\n"
            "Past its volume limit, Longhorn needs *another cluster*: a new control plane (the scenario's "
            "`new_cluster_ctrl_nodes` on the ladder's first rung) plus its storage overhead on every node. Ceph "
            "takes one cluster up to its (much higher) volume limit but more RAM per node. Run nodes scale with "
            "the workload; the density (volumes per run node) comes from a simulator run of the scenario. "
            "The crossover is the smallest volume count at which a Ceph fleet costs less per volume than the "
            "Longhorn fleet for the same volumes. Cluster counts step, so the curves can cross more than once: "
            "the table gives the first crossing and the count beyond which Ceph stays cheaper."
        ),
        new_code_cell('''\
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
ax.set(title="Storage overhead per volume (control planes + storage RAM)", xlabel="volumes in the fleet",
       ylabel="EUR per volume per month", xscale="log", yscale="log")
ax.legend()
ax.axvline(profiles["seed"].storage["longhorn"].max_volumes, color="grey", ls=":", label="seed Longhorn max volumes")
ax.legend()
pd.DataFrame(crossover).T'''),
        new_markdown_cell(
            "## One growth scenario, three storage policies\n\n"
            "* **Longhorn only**: every new cluster is Longhorn; the fleet shards on the volume limit.\n"
            "* **Ceph on new clusters** (the design document's plan): Longhorn until the first volume shard, "
            "then new clusters get Rook-Ceph (the scenario file as shipped).\n"
            "* **Ceph from the start**: the first cluster and every new one is Rook-Ceph.\n\n"
            "The simulator also counts what the overhead model above leaves out: every shard starts part-empty, "
            "with the provider's minimum nodes and its own HA control plane that climbs the ladder, so the "
            "simulated gap can be larger (or of the other sign) than the static crossover suggests."
        ),
        new_code_cell('''\
def with_storage(scenario, first, new_clusters):
    fleet = scenario.fleet.model_copy(update={
        "clusters": [c.model_copy(update={"storage_provider": first}) for c in scenario.fleet.clusters]})
    operator = scenario.operator.model_copy(update={"new_cluster_storage": new_clusters})
    return scenario.model_copy(update={"fleet": fleet, "operator": operator})


longhorn_only = sim.scenario.FixedStorage(kind="fixed", provider="longhorn")
ceph_only = sim.scenario.FixedStorage(kind="fixed", provider="rook-ceph")
policies = {
    "Longhorn only": with_storage(base, "longhorn", longhorn_only),
    "Ceph on new clusters": base,
    "Ceph from the start": with_storage(base, "rook-ceph", ceph_only),
}
seeds = 2 if QUICK else 10
runs = {name: replicate(scenario, seeds) for name, scenario in policies.items()}
rows = []
for name, results in runs.items():
    for i, result in enumerate(results):
        s = result.summary
        rows.append({"policy": name, "replication": i, "clusters": s["clusters_end"], "run nodes": s["run_nodes_end"],
                     "EUR / month at end": s["cost_eur_month_end"], "EUR total": s["cost_eur_total"],
                     "first shard": s["first_shard_date"], "first shard limit": s["first_shard_limit"]})
per_run = pd.DataFrame(rows)
policy_table = per_run.groupby("policy", sort=False).agg({
    "clusters": "median", "run nodes": "median", "EUR / month at end": "median", "EUR total": "median",
    "first shard": "min", "first shard limit": lambda s: s.mode().iat[0] if s.notna().any() else None})
medians = per_run.groupby("policy", sort=False)[["clusters", "run nodes", "EUR / month at end"]].median()
gap = medians.loc["Longhorn only"] - medians.loc["Ceph on new clusters"]
print(f"Longhorn only vs Ceph on new clusters at the horizon (medians): {gap['clusters']:+.0f} clusters, "
      f"{gap['run nodes']:+.0f} run nodes, {gap['EUR / month at end']:+,.0f} EUR/month")
policy_table'''),
        new_code_cell('''\
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for name, results in runs.items():
    cost = bands(results, "cost_eur_month")
    axes[0].plot(cost.index, cost["p50"], label=name)
    clusters = bands(results, "clusters")
    axes[1].step(clusters.index, clusters["p50"], where="post", label=name)
axes[0].set(title="Fleet cost (median of replications)", xlabel="date", ylabel="EUR per month")
axes[1].set(title="Clusters (median of replications)", xlabel="date", ylabel="clusters")
for ax in axes:
    ax.legend()
fig.autofmt_xdate()
fig.tight_layout()'''),
        new_markdown_cell(
            "## Sensitivity to Longhorn's practical volume limit\n\n"
            "The ~500 volumes per cluster is soft: the catalog's range is 400 to 1,000+. The sweep below runs "
            "the Longhorn-only policy at several values of `longhorn.max_volumes` (a `limits_overrides` entry), "
            "with seeded replications at each, and shows p10/p50/p90 bands."
        ),
        new_code_cell('''\
limits_grid = [400, 700, 1000] if QUICK else [400, 500, 600, 700, 800, 1000, 1200]
seeds = 2 if QUICK else 10
rows = []
for max_volumes in limits_grid:
    scenario = policies["Longhorn only"].model_copy(
        update={"limits_overrides": {**base.limits_overrides, "longhorn.max_volumes": max_volumes}})
    for i, result in enumerate(replicate(scenario, seeds, root_seed=max_volumes)):
        s = result.summary
        rows.append({"longhorn max volumes": max_volumes, "replication": i, "clusters": s["clusters_end"],
                     "EUR / month at end": s["cost_eur_month_end"],
                     "first shard day": s["first_shard_day"] if s["first_shard_day"] is not None else np.nan})
sweep = pd.DataFrame(rows)
sensitivity = sweep.groupby("longhorn max volumes")[["clusters", "EUR / month at end", "first shard day"]].quantile(
    [0.1, 0.5, 0.9]).unstack()
sensitivity.round(1)'''),
        new_code_cell('''\
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
units = {"clusters": "clusters at the horizon", "EUR / month at end": "EUR per month at the horizon",
         "first shard day": "days from the start"}
for ax, (column, unit) in zip(axes, units.items(), strict=True):
    band = sensitivity[column]
    ax.fill_between(band.index, band[0.1], band[0.9], alpha=0.3, label="p10-p90")
    ax.plot(band.index, band[0.5], marker="o", label="p50")
    ax.set(title=f"Longhorn-only: {column}", xlabel="Longhorn max volumes per cluster", ylabel=unit)
    ax.legend()
fig.tight_layout()'''),
    ]


def growth_planning() -> list:
    return [
        new_markdown_cell(
            "# Growth planning: stages 1 to 4\n\n"
            "The design document's scaling progression as four simulator scenarios (`scenarios/stage1..4.yaml`): "
            "what each stage ends with, the decision table (which limit binds, when, and what the operator did), "
            "p10/p50/p90 bands from seeded replications, and which limit binds first under the seed profile vs. "
            "with the published control-plane and objects-per-customer figures.\n\n"
            "Quick mode (default) cuts every horizon to half a year; `CAPPLAN_QUICK=0` runs the stages in full."
        ),
        new_code_cell(SETUP),
        new_code_cell(REPLICATE),
        new_code_cell('''\
stages = {}
for n in range(1, 5):
    scenario = sim.load_scenario(ROOT / "scenarios" / f"stage{n}.yaml")
    if QUICK:
        scenario = scenario.model_copy(update={"horizon_years": 0.5})
    stages[f"stage{n}"] = scenario
results = {name: sim.run(scenario, 0) for name, scenario in stages.items()}
summary_keys = ["start_date", "end_date", "customers_end", "services_end", "volumes_end", "clusters_end",
                "run_nodes_end", "cost_eur_month_end", "first_shard_date", "first_shard_limit"]
pd.DataFrame({name: {k: r.summary[k] for k in summary_keys} for name, r in results.items()}).T'''),
        new_markdown_cell("## The decision table for each stage"),
        new_code_cell('''\
from IPython.display import display

columns = ["name", "first_bind_date", "customers_at_bind", "cluster_id", "action"]
for name, result in results.items():
    table = pd.DataFrame(result.summary["decision_table"])
    bound = table.dropna(subset=["first_bind_date"]) if len(table) else table
    print(f"{name}: {stages[name].description}")
    display(bound[columns])
    print("did not bind:", ", ".join(table.loc[~table.index.isin(bound.index), "limit"]) or "-")'''),
        new_code_cell('''\
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
fig.tight_layout()'''),
        new_markdown_cell(
            "## p10/p50/p90 bands\n\n"
            "Seeded replications of stage 1 (the stage the fleet is in now): customers, run nodes and cost."
        ),
        new_code_cell('''\
replications = replicate(stages["stage1"], 3 if QUICK else 30)
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for ax, (column, unit) in zip(axes, [("customers", "customers"), ("run_nodes", "run nodes"),
                                     ("cost_eur_month", "EUR per month")], strict=True):
    band = bands(replications, column)
    ax.fill_between(band.index, band["p10"], band["p90"], alpha=0.3, label="p10-p90")
    ax.plot(band.index, band["p50"], label="p50")
    ax.set(title=f"stage1: {column.replace('_', ' ')}", xlabel="date", ylabel=unit)
    ax.legend()
fig.autofmt_xdate()
fig.tight_layout()
end = pd.DataFrame([r.summary for r in replications])
end[["customers_end", "clusters_end", "run_nodes_end", "cost_eur_month_end", "first_shard_day"]].quantile(
    [0.1, 0.5, 0.9]).round(1)'''),
        new_markdown_cell(
            "## Which limit binds first, and how it moves\n\n"
            "Four variants per stage: the seed profile; the seed with the published profile's control-plane "
            "ladder (node types and their object capacities); the seed with the published etcd objects per "
            "customer and per service (`limits_overrides`); and both. The control-plane ladder is not a single "
            "figure, so that variant is a profile file: the seed with the published `control_plane_types` and "
            "`control_plane_ladder` (stage files name control-plane rungs by position, so they run on either)."
        ),
        new_code_cell('''\
import tempfile

import yaml

seed_profile = placement.load_profile("seed")
published = placement.load_profile("published")
hybrid = seed_profile.model_copy(update={"name": "seed-with-published-control-plane",
                                         "control_plane_types": published.control_plane_types,
                                         "control_plane_ladder": published.control_plane_ladder})
profile_dir = tempfile.TemporaryDirectory(prefix="capplan-profiles-")  # removed at the end of the next cell
hybrid_path = Path(profile_dir.name) / "seed-published-ctrl.yaml"
hybrid_path.write_text(yaml.safe_dump(hybrid.model_dump(by_alias=True, mode="json"), sort_keys=False))
placement.load_profile(hybrid_path)  # validates the file before any run uses it

etcd_published = {path: published.figure(path).value
                  for path in ("etcd.objects_per_customer", "etcd.objects_per_service")}
variants = {
    "seed": {},
    "published control plane": {"limits_profile": str(hybrid_path)},
    "published objects/customer": {"limits_overrides": etcd_published},
    "both": {"limits_profile": str(hybrid_path), "limits_overrides": etcd_published},
}


def binding_order(result):
    """The limits that bound, in the order they first bound."""
    table = pd.DataFrame(result.summary["decision_table"])
    if not len(table):
        return table
    return table.dropna(subset=["first_bind_day"]).sort_values("first_bind_day", kind="stable")


rows = []
for stage, scenario in stages.items():
    for variant, update in variants.items():
        result = sim.run(scenario.model_copy(update=update), 0)
        s = result.summary
        order = binding_order(result)
        first, second = (order.iloc[i] if len(order) > i else None for i in (0, 1))
        rows.append({"stage": stage, "variant": variant,
                     "binds first": None if first is None else first["limit"],
                     "on": None if first is None else first["first_bind_date"],
                     "at customers": None if first is None else first["customers_at_bind"],
                     "binds second": None if second is None else second["limit"],
                     "first shard limit": s["first_shard_limit"], "first shard": s["first_shard_date"],
                     "first shard day": s["first_shard_day"],
                     "clusters": s["clusters_end"], "EUR / month": s["cost_eur_month_end"]})
profile_dir.cleanup()
moves = pd.DataFrame(rows).set_index(["stage", "variant"])
fig, ax = plt.subplots(figsize=(10, 4))
moves["first shard day"].unstack("variant")[list(variants)].plot.bar(ax=ax, rot=0)
ax.set(title="Days until the first shard, by stage and limits variant (missing: no shard in the horizon)",
       xlabel="stage", ylabel="days from the stage's start")
fig.tight_layout()
moves.drop(columns="first shard day")'''),
    ]


ROUTER_SETUP = SETUP.replace("import sim\n", "")


def router_decisions() -> list:
    return [
        new_markdown_cell(
            "# Router decisions\n\n"
            "A fleet of four clusters (three in eu-west: two Longhorn, one Rook-Ceph; one in us-east) and a batch "
            "of `create_service` requests through the placement engine "
            "(`placement.select_cluster`): which cluster wins, each cluster's score breakdown, and what changes "
            "when one cluster approaches its Longhorn volume limit or is set to `draining`.\n\n"
            "The engine is instant, so quick and full mode differ only in the batch size."
        ),
        new_code_cell(ROUTER_SETUP),
        new_code_cell('''\
from placement.state import FleetState, RequestIn


def cluster_entry(cluster_id, region, storage, ctrl, nodes, requested, volumes, customers):
    """One state-file entry: `nodes` run nodes of 256 GB, each with `requested` of its RAM taken."""
    services = int(customers * 1.4)
    return {
        "cluster": {"id": cluster_id, "name": cluster_id.replace("-", " ").title(), "region": region,
                    "task_queue": f"deployer-{cluster_id}", "registry_url": "10.0.0.4:5000",
                    "storage_provider": storage},
        "load": {"ctrl_node_type": ctrl, "volumes": volumes, "services": services, "customers": customers,
                 "pods": services, "etcd_objects": 2 * customers + 8 * services,
                 "run_nodes": [{"name": f"run-{i}", "allocatable_ram": "250Gi", "requested_ram": requested,
                                "pods": services // nodes} for i in range(1, nodes + 1)]},
    }


fleet_yaml = {"clusters": [
    cluster_entry("eu-west-1", "eu-west", "longhorn", "CX52", nodes=4, requested="60Gi", volumes=100, customers=150),
    cluster_entry("eu-west-2", "eu-west", "rook-ceph", "CX52", nodes=6, requested="100Gi", volumes=800, customers=250),
    cluster_entry("eu-west-3", "eu-west", "longhorn", "CX52", nodes=4, requested="150Gi", volumes=300, customers=250),
    cluster_entry("us-east-1", "us-east", "longhorn", "CX32", nodes=2, requested="40Gi", volumes=30, customers=40),
]}
state = FleetState.model_validate(fleet_yaml)
fleet = state.to_model()
policy = placement.load_policy(profile="seed")
pd.DataFrame([{"cluster": c.id, "region": c.region, "storage": c.storage_provider, "status": c.status,
               "run nodes": load.node_count, "RAM requested / allocatable (%)":
               round(100 * load.ram_requested_bytes / load.ram_allocatable_bytes, 1),
               "volumes": load.volumes, "etcd objects": load.etcd_objects, "control plane": load.ctrl_node_type}
              for c, load in fleet]).set_index("cluster")'''),
        new_markdown_cell(
            "## A batch of requests\n\n"
            "Requests drawn from a seeded generator: RAM sizes from the plans, half with a volume, regions mostly "
            "eu-west. Each goes through `select_cluster` against the same snapshot (a batch priced before any "
            "of it lands)."
        ),
        new_code_cell('''\
rng = np.random.default_rng(np.random.SeedSequence(8))
batch_size = 12 if QUICK else 200
regions = ["eu-west", "us-east", None]  # None: the customer did not ask for a region
requests = [
    RequestIn(customer_id=f"cust-{i}", region=regions[rng.choice(3, p=[0.7, 0.2, 0.1])],
              ram=str(rng.choice(["256Mi", "512Mi", "1Gi", "2Gi", "8Gi"])),
              volumes=[{"size": "10Gi"}] if rng.random() < 0.5 else [],
              new_customer=bool(rng.random() < 0.5)).to_model()
    for i in range(batch_size)
]
decisions = [placement.select_cluster(request, fleet, policy) for request in requests]
winners = pd.DataFrame([{"customer": r.customer_id, "region": r.region, "RAM (MiB)": r.ram_bytes // 1024**2,
                         "volumes": len(r.volumes), "placed on": d.cluster_id, "reason": d.reason}
                        for r, d in zip(requests, decisions, strict=True)])
winners.head(12)'''),
        new_code_cell('''\
def score_breakdown(decision):
    """Per-cluster rows: each scorer's weighted score, or the filter that rejected the cluster."""
    rows = []
    for record in decision.cluster_records():
        row = {"cluster": record["cluster_id"], "feasible": record["feasible"], "total": record["total"],
               "rejected because": record["reason"] if not record["feasible"] else None}
        row.update({score["name"]: score["weighted"] for score in record["scores"]})
        rows.append(row)
    return pd.DataFrame(rows).set_index("cluster")


first = decisions[0]
print(requests[0])
print("->", first.cluster_id, "|", first.reason)
score_breakdown(first)'''),
        new_code_cell('''\
scorers = [name for name, _ in policy.weights]
weighted = pd.concat({i: score_breakdown(d) for i, d in enumerate(decisions)}, names=["request", "cluster"])
mean_scores = weighted[weighted["feasible"]].groupby("cluster")[scorers].mean()
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
mean_scores.plot.barh(stacked=True, ax=axes[0])
axes[0].set(title="Mean weighted score per cluster, by scorer (feasible only)", xlabel="weighted score (points)",
            ylabel="cluster")
winners["placed on"].fillna("(not placed)").value_counts().sort_index().plot.bar(ax=axes[1], rot=0)
axes[1].set(title=f"Where the batch of {len(requests)} requests lands", xlabel="cluster", ylabel="requests")
fig.tight_layout()
mean_scores.round(1)'''),
        new_markdown_cell(
            "## One cluster approaches its volume limit\n\n"
            "eu-west-1 (Longhorn) is moved step by step towards the profile's `longhorn.max_volumes`; the same "
            "eu-west request with one volume is placed against each snapshot."
        ),
        new_code_cell('''\
import dataclasses

limits = policy.limits
max_volumes = limits.storage["longhorn"].max_volumes
volume_request = placement.model.PlacementRequest(
    customer_id="cust-volume", ram_bytes=1024**3, region="eu-west",
    volumes=(placement.model.VolumeRequest(10 * 1024**3),))


def with_load(fleet, cluster_id, **changes):
    return [(c, dataclasses.replace(load, **changes) if c.id == cluster_id else load) for c, load in fleet]


def with_status(fleet, cluster_id, status):
    return [(dataclasses.replace(c, status=status) if c.id == cluster_id else c, load) for c, load in fleet]


steps = np.unique(np.r_[np.linspace(0, max_volumes, 11 if QUICK else 51).astype(int), max_volumes - 1])
rows = []
for volumes in steps:
    decision = placement.select_cluster(volume_request, with_load(fleet, "eu-west-1", volumes=int(volumes)), policy)
    breakdown = score_breakdown(decision)
    rows.append({"eu-west-1 volumes": int(volumes), "placed on": decision.cluster_id,
                 **{f"{c} total": breakdown.loc[c, "total"] for c in ("eu-west-1", "eu-west-2", "eu-west-3")},
                 "eu-west-1 rejected because": breakdown.loc["eu-west-1", "rejected because"]})
approach = pd.DataFrame(rows).set_index("eu-west-1 volumes")
fig, ax = plt.subplots(figsize=(10, 4))
approach[[c for c in approach.columns if c.endswith("total")]].astype(float).plot(ax=ax, marker=".")
ax.axvline(max_volumes, color="red", ls="--", label=f"Longhorn max volumes ({max_volumes})")
ax.set(title="Total score as eu-west-1 fills its Longhorn volumes", xlabel="volumes on eu-west-1",
       ylabel="total score (points; missing = rejected)")
ax.legend()
approach'''),
        new_markdown_cell(
            "## eu-west-1 set to `draining`\n\n"
            "A draining cluster keeps its customers but takes no new ones: the batch is re-run against the fleet "
            "with eu-west-1 draining, and the winners compared."
        ),
        new_code_cell('''\
drained = with_status(fleet, "eu-west-1", "draining")
after = [placement.select_cluster(request, drained, policy) for request in requests]
compare = pd.DataFrame({"active fleet": [d.cluster_id or "(not placed)" for d in decisions],
                        "eu-west-1 draining": [d.cluster_id or "(not placed)" for d in after]})
counts = pd.DataFrame({col: compare[col].value_counts() for col in compare}).fillna(0).astype(int)
fig, ax = plt.subplots(figsize=(8, 3.8))
counts.plot.bar(ax=ax, rot=0)
ax.set(title="Placements before and after draining eu-west-1", xlabel="cluster", ylabel="requests")
fig.tight_layout()
print("eu-west-1 when draining:", score_breakdown(after[0]).loc["eu-west-1", "rejected because"])
counts'''),
    ]


NOTEBOOKS = {
    "longhorn_vs_ceph.ipynb": longhorn_vs_ceph,
    "growth_planning.ipynb": growth_planning,
    "router_decisions.ipynb": router_decisions,
}


def build(out_dir: Path = HERE) -> list[Path]:
    written = []
    for filename, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells())
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.metadata["language_info"] = {"name": "python"}
        for index, cell in enumerate(notebook.cells):
            cell.id = f"{Path(filename).stem.replace('_', '-')}-{index}"
        nbformat.validate(notebook)
        target = out_dir / filename
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", dir=out_dir)
        os.close(fd)
        try:
            nbformat.write(notebook, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


if __name__ == "__main__":
    for path in build():
        print(path)
