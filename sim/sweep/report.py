"""The sweep's HTML report: bands of the fleet metrics, the first-shard distribution, binding limits, a tornado."""

from __future__ import annotations

import html
from typing import Any, Protocol

import pandas as pd

from sim import fmt
from sim.design_doc import sweep_verdict
from sim.outcomes import BY_NAME, PERCENTILE_NOTE, percentiles
from sim.render import COLORS, count_axis, date_axis, figure, img, legend_outside, money_axis, page, png, table
from sim.report import limit_name
from sim.sweep.stats import NO_SHARD


class SweepTables(Protocol):
    """What the report reads from a sweep's result (``sim.sweep.SweepResult``)."""

    scenario_name: str
    manifest: dict[str, Any]
    runs: pd.DataFrame
    bands: pd.DataFrame
    first_shard: pd.DataFrame
    binding_counts: pd.DataFrame
    sensitivity: pd.DataFrame
    outcomes: pd.DataFrame
    metric: str

    @property
    def failed(self) -> pd.DataFrame: ...


GIB = 1024**3
# (metric, axis label, divisor, whole numbers)
BAND_PLOTS = (
    ("customers", "customers", 1, True),
    ("services", "services", 1, True),
    ("volumes", "volumes", 1, True),
    ("run_nodes", "run nodes", 1, True),
    ("etcd_objects", "etcd objects", 1, True),
    ("ram_requested_bytes", "RAM requested (GiB)", GIB, False),
    ("cost_eur_month", "cost (EUR / month)", 1, False),
    ("clusters", "clusters", 1, True),
)


def _band_plots(b: pd.DataFrame) -> str | None:
    shown = [p for p in BAND_PLOTS if p[0] in set(b["metric"])]
    if not shown:
        return None
    rows = (len(shown) + 1) // 2
    fig = figure(figsize=(11, 2.9 * rows))
    axes = fig.subplots(rows, 2, squeeze=False)
    start, end = b["date"].min(), b["date"].max()
    for ax, (metric, label, scale, whole) in zip(axes.flat, shown, strict=False):
        m = b[b["metric"] == metric]
        ax.fill_between(m["date"], m["p10"] / scale, m["p90"] / scale, color=COLORS[0], alpha=0.3, label="p10–p90")
        ax.plot(m["date"], m["p50"] / scale, color=COLORS[0], label="p50")
        ax.set(title=f"fleet {label}", xlabel="date", ylabel=label)
        date_axis(ax, start, end)
        (count_axis if whole else money_axis)(ax)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.02), ncol=2, frameon=False)
    fig.tight_layout()
    return png(fig)


