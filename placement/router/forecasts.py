"""Published forecasts: what ``sim forecast --publish`` writes into the router's database and the router serves.

The router never computes a forecast (``placement`` never imports ``sim``): a separate process runs the Monte
Carlo and calls ``write_forecast``; ``GET /v1/forecast``, the gauges and the fleet page read ``latest_forecast``.
Any worker answers, because every one of them reads the same table.

A forecast is a header (when it was made, the state's time it starts from, horizon, runs, seed, source and base
scenario) and one ``ForecastRow`` per cluster and catalogue limit. Days count from ``as_of``; None means the limit
does not bind within the horizon (in any run for p10, in half the runs for p50, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, inspect, select

from placement.router.db import forecast_orders, forecast_rows, forecasts, make_engine, sqlite_file_missing

# What BIGINT holds: a seed or a figure beyond it is refused rather than wrapped.
BIGINT_MAX = 2**63 - 1
SECONDS_PER_DAY = 86_400.0
# What a publisher's database lacks until the router has made it (its migrations own the schema).
MIGRATE_FIRST = "run `placement db upgrade --db URL` (or start the router once) first"


class ForecastError(ValueError):
    """A forecast that cannot be stored as given; the message names the field (and row)."""


class ForecastsNotMigrated(RuntimeError):
    """The database lacks what a publisher writes: the router's migrations have not reached 0009."""


@dataclass(frozen=True, slots=True)
class ForecastRow:
    """One cluster × limit of a forecast. ``limit`` is the catalogue's name for it (``kubernetes.pods``...)."""

    cluster: str
    limit: str
    unit: str
    used: int
    capacity: int | None
    p10_days: float | None
    p50_days: float | None
    p90_days: float | None
    order_by_days: float | None
    action: str | None
    lead_days: float | None

    def check(self, where: str) -> ForecastRow:
        """The row with its numbers as plain Python values, or ``ForecastError`` naming ``where`` and the field."""
        _named(self, ("cluster", "limit", "unit"), where)
        used = _integer(self.used, f"{where}.used")
        capacity = None if self.capacity is None else _integer(self.capacity, f"{where}.capacity")
        days = {name: _days(getattr(self, name), f"{where}.{name}") for name in DAY_FIELDS}
        _in_order([days["p10_days"], days["p50_days"], days["p90_days"]], where)
        if self.action is not None and not isinstance(self.action, str):
            raise ForecastError(f"{where}.action: must be a string or None, got {self.action!r}")
        return ForecastRow(
            self.cluster,
            self.limit,
            self.unit,
            used,
            capacity,
            days["p10_days"],
            days["p50_days"],
            days["p90_days"],
            days["order_by_days"],
            self.action,
            days["lead_days"],
        )


