"""Routing breadth and sanity through the API: three-hop routes, outliers, one price impact, no_route.

Runs on SQLite and PostgreSQL (the ``app``/``client`` fixtures), on the seeded venues.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Context, Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from models import AmmPool, LedgerEntry, Order, Trade, db
from payloads import PoolsResponse, QuoteResponse, TradesPage
from tests.test_api import assert_error, balances, check, dec, execute


def _quote(client: Any, query: str) -> dict[str, Any]:
    return check(QuoteResponse, client.get(f"/api/quote?{query}"))


@pytest.mark.parametrize(("token", "amount"), [("RAY", "250"), ("BONK", "2000000000")])
def test_ray_and_bonk_to_jup_route_through_three_hops(client: Any, token: str, amount: str) -> None:
    body = _quote(client, f"tokenIn={token}&tokenOut=JUP&amountIn={amount}")
    route = body["route"]
    assert {leg["hop"] for leg in route["legs"]} == {0, 1, 2}
    for leg in route["legs"]:
        assert leg["path"][0] == token and leg["path"][-1] == "JUP" and len(leg["path"]) == 4
        assert leg["path"][leg["hop"] : leg["hop"] + 2] == [leg["tokenIn"], leg["tokenOut"]]
    assert sum(dec(leg["amountIn"]) for leg in route["legs"] if leg["hop"] == 0) == Decimal(amount)
    assert dec(route["amountOut"]) == sum(dec(leg["amountOut"]) for leg in route["legs"] if leg["hop"] == 2)
    # The certificate covers the three-hop paths: the bound holds and is tight.
    assert dec(route["upperBoundOut"]) >= dec(route["amountOut"])
    assert dec(route["optimalityGapBps"]) <= Decimal("0.01")
    assert route["boundNote"] is None
    # Each three-hop venue combination is a row of the side-by-side table.
    paths = [q for q in body["quotes"] if q["kind"] != "aggregator"]  # Jupiter: offline here
    assert any(q["available"] for q in paths) and all(len(q["path"]) == 4 for q in paths)
    assert body["bestSingle"] is not None and dec(route["amountOut"]) >= dec(body["bestSingle"]["amountOut"])


def test_price_impact_is_one_definition_fees_included_against_the_reference_mid(client: Any) -> None:
    body = _quote(client, "tokenIn=SOL&tokenOut=USDC&amountIn=100")
    reference = dec(body["referencePrice"])

    def impact(amount_in: Decimal, amount_out: Decimal) -> Decimal:
        return ((1 - amount_out / (amount_in * reference)) * 10_000).quantize(Decimal("0.01"))

    route = body["route"]
    assert dec(route["priceImpactBps"]) == impact(Decimal(100), dec(route["amountOut"]))
    assert any(leg["path"] == ["SOL", "USDC"] for leg in route["legs"])
    for leg in route["legs"]:  # each leg against its own pair's mid (SOL→USDC here: the same mid)
        if leg["path"] == ["SOL", "USDC"]:
            assert dec(leg["priceImpactBps"]) == impact(dec(leg["amountIn"]), dec(leg["amountOut"]))
    for q in body["quotes"]:
        if not q["available"]:
            continue
        assert dec(q["priceImpactBps"]) == impact(Decimal(100), dec(q["amountOut"])), q
        # The venue's own size-driven impact leaves its fee out: fee + curve impact ≈ price impact.
        if q["kind"] == "amm":
            assert dec(q["curveImpactBps"]) < dec(q["priceImpactBps"])
            assert abs(dec(q["curveImpactBps"]) + dec(q["feeBps"]) - dec(q["priceImpactBps"])) < 1


def test_a_three_hop_market_order_executes_and_the_ledger_balances(
    app: Flask, client: Any, api_key: str
) -> None:
    pools_before = {p["id"]: p for p in check(PoolsResponse, client.get("/api/liquidity-pools"))["pools"]}
    held = balances(client, api_key)
    order = execute(client, api_key, {"tokenIn": "RAY", "tokenOut": "JUP", "amountIn": "500"})
    fills = check(TradesPage, client.get(f"/api/trades?orderId={order['orderId']}"))["trades"]
    assert {f["hop"] for f in fills} == {0, 1, 2}
    assert sum(dec(f["amountIn"]) for f in fills if f["hop"] == 0) == Decimal(500)
    # What each hop produced, the next hop spent exactly.
    made: dict[str, Decimal] = defaultdict(Decimal)
    for f in fills:
        if f["tokenOut"] != "JUP":
            made[f["tokenOut"]] += dec(f["amountOut"])
        if f["hop"] > 0:
            made[f["tokenIn"]] -= dec(f["amountIn"])
    assert all(v == 0 for v in made.values()), made
    received = sum(dec(f["amountOut"]) for f in fills if f["tokenOut"] == "JUP")
    after = balances(client, api_key)
    assert dec(after["RAY"]["amount"]) == dec(held["RAY"]["amount"]) - 500
    assert dec(after["JUP"]["amount"]) == dec(held["JUP"]["amount"]) + received
    for token in ("SOL", "USDC", "USDT", "BONK"):  # the intermediates never touch the trader's balances
        assert after[token]["amount"] == held[token]["amount"]
    pools_after = {p["id"]: p for p in client.get("/api/liquidity-pools").get_json()["pools"]}
    moved: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in fills:
        moved[(f["venueId"], f["tokenIn"])] += dec(f["amountIn"])
        moved[(f["venueId"], f["tokenOut"])] -= dec(f["amountOut"])
    for pool_id, before in pools_before.items():
        now = pools_after[pool_id]
        for side in ("A", "B"):
            token = before[f"token{side}"]
            change = dec(now[f"reserve{side}"]) - dec(before[f"reserve{side}"])
            assert change == moved[(pool_id, token)], (pool_id, token)
    with app.app_context():
        order_row = db.session.execute(sa.select(Order).where(Order.id == order["orderId"])).scalar_one()
        trade = db.session.execute(sa.select(Trade).where(Trade.order_id == order_row.id)).scalar_one()
        entries = db.session.execute(sa.select(LedgerEntry).where(LedgerEntry.trade_id == trade.id)).scalars()
        by_token: dict[str, int] = defaultdict(int)
        for entry in entries:
            by_token[entry.token] += entry.amount
        assert by_token and all(total == 0 for total in by_token.values()), by_token


def test_a_pair_no_venue_connects_is_no_route_naming_token_out_in_token_units(
    app: Flask, client: Any
) -> None:
    with app.app_context():  # JUP trades only on Orca's JUP/USDC pool: without it nothing reaches JUP
        db.session.execute(sa.delete(AmmPool).where(AmmPool.id == "orca-jup-usdc"))
        db.session.commit()
    body = assert_error(
        client.get("/api/quote?tokenIn=BONK&tokenOut=JUP&amountIn=1000"), 422, "no_route", "tokenOut"
    )
    assert "1000 BONK" in body["error"]["message"]


def test_an_amount_too_small_for_any_route_says_so_in_token_units(client: Any) -> None:
    body = assert_error(
        client.get("/api/quote?tokenIn=BONK&tokenOut=JUP&amountIn=0.00001"), 422, "no_route", "amountIn"
    )
    assert "0.00001 BONK" in body["error"]["message"]
    assert "base units" not in body["error"]["message"]


def test_a_pool_far_from_the_reference_is_rejected_as_an_outlier_with_its_figures(
    app: Flask, client: Any
) -> None:
    # Raydium's SOL/USDC pool at 15 USDC per SOL, a tenth of the others': it would sell SOL ten
    # times too cheap, and a USDC→SOL route would pour everything into it. The pool-implied
    # reference barely moves (the deep SOL/USDT and other SOL/USDC pools keep it near 150).
    with app.app_context():
        pool = db.session.get(AmmPool, "raydium-sol-usdc")
        assert pool is not None
        pool.reserve_b = pool.reserve_b // 10
        db.session.commit()
        own_price = (Decimal(pool.reserve_a) / 10**9) / (Decimal(pool.reserve_b) / 10**6)  # SOL per USDC
    body = _quote(client, "tokenIn=USDC&tokenOut=SOL&amountIn=1000")
    row = next(q for q in body["quotes"] if q["venueId"] == "raydium-sol-usdc")
    assert row["available"] is False and row["rejected"] == "outlier"
    assert row["reason"].startswith("rejected: outlier")
    outlier = row["outlier"]
    twelve_digits = Context(prec=12)  # the figures are given to 12 significant digits
    assert dec(outlier["price"]) == twelve_digits.plus(own_price)
    assert dec(outlier["referencePrice"]) == twelve_digits.plus(dec(body["referencePrice"]))
    deviation = (dec(outlier["price"]) / dec(outlier["referencePrice"]) - 1) * 10_000
    assert abs(dec(outlier["deviationBps"]) - deviation) < Decimal("0.01")
    assert dec(outlier["deviationBps"]) > 2_000
    assert all(leg["venueId"] != "raydium-sol-usdc" for leg in body["route"]["legs"])
    # A real cost, not a fantasy gain of "-10,280,174 bps" (the broken pool pulls the pool-implied
    # reference down a little, so buying at the healthy pools' 150 costs ~4.5% against it).
    assert 0 < dec(body["route"]["priceImpactBps"]) < 1_000
    # The other pools are within the threshold and still routed.
    assert {q["venueId"] for q in body["quotes"] if q.get("rejected")} == {"raydium-sol-usdc"}
