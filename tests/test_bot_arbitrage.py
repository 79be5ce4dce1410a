"""The arbitrage bot converges prices: one pool mispriced, the bot run, the spread measured.

``raydium-sol-usdc``'s USDC reserve is scaled to 106 % (SOL 6 % dearer there than on the other
pools, as one-sided flow would leave it). The bot then runs tick after tick, each tick's orders
settling before the next, until it finds nothing paying its threshold. Measured before and after:
the spread between the three SOL/USDC pools' mid prices, and each pool's gap to the reference price.

Two references, two outcomes:
- offline (the suite's default), the reference is implied by the pools themselves, so the
  mispricing moves it too (about 2 %): the pools converge to each other and to that moved
  reference, not back to the 150 USD they were seeded at (nothing outside the pools says 150);
- with an outside price feed (a local CoinGecko stand-in at 150), the desks quote around 150, so
  pool-versus-desk loops pull the pools back to the outside price as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from config import Settings
from models import AmmPool, Order, db
from services import get_services
from tests.conftest import build_app
from tests.price_doubles import CoinGeckoDouble
from tests.test_bots import create, detail, orders_of, tick
from tests.test_quoting import DEAD
from tests.test_trading_halt import operator_key
from tests.waiting import wait_until
from venue_state import seed_prices

SOL_USDC = ("raydium-sol-usdc", "orca-sol-usdc", "meteora-sol-usdc")
SEEDED = seed_prices()["SOL"] / seed_prices()["USDC"]
BPS = Decimal(10_000)
# The widest fee pair among the SOL/USDC pools (orca 30 bps + raydium 25 bps): a spread inside it
# pays no cross-venue loop; a little more is left where the last loop's profit is under the threshold.
FEES_BPS = Decimal(55)
SLACK_BPS = Decimal(15)


def mids(app: Flask) -> dict[str, Decimal]:
    """Each SOL/USDC pool's mid price (USDC per SOL, token units) as stored."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(AmmPool.id, AmmPool.reserve_a, AmmPool.reserve_b).where(AmmPool.id.in_(SOL_USDC))
        ).all()
        db.session.remove()
    return {i: (Decimal(b) / 10**6) / (Decimal(a) / 10**9) for i, a, b in rows}


def spread_bps(prices: dict[str, Decimal]) -> Decimal:
    return (max(prices.values()) / min(prices.values()) - 1) * BPS


def gap_bps(prices: dict[str, Decimal], reference: Decimal) -> Decimal:
    return max(abs(p / reference - 1) for p in prices.values()) * BPS


def reference(client: Any) -> Decimal:
    prices = client.get("/api/prices").get_json()["prices"]
    return Decimal(prices["SOL"]["priceUsd"]) / Decimal(prices["USDC"]["priceUsd"])


def settled(app: Flask, bot_id: str) -> list[Order]:
    return wait_until(
        lambda: (
            (o := orders_of(app, bot_id)) is not None
            and all(x.status in ("confirmed", "failed") for x in o)
            and (o or [True])
        ),
        "every order of the bot to settle",
    )


def converge(app: Flask, client: Any, label: str) -> dict[str, Decimal]:
    """Misprice, run the bot to the end, print and return the figures."""
    ops = operator_key(app)
    funding = {"SOL": "20000", "USDC": "3000000", "USDT": "3000000"}
    body = {"kind": "arbitrage", "name": "arb", "config": {"minProfitUsd": "1"}, "funding": funding}
    bot = create(client, ops, body)
    with app.app_context():
        db.session.execute(
            sa.update(AmmPool)
            .where(AmmPool.id == "raydium-sol-usdc")
            .values(reserve_b=AmmPool.reserve_b * 106 // 100)
        )
        db.session.commit()
    before, ref_before = mids(app), reference(client)
    ticks = 0
    for ticks in range(1, 41):
        result = tick(app, bot["id"], later_s=ticks * 10.0)
        settled(app, bot["id"])
        if not any(a.kind == "order" for a in result.actions):
            break
    after, ref_after = mids(app), reference(client)
    orders = orders_of(app, bot["id"])
    figures = {
        "spread_before": spread_bps(before),
        "spread_after": spread_bps(after),
        "gap_before": gap_bps(before, ref_before),
        "gap_after": gap_bps(after, ref_after),
        "seeded_gap_after": gap_bps(after, SEEDED),
        "reference_after": ref_after,
        "ticks": Decimal(ticks),
    }
    pnl = detail(client, ops, bot["id"])["pnl"]
    print(
        f"\n{label}: SOL/USDC pool spread "
        f"{figures['spread_before']:.1f} -> {figures['spread_after']:.1f} bps; "
        f"largest gap to the reference {figures['gap_before']:.1f} -> {figures['gap_after']:.1f} bps "
        f"(reference {ref_before:.4f} -> {ref_after:.4f}; "
        f"to the seeded 150: {figures['seeded_gap_after']:.1f} bps); "
        f"{ticks} ticks, {len(orders)} orders, {sum(o.status == 'confirmed' for o in orders)} confirmed; "
        f"bot P&L {pnl['totalPnlUsd']} USD"
    )
    assert ticks < 40, "the bot still found opportunities after 40 ticks"
    assert figures["spread_before"] > 550
    return figures


def test_offline_the_arbitrage_bot_brings_the_pools_within_fees_of_each_other_and_the_pool_reference(
    app: Flask, client: Any
) -> None:
    f = converge(app, client, "offline (pool-implied reference)")
    assert f["spread_after"] <= FEES_BPS + SLACK_BPS
    assert f["gap_after"] <= FEES_BPS + SLACK_BPS


@pytest.fixture
def fed_app(database_url: str) -> Iterator[Flask]:
    prices = {"SOL": "150", "USDC": "1", "USDT": "1", "RAY": "2", "JUP": "0.80", "BONK": "0.00002"}
    with CoinGeckoDouble(prices={k: Decimal(v) for k, v in prices.items()}) as coingecko:
        settings = Settings(
            coingecko_url=coingecko.url,
            kraken_url=DEAD,
            binance_url=DEAD,
            price_timeout_s=2.0,
            jupiter_enabled=False,
        )
        app, _ = build_app(database_url, SOLROUTE_SETTINGS=settings)
        try:
            yield app
        finally:
            get_services(app).shutdown()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def test_with_an_outside_price_the_arbitrage_bot_brings_the_pools_back_to_it_within_fees(
    fed_app: Flask,
) -> None:
    client = fed_app.test_client()
    f = converge(fed_app, client, "outside price feed at 150")
    assert f["reference_after"] == SEEDED
    assert f["spread_after"] <= FEES_BPS + SLACK_BPS
    assert f["gap_after"] <= FEES_BPS + SLACK_BPS
