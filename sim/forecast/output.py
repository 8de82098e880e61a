"""A forecast on disk: ``forecast.parquet`` and ``forecast.csv`` (the table), ``forecast.html`` (the page),
``provenance.csv`` (what is measured, estimated, assumed), ``runs.csv`` (what each run drew), ``orders.csv`` (when
the operator ordered what for each cluster, ``sim.forecast.orders``) and ``meta.json``
(the header, the fits, the warnings). Every file is written atomically, and nothing in them depends on the
clock or the machine: the same source, base, as-of time and seed give the same bytes."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from placement.atomic import atomic_write
from sim import fmt
from sim.forecast.orders import orders_html
from sim.forecast.refusals import turned_away_line

if TYPE_CHECKING:
    from sim.forecast.core import Forecast

NOT_WITHIN = "not within the horizon"


def write_forecast(result: Forecast, out_dir, *, csv: bool = True, html: bool = True) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = result.table
    written = {
        "parquet": atomic_write(
            out / "forecast.parquet", lambda tmp: table.to_parquet(tmp, index=False, engine="pyarrow")
        )
    }
    if csv:
        written["csv"] = atomic_write(out / "forecast.csv", table.to_csv(index=False, lineterminator="\n"))
    written["provenance"] = atomic_write(
        out / "provenance.csv", result.provenance.to_csv(index=False, lineterminator="\n")
    )
    written["runs"] = atomic_write(out / "runs.csv", result.runs.to_csv(index=False, lineterminator="\n"))
    written["orders"] = atomic_write(out / "orders.csv", result.orders.to_csv(index=False, lineterminator="\n"))
    meta = {
        "header": result.header,
        "growth_fit": None if result.growth_fit is None else result.growth_fit.table().to_dict("records"),
        "warnings": result.warnings,
    }
    written["meta"] = atomic_write(out / "meta.json", json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    if html:
        written["html"] = atomic_write(out / "forecast.html", render_page(result))
    return written


def _days(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_WITHIN
    return f"{value:.0f}"


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return html.escape(str(value))


def _level(row) -> str:
    if row.unit == "bytes":
        return f"{fmt.quantity(row.used, 'bytes')} of {fmt.quantity(row.capacity, 'bytes')}" if row.capacity else "–"
    capacity = "no limit" if row.capacity is None or pd.isna(row.capacity) else f"{row.capacity:,.0f}"
    return f"{row.used:,.0f} of {capacity} {html.escape(row.unit)}"


def urgency(row) -> str:
    """A row's order-by as the page colours it (and the command line's summary says it)."""
    if row.order_by_days is None or pd.isna(row.order_by_days):
        return "later"
    return "overdue" if row.order_by_days <= 0 else "soon" if row.order_by_days <= 90 else "planned"


def render_page(result: Forecast) -> str:
    """The forecast as one self-contained HTML page (no script, no external resource)."""
    head = result.header
    rows = []
    for row in result.table.itertuples():
        band = " / ".join(_days(getattr(row, f"{q}_days")) for q in ("p10", "p50", "p90"))
        dates = " / ".join(_cell(getattr(row, f"{q}_date")) for q in ("p10", "p50", "p90"))
        order = "–" if urgency(row) == "later" else f"{_cell(row.order_by_date)} ({row.order_by_days:.0f} d)"
        share = "–" if row.share is None or pd.isna(row.share) else f"{row.share:.0%}"
        rows.append(
            f'<tr class="{urgency(row)}"><td>{_cell(row.cluster)}</td><td>{_cell(row.limit_name)}</td>'
            f"<td>{_level(row)}</td><td>{share}</td><td>{band}</td><td>{dates}</td>"
            f"<td>{row.runs_binding:.0%}</td><td>{order}</td><td>{_cell(row.action)}</td><td>{_cell(row.basis)}</td></tr>"
        )
    provenance = "".join(
        f'<tr class="{_cell(p.basis)}"><td>{_cell(p.figure)}</td><td>{_cell(p.value)}</td><td>{_cell(p.basis)}</td>'
        f"<td>{_cell(p.source)}</td></tr>"
        for p in result.provenance.itertuples()
    )
    counts = result.provenance["basis"].value_counts()
    fits = ""
    if result.growth_fit is not None and result.growth_fit.fits:
        fit_rows = "".join(
            f"<tr><td>{_cell(f.kind)}{' (chosen)' if f.chosen else ''}</td><td>{_cell(f.parameters)}</td>"
            f"<td>{f.bic:.1f}</td><td>{f.aic:.1f}</td><td>{f.weight:.2f}</td></tr>"
            for f in result.growth_fit.table().itertuples()
        )
        fits = (
            "<h2>Growth fits</h2><p>Each run draws a kind with its weight, then its parameters from the fit's "
            "covariance (90 % intervals shown).</p><table><tr><th>kind</th><th>parameters</th><th>BIC</th>"
            f"<th>AIC</th><th>weight</th></tr>{fit_rows}</table>"
        )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings)
    failed = len(result.failed)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>capplan forecast as of {_cell(head["as_of"])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:14px}} th{{background:#f3f3f3}}
tr.overdue td{{background:#fbd5d5}} tr.soon td{{background:#fdebc8}} tr.planned td{{background:#eef6e8}}
tr.assumed td{{color:#8a5a00}} tr.estimated td{{color:#1c4f8a}}
</style></head><body>
<h1>Days until each limit binds</h1>
<p>As of {_cell(head["as_of"])} (day 0 = {_cell(head["start_date"])}), from {_cell(head["source_kind"])}
<code>{_cell(head["source"])}</code>, base scenario <code>{_cell(head["base"])}</code>:
{head["runs_ok"]} of {head["runs"]} runs succeeded ({failed} failed), horizon {head["horizon_days"]:.0f} days,
seed {head["seed"]}.</p>
<p>Customers: {head["customers_measured"]} measured from the router's ledger, <strong>{head["customers_estimated"]}
estimated</strong> from load snapshots. Figures: {int(counts.get("measured", 0))} measured,
{int(counts.get("estimated", 0))} estimated, {int(counts.get("assumed", 0))} assumed (see the provenance table).</p>
<p>Growth: {_cell(head["growth"])}. Churn: {_cell(head["churn"])}.</p>
<p id="turned-away">{_cell(turned_away_line(head))}.</p>
<p>A limit binds on the first day its used level reaches the capacity it has today (the hard limit the engine
rejects at). Bands are p10 / p50 / p90 over the runs; "{NOT_WITHIN}" when that share of runs does not reach it
within the horizon. Order by: the p10 day less the lead time of what answers it, so nine runs in ten are not
late. Rows: red overdue, orange within 90 days, green later within the horizon.</p>
<table><tr><th>cluster</th><th>limit</th><th>used today</th><th>share</th><th>binds in (days) p10 / p50 / p90</th>
<th>dates</th><th>runs binding</th><th>order by</th><th>action</th><th>start</th></tr>
{"".join(rows)}</table>
{orders_html(result.orders)}
{fits}
<h2>Warnings</h2><ul>{warnings or "<li>none</li>"}</ul>
<h2>Provenance</h2><table><tr><th>figure</th><th>value</th><th>basis</th><th>source</th></tr>{provenance}</table>
</body></html>
"""
