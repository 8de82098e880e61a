"""Published forecasts in the router's database (migration 0005, ``placement.router.forecasts``), on real SQLite
and real PostgreSQL: up and down, what is written is what is read, the newest wins, and a failed write changes
nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, insert, inspect, select
from sqlalchemy.exc import DBAPIError

from placement.router.db import clusters, forecast_rows, forecasts, make_engine
from placement.router.forecasts import (
    ForecastError,
    ForecastOrder,
    ForecastRow,
    ForecastsNotMigrated,
    forecast_engine,
    latest_forecast,
)
from placement.router.migrate import current_revision, downgrade, upgrade
from tests.router.forecast_data import AS_OF, CREATED, publish, sample_orders, sample_rows


def test_0005_up_and_down_keeps_the_older_tables_and_their_rows(forecast_db):
    engine = make_engine(forecast_db)
    try:
        upgrade(forecast_db, revision="0004", engine=engine)
        assert not {"forecasts", "forecast_rows"} & set(inspect(engine).get_table_names())
        with engine.begin() as conn:
            conn.execute(insert(clusters).values(id="eu-1", name="EU", region="eu", task_queue="q", registry_url="r"))
        upgrade(forecast_db, revision="0005", engine=engine)
        assert current_revision(engine) == "0005"
        columns = [c["name"] for c in inspect(engine).get_columns("forecast_rows")]
        assert columns == ["forecast_id", "cluster", "limit", *[f for f in ForecastRow.__dataclass_fields__][2:]]
        header = [c["name"] for c in inspect(engine).get_columns("forecasts")]
        assert header == ["id", "created_at", "as_of", "horizon_days", "runs", "seed", "source", "base"]
        upgrade(forecast_db, engine=engine)  # today's publisher writes today's columns (0008's warnings)
        publish(engine)

        downgrade(forecast_db, revision="0004", engine=engine)
        assert current_revision(engine) == "0004"
        assert not {"forecasts", "forecast_rows"} & set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(select(clusters.c.id)).scalars().all() == ["eu-1"]
        upgrade(forecast_db, engine=engine)
        assert latest_forecast(engine) is None  # down dropped what was published
    finally:
        engine.dispose()


def test_what_is_written_is_read_back_and_the_newest_wins(forecast_db):
    upgrade(forecast_db)
    engine = forecast_engine(forecast_db)
    try:
        assert latest_forecast(engine) is None
        first = publish(engine)
        second = publish(engine, rows=sample_rows(("eu-west-1",)), created_at=CREATED + timedelta(hours=6), seed=8)
        assert second != first
        latest = latest_forecast(engine)
        assert latest is not None
        assert latest.id == second
        assert (latest.created_at, latest.as_of) == (CREATED + timedelta(hours=6), AS_OF)
        assert (latest.horizon_days, latest.runs, latest.seed) == (730.0, 100, 8)
        assert (latest.source, latest.base) == ("postgresql://router/prod", "scenarios/stage2.yaml")
        assert latest.rows == tuple(sorted(sample_rows(("eu-west-1",)), key=lambda r: (r.cluster, r.limit)))
        assert latest.rows[2].used == 3 * 2**40  # bytes survive as whole numbers
        assert latest.day(latest.rows[1].p50_days) == AS_OF + timedelta(days=61)
        assert latest.age_seconds(CREATED + timedelta(hours=7)) == 3600
        # An older forecast published late does not replace the newer one.
        publish(engine, created_at=CREATED)
        assert latest_forecast(engine).id == second
    finally:
        engine.dispose()


def test_keep_prunes_the_oldest_in_the_same_transaction(forecast_db):
    upgrade(forecast_db)
    engine = forecast_engine(forecast_db)
    try:
        ids = [publish(engine, created_at=CREATED + timedelta(hours=6 * n), keep=2) for n in range(4)]
        with engine.connect() as conn:
            assert sorted(conn.execute(select(forecasts.c.id)).scalars()) == sorted(ids[-2:])
            kept = set(conn.execute(select(forecast_rows.c.forecast_id).distinct()).scalars())
        assert kept == set(ids[-2:])
    finally:
        engine.dispose()


def _counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(forecasts)).scalar_one(),
            conn.execute(select(func.count()).select_from(forecast_rows)).scalar_one(),
        )


def test_a_write_that_fails_in_the_database_changes_nothing(forecast_db):
    upgrade(forecast_db)
    engine = forecast_engine(forecast_db)
    try:
        kept = publish(engine)
        before = _counts(engine)

        # The database refuses the rows after the header went in (as a lost connection or a full disk would):
        # the header and the pruning go too.
        def refuse(_conn, _cursor, statement, *_args):
            if statement.lstrip().upper().startswith("INSERT INTO FORECAST_ROWS"):
                raise RuntimeError("disk full")

        event.listen(engine, "before_cursor_execute", refuse)
        with pytest.raises((RuntimeError, DBAPIError)):
            publish(engine, created_at=CREATED + timedelta(days=1), keep=1)
        event.remove(engine, "before_cursor_execute", refuse)
        assert _counts(engine) == before
        assert latest_forecast(engine).id == kept
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"horizon_days": 0}, "horizon_days"),
        ({"runs": 0}, "runs"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"source": ""}, "source"),
        ({"as_of": datetime(2026, 11, 30)}, "as_of: must carry a time zone"),
        ({"keep": 0}, "keep"),
        ({"rows": [*sample_rows(), sample_rows()[0]]}, r"rows\[6\]: cluster 'eu-west-1' limit 'longhorn.volumes'"),
        (
            {"rows": [ForecastRow("c", "l", "u", 1, 2, 30.0, 20.0, None, None, None, None)]},
            r"rows\[0\]: p10_days <= p50_days <= p90_days",
        ),
        (
            {"rows": [ForecastRow("c", "l", "u", 1, 2, None, 20.0, 30.0, None, None, None)]},
            r"rows\[0\]: p10_days <= p50_days",
        ),
        ({"rows": [ForecastRow("c", "l", "u", 1.5, 2, None, None, None, None, None, None)]}, r"rows\[0\]\.used"),
        ({"rows": [ForecastRow("c", "", "u", 1, 2, None, None, None, None, None, None)]}, r"rows\[0\]\.limit"),
        (
            {"rows": [ForecastRow("c", "l", "u", 1, 2, None, None, None, float("inf"), None, None)]},
            r"rows\[0\]\.order_by_days",
        ),
    ],
)
def test_bad_forecasts_are_refused_naming_the_field_and_store_nothing(tmp_path, change, message):
    url = f"sqlite:///{tmp_path / 'router.db'}"
    upgrade(url)
    engine = forecast_engine(url)
    try:
        with pytest.raises(ForecastError, match=message):
            publish(engine, **change)
        assert _counts(engine) == (0, 0)
    finally:
        engine.dispose()


def test_numpy_figures_and_nan_are_read_as_plain_numbers(tmp_path):
    np = pytest.importorskip("numpy")
    url = f"sqlite:///{tmp_path / 'router.db'}"
    upgrade(url)
    engine = forecast_engine(url)
    try:
        row = ForecastRow("c", "l", "u", np.int64(5), np.int64(9), np.float64(3.5), np.nan, np.nan, None, None, None)
        publish(engine, rows=[row], runs=np.int64(10), seed=np.uint64(3))
        stored = latest_forecast(engine).rows[0]
        assert stored == ForecastRow("c", "l", "u", 5, 9, 3.5, None, None, None, None, None)
        assert type(stored.used) is int
    finally:
        engine.dispose()


def test_a_publisher_on_an_unmigrated_database_is_told_to_migrate(tmp_path):
    url = f"sqlite:///{tmp_path / 'router.db'}"
    upgrade(url, revision="0004")
    with pytest.raises(ForecastsNotMigrated, match="placement db upgrade"):
        forecast_engine(url)


@pytest.mark.parametrize("given", ["path", "url"])
def test_a_publisher_on_a_missing_sqlite_file_is_told_to_migrate_and_makes_no_file(tmp_path, given):
    missing = tmp_path / "typo" / "router.db"
    missing.parent.mkdir()
    with pytest.raises(ForecastsNotMigrated, match="no such SQLite file: run `placement db upgrade"):
        forecast_engine(str(missing) if given == "path" else f"sqlite:///{missing}")
    assert list(missing.parent.iterdir()) == []


def test_on_postgresql_the_publish_commits_without_waiting_for_its_flush_and_only_that_transaction(pg_url):
    """A forecast is derived data republished at every tick: its transaction runs with synchronous_commit off, so
    it never holds the WAL flush the router's placements queue behind; the setting ends with the transaction."""
    upgrade(pg_url)
    engine = forecast_engine(pg_url)
    seen = []

    def look(_conn, cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO FORECAST_ROWS"):
            seen.append(cursor.connection.execute("SHOW synchronous_commit").fetchone()[0])

    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
        event.listen(engine, "before_cursor_execute", look)
        kept = publish(engine)
        event.remove(engine, "before_cursor_execute", look)
        assert seen == ["off"]
        assert latest_forecast(engine).id == kept
        with engine.connect() as conn:  # the pool's one connection again: SET LOCAL ended with the publish
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
    finally:
        engine.dispose()


def test_0008_keeps_a_forecasts_warnings_and_a_publisher_waits_for_it(forecast_db):
    engine = make_engine(forecast_db)
    try:
        upgrade(forecast_db, revision="0007", engine=engine)
        with engine.begin() as conn:  # published before 0008
            conn.execute(
                insert(forecasts).values(created_at=CREATED, as_of=AS_OF, horizon_days=365.0, runs=10, seed=1,
                                         source="router.db", base="stage2")
            )  # fmt: skip
        with pytest.raises(ForecastsNotMigrated, match=r"no forecasts\.warnings column \(migration 0008\)"):
            forecast_engine(forecast_db).dispose()
        upgrade(forecast_db, engine=engine)
        assert latest_forecast(engine).warnings == ()  # an older forecast said none
        said = ("cluster eu-west-1: its snapshot counts 497 volumes, ...", "4 successful runs: ...")
        publish(engine, created_at=CREATED + timedelta(hours=6), warnings=said)
        assert latest_forecast(engine).warnings == said
        with pytest.raises(ForecastError, match="warnings: must be a list of strings"):
            publish(engine, warnings="one string")
        downgrade(forecast_db, revision="0007", engine=engine)
        assert "warnings" not in {c["name"] for c in inspect(engine).get_columns("forecasts")}
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(forecasts)).scalar() == 2
    finally:
        engine.dispose()


