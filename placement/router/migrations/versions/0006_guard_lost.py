"""a placement's booking refuses itself in the database: ``capplan_guard_lost()`` (PostgreSQL)

On PostgreSQL a placement books in one statement, its own transaction (``placement.router.booking``): the ledger
row, the service, its volumes and the guarded counter UPDATEs. When a guard matched no row, the statement calls
this function, whose error undoes all of it, so no client round trip (BEGIN, COMMIT) holds a counter row. The
function knows no rule: the guards are the statement's, built from the footprint and the limit catalogue.
SQLite books in an explicit transaction and needs nothing. Down drops the function.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The SQLSTATE the router catches (placement.router.booking.GUARD_LOST_SQLSTATE); class "CP" is not PostgreSQL's.
GUARD_LOST_SQLSTATE = "CP001"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION capplan_guard_lost() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION 'a placement guard matched no row: the room was taken since the decision'
                USING ERRCODE = '{GUARD_LOST_SQLSTATE}';
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS capplan_guard_lost()")
