"""``GET /``: the fleet page. Every cluster's headroom against every catalogue limit with its snapshot's age, the
latest forecast's bands and order-by dates, and the ledger's recent decisions; server-rendered, read-only.

The page holds the same figures as the API (``/v1/clusters/{id}``'s headroom, ``/v1/forecast``'s rows): every
number is in its cell's ``data-value`` as the API gives it, and shown in the cell as a reader wants it (bytes in
binary units, days with their date). With ``--protect-select`` it needs a known token, which a browser gives as the
password of HTTP Basic auth (any user name) and a script as a bearer token.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from math import inf
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from placement.router.api import Problem
from placement.router.auth import matching_grant
from placement.router.db import cluster_counters, reservations
from placement.router.forecast_api import forecast_body
from placement.router.forecasts import Forecast, latest_forecast
from placement.router.repository import aware
from placement.router.views import cluster_view
from placement.units import human_bytes

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2329; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #d8dde3; padding: 0.2rem 0.6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td[data-field="reserved_at"], td[data-field="released_at"] { white-space: nowrap; }
.stale { color: #b3261e; font-weight: 600; }
.muted { color: #69737d; }
section { margin-bottom: 2rem; }
"""


@dataclass(frozen=True, slots=True)
class Decision:
    reserved_at: datetime
    service_id: str
    customer_id: str
    cluster_id: str
    node: str | None
    ram_bytes: int
    volumes: int
    released_at: datetime | None
    reason: str


