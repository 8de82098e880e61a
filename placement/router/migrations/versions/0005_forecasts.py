"""the forecasts a separate ``sim forecast --publish`` process writes, for the router to serve

One ``forecasts`` row per published forecast (when, from which state, horizon, runs, seed, source, base
scenario) and one ``forecast_rows`` row per cluster and limit: used, capacity, the p10/p50/p90 days until the
limit binds (NULL: not within the horizon), the order-by day, the operator's action and the lead time. Down
drops both tables, and with them every published forecast.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecasts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("horizon_days", sa.Float(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("base", sa.Text(), nullable=False),
        sa.CheckConstraint("horizon_days > 0 AND runs > 0", name=op.f("ck_forecasts_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecasts")),
    )
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_forecasts_created_at"), ["created_at"], unique=False)
    op.create_table(
        "forecast_rows",
        sa.Column("forecast_id", sa.Integer(), nullable=False),
        sa.Column("cluster", sa.Text(), nullable=False),
        sa.Column("limit", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("capacity", sa.BigInteger(), nullable=True),
        sa.Column("p10_days", sa.Float(), nullable=True),
        sa.Column("p50_days", sa.Float(), nullable=True),
        sa.Column("p90_days", sa.Float(), nullable=True),
        sa.Column("order_by_days", sa.Float(), nullable=True),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("lead_days", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["forecast_id"],
            ["forecasts.id"],
            name=op.f("fk_forecast_rows_forecast_id_forecasts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("forecast_id", "cluster", "limit", name=op.f("pk_forecast_rows")),
    )


def downgrade() -> None:
    op.drop_table("forecast_rows")
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_forecasts_created_at"))
    op.drop_table("forecasts")
