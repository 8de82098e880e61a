"""``bench.router_http``'s measured runs: each starts from a settled database (``bench.db_settle``), and the paced
rounds all come before the saturated ones, the floor and the router taking turns to go first."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid

import psycopg

from bench.db_settle import settle_postgresql, settle_sqlite
from bench.router_http import RATES, measurement_plan
from tests.router.conftest import PG_ADMIN as PG


def _checkpoints(conn: psycopg.Connection) -> int:
    columns = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'pg_stat_checkpointer'"
        )
    }
    if "num_requested" in columns:  # PostgreSQL 17 and later
        return conn.execute("SELECT num_requested FROM pg_stat_checkpointer").fetchone()[0]
    return conn.execute("SELECT checkpoints_req FROM pg_stat_bgwriter").fetchone()[0]


def _dead_rows(conn: psycopg.Connection, pg_schema: str) -> dict[str, int]:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return dict(
        conn.execute(
            "SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE schemaname = %s", (pg_schema,)
        ).fetchall()
    )


def test_settle_leaves_no_dead_rows_fresh_statistics_and_a_checkpoint(pg_schema: str):
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".counters (id int PRIMARY KEY, used bigint NOT NULL)')
        conn.execute(f'CREATE TABLE "{pg_schema}"."Ledger" (id serial PRIMARY KEY, note text)')
        conn.execute(f'INSERT INTO "{pg_schema}".counters SELECT g, 0 FROM generate_series(1, 10) g')
        for _ in range(50):  # a guarded counter's dead versions, as a run's placements leave them
            conn.execute(f'UPDATE "{pg_schema}".counters SET used = used + 1')
        conn.execute(f'INSERT INTO "{pg_schema}"."Ledger" (note) SELECT \'x\' FROM generate_series(1, 500)')
        conn.execute(f'DELETE FROM "{pg_schema}"."Ledger" WHERE id % 2 = 0')
        # This backend's counts reach the shared statistics now, not at some later idle moment after the vacuum's.
        conn.execute("SELECT pg_stat_force_next_flush()")
        dead = _dead_rows(conn, pg_schema)  # the counters' fewer than 500: page pruning removes some on the way
        assert dead["counters"] > 0 and dead["Ledger"] == 250, dead
        before = _checkpoints(conn)

        assert settle_postgresql(PG, pg_schema) == ["Ledger", "counters"]  # every table, a quoted name included

        conn.execute("SELECT pg_stat_clear_snapshot()")
        stats = {
            name: (dead, vacuumed, analysed)
            for name, dead, vacuumed, analysed in conn.execute(
                "SELECT relname, n_dead_tup, last_vacuum IS NOT NULL, last_analyze IS NOT NULL "
                "FROM pg_stat_user_tables WHERE schemaname = %s",
                (pg_schema,),
            )
        }
        assert stats == {"counters": (0, True, True), "Ledger": (0, True, True)}
        assert _checkpoints(conn) > before


def test_settle_of_an_empty_schema_only_checkpoints(pg_schema: str):
    assert settle_postgresql(PG, pg_schema) == []


def test_the_paced_rounds_come_first_and_the_floor_and_the_router_take_turns():
    plan = measurement_plan(5)
    labels = [label for label, *_ in plan]
    assert labels == [RATES[0][0]] * 5 + [RATES[1][0]] * 5  # no saturated run before or between paced pairs
    for label, connections, rate in RATES:
        rounds = [(number, floor_first) for name, c, r, number, floor_first in plan if name == label]
        assert all(c == connections and r == rate for name, c, r, *_ in plan if name == label)
        assert rounds == [(1, True), (2, False), (3, True), (4, False), (5, True)]
    assert [round_number for *_, round_number, _ in measurement_plan(1)] == [1, 1]


def test_settle_sqlite_checkpoints_and_truncates_the_write_ahead_log(tmp_path):
    path = tmp_path / "router.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # as a run between the automatic checkpoints leaves it
        conn.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, note TEXT)")
        with conn:
            conn.executemany("INSERT INTO ledger (note) VALUES (?)", [("x" * 100,)] * 2000)
        wal = path.with_name("router.db-wal")
        assert wal.stat().st_size > 0
        assert settle_sqlite(path)
        assert wal.stat().st_size == 0
        assert conn.execute("SELECT count(*) FROM ledger").fetchone() == (2000,)


def test_a_role_that_may_not_checkpoint_still_gets_the_vacuum(pg_schema: str, capsys):
    role = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT ALL ON SCHEMA "{pg_schema}" TO "{role}"')
        conn.execute(f'CREATE TABLE "{pg_schema}".counters (id int PRIMARY KEY)')
        conn.execute(f'ALTER TABLE "{pg_schema}".counters OWNER TO "{role}"')
    try:
        assert settle_postgresql(f"postgresql://{role}@127.0.0.1:5432/test", pg_schema) == ["counters"]
        assert "no checkpoint before the run" in capsys.readouterr().err
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP TABLE "{pg_schema}".counters')
            conn.execute(f'REVOKE ALL ON SCHEMA "{pg_schema}" FROM "{role}"')
            conn.execute(f'DROP ROLE "{role}"')
