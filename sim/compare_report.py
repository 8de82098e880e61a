"""The HTML page of ``sim compare``: the answer in sentences, the outcomes side by side with the paired
difference and its band, and the daily bands of A, B and B - A."""

from __future__ import annotations

import html
from typing import Any, Protocol

import pandas as pd

from sim import fmt
from sim.outcomes import BY_NAME, PERCENTILE_NOTE
from sim.render import COLORS, count_axis, date_axis, figure, img, legend_outside, page, png, table


class CompareTables(Protocol):
    labels: tuple[str, str]
    manifest: dict[str, Any]
    outcomes: pd.DataFrame
    bands: pd.DataFrame
    failed: list[dict[str, Any]]
    start_date: str
    design_doc: dict[str, str | None]


def headline(result: CompareTables) -> list[str]:
    """Sentences with numbers: what B changes in cost, capacity and risk against A."""
    a, b = (html.escape(label) for label in result.labels)
    rows = {r["outcome"]: r for r in result.outcomes.to_dict("records")}
    runs = int(rows["cost_total"]["runs_paired"]) if "cost_total" in rows else 0
    out = [f"{runs} paired runs: run <i>i</i> of A and of B share one seed and the same customers."]
    total = rows.get("cost_total")
    if total is not None and not fmt.missing(total["diff_p50"]):
        direction = "less" if total["diff_p50"] < 0 else "more"
        out.append(
            f"Over the horizon, B ({b}) costs {fmt.eur(abs(total['diff_p50']))} {direction} than A ({a}) in the "
            f"median run (p10 {fmt.signed_eur(total['diff_p10'])}, p90 {fmt.signed_eur(total['diff_p90'])}); "
            f"B is cheaper in {fmt.share(total['b_lower_share'], 0)} of the runs."
        )
    end = rows.get("cost_month_end")
    if end is not None and not fmt.missing(end["a_p50"]):
        out.append(
            f"At the horizon the fleet costs {fmt.eur(end['a_p50'])}/month under A and {fmt.eur(end['b_p50'])}/month "
            f"under B (median)."
        )
    nodes, lost = rows.get("run_nodes"), rows.get("lost_customers")
    if nodes is not None and not fmt.missing(nodes["a_p50"]):
        out.append(
            f"Run nodes at the horizon: {fmt.number(nodes['a_p50'])} (A) vs {fmt.number(nodes['b_p50'])} (B); "
            f"lost customers: {fmt.number(lost['a_p50'])} (A) vs {fmt.number(lost['b_p50'])} (B)."
        )
    return out


def _outcome_rows(result: CompareTables) -> list[dict]:
    rows = []
    for row in result.outcomes.to_dict("records"):
        unit = BY_NAME[row["outcome"]].unit
        rows.append(
            {
                "outcome": row["label"],
                "A": fmt.band(row["a_p10"], row["a_p50"], row["a_p90"], unit),
                "B": fmt.band(row["b_p10"], row["b_p50"], row["b_p90"], unit),
                "B − A (paired)": fmt.band(row["diff_p10"], row["diff_p50"], row["diff_p90"], unit, signed=True),
                "B lower / higher": f"{fmt.share(row['b_lower_share'], 0)} / {fmt.share(row['b_higher_share'], 0)}",
                "runs": f"{row['runs_paired']}",
            }
        )
    return rows


PLOTS = (
    ("cost_eur_month", "Fleet cost per month", "EUR / month", False),
    ("cost_eur_cumulative", "Cumulative spend (incl. setup fees)", "EUR", False),
    ("run_nodes", "Run nodes", "run nodes", True),
    ("clusters", "Clusters", "clusters", True),
)


def plots(result: CompareTables) -> list[tuple[str, str]]:
    bands = result.bands
    if bands.empty:
        return []
    out = []
    start, end = bands["date"].min(), bands["date"].max()
    for metric, title, unit, counts in PLOTS:
        fig = figure(figsize=(10, 3.6))
        left, right = fig.subplots(1, 2)
        for k, side in enumerate(("a", "b")):
            rows = bands[(bands["metric"] == metric) & (bands["side"] == side)]
            label = f"{side.upper()}: {result.labels[k]}"
            left.fill_between(rows["date"], rows["p10"], rows["p90"], color=COLORS[k], alpha=0.25)
            left.plot(rows["date"], rows["p50"], color=COLORS[k], label=f"{label} (p50; band p10–p90)")
        left.set(title=title, xlabel="date", ylabel=unit)
        diff = bands[(bands["metric"] == metric) & (bands["side"] == "diff")]
        right.fill_between(diff["date"], diff["p10"], diff["p90"], color=COLORS[2], alpha=0.3, label="p10–p90")
        right.plot(diff["date"], diff["p50"], color=COLORS[2], label="p50")
        right.axhline(0, color="black", linewidth=0.8)
        right.set(title=f"{title}: B − A, run by run", xlabel="date", ylabel=unit)
        for ax in (left, right):
            date_axis(ax, start, end)
            ax.grid(alpha=0.3)
            if counts:
                count_axis(ax)
        legend_outside(left, below=True)
        legend_outside(right, below=True)
        out.append((title, png(fig)))
    return out


def _design_doc(result: CompareTables) -> str:
    """Each side's runs against what its scenario says the design document expects, where it says so."""
    items = [
        f"<li>{side.upper()} ({html.escape(label)}): {html.escape(verdict)}</li>"
        for side, label in zip(("a", "b"), result.labels, strict=True)
        if (verdict := result.design_doc.get(side))
    ]
    return f"<h2>Against the design document</h2><ul>{''.join(items)}</ul>" if items else ""


def render_compare_report(result: CompareTables) -> str:
    a, b = result.labels
    manifest = result.manifest
    setup = [
        {"": "A", "scenario": a, "file": manifest.get("file_a", ""), "what-ifs": manifest.get("overrides_a") or "-"},
        {"": "B", "scenario": b, "file": manifest.get("file_b", ""), "what-ifs": manifest.get("overrides_b") or "-"},
    ]
    if manifest.get("overrides_both"):
        setup.append({"": "both", "scenario": "", "file": "", "what-ifs": manifest["overrides_both"]})
    sentences = "".join(f"<li>{s}</li>" for s in headline(result))
    images = "".join(img(title, data) for title, data in plots(result))
    failed = (
        table(result.failed, ["side", "run", "error"])
        if result.failed
        else "<p>None: every run of both sides finished.</p>"
    )
    body = f"""<h1>Comparison: A {html.escape(a)} vs B {html.escape(b)}</h1>
<section id="summary"><h2>Summary</h2><ul>{sentences}</ul></section>
<h2>What is compared</h2>
{table(setup, ["", "scenario", "file", "what-ifs"], long=("scenario", "file", "what-ifs"))}
<p class="muted">{int(manifest.get("runs", 0))} runs per side, root seed {manifest.get("seed")}; run <i>i</i> of both
sides uses <code>SeedSequence(seed, spawn_key=(i, 1))</code>, and each driver draws from its own stream (common random
numbers), so B − A is taken run by run. Packing checks are not run. {PERCENTILE_NOTE}.</p>
<h2>Outcomes</h2>
{table(_outcome_rows(result), ["outcome", "A", "B", "B − A (paired)", "B lower / higher", "runs"])}
{_design_doc(result)}
<h2>Over time</h2>
{images}
<h2>Failed runs</h2>
{failed}"""
    return page(f"capplan comparison: {a} vs {b}", body)
