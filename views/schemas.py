"""Request and response schemas (pydantic): they validate every request and generate the OpenAPI document.

Structure and types are checked here; the meaning of values (a known token, an amount a token
can hold, a strategy) is checked by the core's own parsers, which name the field in the error.
Response models describe what ``views.serialize`` produces; the OpenAPI document is generated
from them and the tests validate real responses against them, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from routing_engine import Strategy

__all__ = [
    "REQUEST_MODELS",
    "RESPONSE_MODELS",
    "AccountResponse",
    "AmountInput",
    "AnalyticsQuery",
    "AnalyticsSummary",
    "BreakdownResponse",
    "ErrorResponse",
    "ExecuteOrderRequest",
    "HealthResponse",
    "ImpactResponse",
    "LatencyResponse",
    "LiquidityCurvesQuery",
    "LiquidityCurvesResponse",
    "ListQuery",
    "NoQuery",
    "OrderAccepted",
    "OrderDetail",
    "OrdersPage",
    "OrdersQuery",
    "OtcPoolsResponse",
    "PoolsQuery",
    "PoolsResponse",
    "PricesResponse",
    "QuoteQuery",
    "QuoteResponse",
    "RecentTradesQuery",
    "SlippageResponse",
    "TimeseriesQuery",
    "TimeseriesResponse",
    "TokensResponse",
    "TradesPage",
    "TradesQuery",
    "error_schema",
]

STRATEGIES = tuple(s.value for s in Strategy)
OrderStatusName = Literal["pending", "quoting", "routing", "building", "submitted", "confirmed", "failed"]
MAX_OFFSET = 1_000_000_000  # far beyond any real page; keeps OFFSET inside every backend's integer


# --- request pieces ------------------------------------------------------------------------------


def _amount_input(value: object) -> str | int | Decimal:
    """Accept a decimal string or a JSON number (already a Decimal or int); refuse anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        kind = "a boolean" if isinstance(value, bool) else type(value).__name__
        raise PydanticCustomError(
            "amount_type", "must be a decimal string or a number, not {kind}", {"kind": kind}
        )
    return value


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
                {"type": "string", "pattern": r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"},
                {"type": "number"},
            ],
            "description": "Amount in token units (not base units): a decimal string, or a JSON number "
            "(read exactly: 0.1 is 0.1). More decimals than the token has is an error, never a rounding.",
            "examples": ["10", "0.25"],
        }
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
    amountIn: Annotated[StrictStr, Field(description="Amount of tokenIn in token units", examples=["10"])]
    routingStrategy: StrategyName = "OPTIMAL_SPLIT"
    slippageBps: SlippageBps = 50


class ExecuteOrderRequest(BaseModel):
    """Body of ``POST /api/orders/execute``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tokenIn: Symbol
    tokenOut: Symbol
    amountIn: AmountInput
    orderType: Annotated[Literal["market"], Field(description="Only market orders")] = "market"
    routingStrategy: StrategyName = "OPTIMAL_SPLIT"
    slippageBps: Annotated[
        StrictInt, Field(ge=0, le=5000, description="Slippage tolerance in basis points (0-5000)")
    ] = 50
    minAmountOut: AmountInput | None = Field(
        default=None,
        description="Refuse to fill below this many token units of tokenOut. Default: the quote at "
        "submission less slippageBps.",
    )


class NoQuery(BaseModel):
    """An endpoint that takes no query parameters (any is refused, naming it)."""

    model_config = ConfigDict(extra="forbid")


class ListQuery(BaseModel):
    """Paging of a list endpoint."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=500, description="Page size (1-500)")] = 50
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET, description="Rows to skip")] = 0


