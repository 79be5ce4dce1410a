"""Request schemas (pydantic): the API's input contract. They validate every request, and the
operations declared in ``views.api`` turn them into the OpenAPI document's parameters and bodies.

Structure and types are checked here; the meaning of values (a known token, an amount a token
can hold, a strategy) is checked by the core's own parsers, which name the field in the error.
Response shapes live in ``payloads`` (views and jobs both send them).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from payloads import OrderStatusName
from routing_engine import Strategy
from tokens import AMOUNT_PATTERN

__all__ = [
    "ORDER_ID",
    "PRICE_PATTERN",
    "REQUEST_MODELS",
    "SYMBOL_PATTERN",
    "AmountInput",
    "AnalyticsQuery",
    "ArbitrageQuery",
    "BacktestTradesQuery",
    "BacktestsQuery",
    "CompareBacktestsRequest",
    "CreateBotRequest",
    "ExecuteOrderRequest",
    "GenerateDataRequest",
    "LimitsRequest",
    "LiquidityCurvesQuery",
    "ListQuery",
    "NoQuery",
    "OrderTypeName",
    "OrdersQuery",
    "PoolsQuery",
    "PortfolioQuery",
    "PriceHistoryCandlesQuery",
    "PriceHistoryQuery",
    "QuoteQuery",
    "RecentTradesQuery",
    "RunBacktestRequest",
    "TimeseriesQuery",
    "TradesQuery",
    "TradingHaltRequest",
]

STRATEGIES = tuple(s.value for s in Strategy)
# An order id as a path may carry it (views/api.py and views/pages.py): anything else is no order.
ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_OFFSET = 1_000_000_000  # far beyond any real page; keeps OFFSET inside every backend's integer


# --- request pieces ------------------------------------------------------------------------------


_AMOUNT_TEXT = re.compile(AMOUNT_PATTERN)
# A symbol (any case: "sol" is SOL) or a base58 mint (exact case). ASCII letters and digits only:
# "SOL\n", " SOL" and look-alike Unicode letters are refused, not trimmed or folded.
SYMBOL_PATTERN = r"^[A-Za-z0-9]{1,64}$"
# A limit or trigger price written as text: plain ASCII decimals, no sign, no exponent
# (views.api._price holds prices to it).
PRICE_PATTERN = r"^[0-9]{1,30}(?:\.[0-9]{1,30})?$"


def _amount_text(value: str) -> str:
    """A decimal string exactly as ``tokens.AMOUNT_PATTERN`` says (no "0_01", "١", "１", spaces)."""
    if not _AMOUNT_TEXT.fullmatch(value):
        raise PydanticCustomError(
            "amount_format",
            'must be a decimal number in ASCII digits such as "12.5" or "1e3" (pattern {pattern})',
            {"pattern": AMOUNT_PATTERN},
        )
    return value


def _number_input(value: object) -> str | int | Decimal:
    """Accept a string or a JSON number (already a Decimal or int); refuse anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        kind = "a boolean" if isinstance(value, bool) else type(value).__name__
        raise PydanticCustomError(
            "amount_type", "must be a decimal string or a number, not {kind}", {"kind": kind}
        )
    return value


def _amount_input(value: object) -> str | int | Decimal:
    """A decimal string as ``AMOUNT_PATTERN`` says, or a JSON number."""
    value = _number_input(value)
    return _amount_text(value) if isinstance(value, str) else value


