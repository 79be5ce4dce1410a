"""The JSON of Solroute, REST and Socket.IO alike: each shape declared once, as a pydantic model.

A response model is both the contract (``/api/openapi.json`` is generated from it and the tests
hold real responses to it) and the builder: ``QuoteResponse.of(quote, quoted_at)`` makes the body
of ``GET /api/quote``, ``.to_json()`` gives it as JSON-ready values. Amounts are exact decimal strings
in token units ("1234.5", never an exponent); timestamps ISO 8601 UTC with a Z.

Builders use ``_Out.make``, not validation: the values come from our own domain objects, not
from a client; validating them again would cost time on the hot paths (a quote, an order) and
would also change them (a float field turns an int ``1`` into ``1.0``), while the served bytes
must stay as they are. ``make`` checks the field names; the tests validate every real response
strictly against these same models, and a value of the wrong type makes pydantic's serializer
warn (an error under pytest). Figures: ``bench/payloads.py``.

Socket.IO payloads (``order_update``, ``trade_executed``, ``pool_update``, ``price_update``) are
declared and built here too, so jobs and views share one shape and jobs never import the views.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self, overload

from pydantic import BaseModel, ConfigDict, Field

from models import Fill
from tokens import Token, format_amount, from_base_units, get_token

if TYPE_CHECKING:
    import otc_engine
    from amm import Pool
    from analytics import (
        Breakdown,
        LatencyDistribution,
        Page,
        Slippage,
        Summary,
        Timeseries,
        TradeRow,
    )
    from analytics import Savings as SavingsStats
    from analytics import Window as AnalyticsWindow
    from models import Account, AmmPool, Order, OrderEvent, OTCPool, Trade
    from price_feeds import PriceQuote, SourceStatus
    from quoting import LiquidityCurves, Quote
    from routing_engine import Leg, Route, VenueCurve, VenueQuote
    from trade_logger import RecordedTrade, StoredEvent

__all__ = [
    "AccountResponse",
    "AnalyticsSummary",
    "BreakdownResponse",
    "DeskUpdate",
    "ErrorResponse",
    "FillOut",
    "HealthResponse",
    "ImpactResponse",
    "LatencyResponse",
    "LiquidityCurvesResponse",
    "OrderAccepted",
    "OrderDetail",
    "OrderStatusName",
    "OrderSummary",
    "OrderUpdate",
    "OrdersPage",
    "OtcPoolsResponse",
    "PoolUpdate",
    "PoolsResponse",
    "PriceUpdate",
    "PricesResponse",
    "QuoteResponse",
    "SlippageResponse",
    "TimeseriesResponse",
    "TokensResponse",
    "TradeExecuted",
    "TradesPage",
    "amount_str",
    "decimal_str",
    "desk_update_json",
    "epoch_iso",
    "error_schema",
    "iso",
    "order_payload",
    "pool_update_json",
    "price_update_json",
    "prices_json",
    "spot_price_str",
    "trade_executed_json",
]

# --- formatting ----------------------------------------------------------------------------------


def amount_str(symbol: str, units: int | None) -> str | None:
    """Base units as an exact decimal string in token units ("1234.5", never an exponent)."""
    return None if units is None else format_amount(symbol, units)


def decimal_str(value: Decimal | str | None, places: int | None = None) -> str | None:
    """A Decimal as plain text, optionally rounded to ``places`` (display only, not money)."""
    if value is None:
        return None
    d = Decimal(value)
    if places is not None:
        d = d.quantize(Decimal(1).scaleb(-places))
    return f"{d:f}"


@overload
def iso(at: datetime) -> str: ...
@overload
def iso(at: None) -> None: ...
def iso(at: datetime | None) -> str | None:
    """A UTC datetime as ISO 8601 with a Z."""
    if at is None:
        return None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat().replace("+00:00", "Z")


def epoch_iso(seconds: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC."""
    return None if seconds is None else iso(datetime.fromtimestamp(seconds, UTC))


def _human(symbol: str, units: int) -> Decimal:
    return from_base_units(get_token(symbol), units)


def spot_price_str(token_a: str, token_b: str, reserve_a: int, reserve_b: int) -> str:
    """A pool's spot price, tokenB per tokenA in token units (28 significant digits)."""
    with localcontext() as ctx:
        ctx.prec = 28
        price = _human(token_b, reserve_b) / _human(token_a, reserve_a)
    return f"{price.normalize():f}"


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


# --- shared pieces -------------------------------------------------------------------------------


_set = object.__setattr__  # as pydantic's own model_construct sets a model's slots


