"""TEMPORARY placeholder for the market-history migration (another helper writes the real one)

Revision ID: 0005_market_history
Revises: 0004_order_types
Create Date: 2026-12-08 00:00:00

The lead replaces this file with the real 0005 at merge; 0006_portfolio_risk follows it.
"""

revision = "0005_market_history"
down_revision = "0004_order_types"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
