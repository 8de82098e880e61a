"""The HTML report of one run, written for a reader who signs the orders: an executive summary in sentences with
numbers (from the summary, the very figures of ``summary.json``), the cost per customer-month and its parts, the
procurement calendar, the assumptions with their sources, the decision table, the plots, the packing checks and
the event log. Numbers carry separators and units; dates are calendar dates."""

from __future__ import annotations

import html
from typing import Any, Protocol

import pandas as pd

from sim import decisions, fmt
from sim.design_doc import VERDICTS
from sim.render import img, page, table
from sim.report_planning import decision_section, idle_sentences, recommendation_section, utilisation_section
from sim.report_plots import (
    GIB,
    cost_plot,
    fleet_counts_plot,
    nodes_and_clusters_plot,
    packing_plot,
    per_cluster_plot,
    pods_per_node_plot,
)


class RunTables(Protocol):
    """What the report reads from a run's result (``sim.results.SimResult``)."""

    scenario_name: str
    summary: dict[str, Any]
    timeseries: pd.DataFrame
    events: pd.DataFrame
    orders: pd.DataFrame
    packing: pd.DataFrame | None


MONEY_COLUMNS = ("lead time", "adds per month", "setup (once)")
PARTS = (
    ("run_nodes", "Run nodes"),
    ("control_plane", "Control plane"),
    ("storage_backups", "Storage: object storage for volume backups"),
    ("storage_nodes", "Storage: dedicated storage nodes"),
    ("storage_disk_run_nodes", "Storage: run nodes bought for the replicas' disk"),
    ("storage_operations", "Storage: operations per cluster-month (an estimate)"),
    ("setup_fees", "Setup fees (one-off)"),
)


def limit_name(limit: str | None) -> str:
    """A decision-table limit key as the reader knows it ("longhorn volumes per cluster", not volumes:longhorn)."""
    try:
        return decisions.limit_name(str(limit))
    except KeyError:
        return str(limit)


def _v(summary: dict, key: str, text: str) -> str:
    """A summary figure on the page, tagged with its ``summary.json`` key (the report test reads them back)."""
    return f"<span data-key='{key}'>{html.escape(text)}</span>"


def _assumption(summary: dict, name: str) -> float | None:
    for row in summary.get("assumptions") or []:
        if row["name"] == name:
            return row["value"]
    return None


def _run_node_max_pods(summary: dict) -> float | None:
    """The max-pods of the operator's run node type (its own, or the kubelet default it inherits)."""
    for row in summary.get("assumptions") or []:
        if row["name"].startswith("run node ") and row["name"].endswith(": max pods"):
            return row["value"]
    return _assumption(summary, "kubernetes.max_pods_per_node")


