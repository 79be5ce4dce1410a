"""Jupiter inside the app, against the local double: background curves for quotes, a fresh quote
at execution (a paper fill posted against the Jupiter counterparty), retries on a timeout, the
execution rate limit, and clean degradation when Jupiter is down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from config import Settings
from models import Account, Fill, LedgerEntry, Trade, db
from services import get_services
from tests.conftest import build_app
from tests.jupiter_double import JupiterDouble, closed_port_url
from tests.waiting import WAIT_S, wait_final
from tokens import get_token
from venue_state import JUPITER_ACCOUNT

SOL, USDC = get_token("SOL"), get_token("USDC")


def jupiter_settings(double: JupiterDouble, **extra: Any) -> Settings:
    dead = closed_port_url()  # price APIs refuse at once: prices come from our pools
    return Settings(
        jupiter_base_url=double.base_url,
        jupiter_timeout_s=10.0,  # far above a loaded machine's local answer, so only .slow() times out
        jupiter_max_rps=1000.0,
        coingecko_url=dead,
        kraken_url=dead,
        binance_url=dead,
        price_timeout_s=0.5,
        **extra,
    )


@pytest.fixture
def double() -> Iterator[JupiterDouble]:
    with JupiterDouble() as d:
        # A deep SOL/USDC book at 152 USDC per SOL: better than our pools' 150, so Jupiter gets a share.
        d.set_pool(SOL.mint, USDC.mint, 10_000 * SOL.unit, 1_520_000 * USDC.unit)
        yield d


def make_app(database_url: str, double: JupiterDouble, **config: Any) -> tuple[Flask, str]:
    return build_app(
        database_url,
        SOLROUTE_SETTINGS=jupiter_settings(double),
        JUPITER_CURVE_TTL_S=60.0,
        ORDER_MAX_ATTEMPTS=3,
        **config,
    )


@pytest.fixture
def jupiter_app(database_url: str, double: JupiterDouble) -> Iterator[tuple[Flask, str]]:
    app, key = make_app(database_url, double)
    yield app, key
    get_services(app).shutdown()
    with app.app_context():
        db.engine.dispose()


def jupiter_quote(client: Any) -> dict[str, Any]:
    body = client.get("/api/quote?tokenIn=SOL&tokenOut=USDC&amountIn=100").get_json()
    return next(q for q in body["quotes"] if q["kind"] == "aggregator") | {"_route": body["route"]}


def test_quotes_use_the_background_curve_and_never_call_jupiter_themselves(
    jupiter_app: tuple[Flask, str], double: JupiterDouble
) -> None:
    app, _ = jupiter_app
    client = app.test_client()
    first = jupiter_quote(client)
    assert first["available"] is False and "background" in first["reason"]
    assert double.requests == []  # the quote did not wait for Jupiter
    assert get_services(app).quotes.jupiter_curves.refresh_next() is True
    assert len(double.requests) == 1 and double.requests[0].query["amount"] == str(100 * SOL.unit)
    second = jupiter_quote(client)
    assert second["available"] is True and second["isEstimate"] is True
    assert any(leg["kind"] == "aggregator" for leg in second["_route"]["legs"])
    for _ in range(5):
        jupiter_quote(client)
    assert len(double.requests) == 1


def test_execution_asks_jupiter_afresh_and_posts_a_paper_fill_against_the_counterparty(
    jupiter_app: tuple[Flask, str], double: JupiterDouble
) -> None:
    app, key = jupiter_app
    client = app.test_client()
    r = client.post(
        "/api/orders/execute",
        json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "100"},
        headers={"X-API-Key": key},
    )
    assert r.status_code == 202
    order = wait_final(client, r.get_json()["orderId"], key)
    assert order["status"] == "confirmed", order
    assert [q.query["amount"] for q in double.requests] == [str(100 * SOL.unit)]
    jupiter_legs = [leg for leg in order["legs"] if leg["kind"] == "aggregator"]
    assert len(jupiter_legs) == 1 and jupiter_legs[0]["paper"] is True
    with app.app_context():
        trade = db.session.execute(sa.select(Trade)).scalar_one()
        assert trade.jupiter_amount_out is not None and trade.jupiter_amount_out > 0
        fill = db.session.execute(sa.select(Fill).where(Fill.kind == "aggregator")).scalar_one()
        counterparty = db.session.execute(
            sa.select(Account.id).where(Account.name == JUPITER_ACCOUNT)
        ).scalar_one()
        entries = db.session.execute(
            sa.select(LedgerEntry.token, LedgerEntry.amount).where(LedgerEntry.account_id == counterparty)
        ).all()
        assert sorted(entries) == sorted([("SOL", fill.amount_in), ("USDC", -fill.amount_out)])


def test_a_jupiter_timeout_at_execution_is_retried_with_backoff(
    jupiter_app: tuple[Flask, str], double: JupiterDouble
) -> None:
    app, key = jupiter_app
    client = app.test_client()
    double.slow(WAIT_S, times=1)  # longer than the client's 10 s timeout, once
    r = client.post(
        "/api/orders/execute",
        json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "50"},
        headers={"X-API-Key": key},
    )
    order = wait_final(client, r.get_json()["orderId"], key)
    assert order["status"] == "confirmed", order
    assert order["attempts"] == 2
    statuses = [e["status"] for e in order["events"]]
    assert statuses.count("quoting") == 2 and statuses[-1] == "confirmed"
    assert any(leg["kind"] == "aggregator" for leg in order["legs"])  # the retry got Jupiter's quote


def test_orders_still_fill_without_jupiter_when_it_is_down(
    jupiter_app: tuple[Flask, str], double: JupiterDouble
) -> None:
    app, key = jupiter_app
    client = app.test_client()
    double.server_error()
    r = client.post(
        "/api/orders/execute",
        json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "20"},
        headers={"X-API-Key": key},
    )
    order = wait_final(client, r.get_json()["orderId"], key)
    assert order["status"] == "confirmed", order
    assert all(leg["kind"] != "aggregator" for leg in order["legs"])
    assert order["attempts"] == 3  # two transient failures retried, the last attempt went on without it


def test_the_execution_rate_limit_keeps_jupiter_calls_within_its_budget(
    database_url: str, double: JupiterDouble
) -> None:
    app, key = make_app(
        database_url, double, VENUE_RATE_LIMITS={"jupiter": 0.01}, VENUE_RATE_LIMIT_WAIT_S=0.0
    )
    try:
        client = app.test_client()
        ids = []
        for amount in ("10", "11", "12"):
            r = client.post(
                "/api/orders/execute",
                json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": amount},
                headers={"X-API-Key": key},
            )
            ids.append(r.get_json()["orderId"])
            wait_final(client, ids[-1], key)
        orders = [wait_final(client, i, key) for i in ids]
        assert all(o["status"] == "confirmed" for o in orders)
        assert len(double.requests) == 1  # one slot per 100 s: the first order only
        with_jupiter = [any(leg["kind"] == "aggregator" for leg in o["legs"]) for o in orders]
        assert with_jupiter == [True, False, False]
    finally:
        get_services(app).shutdown()
        with app.app_context():
            db.engine.dispose()