class _Out(BaseModel):
    """A JSON object we send: exactly these keys (a new key must be declared here first)."""

    model_config = ConfigDict(extra="forbid")

    field_names: ClassVar[tuple[str, ...]] = ()
    required_names: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.field_names = tuple(cls.__pydantic_fields__)
        cls.required_names = frozenset(n for n, f in cls.__pydantic_fields__.items() if f.is_required())

    @classmethod
    def make(cls, **values: Any) -> Self:
        """The model holding ``values`` (ours, trusted): field names are checked, values are not.

        Cheaper than pydantic's ``model_construct`` (bench/payloads.py), which loops over every
        field in Python; a quote response holds some thirty of these objects. A field left out
        holds its default but is absent from the JSON (``share`` of a second-hop leg).
        """
        given = set(values)
        if tuple(values) != cls.field_names:  # not every field in declared order (the JSON's order)
            unknown, missing = given.difference(cls.field_names), cls.required_names - given
            if unknown or missing:
                raise TypeError(f"{cls.__name__}: unknown {sorted(unknown)}, missing {sorted(missing)}")
            values = {
                name: values[name]
                if name in given
                else cls.__pydantic_fields__[name].get_default(call_default_factory=True)
                for name in cls.field_names
            }
        model = cls.__new__(cls)
        _set(model, "__dict__", values)
        _set(model, "__pydantic_fields_set__", given)
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values: keys by alias (``from``), only the fields the builder set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


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
OrderStatusName = Literal["pending", "quoting", "routing", "building", "submitted", "confirmed", "failed"]
PHASES = ("quoting", "routing", "building", "submitted", "confirmed", "failed")


class Window(_Out):
    from_: Timestamp | None = Field(alias="from")
    to: Timestamp | None

    @classmethod
    def of(cls, window: AnalyticsWindow) -> Self:
        return cls.make(from_=iso(window.start), to=iso(window.end))


# --- errors --------------------------------------------------------------------------------------


class ErrorDetail(_Out):
    code: str = Field(description="Machine-readable reason, e.g. invalid_input, unknown_token, no_route")
    message: str = Field(description="What was wrong, with the offending value")
    field: str | None = Field(description="The request field, parameter or header at fault (null: none)")


class ErrorResponse(_Out):
    """Every failure: a 4xx (or 503 when a dependency is down), never a traceback."""

    error: ErrorDetail


def error_schema() -> dict[str, Any]:
    """The JSON schema of every error body."""
    return ErrorResponse.model_json_schema(ref_template="#/$defs/{model}")


# --- system --------------------------------------------------------------------------------------


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


# --- market --------------------------------------------------------------------------------------


class TokenOut(_Out):
    symbol: str
    mint: str
    decimals: int
    name: str


class TokensResponse(_Out):
    tokens: list[TokenOut]

    @classmethod
    def of(cls, tokens: Iterable[Token]) -> Self:
        return cls.make(
            tokens=[
                TokenOut.make(symbol=t.symbol, mint=t.mint, decimals=t.decimals, name=t.name) for t in tokens
            ]
        )


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

    @classmethod
    def of(cls, q: VenueQuote, token_out: str) -> Self:
        return cls.make(
            venue=q.venue,
            venueId=q.venue_id,
            kind=q.kind.value,
            path=list(q.path),
            amountOut=amount_str(token_out, q.amount_out) if q.available else None,
            priceImpactBps=decimal_str(q.price_impact_bps, 4),
            feeBps=decimal_str(q.fee_bps, 4),
            available=q.available,
            reason=q.reason,
            isEstimate=q.is_estimate,
            latencyMs=q.latency_ms,
        )


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

    @classmethod
    def of(cls, leg: Leg, first_hop_total: int) -> Self:
        """A leg of a route; a first-hop leg carries its share of the route's input."""
        share: dict[str, Any] = {}
        if leg.hop == 0:
            share["share"] = decimal_str(Decimal(leg.amount_in) / first_hop_total, 6)
        return cls.make(
            venue=leg.venue,
            venueId=leg.venue_id,
            kind=leg.kind.value,
            hop=leg.hop,
            path=list(leg.path),
            tokenIn=leg.token_in,
            tokenOut=leg.token_out,
            amountIn=amount_str(leg.token_in, leg.amount_in),
            amountOut=amount_str(leg.token_out, leg.amount_out),
            isEstimate=leg.is_estimate,
            paper=leg.kind.value == "aggregator",
            **share,
        )


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

    @classmethod
    def of(cls, route: Route, token_in: str, token_out: str) -> Self:
        """A route: its legs (first-hop legs with their share of the input) and its certificate."""
        first_hop_total = sum(leg.amount_in for leg in route.legs if leg.hop == 0) or 1
        return cls.make(
            strategy=route.strategy.value,
            legs=[RouteLegOut.of(leg, first_hop_total) for leg in route.legs],
            amountIn=amount_str(token_in, route.amount_in),
            amountOut=amount_str(token_out, route.amount_out),
            minAmountOut=amount_str(token_out, route.min_amount_out),
            priceImpactBps=decimal_str(route.price_impact_bps, 4),
            savingsVsBestSingleBps=decimal_str(route.savings_vs_best_single_bps, 4),
            optimalityGapBps=decimal_str(route.optimality_gap_bps, 6),
            upperBoundOut=amount_str(token_out, route.upper_bound_out),
            expectedLatencyMs=route.expected_latency_ms,
        )


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

    @classmethod
    def of(cls, quote: Quote, quoted_at: datetime) -> Self:
        r = quote.result
        status = quote.jupiter_status
        return cls.make(
            tokenIn=r.token_in,
            tokenOut=r.token_out,
            amountIn=amount_str(r.token_in, r.amount_in),
            slippageBps=r.slippage_bps,
            referencePrice=decimal_str(r.reference_price),
            quotes=[VenueQuoteOut.of(q, r.token_out) for q in r.quotes],
            bestSingle=None if r.best_single is None else VenueQuoteOut.of(r.best_single, r.token_out),
            route=RouteOut.of(r.route, r.token_in, r.token_out),
            prices={
                s: QuotePrice.make(priceUsd=decimal_str(p.price_usd), source=p.source)
                for s, p in quote.prices.items()
                if s in (r.token_in, r.token_out)
            },
            jupiter=None
            if status is None
            else JupiterState.make(
                state=status.state.value, available=status.is_available, lastError=status.last_error
            ),
            paper=True,
            quotedAt=iso(quoted_at),
        )


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


