"""portfolio positions, daily risk figures, risk limits, system flags (the trading halt)

Revision ID: 0006_portfolio_risk
Revises: 0005_market_history
Create Date: 2026-12-08 00:30:00

Backfill: each trader's existing balances become positions valued at the static reference prices
(price_feeds.DEFAULT_STATIC_USD_PRICES, no network in a migration), with no realised P&L: an
approximation for rows older than this migration; everything after it is exact.
"""

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0006_portfolio_risk"
down_revision = "0005_market_history"
branch_labels = None
depends_on = None

# price_feeds.DEFAULT_STATIC_USD_PRICES as of this migration (a migration never imports app code).
_STATIC_USD = {
    "SOL": Decimal("150"),
    "USDC": Decimal("1"),
    "USDT": Decimal("1"),
    "RAY": Decimal("2"),
    "JUP": Decimal("0.80"),
    "BONK": Decimal("0.000020"),
}
_CENTS = Decimal("0.00000001")


def upgrade():
    op.create_table(
        "positions",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.String(length=64), nullable=False),
        sa.Column("realised_pnl_usd", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_positions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["token"], ["tokens.symbol"], name=op.f("fk_positions_token_tokens")),
        sa.PrimaryKeyConstraint("account_id", "token", name=op.f("pk_positions")),
    )
    op.create_table(
        "daily_risk",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("notional_usd", sa.String(length=64), nullable=False),
        sa.Column("realised_pnl_usd", sa.String(length=64), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_daily_risk_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_daily_risk")),
    )
    op.create_table(
        "risk_limits",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("max_order_usd", sa.String(length=64), nullable=True),
        sa.Column("max_impact_bps", sa.String(length=64), nullable=True),
        sa.Column("daily_notional_usd", sa.String(length=64), nullable=True),
        sa.Column("daily_loss_usd", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_risk_limits_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_risk_limits")),
    )
    op.create_table(
        "system_flags",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_system_flags")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_account_created", ["account_id", "created_at"], unique=False)
    _backfill_positions()


def _backfill_positions():
    """Existing traders' balances as positions at the static prices (approximate; see the docstring)."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT b.account_id, b.token, b.amount, t.decimals FROM balances b"
            " JOIN accounts a ON a.id = b.account_id JOIN tokens t ON t.symbol = b.token"
            " WHERE a.kind = 'trader' AND b.amount > 0"
        )
    ).all()
    if not rows:
        return
    positions = sa.table(
        "positions",
        sa.column("account_id", sa.Integer()),
        sa.column("token", sa.String()),
        sa.column("quantity", sa.BigInteger()),
        sa.column("cost_usd", sa.String()),
        sa.column("realised_pnl_usd", sa.String()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        positions,
        [
            {
                "account_id": account_id,
                "token": token,
                "quantity": amount,
                "cost_usd": str(
                    (Decimal(amount).scaleb(-decimals) * _STATIC_USD.get(token, Decimal(0))).quantize(_CENTS)
                ),
                "realised_pnl_usd": "0",
                "updated_at": now,
            }
            for account_id, token, amount, decimals in rows
        ],
    )


def downgrade():
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_account_created")
    op.drop_table("system_flags")
    op.drop_table("risk_limits")
    op.drop_table("daily_risk")
    op.drop_table("positions")
