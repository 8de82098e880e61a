"""router tables

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("task_queue", sa.Text(), nullable=False),
        sa.Column("api_endpoint", sa.Text(), nullable=True),
        sa.Column("storage_provider", sa.Text(), server_default="longhorn", nullable=False),
        sa.Column("registry_url", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("task_queue", name=op.f("uq_clusters_task_queue")),
    )
    op.create_table(
        "customer_volumes",
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("volumes", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("volumes >= 0", name=op.f("ck_customer_volumes_non_negative")),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_volumes")),
    )
    op.create_table(
        "cluster_loads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster_id", sa.Text(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name=op.f("fk_cluster_loads_cluster_id_clusters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_loads")),
    )
    with op.batch_alter_table("cluster_loads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cluster_loads_cluster_id"), ["cluster_id"], unique=False)

    op.create_table(
        "node_counters",
        sa.Column("cluster_id", sa.Text(), nullable=False),
        sa.Column("node_name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("allocatable_ram", sa.BigInteger(), nullable=False),
        sa.Column("requested_ram", sa.BigInteger(), nullable=False),
        sa.Column("pods", sa.Integer(), nullable=False),
        sa.Column("max_pods", sa.Integer(), nullable=True),
        sa.Column("schedulable", sa.Boolean(), nullable=False),
        sa.Column("reserved_ram", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reserved_pods", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name=op.f("fk_node_counters_cluster_id_clusters")),
        sa.PrimaryKeyConstraint("cluster_id", "node_name", name=op.f("pk_node_counters")),
    )
    op.create_table(
        "reservations",
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("body_hash", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("cluster_id", sa.Text(), nullable=False),
        sa.Column("node_name", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("ram_bytes", sa.BigInteger(), nullable=False),
        sa.Column("pods", sa.Integer(), nullable=False),
        sa.Column("volumes", sa.Integer(), nullable=False),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.Column("new_customer", sa.Boolean(), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "ram_bytes >= 0 AND pods >= 0 AND volumes >= 0 AND objects >= 0", name=op.f("ck_reservations_non_negative")
        ),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name=op.f("fk_reservations_cluster_id_clusters")),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_reservations")),
        sa.UniqueConstraint("service_id", name=op.f("uq_reservations_service_id")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reservations_cluster_id"), ["cluster_id"], unique=False)

    op.create_table(
        "services",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("cluster_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("repo", sa.Text(), nullable=True),
        sa.Column("ram_bytes", sa.BigInteger(), nullable=False),
        sa.Column("pods", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name=op.f("fk_services_cluster_id_clusters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_services_cluster_id"), ["cluster_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_services_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "cluster_counters",
        sa.Column("cluster_id", sa.Text(), nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ctrl_node_type", sa.Text(), nullable=True),
        sa.Column("base_volumes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("base_services", sa.Integer(), server_default="0", nullable=False),
        sa.Column("base_customers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("base_pods", sa.Integer(), server_default="0", nullable=False),
        sa.Column("base_objects", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reserved_volumes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reserved_services", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reserved_customers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reserved_pods", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reserved_objects", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name=op.f("fk_cluster_counters_cluster_id_clusters")),
        sa.ForeignKeyConstraint(
            ["load_id"], ["cluster_loads.id"], name=op.f("fk_cluster_counters_load_id_cluster_loads")
        ),
        sa.PrimaryKeyConstraint("cluster_id", name=op.f("pk_cluster_counters")),
    )
    op.create_table(
        "volumes",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("cluster_id", sa.Text(), nullable=False),
        sa.Column("mount_path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("node_name", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"], name=op.f("fk_volumes_cluster_id_clusters")),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_volumes_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volumes")),
    )
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volumes_service_id"), ["service_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volumes_service_id"))

    op.drop_table("volumes")
    op.drop_table("cluster_counters")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_customer_id"))
        batch_op.drop_index(batch_op.f("ix_services_cluster_id"))

    op.drop_table("services")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservations_cluster_id"))

    op.drop_table("reservations")
    op.drop_table("node_counters")
    with op.batch_alter_table("cluster_loads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_loads_cluster_id"))

    op.drop_table("cluster_loads")
    op.drop_table("customer_volumes")
    op.drop_table("clusters")