def _prices_fields(
    quotes: Mapping[str, PriceQuote], statuses: Sequence[SourceStatus], now: float
) -> dict[str, Any]:
    counts = Counter(q.source for q in quotes.values())
    return {
        "prices": {
            symbol: TokenPrice.make(
                priceUsd=decimal_str(q.price_usd),
                change24hPct=decimal_str(q.change_24h_pct),
                source=q.source,
                fetchedAt=epoch_iso(q.fetched_at),
                ageS=round(q.age_s(now), 3),
            )
            for symbol, q in quotes.items()
        },
        "source": next(iter(counts)) if len(counts) == 1 else "mixed",
        "sourceCounts": dict(sorted(counts.items())),
        "sources": [
            PriceSourceStatus.make(
                name=st.name,
                healthy=st.healthy,
                lastError=st.last_error,
                lastSuccessAt=epoch_iso(st.last_success_at),
                retryAt=epoch_iso(st.retry_at),
                throttled=st.is_throttled,
            )
            for st in statuses
        ],
        "cacheAgeS": round(max((q.age_s(now) for q in quotes.values()), default=0.0), 3),
        "asOf": epoch_iso(now),
    }


class PricesResponse(_Out):
    """``GET /api/prices``: USD price of every token, each tagged with where it came from."""

    prices: dict[str, TokenPrice]
    source: str = Field(description="The one source of every price, or 'mixed'")
    sourceCounts: dict[str, int] = Field(description="How many tokens each source priced")
    sources: list[PriceSourceStatus] = Field(description="Every source in chain order, with its health")
    cacheAgeS: float = Field(description="Age of the oldest price served, in seconds")
    asOf: Timestamp

    @classmethod
    def of(cls, quotes: Mapping[str, PriceQuote], statuses: Sequence[SourceStatus], now: float) -> Self:
        return cls.make(**_prices_fields(quotes, statuses, now))


class PriceUpdate(PricesResponse):
    """The ``price_update`` event: ``GET /api/prices``'s body, plus when it was taken."""

    timestamp: Timestamp

    @classmethod
    def of(cls, quotes: Mapping[str, PriceQuote], statuses: Sequence[SourceStatus], now: float) -> Self:
        fields = _prices_fields(quotes, statuses, now)
        return cls.make(**fields, timestamp=fields["asOf"])


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

    @classmethod
    def of(cls, pool: AmmPool, usd_prices: Mapping[str, Decimal] | None) -> Self:
        """An AMM pool: reserves, spot price (tokenB per tokenA) and depth at current USD prices."""
        human_a, human_b = _human(pool.token_a, pool.reserve_a), _human(pool.token_b, pool.reserve_b)
        with localcontext() as ctx:
            ctx.prec = 28
            depth = None
            if usd_prices and pool.token_a in usd_prices and pool.token_b in usd_prices:
                depth = human_a * usd_prices[pool.token_a] + human_b * usd_prices[pool.token_b]
        return cls.make(
            id=pool.id,
            venue=pool.venue,
            kind="amm",
            tokenA=pool.token_a,
            tokenB=pool.token_b,
            reserveA=amount_str(pool.token_a, pool.reserve_a),
            reserveB=amount_str(pool.token_b, pool.reserve_b),
            feeBps=pool.fee_bps,
            price=spot_price_str(pool.token_a, pool.token_b, pool.reserve_a, pool.reserve_b),
            depthUsd=decimal_str(depth, 2),
            updatedAt=iso(pool.updated_at),
        )


class PoolsResponse(_Out):
    pools: list[PoolOut]
    total: int

    @classmethod
    def of(cls, rows: Sequence[AmmPool], usd_prices: Mapping[str, Decimal] | None) -> Self:
        return cls.make(pools=[PoolOut.of(row, usd_prices) for row in rows], total=len(rows))