def _utc(value: datetime) -> datetime:
    """A naive timestamp is UTC; an aware one is converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("timestamp is out of range") from exc


# A token amount in token units: a decimal string ("12.5") or a JSON number (parsed exactly).
AmountInput = Annotated[
    str | int | Decimal,
    PlainValidator(_amount_input),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": AMOUNT_PATTERN},
                {"type": "number"},
            ],
            "description": "Amount in token units (not base units): a decimal string, or a JSON number "
            "(read exactly: 0.1 is 0.1). More decimals than the token has is an error, never a rounding.",
            "examples": ["10", "0.25"],
        }
    ),
]
Symbol = Annotated[
    StrictStr,
    Field(
        description="Token symbol (case-insensitive: sol is SOL) or mint address (exact); ASCII letters "
        "and digits only, no surrounding whitespace",
        examples=["SOL"],
        max_length=64,
        pattern=SYMBOL_PATTERN,
    ),
]
# An amount in the query string: a decimal string as AMOUNT_PATTERN says.
AmountText = Annotated[
    StrictStr,
    AfterValidator(_amount_text),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN}),
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
UtcDateTime = Annotated[
    datetime,
    AfterValidator(_utc),
    Field(
        description="ISO 8601 date or timestamp; without a zone it is UTC", examples=["2026-11-21T06:00:00Z"]
    ),
]


class QuoteQuery(BaseModel):
    """Query string of ``GET /api/quote``."""

    model_config = ConfigDict(extra="forbid")

    tokenIn: Symbol
    tokenOut: Symbol
    amountIn: Annotated[
        AmountText | None,
        Field(
            description="Amount of tokenIn to sell, in token units (exact in). Give amountIn or amountOut.",
            examples=["10"],
        ),
    ] = None
    amountOut: Annotated[
        AmountText | None,
        Field(
            description="Amount of tokenOut to buy, in token units (exact out): the quote finds the least "
            "amountIn and adds maxAmountIn (amountIn plus slippageBps, rounded up)",
            examples=["1500"],
        ),
    ] = None
    routingStrategy: StrategyName = "OPTIMAL_SPLIT"
    slippageBps: SlippageBps = 50


OrderTypeName = Literal["market", "limit", "stop_loss", "take_profit", "twap"]
PriceInput = Annotated[
    str | int | Decimal,
    # The text is checked by views.api._price against PRICE_PATTERN: a 422 naming the price field.
    PlainValidator(_number_input),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": PRICE_PATTERN},
                {"type": "number"},
            ],
            "description": "A price in tokenOut per one tokenIn, token units: a decimal string or a JSON "
            "number (read exactly)",
            "examples": ["150.25"],
        }
    ),
]


class ExecuteOrderRequest(BaseModel):
    """Body of ``POST /api/orders/execute``: one order of any type (``orderType``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tokenIn: Symbol
    tokenOut: Symbol
    amountIn: AmountInput | None = Field(
        default=None,
        description="Amount of tokenIn to sell (exact in). Give amountIn or amountOut, not both.",
    )
    amountOut: AmountInput | None = Field(
        default=None,
        description="Amount of tokenOut to buy (exact out): the router finds the least input, and the "
        "order holds maxAmountIn (the quote's input plus slippageBps). Market orders only.",
    )
    orderType: Annotated[
        OrderTypeName,
        Field(description="market (default), limit, stop_loss, take_profit or twap"),
    ] = "market"
    routingStrategy: StrategyName = "OPTIMAL_SPLIT"
    slippageBps: Annotated[
        StrictInt, Field(ge=0, le=5000, description="Slippage tolerance in basis points (0-5000)")
    ] = 50
    minAmountOut: AmountInput | None = Field(
        default=None,
        description="Refuse to fill below this many token units of tokenOut. Default: the quote at "
        "submission less slippageBps.",
    )
    quoteId: Annotated[
        StrictStr | None,
        Field(
            max_length=4096,
            description="Execute a firm quote from GET /api/quote: its route, if the venues still pay at "
            "least its minAmountOut before its expiresAt",
        ),
    ] = None
    limitPrice: PriceInput | None = Field(
        default=None, description="limit: the least tokenOut per one tokenIn accepted (token units)"
    )
    triggerPrice: PriceInput | None = Field(
        default=None,
        description="stop_loss / take_profit: the reference price (tokenOut per tokenIn) at which the "
        "order runs as a market order",
    )
    # Not strict: a JSON body carries a timestamp as a string (strict mode takes datetime objects only).
    expiresAt: UtcDateTime | None = Field(
        default=None, strict=False, description="limit/stop/take-profit: expire unfilled at this time"
    )
    expiresInS: Annotated[
        StrictInt | None, Field(ge=1, le=365 * 86_400, description="Or expire this many seconds from now")
    ] = None
    ocoGroup: Annotated[
        StrictStr | None,
        Field(
            max_length=64,
            pattern=r"^[A-Za-z0-9_.:-]+$",
            description="One-cancels-other: stop/take-profit/limit orders of the account with the same "
            "group and tokenIn share one hold; the first to trigger cancels the others",
        ),
    ] = None
    slices: Annotated[
        StrictInt | None, Field(ge=2, le=1000, description="twap: number of slices (2-1000)")
    ] = None
    intervalS: Annotated[
        StrictInt | float | None,
        Field(gt=0, le=86_400, description="twap: seconds between slices"),
    ] = None
    onChildFailure: Annotated[
        Literal["stop", "continue"],
        Field(description="twap: when a slice fails, stop the parent (failed) or go on"),
    ] = "stop"
    acceptHighImpact: StrictBool = Field(
        default=False,
        description="Waive the account's maximum price impact (maxImpactBps, default 500 bps) for this order",
    )


UsdLimit = Annotated[
    StrictStr | None,
    Field(
        pattern=r"^[0-9]{1,15}(\.[0-9]{1,8})?$",
        description="A limit as a decimal string (USD, or bps for maxImpactBps); null: the default",
    ),
]


class LimitsRequest(BaseModel):
    """Body of ``PUT /api/accounts/me/limits`` (and the operator's): only the limits given change."""

    model_config = ConfigDict(extra="forbid", strict=True)

    maxOrderUsd: UsdLimit = None
    maxImpactBps: UsdLimit = None
    dailyNotionalUsd: UsdLimit = None
    dailyLossUsd: UsdLimit = None


class TradingHaltRequest(BaseModel):
    """Body of ``POST /api/admin/trading-halt``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    halted: StrictBool
    reason: Annotated[StrictStr, Field(max_length=500, description="Shown on every page while halted")] = ""


class PortfolioQuery(BaseModel):
    """``GET /api/accounts/me/portfolio``: the value history's bucket."""

    model_config = ConfigDict(extra="forbid")

    bucket: Annotated[
        Literal["hour", "day"], Field(description="Value history per hour (last 48) or day (last 30)")
    ] = "hour"


class NoQuery(BaseModel):
    """An endpoint that takes no query parameters (any is refused, naming it)."""

    model_config = ConfigDict(extra="forbid")


class ListQuery(BaseModel):
    """Paging of a list endpoint."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=500, description="Page size (1-500)")] = 50
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET, description="Rows to skip")] = 0


class OrdersQuery(ListQuery):
    """Filters of ``GET /api/orders`` (open and working orders first, then newest first)."""

    status: Annotated[OrderStatusName | None, Field(description="Only orders in this state")] = None
    routingStrategy: Annotated[
        StrategyName | None, Field(description="Only orders routed by this strategy")
    ] = None
    tokenIn: Annotated[Symbol | None, Field(description="Only orders selling this token")] = None
    tokenOut: Annotated[Symbol | None, Field(description="Only orders buying this token")] = None
    orderType: Annotated[OrderTypeName | None, Field(description="Only orders of this type")] = None
    from_: Annotated[
        UtcDateTime | None, Field(alias="from", description="Created at or after (ISO 8601, inclusive)")
    ] = None
    to: Annotated[UtcDateTime | None, Field(description="Created before (ISO 8601, exclusive)")] = None


class TradesQuery(ListQuery):
    """Filters of ``GET /api/trades`` (executed legs, newest first)."""

    venue: Annotated[
        StrictStr | None,
        Field(max_length=64, description="Venue name (Raydium, Orca, ...; case-insensitive) or venue id"),
    ] = None
    tokenIn: Annotated[Symbol | None, Field(description="Legs selling this token")] = None
    tokenOut: Annotated[Symbol | None, Field(description="Legs buying this token")] = None
    orderId: Annotated[StrictStr | None, Field(max_length=64, description="Legs of this order")] = None
    from_: Annotated[
        UtcDateTime | None, Field(alias="from", description="Executed at or after (ISO 8601, inclusive)")
    ] = None
    to: Annotated[UtcDateTime | None, Field(description="Executed before (ISO 8601, exclusive)")] = None


class PoolsQuery(BaseModel):
    """Filters of ``GET /api/liquidity-pools``."""

    model_config = ConfigDict(extra="forbid")

    dex: Annotated[
        StrictStr | None, Field(description="Raydium, Orca or Meteora (case-insensitive)", max_length=32)
    ] = None
    tokenA: Annotated[Symbol | None, Field(description="Pools trading this token (either side)")] = None
    tokenB: Annotated[
        Symbol | None, Field(description="With tokenA: pools of that pair, in either orientation")
    ] = None


class AnalyticsQuery(BaseModel):
    """Window of ``GET /api/analytics/summary`` (default: all time)."""

    model_config = ConfigDict(extra="forbid")

    from_: Annotated[
        UtcDateTime | None, Field(alias="from", description="At or after (ISO 8601, inclusive)")
    ] = None
    to: Annotated[UtcDateTime | None, Field(description="Before (ISO 8601, exclusive)")] = None


class TimeseriesQuery(AnalyticsQuery):
    """``GET /api/analytics/timeseries``: bucket width and window (default: first activity to now)."""

    bucket: Annotated[
        Literal["minute", "hour", "day"],
        Field(description="Bucket width; buckets start on whole UTC minutes, hours or days"),
    ] = "hour"


class PriceHistoryQuery(AnalyticsQuery):
    """``GET /api/analytics/price-history``: bucket width and window (default: the last 2000 buckets)."""

    bucket: Annotated[
        Literal["minute", "hour", "day"],
        Field(description="Bucket width; buckets start on whole UTC minutes, hours or days"),
    ] = "minute"


class RecentTradesQuery(AnalyticsQuery):
    """``GET /api/analytics/impact`` and ``/slippage``: the latest trades of a window."""

    limit: Annotated[int, Field(ge=1, le=1000, description="How many of the latest trades (1-1000)")] = 200


class LiquidityCurvesQuery(BaseModel):
    """``GET /api/liquidity-curves``: a pair and the order sizes to quote each venue at."""

    model_config = ConfigDict(extra="forbid")

    tokenIn: Symbol
    tokenOut: Symbol
    points: Annotated[int, Field(ge=2, le=64, description="Sizes per curve (2-64), evenly spaced in log")] = (
        24
    )
    minAmountIn: Annotated[
        AmountText | None,
        Field(description="Smallest size in tokenIn units (default: maxAmountIn / 10^5)", examples=["0.1"]),
    ] = None
    maxAmountIn: Annotated[
        AmountText | None,
        Field(
            description="Largest size in tokenIn units (default: the largest of a quarter of each pool's "
            "tokenIn reserve and each desk's maximum)",
            examples=["10000"],
        ),
    ] = None


class ArbitrageQuery(BaseModel):
    """``GET /api/arbitrage/opportunities``: a USD floor on the profit and how many to list."""

    model_config = ConfigDict(extra="forbid")

    # ASCII digits only: Decimal() would also read "0_5" and non-ASCII digits.
    minProfitUsd: Annotated[
        StrictStr | None,
        Field(
            description='Least profit in USD (a decimal such as "1.5"; default 0: every profitable one)',
            pattern=r"^[0-9]{1,12}(\.[0-9]{1,12})?$",
            max_length=25,
            examples=["10"],
        ),
    ] = None
    limit: Annotated[int, Field(ge=1, le=200, description="How many, best first (1-200)")] = 50


# --- backtests and market history ------------------------------------------------------------------

DatasetName = Annotated[
    StrictStr,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$",
        description="A dataset: ``live`` (recorded) or a generated one's name",
        examples=["demo"],
    ),
]
PlanKindName = Literal["dca", "rebalance", "mean_reversion", "limit_ladder"]
BacktestStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
PlanParam = StrictStr | StrictInt | Decimal


class PriceHistoryCandlesQuery(BaseModel):
    """``GET /api/prices/history``: OHLC candles of a token's stored USD price."""

    model_config = ConfigDict(extra="forbid")

    token: Symbol
    from_: Annotated[
        UtcDateTime | None, Field(alias="from", description="Start (inclusive); default: to - 24 h")
    ] = None
    to: Annotated[UtcDateTime | None, Field(description="End (exclusive); default: now")] = None
    interval: Annotated[Literal["1m", "5m", "15m", "1h", "4h", "1d"], Field(description="Candle width")] = (
        "5m"
    )
    dataset: DatasetName = "live"


class GenerateDataRequest(BaseModel):
    """Body of ``POST /api/backtest/generate-data``: a synthetic dataset (GBM prices, arbitraged pools)."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetName
    days: Annotated[float, Field(gt=0, le=366, description="Length in days")] = 1
    stepS: Annotated[StrictInt, Field(ge=1, le=86_400, description="Seconds between frames")] = 60
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = 1
    start: Annotated[
        UtcDateTime | None, Field(description="First frame's time; default: days before now")
    ] = None
    volatility: Annotated[
        float | None, Field(gt=0, le=10, description="Annualised, every token (0.8: 80 %)")
    ] = None
    drift: Annotated[float | None, Field(ge=-10, le=10, description="Annualised drift, every token")] = None


class RunBacktestRequest(BaseModel):
    """Body of ``POST /api/backtest/run``: a plan replayed over a dataset's range through one strategy.

    ``params`` per planKind (amounts in token units): dca: tokenIn, tokenOut, amountIn, everyS;
    rebalance: tokenA, tokenB, targetWeight (0-1), band (0-1), checkEveryS; mean_reversion: token,
    quoteToken, windowS, threshold, amountIn (of quoteToken); limit_ladder: token, quoteToken, rungs,
    step, amountIn (of quoteToken, per rung)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr | None, Field(max_length=64)] = None
    dataset: DatasetName
    from_: Annotated[UtcDateTime | None, Field(alias="from", description="Default: the dataset's start")] = (
        None
    )
    to: Annotated[UtcDateTime | None, Field(description="Default: the dataset's end")] = None
    planKind: PlanKindName
    params: dict[str, PlanParam]
    initial: Annotated[
        dict[str, AmountInput], Field(description="Starting balances: token → amount in token units")
    ]
    strategy: Annotated[
        StrictStr,
        Field(
            max_length=64, description=f"One of {', '.join(STRATEGIES)}, or VENUE:<venue> (one venue only)"
        ),
    ] = "OPTIMAL_SPLIT"
    slippageBps: SlippageBps = 100


