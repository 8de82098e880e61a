"""a published forecast keeps when the simulated operator ordered what for each cluster

``sim forecast`` gives, besides the days until each limit binds, the first day the operator ordered each kind of
capacity for each cluster in its runs (run nodes, a control-plane upgrade, a successor cluster): for the limits the
operator answers by closing a cluster, the one date that says when the successor must be ordered. One
``forecast_orders`` row per forecast, cluster and kind: the share of runs that ordered it, the p10/p50/p90 day
(NULL: not within the horizon), the lead time and the limit that forced it most often. Down drops the table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_orders",
        sa.Column("forecast_id", sa.Integer(), nullable=False),
        sa.Column("cluster", sa.Text(), nullable=False),
        sa.Column("order", sa.Text(), nullable=False),
        sa.Column("runs_ordering", sa.Float(), nullable=False),
        sa.Column("p10_days", sa.Float(), nullable=True),
        sa.Column("p50_days", sa.Float(), nullable=True),
        sa.Column("p90_days", sa.Float(), nullable=True),
        sa.Column("lead_days", sa.Float(), nullable=False),
        sa.Column("limit", sa.Text(), nullable=True),
        sa.CheckConstraint("runs_ordering >= 0 AND runs_ordering <= 1", name=op.f("ck_forecast_orders_share")),
        sa.ForeignKeyConstraint(
            ["forecast_id"],
            ["forecasts.id"],
            name=op.f("fk_forecast_orders_forecast_id_forecasts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("forecast_id", "cluster", "order", name=op.f("pk_forecast_orders")),
    )


def downgrade() -> None:
    op.drop_table("forecast_orders")