def plots(result: SweepTables) -> list[tuple[str, str]]:
    """(title, base64 PNG) pairs."""
    out: list[tuple[str, str]] = []
    bands = _band_plots(result.bands)
    if bands is not None:
        out.append(("Daily fleet metrics: p10/p50/p90 over the runs", bands))
    runs = result.runs[result.runs["status"] == "ok"].dropna(subset=["first_shard_day"])
    if len(runs):
        fig = figure(figsize=(11, 3.5))
        left, right = fig.subplots(1, 2)
        bins = min(30, max(5, len(runs) // 3))
        left.hist(runs["first_shard_date"], bins=bins, color=COLORS[0])
        left.set(title="first-shard date", xlabel="date of the first new cluster", ylabel="runs")
        right.hist(runs["first_shard_customers"], bins=bins, color=COLORS[1])
        right.set(title="customers at the first shard", xlabel="fleet customers", ylabel="runs")
        count_axis(right, "x")
        for ax in (left, right):
            count_axis(ax)
        fig.autofmt_xdate()
        out.append(("Distribution of the first shard", png(fig)))
    counts = result.binding_counts
    if len(counts):
        fig = figure(figsize=(9, 0.5 * len(counts) + 1.5))
        ax = fig.subplots()
        y = range(len(counts))
        ax.barh([i - 0.2 for i in y], counts["first_shard_share"] * 100, height=0.4, color=COLORS[0],
                label="triggered the first shard")  # fmt: skip
        ax.barh([i + 0.2 for i in y], counts["first_bind_share"] * 100, height=0.4, color=COLORS[1],
                label="bound first")  # fmt: skip
        ax.set_yticks(list(y), [limit_name(k) if k != NO_SHARD else k for k in counts["limit"]])
        ax.invert_yaxis()
        ax.set(title="Which limit binds first", xlabel="share of successful runs (%)", ylabel="limit")
        legend_outside(ax)
        out.append(("Which limit binds first", png(fig)))
    sens = result.sensitivity.dropna(subset=["swing"])
    if len(sens):
        out.append((f"Sensitivity of {_metric_label(result)}", tornado(result, sens)))
    return out


def _metric_label(result: SweepTables) -> str:
    item = BY_NAME[result.metric]
    return f"{item.label} ({item.unit})"


def tornado(result: SweepTables, sens: pd.DataFrame) -> str:
    """One bar per parameter from the outcome at its p10 draw to the outcome at its p90 draw (the fitted line),
    biggest swing on top, around the median outcome."""
    item = BY_NAME[result.metric]
    ok = result.runs[result.runs["status"] == "ok"]
    base = percentiles(ok[item.key].astype("float64"))[1]
    fig = figure(figsize=(10, 0.55 * len(sens) + 1.8))
    ax = fig.subplots()
    for i, row in enumerate(sens.itertuples()):
        first = i == 0
        ax.barh(i, row.at_low - base, left=base, color=COLORS[0], label="parameter at its p10 draw" if first else None)
        ax.barh(i, row.at_high - base, left=base, color=COLORS[1], label="parameter at its p90 draw" if first else None)
    ax.axvline(base, color="black", linewidth=0.8, label="median outcome")
    ax.set_yticks(
        range(len(sens)),
        [f"{p} (ρ={r:+.2f})" for p, r in zip(sens["parameter"], sens["spearman_rho"], strict=True)],
    )
    ax.invert_yaxis()
    money = item.unit.startswith("EUR")
    ax.set(title=f"Tornado: {item.label}", xlabel=f"{item.label} ({item.unit})", ylabel="varied parameter")
    (money_axis if money else count_axis)(ax, "x")
    legend_outside(ax)
    return png(fig)


def _rows(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _sensitivity_rows(result: SweepTables) -> list[dict]:
    unit = BY_NAME[result.metric].unit
    return [
        {
            "parameter": r["parameter"],
            "distribution": r["distribution"],
            "Spearman ρ": fmt.number(r["spearman_rho"], 2),
            "p10 draw": fmt.number(r["low_value"]),
            "p90 draw": fmt.number(r["high_value"]),
            "outcome at p10 draw": fmt.quantity(r["at_low"], unit),
            "outcome at p90 draw": fmt.quantity(r["at_high"], unit),
            "swing": fmt.quantity(r["swing"], unit),
            "runs": fmt.number(r["runs_used"]),
        }
        for r in result.sensitivity.to_dict("records")
    ]


def _outcome_rows(result: SweepTables) -> list[dict]:
    return [
        {"outcome": r["label"], "p10": fmt.quantity(r["p10"], r["unit"]), "p50": fmt.quantity(r["p50"], r["unit"]),
         "p90": fmt.quantity(r["p90"], r["unit"]), "runs": fmt.number(r["runs"])}
        for r in result.outcomes.to_dict("records")
    ]  # fmt: skip


def _design_doc(result: SweepTables) -> str:
    verdict = sweep_verdict(result.runs)
    return "" if verdict is None else f"<h2>Against the design document</h2><p>{html.escape(verdict)}</p>"


def render_sweep_report(result: SweepTables) -> str:
    """A self-contained HTML page."""
    name = html.escape(result.scenario_name)
    manifest = [{"field": k, "value": v} for k, v in result.manifest.items()]
    ok = int((result.runs["status"] == "ok").sum())
    failed = result.failed[["run", "seed_entropy", "seed_spawn_key", "status", "error"]]
    images = "".join(img(t, d) for t, d in plots(result))
    first = [
        {
            "statistic": r["statistic"],
            "day": fmt.number(r["first_shard_day"], 0),
            "date": fmt.day_date(r["first_shard_date"]),
            "customers": fmt.number(r["first_shard_customers"], 0),
            "runs sharded": f"{r['runs_sharded']} of {r['runs_ok']}",
        }
        for r in result.first_shard.to_dict("records")
    ]
    counts = [
        {"limit": limit_name(r["limit"]) if r["limit"] != NO_SHARD else r["limit"],
         "triggered the first shard": fmt.share(r["first_shard_share"]),
         "bound first": fmt.share(r["first_bind_share"])}
        for r in result.binding_counts.to_dict("records")
    ]  # fmt: skip
    sens_columns = ["parameter", "distribution", "Spearman ρ", "p10 draw", "p90 draw", "outcome at p10 draw",
                    "outcome at p90 draw", "swing", "runs"]  # fmt: skip
    body = f"""<h1>Monte Carlo sweep: {name}</h1>
<p>{ok} of {len(result.runs)} runs succeeded. {PERCENTILE_NOTE}.</p>
{table(manifest, ["field", "value"], long=("value",))}
<h2>Outcomes</h2>
{table(_outcome_rows(result), ["outcome", "p10", "p50", "p90", "runs"], numeric=("p10", "p50", "p90", "runs"))}
<h2>Sensitivity of {html.escape(_metric_label(result))}</h2>
<p class="muted">Spearman rank correlation of each varied parameter with the outcome, and a least-squares line read
at the parameter's p10 and p90 draws (the tornado's bars); all parameters vary together. Choose the outcome with
<code>--metric</code>.</p>
{table(_sensitivity_rows(result), sens_columns, numeric=tuple(sens_columns[2:]))}
{_design_doc(result)}
<h2>First shard</h2>
{table(first, ["statistic", "day", "date", "customers", "runs sharded"], numeric=("day", "customers"))}
<h2>Which limit binds first</h2>
{table(counts, ["limit", "triggered the first shard", "bound first"])}
<h2>Failed runs</h2>
{table(_rows(failed), list(failed.columns)) if len(failed) else "<p>None.</p>"}
<h2>Plots</h2>
{images}"""
    return page(f"capplan sweep: {result.scenario_name}", body)
