"""The analytics endpoints: summary, time series, impact, latency, slippage and breakdown."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field

from payloads.common import (
    Amount,
    DecimalText,
    Kind,
    Timestamp,
    Window,
    _Out,
    _round,
    amount_str,
    decimal_str,
    iso,
)

if TYPE_CHECKING:
    from analytics import (
        Breakdown,
        KindLatency,
        LatencyDistribution,
        Page,
        PriceHistory,
        Slippage,
        Summary,
        Timeseries,
        TradeRow,
    )
    from analytics import Savings as SavingsStats
    from analytics import Window as AnalyticsWindow


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


class KindLatencyOut(_Out):
    kind: Kind = Field(description="The slowest kind among the trade's legs: otc, then aggregator, then amm")
    count: int
    meanMs: float
    p50Ms: float
    p95Ms: float
    p99Ms: float
    maxMs: float

    @classmethod
    def of(cls, k: KindLatency) -> Self:
        return cls.make(
            kind=k.kind,
            count=k.count,
            meanMs=round(k.mean_ms, 3),
            p50Ms=round(k.p50_ms, 3),
            p95Ms=round(k.p95_ms, 3),
            p99Ms=round(k.p99_ms, 3),
            maxMs=round(k.max_ms, 3),
        )


BY_KIND = "Latency per venue kind (amm, aggregator, otc; kinds without trades left out), nearest rank"


class LatencyStats(_Out):
    count: int
    meanMs: float | None
    p50Ms: float | None
    p95Ms: float | None
    p99Ms: float | None
    byKind: list[KindLatencyOut] = Field(description=BY_KIND)


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
                byKind=[KindLatencyOut.of(k) for k in s.latency_by_kind],
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
            priceImpactBps=decimal_str(row.trade.price_impact_bps, 4),
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
    byKind: list[KindLatencyOut] = Field(description=BY_KIND)

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
            byKind=[KindLatencyOut.of(k) for k in d.by_kind],
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
            slippageBps=decimal_str(bps, 4),
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


class PricePointOut(_Out):
    start: Timestamp = Field(description="Bucket start (UTC); the bucket is [start, start + bucket)")
    priceUsd: DecimalText = Field(
        description="USD per unit over the bucket's trades: sum of USD / sum of units"
    )
    trades: int


class TokenPriceHistoryOut(_Out):
    token: str
    basis: Literal["sold", "bought"] = Field(
        description=(
            "sold: the value the trades put on the token as their input (the price feed at execution); "
            "bought (a token never sold in the window): notional / amount received, fees and impact included"
        )
    )
    points: list[PricePointOut] = Field(description="Non-empty buckets only, oldest first")
    changePct: float | None = Field(description="First point to last, in percent; null with fewer than two")


class PriceHistoryResponse(_Out):
    """``GET /api/analytics/price-history``: each traded token's USD price per bucket, from the trades."""

    bucket: Literal["minute", "hour", "day"]
    window: Window = Field(description="The window covered: from (inclusive) to (exclusive)")
    source: Literal["trades"] = Field(description="Where the prices come from (stored price history later)")
    tokens: list[TokenPriceHistoryOut]

    @classmethod
    def of(cls, h: PriceHistory) -> Self:
        return cls.make(
            bucket=h.bucket.value,
            window=Window.of(h.window),
            source="trades",
            tokens=[
                TokenPriceHistoryOut.make(
                    token=t.token,
                    basis=t.basis,
                    points=[
                        PricePointOut.make(
                            start=iso(p.start), priceUsd=decimal_str(p.price_usd), trades=p.trades
                        )
                        for p in t.points
                    ],
                    changePct=_round(t.change_pct, 4),
                )
                for t in h.tokens
            ],
        )