class DeskPair(_Out):
    base: Amount
    quote: Amount

    @classmethod
    def of(cls, desk: otc_engine.Desk, base: int, quote: int) -> Self:
        return cls.make(base=amount_str(desk.base, base), quote=amount_str(desk.quote, quote))


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

    @classmethod
    def of(cls, row: OTCPool, desk: otc_engine.Desk) -> Self:
        """An OTC desk: spread curve, size limits, and ``desk`` (the row refilled to now) inventory."""
        return cls.make(
            id=desk.desk_id,
            name=desk.name,
            kind="otc",
            base=desk.base,
            quote=desk.quote,
            baseSpreadBps=decimal_str(desk.base_spread_bps),
            sizeSpreadBps=decimal_str(desk.size_spread_bps),
            curve=desk.curve.value,
            minSize=amount_str(desk.base, desk.min_size),
            maxSize=amount_str(desk.base, desk.max_size),
            inventory=DeskPair.of(desk, desk.inventory_base, desk.inventory_quote),
            targets=DeskPair.of(desk, desk.target_base, desk.target_quote),
            refillPerS=DeskPair.of(desk, desk.refill_base_per_s, desk.refill_quote_per_s),
            settlementDelayS=decimal_str(desk.settlement_delay_s.normalize()),
            updatedAt=iso(row.updated_at),
        )


class OtcPoolsResponse(_Out):
    desks: list[DeskOut]
    total: int

    @classmethod
    def of(cls, desks: Sequence[tuple[OTCPool, otc_engine.Desk]]) -> Self:
        """Each desk row with its desk refilled to now."""
        return cls.make(desks=[DeskOut.of(row, desk) for row, desk in desks], total=len(desks))


class PoolUpdate(_Out):
    """The ``pool_update`` event for an AMM pool a trade moved: reserves and spot price."""

    id: str
    venue: str
    kind: Literal["amm"]
    tokenA: str
    tokenB: str
    reserveA: Amount
    reserveB: Amount
    price: DecimalText

    @classmethod
    def of(cls, pool: Pool) -> Self:
        return cls.make(
            id=pool.pool_id,
            venue=pool.venue,
            kind="amm",
            tokenA=pool.token_a,
            tokenB=pool.token_b,
            reserveA=format_amount(pool.token_a, pool.reserve_a),
            reserveB=format_amount(pool.token_b, pool.reserve_b),
            price=spot_price_str(pool.token_a, pool.token_b, pool.reserve_a, pool.reserve_b),
        )


class DeskUpdate(_Out):
    """The ``pool_update`` event for an OTC desk a trade used: its inventory."""

    id: str
    venue: str
    kind: Literal["otc"]
    tokenA: str
    tokenB: str
    inventoryBase: Amount
    inventoryQuote: Amount

    @classmethod
    def of(cls, desk: otc_engine.Desk) -> Self:
        return cls.make(
            id=desk.desk_id,
            venue=desk.name,
            kind="otc",
            tokenA=desk.base,
            tokenB=desk.quote,
            inventoryBase=format_amount(desk.base, desk.inventory_base),
            inventoryQuote=format_amount(desk.quote, desk.inventory_quote),
        )


# --- orders --------------------------------------------------------------------------------------


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

    @classmethod
    def of(cls, fill: Fill) -> Self:
        """One executed leg (no account: this is public in ``GET /api/trades``)."""
        return cls.make(
            id=fill.id,
            orderId=fill.order_id,
            legIndex=fill.leg_index,
            venue=fill.venue,
            venueId=fill.venue_id,
            kind=fill.kind,
            hop=fill.hop,
            path=fill.path.split(">"),
            tokenIn=fill.token_in,
            tokenOut=fill.token_out,
            amountIn=amount_str(fill.token_in, fill.amount_in),
            amountOut=amount_str(fill.token_out, fill.amount_out),
            quotedAmountOut=amount_str(fill.token_out, fill.quoted_amount_out),
            price=decimal_str(fill.price),
            fee=amount_str(fill.token_in, fill.fee),
            feeBps=decimal_str(fill.fee_bps, 4),
            paper=fill.is_paper,
            executedAt=iso(fill.created_at),
        )


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

    @classmethod
    def of(cls, leg: Mapping[str, Any]) -> Self:
        """A leg of the plan stored on the order (``order.route["plan"]["legs"]``)."""
        return cls.make(
            venue=leg["venue"],
            venueId=leg["venue_id"],
            kind=leg["kind"],
            hop=leg["hop"],
            path=list(leg["path"]),
            tokenIn=leg["token_in"],
            tokenOut=leg["token_out"],
            amountIn=amount_str(leg["token_in"], leg["amount_in"]),
            amountOut=amount_str(leg["token_out"], leg["amount_out"]),
            planned=True,
            paper=True,
        )


def _planned_legs(order: Order) -> list[PlannedLegOut]:
    """The legs of the order's plan once routed (amounts as planned), else nothing."""
    plan = (order.route or {}).get("plan")
    return [PlannedLegOut.of(leg) for leg in plan.get("legs", [])] if plan else []


def _order_legs(order: Order) -> list[FillOut | PlannedLegOut]:
    """Executed fills once confirmed, else the planned legs once routed, else nothing."""
    if order.status == "confirmed" and order.fills:  # no fills query for a live order
        return [FillOut.of(f) for f in order.fills]
    return list(_planned_legs(order))


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


