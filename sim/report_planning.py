"""The run report's planning sections: the decision table (one row per decision, the limits that never bound, when
each limit first bound), the recommendations of ``sim run --recommend``, and the utilisation of every resource
with the idle ones flagged. ``sim.report`` assembles the page; the console (``sim.cli_run``) reuses the texts."""

from __future__ import annotations

import html

import pandas as pd

from sim import fmt
from sim.planning import TREND_WINDOW_DAYS
from sim.render import img, table
from sim.report_plots import utilisation_plot


def level_text(row: dict) -> str:
    """``185 / 330 pods (56.1 %)``: a decision's limit level then, its capacity and the share used."""
    if fmt.missing(row.get("value")) or fmt.missing(row.get("capacity")):
        return "-"
    value, unit = fmt.in_unit(row["value"], row["unit"])
    capacity, _ = fmt.in_unit(row["capacity"], row["unit"])
    return f"{value} / {capacity} {unit} ({fmt.share(row['share'])})"


def _cost(row: dict) -> str:
    if fmt.missing(row.get("eur_month")):
        return "-"
    return f"{fmt.eur(row['eur_month'])}/month + {fmt.eur(row['setup_eur'])} once"


def never_bound_line(summary: dict) -> str:
    """The limits no decision names, in one sentence with each one's peak utilisation."""
    parts = []
    for item in summary.get("limits_never_bound") or []:
        if item["peak_share"] is None:
            parts.append(f"{item['name']} (not set)")
        else:
            parts.append(f"{item['name']} {fmt.share(item['peak_share'])} ({item['cluster_id']}, "
                         f"{fmt.day_date(item['date'])})")  # fmt: skip
    return "; ".join(parts)


def decision_section(summary: dict) -> str:
    decisions = summary.get("decisions") or []
    rows = [
        {
            "decided": fmt.day_date(row["decided_date"]),
            "effective": fmt.day_date(row["effective_date"]),
            "status": row["status"],
            "cluster": row["cluster_id"],
            "triggered by": row["triggered_by"] or "its region",
            "limit": row["limit_name"],
            "level then / limit": level_text(row),
            "projected breach": fmt.day_date(row["projected_breach_date"]),
            "customers: cluster / fleet": f"{fmt.number(row['cluster_customers'])} / "
            f"{fmt.number(row['fleet_customers'])}",
            "action": row["action"],
            "cost": _cost(row),
        }
        for row in decisions
    ]
    columns = ["decided", "effective", "status", "cluster", "triggered by", "limit", "level then / limit",
               "projected breach", "customers: cluster / fleet", "action", "cost"]  # fmt: skip
    counts = pd.Series([row["status"] for row in decisions], dtype=object).value_counts()
    told = ", ".join(f"{fmt.number(n)} {status}" for status, n in counts.items()) or "none"
    first = [
        {
            "limit": row["name"],
            "first binds": fmt.day_date(row["first_bind_date"]),
            "customers then (fleet)": fmt.number(row["customers_at_bind"]),
            "cluster": row.get("cluster_id") or "",
            "why": row["why"],
        }
        for row in summary["decision_table"]
        if row["first_bind_date"]
    ]
    return f"""<h2 id="decisions">Decision table</h2>
<p class="muted">One row per decision the operator took (every order: run nodes, control-plane upgrades, new
clusters), or would have had to take (a limit breached with no order answering it; orders due shortly after the
horizon): {html.escape(told)}. <em>Decided</em> is the day it was ordered, <em>effective</em> the day it arrives
(the lead time later). <em>Triggered by</em> is the cluster whose limit forced it; its level then is against the
limit's capacity, and the projected breach is where that level's trend over the previous
{TREND_WINDOW_DAYS} days reached the capacity had nothing been ordered. The operator orders before the capacity, at
its own order levels (see the assumptions): run nodes at its RAM and pods fractions with a lead time's growth ahead,
a control-plane upgrade at its share of the rung's comfortable level (the capacity shown is the tight one), a new
cluster at its shard triggers' prepare fraction. Also in <code>decisions.csv</code>.</p>
{table(rows, columns, nowrap=("decided", "effective", "projected breach"), long=("cluster", "triggered by"))}
<p><strong>Limits that never bound</strong> (peak utilisation, where and when):
{html.escape(never_bound_line(summary)) or "none"}.</p>
<h3>When each limit first bound</h3>
{
        table(
            first,
            ["limit", "first binds", "customers then (fleet)", "cluster", "why"],
            numeric=("customers then (fleet)",),
            nowrap=("first binds",),
        )
    }"""


