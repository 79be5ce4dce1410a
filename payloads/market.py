"""Market data: tokens, quotes with their routes, USD prices, AMM pools and OTC desks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field

from payloads.common import (
    Amount,
    DecimalText,
    Kind,
    Timestamp,
    _human,
    _Out,
    amount_str,
    decimal_str,
    epoch_iso,
    iso,
    spot_price_str,
)
from tokens import Token

if TYPE_CHECKING:
    import otc_engine
    from models import AmmPool, OTCPool
    from price_feeds import PriceQuote, SourceStatus
    from quoting import Quote
    from routing_engine import Leg, Route, VenueQuote


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


class OutlierOut(_Out):
    price: DecimalText = Field(description="The venue's own mid, fee taken out: tokenOut per tokenIn")
    referencePrice: DecimalText = Field(description="The reference mid, same units")
    deviationBps: DecimalText = Field(description="(price / referencePrice - 1) x 10^4")


_PRICE_IMPACT = "Fees included, against the reference mid: (1 - out / (in x referencePrice)) x 10^4"
_CURVE_IMPACT = "Size-driven only, against the venue's own best price (fees and base spread excluded)"


class VenueQuoteOut(_Out):
    venue: str
    venueId: str
    kind: Kind
    path: list[str]
    amountOut: Amount | None = Field(description="null when the venue cannot fill")
    priceImpactBps: DecimalText | None = Field(description=_PRICE_IMPACT)
    curveImpactBps: DecimalText | None = Field(description=_CURVE_IMPACT)
    feeBps: DecimalText | None
    available: bool
    reason: str | None
    rejected: Literal["outlier"] | None = Field(
        description="outlier: the venue's price is too far from the reference to be routed (see outlier)"
    )
    outlier: OutlierOut | None = Field(description="The figures of an outlier rejection")
    isEstimate: bool
    latencyMs: int

    @classmethod
    def of(cls, q: VenueQuote, token_out: str) -> Self:
        outlier = None
        if q.outlier is not None:
            outlier = OutlierOut.make(
                price=decimal_str(q.outlier.price),
                referencePrice=decimal_str(q.outlier.reference),
                deviationBps=decimal_str(q.outlier.deviation_bps),
            )
        return cls.make(
            venue=q.venue,
            venueId=q.venue_id,
            kind=q.kind.value,
            path=list(q.path),
            amountOut=amount_str(token_out, q.amount_out) if q.available else None,
            priceImpactBps=decimal_str(q.price_impact_bps, 4),
            curveImpactBps=decimal_str(q.curve_impact_bps, 4),
            feeBps=decimal_str(q.fee_bps, 4),
            available=q.available,
            reason=q.reason,
            rejected=None if outlier is None else "outlier",
            outlier=outlier,
            isEstimate=q.is_estimate,
            latencyMs=q.latency_ms,
        )


class RouteLegOut(_Out):
    venue: str
    venueId: str
    kind: Kind
    hop: int = Field(description="0: first (or only) hop, 1: second hop, 2: third hop")
    path: list[str]
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    isEstimate: bool
    paper: bool
    share: DecimalText | None = Field(default=None, description="First-hop legs: share of the input")
    priceImpactBps: DecimalText | None = Field(
        default=None, description=f"{_PRICE_IMPACT}, of the leg's own pair (absent without USD prices)"
    )

    @classmethod
    def of(cls, leg: Leg, first_hop_total: int, usd_prices: Mapping[str, Decimal] | None = None) -> Self:
        """A leg of a route; a first-hop leg carries its share of the route's input.

        With ``usd_prices`` (both of the leg's tokens), its price impact against their mid.
        """
        share: dict[str, Any] = {}
        if leg.hop == 0:
            share["share"] = decimal_str(Decimal(leg.amount_in) / first_hop_total, 6)
        usd_in = usd_prices.get(leg.token_in) if usd_prices else None
        usd_out = usd_prices.get(leg.token_out) if usd_prices else None
        if usd_in and usd_out and leg.amount_in > 0:
            with localcontext() as ctx:
                ctx.prec = 40
                expected = _human(leg.token_in, leg.amount_in) * usd_in / usd_out
                impact = (1 - _human(leg.token_out, leg.amount_out) / expected) * 10_000
            share["priceImpactBps"] = decimal_str(impact.quantize(Decimal("0.01")), 4)
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
    priceImpactBps: DecimalText | None = Field(description=_PRICE_IMPACT)
    savingsVsBestSingleBps: DecimalText | None = Field(
        description="The route's gain over the best single venue or path: (out - best) / best x 10^4"
    )
    optimalityGapBps: DecimalText | None
    upperBoundOut: Amount | None
    boundNote: str | None = Field(
        default=None, description="Set when the bound is a relaxation (still an upper bound): how and why"
    )
    expectedLatencyMs: int

    @classmethod
    def of(
        cls, route: Route, token_in: str, token_out: str, usd_prices: Mapping[str, Decimal] | None = None
    ) -> Self:
        """A route: its legs (first-hop legs with their share of the input) and its certificate."""
        first_hop_total = sum(leg.amount_in for leg in route.legs if leg.hop == 0) or 1
        return cls.make(
            strategy=route.strategy.value,
            legs=[RouteLegOut.of(leg, first_hop_total, usd_prices) for leg in route.legs],
            amountIn=amount_str(token_in, route.amount_in),
            amountOut=amount_str(token_out, route.amount_out),
            minAmountOut=amount_str(token_out, route.min_amount_out),
            priceImpactBps=decimal_str(route.price_impact_bps, 4),
            savingsVsBestSingleBps=decimal_str(route.savings_vs_best_single_bps, 4),
            optimalityGapBps=decimal_str(route.optimality_gap_bps, 6),
            upperBoundOut=amount_str(token_out, route.upper_bound_out),
            boundNote=route.bound_note,
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
    exactSide: Literal["in", "out"] = Field(
        description="in: amountIn was given and the route pays route.amountOut; out: amountOutWanted was "
        "given and amountIn is the least input that buys it"
    )
    amountOutWanted: Amount | None = Field(description="Exact out: the tokenOut asked for (else null)")
    maxAmountIn: Amount | None = Field(
        description="Exact out: amountIn plus slippageBps, rounded up: what an order holds (else null)"
    )
    quoteId: str | None = Field(
        description="Firm quote: POST it to /api/orders/execute as quoteId before expiresAt to execute "
        "this route if the venues still pay its minAmountOut (a signed token; nothing is stored)"
    )
    expiresAt: Timestamp | None = Field(description="When quoteId stops being accepted")

    @classmethod
    def of(
        cls,
        quote: Quote,
        quoted_at: datetime,
        *,
        amount_out_wanted: int | None = None,
        max_amount_in: int | None = None,
        quote_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> Self:
        """The quote's body; exact out when ``amount_out_wanted`` is given, firm with ``quote_id``."""
        r = quote.result
        status = quote.jupiter_status
        usd = {s: p.price_usd for s, p in quote.prices.items()}
        return cls.make(
            tokenIn=r.token_in,
            tokenOut=r.token_out,
            amountIn=amount_str(r.token_in, r.amount_in),
            slippageBps=r.slippage_bps,
            referencePrice=decimal_str(r.reference_price),
            quotes=[VenueQuoteOut.of(q, r.token_out) for q in r.quotes],
            bestSingle=None if r.best_single is None else VenueQuoteOut.of(r.best_single, r.token_out),
            route=RouteOut.of(r.route, r.token_in, r.token_out, usd),
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
            exactSide="in" if amount_out_wanted is None else "out",
            amountOutWanted=amount_str(r.token_out, amount_out_wanted),
            maxAmountIn=amount_str(r.token_in, max_amount_in),
            quoteId=quote_id,
            expiresAt=iso(expires_at),
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
