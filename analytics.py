"""Read queries for the API: venues, pages of orders and executed legs, the analytics summary and charts.

Plain SQLAlchemy over a ``Session`` (no Flask): the views call these and serialise the result.
Amounts stay exact ints; the summary's USD figures and statistics are floats, as the trade
columns they come from are (``Trade.notional_usd``, ``savings_usd``, ``latency_ms``).

Volume by venue: fills carry no USD value, so each leg gets the share of its trade's notional
(``Trade.notional_usd``, the input valued at execution) that flowed through it. A first-hop leg's
share is its input over the trade's input; a second-hop leg's share is its input over all
second-hop input of that intermediate token, times the share of the trade routed through that
token. First-hop legs add up to the trade's notional; a two-hop path counts on both its venues.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from errors import ValidationError
from models import RESTING_STATUSES, AmmPool, DbSession, Fill, Order, OrderStatus, OTCPool, Trade
from stats import percentile
from tokens import get_token

__all__ = [
    "ALL_TIME",
    "KIND_ORDER",
    "LATENCY_EDGES_MS",
    "MAX_BUCKETS",
    "SLIPPAGE_QUANTUM",
    "VOLUME_METHOD",
    "Breakdown",
    "Bucket",
    "HistogramBucket",
    "KindLatency",
    "LatencyDistribution",
    "LatencyStats",
    "Page",
    "PriceHistory",
    "PricePoint",
    "Savings",
    "Slippage",
    "SlippageStats",
    "StrategyBreakdown",
    "StrategyVolume",
    "Summary",
    "TimeBucket",
    "Timeseries",
    "TokenPriceHistory",
    "TradeRow",
    "VenueBreakdown",
    "VenueVolume",
    "Window",
    "amm_pools",
    "amm_venues",
    "breakdown",
    "fills_page",
    "latency_by_kind",
    "latency_distribution",
    "orders_page",
    "otc_desks",
    "price_history",
    "realised_slippage_bps",
    "recent_trades",
    "slippage",
    "summary",
    "timeseries",
]

T = TypeVar("T")

VOLUME_METHOD = (
    "Trade.notional_usd (the order's input valued at execution) apportioned to each leg by its share "
    "of the input; both legs of a two-hop path count their share"
)


@dataclass(frozen=True)
class Window:
    """A time window: ``start`` inclusive, ``end`` exclusive; None leaves that side open."""

    start: datetime | None = None
    end: datetime | None = None

    def clauses(self, column: Any) -> list[Any]:
        """WHERE clauses restricting ``column`` to the window."""
        where = []
        if self.start is not None:
            where.append(column >= self.start)
        if self.end is not None:
            where.append(column < self.end)
        return where


ALL_TIME = Window()


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows and the number of rows matching the filters."""

    rows: Sequence[T]
    total: int


def _page(
    session: DbSession, model: Any, where: list[Any], order_by: Sequence[Any], limit: int, offset: int
) -> Page[Any]:
    total = session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()
    rows = session.execute(sa.select(model).where(*where).order_by(*order_by).limit(limit).offset(offset))
    return Page(rows.scalars().all(), int(total))


def orders_page(
    session: DbSession,
    account_id: int,
    *,
    status: str | None = None,
    strategy: str | None = None,
    token_in: str | None = None,
    token_out: str | None = None,
    order_type: str | None = None,
    window: Window = ALL_TIME,
    limit: int = 50,
    offset: int = 0,
) -> Page[Order]:
    """An account's orders, open and working ones first, then newest first, filtered by each value."""
    where: list[Any] = [Order.account_id == account_id, *window.clauses(Order.created_at)]
    for column, value in (
        (Order.status, status),
        (Order.strategy, strategy),
        (Order.token_in, token_in),
        (Order.token_out, token_out),
        (Order.order_type, order_type),
    ):
        if value is not None:
            where.append(column == value)
    resting_first = sa.case((Order.status.in_([s.value for s in RESTING_STATUSES]), 0), else_=1)
    order_by = (resting_first, Order.created_at.desc(), Order.id.desc())
    return _page(session, Order, where, order_by, limit, offset)


