"""Alembic migrations on both databases: head matches the tables in code, and down and up again work."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner

from placement.cli import app
from placement.router.db import make_engine, metadata
from placement.router.migrate import current_revision, downgrade, head_revision, upgrade

TABLES = {
    "clusters",
    "services",
    "volumes",
    "cluster_loads",
    "cluster_counters",
    "node_counters",
    "reservations",
    "customer_volumes",
}


def test_upgrade_matches_the_code_then_downgrade_and_upgrade_again(db_url):
    engine = make_engine(db_url)
    try:
        upgrade(db_url, engine=engine)
        assert current_revision(engine) == head_revision(db_url)
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        columns = [c["name"] for c in inspect(engine).get_columns("clusters")]
        assert columns == [
            "id",
            "name",
            "region",
            "task_queue",
            "api_endpoint",
            "storage_provider",
            "registry_url",
            "status",
            "created_at",
        ]
        columns = [c["name"] for c in inspect(engine).get_columns("volumes")]
        assert columns == ["id", "service_id", "cluster_id", "mount_path", "size_bytes", "node_name", "created_at"]
        fks = {fk["referred_table"] for fk in inspect(engine).get_foreign_keys("services")}
        assert fks == {"clusters"}

        downgrade(db_url, engine=engine)
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(db_url, engine=engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_db_upgrade_command(sqlite_url, tmp_path):
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    engine = make_engine(sqlite_url)
    assert current_revision(engine) == head_revision(sqlite_url)
    engine.dispose()
    bad = CliRunner().invoke(app, ["db", "upgrade", "--db", "postgresql://postgres@127.0.0.1:1/none"])
    assert bad.exit_code == 2
    assert "cannot migrate" in bad.output
