"""JSON for REST and Socket.IO alike (interim: re-exports views.serialize until the builders move here)."""

from __future__ import annotations

from typing import Any

from tokens import format_amount
from trade_logger import RecordedTrade
from views.serialize import desk_update_json, pool_update_json, prices_json

__all__ = ["desk_update_json", "pool_update_json", "prices_json", "trade_executed_json"]


def trade_executed_json(recorded: RecordedTrade) -> dict[str, Any]:
    """The ``trade_executed`` event of a settled order."""
    order, trade = recorded.order, recorded.trade
    return {
        "orderId": order.id,
        "tradeId": trade["id"],
        "tokenIn": order.token_in,
        "tokenOut": order.token_out,
        "amountIn": format_amount(order.token_in, order.amount_in),
        "amountOut": format_amount(order.token_out, recorded.amount_out),
        "routingStrategy": order.strategy,
        "venues": sorted({leg.planned.venue for leg in recorded.legs}),
        "notionalUsd": round(trade["notional_usd"], 2),
        "savingsUsd": round(trade["savings_usd"], 6),
        "priceImpactBps": None if trade["price_impact_bps"] is None else str(trade["price_impact_bps"]),
        "latencyMs": round(trade["latency_ms"], 3),
        "executedAt": trade["executed_at"].isoformat().replace("+00:00", "Z"),
        "paper": True,
    }