class BacktestsQuery(BaseModel):
    """Filters of ``GET /api/backtest`` (newest first; ``cursor`` is a page's nextCursor)."""

    model_config = ConfigDict(extra="forbid")

    strategy: Annotated[StrictStr | None, Field(max_length=64)] = None
    status: BacktestStatusName | None = None
    from_: Annotated[UtcDateTime | None, Field(alias="from", description="Created at or after")] = None
    to: Annotated[UtcDateTime | None, Field(description="Created before")] = None
    limit: Annotated[int, Field(ge=1, le=200, description="Page size (1-200)")] = 50
    cursor: Annotated[
        StrictStr | None, Field(max_length=128, description="nextCursor of the previous page")
    ] = None


class BacktestTradesQuery(ListQuery):
    """Paging of ``GET /api/backtest/<id>/trades`` (in order)."""

    limit: Annotated[int, Field(ge=1, le=1000, description="Page size (1-1000)")] = 100


class CompareBacktestsRequest(BaseModel):
    """Body of ``POST /api/backtest/compare``: runs of the account to set side by side."""

    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[Annotated[StrictStr, Field(max_length=64)]], Field(min_length=1, max_length=20)]


# --- bots ------------------------------------------------------------------------------------------


class CreateBotRequest(BaseModel):
    """Body of ``POST /api/bots``: the type, a name, the type's config, how often it runs."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["arbitrage", "rebalance", "flow", "dca"]
    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    config: Annotated[
        dict[str, Any], Field(description='The type\'s settings (README "Bots"); {} takes the defaults')
    ] = {}
    intervalS: Annotated[float, Field(ge=0.5, le=86_400, description="Seconds between runs")] = 5.0
    start: Annotated[StrictBool, Field(description="Start it at once (default) or leave it stopped")] = True
    funding: Annotated[
        dict[str, StrictStr] | None,
        Field(description='Its paper account\'s funding, e.g. {"SOL": "100"} (default: BOT_FUNDING)'),
    ] = None


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    NoQuery,
    QuoteQuery,
    ExecuteOrderRequest,
    OrdersQuery,
    TradesQuery,
    PoolsQuery,
    AnalyticsQuery,
    TimeseriesQuery,
    PriceHistoryQuery,
    RecentTradesQuery,
    LiquidityCurvesQuery,
    ArbitrageQuery,
    PriceHistoryCandlesQuery,
    BacktestsQuery,
    BacktestTradesQuery,
    GenerateDataRequest,
    RunBacktestRequest,
    CompareBacktestsRequest,
    PortfolioQuery,
    LimitsRequest,
    TradingHaltRequest,
    CreateBotRequest,
)
