"""Orders written through the one write path as if accepted before the market moved.

The API refuses a market order whose minAmountOut the best route cannot pay at submission
(``min_amount_out_unreachable``), so a test that needs one to reach execution (to see it fail
there, as an order accepted before the venues moved would) writes it with
``trade_logger.create_order`` and hands it to the process's dispatcher, exactly as the API does.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

__all__ = ["write_and_dispatch"]


def write_and_dispatch(
    app: Flask,
    *,
    token_in: str,
    token_out: str,
    amount_in: int,
    min_amount_out: int,
    quoted_amount_out: int | None = None,
    slippage_bps: int = 50,
    strategy: str = "OPTIMAL_SPLIT",
    account: str = "demo",
    columns: dict[str, Any] | None = None,
) -> str:
    """Create the order (its input held) and submit it to the dispatcher; its id."""
    from models import Account, db
    from services import get_services
    from trade_logger import create_order

    with app.app_context():
        account_id = db.session.execute(sa.select(Account.id).where(Account.name == account)).scalar_one()
        order, _ = create_order(
            db.session,
            account_id,
            token_in=token_in,
            token_out=token_out,
            amount_in=amount_in,
            strategy=strategy,
            slippage_bps=slippage_bps,
            quoted_amount_out=min_amount_out if quoted_amount_out is None else quoted_amount_out,
            min_amount_out=min_amount_out,
            route=None,
            idempotency_key=None,
            request_digest="written by a test",
            columns=columns,
        )
        order_id = order.id
        db.session.remove()
    get_services(app).dispatcher.submit(order_id)
    return order_id
