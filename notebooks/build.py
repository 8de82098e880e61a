"""Writes the planners' notebooks from the cells below, outputs stripped: ``python notebooks/build.py``.

The notebooks are generated so that a review reads Python, not JSON. Each reads ``CAPPLAN_QUICK``: on (the
default, and what the test suite runs) it shortens horizons and replications; ``CAPPLAN_QUICK=0`` gives the
real answers.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from placement.atomic import atomic_write

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

SWEEPS = '''\
from sim.sweep import process_pool

# Every sweep in this notebook shares one local process pool, so its workers start once. It works from a Jupyter
# kernel (no `__main__` file): the pool runs sim.sweep's own importable `run_chunk`, and nothing defined in the
# notebook is pickled. The notebook's last cell shuts it down.
pool = process_pool()


def run_sweep(scenario, runs, vary=(), seed=2026):
    """`sim.sweep` on the notebook's pool. Run i gets the same draw and seed in every sweep with the same `vary`
    and `seed`, so sweeps of different scenarios are paired run by run. A run that raised stops the notebook.
    The sensitivity is of the first-shard day (`metric="first_shard"`), the question these notebooks ask."""
    result = sim.sweep(scenario, runs, vary=list(vary), executor=pool, seed=seed, metric="first_shard")
    assert result.failed.empty, result.failed[["run", "seed_spawn_key", "error"]].to_string()
    return result


def band(result, metric, scale=1):
    """One daily fleet metric's p10/p50/p90 by date, read from the sweep's own bands table."""
    table = result.bands[result.bands["metric"] == metric].set_index("date")
    return table[["p10", "p50", "p90"]] / scale


def plot_band(ax, result, metric, label, scale=1, color=None):
    """The p10-p90 band shaded and the p50 as a line."""
    b = band(result, metric, scale)
    ax.fill_between(b.index, b["p10"], b["p90"], alpha=0.25, color=color, linewidth=0)
    ax.plot(b.index, b["p50"], color=color, label=f"{label} (p50; band p10-p90)")


def shares(result, which):
    """The sweep's binding counts as text: each limit's share of the runs that it triggered the first shard in
    (`which="first_shard"`) or bound first in (`which="first_bind"`)."""
    counts = result.binding_counts.sort_values(f"{which}_runs", ascending=False, kind="stable")
    counts = counts[counts[f"{which}_runs"] > 0]
    pairs = zip(counts["limit"], counts[f"{which}_share"], strict=True)
    return ", ".join(f"{limit} {share:.0%}" for limit, share in pairs)'''


def longhorn_vs_ceph() -> list:
    return [
        new_markdown_cell(
            "# Longhorn vs Rook-Ceph\n\n"
            "When does Longhorn's per-cluster volume limit make a Ceph cluster the cheaper way to add volumes? "
            "This notebook reads the figures from both limits profiles (`seed`: the design document's numbers; "
            "`published`: the limits catalog's), computes the crossover, then runs one volume-heavy growth "
            "scenario (`scenarios/longhorn-vs-ceph.yaml`) under three storage policies as Monte Carlo sweeps "
            "(`sim.sweep`), first at the seed's figures and then with Longhorn's practical volume limit drawn "
            "from its catalog range.\n\n"
            "Set `CAPPLAN_QUICK=0` for the real answers (full horizon, more runs per sweep)."
        ),
        new_code_cell(SETUP),
        new_code_cell(SWEEPS),
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
POLICY_RUNS = 3 if QUICK else 20
policy_sweeps = {name: run_sweep(scenario, POLICY_RUNS) for name, scenario in policies.items()}


def horizon_row(result):
    """What a sweep ends with: p50 (and the cost's p10/p90) on the last day, and the first-shard distribution."""
    first = result.first_shard.set_index("statistic")
    cost = band(result, "cost_eur_month").iloc[-1]
    return {"clusters (p50)": band(result, "clusters").iloc[-1]["p50"],
            "run nodes (p50)": band(result, "run_nodes").iloc[-1]["p50"],
            "EUR / month at end (p10)": round(cost["p10"]), "EUR / month at end (p50)": round(cost["p50"]),
            "EUR / month at end (p90)": round(cost["p90"]),
            "EUR total (p50)": round(band(result, "cost_eur_cumulative").iloc[-1]["p50"]),
            "first shard (p10)": first.loc["p10", "first_shard_date"],
            "first shard (p50)": first.loc["p50", "first_shard_date"],
            "runs sharded": f"{first.loc['p50', 'runs_sharded']} of {first.loc['p50', 'runs_ok']}",
            "first shard triggered by": shares(result, "first_shard")}


policy_table = pd.DataFrame({name: horizon_row(result) for name, result in policy_sweeps.items()}).T
numbers = ["clusters (p50)", "run nodes (p50)", "EUR / month at end (p50)"]
gap = policy_table.loc["Longhorn only", numbers] - policy_table.loc["Ceph on new clusters", numbers]
print(f"Longhorn only vs Ceph on new clusters at the horizon (p50 of {POLICY_RUNS} runs each): "
      f"{gap.iloc[0]:+.0f} clusters, {gap.iloc[1]:+.0f} run nodes, {gap.iloc[2]:+,.0f} EUR/month")
policy_table'''),
        new_code_cell('''\
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for (name, result), color in zip(policy_sweeps.items(), ["tab:blue", "tab:orange", "tab:green"], strict=True):
    plot_band(axes[0], result, "cost_eur_month", name, color=color)
    plot_band(axes[1], result, "clusters", name, color=color)
axes[0].set(title=f"Fleet cost ({POLICY_RUNS} runs per policy)", xlabel="date", ylabel="EUR per month")
axes[1].set(title=f"Clusters ({POLICY_RUNS} runs per policy)", xlabel="date", ylabel="clusters")
for ax in axes:
    ax.legend(fontsize="small")
fig.autofmt_xdate()
fig.tight_layout()'''),
        new_markdown_cell(
            "## Sensitivity to Longhorn's practical volume limit\n\n"
            "The ~500 volumes per cluster is soft: the catalog's range is 400 to 1,000+. Each run of the sweeps "
            "below draws `longhorn.max_volumes` from the seed profile's catalog range (`catalog`: uniform over "
            "400-1,000). Both Longhorn policies use the same sweep seed, so run *i* has the same drawn limit and "
            "the same simulation seed under each: the per-run differences are the policy's. Ceph from the start "
            "has no Longhorn cluster and does not depend on the limit.\n\n"
            "The tables are the sweeps' own: `first_shard` (p10/p50/p90 of the first-shard day, date and "
            "customers), `binding_counts` (which limit triggered the first shard / bound first, share of the runs) "
            "and `sensitivity` (Spearman rho of the drawn limit with the first-shard day, and the tornado swing "
            "between the limit's p10 and p90 draws)."
        ),
        new_code_cell('''\
from IPython.display import display

VOLUME_LIMIT = "longhorn.max_volumes=catalog"
LIMIT_RUNS = 8 if QUICK else 100
limit_sweeps = {name: run_sweep(policies[name], LIMIT_RUNS, vary=[VOLUME_LIMIT])
                for name in ("Longhorn only", "Ceph on new clusters")}
FIRST_SHARD_ROUNDING = {"first_shard_day": 1, "first_shard_customers": 0}
display(pd.concat({name: r.first_shard.set_index("statistic") for name, r in limit_sweeps.items()},
                  names=["policy"]).round(FIRST_SHARD_ROUNDING))
display(pd.concat({name: r.binding_counts.set_index("limit") for name, r in limit_sweeps.items()},
                  names=["policy"]).round(2))
pd.concat({name: r.sensitivity.set_index("parameter") for name, r in limit_sweeps.items()},
          names=["policy"]).round(2)'''),
        new_code_cell('''\
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for (name, result), color in zip(limit_sweeps.items(), ["tab:blue", "tab:orange"], strict=True):
    plot_band(axes[0], result, "cost_eur_month", name, color=color)
    plot_band(axes[1], result, "clusters", name, color=color)
axes[0].set(title=f"Fleet cost, Longhorn limit drawn from 400-1,000 ({LIMIT_RUNS} runs)", xlabel="date",
            ylabel="EUR per month")
axes[1].set(title=f"Clusters, Longhorn limit drawn from 400-1,000 ({LIMIT_RUNS} runs)", xlabel="date",
            ylabel="clusters")
for ax in axes:
    ax.legend(fontsize="small")
fig.autofmt_xdate()
fig.tight_layout()'''),
        new_markdown_cell(
            "Per run, against the limit it drew: the first-shard day, the clusters at the horizon, and what "
            "the Longhorn-only fleet spends over the horizon beyond the same run with Ceph on new clusters. "
            "Both policies are identical up to the first shard (the switch to Ceph happens there), so their "
            "first-shard points coincide."
        ),
        new_code_cell('''\
LIMIT = "param:longhorn.max_volumes"
longhorn_runs = limit_sweeps["Longhorn only"].runs
ceph_runs = limit_sweeps["Ceph on new clusters"].runs
assert (longhorn_runs[LIMIT] == ceph_runs[LIMIT]).all()  # paired: run i drew the same limit in both sweeps
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for (name, runs), marker in zip([("Longhorn only", longhorn_runs), ("Ceph on new clusters", ceph_runs)], "os",
                                strict=True):
    axes[0].scatter(runs[LIMIT], runs["first_shard_day"], marker=marker, label=name)
    axes[1].scatter(runs[LIMIT], runs["clusters_end"], marker=marker, label=name)
axes[0].set(title="First shard vs the drawn limit", xlabel="Longhorn max volumes per cluster (drawn)",
            ylabel="first-shard day (days from the start)")
axes[1].set(title="Clusters at the horizon vs the drawn limit", xlabel="Longhorn max volumes per cluster (drawn)",
            ylabel="clusters")
extra = longhorn_runs["cost_eur_total"] - ceph_runs["cost_eur_total"]
axes[2].scatter(longhorn_runs[LIMIT], extra, color="tab:red")
axes[2].axhline(0, color="grey", lw=0.8)
axes[2].set(title="Longhorn only minus Ceph on new clusters", xlabel="Longhorn max volumes per cluster (drawn)",
            ylabel="EUR over the horizon (same run)")
for ax in axes[:2]:
    ax.legend(fontsize="small")
fig.tight_layout()
pd.DataFrame({"Longhorn max volumes": longhorn_runs[LIMIT].round(0),
              "first shard day (Longhorn only)": longhorn_runs["first_shard_day"],
              "first shard day (Ceph on new)": ceph_runs["first_shard_day"],
              "clusters (Longhorn only)": longhorn_runs["clusters_end"],
              "clusters (Ceph on new)": ceph_runs["clusters_end"],
              "EUR total, Longhorn only minus Ceph on new": extra.round(0)}).sort_values("Longhorn max volumes")'''),
        new_code_cell("pool.shutdown()"),
    ]


def growth_planning() -> list:
    return [
        new_markdown_cell(
            "# Growth planning: stages 1 to 4\n\n"
            "The design document's scaling progression as four simulator scenarios (`scenarios/stage1..4.yaml`): "
            "what each stage ends with, the decision table (which limit binds, when, and what the operator did), "
            "p10/p50/p90 bands from a Monte Carlo sweep (`sim.sweep`) over the uncertain limits, and which limit "
            "binds first under the seed profile vs. with the published control-plane and objects-per-customer "
            "figures, as shares of each sweep's runs.\n\n"
            "Quick mode (default) cuts every horizon to half a year and runs few runs per sweep; "
            "`CAPPLAN_QUICK=0` runs the stages in full."
        ),
        new_code_cell(SETUP),
        new_code_cell(SWEEPS),
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
            "## p10/p50/p90 bands from a sweep\n\n"
            "Stage 1 (the stage the fleet is in now) as a sweep: every run has its own seed and draws the seed "
            "profile's uncertain figures from their catalog ranges (Longhorn's practical volume limit, etcd "
            "objects per customer and per service). The charts are the sweep report's own "
            "(`sim.sweep.report.plots`, the same as `report.html` from `sim sweep`): the daily fleet metrics' "
            "p10/p50/p90 bands, the first-shard distribution, which limit binds first, and a tornado of how far "
            "each varied figure moves the first-shard day."
        ),
        new_code_cell('''\
import base64

from IPython.display import Image, display

from sim.sweep.report import plots as sweep_plots

UNCERTAIN = ["longhorn.max_volumes=catalog", "etcd.objects_per_customer=catalog", "etcd.objects_per_service=catalog"]
BAND_RUNS = 8 if QUICK else 100
stage1_sweep = run_sweep(stages["stage1"], BAND_RUNS, vary=UNCERTAIN)
for title, png in sweep_plots(stage1_sweep):
    print(title)
    display(Image(base64.b64decode(png)))
display(stage1_sweep.first_shard.set_index("statistic").round({"first_shard_day": 1, "first_shard_customers": 0}))
display(stage1_sweep.binding_counts.set_index("limit").round(2))
stage1_sweep.sensitivity.set_index("parameter").round(2)'''),
        new_markdown_cell(
            "## Which limit binds first, and how it moves\n\n"
            "Four variants per stage: the seed profile; the seed with the published profile's control-plane "
            "ladder (node types and their object capacities); the seed with the published etcd objects per "
            "customer and per service (`limits_overrides`); and both. The control-plane ladder is not a single "
            "figure, so that variant is a profile file: the seed with the published `control_plane_types` and "
            "`control_plane_ladder` (stage files name control-plane rungs by position, so they run on either).\n\n"
            "Each (stage, variant) is a sweep that draws Longhorn's volume limit from its catalog range; all "
            "sweeps share one seed, so run *i* has the same draw and simulation seed in every variant. "
            "\"Binds first\" and \"first shard triggered by\" are the sweeps' `binding_counts` as shares of the "
            "runs; the first-shard day is the sweeps' `first_shard` p10/p50/p90."
        ),
        new_code_cell('''\
import tempfile

import yaml

seed_profile = placement.load_profile("seed")
published = placement.load_profile("published")
hybrid = seed_profile.model_copy(update={"name": "seed-with-published-control-plane",
                                         "control_plane_types": published.control_plane_types,
                                         "control_plane_ladder": published.control_plane_ladder})
profile_dir = tempfile.TemporaryDirectory(prefix="capplan-profiles-")  # removed once the sweeps are done
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
VARIANT_RUNS = 2 if QUICK else 10
rows = []
for stage, scenario in stages.items():
    for variant, update in variants.items():
        result = run_sweep(scenario.model_copy(update=update), VARIANT_RUNS, vary=["longhorn.max_volumes=catalog"])
        first = result.first_shard.set_index("statistic")["first_shard_day"]
        rows.append({"stage": stage, "variant": variant,
                     "binds first": shares(result, "first_bind"),
                     "first shard triggered by": shares(result, "first_shard"),
                     "first shard day (p10)": first["p10"], "first shard day (p50)": first["p50"],
                     "first shard day (p90)": first["p90"],
                     "clusters (p50)": band(result, "clusters").iloc[-1]["p50"],
                     "EUR / month (p50)": band(result, "cost_eur_month").iloc[-1]["p50"]})
profile_dir.cleanup()
moves = pd.DataFrame(rows).set_index(["stage", "variant"])
moves.round(1)'''),
        new_code_cell('''\
fig, ax = plt.subplots(figsize=(11, 4.2))
width = 0.8 / len(variants)
positions = np.arange(len(stages))
for j, variant in enumerate(variants):
    days = moves.xs(variant, level="variant").loc[list(stages)]
    p10, p50, p90 = (days[f"first shard day ({p})"].to_numpy(dtype=float) for p in ("p10", "p50", "p90"))
    x = positions + (j - (len(variants) - 1) / 2) * width
    ax.bar(x, p50, width, label=variant, yerr=[p50 - p10, p90 - p50], capsize=3)
    for xi, mid, high in zip(x, p50, p90, strict=True):
        ax.text(xi, 0 if np.isnan(high) else high, "none" if np.isnan(mid) else f"{mid:.0f}", ha="center",
                va="bottom", fontsize="x-small")
ax.set_xticks(positions, list(stages))
ax.set(title=f"Days until the first shard: p50 (labelled), whiskers p10-p90, none = no shard ({VARIANT_RUNS} runs)",
       xlabel="stage", ylabel="days from the stage's start")
ax.legend(title="limits variant", fontsize="small")
fig.tight_layout()'''),
        new_code_cell("pool.shutdown()"),
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
        written.append(atomic_write(out_dir / filename, lambda tmp, notebook=notebook: nbformat.write(notebook, tmp)))
    return written


if __name__ == "__main__":
    for path in build():
        print(path)
