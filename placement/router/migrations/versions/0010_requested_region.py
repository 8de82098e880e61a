"""the ledger keeps the region each placement asked for

A request names the region its customer is in; the engine's preferred region mode places it on another region's
cluster when none is open there. The ledger kept only the cluster, so a forecast started from the router's
database counted such customers in the region they were placed in and sent its new customers there, where the
truth sends them to the best cluster of any region, or to one the operator opens in theirs.
``reservations.region`` is the region asked for; rows from before, and requests that named none, hold NULL.
Down drops the column.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reservations", sa.Column("region", sa.Text(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN: PostgreSQL, and SQLite since 3.35 (no table copy, so the ledger's constraints
    # and partial index stay as they are).
    op.execute("ALTER TABLE reservations DROP COLUMN region")