def _summary_fields(order: Order) -> dict[str, Any]:
    """An order's own fields (no legs or events), as ``OrderSummary`` and its subclasses hold them."""
    return {
        "orderId": order.id,
        "status": order.status,
        "tokenIn": order.token_in,
        "tokenOut": order.token_out,
        "amountIn": amount_str(order.token_in, order.amount_in),
        "amountOut": amount_str(order.token_out, order.amount_out),
        "quotedAmountOut": amount_str(order.token_out, order.quoted_amount_out),
        "minAmountOut": amount_str(order.token_out, order.min_amount_out),
        "orderType": order.order_type,
        "routingStrategy": order.strategy,
        "slippageBps": order.slippage_bps,
        "attempts": order.attempts,
        "error": None
        if order.error_code is None
        else OrderError.make(code=order.error_code, message=order.error_message),
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "phases": OrderPhases.make(**{p: iso(getattr(order, f"{p}_at")) for p in PHASES}),
        "paper": True,
    }


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

    @classmethod
    def of(cls, order: Order) -> Self:
        """An order's own fields (no legs or events)."""
        return cls.make(**_summary_fields(order))


class _Page(_Out):
    """One page of a list endpoint: the items (the model's first field), the total and the paging."""

    @classmethod
    def page(cls, items: Sequence[_Out], total: int, limit: int, offset: int) -> Self:
        fields: dict[str, Any] = {next(iter(cls.model_fields)): list(items)}
        return cls.make(**fields, total=total, limit=limit, offset=offset)


class OrdersPage(_Page):
    orders: list[OrderSummary]
    total: int
    limit: int
    offset: int


class OrderEventOut(_Out):
    status: str
    message: str
    timestamp: Timestamp

    @classmethod
    def of(cls, e: OrderEvent) -> Self:
        return cls.make(status=e.status, message=e.message, timestamp=iso(e.created_at))


class OrderRouteOut(_Out):
    optimalityGapBps: DecimalText | None
    priceImpactBps: DecimalText | None
    savingsVsBestSingleBps: DecimalText | None
    bestSingleVenue: str | None
    bestSingleAmountOut: Amount | None
    jupiterAmountOut: Amount | None

    @classmethod
    def of(cls, plan: Mapping[str, Any], token_out: str) -> Self:
        """The certificate of the plan stored on an order."""
        return cls.make(
            optimalityGapBps=decimal_str(plan.get("optimality_gap_bps"), 6),
            priceImpactBps=decimal_str(plan.get("price_impact_bps"), 4),
            savingsVsBestSingleBps=decimal_str(plan.get("savings_vs_best_single_bps"), 4),
            bestSingleVenue=plan.get("best_single_venue"),
            bestSingleAmountOut=amount_str(token_out, plan.get("best_single_amount_out")),
            jupiterAmountOut=amount_str(token_out, plan.get("jupiter_amount_out")),
        )


class OrderTradeOut(_Out):
    tradeId: int
    price: DecimalText
    latencyMs: float
    notionalUsd: float
    savingsUsd: float
    executedAt: Timestamp

    @classmethod
    def of(cls, trade: Trade) -> Self:
        return cls.make(
            tradeId=trade.id,
            price=decimal_str(trade.price),
            latencyMs=round(trade.latency_ms, 3),
            notionalUsd=round(trade.notional_usd, 2),
            savingsUsd=round(trade.savings_usd, 6),
            executedAt=iso(trade.executed_at),
        )


class OrderDetail(OrderSummary):
    """``GET /api/orders/{orderId}``: the order, its legs, its events and the route's certificate."""

    legs: list[FillOut | PlannedLegOut]
    events: list[OrderEventOut]
    route: OrderRouteOut | None
    trade: OrderTradeOut | None

    @classmethod
    def of_order(cls, order: Order, trade: Trade | None) -> Self:
        plan = (order.route or {}).get("plan") or {}
        return cls.make(
            **_summary_fields(order),
            legs=_order_legs(order),
            events=[OrderEventOut.of(e) for e in order.events],
            route=OrderRouteOut.of(plan, order.token_out) if plan else None,
            trade=None if trade is None else OrderTradeOut.of(trade),
        )


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

    @classmethod
    def of(cls, order: Order) -> Self:
        """The answer to ``POST /api/orders/execute`` (first time or replayed)."""
        return cls.make(
            orderId=order.id,
            status=order.status,
            quotedAmountOut=amount_str(order.token_out, order.quoted_amount_out),
            minAmountOut=amount_str(order.token_out, order.min_amount_out),
            paper=True,
            links=OrderLinks.make(order=f"/api/orders/{order.id}"),
            socket=SocketHelp.make(
                path="/socket.io",
                auth=SocketAuth.make(apiKey="<your X-API-Key>"),
                subscribe=SocketSubscribe.make(
                    event="subscribe_order", data=SocketSubscribeData.make(orderId=order.id)
                ),
                event="order_update",
            ),
        )


