"""DCA bot: buy ``tokenOut`` with ``amount`` of ``tokenIn`` every period (the bot's interval).

Config: ``tokenIn`` (default USDC), ``tokenOut`` (default SOL), ``amount`` (token units of
tokenIn per period), ``orderType`` ``market`` (one market order per period) or ``twap`` (one TWAP
order per period of ``slices`` slices, ``sliceIntervalS`` apart: the period's amount spread out).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bots.base import Intent, Tick, decimal_field, int_field, token_field, units_of
from errors import ValidationError

__all__ = ["decide", "validate"]


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config normalised (ValidationError naming ``config.<field>``)."""
    token_in = token_field(config, "tokenIn", "USDC")
    token_out = token_field(config, "tokenOut", "SOL")
    if token_in == token_out:
        raise ValidationError("config.tokenOut must differ from config.tokenIn", field="config.tokenOut")
    amount = decimal_field(config, "amount", "100")
    units_of(token_in, amount, "amount")
    order_type = config.get("orderType", "market")
    if order_type not in ("market", "twap"):
        raise ValidationError(
            f"config.orderType must be market or twap, got {order_type!r}", field="config.orderType"
        )
    out: dict[str, Any] = {
        "tokenIn": token_in,
        "tokenOut": token_out,
        "amount": format(amount, "f"),
        "orderType": order_type,
    }
    if order_type == "twap":
        out["slices"] = int_field(config, "slices", 4, 2, 100)
        out["sliceIntervalS"] = float(decimal_field(config, "sliceIntervalS", "5"))
    return out


def decide(tick: Tick) -> list[Intent]:
    """One order per period: a market order, or a TWAP of the period's amount."""
    c = tick.config
    units = units_of(c["tokenIn"], Decimal(c["amount"]), "amount")
    why = f"dca: {c['amount']} {c['tokenIn']} into {c['tokenOut']}"
    if c["orderType"] == "twap":
        return [
            Intent(
                c["tokenIn"],
                c["tokenOut"],
                units,
                f"{why} as a TWAP of {c['slices']} slices",
                order_type="twap",
                slices=int(c["slices"]),
                interval_s=float(c["sliceIntervalS"]),
            )
        ]
    return [Intent(c["tokenIn"], c["tokenOut"], units, why)]
