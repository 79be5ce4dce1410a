"""Risk limits at submission, through the API on SQLite and PostgreSQL: each limit refuses with
422 ``risk_limit`` naming it (``field``) with the figures, writes nothing, and applies to every
order type; an owner can only lower their limits, the operator can set any."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from payloads import LimitsResponse
from risk import Limits, OrderRisk, Today, check_order
from tests.test_api import assert_error, auth, check, dec, execute, rows
from venue_state import create_account, create_operator_account

SOL_USDC = {"tokenIn": "SOL", "tokenOut": "USDC"}


def new_account(app: Flask, name: str, funding: dict[str, str] | None = None) -> tuple[int, str]:
    from models import db

    with app.app_context():
        account, key = create_account(db.session, name, funding=funding)
        db.session.commit()
        return int(account.id), key


def operator_key(app: Flask) -> str:
    from models import db

    with app.app_context():
        _, key = create_operator_account(db.session, "ops")
        db.session.commit()
    return key


def limits(client: Any, key: str) -> dict[str, Any]:
    r = client.get("/api/accounts/me/limits", headers=auth(key))
    assert r.status_code == 200, r.get_json()
    return check(LimitsResponse, r)


def put_limits(client: Any, key: str, body: dict[str, Any]) -> Any:
    return client.put("/api/accounts/me/limits", json=body, headers=auth(key))


def order(client: Any, key: str, body: dict[str, Any]) -> Any:
    return client.post("/api/orders/execute", json=body, headers=auth(key))


def test_the_defaults_apply_until_the_account_sets_its_own(app: Flask, client: Any, api_key: str) -> None:
    body = limits(client, api_key)
    assert body["maxImpactBps"] == {"value": "500", "own": None, "default": "500"}
    assert body["maxOrderUsd"]["value"] == app.config["RISK_MAX_ORDER_USD"].to_eng_string()
    r = put_limits(client, api_key, {"maxOrderUsd": "100"})
    assert r.status_code == 200, r.get_json()
    assert check(LimitsResponse, r)["maxOrderUsd"] == {
        "value": "100",
        "own": "100",
        "default": limits(client, api_key)["maxOrderUsd"]["default"],
    }


def test_an_order_above_the_maximum_notional_is_refused_naming_the_limit_and_writing_nothing(
    app: Flask, client: Any, api_key: str
) -> None:
    assert put_limits(client, api_key, {"maxOrderUsd": "100"}).status_code == 200
    before = rows(app)
    r = order(client, api_key, SOL_USDC | {"amountIn": "1"})  # about $150
    body = assert_error(r, 422, "risk_limit", "maxOrderUsd")
    details = body["error"]["details"]
    assert dec(details["limit"]) == 100 and dec(details["orderUsd"]) > 100
    assert rows(app) == before
    # Below the limit it goes; every order type is checked: exact out, limit, stop, TWAP.
    execute(client, api_key, SOL_USDC | {"amountIn": "0.5"})
    for refused in (
        SOL_USDC | {"amountOut": "200"},
        SOL_USDC | {"amountIn": "1", "orderType": "limit", "limitPrice": "1000"},
        SOL_USDC | {"amountIn": "1", "orderType": "stop_loss", "triggerPrice": "10"},
        SOL_USDC | {"amountIn": "1", "orderType": "twap", "slices": 2, "intervalS": 60},
    ):
        assert_error(order(client, api_key, refused), 422, "risk_limit", "maxOrderUsd")


def test_a_firm_quote_is_checked_too(client: Any, api_key: str) -> None:
    quote = client.get("/api/quote?tokenIn=SOL&tokenOut=USDC&amountIn=1").get_json()
    assert put_limits(client, api_key, {"maxOrderUsd": "100"}).status_code == 200
    r = order(client, api_key, SOL_USDC | {"quoteId": quote["quoteId"]})
    assert_error(r, 422, "risk_limit", "maxOrderUsd")


def _amount_with_impact_above(client: Any, bps: int) -> str:
    """The first of a few JUP sizes whose route's price impact is above ``bps``."""
    for amount in ("100000", "200000", "400000"):
        q = client.get(f"/api/quote?tokenIn=JUP&tokenOut=USDC&amountIn={amount}").get_json()
        if q["route"]["priceImpactBps"] is not None and dec(q["route"]["priceImpactBps"]) > bps:
            return amount
    raise AssertionError("no size moves the JUP pool enough")


def test_a_high_impact_order_needs_accept_high_impact(app: Flask, client: Any) -> None:
    _, api_key = new_account(app, "whale", {"JUP": "400000"})
    amount = _amount_with_impact_above(client, 500)
    before = rows(app)
    body = {"tokenIn": "JUP", "tokenOut": "USDC", "amountIn": amount, "slippageBps": 3000}
    r = order(client, api_key, body)
    details = assert_error(r, 422, "risk_limit", "maxImpactBps")["error"]["details"]
    assert dec(details["limit"]) == 500 and dec(details["impactBps"]) > 500
    assert rows(app) == before
    execute(client, api_key, body | {"acceptHighImpact": True})
    # An account may set a stricter one.
    assert put_limits(client, api_key, {"maxImpactBps": "1"}).status_code == 200
    small = {"tokenIn": "JUP", "tokenOut": "USDC", "amountIn": "5000", "slippageBps": 3000}
    assert_error(order(client, api_key, small), 422, "risk_limit", "maxImpactBps")