def executive_summary(summary: dict, orders: pd.DataFrame) -> str:
    s = summary
    years = s["horizon_days"] / 365.25
    sentences = [
        f"Over {years:.1f} years ({fmt.day_date(s['start_date'])} to {fmt.day_date(s['end_date'])}) "
        f"{_v(s, 'customers_signed_up', fmt.number(s['customers_signed_up']))} customers sign up; "
        f"{_v(s, 'customers_end', fmt.number(s['customers_end']))} are active at the end, "
        f"{_v(s, 'customers_churned', fmt.number(s['customers_churned']))} churned and "
        f"{_v(s, 'customers_lost', fmt.number(s['customers_lost']))} were lost because their first service fit "
        "nowhere.",
        f"At the end the fleet is {_v(s, 'clusters_end', fmt.number(s['clusters_end']))} cluster(s) with "
        f"{_v(s, 'run_nodes_end', fmt.number(s['run_nodes_end']))} run nodes and costs "
        f"{_v(s, 'cost_eur_month_end', fmt.eur(s['cost_eur_month_end']))} per month; the whole horizon costs "
        f"{_v(s, 'cost_eur_total', fmt.eur(s['cost_eur_total']))} including setup fees, "
        f"{_v(s, 'cost_eur_per_customer_month', fmt.eur(s['cost_eur_per_customer_month']))} per customer-month.",
    ]
    if len(orders):
        top = orders.assign(weight=orders["eur_month"] * 12 + orders["setup_eur"])
        top = top.sort_values(["weight", "order_by"], ascending=[False, True], kind="stable").head(3)
        items = "; ".join(
            f"{html.escape(row.what)} for {html.escape(row.cluster_id)}, ordered by {fmt.day_date(row.order_by)} "
            f"({fmt.eur(row.eur_month)}/month, {fmt.eur(row.setup_eur)} once)"
            for row in top.sort_values("order_by", kind="stable").itertuples()
        )
        sentences.append(
            f"The operator places {_v(s, 'orders', fmt.number(len(orders)))} orders; the three that matter most "
            f"by cost: {items}."
        )
    if s.get("first_shard_date"):
        sentences.append(
            f"The first new cluster is ordered on {_v(s, 'first_shard_date', fmt.day_date(s['first_shard_date']))} "
            f"at {_v(s, 'first_shard_customers', fmt.number(s['first_shard_customers']))} customers, forced by "
            f"{html.escape(limit_name(s['first_shard_limit']))} ({html.escape(str(s['first_shard_why']))})."
        )
    else:
        sentences.append("No new cluster is needed within the horizon.")
    helps = [item for item in s.get("recommendations") or [] if item.get("helps")]
    if helps:
        best = max(helps, key=lambda item: item["saving_eur_month"])
        sentences.append(f"Recommendation: {html.escape(best['verdict'])} (one paired run on the same seed).")
    idle = idle_sentences(s)
    if idle:
        sentences.append(f"Paid for but idle: {html.escape('; '.join(idle))}.")
    sentences.append(
        f"Risk: {_v(s, 'placements_rejected', fmt.number(s['placements_rejected']))} of "
        f"{_v(s, 'placements_attempted', fmt.number(s['placements_attempted']))} placements were rejected "
        f"({_v(s, 'rejected_fraction', fmt.share(s['rejected_fraction'], 2))}); one run on one seed: use "
        "<code>sim sweep</code> or <code>sim compare</code> for bands."
    )
    if s.get("overrides"):
        changes = ", ".join(f"{html.escape(o['path'])} = {html.escape(str(o['value']))}" for o in s["overrides"])
        sentences.append(f"What-ifs applied to the scenario file: {changes}.")
    items = "".join(f"<li>{sentence}</li>" for sentence in sentences)
    return f"<section id='summary' class='summary'><h2>Executive summary</h2><ul>{items}</ul></section>"


def _cost_section(summary: dict) -> str:
    total = summary.get("cost_breakdown_eur") or {}
    per = summary.get("cost_per_customer_month_breakdown_eur") or {}
    rows = [
        {"part": label, "over the horizon": fmt.eur(total.get(key)), "per customer-month": fmt.eur(per.get(key))}
        for key, label in PARTS
    ]
    rows.append(
        {
            "part": "Total",
            "over the horizon": fmt.eur(summary["cost_eur_total"]),
            "per customer-month": fmt.eur(summary.get("cost_eur_per_customer_month")),
        }
    )
    return f"""<h2>Cost per customer-month</h2>
<p>{fmt.number(summary.get("customer_months"))} customer-months served (active customers summed over the days).
Monthly prices are prorated per day; setup fees are paid when nodes arrive. Prices are the limits profile's, times
its price multiplier (see the assumptions).</p>
{table(rows, ["part", "over the horizon", "per customer-month"], numeric=("over the horizon", "per customer-month"))}"""