def test_0009_keeps_the_operators_orders_and_checks_them(forecast_db):
    engine = make_engine(forecast_db)
    try:
        upgrade(forecast_db, revision="0008", engine=engine)
        with pytest.raises(ForecastsNotMigrated, match=r"no forecast_orders table \(migration 0009\)"):
            forecast_engine(forecast_db).dispose()
        upgrade(forecast_db, engine=engine)
        assert latest_forecast(engine) is None
        publish(engine, orders=sample_orders())
        stored = latest_forecast(engine)
        assert stored.orders == tuple(sorted(sample_orders(), key=lambda o: (o.cluster, o.order)))
        with pytest.raises(ForecastError, match=r"orders\[1\]: cluster 'eu-west-1' order 'run nodes' repeats"):
            publish(engine, orders=sample_orders()[:1] * 2)
        with pytest.raises(ForecastError, match=r"orders\[0\]\.runs_ordering: must be a share between 0 and 1"):
            publish(engine, orders=[ForecastOrder("eu-west-1", "run nodes", 1.5, 1.0, 2.0, 3.0, 14.0, None)])
        with pytest.raises(ForecastError, match=r"orders\[0\]: p10_days <= p50_days <= p90_days must hold"):
            publish(engine, orders=[ForecastOrder("eu-west-1", "run nodes", 1.0, 5.0, 2.0, 3.0, 14.0, None)])
        assert latest_forecast(engine).orders == stored.orders  # a refused forecast wrote nothing
        downgrade(forecast_db, revision="0008", engine=engine)
        assert "forecast_orders" not in set(inspect(engine).get_table_names())
        with engine.connect() as conn:  # the forecast stays, without its orders
            assert conn.execute(select(forecasts.c.id)).scalars().all() == [stored.id]
    finally:
        engine.dispose()
