"""The benchmark's database brought to the same state before every measured run.

A saturated placement run leaves thousands of dead versions of the guarded counter rows, a grown ledger and dirty pages
behind it. Left alone, autovacuum cleans them up and a checkpoint writes them out during whichever run comes next, the
floor's or the router's, and that run's p99 pays for its predecessor. pgbench vacuums before each test for the same
reason. ``settle_postgresql`` vacuums and analyses every table of the schema, then asks for a checkpoint: the measured
run starts with no dead rows to clean, statistics that match the tables, and no dirty pages to write, whichever side it
is; and since a checkpoint restarts ``checkpoint_timeout``'s clock, no timed checkpoint starts within the run either (a
run writes a few MB of WAL, far below ``max_wal_size``). On SQLite (the router's database in WAL mode) ``settle_sqlite``
checkpoints and truncates the write-ahead log, which otherwise the commit that finds it over 1,000 pages checkpoints
inside a run.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from pathlib import Path

import psycopg
from psycopg import sql


def settle_postgresql(dsn: str, schema: str) -> list[str]:
    """Vacuum and analyse ``schema``'s tables, then checkpoint. Returns the tables vacuumed. A role that may not
    checkpoint (neither a superuser nor a member of ``pg_checkpoint``) gets the vacuum alone, and a warning on stderr:
    the runs then share the server's own checkpoint schedule, as before."""
    with psycopg.connect(dsn, autocommit=True) as conn:  # VACUUM cannot run inside a transaction
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
            )
        ]
        for table in tables:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(schema, table)))
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege as refused:
            print(f"bench: no checkpoint before the run ({refused.diag.message_primary})", file=sys.stderr)
    return tables


def settle_sqlite(path: Path | str) -> bool:
    """Checkpoint ``path``'s write-ahead log into the database and truncate it. False: a reader or writer held on
    past the busy timeout, and the log was checkpointed only as far as it could be (the run goes on regardless)."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy
