"""a service id is unique among active placements only, so a released one can be placed again

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIVE = sa.text("released_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_reservations_service_id"), type_="unique")
        batch_op.create_index(batch_op.f("ix_reservations_service_id"), ["service_id"], unique=False)
        batch_op.create_index(
            "ix_reservations_active_service_id",
            ["service_id"],
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )


def downgrade() -> None:
    # Fails if a service id was placed again after a release: the older schema cannot hold that ledger.
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_active_service_id")
        batch_op.drop_index(batch_op.f("ix_reservations_service_id"))
        batch_op.create_unique_constraint(batch_op.f("uq_reservations_service_id"), ["service_id"])
