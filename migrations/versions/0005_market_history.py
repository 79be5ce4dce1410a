"""market history (price_history, pool_snapshots, market_datasets) and backtests (backtests,
backtest_trades)

Revision ID: 0005_market_history
Revises: 0004_order_types
Create Date: 2026-12-08 00:20:00

Row ids of the history tables are BIGINT on PostgreSQL (INTEGER on SQLite, whose INTEGER PRIMARY
KEY is 64-bit already). On PostgreSQL the time columns get BRIN indexes: rows arrive in time
order, so a BRIN index is a few pages and serves range scans (retention's delete); SQLite has no
BRIN, and gets a plain index on the same column.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_market_history"
down_revision = "0004_order_types"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "price_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=32), nullable=False),
        sa.Column("token", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("t", sa.DateTime(timezone=True), nullable=False),
        sa.Column("price", sa.String(length=64), nullable=False),
        sa.Column("price_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_history")),
    )
    with op.batch_alter_table("price_history", schema=None) as batch_op:
        batch_op.create_index("ix_price_history_dataset_token_t", ["dataset", "token", "t"], unique=False)
        batch_op.create_index("ix_price_history_t", ["t"], unique=False, postgresql_using="brin")

    op.create_table(
        "pool_snapshots",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=32), nullable=False),
        sa.Column("t", sa.DateTime(timezone=True), nullable=False),
        sa.Column("venue_id", sa.String(length=64), nullable=False),
        sa.Column("venue", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("token_a", sa.String(length=16), nullable=False),
        sa.Column("token_b", sa.String(length=16), nullable=False),
        sa.Column("reserve_a", sa.BigInteger(), nullable=True),
        sa.Column("reserve_b", sa.BigInteger(), nullable=True),
        sa.Column("fee_bps", sa.Integer(), nullable=True),
        sa.Column("mid", sa.String(length=64), nullable=True),
        sa.Column("inventory_base", sa.BigInteger(), nullable=True),
        sa.Column("inventory_quote", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_snapshots")),
    )
    with op.batch_alter_table("pool_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_pool_snapshots_dataset_t", ["dataset", "t"], unique=False)
        batch_op.create_index("ix_pool_snapshots_t", ["t"], unique=False, postgresql_using="brin")

    op.create_table(
        "market_datasets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_market_datasets")),
    )

    op.create_table(
        "backtests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("plan_kind", sa.String(length=32), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("dataset", sa.String(length=32), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("total_return", sa.Float(), nullable=True),
        sa.Column("sharpe_ratio", sa.Float(), nullable=True),
        sa.Column("sortino_ratio", sa.Float(), nullable=True),
        sa.Column("max_drawdown", sa.Float(), nullable=True),
        sa.Column("win_rate", sa.Float(), nullable=True),
        sa.Column("profit_factor", sa.Float(), nullable=True),
        sa.Column("total_cost_bps", sa.Float(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("equity", sa.JSON(), nullable=True),
        sa.Column("drawdown", sa.JSON(), nullable=True),
        sa.Column("trade_count", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_backtests_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtests")),
    )
    with op.batch_alter_table("backtests", schema=None) as batch_op:
        batch_op.create_index("ix_backtests_account_created", ["account_id", "created_at"], unique=False)

    op.create_table(
        "backtest_trades",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("backtest_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("t", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_in", sa.String(length=16), nullable=False),
        sa.Column("token_out", sa.String(length=16), nullable=False),
        sa.Column("amount_in", sa.BigInteger(), nullable=False),
        sa.Column("amount_out", sa.BigInteger(), nullable=False),
        sa.Column("execution_price", sa.String(length=64), nullable=False),
        sa.Column("reference_price", sa.String(length=64), nullable=False),
        sa.Column("cost_bps", sa.String(length=64), nullable=False),
        sa.Column("legs", sa.JSON(), nullable=False),
        sa.Column("balances", sa.JSON(), nullable=False),
        sa.Column("value_usd", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["backtest_id"],
            ["backtests.id"],
            name=op.f("fk_backtest_trades_backtest_id_backtests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_trades")),
        sa.UniqueConstraint("backtest_id", "seq", name="uq_backtest_trades_backtest_seq"),
    )


def downgrade():
    op.drop_table("backtest_trades")
    with op.batch_alter_table("backtests", schema=None) as batch_op:
        batch_op.drop_index("ix_backtests_account_created")
    op.drop_table("backtests")
    op.drop_table("market_datasets")
    with op.batch_alter_table("pool_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_snapshots_t")
        batch_op.drop_index("ix_pool_snapshots_dataset_t")
    op.drop_table("pool_snapshots")
    with op.batch_alter_table("price_history", schema=None) as batch_op:
        batch_op.drop_index("ix_price_history_t")
        batch_op.drop_index("ix_price_history_dataset_token_t")
    op.drop_table("price_history")