class OrdersQuery(ListQuery):
    """Filters of ``GET /api/orders`` (newest first)."""

    status: Annotated[OrderStatusName | None, Field(description="Only orders in this state")] = None
    routingStrategy: Annotated[
        StrategyName | None, Field(description="Only orders routed by this strategy")
    ] = None
    tokenIn: Annotated[Symbol | None, Field(description="Only orders selling this token")] = None
    tokenOut: Annotated[Symbol | None, Field(description="Only orders buying this token")] = None
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
        StrictStr | None,
        Field(description="Smallest size in tokenIn units (default: maxAmountIn / 10^5)", examples=["0.1"]),
    ] = None
    maxAmountIn: Annotated[
        StrictStr | None,
        Field(
            description="Largest size in tokenIn units (default: the largest of a quarter of each pool's "
            "tokenIn reserve and each desk's maximum)",
            examples=["10000"],
        ),
    ] = None


# --- response pieces -----------------------------------------------------------------------------


class _Out(BaseModel):
    """A response object: exactly these keys (a new key must be documented here first)."""

    model_config = ConfigDict(extra="forbid")


Amount = Annotated[
    str,
    Field(
        pattern=r"^\d+(\.\d+)?$",
        description="Exact amount in token units (decimal string, never an exponent)",
        examples=["12.5"],
    ),
]
DecimalText = Annotated[
    str, Field(pattern=r"^-?\d+(\.\d+)?$", description="Exact decimal as a string", examples=["150.25"])
]
Timestamp = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$",
        description="ISO 8601, UTC",
        examples=["2026-11-21T06:22:00.123456Z"],
    ),
]
Kind = Literal["amm", "otc", "aggregator"]


class ErrorDetail(_Out):
    code: str = Field(description="Machine-readable reason, e.g. invalid_input, unknown_token, no_route")
    message: str = Field(description="What was wrong, with the offending value")
    field: str | None = Field(description="The request field, parameter or header at fault (null: none)")


class ErrorResponse(_Out):
    """Every failure: a 4xx (or 503 when a dependency is down), never a traceback."""

    error: ErrorDetail


class DatabaseCheck(_Out):
    ok: bool
    backend: str | None = None
    error: str | None = None


class RedisCheck(_Out):
    ok: bool | None
    detail: str | None = None
    error: str | None = None


class DispatchStats(_Out):
    batches: int = Field(description="Batch jobs this web process has queued since it started")
    orders: int = Field(description="Orders in those batch jobs")
    largestBatch: int


class QueueCheck(_Out):
    depth: int | None = Field(description="Jobs waiting (RQ: queued plus scheduled; in-process: pending)")
    ordersWaiting: int | None = Field(
        default=None, description="Accepted orders no worker has taken yet (in batch jobs or gathering)"
    )
    dispatched: DispatchStats | None = None
    executor: Literal["rq", "in-process"] | None = None
    error: str | None = None


class JupiterCheck(_Out):
    state: str


class HealthChecks(_Out):
    database: DatabaseCheck
    redis: RedisCheck
    queue: QueueCheck
    jupiter: JupiterCheck


class HealthResponse(_Out):
    """``GET /api/health``: 200 when every dependency answers, 503 when one does not."""

    status: Literal["ok", "degraded"]
    checks: HealthChecks
    time: Timestamp


class TokenOut(_Out):
    symbol: str
    mint: str
    decimals: int
    name: str


class TokensResponse(_Out):
    tokens: list[TokenOut]


class VenueQuoteOut(_Out):
    venue: str
    venueId: str
    kind: Kind
    path: list[str]
    amountOut: Amount | None = Field(description="null when the venue cannot fill")
    priceImpactBps: DecimalText | None
    feeBps: DecimalText | None
    available: bool
    reason: str | None
    isEstimate: bool
    latencyMs: int


class RouteLegOut(_Out):
    venue: str
    venueId: str
    kind: Kind
    hop: int = Field(description="0: first (or only) hop, 1: second hop")
    path: list[str]
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    isEstimate: bool
    paper: bool
    share: DecimalText | None = Field(default=None, description="First-hop legs: share of the input")


class RouteOut(_Out):
    strategy: str
    legs: list[RouteLegOut]
    amountIn: Amount
    amountOut: Amount
    minAmountOut: Amount
    priceImpactBps: DecimalText | None
    savingsVsBestSingleBps: DecimalText | None
    optimalityGapBps: DecimalText | None
    upperBoundOut: Amount | None
    expectedLatencyMs: int


