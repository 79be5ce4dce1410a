"""fewer order indexes: each one is written on every order's insert and again when it settles

Revision ID: 0002_fewer_order_indexes
Revises: 0001_initial_schema
Create Date: 2026-11-21 10:00:00

ix_orders_status is covered by ix_orders_status_updated (status first); token_in, token_out and
strategy are only ever filtered within one account's orders (ix_orders_account_created).
"""

from alembic import op

revision = "0002_fewer_order_indexes"
down_revision = "0001_initial_schema"
branch_labels = None
depends_on = None

DROPPED = {
    "ix_orders_status": ["status"],
    "ix_orders_strategy": ["strategy"],
    "ix_orders_token_in": ["token_in"],
    "ix_orders_token_out": ["token_out"],
}


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name in DROPPED:
            batch_op.drop_index(name)


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name, columns in DROPPED.items():
            batch_op.create_index(name, columns, unique=False)
