"""Exact-out: the solver against an independent inverse of the reference split, then quote and execute
through the API on both databases (balances exact: spent + released = held; received ≥ wanted)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import otc_engine
from amm.pools import default_pools
from errors import InsufficientLiquidityError, ValidationError
from routing_engine import Market, RouterConfig, Strategy, find_route
from routing_engine.exact_out import find_route_exact_out, max_amount_in_for
from tests.direct_orders import write_and_dispatch
from tests.reference_solver import NOW, PRICES, random_market, reference_optimum
from tests.stack import book_problems, venue_seed
from tests.waiting import wait_final
from tokens import format_amount, get_token, to_base_units

ONE_SOL = 10**9
LEAST_INPUT_TOLERANCE = 1e-6  # 0.01 bps


def reference_least_input(market: Market, amount_out: int, near: int, via: tuple[str, ...]) -> float:
    """The least continuous input whose optimal split (the SLSQP reference) pays ``amount_out``:
    the root of reference_optimum(a) = amount_out, by Brent's method, bracketed around ``near``."""

    def short(a: float) -> float:
        return reference_optimum(market, "SOL", "USDC", a, via=via) - amount_out  # type: ignore[arg-type]

    lo, hi = near * 0.98, near * 1.02
    while short(lo) > 0:
        lo *= 0.9
    while short(hi) < 0:
        hi *= 1.1
    return float(brentq(short, lo, hi, xtol=1e-3, rtol=1e-12))


