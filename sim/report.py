"""The HTML report: the summary, the decision table, the event log and six matplotlib plots (PNG, inline), plus
the packing checks (a table and a plot) when the scenario has them."""

from __future__ import annotations

import html
from typing import Any, Protocol

import numpy as np
import pandas as pd

from sim.render import STYLE, figure, png, table


class RunTables(Protocol):
    """What the report reads from a run's result (``sim.results.SimResult``)."""

    scenario_name: str
    summary: dict[str, Any]
    timeseries: pd.DataFrame
    events: pd.DataFrame
    packing: pd.DataFrame | None


GIB = 1024**3
MAX_CLUSTER_LINES = 12  # beyond this, per-cluster lines are unreadable: plot the busiest ones
# Each cluster's level (solid) against its limit (dashed): (section, title, value, limit, scale, axis label,
# symlog threshold or None).
PER_CLUSTER_PLOTS = (
    (
        "RAM per cluster",
        "RAM requested per cluster (solid) vs allocatable (dashed)",
        "ram_requested_bytes",
        "ram_allocatable_bytes",
        GIB,
        "GiB",
        None,
    ),
    (
        "Volumes vs storage limit",
        "Volumes per cluster (solid) vs the storage provider's limit (dashed)",
        "volumes",
        "max_volumes",
        1.0,
        "volumes",
        None,
    ),
    (
        "etcd objects vs control plane",
        "etcd objects per cluster (solid) vs control-plane tight capacity (dashed)",
        "etcd_objects",
        "ctrl_tight_objects",
        1.0,
        "objects",
        1000,
    ),
)


def _busiest(clusters: pd.DataFrame, column: str) -> list[str]:
    peak = clusters.groupby("cluster_id")[column].max().sort_values(ascending=False, kind="stable")
    return sorted(peak.index[:MAX_CLUSTER_LINES])


def _per_cluster(ax, clusters: pd.DataFrame, value: str, limit: str | None, scale: float, label: str) -> None:
    ids = _busiest(clusters, value)
    for cluster_id in ids:
        rows = clusters[clusters["cluster_id"] == cluster_id]
        (line,) = ax.plot(rows["date"], rows[value] / scale, label=cluster_id, linewidth=1.2)
        if limit is not None:
            ax.plot(rows["date"], rows[limit] / scale, linestyle="--", linewidth=0.8, color=line.get_color())
    title_extra = "" if len(ids) == clusters["cluster_id"].nunique() else f" (busiest {len(ids)} clusters)"
    ax.set_ylabel(label)
    ax.set_title(ax.get_title() + title_extra)
    if ids:
        ax.legend(fontsize=7, ncol=2, loc="upper left")


def _legend_of_both(ax, right) -> None:
    """One legend for a plot and its twin axis."""
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")


def plots(result: RunTables) -> list[tuple[str, str]]:
    ts = result.timeseries
    fleet = ts[ts["cluster_id"] == "fleet"]
    clusters = ts[ts["cluster_id"] != "fleet"]
    figures: list[tuple[str, str]] = []

    fig = figure(figsize=(9, 4))
    ax = fig.subplots()
    ax.plot(fleet["date"], fleet["customers"], label="customers")
    ax.plot(fleet["date"], fleet["services"], label="services")
    ax.plot(fleet["date"], fleet["volumes"], label="volumes")
    ax.set_title("Customers, services and volumes (fleet)")
    ax.set_xlabel("date")
    ax.set_ylabel("count")
    ax.legend()
    ax.grid(alpha=0.3)
    figures.append(("Customers and services", png(fig)))

    for name, title, value, limit, scale, label, symlog in PER_CLUSTER_PLOTS:
        fig = figure(figsize=(9, 4))
        ax = fig.subplots()
        ax.set_title(title)
        _per_cluster(ax, clusters, value, limit, scale, label)
        if symlog is not None:
            ax.set_yscale("symlog", linthresh=symlog)
        ax.set_xlabel("date")
        ax.grid(alpha=0.3)
        figures.append((name, png(fig)))

    fig = figure(figsize=(9, 4))
    ax = fig.subplots()
    ax.step(fleet["date"], fleet["run_nodes"], where="post", label="run nodes")
    ax.step(fleet["date"], fleet["run_nodes_on_order"], where="post", label="run nodes on order", alpha=0.6)
    ax.set_ylabel("run nodes")
    ax.set_xlabel("date")
    right = ax.twinx()
    right.step(fleet["date"], fleet["clusters"], where="post", color="tab:red", label="clusters")
    right.set_ylabel("clusters")
    ax.set_title("Run nodes and clusters (fleet)")
    _legend_of_both(ax, right)
    ax.grid(alpha=0.3)
    figures.append(("Nodes and clusters", png(fig)))

    fig = figure(figsize=(9, 4))
    ax = fig.subplots()
    ax.stackplot(
        fleet["date"],
        fleet["compute_eur_month"],
        fleet["backup_eur_month"],
        labels=["run + control-plane nodes", "object storage (backups)"],
    )
    ax.set_ylabel("EUR / month")
    ax.set_xlabel("date")
    right = ax.twinx()
    right.plot(fleet["date"], fleet["cost_eur_cumulative"] / 1000, color="black", label="cumulative (kEUR)")
    right.set_ylabel("cumulative spend, kEUR (incl. setup fees)")
    ax.set_title("Cost (fleet)")
    _legend_of_both(ax, right)
    ax.grid(alpha=0.3)
    figures.append(("Cost", png(fig)))
    return figures


