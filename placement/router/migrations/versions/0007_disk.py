"""the replicas' raw disk: counted per cluster and per placement, guarded against the cluster's measured disk

The limit catalogue's ``disk`` limit (volume bytes times the replicas the cluster keeps, against the usable disk
of the nodes that hold them) gets its counters: ``cluster_counters.base_disk`` (the snapshot's),
``reserved_disk`` (placed since) and ``capacity_disk`` (the usable disk the collector measured; NULL: not known,
so no guard binds), and the ledger's ``reservations.disk_bytes`` (what one placement took, given back on release).
Rows from before hold 0 disk and an unknown capacity: nothing they held is refused. Down drops the columns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (
    ("cluster_counters", sa.Column("base_disk", sa.BigInteger(), server_default="0", nullable=False)),
    ("cluster_counters", sa.Column("reserved_disk", sa.BigInteger(), server_default="0", nullable=False)),
    ("cluster_counters", sa.Column("capacity_disk", sa.BigInteger(), nullable=True)),
    ("reservations", sa.Column("disk_bytes", sa.BigInteger(), server_default="0", nullable=False)),
)


def upgrade() -> None:
    for table, column in COLUMNS:
        op.add_column(table, column)


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN: PostgreSQL, and SQLite since 3.35 (no table copy, so the ledger's constraints
    # and partial index stay as they are).
    for table, column in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column.name}")