def _orders_section(orders: pd.DataFrame) -> str:
    if orders.empty:
        return "<h2>Procurement calendar</h2><p>Nothing to order within the horizon.</p>"
    rows = [
        {
            "order by": fmt.day_date(o.order_by),
            "arrives": fmt.day_date(o.arrives) + ("" if o.arrives_within_horizon else " (after the horizon)"),
            "lead time": f"{fmt.number(o.lead_days)} day{'' if o.lead_days == 1 else 's'}",
            "what": o.what,
            "cluster": o.cluster_id,
            "adds per month": fmt.eur(o.eur_month),
            "setup (once)": fmt.eur(o.setup_eur),
        }
        for o in orders.itertuples()
    ]
    columns = ["order by", "arrives", "lead time", "what", "cluster", "adds per month", "setup (once)"]
    return f"""<h2 id="orders">Procurement calendar</h2>
<p class="muted">Every order the simulated operator placed: the date it had to be ordered by (the day the
operator decided, a lead time before it is needed), when it arrives, and its cost. Also in
<code>orders.csv</code>.</p>
{table(rows, columns, numeric=MONEY_COLUMNS, nowrap=("order by", "arrives", "cluster"))}"""


def _assumptions_section(summary: dict) -> str:
    rows = []
    for row in summary.get("assumptions") or []:
        value, unit = fmt.in_unit(row["value"], row["unit"])
        low, high = row.get("low"), row.get("high")
        span = (
            ""
            if low is None and high is None
            else f"{fmt.in_unit(low, row['unit'])[0]} – {fmt.in_unit(high, row['unit'])[0]}"
        )
        was = ""
        if row["overridden"]:
            before = (
                row["was"]
                if isinstance(row["was"], str) or row["was"] is None
                else fmt.in_unit(row["was"], row["unit"])[0]
            )
            was = f"yes (was {before})"
        rows.append(
            {"assumption": row["name"], "value": value, "unit": unit, "range": span, "source": row["source"],
             "overridden": was}
        )  # fmt: skip
    columns = ["assumption", "value", "unit", "range", "source"]
    if any(r["overridden"] for r in rows):
        columns.append("overridden")
    return f"""<h2>Assumptions</h2>
<p class="muted">Every limit and price of the limits profile ({html.escape(str(summary["limits_profile"]))}) and
the operator's settings, with the source of each figure and, where known, its uncertainty range (what
<code>sim sweep --vary PATH=catalog</code> draws from). Highlighted rows were overridden by the scenario's
<code>limits_overrides</code> or a <code>--set</code> what-if. Prices include the price multiplier.</p>
{table(rows, columns, numeric=("value", "range"), marked="overridden")}"""


def _packing_section(packing: pd.DataFrame | None) -> str:
    if packing is None:
        return ""
    rows = []
    for r in packing.to_dict("records"):
        proven = r["status"] == "OPTIMAL" or fmt.missing(r["gap"])
        rows.append(
            {
                "date": fmt.day_date(r["date"]),
                "group": f"{r['region']} {r['storage_provider']}",
                "services": fmt.number(r["services"]),
                "L1 bound": fmt.number(r["l1_nodes"]),
                "optimum": fmt.number(r["optimal_nodes"]),
                "status": r["status"] if proven else f"{r['status']} (gap {fmt.share(r['gap'])})",
                "greedy (× opt.)": f"{fmt.number(r['greedy_nodes'])} ({fmt.number(r['greedy_to_optimal_nodes'], 2)})",
                "simulated (× opt.)": f"{fmt.number(r['sim_run_nodes'])} ({fmt.number(r['sim_to_optimal_nodes'], 2)})",
                "clusters opt. / greedy / sim.": f"{fmt.number(r['optimal_clusters'])} / "
                f"{fmt.number(r['greedy_clusters'])} / {fmt.number(r['sim_clusters'])}",
            }
        )
    columns = list(rows[0]) if rows else []
    image = packing_plot(packing)
    plot = "" if image is None else img("Run nodes at the packing checks", image)
    return f"""<h2>Packing checks: greedy engine vs optimum</h2>
<p class="muted">On each check day the live services of every region and storage provider are packed onto the
fewest run nodes and clusters (the optimum: L1 bound, first-fit decreasing, CP-SAT on one worker with a
deterministic time limit; OPTIMAL only with a proof, FEASIBLE is the best packing found with its gap to the best
bound). Greedy: the live engine with this scenario's policy re-placing the same services in arrival order on a
fresh fleet that grows only on rejection. Simulated: the run nodes and clusters the simulated operator runs that
day.</p>
{table(rows, columns, numeric=tuple(c for c in columns if c not in ("date", "group", "status")), nowrap=("date",))}
{plot}"""


