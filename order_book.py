"""Resting orders (limit, stop-loss, take-profit) as plain values, and what a venue snapshot triggers.

PURE: no Flask, SQLAlchemy, Redis or HTTP. The watcher (background.py → jobs.watch_resting_orders)
loads the open orders once per tick, builds an ``OrderBook`` and calls ``evaluate``; the writes
are trade_logger's.

Per pair, each type is kept sorted by its price, so a tick costs a bisect per pair and type plus
work only for the orders near the price:

- stop_loss triggers when the reference price (tokenOut per tokenIn, ``Market.mid_price``) is at or
  below its trigger: the orders with trigger >= reference, a suffix of the sorted triggers;
- take_profit when the reference is at or above its trigger: a prefix;
- limit when the router pays at least ``min_amount_out = ceil(amount_in × limitPrice)`` for the
  WHOLE amount. Every venue's output is at most its marginal price at zero size (fees included)
  times its input (concave curves; desks add spread with size), so a route of any split and up
  to ``MAX_HOPS`` hops pays at most ``amount_in × B``, where B is the best product of marginal
  prices along a path of the venue graph. A limit above B cannot fill at any size: only the
  prefix of limits <= B is looked at. Of those, an order whose ``min_amount_out`` is above the
  pair's dual bound for its amount (``routing_engine.output_bound``: what the best split over
  every venue and path could pay, solved without integer legs) cannot fill either, and costs a
  split solve instead of a route; the rest get a real route quote of their amount (the ``quote``
  callable of the snapshot, memoised per amount and strategy within a tick). Both cuts are upper
  bounds on what the router can pay, so the triggered set is the naive check's, exactly.

Expired orders (``expires_at <= now``) come back as expired and never as triggered.
"""

from __future__ import annotations

import bisect
import enum
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal

from routing_engine import Market
from routing_engine.paths import hop_venues
from routing_engine.splitting import output_bound
from routing_engine.venues import AggregatorVenue
from tokens import format_amount, get_token

__all__ = [
    "MAX_HOPS",
    "Evaluation",
    "OrderBook",
    "QuoteFn",
    "RestingOrder",
    "RestingType",
    "Snapshot",
    "Trigger",
    "best_marginal_prices",
    "evaluate",
    "evaluate_naive",
    "limit_min_amount_out",
]

MAX_HOPS = 3  # the bound covers paths of up to this many hops (the router uses fewer today)
_CONTEXT = Context(prec=40)
# Decimal rounding of the bound (40 digits) must never drop an order that can fill: widen it a hair.
_BOUND_SLACK = Decimal(1) + Decimal("1e-30")

# (token_in, token_out, amount_in, strategy) -> the route's amount_out in base units, None: no route.
QuoteFn = Callable[[str, str, int, str], int | None]


class RestingType(enum.StrEnum):
    LIMIT = "limit"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """An open order waiting for its price. ``price``: the limit or the trigger, tokenOut per
    tokenIn in human units; ``min_amount_out``: a limit's least output (base units)."""

    order_id: str
    account_id: int
    token_in: str
    token_out: str
    order_type: RestingType
    amount_in: int
    price: Decimal
    min_amount_out: int = 0
    expires_at: float | None = None  # epoch seconds
    oco_group: str | None = None
    strategy: str = "OPTIMAL_SPLIT"
    slippage_bps: int = 50

    @property
    def pair(self) -> tuple[str, str]:
        return (self.token_in, self.token_out)


@dataclass(frozen=True, slots=True)
class Trigger:
    """An order whose price came: the reference price or the route's output that says so."""

    order: RestingOrder
    reference: Decimal | None = None  # stop / take profit
    amount_out: int | None = None  # limit: what the route pays now for the whole amount

    @property
    def message(self) -> str:
        o = self.order
        if o.order_type is RestingType.LIMIT:
            assert self.amount_out is not None
            return (
                f"limit reached: best route pays {format_amount(o.token_out, self.amount_out)} {o.token_out} "
                f"for {format_amount(o.token_in, o.amount_in)} {o.token_in} (limit {o.price})"
            )
        sign = "<=" if o.order_type is RestingType.STOP_LOSS else ">="
        name = "stop" if o.order_type is RestingType.STOP_LOSS else "take profit"
        return f"{name} triggered: reference {_price_text(self.reference)} {sign} trigger {o.price}"