def recommendation_section(summary: dict) -> str:
    items = summary.get("recommendations")
    if items is None:
        return ""
    rows = [
        {
            "binding limit": item["limit_name"],
            "setting tried": "-" if not item.get("override") else f"{item['setting']}: {item['was']} → {item['to']}",
            "saving per month (average / at the end)": "-"
            if item.get("saving_eur_month") is None
            else f"{fmt.signed_eur(item['saving_eur_month'])} / {fmt.signed_eur(item['saving_eur_month_end'])}",
            "p10-p90 over paired seeds": _band_cell(item.get("saving_band")),
            "verdict": item["verdict"],
        }
        for item in items
    ]
    columns = ["binding limit", "setting tried", "saving per month (average / at the end)"]
    if any(item.get("saving_band") for item in items):
        columns.append("p10-p90 over paired seeds")
    columns.append("verdict")
    return f"""<h2 id="recommendations">Recommendations</h2>
<p class="muted">For each limit that forced a decision and is a setting, the run repeated with the next sensible
setting on the same seed (the same customers arrive: common random numbers). A positive saving is money saved.
One paired run is not a band: <code>sim run --recommend --recommend-runs 20</code> (or <code>sim compare SCENARIO
--set-b PATH=VALUE --runs 20</code>) gives one.</p>
{table(rows, columns, numeric=("saving per month (average / at the end)",))}"""


def _band_cell(band: dict | None) -> str:
    if not band:
        return "-"
    return (f"{fmt.signed_eur(band['p10_eur_month'])} to {fmt.signed_eur(band['p90_eur_month'])} "
            f"(cheaper on {band['cheaper_runs']} of {band['runs']})")  # fmt: skip


def idle_sentences(summary: dict) -> list[str]:
    """ "RAM 21 % used while pods per run node binds": resources paid for and mostly idle when a limit forced orders."""
    return [
        f"{item['resource_name']} {fmt.share(item['median_share'], 0)} used while {item['binding_name']} binds "
        f"(median on the triggering clusters over {fmt.number(item['decisions'])} decisions)"
        for item in summary.get("idle_resources") or []
    ]


def utilisation_section(summary: dict, ts: pd.DataFrame) -> str:
    idle = idle_sentences(summary)
    flags = (
        "<ul>" + "".join(f"<li class='idle'>{html.escape(text)}</li>" for text in idle) + "</ul>"
        if idle
        else "<p>No resource bought with run nodes or control planes sat idle (below half used) while a limit bound."
        "</p>"
    )
    rows = [
        {
            "resource": item["name"],
            "peak": fmt.share(item["peak_share"]),
            "where, when": f"{item['peak_cluster']}, {fmt.day_date(item['peak_date'])}",
            "highest at the end": fmt.share(item["end_max_share"]),
        }
        for item in summary.get("utilisation") or []
    ]
    plot = ""
    clusters = ts[ts["cluster_id"] != "fleet"]
    names = [(item["resource"], item["name"]) for item in summary.get("utilisation") or []]
    if names and f"share_{names[0][0]}" in clusters:
        span = (pd.Timestamp(summary["start_date"]), pd.Timestamp(summary["end_date"]))
        image, note = utilisation_plot(clusters, span, names)
        plot = img("Utilisation of every resource per cluster", image) + (
            f"<p class='muted'>{html.escape(note.capitalize())}.</p>" if note else ""
        )
    return f"""<h2 id="utilisation">Utilisation</h2>
<p class="muted">Each catalogue resource's level as a share of its capacity on each cluster (RAM requested of
allocatable; pods of run nodes × max pods per node; volumes of the storage provider's limit; etcd objects of the
control plane's tight capacity and of the Kubernetes limit; services, namespaces, pods and nodes of the Kubernetes
thresholds). Idle: a resource bought with run nodes or control planes that was less than half used on the clusters
whose limit forced orders.</p>
{flags}
{table(rows, ["resource", "peak", "where, when", "highest at the end"], numeric=("peak", "highest at the end"))}
{plot}"""
