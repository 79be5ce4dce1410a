"""order_book: the batched evaluation of resting orders equals checking each order on its own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import otc_engine
from amm.pools import default_pools
from errors import SolrouteError
from order_book import (
    OrderBook,
    RestingOrder,
    RestingType,
    Snapshot,
    best_marginal_prices,
    evaluate,
    evaluate_naive,
    limit_min_amount_out,
)
from routing_engine import Market, Strategy, find_route
from routing_engine.splitting import output_bound
from tests.reference_solver import NOW, PRICES
from tokens import get_token

PAIRS = (("SOL", "USDC"), ("USDC", "SOL"), ("RAY", "USDC"), ("SOL", "USDT"), ("BONK", "JUP"))


def market_at(sol_usd: Decimal) -> Market:
    prices = dict(PRICES) | {"SOL": sol_usd}
    return Market(default_pools(PRICES), otc_engine.default_desks(PRICES, NOW), prices, NOW)


def quote_on(market: Market):  # type: ignore[no-untyped-def]
    def quote(token_in: str, token_out: str, amount_in: int, strategy: str) -> int | None:
        try:
            return find_route(market, token_in, token_out, amount_in, strategy).route.amount_out
        except SolrouteError:
            return None

    return quote


def order(
    n: int,
    pair: tuple[str, str],
    kind: RestingType,
    amount_in: int,
    price: Decimal,
    expires_at: float | None = None,
) -> RestingOrder:
    minimum = limit_min_amount_out(*pair, amount_in, price) if kind is RestingType.LIMIT else 0
    return RestingOrder(f"o{n:05d}", 1, pair[0], pair[1], kind, amount_in, price, minimum, expires_at)


def ids(evaluation) -> tuple[set[str], set[str]]:  # type: ignore[no-untyped-def]
    return {t.order.order_id for t in evaluation.triggered}, {o.order_id for o in evaluation.expired}


def test_limit_min_amount_out_is_the_exact_ceiling_in_base_units() -> None:
    # 1.5 SOL at 150.0000005 USDC: 225.00000075 USDC, which is 225000000.75 base units -> ...001
    assert limit_min_amount_out("SOL", "USDC", 1_500_000_000, Decimal("150.0000005")) == 225_000_001
    assert limit_min_amount_out("SOL", "USDC", 10**9, Decimal(150)) == 150 * 10**6
    # BONK has 5 decimals, USDC 6: 1 BONK unit at 0.00002 USDC is 0.0002 USDC units -> 1
    assert limit_min_amount_out("BONK", "USDC", 1, Decimal("0.00002")) == 1


def test_a_stop_triggers_at_its_trigger_and_a_take_profit_at_its_own() -> None:
    market = market_at(Decimal(150))
    book = OrderBook.of(
        [
            order(1, ("SOL", "USDC"), RestingType.STOP_LOSS, 10**9, Decimal(150)),
            order(2, ("SOL", "USDC"), RestingType.STOP_LOSS, 10**9, Decimal("149.99")),
            order(3, ("SOL", "USDC"), RestingType.TAKE_PROFIT, 10**9, Decimal(150)),
            order(4, ("SOL", "USDC"), RestingType.TAKE_PROFIT, 10**9, Decimal("150.01")),
            order(5, ("SOL", "USDC"), RestingType.STOP_LOSS, 10**9, Decimal(200), expires_at=NOW),
        ]
    )
    result = evaluate(book, Snapshot(market, NOW, quote_on(market)))
    assert ids(result) == ({"o00001", "o00003"}, {"o00005"})
    stop = next(t for t in result.triggered if t.order.order_id == "o00001")
    assert stop.message == "stop triggered: reference 150 <= trigger 150"


def test_a_limit_above_every_paths_best_marginal_price_is_never_quoted() -> None:
    market = market_at(Decimal(150))
    bound = best_marginal_prices(market, [("SOL", "USDC")])[("SOL", "USDC")]
    assert Decimal(149) < bound < Decimal(151)  # fees and spreads below the 150 mid; pools at 150
    calls: list[int] = []
    quote = quote_on(market)

    def counted(token_in: str, token_out: str, amount_in: int, strategy: str) -> int | None:
        calls.append(amount_in)
        return quote(token_in, token_out, amount_in, strategy)

    orders = [order(i, ("SOL", "USDC"), RestingType.LIMIT, 10**9 * (i + 1), bound + i + 1) for i in range(50)]
    orders.append(order(99, ("SOL", "USDC"), RestingType.LIMIT, 10**9, Decimal(140)))
    result = evaluate(OrderBook.of(orders), Snapshot(market, NOW, counted))
    assert ids(result) == ({"o00099"}, set())
    assert calls == [10**9] and result.quotes == 1
    (hit,) = result.triggered
    assert hit.amount_out is not None and hit.amount_out >= 140 * 10**6
    assert hit.message.startswith("limit reached: best route pays ") and hit.message.endswith(
        "USDC for 1 SOL (limit 140)"
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sol_usd=st.decimals(min_value=Decimal(120), max_value=Decimal(180), places=2),
    specs=st.lists(
        st.tuples(
            st.sampled_from(PAIRS),
            st.sampled_from(list(RestingType)),
            st.integers(min_value=1, max_value=10**6),  # whole-ish units, scaled by the token
            st.decimals(min_value=Decimal("0.9"), max_value=Decimal("1.1"), places=4),
            st.one_of(st.none(), st.floats(min_value=NOW - 10, max_value=NOW + 10)),
        ),
        max_size=40,
    ),
)
def test_evaluate_equals_the_naive_per_order_check(
    sol_usd: Decimal, specs: list[tuple[tuple[str, str], RestingType, int, Decimal, float | None]]
) -> None:
    market = market_at(sol_usd)
    orders = []
    for n, (pair, kind, units, ratio, expires_at) in enumerate(specs):
        reference = market.mid_price(*pair)
        assert reference is not None
        amount_in = units * get_token(pair[0]).unit // 1_000  # 0.001 to 1,000 tokens
        price = (reference * ratio).quantize(Decimal("1e-12")) or Decimal("1e-12")
        orders.append(order(n, pair, kind, max(1, amount_in), price, expires_at))
    snapshot = Snapshot(market, NOW, quote_on(market))
    batched, naive = evaluate(OrderBook.of(orders), snapshot), evaluate_naive(orders, snapshot)
    assert ids(batched) == ids(naive)
    assert sorted(t.message for t in batched.triggered) == sorted(t.message for t in naive.triggered)
    assert batched.quotes <= naive.quotes


@settings(max_examples=40, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    units=st.integers(min_value=1, max_value=10**9),
    sol_usd=st.decimals(min_value=Decimal(100), max_value=Decimal(200), places=2),
)
def test_no_route_pays_more_per_unit_than_the_bound(
    pair: tuple[str, str], units: int, sol_usd: Decimal
) -> None:
    market = market_at(sol_usd)
    bound = best_marginal_prices(market, [pair])[pair]
    out = quote_on(market)(pair[0], pair[1], units, "OPTIMAL_SPLIT")
    if out is None:
        return
    paid = Decimal(out) / get_token(pair[1]).unit / (Decimal(units) / get_token(pair[0]).unit)
    assert paid <= bound


@pytest.mark.parametrize("kind", list(RestingType))
def test_an_order_without_a_reference_price_waits(kind: RestingType) -> None:
    market = Market(default_pools(PRICES), (), {}, NOW)  # no USD prices: no reference
    o = order(1, ("SOL", "USDC"), kind, 10**9, Decimal(1))
    result = evaluate(OrderBook.of([o]), Snapshot(market, NOW, quote_on(market)))
    assert ids(result) == (({"o00001"} if kind is RestingType.LIMIT else set()), set())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pair=st.sampled_from((*PAIRS, ("JUP", "BONK"), ("RAY", "JUP"))),
    units=st.integers(min_value=1, max_value=10**7),
    sol_usd=st.decimals(min_value=Decimal(100), max_value=Decimal(200), places=2),
    strategy=st.sampled_from(list(Strategy)),
)
def test_no_route_of_any_strategy_pays_more_than_the_pairs_output_bound(
    pair: tuple[str, str], units: int, sol_usd: Decimal, strategy: Strategy
) -> None:
    market = market_at(sol_usd)  # pools at the seed prices, the reference moved: mispriced venues
    amount_in = max(1, units * get_token(pair[0]).unit // 1_000)
    out = quote_on(market)(pair[0], pair[1], amount_in, strategy.value)
    bound = output_bound(market, *pair)(amount_in)
    if out is not None and bound is not None:
        assert out <= bound


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sol_usd=st.decimals(min_value=Decimal(120), max_value=Decimal(180), places=2),
    specs=st.lists(
        st.tuples(
            st.sampled_from(PAIRS),
            st.integers(min_value=1, max_value=10**7),
            st.integers(min_value=-30, max_value=30),  # the limit, bps from what the route pays
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_evaluate_equals_the_naive_check_for_limits_at_the_edge_of_the_route(
    sol_usd: Decimal, specs: list[tuple[tuple[str, str], int, int]]
) -> None:
    """Limits a few bps either side of the route's own price: where the dual bound must be tight
    enough to rule some out and must never rule out one that fills."""
    market = market_at(sol_usd)
    quote = quote_on(market)
    orders = []
    for n, (pair, units, bps) in enumerate(specs):
        amount_in = max(1, units * get_token(pair[0]).unit // 1_000)
        out = quote(pair[0], pair[1], amount_in, "OPTIMAL_SPLIT")
        if out is None:
            continue
        paid = Decimal(out) / get_token(pair[1]).unit / (Decimal(amount_in) / get_token(pair[0]).unit)
        price = (paid * (1 + Decimal(bps) / 10_000)).quantize(Decimal("1e-12")) or Decimal("1e-12")
        orders.append(order(n, pair, RestingType.LIMIT, amount_in, price))
    snapshot = Snapshot(market, NOW, quote)
    batched, naive = evaluate(OrderBook.of(orders), snapshot), evaluate_naive(orders, snapshot)
    assert ids(batched) == ids(naive)
    assert batched.quotes + batched.bounded <= len(orders)


def test_the_bound_spares_the_route_quote_of_a_limit_just_out_of_reach() -> None:
    """Between what 50 SOL pay and the best zero-size marginal price: the marginal bound lets the
    limit through, the split's dual bound for 50 SOL rules it out without a route quote."""
    market = market_at(Decimal(150))
    quote = quote_on(market)
    amount_in = 50 * 10**9
    out = quote("SOL", "USDC", amount_in, "OPTIMAL_SPLIT")
    assert out is not None
    paid = Decimal(out) / 10**6 / 50
    marginal = best_marginal_prices(market, [("SOL", "USDC")])[("SOL", "USDC")]
    limit = ((paid + marginal) / 2).quantize(Decimal("1e-9"))
    assert paid < limit < marginal
    o = order(1, ("SOL", "USDC"), RestingType.LIMIT, amount_in, limit)
    result = evaluate(OrderBook.of([o]), Snapshot(market, NOW, quote))
    assert result.triggered == () and result.quotes == 0 and result.bounded == 1


