"""The run report's plots: fleet totals and, per cluster, each level against its limit.

Conventions (``sim.render``): distinct colours; at most ``MAX_CLUSTER_LINES`` clusters drawn, the busiest ones, and
the rest summed as one "others" line that the title announces; legends outside the data; the x-axis from the
scenario's start to its end; whole-number ticks for counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.render import COLORS, OTHERS_COLOR, count_axis, date_axis, figure, legend_outside, money_axis, png

GIB = 1024**3
MAX_CLUSTER_LINES = 8  # beyond this, per-cluster lines are unreadable: the rest are summed as "others"


def finish(ax, span, *, counts: bool = True, money: bool = False, from_zero: bool = False) -> None:
    """The report's axis conventions: the scenario's dates, whole-number or money ticks, a grid, the legend outside."""
    date_axis(ax, *span)
    if counts:
        count_axis(ax)
    if money:
        money_axis(ax)
    if from_zero:
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    legend_outside(ax)


def busiest(clusters: pd.DataFrame, column: str) -> tuple[list[str], list[str]]:
    """The clusters drawn one by one (highest peak first, at most MAX_CLUSTER_LINES) and the rest."""
    peak = clusters.groupby("cluster_id")[column].max().sort_values(ascending=False, kind="stable")
    ids = list(peak.index)
    if len(ids) <= MAX_CLUSTER_LINES:
        return sorted(ids), []
    shown = sorted(ids[: MAX_CLUSTER_LINES - 1])  # one colour is kept for "others"
    return shown, sorted(ids[MAX_CLUSTER_LINES - 1 :])


def _others_note(shown: list[str], others: list[str]) -> str:
    if not others:
        return ""
    return f" — busiest {len(shown)} of {len(shown) + len(others)} clusters; the other {len(others)} summed as 'others'"


def per_cluster_plot(
    clusters: pd.DataFrame,
    span: tuple[Any, Any],
    title: str,
    value: str,
    limit: str | None,
    unit: str,
    scale: float = 1.0,
    counts: bool = True,
    threshold: tuple[str, float] | tuple[str, float, str] | None = None,
) -> tuple[str, str]:
    """Each cluster's ``value`` (solid) against its ``limit`` (dashed, same colour) and, when given, the operator's
    ``threshold`` (label, share, and the column it is a share of, the limit by default; dotted) at which it acts.
    Returns the PNG and the "others" note."""
    base = threshold[2] if threshold is not None and len(threshold) > 2 else limit
    shown, others = busiest(clusters, value)
    fig = figure(figsize=(10, 4))
    ax = fig.subplots()
    for k, cluster_id in enumerate(shown):
        rows = clusters[clusters["cluster_id"] == cluster_id]
        color = COLORS[k % len(COLORS)]
        ax.plot(rows["date"], rows[value] / scale, color=color, linewidth=1.4, label=cluster_id)
        if limit is not None:
            ax.plot(rows["date"], rows[limit] / scale, color=color, linestyle="--", linewidth=0.9)
            if threshold is not None:
                ax.plot(rows["date"], rows[base] * threshold[1] / scale, color=color, linestyle=":", linewidth=0.9)
    if others:
        rest = clusters[clusters["cluster_id"].isin(others)].groupby("date")[value].sum()
        ax.plot(rest.index, rest.to_numpy() / scale, color=OTHERS_COLOR, linewidth=1.4,
                label=f"others ({len(others)} clusters, summed)")  # fmt: skip
    handles, labels = ax.get_legend_handles_labels()
    if limit is not None:
        handles.append(ax.plot([], [], color="black", linestyle="--", linewidth=0.9)[0])
        labels.append("limit (dashed, per cluster)")
    if threshold is not None:
        handles.append(ax.plot([], [], color="black", linestyle=":", linewidth=0.9)[0])
        labels.append(f"{threshold[0]} (dotted)")
    note = _others_note(shown, others)
    ax.set(title=title + note, xlabel="date", ylabel=unit)
    date_axis(ax, *span)
    if counts:
        count_axis(ax)
    ax.grid(alpha=0.3)
    legend_outside(ax, handles=handles, labels=labels)
    return png(fig), note.removeprefix(" — ")


def pods_per_node_plot(
    clusters: pd.DataFrame, span, max_pods: float | None, order_fraction: float | None
) -> tuple[str, str]:
    """Pods per run node per cluster against the kubelet's max-pods and, when it triggered orders
    (``order_fraction`` given), the operator's node-order threshold."""
    shown, others = busiest(clusters.assign(ppn=_pods_per_node(clusters)), "ppn")
    fig = figure(figsize=(10, 4))
    ax = fig.subplots()
    for k, cluster_id in enumerate(shown):
        rows = clusters[clusters["cluster_id"] == cluster_id]
        ax.plot(rows["date"], _pods_per_node(rows), color=COLORS[k % len(COLORS)], linewidth=1.4, label=cluster_id)
    if others:
        rest = clusters[clusters["cluster_id"].isin(others)].groupby("date")[["pods", "run_nodes"]].sum()
        ax.plot(rest.index, _pods_per_node(rest), color=OTHERS_COLOR, linewidth=1.4,
                label=f"others ({len(others)} clusters, pooled)")  # fmt: skip
    if max_pods is not None:
        ax.axhline(max_pods, color="black", linestyle="--", linewidth=1, label=f"max pods per node ({max_pods:,.0f})")
        if order_fraction is not None:
            ax.axhline(max_pods * order_fraction, color="black", linestyle=":", linewidth=1,
                       label=f"operator orders nodes ({order_fraction:.0%})")  # fmt: skip
    note = _others_note(shown, others)
    ax.set(title="Pods per run node" + note, xlabel="date", ylabel="pods per node")
    finish(ax, span, from_zero=True)
    return png(fig), note.removeprefix(" — ").replace("summed", "pooled")


