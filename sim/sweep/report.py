"""The sweep's HTML report: bands of the fleet metrics, the first-shard distribution, binding limits, a tornado."""

from __future__ import annotations

import html
from typing import Any, Protocol

import pandas as pd

from sim.render import STYLE, figure, png, table


class SweepTables(Protocol):
    """What the report reads from a sweep's result (``sim.sweep.SweepResult``)."""

    scenario_name: str
    manifest: dict[str, Any]
    runs: pd.DataFrame
    bands: pd.DataFrame
    first_shard: pd.DataFrame
    binding_counts: pd.DataFrame
    sensitivity: pd.DataFrame

    @property
    def failed(self) -> pd.DataFrame: ...


GIB = 1024**3
# (metric, axis label, divisor)
BAND_PLOTS = (
    ("customers", "customers", 1),
    ("services", "services", 1),
    ("volumes", "volumes", 1),
    ("run_nodes", "run nodes", 1),
    ("etcd_objects", "etcd objects", 1),
    ("ram_requested_bytes", "RAM requested (GiB)", GIB),
    ("cost_eur_month", "cost (EUR / month)", 1),
    ("clusters", "clusters", 1),
)


def plots(result: SweepTables) -> list[tuple[str, str]]:
    """(title, base64 PNG) pairs."""
    out: list[tuple[str, str]] = []
    b = result.bands
    shown = [p for p in BAND_PLOTS if p[0] in set(b["metric"])]
    if shown:
        rows = (len(shown) + 1) // 2
        fig = figure(figsize=(11, 2.8 * rows))
        axes = fig.subplots(rows, 2, squeeze=False)
        for ax, (metric, label, scale) in zip(axes.flat, shown, strict=False):
            m = b[b["metric"] == metric]
            ax.fill_between(m["date"], m["p10"] / scale, m["p90"] / scale, alpha=0.3, label="p10–p90")
            ax.plot(m["date"], m["p50"] / scale, label="p50")
            ax.set_title(f"fleet {label}")
            ax.set_xlabel("date")
            ax.set_ylabel(label)
            ax.legend(loc="upper left", fontsize="small")
        for ax in list(axes.flat)[len(shown) :]:
            ax.set_visible(False)
        fig.autofmt_xdate()
        out.append(("Daily fleet metrics: p10/p50/p90 over the runs", png(fig)))
    runs = result.runs[result.runs["status"] == "ok"].dropna(subset=["first_shard_day"])
    if len(runs):
        fig = figure(figsize=(11, 3.5))
        left, right = fig.subplots(1, 2)
        left.hist(runs["first_shard_date"], bins=min(30, max(5, len(runs) // 3)))
        left.set_title("first-shard date")
        left.set_xlabel("date of the first new cluster")
        left.set_ylabel("runs")
        right.hist(runs["first_shard_customers"], bins=min(30, max(5, len(runs) // 3)))
        right.set_title("customers at the first shard")
        right.set_xlabel("fleet customers")
        right.set_ylabel("runs")
        fig.autofmt_xdate()
        out.append(("Distribution of the first shard", png(fig)))
    counts = result.binding_counts
    if len(counts):
        fig = figure(figsize=(9, 0.5 * len(counts) + 1.5))
        ax = fig.subplots()
        y = range(len(counts))
        ax.barh([i - 0.2 for i in y], counts["first_shard_share"] * 100, height=0.4, label="triggered the first shard")
        ax.barh([i + 0.2 for i in y], counts["first_bind_share"] * 100, height=0.4, label="bound first")
        ax.set_yticks(list(y), counts["limit"])
        ax.invert_yaxis()
        ax.set_xlabel("share of successful runs (%)")
        ax.set_title("Which limit binds first")
        ax.legend(fontsize="small")
        out.append(("Which limit binds first", png(fig)))
    sens = result.sensitivity.dropna(subset=["swing_days"])
    if len(sens):
        fig = figure(figsize=(9, 0.6 * len(sens) + 1.5))
        ax = fig.subplots()
        base = float(result.runs["first_shard_day"].median())
        for i, row in enumerate(sens.itertuples()):
            ax.barh(
                i, row.day_at_low - base, left=base, color="tab:blue", label="parameter at its p10" if i == 0 else None
            )
            ax.barh(
                i,
                row.day_at_high - base,
                left=base,
                color="tab:orange",
                label="parameter at its p90" if i == 0 else None,
            )
        ax.axvline(base, color="black", linewidth=0.8)
        ax.set_yticks(
            range(len(sens)),
            [f"{p} (ρ={r:+.2f})" for p, r in zip(sens["parameter"], sens["spearman_rho"], strict=True)],
        )
        ax.invert_yaxis()
        ax.set_xlabel("first-shard day (days after the scenario start)")
        ax.set_title("Sensitivity of the first-shard day (tornado; line = median)")
        ax.legend(fontsize="small")
        out.append(("Sensitivity of the first-shard day", png(fig)))
    return out


def _rows(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def render_sweep_report(result: SweepTables) -> str:
    """A self-contained HTML page."""
    name = html.escape(result.scenario_name)
    manifest = [{"field": k, "value": v} for k, v in result.manifest.items()]
    ok = int((result.runs["status"] == "ok").sum())
    failed = result.failed[["run", "seed_entropy", "seed_spawn_key", "status", "error"]]
    images = "".join(
        f"<h3>{html.escape(t)}</h3><img alt='{html.escape(t)}' src='data:image/png;base64,{d}'>"
        for t, d in plots(result)
    )
    first = result.first_shard.assign(first_shard_date=result.first_shard["first_shard_date"].dt.date)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>capplan sweep: {name}</title><style>{STYLE}</style></head>
<body>
<h1>Monte Carlo sweep: {name}</h1>
<p>{ok} of {len(result.runs)} runs succeeded.</p>
{table(manifest, ["field", "value"])}
<h2>First shard</h2>
{table(_rows(first), list(first.columns))}
<h2>Which limit binds first</h2>
{table(_rows(result.binding_counts), list(result.binding_counts.columns))}
<h2>Sensitivity</h2>
<p class="muted">Spearman rank correlation of each varied parameter with the first-shard day, and a least-squares
line read at the parameter's p10 and p90 draws.</p>
{table(_rows(result.sensitivity), list(result.sensitivity.columns))}
<h2>Failed runs</h2>
{table(_rows(failed), list(failed.columns)) if len(failed) else "<p>None.</p>"}
<h2>Plots</h2>
{images}
</body></html>
"""
