"""a cluster's task queue is immutable while services live on it

The queue is unique since 0001 (``uq_clusters_task_queue``). This adds the second half of the design
document's task-queue routing: the deploys of a cluster's services go to its queue, so the database itself
refuses to change the queue of a cluster that has services, whoever writes (the router checks first and answers
409; the trigger holds for any other writer).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRIGGER = "clusters_task_queue_immutable"
MESSAGE = "task_queue of a cluster with services cannot change"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # integrity_constraint_violation (23000): drivers raise it as an IntegrityError, like the unique constraint.
        op.execute(
            f"""
            CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.task_queue IS DISTINCT FROM OLD.task_queue
                   AND EXISTS (SELECT 1 FROM services WHERE cluster_id = OLD.id) THEN
                    RAISE EXCEPTION '{MESSAGE} (cluster %)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NEW;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OF task_queue ON clusters "
            f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
        )
    else:
        # SQLite: RAISE(ABORT) is a constraint failure, an IntegrityError to the driver.
        op.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OF task_queue ON clusters FOR EACH ROW "
            "WHEN NEW.task_queue IS NOT OLD.task_queue "
            "AND EXISTS (SELECT 1 FROM services WHERE cluster_id = OLD.id) "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def downgrade() -> None:
    op.execute(f"DROP TRIGGER {TRIGGER}" + (" ON clusters" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {TRIGGER}()")