def fills_page(
    session: DbSession,
    *,
    venue: str | None = None,
    token_in: str | None = None,
    token_out: str | None = None,
    order_id: str | None = None,
    window: Window = ALL_TIME,
    limit: int = 50,
    offset: int = 0,
) -> Page[Fill]:
    """Executed legs, newest trade first (legs of one trade in leg order).

    ``venue`` matches a venue name case-insensitively or a venue id exactly; the tokens are the leg's.
    """
    where: list[Any] = window.clauses(Fill.created_at)
    if venue is not None:
        where.append(sa.or_(sa.func.lower(Fill.venue) == venue.lower(), Fill.venue_id == venue))
    for column, value in ((Fill.token_in, token_in), (Fill.token_out, token_out), (Fill.order_id, order_id)):
        if value is not None:
            where.append(column == value)
    order_by = (Fill.created_at.desc(), Fill.trade_id.desc(), Fill.leg_index.asc())
    return _page(session, Fill, where, order_by, limit, offset)


def amm_venues(session: DbSession) -> list[str]:
    """The names of the venues that have AMM pools, sorted."""
    return list(session.execute(sa.select(AmmPool.venue).distinct().order_by(AmmPool.venue)).scalars())


def amm_pools(
    session: DbSession, *, venue: str | None = None, token_a: str | None = None, token_b: str | None = None
) -> list[AmmPool]:
    """AMM pools by venue then id; a token filter matches either side, a pair either orientation."""
    where: list[Any] = []
    if venue is not None:
        where.append(sa.func.lower(AmmPool.venue) == venue.lower())
    for token in (token_a, token_b):
        if token is not None:
            where.append(sa.or_(AmmPool.token_a == token, AmmPool.token_b == token))
    query = sa.select(AmmPool).where(*where).order_by(AmmPool.venue, AmmPool.id)
    return list(session.execute(query).scalars())


def otc_desks(session: DbSession) -> list[OTCPool]:
    """Every OTC desk, by id."""
    return list(session.execute(sa.select(OTCPool).order_by(OTCPool.id)).scalars())


# --- the summary ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VenueVolume:
    venue: str
    fills: int
    volume_usd: float
    amount_in: dict[str, int]  # exact base units per input token


@dataclass(frozen=True)
class StrategyVolume:
    strategy: str
    trades: int
    volume_usd: float


@dataclass(frozen=True)
class Savings:
    """What routing gained against an alternative, over the trades that had that alternative."""

    trades: int
    total_usd: float | None
    avg_usd: float | None
    avg_bps: float | None


@dataclass(frozen=True)
class LatencyStats:
    count: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Summary:
    """Aggregates over a window: orders by status, trades, volume, savings, impact, latency."""

    window: Window
    orders_by_status: dict[str, int]
    trades: int
    notional_usd: float
    by_venue: list[VenueVolume]
    by_strategy: list[StrategyVolume]
    vs_best_single: Savings
    vs_jupiter: Savings
    impact_trades: int
    impact_avg_bps: float | None
    impact_max_bps: float | None
    latency: LatencyStats
    latency_by_kind: list[KindLatency]
    volume_method: str = field(default=VOLUME_METHOD)

    @property
    def orders_total(self) -> int:
        return sum(self.orders_by_status.values())

    @property
    def orders_final(self) -> int:
        return self.orders_by_status[OrderStatus.CONFIRMED] + self.orders_by_status[OrderStatus.FAILED]

    @property
    def success_rate(self) -> float | None:
        """Confirmed over executed-or-failed orders (cancelled and expired are the trader's doing, not
        the router's); None before any order is."""
        final = self.orders_final
        return self.orders_by_status[OrderStatus.CONFIRMED] / final if final else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _vs_jupiter_usd(amount_out: int, jupiter_amount_out: int, notional_usd: float) -> float:
    """Output gained over Jupiter's quote, valued at the trade's own execution price (notional / out)."""
    return notional_usd * (amount_out - jupiter_amount_out) / amount_out if amount_out else 0.0


def _savings(pairs: Sequence[tuple[float, float]]) -> Savings:
    """From (usd, bps) per trade."""
    if not pairs:
        return Savings(0, None, None, None)
    usd = [u for u, _ in pairs]
    return Savings(len(pairs), sum(usd), _mean(usd), _mean([b for _, b in pairs]))


def _orders_by_status(session: DbSession, window: Window) -> dict[str, int]:
    counts = {status.value: 0 for status in OrderStatus}
    query = (
        sa.select(Order.status, sa.func.count())
        .where(*window.clauses(Order.created_at))
        .group_by(Order.status)
    )
    for status, count in session.execute(query):
        counts[str(status)] = int(count)
    return counts