class QuotePrice(_Out):
    priceUsd: DecimalText | None
    source: str


class JupiterState(_Out):
    state: str
    available: bool
    lastError: str | None


class QuoteResponse(_Out):
    """``GET /api/quote``: every venue side by side and the chosen route with its certificate."""

    tokenIn: str
    tokenOut: str
    amountIn: Amount
    slippageBps: int
    referencePrice: DecimalText | None
    quotes: list[VenueQuoteOut]
    bestSingle: VenueQuoteOut | None
    route: RouteOut
    prices: dict[str, QuotePrice]
    jupiter: JupiterState | None
    paper: bool
    quotedAt: Timestamp


class OrderLinks(_Out):
    order: str


class SocketAuth(_Out):
    apiKey: str


class SocketSubscribeData(_Out):
    orderId: str


class SocketSubscribe(_Out):
    event: str
    data: SocketSubscribeData


class SocketHelp(_Out):
    path: str
    auth: SocketAuth
    subscribe: SocketSubscribe
    event: str


class OrderAccepted(_Out):
    """``POST /api/orders/execute``: 202 when accepted, 200 (Idempotent-Replayed: true) on a replay."""

    orderId: str
    status: OrderStatusName
    quotedAmountOut: Amount
    minAmountOut: Amount
    paper: bool
    links: OrderLinks
    socket: SocketHelp


class OrderError(_Out):
    code: str
    message: str | None


class OrderPhases(_Out):
    quoting: Timestamp | None
    routing: Timestamp | None
    building: Timestamp | None
    submitted: Timestamp | None
    confirmed: Timestamp | None
    failed: Timestamp | None


class OrderSummary(_Out):
    orderId: str
    status: OrderStatusName
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount | None
    quotedAmountOut: Amount
    minAmountOut: Amount
    orderType: str
    routingStrategy: str
    slippageBps: int
    attempts: int
    error: OrderError | None
    createdAt: Timestamp
    updatedAt: Timestamp
    phases: OrderPhases
    paper: bool


class OrdersPage(_Out):
    orders: list[OrderSummary]
    total: int
    limit: int
    offset: int


class FillOut(_Out):
    """One executed leg."""

    id: int
    orderId: str
    legIndex: int
    venue: str
    venueId: str
    kind: Kind
    hop: int
    path: list[str]
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    quotedAmountOut: Amount
    price: DecimalText = Field(description="tokenOut per tokenIn, token units")
    fee: Amount = Field(description="Fee kept by the venue, in tokenIn")
    feeBps: DecimalText
    paper: bool
    executedAt: Timestamp


class PlannedLegOut(_Out):
    """A leg as routed, before it executed."""

    venue: str
    venueId: str
    kind: Kind
    hop: int
    path: list[str]
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    planned: Literal[True]
    paper: bool


class OrderEventOut(_Out):
    status: str
    message: str
    timestamp: Timestamp


class OrderRouteOut(_Out):
    optimalityGapBps: DecimalText | None
    priceImpactBps: DecimalText | None
    savingsVsBestSingleBps: DecimalText | None
    bestSingleVenue: str | None
    bestSingleAmountOut: Amount | None
    jupiterAmountOut: Amount | None


class OrderTradeOut(_Out):
    tradeId: int
    price: DecimalText
    latencyMs: float
    notionalUsd: float
    savingsUsd: float
    executedAt: Timestamp


class OrderDetail(OrderSummary):
    """``GET /api/orders/{orderId}``: the order, its legs, its events and the route's certificate."""

    legs: list[FillOut | PlannedLegOut]
    events: list[OrderEventOut]
    route: OrderRouteOut | None
    trade: OrderTradeOut | None


class BalanceOut(_Out):
    token: str
    amount: Amount
    reserved: Amount = Field(description="Held by open orders")
    available: Amount