DAY_FIELDS = ("p10_days", "p50_days", "p90_days", "order_by_days", "lead_days")
ROW_FIELDS = tuple(ForecastRow.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class ForecastOrder:
    """When the simulated operator first ordered one kind of capacity (``order``: run nodes, a control-plane
    upgrade, a successor cluster) for a cluster, or a new cluster for a region's own demand (``cluster``
    "<region> (region)"), over the forecast's runs; ``limit``: what forced it most often."""

    cluster: str
    order: str
    runs_ordering: float
    p10_days: float | None
    p50_days: float | None
    p90_days: float | None
    lead_days: float
    limit: str | None

    def check(self, where: str) -> ForecastOrder:
        """The order with its numbers as plain Python values, or ``ForecastError`` naming ``where`` and the field."""
        _named(self, ("cluster", "order"), where)
        share = _days(self.runs_ordering, f"{where}.runs_ordering")
        if share is None or not 0 <= share <= 1:
            raise ForecastError(f"{where}.runs_ordering: must be a share between 0 and 1, got {self.runs_ordering!r}")
        days = _in_order([_days(getattr(self, q), f"{where}.{q}") for q in ("p10_days", "p50_days", "p90_days")], where)
        lead = _days(self.lead_days, f"{where}.lead_days")
        if lead is None or lead < 0:
            raise ForecastError(f"{where}.lead_days: must be a number of days, got {self.lead_days!r}")
        if self.limit is not None and not isinstance(self.limit, str):
            raise ForecastError(f"{where}.limit: must be a string or None, got {self.limit!r}")
        return ForecastOrder(self.cluster, self.order, share, *days, lead, self.limit)


ORDER_FIELDS = tuple(ForecastOrder.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Forecast:
    """A stored forecast. ``id`` and ``created_at`` are the database's (``created_at``: when it was published)."""

    id: int
    created_at: datetime
    as_of: datetime
    horizon_days: float
    runs: int
    seed: int
    source: str
    base: str
    rows: tuple[ForecastRow, ...] = field(default=())
    warnings: tuple[str, ...] = ()  # what the numbers rest on, as the forecast said it
    orders: tuple[ForecastOrder, ...] = ()  # when the operator ordered what for each cluster

    def age_seconds(self, now: datetime) -> float:
        return (now - self.created_at).total_seconds()

    def elapsed_days(self, now: datetime) -> float:
        """Days since the state the forecast starts from: what has passed of every row's days."""
        return (now - self.as_of).total_seconds() / SECONDS_PER_DAY

    def day(self, days: float | None) -> datetime | None:
        """The moment ``days`` after ``as_of`` (None stays None: not within the horizon)."""
        return None if days is None else self.as_of + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class ForecastDraft:
    """A forecast before it is published: what ``write_forecast`` takes (``publish(engine, draft)``)."""

    as_of: datetime
    horizon_days: float
    runs: int
    seed: int
    source: str
    base: str
    rows: Sequence[ForecastRow]
    warnings: Sequence[str] = ()
    orders: Sequence[ForecastOrder] = ()


def publish(
    engine: Engine, draft: ForecastDraft, *, created_at: datetime | None = None, keep: int | None = None
) -> int:
    """``write_forecast`` for a ``ForecastDraft``; returns the new forecast's id."""
    fields = {name: getattr(draft, name) for name in ForecastDraft.__dataclass_fields__}
    return write_forecast(engine, **fields, created_at=created_at, keep=keep)


def _named(record: Any, names: tuple[str, ...], where: str) -> None:
    for name in names:
        value = getattr(record, name)
        if not isinstance(value, str) or not value.strip():
            raise ForecastError(f"{where}.{name}: must be a non-empty string, got {value!r}")


def _in_order(bands: list[float | None], where: str) -> list[float | None]:
    """``bands`` (p10, p50, p90 days), or ``ForecastError``: a later quantile never comes earlier, and "not within
    the horizon" (None) is later than any day."""
    ordered = [math.inf if value is None else value for value in bands]
    if ordered != sorted(ordered):
        raise ForecastError(f"{where}: p10_days <= p50_days <= p90_days must hold, got {bands}")
    return bands


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ForecastError(f"{where}: must be a whole number, got {value!r}")
    value = int(value)
    if not 0 <= value <= BIGINT_MAX:
        raise ForecastError(f"{where}: must be between 0 and {BIGINT_MAX}, got {value}")
    return value


def _days(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        days = float(value)
    except (TypeError, ValueError):
        raise ForecastError(f"{where}: must be a number of days or None, got {value!r}") from None
    if math.isnan(days):
        return None  # pandas' and numpy's "missing": not within the horizon
    if math.isinf(days):
        raise ForecastError(f"{where}: must be finite (None means not within the horizon), got {value!r}")
    return days


def _aware(value: datetime, where: str) -> datetime:
    if not isinstance(value, datetime):
        raise ForecastError(f"{where}: must be a datetime, got {value!r}")
    if value.tzinfo is None:
        raise ForecastError(f"{where}: must carry a time zone (UTC), got {value.isoformat()}")
    return value.astimezone(UTC)


def _stored(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time the router stores is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def forecast_engine(url: str) -> Engine:
    """An engine on the router's database for a publishing process. It does not migrate (the router owns its
    schema); ``ForecastsNotMigrated`` says so when the forecasts table is missing, or when a SQLite file is: opening
    one that is not there would make it, an empty file left behind by a publisher that failed."""
    if sqlite_file_missing(url):
        raise ForecastsNotMigrated(f"{url}: no such SQLite file: {MIGRATE_FIRST}")
    engine = make_engine(url)
    try:
        schema = inspect(engine)
        columns = {c["name"] for c in schema.get_columns("forecasts")} if schema.has_table("forecasts") else None
        orders_table = schema.has_table("forecast_orders")
    except Exception:
        engine.dispose()
        raise
    if columns is None or "warnings" not in columns or not orders_table:
        engine.dispose()
        lacks = (
            "no forecasts table"
            if columns is None
            else "no forecasts.warnings column (migration 0008)"
            if "warnings" not in columns
            else "no forecast_orders table (migration 0009)"
        )
        raise ForecastsNotMigrated(f"{engine.url.render_as_string(hide_password=True)} has {lacks}: {MIGRATE_FIRST}")
    return engine


def write_forecast(
    engine: Engine,
    *,
    as_of: datetime,
    horizon_days: float,
    runs: int,
    seed: int,
    source: str,
    base: str,
    rows: Sequence[ForecastRow],
    warnings: Sequence[str] = (),
    orders: Sequence[ForecastOrder] = (),
    created_at: datetime | None = None,
    keep: int | None = None,
) -> int:
    """Store one forecast, header and rows, in one transaction, and return its id. A failed write (a bad row, a
    lost connection) stores nothing. ``keep``: also delete all but the newest ``keep`` forecasts, in the same
    transaction. ``created_at`` defaults to now (UTC)."""
    as_of = _aware(as_of, "as_of")
    created_at = _aware(created_at or datetime.now(UTC), "created_at")
    horizon = _days(horizon_days, "horizon_days")
    if horizon is None or horizon <= 0:
        raise ForecastError(f"horizon_days: must be a positive number of days, got {horizon_days!r}")
    runs = _integer(runs, "runs")
    if runs < 1:
        raise ForecastError("runs: must be at least 1")
    seed = _integer(seed, "seed")
    for name, text in (("source", source), ("base", base)):
        if not isinstance(text, str) or not text.strip():
            raise ForecastError(f"{name}: must be a non-empty string, got {text!r}")
    if keep is not None and keep < 1:
        raise ForecastError(f"keep: must be at least 1, got {keep}")
    if isinstance(warnings, str) or not all(isinstance(text, str) for text in warnings):
        raise ForecastError(f"warnings: must be a list of strings, got {warnings!r}")
    checked = [row.check(f"rows[{index}]") for index, row in enumerate(rows)]
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(checked):
        first = seen.setdefault((row.cluster, row.limit), index)
        if first != index:
            raise ForecastError(f"rows[{index}]: cluster {row.cluster!r} limit {row.limit!r} repeats rows[{first}]")
    ordered = [order.check(f"orders[{index}]") for index, order in enumerate(orders)]
    seen = {}
    for index, order in enumerate(ordered):
        first = seen.setdefault((order.cluster, order.order), index)
        if first != index:
            raise ForecastError(
                f"orders[{index}]: cluster {order.cluster!r} order {order.order!r} repeats orders[{first}]"
            )
    header = {
        "created_at": created_at,
        "as_of": as_of,
        "horizon_days": horizon,
        "runs": runs,
        "seed": seed,
        "source": source,
        "base": base,
        "warnings": list(warnings),
    }
    # write=True: on SQLite the transaction takes the write lock up front (BEGIN IMMEDIATE, see db.py).
    with engine.execution_options(write=True).begin() as conn:
        if conn.dialect.name == "postgresql":
            # A forecast is derived data, published again at every tick: losing the newest to a crash of the database
            # server within a moment of its commit is harmless (the previous one stays served; the next tick brings
            # it back). So its commit does not wait for its WAL to reach the disk, and it never holds the WAL flush
            # that the router's placements, which do wait, queue behind. Atomicity is unchanged: all or nothing.
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        forecast_id = conn.execute(insert(forecasts).values(header).returning(forecasts.c.id)).scalar_one()
        if checked:
            conn.execute(insert(forecast_rows), [{"forecast_id": forecast_id, **asdict(row)} for row in checked])
        if ordered:
            conn.execute(insert(forecast_orders), [{"forecast_id": forecast_id, **asdict(o)} for o in ordered])
        if keep is not None:
            _prune(conn, keep)
    return forecast_id


def _prune(conn: Connection, keep: int) -> None:
    kept = select(forecasts.c.id).order_by(forecasts.c.created_at.desc(), forecasts.c.id.desc()).limit(keep)
    old = select(forecasts.c.id).where(forecasts.c.id.not_in(kept.scalar_subquery()))
    # Rows first: SQLite enforces the foreign key but cascades only with the pragma on every connection.
    conn.execute(delete(forecast_rows).where(forecast_rows.c.forecast_id.in_(old)))
    conn.execute(delete(forecast_orders).where(forecast_orders.c.forecast_id.in_(old)))
    conn.execute(delete(forecasts).where(forecasts.c.id.in_(old)))


def latest_forecast(engine: Engine) -> Forecast | None:
    """The newest forecast published (by ``created_at``, then id) with its rows by cluster and limit; None when
    none has been."""
    with engine.connect() as conn:
        header = conn.execute(
            select(forecasts).order_by(forecasts.c.created_at.desc(), forecasts.c.id.desc()).limit(1)
        ).first()
        if header is None:
            return None
        rows = conn.execute(
            select(*(forecast_rows.c[name] for name in ROW_FIELDS))
            .where(forecast_rows.c.forecast_id == header.id)
            .order_by(forecast_rows.c.cluster, forecast_rows.c.limit)
        ).all()
        orders = conn.execute(
            select(*(forecast_orders.c[name] for name in ORDER_FIELDS))
            .where(forecast_orders.c.forecast_id == header.id)
            .order_by(forecast_orders.c.cluster, forecast_orders.c.order)
        ).all()
    return Forecast(
        id=header.id,
        created_at=_stored(header.created_at),
        as_of=_stored(header.as_of),
        horizon_days=header.horizon_days,
        runs=header.runs,
        seed=header.seed,
        source=header.source,
        base=header.base,
        rows=tuple(ForecastRow(*row) for row in rows),
        warnings=tuple(header.warnings or ()),
        orders=tuple(ForecastOrder(*order) for order in orders),
    )