@dataclass(frozen=True)
class _LegShare:
    """One executed leg with its share of its trade (see the module docstring)."""

    trade_id: int
    venue: str
    kind: str
    token_in: str
    amount_in: int
    share: float
    notional_usd: float
    savings_usd: float


def _leg_shares(session: DbSession, window: Window) -> list[_LegShare]:
    """Every leg of the trades executed within ``window``, in trade then leg order, with its share."""
    query = (
        sa.select(
            Fill.trade_id,
            Fill.venue,
            Fill.kind,
            Fill.hop,
            Fill.token_in,
            Fill.token_out,
            Fill.amount_in,
            Trade.amount_in,
            Trade.notional_usd,
            Trade.savings_usd,
        )
        .join(Trade, Trade.id == Fill.trade_id)
        .where(*window.clauses(Trade.executed_at))
        .order_by(Fill.trade_id, Fill.leg_index)
    )
    legs_by_trade: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(query):
        legs_by_trade[row[0]].append(row)
    shares = []
    for trade_id, legs in legs_by_trade.items():
        trade_in, notional, savings = legs[0][7], legs[0][8], legs[0][9]
        # A leg's share of the trade: a first-hop leg's input over the trade's; a later leg's input
        # over everything later legs take of its token, times the share of the trade that reached
        # that token (the shares of the legs that produced it: two or three hops alike).
        fed: dict[str, int] = defaultdict(int)
        for leg in legs:
            if leg.hop > 0:
                fed[leg.token_in] += leg[6]
        reached: dict[str, float] = defaultdict(float)
        leg_share: dict[int, float] = {}
        for i in sorted(range(len(legs)), key=lambda k: legs[k].hop):
            leg, amount_in = legs[i], legs[i][6]
            if leg.hop == 0:
                share = amount_in / trade_in if trade_in else 0.0
            else:
                feed = fed[leg.token_in]
                share = (amount_in / feed) * reached[leg.token_in] if feed else 0.0
            leg_share[i] = share
            reached[leg.token_out] += share
        for i, leg in enumerate(legs):
            amount_in, share = leg[6], leg_share[i]
            shares.append(
                _LegShare(trade_id, leg.venue, leg.kind, leg.token_in, amount_in, share, notional, savings)
            )
    return shares


def _venue_volumes(session: DbSession, window: Window) -> list[VenueVolume]:
    fills: dict[str, int] = defaultdict(int)
    usd: dict[str, float] = defaultdict(float)
    amounts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for leg in _leg_shares(session, window):
        fills[leg.venue] += 1
        usd[leg.venue] += leg.notional_usd * leg.share
        amounts[leg.venue][leg.token_in] += leg.amount_in
    return [
        VenueVolume(venue, fills[venue], usd[venue], dict(sorted(amounts[venue].items())))
        for venue in sorted(fills, key=lambda v: (-usd[v], v))
    ]


def _strategy_volumes(session: DbSession, window: Window) -> list[StrategyVolume]:
    query = (
        sa.select(Trade.strategy, sa.func.count(), sa.func.coalesce(sa.func.sum(Trade.notional_usd), 0.0))
        .where(*window.clauses(Trade.executed_at))
        .group_by(Trade.strategy)
    )
    rows = [StrategyVolume(str(s), int(n), float(v)) for s, n, v in session.execute(query)]
    return sorted(rows, key=lambda r: (-r.volume_usd, r.strategy))


def summary(session: DbSession, window: Window = ALL_TIME) -> Summary:
    """The analytics summary of the orders created and the trades executed within ``window``."""
    query = sa.select(
        Trade.amount_out,
        Trade.best_single_amount_out,
        Trade.jupiter_amount_out,
        Trade.price_impact_bps,
        Trade.notional_usd,
        Trade.savings_usd,
        Trade.latency_ms,
    ).where(*window.clauses(Trade.executed_at))
    rows = session.execute(query).all()
    vs_best: list[tuple[float, float]] = []
    vs_jupiter: list[tuple[float, float]] = []
    impacts: list[float] = []
    for amount_out, best, jupiter, impact, notional, savings_usd, _ in rows:
        if best:
            vs_best.append((savings_usd, (amount_out - best) / best * 10_000))
        if jupiter:
            vs_jupiter.append(
                (_vs_jupiter_usd(amount_out, jupiter, notional), (amount_out - jupiter) / jupiter * 10_000)
            )
        if impact is not None:
            impacts.append(float(Decimal(impact)))
    latencies = sorted(row[6] for row in rows)
    return Summary(
        window=window,
        orders_by_status=_orders_by_status(session, window),
        trades=len(rows),
        notional_usd=sum(row[4] for row in rows),
        by_venue=_venue_volumes(session, window),
        by_strategy=_strategy_volumes(session, window),
        vs_best_single=_savings(vs_best),
        vs_jupiter=_savings(vs_jupiter),
        impact_trades=len(impacts),
        impact_avg_bps=_mean(impacts),
        impact_max_bps=max(impacts) if impacts else None,
        latency=LatencyStats(
            count=len(latencies),
            mean_ms=_mean(latencies),
            p50_ms=percentile(latencies, 0.50),
            p95_ms=percentile(latencies, 0.95),
            p99_ms=percentile(latencies, 0.99),
        ),
        latency_by_kind=latency_by_kind(session, window),
    )