class AccountResponse(_Out):
    """``GET /api/accounts/me``."""

    accountId: int
    name: str
    apiKeyPrefix: str | None
    createdAt: Timestamp
    balances: list[BalanceOut]
    paper: bool


class TokenPrice(_Out):
    priceUsd: DecimalText
    change24hPct: DecimalText | None = Field(description="null when the source does not report it")
    source: str = Field(description="coingecko, kraken, binance, pools (implied by our pools) or static")
    fetchedAt: Timestamp
    ageS: float = Field(description="Seconds since the source answered")


class PriceSourceStatus(_Out):
    name: str
    healthy: bool
    lastError: str | None
    lastSuccessAt: Timestamp | None
    retryAt: Timestamp | None
    throttled: bool


class PricesResponse(_Out):
    """``GET /api/prices``: USD price of every token, each tagged with where it came from."""

    prices: dict[str, TokenPrice]
    source: str = Field(description="The one source of every price, or 'mixed'")
    sourceCounts: dict[str, int] = Field(description="How many tokens each source priced")
    sources: list[PriceSourceStatus] = Field(description="Every source in chain order, with its health")
    cacheAgeS: float = Field(description="Age of the oldest price served, in seconds")
    asOf: Timestamp


class PoolOut(_Out):
    id: str
    venue: str
    kind: Literal["amm"]
    tokenA: str
    tokenB: str
    reserveA: Amount
    reserveB: Amount
    feeBps: int
    price: DecimalText = Field(description="Spot price: tokenB per tokenA, token units, before fees")
    depthUsd: DecimalText | None = Field(description="Both reserves at current USD prices (2 places)")
    updatedAt: Timestamp


class PoolsResponse(_Out):
    pools: list[PoolOut]
    total: int


class DeskPair(_Out):
    base: Amount
    quote: Amount


class DeskOut(_Out):
    id: str
    name: str
    kind: Literal["otc"]
    base: str
    quote: str
    baseSpreadBps: DecimalText
    sizeSpreadBps: DecimalText
    curve: str = Field(description="linear or quadratic: spread = base + size * (size/maxSize)^p")
    minSize: Amount = Field(description="In base token units")
    maxSize: Amount = Field(description="In base token units")
    inventory: DeskPair = Field(description="Held now, refilled to the time of the request")
    targets: DeskPair = Field(description="What the inventory refills towards")
    refillPerS: DeskPair
    settlementDelayS: DecimalText = Field(description="Effective delay before an OTC leg settles")
    updatedAt: Timestamp


class OtcPoolsResponse(_Out):
    desks: list[DeskOut]
    total: int


class TradesPage(_Out):
    """``GET /api/trades``: executed legs, newest first (no account is exposed)."""

    trades: list[FillOut]
    total: int
    limit: int
    offset: int


class Window(_Out):
    from_: Timestamp | None = Field(alias="from")
    to: Timestamp | None


class OrderCounts(_Out):
    total: int
    byStatus: dict[str, int]
    final: int = Field(description="confirmed + failed")
    successRate: float | None = Field(description="confirmed / final; null before any order is final")


class VenueVolume(_Out):
    venue: str
    fills: int
    volumeUsd: float = Field(description="Trade notional apportioned to the leg (see volumeMethod)")
    amountIn: dict[str, Amount] = Field(description="Exact input per token, token units")


class StrategyVolume(_Out):
    strategy: str
    trades: int
    volumeUsd: float


class Savings(_Out):
    available: bool = Field(description="false when no trade had the comparison")
    trades: int = Field(description="Trades that had the comparison")
    totalUsd: float | None
    avgUsd: float | None
    avgBps: float | None


class ImpactStats(_Out):
    trades: int
    avgBps: float | None
    maxBps: float | None


class LatencyStats(_Out):
    count: int
    meanMs: float | None
    p50Ms: float | None
    p95Ms: float | None
    p99Ms: float | None