def recent_decisions(engine: Any, limit: int) -> list[Decision]:
    """The ledger's newest placements, newest first."""
    columns = reservations.c
    query = (
        select(
            columns.reserved_at,
            columns.service_id,
            columns.customer_id,
            columns.cluster_id,
            columns.node_name,
            columns.ram_bytes,
            columns.volumes,
            columns.released_at,
            columns.response,
        )
        .order_by(columns.reserved_at.desc(), columns.request_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        Decision(
            aware(row.reserved_at),
            row.service_id,
            row.customer_id,
            row.cluster_id,
            row.node_name,
            row.ram_bytes,
            row.volumes,
            aware(row.released_at),
            (row.response or {}).get("reason", ""),
        )
        for row in rows
    ]


def fleet_state(store: Any, decisions: int) -> tuple[list[dict[str, Any]], Forecast | None, list[Decision]]:
    """Everything the page shows, read in the database thread: cluster views as ``/v1/clusters/{id}`` gives them,
    the latest forecast and the recent decisions."""
    from placement.router import counters

    now = store.clock()
    with store.engine.connect() as conn:
        reserved = {
            row.cluster_id: counters.reserved_view(row._mapping) for row in conn.execute(select(cluster_counters))
        }
        fleet = store.repository.read_fleet(conn)
    views = [
        cluster_view(cluster, load, reserved.get(cluster.id, {}), store.policy, now)
        for cluster, load in sorted(fleet, key=lambda pair: pair[0].id)
    ]
    return views, latest_forecast(store.engine), recent_decisions(store.engine, decisions)


def _cell(value: Any, shown: str | None = None, field: str = "", numeric: bool = True) -> str:
    data = "" if value is None else f' data-value="{escape(str(value))}"'
    css = ' class="num"' if numeric else ""
    text = "—" if value is None and shown is None else (shown if shown is not None else str(value))
    return f'<td{css} data-field="{field}"{data}>{escape(text)}</td>'


def _amount(value: int | None, unit: str) -> str | None:
    if value is None:
        return None
    return human_bytes(value) if unit == "bytes" else f"{value:,}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "no snapshot"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _days(days: float | None, date: datetime | None) -> str:
    return "not within horizon" if days is None else f"{days:.1f} d ({date:%Y-%m-%d})"


def _headroom_table(view: dict[str, Any], units: dict[str, str]) -> str:
    cluster_id = view["cluster"].id
    lines = ["<table><tr><th>limit</th><th>used</th><th>capacity</th><th>free</th><th>used %</th></tr>"]
    for row in view["headroom"]:
        # The headroom's RAM rows (the cluster's, and a run node's free RAM) are bytes, and say so in their names.
        unit = "bytes" if "bytes" in row["limit"] else units.get(row["limit"], "")
        share = None if not row["capacity"] else 100 * row["used"] / row["capacity"]
        lines.append(
            f'<tr data-cluster="{escape(cluster_id)}" data-limit="{escape(row["limit"])}">'
            f"<td>{escape(row['limit'])}</td>"
            + _cell(row["used"], _amount(row["used"], unit), "used")
            + _cell(row["capacity"], _amount(row["capacity"], unit), "capacity")
            + _cell(row["free"], _amount(row["free"], unit), "free")
            + _cell(None if share is None else round(share, 1), None if share is None else f"{share:.1f} %", "share")
            + "</tr>"
        )
    lines.append("</table>")
    return "".join(lines)


def _forecast_table(rows: Iterable[dict[str, Any]]) -> str:
    head = (
        "<table><tr><th>limit</th><th>used</th><th>capacity</th><th>p10</th><th>p50</th><th>p90</th>"
        "<th>order by</th><th>lead</th><th>action</th></tr>"
    )
    lines = [head]
    for row in rows:
        ordered = row["order_by_days"] is not None
        lines.append(
            f'<tr data-cluster="{escape(row["cluster"])}" data-limit="{escape(row["limit"])}">'
            f"<td>{escape(row['limit'])}</td>"
            + _cell(row["used"], _amount(row["used"], row["unit"]), "used")
            + _cell(row["capacity"], _amount(row["capacity"], row["unit"]), "capacity")
            + "".join(
                _cell(row[f"{q}_days"], _days(row[f"{q}_days"], row[f"{q}_date"]), f"{q}_days")
                for q in ("p10", "p50", "p90")
            )
            + _cell(
                row["order_by_days"],
                _days(row["order_by_days"], row["order_by_date"]) if ordered else None,
                "order_by_days",
            )
            + _cell(row["lead_days"], None if row["lead_days"] is None else f"{row['lead_days']:.0f} d", "lead_days")
            + _cell(row["action"], row["action"] or "—", "action", numeric=False)
            + "</tr>"
        )
    lines.append("</table>")
    return "".join(lines)


def _forecast_header(body: dict[str, Any] | None) -> str:
    if body is None:
        return (
            '<p id="forecast" class="muted">No forecast has been published yet: run '
            "<code>sim forecast --start-from DB_URL --publish DB_URL --every 6h</code>.</p>"
        )
    return (
        f'<p id="forecast" data-forecast-id="{body["id"]}">Forecast {body["id"]}, published '
        f'<span data-field="created_at" data-value="{body["created_at"].isoformat()}">'
        f"{_age(body['age_seconds'])} ago</span>, from the state of "
        f'<span data-field="as_of" data-value="{body["as_of"].isoformat()}">{body["as_of"]:%Y-%m-%d %H:%M} UTC</span>'
        f" ({escape(body['source'])}); {body['runs']} runs over {body['horizon_days']:.0f} days, seed "
        f"{body['seed']}, base scenario {escape(body['base'])}. Days count from that state.</p>"
        + (
            '<ul id="forecast-warnings">' + "".join(f"<li>{escape(text)}</li>" for text in body["warnings"]) + "</ul>"
            if body["warnings"]
            else ""
        )
    )


def _orders_table(orders: list[dict[str, Any]]) -> str:
    """When the simulated operator first ordered each kind of capacity for the cluster (only what some run ordered)."""
    placed = [order for order in orders if order["runs_ordering"] > 0]
    if not placed:
        return ""
    lines = [
        "<h3>The operator's orders</h3><table><tr><th>order</th><th>runs</th><th>p10</th><th>p50</th><th>p90</th>"
        "<th>lead</th><th>forced by</th></tr>"
    ]
    for order in placed:
        lines.append(
            f'<tr data-cluster="{escape(order["cluster"])}" data-order="{escape(order["order"])}">'
            f"<td>{escape(order['order'])}</td>"
            + _cell(order["runs_ordering"], f"{order['runs_ordering']:.0%}", "runs_ordering")
            + "".join(
                _cell(order[f"{q}_days"], _days(order[f"{q}_days"], order[f"{q}_date"]), f"{q}_days")
                for q in ("p10", "p50", "p90")
            )
            + _cell(order["lead_days"], f"{order['lead_days']:.0f} d", "lead_days")
            + _cell(order["limit"], order["limit"] or "—", "limit", numeric=False)
            + "</tr>"
        )
    lines.append("</table>")
    return "".join(lines)


def _cluster_section(
    view: dict[str, Any], forecast_rows: list[dict[str, Any]], units: dict[str, str], orders: list[dict[str, Any]]
) -> str:
    cluster = view["cluster"]
    age = view["snapshot_age_seconds"]
    stale = ' class="stale"' if view["snapshot_stale"] else ""
    observed = view["load"]["observed_at"] if view["load"] else None
    parts = [
        f'<section id="cluster-{escape(cluster.id)}" data-cluster="{escape(cluster.id)}">',
        f"<h2>{escape(cluster.name)} <span class='muted'>({escape(cluster.id)})</span></h2>",
        f"<p>{escape(cluster.region)} · {escape(cluster.status)} · {escape(cluster.storage_provider)} · snapshot "
        f'<span{stale} data-field="observed_at" data-value="{escape(observed or "")}">'
        f"{escape(_age(age) + ('' if age is None else ' old'))}</span>"
        + (" (stale)" if view["snapshot_stale"] else "")
        + "</p>",
        "<h3>Headroom</h3>",
        _headroom_table(view, units),
        "<h3>Forecast</h3>",
        _forecast_table(forecast_rows) if forecast_rows else "<p class='muted'>Not in the latest forecast.</p>",
        _orders_table(orders),
        "</section>",
    ]
    return "".join(parts)


def _decisions_table(decisions: list[Decision]) -> str:
    if not decisions:
        return "<p class='muted'>No placements yet.</p>"
    head = (
        "<table id='decisions'><tr><th>reserved</th><th>service</th><th>customer</th><th>cluster</th><th>node</th>"
        "<th>RAM</th><th>volumes</th><th>released</th><th>why</th></tr>"
    )
    lines = [head]
    for d in decisions:
        released = None if d.released_at is None else f"{d.released_at:%Y-%m-%d %H:%M:%S}"
        lines.append(
            f'<tr data-service="{escape(d.service_id)}">'
            + _cell(d.reserved_at.isoformat(), f"{d.reserved_at:%Y-%m-%d %H:%M:%S}", "reserved_at", False)
            + _cell(d.service_id, None, "service_id", False)
            + _cell(d.customer_id, None, "customer_id", False)
            + _cell(d.cluster_id, None, "cluster_id", False)
            + _cell(d.node, None, "node", False)
            + _cell(d.ram_bytes, human_bytes(d.ram_bytes), "ram_bytes")
            + _cell(d.volumes, None, "volumes")
            + _cell(
                None if d.released_at is None else d.released_at.isoformat(), released or "active", "released_at", False
            )
            + _cell(d.reason, None, "reason", False)
            + "</tr>"
        )
    lines.append("</table>")
    return "".join(lines)


def render_page(
    views: list[dict[str, Any]], forecast: Forecast | None, decisions: list[Decision], now: datetime
) -> str:
    body = None if forecast is None else forecast_body(forecast, now)
    units = {} if body is None else {row["limit"]: row["unit"] for row in body["rows"]}
    by_cluster: dict[str, list[dict[str, Any]]] = {}
    for row in [] if body is None else body["rows"]:
        by_cluster.setdefault(row["cluster"], []).append(row)
    for rows in by_cluster.values():  # what to order first on top; limits that do not bind last
        rows.sort(key=lambda row: tuple(inf if row[k] is None else row[k] for k in ("order_by_days", "p10_days")))
    orders: dict[str, list[dict[str, Any]]] = {}
    for order in [] if body is None else body["orders"]:
        orders.setdefault(order["cluster"], []).append(order)
    sections = [
        _cluster_section(view, by_cluster.pop(view["cluster"].id, []), units, orders.get(view["cluster"].id, []))
        for view in views
    ]
    shown = {view["cluster"].id for view in views}
    unknown = "".join(
        f'<section data-cluster="{escape(cid)}"><h2>{escape(cid)} <span class="muted">(in the forecast, not in '
        f"the router)</span></h2>{_forecast_table(rows)}{_orders_table(orders.get(cid, []))}</section>"
        for cid, rows in sorted(by_cluster.items())
    )
    # Orders for no cluster of the page: a region's new cluster, ordered for its customers' demand.
    unknown += "".join(
        f'<section data-cluster="{escape(label)}"><h2>{escape(label)}</h2>{table}</section>'
        for label, placed in sorted(orders.items())
        if label not in shown and label not in by_cluster and (table := _orders_table(placed))
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>capplan fleet</title>"
        f"<style>{STYLE}</style></head><body><h1>capplan fleet</h1>"
        f"<p class='muted'>As of <span id='now' data-value='{now.isoformat()}'>{now:%Y-%m-%d %H:%M:%S} UTC</span>; "
        f"{len(views)} clusters. Read-only; the same figures as /v1/clusters and /v1/forecast.</p>"
        f"{_forecast_header(body)}{''.join(sections) or '<p>No clusters yet.</p>'}{unknown}"
        f"<h2>Recent decisions</h2>{_decisions_table(decisions)}</body></html>"
    )


def _page_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def add_fleet_page(app: FastAPI, store: Any, db: Callable[..., Any], settings: Any, responses: dict) -> None:
    """Register ``GET /``. It needs a token exactly when select-cluster does (``--protect-select``)."""
    auth = {
        401: {"model": Problem, "description": "no token: give it as the HTTP Basic password, or as a bearer token"},
        403: {"model": Problem, "description": "an unknown token"},
    }

    @app.get(
        "/",
        tags=["operations"],
        response_class=HTMLResponse,
        summary="The fleet page: headroom, forecast bands and order-by dates, recent decisions",
        responses={**responses, **(auth if settings.protect_select else {})},
    )
    async def fleet_page(
        request: Request,
        decisions: int = Query(default=50, ge=1, le=1000, description="how many recent decisions to show"),
    ) -> HTMLResponse:
        if settings.protect_select:
            token = _page_token(request)
            if not token:
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "a token is needed: give it as the password (any user name)",
                    headers={"WWW-Authenticate": 'Basic realm="capplan fleet", charset="UTF-8"'},
                )
            if matching_grant(token, settings.tokens) is None:
                raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid token")
        views, forecast, recent = await db(fleet_state, store, decisions)
        return HTMLResponse(render_page(views, forecast, recent, store.clock()))