# --- charts: time series, trade scatter, latency, slippage, breakdown -----------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Bucket(enum.StrEnum):
    """Width of a time-series bucket; buckets start on whole UTC minutes, hours or days."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def seconds(self) -> int:
        return {"minute": 60, "hour": 3_600, "day": 86_400}[self.value]

    def floor(self, at: datetime) -> datetime:
        """The start of the bucket holding ``at`` (exact timedelta arithmetic: no float timestamps)."""
        step = timedelta(seconds=self.seconds)
        return _EPOCH + (at - _EPOCH) // step * step


MAX_BUCKETS = 2_000


@dataclass(frozen=True)
class TimeBucket:
    """Orders created and trades executed in [start, start + bucket)."""

    start: datetime
    orders: int
    confirmed: int  # of the orders created in the bucket, confirmed now
    failed: int  # of the orders created in the bucket, failed now
    trades: int
    volume_usd: float
    savings_vs_best_single_usd: float
    jupiter_trades: int
    savings_vs_jupiter_usd: float | None  # None when no trade in the bucket had a Jupiter quote


@dataclass(frozen=True)
class Timeseries:
    bucket: Bucket
    window: Window  # the window actually covered (``end`` exclusive)
    buckets: list[TimeBucket]
    truncated: bool  # ``from`` was omitted and activity began more than MAX_BUCKETS buckets earlier


def _earliest_activity(session: DbSession, end: datetime) -> datetime | None:
    first_order = session.execute(sa.select(sa.func.min(Order.created_at)).where(Order.created_at < end))
    first_trade = session.execute(sa.select(sa.func.min(Trade.executed_at)).where(Trade.executed_at < end))
    found = [t for t in (first_order.scalar_one(), first_trade.scalar_one()) if t is not None]
    return min(found) if found else None


def timeseries(session: DbSession, bucket: Bucket, window: Window, *, now: datetime) -> Timeseries:
    """Per bucket: orders created (and how they ended), trades executed, volume and savings.

    Every bucket from the window's start to its end is listed, empty ones as zeros. The end
    defaults to ``now``; the start to the earliest order or trade (none: no buckets), limited to
    the last MAX_BUCKETS buckets. An explicit start more than MAX_BUCKETS buckets back is refused.
    """
    end = window.end or now
    start, truncated = window.start, False
    if start is None:
        earliest = _earliest_activity(session, end)
        if earliest is None:
            return Timeseries(bucket, Window(None, end), [], False)
        start = bucket.floor(earliest)
        limit = bucket.floor(end - timedelta(microseconds=1)) - timedelta(
            seconds=bucket.seconds * (MAX_BUCKETS - 1)
        )
        if start < limit:
            start, truncated = limit, True
    if end <= start:
        return Timeseries(bucket, Window(start, end), [], False)
    first, step = bucket.floor(start), timedelta(seconds=bucket.seconds)
    count = (bucket.floor(end - timedelta(microseconds=1)) - first) // step + 1
    if count > MAX_BUCKETS:
        raise ValidationError(
            f"from {start.isoformat()} to {end.isoformat()} spans {count} {bucket.value} buckets; "
            f"at most {MAX_BUCKETS}: choose a larger bucket or a later from",
            field="from",
        )
    covered = Window(start, end)
    orders = [0] * count
    confirmed = [0] * count
    failed = [0] * count
    for created_at, status in session.execute(
        sa.select(Order.created_at, Order.status).where(*covered.clauses(Order.created_at))
    ):
        i = (created_at - first) // step
        orders[i] += 1
        confirmed[i] += status == OrderStatus.CONFIRMED
        failed[i] += status == OrderStatus.FAILED
    trades = [0] * count
    volume = [0.0] * count
    savings = [0.0] * count
    jupiter_trades = [0] * count
    vs_jupiter = [0.0] * count
    query = sa.select(
        Trade.executed_at, Trade.notional_usd, Trade.savings_usd, Trade.amount_out, Trade.jupiter_amount_out
    ).where(*covered.clauses(Trade.executed_at))
    for executed_at, notional, savings_usd, amount_out, jupiter in session.execute(query):
        i = (executed_at - first) // step
        trades[i] += 1
        volume[i] += notional
        savings[i] += savings_usd
        if jupiter:
            jupiter_trades[i] += 1
            vs_jupiter[i] += _vs_jupiter_usd(amount_out, jupiter, notional)
    buckets = [
        TimeBucket(
            start=first + i * step,
            orders=orders[i],
            confirmed=confirmed[i],
            failed=failed[i],
            trades=trades[i],
            volume_usd=volume[i],
            savings_vs_best_single_usd=savings[i],
            jupiter_trades=jupiter_trades[i],
            savings_vs_jupiter_usd=vs_jupiter[i] if jupiter_trades[i] else None,
        )
        for i in range(count)
    ]
    return Timeseries(bucket, covered, buckets, truncated)


@dataclass(frozen=True)
class TradeRow:
    """One executed order for a chart: the trade and the venues and kinds of its legs, in leg order."""

    trade: Trade
    venues: tuple[str, ...]
    kinds: tuple[str, ...]
    legs: int


def recent_trades(session: DbSession, window: Window = ALL_TIME, limit: int = 200) -> Page[TradeRow]:
    """The latest ``limit`` trades executed within ``window`` (newest first) with their venues."""
    where = window.clauses(Trade.executed_at)
    total = session.execute(sa.select(sa.func.count()).select_from(Trade).where(*where)).scalar_one()
    query = sa.select(Trade).where(*where).order_by(Trade.executed_at.desc(), Trade.id.desc()).limit(limit)
    trades = list(session.execute(query).scalars())
    venues: dict[int, list[str]] = defaultdict(list)
    kinds: dict[int, list[str]] = defaultdict(list)
    legs: dict[int, int] = defaultdict(int)
    if trades:
        fills = sa.select(Fill.trade_id, Fill.venue, Fill.kind).where(
            Fill.trade_id.in_([t.id for t in trades])
        )
        for trade_id, venue, kind in session.execute(fills.order_by(Fill.trade_id, Fill.leg_index)):
            legs[trade_id] += 1
            if venue not in venues[trade_id]:
                venues[trade_id].append(venue)
            if kind not in kinds[trade_id]:
                kinds[trade_id].append(kind)
    rows = [TradeRow(t, tuple(venues[t.id]), tuple(kinds[t.id]), legs[t.id]) for t in trades]
    return Page(rows, int(total))


# Latency histogram edges in ms (1-2-5 steps); the last bucket is open-ended.
LATENCY_EDGES_MS: tuple[float, ...] = (
    0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000,
)  # fmt: skip


@dataclass(frozen=True)
class HistogramBucket:
    lo_ms: float  # inclusive
    hi_ms: float | None  # exclusive; None: no upper edge
    count: int


@dataclass(frozen=True)
class LatencyDistribution:
    """Submit (order created) to confirmed, over the trades executed within ``window``."""

    window: Window
    count: int
    min_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    buckets: list[HistogramBucket]  # from the first to the last non-empty bucket
    by_kind: list[KindLatency]


def latency_distribution(session: DbSession, window: Window = ALL_TIME) -> LatencyDistribution:
    """Histogram (LATENCY_EDGES_MS) and nearest-rank percentiles of the trades' latency."""
    latencies = sorted(
        float(v)
        for v in session.execute(
            sa.select(Trade.latency_ms).where(*window.clauses(Trade.executed_at))
        ).scalars()
    )
    counts = [0] * len(LATENCY_EDGES_MS)
    for ms in latencies:
        counts[max(bisect_right(LATENCY_EDGES_MS, ms) - 1, 0)] += 1
    used = [i for i, n in enumerate(counts) if n]
    buckets = [
        HistogramBucket(
            float(LATENCY_EDGES_MS[i]),
            float(LATENCY_EDGES_MS[i + 1]) if i + 1 < len(LATENCY_EDGES_MS) else None,
            counts[i],
        )
        for i in (range(used[0], used[-1] + 1) if used else ())
    ]
    return LatencyDistribution(
        window=window,
        count=len(latencies),
        min_ms=latencies[0] if latencies else None,
        max_ms=latencies[-1] if latencies else None,
        mean_ms=_mean(latencies),
        p50_ms=percentile(latencies, 0.50),
        p90_ms=percentile(latencies, 0.90),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
        buckets=buckets,
        by_kind=latency_by_kind(session, window),
    )


