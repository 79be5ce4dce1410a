"""Portfolio and P&L through the API, on SQLite and PostgreSQL, against hand-computed figures.

An account funded with 10,000 USDC (anchored at $1: the trades' USD values below are exact)
buys SOL twice, sells part of it, and then watches another account's sale move SOL's price.
Average cost: cost += value bought; a sale removes cost × sold ÷ quantity (8 places, half-even)
and realises proceeds − removed. Proceeds of a sale for USDC are the USDC received; the cost of
SOL bought with USDC is the USDC paid (pnl.trade_value_usd).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from payloads import PortfolioResponse
from pnl import USD_STEP, Holding, bought, sold, trade_value_usd
from tests.test_api import auth, check, dec, execute
from venue_state import create_account

E8 = Decimal("0.00000001")


def portfolio(client: Any, key: str, bucket: str = "hour") -> dict[str, Any]:
    r = client.get(f"/api/accounts/me/portfolio?bucket={bucket}", headers=auth(key))
    assert r.status_code == 200, r.get_json()
    return check(PortfolioResponse, r)


def holding(body: dict[str, Any], token: str) -> dict[str, Any]:
    return next(h for h in body["holdings"] if h["token"] == token)


def account(app: Flask, name: str, funding: dict[str, str]) -> str:
    from models import db

    with app.app_context():
        _, key = create_account(db.session, name, funding=funding)
        db.session.commit()
    return key


def removed_cost(cost: Decimal, sold_units: int, quantity: int) -> Decimal:
    return (cost * sold_units / quantity).quantize(E8, rounding=ROUND_HALF_EVEN)


def test_buy_buy_partial_sell_and_a_price_move_give_the_hand_computed_pnl(app: Flask, client: Any) -> None:
    # JUP trades on one pool (Orca JUP/USDC) and no desk: another account's sale moves its price.
    key = account(app, "pnl-trader", {"USDC": "10000"})
    start = portfolio(client, key)
    usdc = holding(start, "USDC")
    assert (dec(usdc["costBasisUsd"]), dec(usdc["averageCostUsd"]), dec(usdc["realisedPnlUsd"])) == (
        Decimal(10000),
        Decimal(1),
        Decimal(0),
    )

    first = execute(client, key, {"tokenIn": "USDC", "tokenOut": "JUP", "amountIn": "150"})
    second = execute(client, key, {"tokenIn": "USDC", "tokenOut": "JUP", "amountIn": "300"})
    q1, q2 = dec(first["amountOut"]), dec(second["amountOut"])
    body = portfolio(client, key)
    jup = holding(body, "JUP")
    assert dec(jup["amount"]) == q1 + q2
    assert dec(jup["costBasisUsd"]) == Decimal(450)  # the USDC paid
    assert dec(jup["realisedPnlUsd"]) == 0
    assert abs(dec(jup["averageCostUsd"]) - Decimal(450) / (q1 + q2)) < Decimal("1e-9")
    usdc = holding(body, "USDC")
    assert dec(usdc["costBasisUsd"]) == Decimal(9550) and dec(usdc["realisedPnlUsd"]) == 0

    # Sell 40% of the JUP: proceeds are the USDC received; cost removed in proportion.
    units = int((q1 + q2) * 10**6)
    sell_units = units * 2 // 5
    sale = execute(
        client, key, {"tokenIn": "JUP", "tokenOut": "USDC", "amountIn": f"{Decimal(sell_units) / 10**6:f}"}
    )
    proceeds = dec(sale["amountOut"])
    removed = removed_cost(Decimal(450), sell_units, units)
    body = portfolio(client, key)
    jup = holding(body, "JUP")
    assert dec(jup["amount"]) == Decimal(units - sell_units) / 10**6
    assert dec(jup["costBasisUsd"]) == Decimal(450) - removed
    assert dec(jup["realisedPnlUsd"]) == proceeds - removed
    usdc = holding(body, "USDC")
    assert dec(usdc["costBasisUsd"]) == Decimal(9550) + proceeds
    assert dec(usdc["realisedPnlUsd"]) == 0
    # The day's figures: the three trades' values, and the one sale's realised P&L.
    assert dec(body["totals"]["todayNotionalUsd"]) == Decimal(150) + Decimal(300) + proceeds
    assert dec(body["totals"]["todayRealisedPnlUsd"]) == proceeds - removed

    # Another account sells JUP: the pool's JUP price falls, and the unrealised P&L with it.
    before = dec(jup["priceUsd"])
    unrealised_before = dec(jup["unrealisedPnlUsd"])
    whale = account(app, "pnl-whale", {"JUP": "20000"})
    dump = {"tokenIn": "JUP", "tokenOut": "USDC", "amountIn": "20000", "slippageBps": 3000}
    execute(client, whale, dump | {"acceptHighImpact": True})
    body = portfolio(client, key)
    jup = holding(body, "JUP")
    price = dec(jup["priceUsd"])
    assert price < before
    assert dec(jup["costBasisUsd"]) == Decimal(450) - removed  # cost does not move with the price
    remaining = Decimal(units - sell_units) / 10**6
    assert abs(dec(jup["valueUsd"]) - remaining * price) <= Decimal("1e-7")
    assert dec(jup["unrealisedPnlUsd"]) == dec(jup["valueUsd"]) - dec(jup["costBasisUsd"])
    assert dec(jup["unrealisedPnlUsd"]) < unrealised_before

    # Totals: trades move P&L between holdings and never make any: cost − realised is what was
    # deposited (10,000 USDC at $1), and total P&L = value − 10,000.
    totals = body["totals"]
    assert dec(totals["costBasisUsd"]) - dec(totals["realisedPnlUsd"]) == Decimal(10000)
    assert dec(totals["totalPnlUsd"]) == dec(totals["realisedPnlUsd"]) + dec(totals["unrealisedPnlUsd"])
    assert abs(dec(totals["valueUsd"]) - sum(dec(h["valueUsd"]) for h in body["holdings"])) <= E8
    assert abs(dec(totals["totalPnlUsd"]) - (dec(totals["valueUsd"]) - 10000)) <= E8 * 3


def test_value_history_walks_back_from_the_balances_by_the_ledger(app: Flask, client: Any) -> None:
    key = account(app, "history-trader", {"USDC": "10000"})
    execute(client, key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "1500"})
    body = portfolio(client, key, "hour")
    assert body["bucket"] == "hour" and len(body["history"]) == 48
    assert [p["at"] for p in body["history"]] == sorted(p["at"] for p in body["history"])
    # Before the account existed it held nothing; its last bucket is its value now.
    assert body["history"][0]["valueUsd"] == 0.0
    assert abs(body["history"][-1]["valueUsd"] - float(dec(body["totals"]["valueUsd"]))) < 0.01
    daily = portfolio(client, key, "day")
    assert daily["bucket"] == "day" and len(daily["history"]) == 30


def test_portfolio_needs_an_account_and_a_known_bucket(client: Any, api_key: str) -> None:
    assert client.get("/api/accounts/me/portfolio").status_code == 401
    r = client.get("/api/accounts/me/portfolio?bucket=minute", headers=auth(api_key))
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "bucket"


def test_the_demo_account_is_funded_at_cost_and_priced_with_sources(client: Any, api_key: str) -> None:
    body = portfolio(client, api_key)
    tokens = {h["token"] for h in body["holdings"]}
    assert {"SOL", "USDC", "USDT", "JUP", "RAY", "BONK"} <= tokens
    for h in body["holdings"]:
        assert h["priceSource"] and dec(h["costBasisUsd"]) > 0
        assert dec(h["realisedPnlUsd"]) == 0
    # The demo account can place the largest order the trade page invites (its Max) in USD terms.
    assert dec(body["totals"]["valueUsd"]) > 500_000


# --- the average-cost arithmetic ----------------------------------------------------------------

steps = st.lists(
    st.tuples(st.booleans(), st.integers(1, 10**12), st.decimals(0, 10**6, places=8)), max_size=30
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_cost_less_realised_is_what_was_bought_less_what_was_sold_for(moves: list[Any]) -> None:
    h, paid, received = Holding(), Decimal(0), Decimal(0)
    for is_buy, units, value in moves:
        if is_buy:
            h, paid = bought(h, units, value), paid + value
        else:
            h, _ = sold(h, units, value)
            received += value
        assert h.quantity >= 0 and h.cost_usd >= 0
        assert h.cost_usd == h.cost_usd.quantize(USD_STEP)
    assert h.cost_usd - h.realised_pnl_usd == paid - received
    if h.quantity == 0:
        assert h.cost_usd == 0


def test_a_trade_is_valued_at_its_stablecoin_side() -> None:
    prices = {"SOL": Decimal("150"), "USDC": Decimal("1")}
    # Selling SOL for USDC: the USDC received; buying SOL with USDC: the USDC paid.
    assert trade_value_usd("SOL", 10**9, "USDC", 149_000_000, prices) == Decimal("149")
    assert trade_value_usd("USDC", 151_000_000, "SOL", 10**9, prices) == Decimal("151")
    # Neither side a stablecoin: what was paid at its reference price.
    assert trade_value_usd("SOL", 10**9, "JUP", 10**6, prices | {"JUP": Decimal("0.8")}) == Decimal("150")


def test_value_history_values_a_bucket_at_its_recorded_reference_price(app: Flask, client: Any) -> None:
    """Market history (dataset "live") prices the buckets it covers: the last recorded price of a
    bucket values what was held then, instead of the trades' prices."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from models import LedgerEntry, PriceHistory, db

    key = account(app, "recorded-trader", {"USDC": "10000"})
    execute(client, key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "1500"})
    body = portfolio(client, key, "hour")
    sol, usdc = Decimal(holding(body, "SOL")["amount"]), Decimal(holding(body, "USDC")["amount"])
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    earlier = hour - timedelta(hours=3)
    with app.app_context():
        # The account's funding and trade, five hours ago: it held this SOL and USDC three hours ago.
        account_id = body["accountId"]
        for entry in db.session.scalars(sa.select(LedgerEntry).where(LedgerEntry.account_id == account_id)):
            entry.created_at -= timedelta(hours=5)
        for t, price in ((earlier + timedelta(minutes=1), 111), (earlier + timedelta(minutes=59), 333)):
            db.session.add(
                PriceHistory(
                    dataset="live",
                    token="SOL",
                    source="test",
                    t=t,
                    price=Decimal(price),
                    price_usd=float(price),
                )
            )
        db.session.commit()
    points = {p["at"]: p["valueUsd"] for p in portfolio(client, key, "hour")["history"]}
    at = earlier.strftime("%Y-%m-%dT%H:%M:%SZ")
    # the bucket's last recorded SOL price (333, not 111 nor the trades' ~150); USDC at about $1
    assert abs(points[at] - float(sol * 333 + usdc)) < float(usdc) * 0.01
    assert abs(points[at] - float(sol * 111 + usdc)) > 100