def _plots(result: RunTables) -> str:
    ts, summary = result.timeseries, result.summary
    fleet = ts[ts["cluster_id"] == "fleet"]
    clusters = ts[ts["cluster_id"] != "fleet"]
    span = (pd.Timestamp(summary["start_date"]), pd.Timestamp(summary["end_date"]))
    order_ram = _assumption(summary, "operator.node_order_at_ram_fraction") or 1.0
    order_pods = _assumption(summary, "operator.node_order_at_pods_fraction") or 1.0
    close = _assumption(summary, "operator.shard.close_fraction") or 1.0
    # Only the thresholds that triggered a decision in this run are drawn.
    # (a scale-down row names no limit)
    bound = {row["limit"] for row in summary.get("decisions") or [] if row["limit"]}
    ram_threshold = (f"operator orders run nodes ({order_ram:.0%})", order_ram)
    volume_threshold = (f"cluster closes to new customers ({close:.0%})", close)
    upgrade = _assumption(summary, "operator.control_plane.upgrade_at_fraction") or 1.0
    basis = summary.get("control_plane_upgrade_basis", "tight")
    upgrade_threshold = (f"operator upgrades the control plane ({upgrade:.0%} of {basis})", upgrade,
                         f"ctrl_{basis}_objects")  # fmt: skip
    figures = [
        ("Customers and services", (fleet_counts_plot(fleet, span), "")),
        ("RAM per cluster", per_cluster_plot(
            clusters, span, "RAM requested per cluster vs allocatable", "ram_requested_bytes",
            "ram_allocatable_bytes", "GiB", GIB, counts=False,
            threshold=ram_threshold if "ram_per_run_node" in bound else None)),
        ("Volumes vs storage limit", per_cluster_plot(
            clusters, span, "Volumes per cluster vs the storage provider's limit", "volumes", "max_volumes",
            "volumes", threshold=volume_threshold if any(b.startswith("volumes:") for b in bound) else None)),
        ("etcd objects vs control plane", per_cluster_plot(
            clusters, span, "etcd objects per cluster vs control-plane tight capacity", "etcd_objects",
            "ctrl_tight_objects", "etcd objects",
            threshold=upgrade_threshold if "control_plane_objects" in bound else None)),
        ("Pods per node", pods_per_node_plot(
            clusters, span, _run_node_max_pods(summary),
            order_pods if "pods_per_node" in bound else None)),
        ("Nodes and clusters", (nodes_and_clusters_plot(fleet, span), "")),
        ("Cost", (cost_plot(fleet, span), "")),
    ]  # fmt: skip
    return "".join(
        img(title, data) + (f"<p class='muted'>{html.escape(note.capitalize())}.</p>" if note else "")
        for title, (data, note) in figures
    )


def _key_figures(summary: dict) -> str:
    rows = [
        ("Scenario", summary["scenario"]),
        ("Limits profile", summary["limits_profile"]),
        ("Period", f"{fmt.day_date(summary['start_date'])} to {fmt.day_date(summary['end_date'])}"),
        ("Seed", f"{summary['seed_entropy']} (spawn key {summary['seed_spawn_key']})"),
        ("Customers signed up / active at the end", f"{fmt.number(summary['customers_signed_up'])} / "
         f"{fmt.number(summary['customers_end'])}"),
        ("Churned / lost", f"{fmt.number(summary['customers_churned'])} / {fmt.number(summary['customers_lost'])}"),
        ("Placements attempted / rejected", f"{fmt.number(summary['placements_attempted'])} / "
         f"{fmt.number(summary['placements_rejected'])}"),
        ("Clusters / run nodes at the end", f"{summary['clusters_end']} / {summary['run_nodes_end']}"),
        ("Cost per month at the end", fmt.eur(summary["cost_eur_month_end"])),
        ("Total cost over the horizon", fmt.eur(summary["cost_eur_total"])),
    ]  # fmt: skip
    return table([{"figure": k, "value": v} for k, v in rows], ["figure", "value"])