@dataclass(frozen=True)
class Evaluation:
    """What one tick found: orders to trigger (in book order), orders expired, quotes made."""

    triggered: tuple[Trigger, ...] = ()
    expired: tuple[RestingOrder, ...] = ()
    quotes: int = 0  # route quotes the limit checks cost
    bounded: int = 0  # limit orders the split's dual bound ruled out without a route quote


@dataclass(frozen=True)
class Snapshot:
    """The venues as they are now, the time, and how to quote a route on them."""

    market: Market
    now: float
    quote: QuoteFn


@dataclass(frozen=True)
class _Side:
    """One type's orders of one pair, sorted by price (ties by id, so the order is stable)."""

    orders: tuple[RestingOrder, ...] = ()
    prices: tuple[Decimal, ...] = ()

    @classmethod
    def of(cls, orders: Iterable[RestingOrder]) -> _Side:
        ordered = tuple(sorted(orders, key=lambda o: (o.price, o.order_id)))
        return cls(ordered, tuple(o.price for o in ordered))


@dataclass(frozen=True)
class OrderBook:
    """The open orders by pair and type, each sorted by price, and their expiry times sorted."""

    sides: Mapping[tuple[tuple[str, str], RestingType], _Side] = field(default_factory=dict)
    expiries: tuple[tuple[float, str], ...] = ()
    by_id: Mapping[str, RestingOrder] = field(default_factory=dict)

    @classmethod
    def of(cls, orders: Iterable[RestingOrder]) -> OrderBook:
        """Group and sort ``orders`` (O(n log n), once per tick)."""
        grouped: dict[tuple[tuple[str, str], RestingType], list[RestingOrder]] = defaultdict(list)
        by_id: dict[str, RestingOrder] = {}
        for o in orders:
            grouped[(o.pair, o.order_type)].append(o)
            by_id[o.order_id] = o
        expiries = tuple(
            sorted((o.expires_at, o.order_id) for o in by_id.values() if o.expires_at is not None)
        )
        return cls({k: _Side.of(v) for k, v in grouped.items()}, expiries, by_id)

    def updated(self, upserts: Iterable[RestingOrder], removed: Iterable[str]) -> OrderBook:
        """This book with the ids in ``removed`` taken out, then ``upserts`` added or replaced.

        Equal to ``OrderBook.of`` over the resulting orders, at the cost of a bisect and a copy of
        the touched sides per change instead of sorting 10,000 orders again."""
        by_id = dict(self.by_id)
        sides: dict[tuple[tuple[str, str], RestingType], tuple[list[RestingOrder], list[Decimal]]] = {}
        expiries: list[tuple[float, str]] | None = None

        def side_of(o: RestingOrder) -> tuple[list[RestingOrder], list[Decimal]]:
            key = (o.pair, o.order_type)
            if key not in sides:
                side = self.sides.get(key, _Side())
                sides[key] = (list(side.orders), list(side.prices))
            return sides[key]

        def take_out(o: RestingOrder) -> None:
            nonlocal expiries
            orders, prices = side_of(o)
            i = _position(orders, prices, o)
            del orders[i], prices[i]
            if o.expires_at is not None:
                expiries = list(self.expiries) if expiries is None else expiries
                del expiries[bisect.bisect_left(expiries, (o.expires_at, o.order_id))]

        def put_in(o: RestingOrder) -> None:
            nonlocal expiries
            orders, prices = side_of(o)
            i = _position(orders, prices, o)
            orders.insert(i, o)
            prices.insert(i, o.price)
            if o.expires_at is not None:
                expiries = list(self.expiries) if expiries is None else expiries
                bisect.insort(expiries, (o.expires_at, o.order_id))

        for order_id in removed:
            old = by_id.pop(order_id, None)
            if old is not None:
                take_out(old)
        for o in upserts:
            old = by_id.get(o.order_id)
            if old is not None:
                take_out(old)
            by_id[o.order_id] = o
            put_in(o)
        if not sides:
            return self
        merged = dict(self.sides)
        for key, (orders, prices) in sides.items():
            if orders:
                merged[key] = _Side(tuple(orders), tuple(prices))
            else:
                merged.pop(key, None)
        return OrderBook(merged, self.expiries if expiries is None else tuple(expiries), by_id)

    def __len__(self) -> int:
        return len(self.by_id)

    @property
    def pairs(self) -> set[tuple[str, str]]:
        return {pair for pair, _ in self.sides}


