"""paper trading bots and their actions

Revision ID: 0007_bots
Revises: 0006_portfolio_risk
Create Date: 2026-12-08 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_bots"
down_revision = "0006_portfolio_risk"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bots",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_bots_account_id_accounts")),
        sa.ForeignKeyConstraint(["owner_id"], ["accounts.id"], name=op.f("fk_bots_owner_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
    )
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.create_index("ix_bots_state_next_run_at", ["state", "next_run_at"], unique=False)
    op.create_table(
        "bot_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.String(length=32), nullable=False),
        sa.Column("t", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_bot_actions_bot_id_bots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_actions")),
    )
    with op.batch_alter_table("bot_actions", schema=None) as batch_op:
        batch_op.create_index("ix_bot_actions_bot_id_id", ["bot_id", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("bot_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_actions_bot_id_id")
    op.drop_table("bot_actions")
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.drop_index("ix_bots_state_next_run_at")
    op.drop_table("bots")
