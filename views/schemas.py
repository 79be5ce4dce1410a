"""Request schemas (pydantic): they validate every request and generate the OpenAPI document.

Structure and types are checked here; the meaning of values (a known token, an amount a token
can hold, a strategy) is checked by the core's own parsers, which name the field in the error.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from routing_engine import Strategy

__all__ = [
    "AmountInput",
    "ExecuteOrderRequest",
    "ListQuery",
    "OrdersQuery",
    "PoolsQuery",
    "QuoteQuery",
    "TradesQuery",
]

STRATEGIES = tuple(s.value for s in Strategy)

# A token amount in token units: a decimal string ("12.5") or a JSON number (parsed exactly).
AmountInput = Annotated[
    StrictStr | StrictInt | Decimal,
    Field(
        description="Amount in token units (not base units): a decimal string, or a number.",
        examples=["10", "0.25"],
    ),
]
Symbol = Annotated[
    StrictStr, Field(description="Token symbol or mint address", examples=["SOL"], max_length=64)
]
StrategyName = Annotated[
    StrictStr,
    Field(
        description=f"One of {', '.join(STRATEGIES)} (case-insensitive)",
        examples=["OPTIMAL_SPLIT"],
        json_schema_extra={"enum": list(STRATEGIES)},
    ),
]
SlippageBps = Annotated[int, Field(ge=0, le=5000, description="Slippage tolerance in basis points (0-5000)")]


class QuoteQuery(BaseModel):
    """Query string of ``GET /api/quote``."""

    model_config = ConfigDict(extra="forbid")

    tokenIn: Symbol
    tokenOut: Symbol
    amountIn: Annotated[StrictStr, Field(description="Amount in token units", examples=["10"])]
    routingStrategy: StrategyName = "OPTIMAL_SPLIT"
    slippageBps: SlippageBps = 50


class ExecuteOrderRequest(BaseModel):
    """Body of ``POST /api/orders/execute``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tokenIn: Symbol
    tokenOut: Symbol
    amountIn: AmountInput
    orderType: Literal["market"] = "market"
    routingStrategy: StrategyName = "OPTIMAL_SPLIT"
    slippageBps: Annotated[
        StrictInt, Field(ge=0, le=5000, description="Slippage tolerance in basis points")
    ] = 50
    minAmountOut: AmountInput | None = Field(
        default=None,
        description="Refuse to fill below this many token units of tokenOut. Default: the quote at "
        "submission less slippageBps.",
    )


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=500)] = 50
    offset: Annotated[int, Field(ge=0)] = 0


class OrdersQuery(ListQuery):
    """Filters of ``GET /api/orders`` (newest first)."""

    status: (
        Literal["pending", "quoting", "routing", "building", "submitted", "confirmed", "failed"] | None
    ) = None
    routingStrategy: StrategyName | None = None
    tokenIn: Symbol | None = None
    tokenOut: Symbol | None = None
    from_: Annotated[datetime | None, Field(alias="from", description="ISO 8601, inclusive")] = None
    to: Annotated[datetime | None, Field(description="ISO 8601, exclusive")] = None


class TradesQuery(ListQuery):
    """Filters of ``GET /api/trades`` (executed legs, newest first)."""

    venue: Annotated[StrictStr | None, Field(max_length=64)] = None
    tokenIn: Symbol | None = None
    tokenOut: Symbol | None = None
    orderId: Annotated[StrictStr | None, Field(max_length=64)] = None
    from_: Annotated[datetime | None, Field(alias="from")] = None
    to: datetime | None = None


class PoolsQuery(BaseModel):
    """Filters of ``GET /api/liquidity-pools``."""

    model_config = ConfigDict(extra="forbid")

    dex: Annotated[StrictStr | None, Field(description="Raydium, Orca or Meteora", max_length=32)] = None
    tokenA: Symbol | None = None
    tokenB: Symbol | None = None


def error_schema() -> dict[str, Any]:
    """The JSON schema of every error body."""
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "field"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            }
        },
    }