def _position(orders: list[RestingOrder], prices: list[Decimal], o: RestingOrder) -> int:
    """Where ``o`` is, or goes, in a side sorted by (price, order id)."""
    i = bisect.bisect_left(prices, o.price)
    while i < len(orders) and prices[i] == o.price and orders[i].order_id < o.order_id:
        i += 1
    return i


def limit_min_amount_out(token_in: str, token_out: str, amount_in: int, limit_price: Decimal) -> int:
    """ceil(amount_in × limitPrice) in tokenOut base units, exactly: the trader never gets less."""
    numerator, denominator = limit_price.as_integer_ratio()
    scale_in, scale_out = get_token(token_in).decimals, get_token(token_out).decimals
    top: int = amount_in * numerator * 10**scale_out
    bottom: int = denominator * 10**scale_in
    return -(-top // bottom)


def best_marginal_prices(market: Market, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Decimal]:
    """For each pair, the best product of zero-size marginal prices (fees included) along a path of
    at most MAX_HOPS venues, in human units of tokenOut per tokenIn: no route of the pair pays more
    per unit at any size. 0 when no path connects the pair."""
    tokens = sorted(
        {t for p in market.pools for t in (p.token_a, p.token_b)}
        | {t for d in market.desks for t in (d.base, d.quote)}
    )
    edges: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)  # base units out per base unit in
    for a in tokens:
        for b in tokens:
            if a != b:
                rate = max((v.marginal0() for v in hop_venues(market, a, b)), default=Decimal(0))
                if rate > 0:
                    edges[a].append((b, rate))
    agg = market.aggregator
    if agg is not None and agg.in_amount > 0:
        # Jupiter quotes only its own pair: its average price is its best marginal's lower bound,
        # and its fitted curve's marginal is o/(a(1-i)); take the fitted one via the venue.
        venue = AggregatorVenue(agg, market.latency.aggregator_ms)
        edges[agg.token_in].append((agg.token_out, venue.marginal0()))
    wanted = list(pairs)
    bounds: dict[tuple[str, str], Decimal] = {}
    sources = {p[0] for p in wanted}
    best_from: dict[str, dict[str, Decimal]] = {}
    for source in sources:
        best: dict[str, Decimal] = {source: Decimal(1)}
        frontier = dict(best)
        for _ in range(MAX_HOPS):  # best product over paths of 1..MAX_HOPS hops (Bellman-Ford rounds)
            nxt: dict[str, Decimal] = {}
            for token, value in frontier.items():
                for to, step in edges.get(token, ()):
                    candidate = _CONTEXT.multiply(value, step)
                    if candidate > nxt.get(to, Decimal(0)):
                        nxt[to] = candidate
            for to, value in nxt.items():
                if value > best.get(to, Decimal(0)):
                    best[to] = value
            frontier = nxt
        best_from[source] = best
    for token_in, token_out in wanted:
        base = best_from[token_in].get(token_out, Decimal(0))
        shift = get_token(token_in).decimals - get_token(token_out).decimals
        bounds[(token_in, token_out)] = _CONTEXT.multiply(
            _CONTEXT.multiply(base, Decimal(10) ** shift), _BOUND_SLACK
        )
    return bounds


