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


def test_the_ledger_of_an_older_router_replays_the_same_answers_after_the_upgrade(db_url, clock):
    """0004: the ledger kept the HTTP answer; it keeps the placement's facts now. A request id placed before the
    upgrade replays its first answer, word for word, and a downgrade gives the older router its answers back."""
    from sqlalchemy import insert, select

    from placement.router.answers import placement_answer
    from placement.router.db import cluster_counters, clusters, reservations
    from placement.router.store import PlacementOrder, open_store
    from placement.state import RequestIn

    block = {
        "mount_path": "/data",
        "size": "10Gi",
        "node": "run-1",
        "durability": "replicated",
        "replicas": 3,
        "backup_schedule": "daily",
    }
    order = PlacementOrder("req-old-1", "web", RequestIn(customer_id="c1", ram="1Gi", has_volume=True))
    answer = {
        "request_id": "req-old-1",
        "service_id": "svc-old",
        "cluster_id": "eu-1",
        "task_queue": "deployer-eu-1",
        "node": "run-1",
        "volume": block,
        "volumes": [block],
        "reason": "best score",
        "warnings": ["a warning"],
    }
    engine = make_engine(db_url)
    try:
        upgrade(db_url, revision="0003", engine=engine)
        with engine.begin() as conn:
            conn.execute(
                insert(clusters).values(
                    id="eu-1", name="EU 1", region="eu", task_queue="deployer-eu-1", registry_url="r:5000"
                )
            )
            conn.execute(insert(cluster_counters).values(cluster_id="eu-1"))
            conn.execute(
                insert(reservations).values(
                    request_id="req-old-1",
                    body_hash=order.body_hash(),
                    service_id="svc-old",
                    cluster_id="eu-1",
                    node_name="run-1",
                    customer_id="c1",
                    ram_bytes=1024**3,
                    pods=1,
                    volumes=1,
                    objects=10,
                    new_customer=False,
                    reserved_at=clock(),
                    response=answer,
                )
            )
        store = open_store(db_url, clock=clock)
        try:
            replayed = store.place(order)
            assert replayed.replayed
            assert placement_answer(replayed.placed) == answer
        finally:
            store.dispose()
        downgrade(db_url, revision="0003", engine=engine)
        with engine.connect() as conn:
            assert conn.execute(select(reservations.c.response)).scalar_one() == answer
    finally:
        engine.dispose()