def _event_section(events: pd.DataFrame) -> str:
    counts = events["kind"].value_counts().sort_index()
    count_rows = [{"kind": k.replace("_", " "), "count": fmt.number(v)} for k, v in counts.items()]
    log = events[events["kind"] != "placement_rejected"].head(300)
    log_rows = [
        {"date": fmt.day_date(d), "event": k.replace("_", " "), "cluster": c, "detail": t}
        for d, k, c, t in zip(log["date"], log["kind"], log["cluster_id"], log["detail"], strict=True)
    ]
    return f"""<h2>Event log</h2>
{table(count_rows, ["kind", "count"], numeric=("count",))}
<p class="muted">First {len(log_rows)} events other than placement rejections (those are in events.parquet,
aggregated per day, scope and reason).</p>
{table(log_rows, ["date", "event", "cluster", "detail"])}"""


def _warnings(summary: dict) -> str:
    """What the scenario's own figures contradict, first on the page: the run's warnings (an initial fleet over a
    comfortable level), the fleet the run needed where the design document expects another for its stage, and,
    when the profiles disagree, the etcd objects per customer they and the design document assume."""
    lines = list(summary.get("warnings") or [])
    design_doc = summary.get("design_doc") or {}
    if design_doc.get("agrees") is False:
        lines += list(design_doc["lines"])
    objects = summary.get("objects_per_customer") or {}
    if objects.get("differ"):
        lines += list(objects.get("lines") or [])
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(str(line))}</li>" for line in lines)
    return f"<section id='warnings' class='warnings'><h2>Warnings</h2><ul>{items}</ul></section>"


def _design_doc_section(summary: dict) -> str:
    """The run's fleet beside what the design document expects of the scenario's stage (``sim.design_doc``)."""
    c = summary.get("design_doc")
    if not c:
        return ""
    nodes = c["expected_run_nodes_per_cluster"]
    verdict = VERDICTS[c["agrees"]]
    columns = ["figure", "design document", "this run"]
    rows = [
        dict(zip(columns, row, strict=True))
        for row in (
            ("active customers", f"~{c['customers']:,}", f"{c['active_customers']:,} on {c['date']}"),
            ("clusters", f"{c['expected_clusters']:,}", f"{c['clusters']:,}"),
            ("run nodes per cluster", "-" if nodes is None else f"{nodes[0]}-{nodes[1]}",
             f"at most {c['most_run_nodes_per_cluster']:,} ({c['run_nodes']:,} in all)"),
        )
    ]  # fmt: skip
    text = "".join(f"<p>{html.escape(line)}</p>" for line in c["lines"])
    return (
        f"<section id='design-doc'><h2>Against the design document: the model {verdict}</h2>{text}"
        f"{table(rows, columns, numeric=('design document', 'this run'))}</section>"
    )


def render_report(result: RunTables) -> str:
    summary = result.summary
    name = html.escape(result.scenario_name)
    body = f"""<h1>Growth simulation: {name}</h1>
{_warnings(summary)}
{executive_summary(summary, result.orders)}
{_design_doc_section(summary)}
{recommendation_section(summary)}
<h2>Key figures</h2>
{_key_figures(summary)}
{_cost_section(summary)}
{_orders_section(result.orders)}
{_assumptions_section(summary)}
{decision_section(summary)}
{utilisation_section(summary, result.timeseries)}
{_packing_section(result.packing)}
<h2>Plots</h2>
<p class="muted">Solid lines are levels, dashed lines limits, dotted lines the operator's thresholds (drawn only
where they triggered a decision in this run); per-cluster plots draw the busiest clusters and sum the rest as
"others".</p>
{_plots(result)}
{_event_section(result.events)}"""
    return page(f"capplan simulation: {result.scenario_name}", body)