SLIPPAGE_QUANTUM = Decimal("0.0001")


def realised_slippage_bps(quoted_amount_out: int, amount_out: int) -> Decimal:
    """(quoted − filled) / quoted × 10⁴, to 0.0001 bps (half-even); > 0: the fill paid less than quoted."""
    with localcontext() as ctx:
        ctx.prec = 50
        bps = Decimal(quoted_amount_out - amount_out) * 10_000 / Decimal(quoted_amount_out)
        return bps.quantize(SLIPPAGE_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class SlippageStats:
    """Realised slippage over every trade of the window (statistics: floats)."""

    trades: int
    avg_bps: float | None
    weighted_bps: float | None  # weighted by each trade's notional_usd
    min_bps: float | None  # best fill against its quote (negative: paid more than quoted)
    max_bps: float | None  # worst
    p50_bps: float | None
    p95_bps: float | None
    worse: int  # filled below the quote
    equal: int
    better: int  # filled above the quote


@dataclass(frozen=True)
class Slippage:
    window: Window
    rows: list[tuple[TradeRow, Decimal]]  # the latest trades with their realised slippage in bps
    total: int
    stats: SlippageStats


def slippage(session: DbSession, window: Window = ALL_TIME, limit: int = 200) -> Slippage:
    """The latest ``limit`` trades' quoted versus filled output, and statistics over the whole window."""
    page = recent_trades(session, window, limit)
    rows = [
        (row, realised_slippage_bps(row.trade.quoted_amount_out, row.trade.amount_out)) for row in page.rows
    ]
    query = sa.select(Trade.quoted_amount_out, Trade.amount_out, Trade.notional_usd).where(
        *window.clauses(Trade.executed_at)
    )
    every = [(realised_slippage_bps(q, out), notional) for q, out, notional in session.execute(query)]
    values = sorted(float(bps) for bps, _ in every)
    weight = sum(notional for _, notional in every)
    stats = SlippageStats(
        trades=len(every),
        avg_bps=_mean(values),
        weighted_bps=sum(float(bps) * n for bps, n in every) / weight if weight else None,
        min_bps=values[0] if values else None,
        max_bps=values[-1] if values else None,
        p50_bps=percentile(values, 0.50),
        p95_bps=percentile(values, 0.95),
        worse=sum(1 for bps, _ in every if bps > 0),
        equal=sum(1 for bps, _ in every if bps == 0),
        better=sum(1 for bps, _ in every if bps < 0),
    )
    return Slippage(window, rows, page.total, stats)


@dataclass(frozen=True)
class VenueBreakdown:
    venue: str
    kind: str
    fills: int
    trades: int
    volume_usd: float  # as VOLUME_METHOD
    savings_usd: float  # each trade's savings vs the best single venue, apportioned like its volume


@dataclass(frozen=True)
class StrategyBreakdown:
    strategy: str
    trades: int
    volume_usd: float
    savings_usd: float  # vs the best single venue
    avg_savings_bps: float | None
    jupiter_trades: int
    savings_vs_jupiter_usd: float | None
    avg_impact_bps: float | None
    avg_latency_ms: float | None


@dataclass(frozen=True)
class Breakdown:
    window: Window
    by_venue: list[VenueBreakdown]
    by_strategy: list[StrategyBreakdown]
    volume_method: str = field(default=VOLUME_METHOD)


def breakdown(session: DbSession, window: Window = ALL_TIME) -> Breakdown:
    """Volume and savings per venue and per strategy over the trades executed within ``window``."""
    fills: dict[str, int] = defaultdict(int)
    kind: dict[str, str] = {}
    trade_ids: dict[str, set[int]] = defaultdict(set)
    usd: dict[str, float] = defaultdict(float)
    saved: dict[str, float] = defaultdict(float)
    for leg in _leg_shares(session, window):
        fills[leg.venue] += 1
        kind.setdefault(leg.venue, leg.kind)
        trade_ids[leg.venue].add(leg.trade_id)
        usd[leg.venue] += leg.notional_usd * leg.share
        saved[leg.venue] += leg.savings_usd * leg.share
    by_venue = [
        VenueBreakdown(v, kind[v], fills[v], len(trade_ids[v]), usd[v], saved[v])
        for v in sorted(fills, key=lambda v: (-usd[v], v))
    ]

    query = sa.select(
        Trade.strategy,
        Trade.notional_usd,
        Trade.savings_usd,
        Trade.amount_out,
        Trade.best_single_amount_out,
        Trade.jupiter_amount_out,
        Trade.price_impact_bps,
        Trade.latency_ms,
    ).where(*window.clauses(Trade.executed_at))
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in session.execute(query):
        groups[str(row.strategy)].append(row)
    by_strategy = []
    for strategy, rows in groups.items():
        best_bps = [(r.amount_out - b) / b * 10_000 for r in rows if (b := r.best_single_amount_out)]
        jupiter = [
            _vs_jupiter_usd(r.amount_out, r.jupiter_amount_out, r.notional_usd)
            for r in rows
            if r.jupiter_amount_out
        ]
        impacts = [float(r.price_impact_bps) for r in rows if r.price_impact_bps is not None]
        by_strategy.append(
            StrategyBreakdown(
                strategy=strategy,
                trades=len(rows),
                volume_usd=sum(r.notional_usd for r in rows),
                savings_usd=sum(r.savings_usd for r in rows),
                avg_savings_bps=_mean(best_bps),
                jupiter_trades=len(jupiter),
                savings_vs_jupiter_usd=sum(jupiter) if jupiter else None,
                avg_impact_bps=_mean(impacts),
                avg_latency_ms=_mean([r.latency_ms for r in rows]),
            )
        )
    by_strategy.sort(key=lambda s: (-s.volume_usd, s.strategy))
    return Breakdown(window, by_venue, by_strategy)


# --- latency by venue kind ------------------------------------------------------------------------

# A trade's venue kind is the slowest kind among its legs: an OTC leg waits for the desk's
# settlement (tens of seconds), an aggregator leg for a fresh Jupiter quote; AMM legs fill at once.
# Split this way, one OTC settlement no longer sets the p95 of every trade.
KIND_ORDER = ("amm", "aggregator", "otc")


@dataclass(frozen=True)
class KindLatency:
    """Submit-to-confirmed latency of the trades of one venue kind (nearest-rank percentiles)."""

    kind: str
    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def latency_by_kind(session: DbSession, window: Window = ALL_TIME) -> list[KindLatency]:
    """Latency percentiles per venue kind (KIND_ORDER), aggregated in SQL: kinds without trades are left out.

    Nearest rank is ceil(q × n), written ``(n × q% + 99) // 100`` in integers (SQLite has no CEIL);
    ``row_number`` over each kind's latencies picks that row, as stats.percentile would.
    """
    rank = sa.case(*((Fill.kind == kind, i) for i, kind in enumerate(KIND_ORDER) if i), else_=0)
    per_trade = (
        sa.select(Trade.id.label("id"), Trade.latency_ms.label("ms"), sa.func.max(rank).label("kind"))
        .join(Fill, Fill.trade_id == Trade.id)
        .where(*window.clauses(Trade.executed_at))
        .group_by(Trade.id, Trade.latency_ms)
        .subquery()
    )
    ranked = sa.select(
        per_trade.c.kind,
        per_trade.c.ms,
        sa.func.row_number()
        .over(partition_by=per_trade.c.kind, order_by=(per_trade.c.ms, per_trade.c.id))
        .label("rn"),
        sa.func.count().over(partition_by=per_trade.c.kind).label("n"),
    ).subquery()

    def at_rank(percent: int) -> Any:
        return sa.func.max(sa.case((ranked.c.rn == (ranked.c.n * percent + 99) // 100, ranked.c.ms)))

    query = (
        sa.select(
            ranked.c.kind,
            sa.func.count(),
            sa.func.avg(ranked.c.ms),
            at_rank(50),
            at_rank(95),
            at_rank(99),
            sa.func.max(ranked.c.ms),
        )
        .group_by(ranked.c.kind)
        .order_by(ranked.c.kind)
    )
    return [
        KindLatency(KIND_ORDER[int(k)], int(n), float(mean), float(p50), float(p95), float(p99), float(top))
        for k, n, mean, p50, p95, p99, top in session.execute(query)
    ]


# --- price history from trades ----------------------------------------------------------------------


class _EpochSeconds(FunctionElement[int]):
    """Whole seconds since 1970 of a UTC timestamp column, in SQL (each dialect spells it its way)."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(_EpochSeconds, "sqlite")
def _epoch_seconds_sqlite(element: _EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(sa.cast(sa.func.strftime("%s", column), sa.BigInteger), **kw)


@compiles(_EpochSeconds)
def _epoch_seconds_default(element: _EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger), **kw)


@dataclass(frozen=True)
class PricePoint:
    """A token's USD price over one bucket: notional over amount, summed over the bucket's trades."""

    start: datetime
    price_usd: float
    trades: int


@dataclass(frozen=True)
class TokenPriceHistory:
    token: str
    basis: str  # "sold": the input's valuation at execution; "bought": the execution price
    points: list[PricePoint]

    @property
    def change_pct(self) -> float | None:
        """From the first point to the last, in percent; None with fewer than two points."""
        if len(self.points) < 2 or self.points[0].price_usd <= 0:
            return None
        return (self.points[-1].price_usd / self.points[0].price_usd - 1) * 100


@dataclass(frozen=True)
class PriceHistory:
    bucket: Bucket
    window: Window  # the window covered (``end`` exclusive)
    tokens: list[TokenPriceHistory]


def price_history(session: DbSession, bucket: Bucket, window: Window, *, now: datetime) -> PriceHistory:
    """Each traded token's USD price per bucket, from the trades, until stored price history exists.

    A trade values its input at execution (``notional_usd``, from the price feeds): for a token
    that was sold in the window that valuation per unit is its price (basis "sold"). A token only
    ever bought gets notional ÷ amount received, the execution price (basis "bought": fees and
    impact included). Each bucket is summed in SQL (one row per token, side and non-empty bucket).
    The window ends at ``now`` by default and starts at most MAX_BUCKETS buckets earlier.
    """
    end = window.end or now
    step = timedelta(seconds=bucket.seconds)
    start = window.start or bucket.floor(end - timedelta(microseconds=1)) - (MAX_BUCKETS - 1) * step
    if (bucket.floor(end - timedelta(microseconds=1)) - bucket.floor(start)) // step + 1 > MAX_BUCKETS:
        raise ValidationError(
            f"from {start.isoformat()} to {end.isoformat()} spans more than {MAX_BUCKETS} "
            f"{bucket.value} buckets: choose a larger bucket or a later from",
            field="from",
        )
    covered = Window(start, end)
    slot = _EpochSeconds(Trade.executed_at) // bucket.seconds

    def side(basis: int, token: Any, amount: Any) -> Any:
        return sa.select(
            token.label("token"),
            sa.literal(basis).label("basis"),
            slot.label("slot"),
            Trade.notional_usd.label("usd"),
            sa.cast(amount, sa.Float).label("units"),  # a float sum: SQLite's integer SUM overflows
        ).where(*covered.clauses(Trade.executed_at), amount > 0)

    sides = sa.union_all(side(0, Trade.token_in, Trade.amount_in), side(1, Trade.token_out, Trade.amount_out))
    rows = sides.subquery()
    query = (
        sa.select(rows.c.token, rows.c.basis, rows.c.slot, sa.func.sum(rows.c.usd), sa.func.sum(rows.c.units))
        .add_columns(sa.func.count())
        .group_by(rows.c.token, rows.c.basis, rows.c.slot)
        .order_by(rows.c.token, rows.c.basis, rows.c.slot)
    )
    found: dict[str, dict[int, list[PricePoint]]] = defaultdict(lambda: defaultdict(list))
    for token, basis, index, usd, units, count in session.execute(query):
        if not units or usd is None:
            continue
        human = float(units) / 10 ** get_token(token).decimals
        at = _EPOCH + timedelta(seconds=int(index) * bucket.seconds)
        found[str(token)][int(basis)].append(PricePoint(at, float(usd) / human, int(count)))
    tokens = []
    for token in sorted(found):
        basis = 0 if found[token][0] else 1
        tokens.append(TokenPriceHistory(token, ("sold", "bought")[basis], found[token][basis]))
    return PriceHistory(bucket, covered, tokens)