def _pods_per_node(rows: pd.DataFrame) -> np.ndarray:
    nodes = rows["run_nodes"].to_numpy(dtype=float)
    pods = rows["pods"].to_numpy(dtype=float)
    return np.divide(pods, nodes, out=np.zeros_like(pods), where=nodes > 0)


def fleet_counts_plot(fleet: pd.DataFrame, span) -> str:
    fig = figure(figsize=(10, 4))
    ax = fig.subplots()
    for k, (column, label) in enumerate((("customers", "customers"), ("services", "services"), ("volumes", "volumes"))):
        ax.plot(fleet["date"], fleet[column], color=COLORS[k], label=label)
    ax.set(title="Customers, services and volumes (fleet)", xlabel="date", ylabel="count")
    finish(ax, span)
    return png(fig)


def nodes_and_clusters_plot(fleet: pd.DataFrame, span) -> str:
    fig = figure(figsize=(10, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.step(fleet["date"], fleet["run_nodes"], where="post", color=COLORS[0], label="run nodes")
    top.step(fleet["date"], fleet["run_nodes_on_order"], where="post", color=COLORS[1], label="run nodes on order")
    top.set(title="Run nodes and clusters (fleet)", xlabel="", ylabel="run nodes")
    bottom.step(fleet["date"], fleet["clusters"], where="post", color=COLORS[3], label="clusters")
    bottom.set(title="", xlabel="date", ylabel="clusters")
    for ax in (top, bottom):
        finish(ax, span, from_zero=True)
    return png(fig)


def cost_plot(fleet: pd.DataFrame, span) -> str:
    fig = figure(figsize=(10, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.stackplot(
        fleet["date"],
        fleet["run_nodes_eur_month"],
        fleet["control_plane_eur_month"],
        fleet["backup_eur_month"],
        labels=["run nodes", "control plane", "object storage (backups)"],
        colors=COLORS[:3],
    )
    top.set(title="Cost per month by part (fleet)", xlabel="", ylabel="EUR / month")
    bottom.plot(fleet["date"], fleet["cost_eur_cumulative"], color="black", label="cumulative spend incl. setup fees")
    bottom.set(title="", xlabel="date", ylabel="EUR")
    for ax in (top, bottom):
        finish(ax, span, counts=False, money=True)
    return png(fig)


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
    fig = figure(figsize=(10, 4))
    ax = fig.subplots()
    for k, (column, label) in enumerate(
        [
            ("optimal_nodes", "optimum (CP-SAT / L1 bound)"),
            ("greedy_nodes", "greedy engine, same services in arrival order"),
            ("sim_run_nodes", "simulated fleet (operator's run nodes)"),
        ]
    ):
        bars = ax.bar(x + (k - 1) * width, per_day[column], width, label=label, color=COLORS[k])
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(x, labels)
    ax.set(
        title="Run nodes at the packing checks: optimum vs greedy engine vs simulated fleet",
        xlabel="check date (* : optimum not proven in some group, best packing found)",
        ylabel="run nodes (all groups)",
    )
    count_axis(ax)
    ax.grid(alpha=0.3, axis="y")
    legend_outside(ax)
    return png(fig)


def utilisation_plot(clusters: pd.DataFrame, span, resources: list[tuple[str, str]]) -> tuple[str, str]:
    """One panel per catalogue resource: each cluster's share of that resource's capacity over time (the busiest
    clusters by peak share one by one, the rest as the highest share among them, "others (max)")."""
    shown_panels = [(key, name) for key, name in resources if clusters[f"share_{key}"].notna().any()]
    columns = 3
    rows = max(1, (len(shown_panels) + columns - 1) // columns)
    fig = figure(figsize=(12, 2.6 * rows))
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True)
    peak = clusters.groupby("cluster_id")[[f"share_{k}" for k, _ in shown_panels]].max().max(axis=1)
    order = list(peak.sort_values(ascending=False, kind="stable").index)
    shown = sorted(order[: MAX_CLUSTER_LINES - 1]) if len(order) > MAX_CLUSTER_LINES else sorted(order)
    others = sorted(set(order) - set(shown))
    colour = {cluster_id: COLORS[k % len(COLORS)] for k, cluster_id in enumerate(shown)}
    for ax, (key, name) in zip(axes.flat, shown_panels, strict=False):
        column = f"share_{key}"
        for cluster_id in shown:
            rows_of = clusters[clusters["cluster_id"] == cluster_id]
            ax.plot(rows_of["date"], rows_of[column] * 100, color=colour[cluster_id], linewidth=1.1, label=cluster_id)
        if others:
            rest = clusters[clusters["cluster_id"].isin(others)].groupby("date")[column].max()
            ax.plot(rest.index, rest.to_numpy() * 100, color=OTHERS_COLOR, linewidth=1.1,
                    label=f"others ({len(others)} clusters, max)")  # fmt: skip
        ax.axhline(100, color="black", linestyle="--", linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("% of capacity", fontsize=8)
        ax.set_ylim(bottom=0)
        date_axis(ax, *span)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown_panels) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    handles.append(axes.flat[0].plot([], [], color="black", linestyle="--", linewidth=0.8)[0])
    labels.append("capacity (100 %)")
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    note = _others_note(shown, others).replace("summed", "drawn as their highest share")
    return png(fig), note.removeprefix(" — ")