def test_the_daily_notional_counts_todays_executed_trades(client: Any, api_key: str) -> None:
    assert put_limits(client, api_key, {"dailyNotionalUsd": "400"}).status_code == 200
    first = execute(client, api_key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "150"})
    execute(client, api_key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "150"})
    assert first["status"] == "confirmed"
    assert dec(limits(client, api_key)["todayNotionalUsd"]) == 300
    r = order(client, api_key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "150"})
    details = assert_error(r, 422, "risk_limit", "dailyNotionalUsd")["error"]["details"]
    assert (dec(details["todayUsd"]), dec(details["orderUsd"]), dec(details["limit"])) == (300, 150, 400)
    execute(client, api_key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "100"})  # 400: at the limit


def test_the_daily_loss_stops_new_orders_once_reached(app: Flask, client: Any) -> None:
    _, key = new_account(app, "loser", {"USDC": "2000"})
    assert put_limits(client, key, {"dailyLossUsd": "0.5"}).status_code == 200
    bought = execute(client, key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "1500"})
    # Selling it straight back loses the fees twice over: a realised loss of several dollars.
    execute(client, key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": bought["amountOut"]})
    realised = dec(limits(client, key)["todayRealisedPnlUsd"])
    assert realised < Decimal("-0.5")
    r = order(client, key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "1"})
    details = assert_error(r, 422, "risk_limit", "dailyLossUsd")["error"]["details"]
    assert dec(details["todayRealisedPnlUsd"]) == realised.quantize(Decimal("0.01"))


def test_an_owner_can_only_lower_and_the_operator_can_set_any(app: Flask, client: Any) -> None:
    account_id, key = new_account(app, "owner")
    ops = operator_key(app)
    assert put_limits(client, key, {"maxOrderUsd": "1000"}).status_code == 200
    assert_error(put_limits(client, key, {"maxOrderUsd": "2000"}), 400, "invalid_input", "maxOrderUsd")
    assert_error(put_limits(client, key, {"maxOrderUsd": None}), 400, "invalid_input", "maxOrderUsd")
    assert_error(put_limits(client, key, {"maxOrderUsd": "-1"}), 400, "invalid_input", "maxOrderUsd")
    assert_error(put_limits(client, key, {"maxOrderUsd": "1e3"}), 400, "invalid_input", "maxOrderUsd")
    assert_error(put_limits(client, key, {"maxOrdersUsd": "1"}), 400, "invalid_input", "maxOrdersUsd")
    assert limits(client, key)["maxOrderUsd"]["value"] == "1000"

    path = f"/accounts/{account_id}/limits"
    assert client.put("/api/admin" + path, json={"maxOrderUsd": "5"}, headers=auth(key)).status_code == 403
    assert client.put("/api/admin" + path, json={"maxOrderUsd": "5"}).status_code == 401
    r = client.put("/api/admin" + path, json={"maxOrderUsd": "5000000"}, headers=auth(ops))
    assert r.status_code == 200, r.get_json()
    assert check(LimitsResponse, r)["maxOrderUsd"]["value"] == "5000000"
    r = client.put("/api/admin" + path, json={"maxOrderUsd": None}, headers=auth(ops))
    assert check(LimitsResponse, r)["maxOrderUsd"]["own"] is None
    r = client.put("/api/admin/accounts/999999/limits", json={"maxOrderUsd": "1"}, headers=auth(ops))
    assert_error(r, 404, "not_found", "accountId")
    # An operator's key is no trader's: it cannot place orders.
    assert order(client, ops, SOL_USDC | {"amountIn": "1"}).status_code == 401


# --- the pure check ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits_", "risk", "today", "refused"),
    [
        (Limits(), OrderRisk(Decimal(10**9), Decimal(9999)), Today(Decimal(10**9), Decimal(-(10**9))), None),
        (Limits(max_order_usd=Decimal(100)), OrderRisk(Decimal(100)), Today(), None),
        (Limits(max_order_usd=Decimal(100)), OrderRisk(Decimal("100.01")), Today(), "maxOrderUsd"),
        (Limits(max_impact_bps=Decimal(500)), OrderRisk(Decimal(1), Decimal(501)), Today(), "maxImpactBps"),
        (Limits(max_impact_bps=Decimal(500)), OrderRisk(Decimal(1), Decimal(501), True), Today(), None),
        (Limits(max_impact_bps=Decimal(500)), OrderRisk(Decimal(1), None), Today(), None),
        (Limits(daily_notional_usd=Decimal(10)), OrderRisk(Decimal(4)), Today(Decimal(6)), None),
        (
            Limits(daily_notional_usd=Decimal(10)),
            OrderRisk(Decimal(5)),
            Today(Decimal(6)),
            "dailyNotionalUsd",
        ),
        (
            Limits(daily_loss_usd=Decimal(10)),
            OrderRisk(Decimal(1)),
            Today(realised_pnl_usd=Decimal(-10)),
            "dailyLossUsd",
        ),
        (
            Limits(daily_loss_usd=Decimal(10)),
            OrderRisk(Decimal(1)),
            Today(realised_pnl_usd=Decimal("-9.99")),
            None,
        ),
        (Limits(daily_loss_usd=Decimal(0)), OrderRisk(Decimal(1)), Today(), None),
    ],
)
def test_check_order(limits_: Limits, risk: OrderRisk, today: Today, refused: str | None) -> None:
    refusal = check_order(limits_, risk, today)
    assert (None if refusal is None else refusal.limit) == refused
