"""A published forecast for the router tests, as ``sim forecast --publish`` would write it, and a database for it."""

from __future__ import annotations

from datetime import UTC, datetime

from placement.router.forecasts import ForecastOrder, ForecastRow, write_forecast

AS_OF = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
CREATED = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def sample_rows(clusters_: tuple[str, ...] = ("eu-west-1", "us-east-1")) -> list[ForecastRow]:
    rows = []
    for number, cluster in enumerate(clusters_):
        rows += [
            ForecastRow(
                cluster, "longhorn.volumes", "volumes", 900 + number, 1200, 40.5, 61.0, 90.25, 26.5, "ceph", 14.0
            ),
            ForecastRow(cluster, "kubernetes.pods", "pods", 20_000, 150_000, 300.0, None, None, 270.0, "shard", 30.0),
            ForecastRow(
                cluster, "run_node.ram_bytes", "bytes", 3 * 2**40, 5 * 2**40, None, None, None, None, None, 21.0
            ),
        ]
    return rows


def sample_orders(clusters_: tuple[str, ...] = ("eu-west-1", "us-east-1")) -> list[ForecastOrder]:
    orders = []
    for number, cluster in enumerate(clusters_):
        orders += [
            ForecastOrder(cluster, "run nodes", 1.0, 2.0 + number, 7.5, 12.25, 14.0, "pods per run node"),
            ForecastOrder(cluster, "a successor cluster", 0.3, 90.0, None, None, 30.0, "longhorn volumes per cluster"),
            ForecastOrder(cluster, "control-plane upgrade", 0.0, None, None, None, 1.0, None),
        ]
    return orders


def publish(engine, rows=None, created_at=CREATED, **extra) -> int:
    values = {
        "as_of": AS_OF,
        "horizon_days": 730.0,
        "runs": 100,
        "seed": 2**40 + 7,
        "source": "postgresql://router/prod",
        "base": "scenarios/stage2.yaml",
        "rows": sample_rows() if rows is None else rows,
        "created_at": created_at,
        **extra,
    }
    return write_forecast(engine, **values)
