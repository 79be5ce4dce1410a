"""Read queries for the API: venues, pages of orders and executed legs, and the analytics summary.

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

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from models import AmmPool, DbSession, Fill, Order, OrderStatus, OTCPool, Trade

__all__ = [
    "ALL_TIME",
    "VOLUME_METHOD",
    "LatencyStats",
    "Page",
    "Savings",
    "StrategyVolume",
    "Summary",
    "VenueVolume",
    "Window",
    "amm_pools",
    "amm_venues",
    "fills_page",
    "orders_page",
    "otc_desks",
    "percentile",
    "summary",
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
    window: Window = ALL_TIME,
    limit: int = 50,
    offset: int = 0,
) -> Page[Order]:
    """An account's orders, newest first, filtered by each given value."""
    where: list[Any] = [Order.account_id == account_id, *window.clauses(Order.created_at)]
    for column, value in (
        (Order.status, status),
        (Order.strategy, strategy),
        (Order.token_in, token_in),
        (Order.token_out, token_out),
    ):
        if value is not None:
            where.append(column == value)
    return _page(session, Order, where, (Order.created_at.desc(), Order.id.desc()), limit, offset)


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
    volume_method: str = field(default=VOLUME_METHOD)

    @property
    def orders_total(self) -> int:
        return sum(self.orders_by_status.values())

    @property
    def orders_final(self) -> int:
        return self.orders_by_status[OrderStatus.CONFIRMED] + self.orders_by_status[OrderStatus.FAILED]

    @property
    def success_rate(self) -> float | None:
        """Confirmed over final orders; None before any order is final."""
        final = self.orders_final
        return self.orders_by_status[OrderStatus.CONFIRMED] / final if final else None


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in (0, 1]) of ascending values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


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


def _venue_volumes(session: DbSession, window: Window) -> list[VenueVolume]:
    query = (
        sa.select(
            Fill.trade_id,
            Fill.venue,
            Fill.hop,
            Fill.token_in,
            Fill.token_out,
            Fill.amount_in,
            Trade.amount_in,
            Trade.notional_usd,
        )
        .join(Trade, Trade.id == Fill.trade_id)
        .where(*window.clauses(Trade.executed_at))
        .order_by(Fill.trade_id, Fill.leg_index)
    )
    legs_by_trade: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(query):
        legs_by_trade[row[0]].append(row)
    fills: dict[str, int] = defaultdict(int)
    usd: dict[str, float] = defaultdict(float)
    amounts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for legs in legs_by_trade.values():
        trade_in, notional = legs[0][6], legs[0][7]
        # Share of the trade routed through each intermediate token (first-hop legs into it).
        via: dict[str, int] = defaultdict(int)
        second_in: dict[str, int] = defaultdict(int)
        for _, _, hop, token_in, token_out, amount_in, _, _ in legs:
            if hop == 0:
                via[token_out] += amount_in
            else:
                second_in[token_in] += amount_in
        for _, venue, hop, token_in, _, amount_in, _, _ in legs:
            if hop == 0:
                share = amount_in / trade_in if trade_in else 0.0
            else:
                feed = second_in[token_in]
                share = (amount_in / feed) * (via[token_in] / trade_in) if feed and trade_in else 0.0
            fills[venue] += 1
            usd[venue] += notional * share
            amounts[venue][token_in] += amount_in
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
            # The output token valued at the trade's own execution price: notional / amount_out.
            usd = notional * (amount_out - jupiter) / amount_out if amount_out else 0.0
            vs_jupiter.append((usd, (amount_out - jupiter) / jupiter * 10_000))
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
    )
