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
from routing_engine import Market, find_route
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