def evaluate(book: OrderBook, snapshot: Snapshot) -> Evaluation:
    """The orders of ``book`` that ``snapshot`` triggers, and those expired (see the module doc)."""
    cut = bisect.bisect_right(book.expiries, (snapshot.now, "\U0010ffff"))
    expired_ids = {order_id for _, order_id in book.expiries[:cut]}
    quote = _memoised(snapshot.quote)
    market = snapshot.market
    bounds = best_marginal_prices(market, {pair for (pair, kind) in book.sides if kind is RestingType.LIMIT})
    triggered: list[Trigger] = []
    bounded = 0
    for (pair, kind), side in sorted(book.sides.items()):
        if kind is RestingType.LIMIT:
            candidates = side.orders[: bisect.bisect_right(side.prices, bounds[pair])]
            pair_bound: Callable[[int], int | None] | None = None
            for o in candidates:
                if o.order_id in expired_ids:
                    continue
                if pair_bound is None:  # built only for pairs with an order within reach
                    pair_bound = functools.cache(output_bound(market, *pair))  # one solve per amount
                most = pair_bound(o.amount_in)
                if most is not None and most < o.min_amount_out:
                    bounded += 1
                    continue
                out = quote(o.token_in, o.token_out, o.amount_in, o.strategy)
                if out is not None and out >= o.min_amount_out:
                    triggered.append(Trigger(o, amount_out=out))
            continue
        reference = market.mid_price(*pair)
        if reference is None:
            continue
        if kind is RestingType.STOP_LOSS:
            hits = side.orders[bisect.bisect_left(side.prices, reference) :]
        else:
            hits = side.orders[: bisect.bisect_right(side.prices, reference)]
        triggered.extend(Trigger(o, reference=reference) for o in hits if o.order_id not in expired_ids)
    expired = tuple(book.by_id[order_id] for _, order_id in book.expiries[:cut])
    return Evaluation(tuple(triggered), expired, quote.calls, bounded)


def evaluate_naive(orders: Iterable[RestingOrder], snapshot: Snapshot) -> Evaluation:
    """The reference: every order checked on its own (a route quote for every limit order)."""
    triggered: list[Trigger] = []
    expired: list[RestingOrder] = []
    calls = 0
    for o in orders:
        if o.expires_at is not None and o.expires_at <= snapshot.now:
            expired.append(o)
            continue
        if o.order_type is RestingType.LIMIT:
            calls += 1
            out = snapshot.quote(o.token_in, o.token_out, o.amount_in, o.strategy)
            if out is not None and out >= o.min_amount_out:
                triggered.append(Trigger(o, amount_out=out))
            continue
        reference = snapshot.market.mid_price(o.token_in, o.token_out)
        if reference is None:
            continue
        if (o.order_type is RestingType.STOP_LOSS and reference <= o.price) or (
            o.order_type is RestingType.TAKE_PROFIT and reference >= o.price
        ):
            triggered.append(Trigger(o, reference=reference))
    return Evaluation(tuple(triggered), tuple(expired), calls)


class _Memo:
    """A route quote per (pair, amount, strategy) once per tick: equal orders share one quote."""

    def __init__(self, quote: QuoteFn) -> None:
        self._quote = quote
        self._seen: dict[tuple[str, str, int, str], int | None] = {}
        self.calls = 0

    def __call__(self, token_in: str, token_out: str, amount_in: int, strategy: str) -> int | None:
        key = (token_in, token_out, amount_in, strategy)
        if key not in self._seen:
            self.calls += 1
            self._seen[key] = self._quote(*key)
        return self._seen[key]


def _memoised(quote: QuoteFn) -> _Memo:
    return _Memo(quote)


def _price_text(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.8g}" if value.adjusted() < 8 else f"{value:.8e}"
