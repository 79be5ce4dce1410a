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
from routing_engine import Market, Strategy, find_route
from routing_engine.exact_out import find_route_exact_out, max_amount_in_for
from tests.reference_solver import NOW, PRICES, random_market, reference_optimum
from tokens import get_token, to_base_units

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
    found = find_route_exact_out(market, "SOL", "USDC", wanted, Strategy.OPTIMAL_SPLIT, 50)
    a = found.amount_in
    # Never an input that buys less than wanted, and one base unit less does not buy it: the least
    # integer input of the router's own (exact, integer) route.
    assert find_route(market, "SOL", "USDC", a).route.amount_out >= wanted
    assert find_route(market, "SOL", "USDC", a - 1).route.amount_out < wanted
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