class AnalyticsSummary(_Out):
    """``GET /api/analytics/summary``: aggregate figures only (statistics: floats)."""

    window: Window
    orders: OrderCounts
    trades: int
    notionalUsd: float
    volumeByVenue: list[VenueVolume]
    volumeByStrategy: list[StrategyVolume]
    volumeMethod: str
    savingsVsBestSingle: Savings
    savingsVsJupiter: Savings
    priceImpact: ImpactStats
    latency: LatencyStats


# --- charts ----------------------------------------------------------------------------------------


class TimeBucketOut(_Out):
    start: Timestamp = Field(description="Bucket start (UTC); the bucket is [start, start + bucket)")
    orders: int = Field(description="Orders created in the bucket")
    confirmed: int = Field(description="Of those orders, how many are confirmed now")
    failed: int = Field(description="Of those orders, how many failed")
    successRate: float | None = Field(description="confirmed / (confirmed + failed); null when none is final")
    trades: int = Field(description="Trades executed in the bucket")
    volumeUsd: float = Field(description="Sum of the trades' notional (input valued at execution)")
    savingsVsBestSingleUsd: float = Field(description="Output gained over the best single venue, in USD")
    jupiterTrades: int = Field(description="Trades that had a Jupiter quote to compare with")
    savingsVsJupiterUsd: float | None = Field(description="null when no trade of the bucket had one")


class TimeseriesResponse(_Out):
    """``GET /api/analytics/timeseries``: every bucket of the window, empty ones as zeros, oldest first."""

    bucket: Literal["minute", "hour", "day"]
    window: Window = Field(description="The window covered: from (inclusive) to (exclusive)")
    truncated: bool = Field(description="from was omitted and activity began before the earliest bucket")
    buckets: list[TimeBucketOut]


class ImpactTradeOut(_Out):
    orderId: str
    executedAt: Timestamp
    tokenIn: str
    tokenOut: str
    strategy: str
    amountIn: Amount
    amountOut: Amount
    notionalUsd: float = Field(description="The input valued in USD at execution")
    priceImpactBps: DecimalText | None = Field(description="Route's impact versus the reference mid")
    savingsUsd: float = Field(description="Versus the best single venue")
    venues: list[str] = Field(description="Venues of the legs, in leg order, each once")
    kinds: list[Kind]
    legs: int


class ImpactResponse(_Out):
    """``GET /api/analytics/impact``: the latest trades, newest first, for a size-versus-impact scatter."""

    window: Window
    total: int = Field(description="Trades in the window (the list holds the latest `limit`)")
    limit: int
    trades: list[ImpactTradeOut]


class LatencyBucketOut(_Out):
    loMs: float = Field(description="Inclusive lower edge")
    hiMs: float | None = Field(description="Exclusive upper edge; null for the open-ended last bucket")
    count: int


class LatencyResponse(_Out):
    """``GET /api/analytics/latency``: submit (order created) to confirmed, per trade in the window."""

    window: Window
    count: int
    minMs: float | None
    maxMs: float | None
    meanMs: float | None
    p50Ms: float | None
    p90Ms: float | None
    p95Ms: float | None
    p99Ms: float | None
    percentileMethod: Literal["nearest-rank"]
    buckets: list[LatencyBucketOut] = Field(
        description="1-2-5 edges in ms, from the first to the last non-empty bucket (none when empty)"
    )


class SlippageTradeOut(_Out):
    orderId: str
    executedAt: Timestamp
    tokenIn: str
    tokenOut: str
    strategy: str
    amountIn: Amount
    quotedAmountOut: Amount = Field(description="The quote when the order was submitted")
    amountOut: Amount = Field(description="What the order filled")
    slippageBps: DecimalText = Field(
        description="(quoted - filled) / quoted x 10^4 to 0.0001 bps; negative: filled above the quote"
    )
    notionalUsd: float
    venues: list[str]