@settings(max_examples=80, deadline=None)
@given(
    first=st.lists(
        st.tuples(
            st.integers(0, 30),
            st.sampled_from(PAIRS),
            st.sampled_from(list(RestingType)),
            st.integers(1, 1000),
            st.one_of(st.none(), st.integers(0, 20)),
        ),
        max_size=30,
    ),
    upserts=st.lists(
        st.tuples(
            st.integers(0, 40),
            st.sampled_from(PAIRS),
            st.sampled_from(list(RestingType)),
            st.integers(1, 1000),
            st.one_of(st.none(), st.integers(0, 20)),
        ),
        max_size=10,
    ),
    removed=st.lists(st.integers(0, 45), max_size=10),
)
def test_an_updated_book_equals_the_book_of_its_orders(
    first: list[tuple[int, tuple[str, str], RestingType, int, int | None]],
    upserts: list[tuple[int, tuple[str, str], RestingType, int, int | None]],
    removed: list[int],
) -> None:
    def make(spec: tuple[int, tuple[str, str], RestingType, int, int | None]) -> RestingOrder:
        n, pair, kind, price, expires = spec
        return order(n, pair, kind, 10**6, Decimal(price) / 100, None if expires is None else NOW + expires)

    start = {o.order_id: o for o in map(make, first)}
    changes = [make(spec) for spec in upserts]
    gone = [f"o{n:05d}" for n in removed]
    final = dict(start)
    for order_id in gone:
        final.pop(order_id, None)
    for o in changes:
        final[o.order_id] = o
    updated = OrderBook.of(start.values()).updated(changes, gone)
    expected = OrderBook.of(final.values())
    assert dict(updated.sides) == dict(expected.sides)
    assert updated.expiries == expected.expiries and dict(updated.by_id) == dict(expected.by_id)
