"""``GET /v1/forecast`` and the forecast gauges: the latest published forecast, read from the database.

Every worker reads the same ``forecasts`` table, so any of them answers, and ``/metrics`` exports the same gauges
whichever worker the scrape reaches. Days in the answer count from the forecast's ``as_of``; the gauges count from
the scrape (what has passed since ``as_of`` is taken off), so an alert on them fires on time between publications.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from placement.router.api import Problem
from placement.router.forecasts import Forecast, latest_forecast
from placement.router.gate import DatabaseUnavailable
from placement.state import CLUSTER_ID_LENGTH

NO_FORECAST = (
    "no forecast has been published to this database yet: run `sim forecast --start-from DB_URL --publish DB_URL` "
    "(with --every for a standing forecast)"
)
QUANTILES = (("0.1", "p10_days"), ("0.5", "p50_days"), ("0.9", "p90_days"))


class ForecastRowOut(BaseModel):
    cluster: str
    limit: str = Field(description="the catalogue's name for the limit, as in the clusters' headroom")
    unit: str
    used: int = Field(description="the level when the forecast started (as_of)")
    capacity: int | None
    p10_days: float | None = Field(
        description="days after as_of by which 10 % of runs had hit the limit; null: not within the horizon"
    )
    p50_days: float | None
    p90_days: float | None
    order_by_days: float | None = Field(description="days after as_of by which to order, given the lead time")
    action: str | None = Field(description="what the simulated operator does about it")
    lead_days: float | None
    p10_date: datetime | None
    p50_date: datetime | None
    p90_date: datetime | None
    order_by_date: datetime | None


class ForecastOrderOut(BaseModel):
    cluster: str = Field(
        description="the cluster it was ordered for, or '<region> (region)' for a new cluster a region's own demand "
        "asked for (its new customers had no open cluster of theirs)"
    )
    order: str = Field(
        description="what was ordered: run nodes, control-plane upgrade, a successor cluster, a new cluster in <region>"
    )
    runs_ordering: float = Field(description="the share of runs in which the operator ordered it")
    p10_days: float | None = Field(
        description="days after as_of by which 10 % of runs had ordered it; null: not within the horizon"
    )
    p50_days: float | None
    p90_days: float | None
    lead_days: float
    limit: str | None = Field(description="the limit that forced it in most runs")
    p10_date: datetime | None
    p50_date: datetime | None
    p90_date: datetime | None


class ForecastOut(BaseModel):
    id: int
    created_at: datetime = Field(description="when the forecast was published")
    age_seconds: float = Field(description="seconds since it was published, by the router's clock")
    as_of: datetime = Field(description="the time of the state it starts from; every *_days counts from here")
    horizon_days: float
    runs: int
    seed: int
    source: str
    base: str
    warnings: list[str] = Field(
        description="what the numbers rest on and where the model and the fleet disagree, as the forecast said it"
    )
    rows: list[ForecastRowOut]
    orders: list[ForecastOrderOut] = Field(
        description="when the simulated operator first ordered each kind of capacity for each cluster, over the runs"
    )


def forecast_body(forecast: Forecast, now: datetime, cluster: str | None = None) -> dict[str, Any]:
    rows = []
    for row in forecast.rows:
        if cluster is not None and row.cluster != cluster:
            continue
        dates = {f"{name[:-5]}_date": forecast.day(getattr(row, name)) for name in ("p10_days", "p50_days", "p90_days")}
        rows.append({**_row_dict(row), **dates, "order_by_date": forecast.day(row.order_by_days)})
    orders = [
        {**_row_dict(order), **{f"{q}_date": forecast.day(getattr(order, f"{q}_days")) for q in ("p10", "p50", "p90")}}
        for order in forecast.orders
        if cluster is None or order.cluster == cluster
    ]
    return {
        "id": forecast.id,
        "created_at": forecast.created_at,
        "age_seconds": forecast.age_seconds(now),
        "as_of": forecast.as_of,
        "horizon_days": forecast.horizon_days,
        "runs": forecast.runs,
        "seed": forecast.seed,
        "source": forecast.source,
        "base": forecast.base,
        "warnings": list(forecast.warnings),
        "rows": rows,
        "orders": orders,
    }


def _row_dict(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


DatabaseCall = Callable[..., Awaitable[Any]]


def add_forecast_routes(
    app: FastAPI, engine: Any, db: DatabaseCall, clock: Callable[[], datetime], responses: dict
) -> None:
    """Register ``GET /v1/forecast``; ``db`` runs a call in the database thread under the request deadline."""

    @app.get(
        "/v1/forecast",
        tags=["forecast"],
        response_model=ForecastOut,
        operation_id="get_forecast",
        responses={**responses, 404: {"model": Problem, "description": "no forecast has been published yet"}},
        summary="The latest published forecast: days until each limit binds on each cluster (p10/p50/p90), "
        "order-by dates and actions, with its age",
        description=(
            "Written by a separate `sim forecast --publish` process; the router only reads it. Days count from "
            "`as_of`, the time of the state the forecast started from; a null day means the limit does not bind "
            "within `horizon_days`. `cluster` keeps that cluster's rows only (none, for a cluster the forecast "
            "does not know)."
        ),
    )
    async def get_forecast(
        cluster: str | None = Query(default=None, max_length=CLUSTER_ID_LENGTH, description="one cluster's rows"),
    ) -> dict[str, Any]:
        forecast = await db(latest_forecast, engine)
        if forecast is None:
            raise HTTPException(404, NO_FORECAST)
        return forecast_body(forecast, clock(), cluster)


async def forecast_for_scrape(db: DatabaseCall, engine: Any) -> Forecast | None:
    """The latest forecast, or None when there is none or the database does not answer in time: the request
    metrics are still served then (and ``placement_forecast_published`` says 0)."""
    try:
        return await db(latest_forecast, engine)
    except (DatabaseUnavailable, SQLAlchemyError):
        return None


def _remaining(days: float | None, elapsed: float) -> float:
    # Not within the horizon: +Inf, so "< N" alerts stay quiet and dashboards show it as unbounded.
    return math.inf if days is None else days - elapsed


def forecast_gauges(forecast: Forecast | None, now: datetime) -> Iterator[Metric]:
    """The forecast gauges, made at scrape time from ``forecast``."""
    published = GaugeMetricFamily(
        "placement_forecast_published", "1 when the router's database holds a published forecast, else 0."
    )
    published.add_metric([], 0.0 if forecast is None else 1.0)
    yield published
    if forecast is None:
        return
    age = GaugeMetricFamily(
        "placement_forecast_age_seconds", "Seconds since the latest forecast was published (created_at)."
    )
    age.add_metric([], forecast.age_seconds(now))
    yield age
    as_of = GaugeMetricFamily(
        "placement_forecast_as_of_timestamp_seconds", "Unix time of the state the latest forecast starts from."
    )
    as_of.add_metric([], forecast.as_of.timestamp())
    yield as_of
    remaining = GaugeMetricFamily(
        "placement_limit_days_remaining",
        "Days from now until the limit binds on the cluster at the quantile (0.1: 10 % of runs bind by then); "
        "+Inf: not within the forecast's horizon.",
        labels=["cluster", "limit", "quantile"],
    )
    order_by = GaugeMetricFamily(
        "placement_limit_order_by_days",
        "Days from now by which to order for the limit on the cluster, given the lead time (negative: late); "
        "+Inf: no order needed within the horizon.",
        labels=["cluster", "limit"],
    )
    utilisation = GaugeMetricFamily(
        "placement_limit_forecast_used_ratio",
        "Used over capacity when the latest forecast started (limits with a capacity).",
        labels=["cluster", "limit"],
    )
    elapsed = forecast.elapsed_days(now)
    for row in forecast.rows:
        for quantile, name in QUANTILES:
            remaining.add_metric([row.cluster, row.limit, quantile], _remaining(getattr(row, name), elapsed))
        order_by.add_metric([row.cluster, row.limit], _remaining(row.order_by_days, elapsed))
        if row.capacity:
            utilisation.add_metric([row.cluster, row.limit], row.used / row.capacity)
    yield remaining
    yield order_by
    yield utilisation