class SlippageAggregate(_Out):
    trades: int = Field(description="Every trade of the window (not only the listed ones)")
    avgBps: float | None
    weightedBps: float | None = Field(description="Weighted by each trade's notionalUsd")
    minBps: float | None
    maxBps: float | None
    p50Bps: float | None
    p95Bps: float | None
    worse: int = Field(description="Trades filled below their quote")
    equal: int
    better: int = Field(description="Trades filled above their quote")


class SlippageResponse(_Out):
    """``GET /api/analytics/slippage``: quoted versus filled output (realised slippage)."""

    window: Window
    total: int
    limit: int
    trades: list[SlippageTradeOut]
    aggregate: SlippageAggregate


class VenueBreakdownOut(_Out):
    venue: str
    kind: Kind
    fills: int
    trades: int
    volumeUsd: float = Field(description="Trade notional apportioned to the leg (see volumeMethod)")
    savingsUsd: float = Field(description="Savings vs the best single venue, apportioned like volume")


class StrategyBreakdownOut(_Out):
    strategy: str
    trades: int
    volumeUsd: float
    savingsUsd: float = Field(description="Versus the best single venue")
    avgSavingsBps: float | None
    jupiterTrades: int
    savingsVsJupiterUsd: float | None
    avgPriceImpactBps: float | None
    avgLatencyMs: float | None


class BreakdownResponse(_Out):
    """``GET /api/analytics/breakdown``: volume and savings per venue and per strategy."""

    window: Window
    byVenue: list[VenueBreakdownOut]
    byStrategy: list[StrategyBreakdownOut]
    volumeMethod: str


class CurvePointOut(_Out):
    amountIn: Amount
    amountOut: Amount | None = Field(description="null when the venue cannot fill this size")
    price: DecimalText | None = Field(description="amountOut / amountIn (tokenOut per tokenIn)")
    priceImpactBps: DecimalText | None = Field(description="Size-driven impact, fee and base spread excluded")
    feeBps: DecimalText | None = Field(description="Fee or desk spread at this size (null: inside the price)")
    available: bool
    reason: str | None


class CurveVenueOut(_Out):
    venue: str
    venueId: str
    kind: Kind
    available: bool = Field(description="true when the venue fills at least one of the sizes")
    reason: str | None = Field(description="Why it fills none (the largest size's reason)")
    isEstimate: bool
    minAmountIn: Amount
    maxAmountIn: Amount | None = Field(description="null: no maximum")
    depthOut: Amount = Field(description="Most tokenOut the venue can pay")
    points: list[CurvePointOut] = Field(description="One per entry of sizes, in that order")


class LiquidityCurvesResponse(_Out):
    """``GET /api/liquidity-curves``: each venue of a pair quoted alone at log-spaced sizes."""

    tokenIn: str
    tokenOut: str
    referencePrice: DecimalText | None = Field(description="tokenOut per tokenIn from USD prices")
    sizes: list[Amount] = Field(description="The sizes quoted, in tokenIn units, ascending")
    venues: list[CurveVenueOut]
    asOf: Timestamp


class OpenApiDocument(BaseModel):
    """The OpenAPI 3.1 document itself."""

    model_config = ConfigDict(extra="allow")

    openapi: str


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    QuoteQuery,
    ExecuteOrderRequest,
    OrdersQuery,
    TradesQuery,
    PoolsQuery,
    AnalyticsQuery,
    TimeseriesQuery,
    RecentTradesQuery,
    LiquidityCurvesQuery,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    ErrorResponse,
    HealthResponse,
    TokensResponse,
    QuoteResponse,
    OrderAccepted,
    OrdersPage,
    OrderDetail,
    AccountResponse,
    PricesResponse,
    PoolsResponse,
    OtcPoolsResponse,
    TradesPage,
    AnalyticsSummary,
    TimeseriesResponse,
    ImpactResponse,
    LatencyResponse,
    SlippageResponse,
    BreakdownResponse,
    LiquidityCurvesResponse,
)


def error_schema() -> dict[str, Any]:
    """The JSON schema of every error body."""
    return ErrorResponse.model_json_schema(ref_template="#/$defs/{model}")