EXACT = RouterConfig(min_gain_bps_per_leg=Decimal(0))


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n_venues=st.integers(2, 12),
    log_share=st.floats(-4.0, -0.8),
    two_hop=st.booleans(),
)
def test_exact_out_finds_the_least_input_of_the_independent_reference(
    seed: int, n_venues: int, log_share: float, two_hop: bool
) -> None:
    market, depth = random_market(random.Random(seed), n_venues, two_hop=two_hop)
    # A share of the pools' depth, in USDC base units at ~150 USDC per SOL.
    wanted = max(10**6, int(depth * 150 // 1000 * 10**log_share))
    # The router's minimum gain per extra leg gives up a little output on purpose: compared with
    # the exact optimum, the split is the exact one (as in test_router's optimality tests).
    found = find_route_exact_out(market, "SOL", "USDC", wanted, Strategy.OPTIMAL_SPLIT, 50, EXACT)
    a = found.amount_in
    # Never an input that buys less than wanted, and one base unit less does not buy it: the least
    # integer input of the router's own (exact, integer) route.
    assert find_route(market, "SOL", "USDC", a, config=EXACT).route.amount_out >= wanted
    assert find_route(market, "SOL", "USDC", a - 1, config=EXACT).route.amount_out < wanted
    assert found.result.route.amount_out >= wanted and found.result.amount_in == a
    assert found.result.route.min_amount_out == wanted
    # Within 0.01 bps of the least input any split needs (the continuous reference's).
    reference = reference_least_input(market, wanted, a, ("USDT",) if two_hop else ())
    assert a <= reference * (1 + LEAST_INPUT_TOLERANCE), f"input {a} vs reference {reference:.1f}"
    assert a >= reference * (1 - LEAST_INPUT_TOLERANCE), f"input {a} vs reference {reference:.1f}"


@pytest.fixture(scope="module")
def default_market() -> Market:
    return Market(default_pools(PRICES), otc_engine.default_desks(PRICES, NOW), PRICES, NOW)


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest.mark.parametrize(("token_in", "token_out", "wanted"), [
    ("SOL", "USDC", "150"),
    ("SOL", "USDC", "250000"),
    ("USDC", "SOL", "3.5"),
    ("SOL", "BONK", "1000000"),
    ("RAY", "USDC", "0.000007"),
])  # fmt: skip
def test_every_strategy_finds_its_own_least_input(
    default_market: Market, strategy: Strategy, token_in: str, token_out: str, wanted: str
) -> None:
    target = to_base_units(get_token(token_out), wanted)
    found = find_route_exact_out(default_market, token_in, token_out, target, strategy, 50)
    a = found.amount_in
    assert find_route(default_market, token_in, token_out, a, strategy).route.amount_out >= target
    if a > 1:
        assert find_route(default_market, token_in, token_out, a - 1, strategy).route.amount_out < target
    assert found.evaluations <= 40


@pytest.mark.parametrize(("amount_in", "slippage_bps", "expected"), [
    (10_000, 50, 10_050),
    (10_001, 50, 10_052),  # 10,051.005 rounds up
    (1, 1, 2),
    (7, 0, 7),
])  # fmt: skip
def test_max_amount_in_adds_slippage_rounded_up(amount_in: int, slippage_bps: int, expected: int) -> None:
    assert max_amount_in_for(amount_in, slippage_bps) == expected


def test_more_than_the_venues_hold_is_refused_naming_amount_out(default_market: Market) -> None:
    usdc_held = sum(p.reserve_b for p in default_market.pools if p.token_b == "USDC")
    with pytest.raises(InsufficientLiquidityError) as caught:
        find_route_exact_out(default_market, "SOL", "USDC", usdc_held * 2)
    assert caught.value.field == "amountOut"


@pytest.mark.parametrize("amount_out", [0, -5, True])
def test_a_non_positive_amount_out_is_refused(default_market: Market, amount_out: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        find_route_exact_out(default_market, "SOL", "USDC", amount_out)
    assert caught.value.field == "amountOut"


# --- the API ---------------------------------------------------------------------------------------


def units(symbol: str, text: str) -> int:
    return to_base_units(get_token(symbol), Decimal(text))


def balances(client: Any, key: str) -> dict[str, dict[str, int]]:
    body = client.get("/api/accounts/me", headers={"X-API-Key": key}).get_json()
    return {
        b["token"]: {"amount": units(b["token"], b["amount"]), "reserved": units(b["token"], b["reserved"])}
        for b in body["balances"]
    }


def quote(client: Any, **params: Any) -> Any:
    return client.get("/api/quote", query_string={"tokenIn": "SOL", "tokenOut": "USDC", **params})


def test_a_quote_for_an_exact_amount_out_gives_the_least_input_and_max_amount_in(client: Any) -> None:
    r = quote(client, amountOut="1500", slippageBps=80)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["exactSide"] == "out" and body["amountOutWanted"] == "1500"
    needed = units("SOL", body["amountIn"])
    assert units("SOL", body["maxAmountIn"]) == max_amount_in_for(needed, 80)
    assert units("USDC", body["route"]["amountOut"]) >= units("USDC", "1500")
    assert body["route"]["minAmountOut"] == "1500"  # exact out: the slippage is on the input
    assert body["quoteId"] and body["expiresAt"]
    # One base unit less of input does not buy it (the router's exact answer for the same market).
    smaller = quote(client, amountIn=format_units("SOL", needed - 1), slippageBps=80).get_json()
    assert units("USDC", smaller["route"]["amountOut"]) < units("USDC", "1500")


def test_an_exact_in_quote_says_so(client: Any) -> None:
    body = quote(client, amountIn="2").get_json()
    assert body["exactSide"] == "in" and body["amountOutWanted"] is None and body["maxAmountIn"] is None


@pytest.mark.parametrize(("params", "status", "field"), [
    ({"amountIn": "1", "amountOut": "150"}, 400, "amountOut"),
    ({}, 400, "amountIn"),
    ({"amountOut": "0"}, 400, "amountOut"),
    ({"amountOut": "-3"}, 400, "amountOut"),
    ({"amountOut": "1.0000001"}, 400, "amountOut"),  # USDC has 6 decimals
    ({"amountOut": "900000000000"}, 422, "amountOut"),  # more than every pool holds
])  # fmt: skip
def test_a_quote_needs_exactly_one_valid_side(
    client: Any, params: dict[str, str], status: int, field: str
) -> None:
    r = quote(client, **params)
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["field"] == field


def format_units(symbol: str, amount: int) -> str:
    return format_amount(symbol, amount)


def submit(client: Any, key: str, body: dict[str, Any]) -> Any:
    return client.post("/api/orders/execute", json=body, headers={"X-API-Key": key})


def test_an_exact_out_order_buys_at_least_the_amount_and_releases_the_unspent_hold(
    app: Any, client: Any, api_key: str, database_url: str
) -> None:
    seed = venue_seed(database_url)
    before = balances(client, api_key)
    r = submit(
        client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountOut": "3000", "slippageBps": 100}
    )
    assert r.status_code == 202, r.get_json()
    order = wait_final(client, r.get_json()["orderId"], api_key)
    assert order["status"] == "confirmed", order
    held = units("SOL", order["amountIn"])  # maxAmountIn
    spent, received = units("SOL", order["filledAmountIn"]), units("USDC", order["filledAmountOut"])
    assert order["exactSide"] == "out" and order["amountOutWanted"] == "3000"
    assert received >= units("USDC", "3000")
    assert 0 < spent < held  # the market did not move: the least input, well inside the slippage
    assert held == max_amount_in_for(spent, 100)  # same venues at quote and execution: same input
    after = balances(client, api_key)
    assert after["SOL"]["amount"] == before["SOL"]["amount"] - spent  # spent; the rest released
    assert after["SOL"]["reserved"] == before["SOL"]["reserved"]
    assert after["USDC"]["amount"] == before["USDC"]["amount"] + received
    assert sum(units("SOL", leg["amountIn"]) for leg in order["legs"] if leg["hop"] == 0) == spent
    import sqlalchemy as sa

    from models import LedgerEntry, Trade, db

    with app.app_context():
        trade = db.session.execute(sa.select(Trade).where(Trade.order_id == order["orderId"])).scalar_one()
        assert (trade.amount_in, trade.amount_out) == (spent, received)
        entries = db.session.execute(sa.select(LedgerEntry).where(LedgerEntry.trade_id == trade.id)).scalars()
        by_token: dict[str, int] = {}
        sold = 0
        for e in entries:
            by_token[e.token] = by_token.get(e.token, 0) + e.amount
            if e.memo == "sold":
                sold = e.amount
        assert sold == -spent and all(v == 0 for v in by_token.values()), by_token
    assert book_problems(database_url, seed) == []  # balances, ledger, pools and fills reconcile


@pytest.mark.parametrize(("body", "field"), [
    ({"amountIn": "1", "amountOut": "150"}, "amountOut"),
    ({"amountOut": "150", "minAmountOut": "149"}, "minAmountOut"),
    ({"amountOut": "0"}, "amountOut"),
])  # fmt: skip
def test_a_malformed_exact_out_order_is_refused_naming_the_field(
    client: Any, api_key: str, body: dict[str, Any], field: str
) -> None:
    r = submit(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", **body})
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["error"]["field"] == field


def test_an_exact_out_order_more_than_the_balance_holds_is_refused(client: Any, api_key: str) -> None:
    r = submit(client, api_key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountOut": "5000"})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] == "insufficient_balance"
    assert r.get_json()["error"]["field"] == "amountOut"


def test_an_exact_out_order_fails_when_the_least_input_now_exceeds_its_hold(
    app: Any, client: Any, api_key: str
) -> None:
    least = units("SOL", quote(client, amountOut="3000").get_json()["amountIn"])
    before = balances(client, api_key)
    order_id = write_and_dispatch(
        app,
        token_in="SOL",
        token_out="USDC",
        amount_in=least - 1,  # the hold of an order quoted before the price fell a little
        slippage_bps=0,
        quoted_amount_out=units("USDC", "3000"),
        min_amount_out=units("USDC", "3000"),
        columns={"exact_side": "out", "amount_out_wanted": units("USDC", "3000")},
    )
    order = wait_final(client, order_id, api_key)
    assert order["status"] == "failed" and order["error"]["code"] == "slippage_exceeded", order
    assert "maxAmountIn" in order["error"]["message"] and "nothing was traded" in order["error"]["message"]
    assert balances(client, api_key) == before  # the hold released, nothing spent


def test_a_market_order_whose_minimum_no_route_reaches_is_refused_at_submission(
    client: Any, api_key: str
) -> None:
    before = balances(client, api_key)
    orders_before = client.get("/api/orders", headers={"X-API-Key": api_key}).get_json()["total"]
    best = units("USDC", quote(client, amountIn="2").get_json()["route"]["amountOut"])
    wanted = format_units("USDC", best + 1)
    r = submit(
        client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2", "minAmountOut": wanted}
    )
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "min_amount_out_unreachable" and error["field"] == "minAmountOut"
    assert error["details"] == {"bestAmountOut": format_units("USDC", best), "minAmountOut": wanted}
    assert format_units("USDC", best) in error["message"]
    assert client.get("/api/orders", headers={"X-API-Key": api_key}).get_json()["total"] == orders_before
    assert balances(client, api_key) == before
    # The best amount itself is reachable: accepted.
    ok = submit(
        client,
        api_key,
        {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2", "minAmountOut": format_units("USDC", best)},
    )
    assert ok.status_code == 202, ok.get_json()


@pytest.mark.parametrize(("own_minimum", "says"), [
    (True, "the order's own minAmountOut"),
    (False, "less slippageBps 50"),
])  # fmt: skip
def test_the_execution_time_shortfall_names_where_the_minimum_came_from(
    app: Any, client: Any, api_key: str, own_minimum: bool, says: str
) -> None:
    best = units("USDC", quote(client, amountIn="2").get_json()["route"]["amountOut"])
    quoted = best * 2  # a quote from a market that has moved a lot since
    minimum = best + 1 if own_minimum else quoted * (10_000 - 50) // 10_000
    order_id = write_and_dispatch(
        app,
        token_in="SOL",
        token_out="USDC",
        amount_in=2 * ONE_SOL,
        slippage_bps=50,
        quoted_amount_out=quoted,
        min_amount_out=minimum,
    )
    order = wait_final(client, order_id, api_key)
    assert order["status"] == "failed" and order["error"]["code"] == "slippage_exceeded", order
    message = order["error"]["message"]
    assert says in message and format_units("USDC", minimum) in message, message
    assert "bps tolerance" not in message


def test_an_amount_near_a_desks_limit_is_found_below_it() -> None:
    """Only a desk trades the pair: above its maximum there is no route at all, so the search must
    look below that limit rather than call the amount unreachable."""
    desk = otc_engine.default_desks(PRICES, NOW)[0]
    market = Market((), (desk,), PRICES, NOW)
    token_in, token_out = desk.base, desk.quote
    top = find_route(market, token_in, token_out, desk.max_size).route.amount_out
    found = find_route_exact_out(market, token_in, token_out, top - 1)
    assert found.amount_in <= desk.max_size
    assert find_route(market, token_in, token_out, found.amount_in).route.amount_out >= top - 1
    with pytest.raises(InsufficientLiquidityError):
        find_route_exact_out(market, token_in, token_out, top * 2)