class OrderUpdate(OrderSummary):
    """The ``order_update`` event: the order, the step it reached, and its legs once it has any.

    ``seq`` (the event's id) grows with every step of an order: a client keeps the highest it has
    seen and drops anything older, so a snapshot and a room update can never run backwards.
    """

    status: OrderStatusName
    message: str
    timestamp: Timestamp
    seq: int | None
    legs: list[FillOut | PlannedLegOut] = Field(
        default_factory=list, description="Fills once confirmed; planned legs once routed (absent before)"
    )

    @classmethod
    def of_step(
        cls,
        order: Order,
        event: StoredEvent | None = None,
        *,
        seq: int | None = None,
        fills: Sequence[Mapping[str, Any]] | None = None,
    ) -> Self:
        """The update for one committed step (``event``), or the order's state now."""
        fields = _summary_fields(order)
        status = event.status if event is not None else order.status
        fields["status"] = status
        fields["message"] = (
            event.message if event is not None else (order.error_message or _last_message(order))
        )
        fields["timestamp"] = iso(event.at if event is not None else order.updated_at)
        fields["seq"] = event.seq if event is not None else seq
        if status == "confirmed":
            # A job passes the fills it just wrote (rows with their ids): no query per update.
            rows = order.fills if fills is None else [Fill(**f) for f in fills]
            fields["legs"] = [FillOut.of(f) for f in rows]
        elif status in ("routing", "building", "submitted", "failed"):
            legs = _planned_legs(order)
            if legs:
                fields["legs"] = legs
        return cls.make(**fields)


def _last_message(order: Order) -> str:
    return order.events[-1].message if order.events else order.status


class TradeExecuted(_Out):
    """The ``trade_executed`` event: one settled order, for the public trades feed."""

    orderId: str
    tradeId: int
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    routingStrategy: str
    venues: list[str] = Field(description="Venues of the legs, sorted, each once")
    notionalUsd: float
    savingsUsd: float
    priceImpactBps: str | None
    latencyMs: float
    executedAt: Timestamp
    paper: bool

    @classmethod
    def of(cls, recorded: RecordedTrade) -> Self:
        order, trade = recorded.order, recorded.trade
        impact = trade["price_impact_bps"]
        return cls.make(
            orderId=order.id,
            tradeId=trade["id"],
            tokenIn=order.token_in,
            tokenOut=order.token_out,
            amountIn=format_amount(order.token_in, order.amount_in),
            amountOut=format_amount(order.token_out, recorded.amount_out),
            routingStrategy=order.strategy,
            venues=sorted({leg.planned.venue for leg in recorded.legs}),
            notionalUsd=round(trade["notional_usd"], 2),
            savingsUsd=round(trade["savings_usd"], 6),
            priceImpactBps=None if impact is None else str(impact),
            latencyMs=round(trade["latency_ms"], 3),
            executedAt=iso(trade["executed_at"]),
            paper=True,
        )


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

    @classmethod
    def of(cls, account: Account) -> Self:
        """The account and its balances by token."""
        return cls.make(
            accountId=account.id,
            name=account.name,
            apiKeyPrefix=account.api_key_prefix,
            createdAt=iso(account.created_at),
            balances=[
                BalanceOut.make(
                    token=b.token,
                    amount=amount_str(b.token, b.amount),
                    reserved=amount_str(b.token, b.reserved),
                    available=amount_str(b.token, b.amount - b.reserved),
                )
                for b in sorted(account.balances, key=lambda b: b.token)
            ],
            paper=True,
        )


class TradesPage(_Page):
    """``GET /api/trades``: executed legs, newest first (no account is exposed)."""

    trades: list[FillOut]
    total: int
    limit: int
    offset: int


# --- analytics -----------------------------------------------------------------------------------


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

    @classmethod
    def of(cls, x: SavingsStats) -> Self:
        return cls.make(
            available=x.trades > 0,
            trades=x.trades,
            totalUsd=_round(x.total_usd, 6),
            avgUsd=_round(x.avg_usd, 6),
            avgBps=_round(x.avg_bps, 4),
        )


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

    @classmethod
    def of(cls, s: Summary) -> Self:
        """USD to the cent is not promised: these are statistics."""
        return cls.make(
            window=Window.of(s.window),
            orders=OrderCounts.make(
                total=s.orders_total,
                byStatus=s.orders_by_status,
                final=s.orders_final,
                successRate=_round(s.success_rate, 6),
            ),
            trades=s.trades,
            notionalUsd=round(s.notional_usd, 6),
            volumeByVenue=[
                VenueVolume.make(
                    venue=v.venue,
                    fills=v.fills,
                    volumeUsd=round(v.volume_usd, 6),
                    amountIn={token: amount_str(token, units) for token, units in v.amount_in.items()},
                )
                for v in s.by_venue
            ],
            volumeByStrategy=[
                StrategyVolume.make(strategy=v.strategy, trades=v.trades, volumeUsd=round(v.volume_usd, 6))
                for v in s.by_strategy
            ],
            volumeMethod=s.volume_method,
            savingsVsBestSingle=Savings.of(s.vs_best_single),
            savingsVsJupiter=Savings.of(s.vs_jupiter),
            priceImpact=ImpactStats.make(
                trades=s.impact_trades,
                avgBps=_round(s.impact_avg_bps, 4),
                maxBps=_round(s.impact_max_bps, 4),
            ),
            latency=LatencyStats.make(
                count=s.latency.count,
                meanMs=_round(s.latency.mean_ms, 3),
                p50Ms=_round(s.latency.p50_ms, 3),
                p95Ms=_round(s.latency.p95_ms, 3),
                p99Ms=_round(s.latency.p99_ms, 3),
            ),
        )


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

    @classmethod
    def of(cls, t: Timeseries) -> Self:
        buckets = []
        for b in t.buckets:
            final = b.confirmed + b.failed
            buckets.append(
                TimeBucketOut.make(
                    start=iso(b.start),
                    orders=b.orders,
                    confirmed=b.confirmed,
                    failed=b.failed,
                    successRate=round(b.confirmed / final, 6) if final else None,
                    trades=b.trades,
                    volumeUsd=round(b.volume_usd, 6),
                    savingsVsBestSingleUsd=round(b.savings_vs_best_single_usd, 6),
                    jupiterTrades=b.jupiter_trades,
                    savingsVsJupiterUsd=_round(b.savings_vs_jupiter_usd, 6),
                )
            )
        return cls.make(
            bucket=t.bucket.value, window=Window.of(t.window), truncated=t.truncated, buckets=buckets
        )


