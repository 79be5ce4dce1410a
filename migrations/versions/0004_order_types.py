"""orders beyond market: limit, stop-loss, take-profit, OCO, TWAP, exact-out, cancel and expiry

Revision ID: 0004_order_types
Revises: 0003_drop_system_metrics
Create Date: 2026-12-07 21:30:00

New statuses (open, working, cancelled, expired) need no schema change: status is text.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_order_types"
down_revision = "0003_drop_system_metrics"
branch_labels = None
depends_on = None

_TIMES = ("cancelled_at", "expired_at", "triggered_at", "expires_at", "next_run_at")


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name in _TIMES:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("exact_side", sa.String(length=3), server_default="in", nullable=False))
        batch_op.add_column(sa.Column("amount_out_wanted", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("limit_price", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("trigger_price", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("oco_group", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("parent_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("slices", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("interval_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("slice_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("slices_sent", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("on_child_failure", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("filled_amount_in", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("filled_amount_out", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_foreign_key(batch_op.f("fk_orders_parent_id_orders"), "orders", ["parent_id"], ["id"])
        batch_op.create_index("ix_orders_parent_id", ["parent_id"], unique=False)
        batch_op.create_index("ix_orders_oco_group", ["oco_group"], unique=False)


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_oco_group")
        batch_op.drop_index("ix_orders_parent_id")
        batch_op.drop_constraint(batch_op.f("fk_orders_parent_id_orders"), type_="foreignkey")
        for name in (
            "filled_amount_out",
            "filled_amount_in",
            "on_child_failure",
            "slices_sent",
            "slice_index",
            "interval_s",
            "slices",
            "parent_id",
            "oco_group",
            "trigger_price",
            "limit_price",
            "amount_out_wanted",
            "exact_side",
            *reversed(_TIMES),
        ):
            batch_op.drop_column(name)
