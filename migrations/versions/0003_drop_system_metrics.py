"""drop system_metrics: it was written every 30 s, read by nothing and never pruned

Revision ID: 0003_drop_system_metrics
Revises: 0002_fewer_order_indexes
Create Date: 2026-12-07 19:20:00

Metrics for operators come from the hardening issue's Prometheus endpoint, computed when scraped.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_drop_system_metrics"
down_revision = "0002_fewer_order_indexes"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("system_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_system_metrics_name_time")
    op.drop_table("system_metrics")


def downgrade():
    op.create_table(
        "system_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_metrics")),
    )
    with op.batch_alter_table("system_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_system_metrics_name_time", ["name", "recorded_at"], unique=False)