def _trade_head(row: TradeRow) -> dict[str, Any]:
    """The fields every per-trade chart row starts with."""
    t = row.trade
    return {
        "orderId": t.order_id,
        "executedAt": iso(t.executed_at),
        "tokenIn": t.token_in,
        "tokenOut": t.token_out,
        "strategy": t.strategy,
        "amountIn": amount_str(t.token_in, t.amount_in),
    }


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

    @classmethod
    def of(cls, row: TradeRow) -> Self:
        return cls.make(
            **_trade_head(row),
            amountOut=amount_str(row.trade.token_out, row.trade.amount_out),
            notionalUsd=round(row.trade.notional_usd, 6),
            priceImpactBps=decimal_str(row.trade.price_impact_bps),
            savingsUsd=round(row.trade.savings_usd, 6),
            venues=list(row.venues),
            kinds=list(row.kinds),
            legs=row.legs,
        )


class ImpactResponse(_Out):
    """``GET /api/analytics/impact``: the latest trades, newest first, for a size-versus-impact scatter."""

    window: Window
    total: int = Field(description="Trades in the window (the list holds the latest `limit`)")
    limit: int
    trades: list[ImpactTradeOut]

    @classmethod
    def of(cls, page: Page[TradeRow], window: AnalyticsWindow, limit: int) -> Self:
        return cls.make(
            window=Window.of(window),
            total=page.total,
            limit=limit,
            trades=[ImpactTradeOut.of(row) for row in page.rows],
        )


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

    @classmethod
    def of(cls, d: LatencyDistribution) -> Self:
        """Histogram and nearest-rank percentiles, in ms."""
        return cls.make(
            window=Window.of(d.window),
            count=d.count,
            minMs=_round(d.min_ms, 3),
            maxMs=_round(d.max_ms, 3),
            meanMs=_round(d.mean_ms, 3),
            p50Ms=_round(d.p50_ms, 3),
            p90Ms=_round(d.p90_ms, 3),
            p95Ms=_round(d.p95_ms, 3),
            p99Ms=_round(d.p99_ms, 3),
            percentileMethod="nearest-rank",
            buckets=[LatencyBucketOut.make(loMs=b.lo_ms, hiMs=b.hi_ms, count=b.count) for b in d.buckets],
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

    @classmethod
    def of(cls, row: TradeRow, bps: Decimal) -> Self:
        return cls.make(
            **_trade_head(row),
            quotedAmountOut=amount_str(row.trade.token_out, row.trade.quoted_amount_out),
            amountOut=amount_str(row.trade.token_out, row.trade.amount_out),
            slippageBps=decimal_str(bps),
            notionalUsd=round(row.trade.notional_usd, 6),
            venues=list(row.venues),
        )


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

    @classmethod
    def of(cls, s: Slippage, limit: int) -> Self:
        a = s.stats
        return cls.make(
            window=Window.of(s.window),
            total=s.total,
            limit=limit,
            trades=[SlippageTradeOut.of(row, bps) for row, bps in s.rows],
            aggregate=SlippageAggregate.make(
                trades=a.trades,
                avgBps=_round(a.avg_bps, 4),
                weightedBps=_round(a.weighted_bps, 4),
                minBps=_round(a.min_bps, 4),
                maxBps=_round(a.max_bps, 4),
                p50Bps=_round(a.p50_bps, 4),
                p95Bps=_round(a.p95_bps, 4),
                worse=a.worse,
                equal=a.equal,
                better=a.better,
            ),
        )


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

    @classmethod
    def of(cls, b: Breakdown) -> Self:
        return cls.make(
            window=Window.of(b.window),
            byVenue=[
                VenueBreakdownOut.make(
                    venue=v.venue,
                    kind=v.kind,
                    fills=v.fills,
                    trades=v.trades,
                    volumeUsd=round(v.volume_usd, 6),
                    savingsUsd=round(v.savings_usd, 6),
                )
                for v in b.by_venue
            ],
            byStrategy=[
                StrategyBreakdownOut.make(
                    strategy=x.strategy,
                    trades=x.trades,
                    volumeUsd=round(x.volume_usd, 6),
                    savingsUsd=round(x.savings_usd, 6),
                    avgSavingsBps=_round(x.avg_savings_bps, 4),
                    jupiterTrades=x.jupiter_trades,
                    savingsVsJupiterUsd=_round(x.savings_vs_jupiter_usd, 6),
                    avgPriceImpactBps=_round(x.avg_impact_bps, 4),
                    avgLatencyMs=_round(x.avg_latency_ms, 3),
                )
                for x in b.by_strategy
            ],
            volumeMethod=b.volume_method,
        )


# --- liquidity curves ----------------------------------------------------------------------------


class CurvePointOut(_Out):
    amountIn: Amount
    amountOut: Amount | None = Field(description="null when the venue cannot fill this size")
    price: DecimalText | None = Field(description="amountOut / amountIn (tokenOut per tokenIn)")
    priceImpactBps: DecimalText | None = Field(description="Size-driven impact, fee and base spread excluded")
    feeBps: DecimalText | None = Field(description="Fee or desk spread at this size (null: inside the price)")
    available: bool
    reason: str | None

    @classmethod
    def of(cls, q: VenueQuote, token_in: str, token_out: str) -> Self:
        price = None
        if q.available:
            with localcontext() as ctx:
                ctx.prec = 28
                price = f"{(_human(token_out, q.amount_out) / _human(token_in, q.amount_in)).normalize():f}"
        return cls.make(
            amountIn=amount_str(token_in, q.amount_in),
            amountOut=amount_str(token_out, q.amount_out) if q.available else None,
            price=price,
            priceImpactBps=decimal_str(q.price_impact_bps, 4),
            feeBps=decimal_str(q.fee_bps, 4),
            available=q.available,
            reason=q.reason,
        )


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

    @classmethod
    def of(cls, c: VenueCurve, token_in: str, token_out: str) -> Self:
        return cls.make(
            venue=c.venue,
            venueId=c.venue_id,
            kind=c.kind.value,
            available=c.is_available,
            reason=c.reason,
            isEstimate=c.is_estimate,
            minAmountIn=amount_str(token_in, c.min_in),
            maxAmountIn=amount_str(token_in, c.max_in),
            depthOut=amount_str(token_out, c.depth_out),
            points=[CurvePointOut.of(p, token_in, token_out) for p in c.points],
        )


class LiquidityCurvesResponse(_Out):
    """``GET /api/liquidity-curves``: each venue of a pair quoted alone at log-spaced sizes."""

    tokenIn: str
    tokenOut: str
    referencePrice: DecimalText | None = Field(description="tokenOut per tokenIn from USD prices")
    sizes: list[Amount] = Field(description="The sizes quoted, in tokenIn units, ascending")
    venues: list[CurveVenueOut]
    asOf: Timestamp

    @classmethod
    def of(cls, c: LiquidityCurves, as_of: datetime) -> Self:
        return cls.make(
            tokenIn=c.token_in,
            tokenOut=c.token_out,
            referencePrice=decimal_str(c.reference_price),
            sizes=[amount_str(c.token_in, size) for size in c.sizes],
            venues=[CurveVenueOut.of(v, c.token_in, c.token_out) for v in c.curves],
            asOf=iso(as_of),
        )


# --- Socket.IO payloads as plain JSON (what jobs, live_updates and background call) ---------------


def order_payload(
    order: Order,
    event: StoredEvent | None = None,
    *,
    seq: int | None = None,
    fills: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``order_update`` body for one committed step (``event``), or the order's state now."""
    return OrderUpdate.of_step(order, event, seq=seq, fills=fills).to_json()


def trade_executed_json(recorded: RecordedTrade) -> dict[str, Any]:
    """The ``trade_executed`` body for one settled order."""
    return TradeExecuted.of(recorded).to_json()


def pool_update_json(pool: Pool) -> dict[str, Any]:
    """The ``pool_update`` body for an AMM pool a trade moved: reserves and spot price."""
    return PoolUpdate.of(pool).to_json()


def desk_update_json(desk: otc_engine.Desk) -> dict[str, Any]:
    """The ``pool_update`` body for an OTC desk a trade used: its inventory."""
    return DeskUpdate.of(desk).to_json()


def prices_json(
    quotes: Mapping[str, PriceQuote], statuses: Sequence[SourceStatus], now: float
) -> dict[str, Any]:
    """``GET /api/prices``'s body: each token's USD price and source, and every source's health."""
    return PricesResponse.of(quotes, statuses, now).to_json()


def price_update_json(
    quotes: Mapping[str, PriceQuote], statuses: Sequence[SourceStatus], now: float
) -> dict[str, Any]:
    """The ``price_update`` body: ``GET /api/prices``'s, plus the time it was taken."""
    return PriceUpdate.of(quotes, statuses, now).to_json()
