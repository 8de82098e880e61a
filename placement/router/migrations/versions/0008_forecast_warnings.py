"""a published forecast keeps its warnings: what its numbers rest on and where the model and the fleet disagree

``sim forecast`` says, beside its numbers, what they rest on: load held on a cluster that no customer brings, run
nodes of another size than the operator's type, a model that starts a cluster above its snapshot (its dates
early), too few runs for an 80 % band. The HTML page and ``meta.json`` carried them; the router's table did not,
so ``GET /v1/forecast`` and the fleet page showed the numbers without them. ``forecasts.warnings`` is a JSON list
of strings; forecasts from before hold none. Down drops the column.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("forecasts", sa.Column("warnings", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN: PostgreSQL, and SQLite since 3.35.
    op.execute("ALTER TABLE forecasts DROP COLUMN warnings")