def packing_plot(packing: pd.DataFrame) -> str | None:
    """Run nodes per check date, summed over the groups: the optimum, the greedy engine, the simulated fleet."""
    packed = packing[packing["status"] != "INFEASIBLE"]
    if packed.empty:
        return None
    per_day = packed.groupby("date", sort=True)[["optimal_nodes", "greedy_nodes", "sim_run_nodes"]].sum()
    unproven = packed.groupby("date", sort=True)["status"].apply(lambda s: bool((s != "OPTIMAL").any()))
    labels = [d.date().isoformat() + (" *" if unproven[d] else "") for d in per_day.index]
    x = np.arange(len(per_day))
    width = 0.27
    fig = figure(figsize=(9, 4))
    ax = fig.subplots()
    for k, (column, label) in enumerate(
        [
            ("optimal_nodes", "optimum (CP-SAT / L1 bound)"),
            ("greedy_nodes", "greedy engine, same services in arrival order"),
            ("sim_run_nodes", "simulated fleet (operator's run nodes)"),
        ]
    ):
        bars = ax.bar(x + (k - 1) * width, per_day[column], width, label=label)
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(x, labels)
    ax.set_xlabel("check date (* : optimum not proven in some group, best packing found)")
    ax.set_ylabel("run nodes (all regions and storage providers)")
    ax.set_title("Run nodes at the packing checks: optimum vs greedy engine vs simulated fleet")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, axis="y")
    return png(fig)


def _packing_section(packing: pd.DataFrame | None) -> str:
    if packing is None:
        return ""
    columns = [
        "date",
        "region",
        "storage_provider",
        "services",
        "l1_nodes",
        "ffd_nodes",
        "optimal_nodes",
        "status",
        "gap",
        "greedy_nodes",
        "greedy_to_optimal_nodes",
        "sim_run_nodes",
        "sim_to_optimal_nodes",
        "optimal_clusters",
        "clusters_status",
        "greedy_clusters",
        "greedy_to_optimal_clusters",
        "sim_clusters",
    ]
    rows = []
    for record in packing.to_dict("records"):
        row = {c: (None if pd.isna(record[c]) else record[c]) for c in columns}
        row["date"] = record["date"].date().isoformat()
        for c in ("greedy_to_optimal_nodes", "sim_to_optimal_nodes", "greedy_to_optimal_clusters"):
            row[c] = None if row[c] is None else f"{row[c]:.3f}"
        row["gap"] = None if row["gap"] is None else f"{row['gap']:.1%}"
        rows.append(row)
    image = packing_plot(packing)
    title = "Run nodes at the packing checks"
    plot = "" if image is None else f"<img alt='{title}' src='data:image/png;base64,{image}'>"
    return f"""<h2>Packing checks: greedy engine vs optimum</h2>
<p class="muted">On each check day the live services of every region and storage provider are packed onto the
fewest run nodes and clusters (<code>optimal</code>: L1 bound, first-fit decreasing, CP-SAT on one worker with a
deterministic time limit; <code>status</code> OPTIMAL only with a proof, FEASIBLE is the best packing found and
<code>gap</code> its distance to the best bound). <code>greedy</code>: the live engine with this scenario's
policy re-placing the same services in arrival order on a fresh fleet that grows only on rejection.
<code>sim</code>: the run nodes and clusters the simulated operator runs that day. Ratios are against the
optimum (run nodes, clusters).</p>
{table(rows, columns)}
{plot}
"""


def render_report(result: RunTables) -> str:
    summary = result.summary
    keys = [
        "scenario",
        "limits_profile",
        "start_date",
        "end_date",
        "customers_signed_up",
        "customers_end",
        "customers_churned",
        "customers_lost",
        "placements_attempted",
        "placements_rejected",
        "clusters_end",
        "run_nodes_end",
        "cost_eur_month_end",
        "cost_eur_total",
        "first_shard_date",
        "first_shard_customers",
        "first_shard_limit",
        "first_shard_why",
        "seed_entropy",
    ]
    summary_rows = [{"field": k, "value": summary.get(k)} for k in keys]
    if summary.get("limits_overrides"):
        summary_rows.append({"field": "limits_overrides", "value": summary["limits_overrides"]})
    decision = table(
        summary["decision_table"],
        ["name", "first_bind_date", "customers_at_bind", "cluster_id", "action", "why"],
    )
    events = result.events
    counts = events["kind"].value_counts().sort_index()
    count_rows = [{"kind": k, "count": int(v)} for k, v in counts.items()]
    log = events[events["kind"] != "placement_rejected"].head(300)
    log_rows = [
        {"date": d.date().isoformat(), "kind": k, "cluster_id": c, "detail": t}
        for d, k, c, t in zip(log["date"], log["kind"], log["cluster_id"], log["detail"], strict=True)
    ]
    images = "".join(
        f"<h3>{html.escape(title)}</h3><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"
        for title, data in plots(result)
    )
    name = html.escape(result.scenario_name)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>capplan simulation: {name}</title><style>{STYLE}</style></head>
<body>
<h1>Growth simulation: {name}</h1>
<h2>Summary</h2>
{table(summary_rows, ["field", "value"])}
<h2>Decision table</h2>
<p class="muted">For every limit: the first date a cluster reached the level at which it forces an action (or the
engine rejected a placement because of it), the fleet's customers then, and what the operator did.</p>
{decision}
{_packing_section(result.packing)}
<h2>Plots</h2>
{images}
<h2>Event log</h2>
{table(count_rows, ["kind", "count"])}
<p class="muted">First {len(log_rows)} events other than placement rejections (those are in events.parquet,
aggregated per day, scope and reason).</p>
{table(log_rows, ["date", "kind", "cluster_id", "detail"])}
</body></html>
"""
