"""The operator's trading halt, through the API and the CLI, on SQLite and PostgreSQL.

While halted every new order (each type) is refused with 503 ``trading_halted`` and nothing is
written; quotes, reads and cancels keep working; every page shows a banner; a Socket.IO
``trading_halt`` event tells connected clients. Lifting it lets orders through again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Flask

from live_updates import socketio
from payloads import TradingHaltResponse
from tests.test_api import assert_error, auth, check, execute, rows
from venue_state import create_operator_account

ORDERS = [
    {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"},
    {"tokenIn": "SOL", "tokenOut": "USDC", "amountOut": "100"},
    {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "orderType": "limit", "limitPrice": "1000"},
    {
        "tokenIn": "SOL",
        "tokenOut": "USDC",
        "amountIn": "1",
        "orderType": "take_profit",
        "triggerPrice": "999",
    },
    {
        "tokenIn": "SOL",
        "tokenOut": "USDC",
        "amountIn": "1",
        "orderType": "twap",
        "slices": 2,
        "intervalS": 60,
    },
]


def operator_key(app: Flask) -> str:
    from models import db

    with app.app_context():
        _, key = create_operator_account(db.session, "ops")
        db.session.commit()
    return key


def halt(client: Any, key: str, halted: bool, reason: str = "") -> dict[str, Any]:
    r = client.post("/api/admin/trading-halt", json={"halted": halted, "reason": reason}, headers=auth(key))
    assert r.status_code == 200, r.get_json()
    return check(TradingHaltResponse, r)


def test_a_halt_refuses_every_new_order_and_keeps_quotes_reads_and_cancels(
    app: Flask, client: Any, api_key: str
) -> None:
    ops = operator_key(app)
    resting = client.post("/api/orders/execute", json=ORDERS[2], headers=auth(api_key))
    assert resting.status_code == 202
    listener = socketio.test_client(app)
    body = halt(client, ops, True, "exchange maintenance")
    assert (body["halted"], body["reason"], body["updatedBy"]) == (True, "exchange maintenance", "ops")
    events = [e for e in listener.get_received() if e["name"] == "trading_halt"]
    assert [e["args"][0]["halted"] for e in events] == [True]
    listener.disconnect()

    before = rows(app)
    for order in ORDERS:
        r = client.post("/api/orders/execute", json=order, headers=auth(api_key))
        error = assert_error(r, 503, "trading_halted", None)["error"]
        assert "exchange maintenance" in error["message"]
        assert error["details"]["reason"] == "exchange maintenance"
    assert rows(app) == before

    assert client.get("/api/quote?tokenIn=SOL&tokenOut=USDC&amountIn=1").status_code == 200
    assert client.get("/api/accounts/me", headers=auth(api_key)).status_code == 200
    assert client.get("/api/accounts/me/portfolio", headers=auth(api_key)).status_code == 200
    assert client.get("/api/orders", headers=auth(api_key)).status_code == 200
    assert check(TradingHaltResponse, client.get("/api/trading-halt"))["halted"] is True
    cancelled = client.post(f"/api/orders/{resting.get_json()['orderId']}/cancel", headers=auth(api_key))
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    page = client.get("/").get_data(as_text=True)
    assert 'data-halted="true"' in page and ": exchange maintenance" in page

    assert halt(client, ops, False)["halted"] is False
    assert 'data-halted="false"' in client.get("/").get_data(as_text=True)
    execute(client, api_key, ORDERS[0])


def test_only_an_operator_may_halt(app: Flask, client: Any, api_key: str) -> None:
    body = {"halted": True}
    assert_error(client.post("/api/admin/trading-halt", json=body), 401, "unauthorized", "X-API-Key")
    r = client.post("/api/admin/trading-halt", json=body, headers=auth(api_key))
    assert_error(r, 403, "forbidden", "X-API-Key")
    r = client.post("/api/admin/trading-halt", json=body, headers=auth("sr_not-a-key"))
    assert_error(r, 401, "unauthorized", "X-API-Key")
    ops = operator_key(app)
    r = client.post("/api/admin/trading-halt", json={"halted": "yes"}, headers=auth(ops))
    assert_error(r, 400, "invalid_input", "halted")
    r = client.post("/api/admin/trading-halt", json={"halted": True, "reason": "x" * 501}, headers=auth(ops))
    assert_error(r, 400, "invalid_input", "reason")
    assert client.get("/api/trading-halt").get_json()["halted"] is False


def test_the_cli_halts_and_resumes(app: Flask, client: Any, api_key: str) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["trading-halt", "on", "--reason", "incident 42"])
    assert result.exit_code == 0, result.output
    assert "trading halted: incident 42" in result.output
    r = client.post("/api/orders/execute", json=ORDERS[0], headers=auth(api_key))
    assert_error(r, 503, "trading_halted", None)
    assert client.get("/api/trading-halt").get_json()["updatedBy"] == "cli"
    result = runner.invoke(args=["trading-halt", "off"])
    assert result.exit_code == 0 and "trading resumed" in result.output
    execute(client, api_key, ORDERS[0])
    assert runner.invoke(args=["trading-halt", "maybe"]).exit_code != 0


def test_the_cli_creates_an_operator_whose_key_works(app: Flask, client: Any) -> None:
    result = app.test_cli_runner().invoke(args=["accounts", "create-operator", "night-ops"])
    assert result.exit_code == 0, result.output
    key = result.output.split("API key: ")[1].strip()
    assert halt(client, key, True)["updatedBy"] == "night-ops"


def test_twap_slices_due_during_a_halt_are_refused_and_resting_orders_do_not_trigger(
    app: Flask, client: Any, api_key: str
) -> None:
    from background import watch_resting
    from tests.test_orders_resting import detail, reference, wait_status

    ops = operator_key(app)
    # A stop far above the price: the next tick would trigger it.
    trigger = (reference(client) * 2).quantize(Decimal("0.0001"))
    stop = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "orderType": "stop_loss"}
    stop_id = client.post(
        "/api/orders/execute", json=stop | {"triggerPrice": str(trigger)}, headers=auth(api_key)
    ).get_json()["orderId"]
    twap = ORDERS[4] | {"slices": 3, "intervalS": 0.3, "onChildFailure": "continue"}
    twap_id = client.post("/api/orders/execute", json=twap, headers=auth(api_key)).get_json()["orderId"]
    halt(client, ops, True, "incident")

    assert watch_resting(app) == {"open": 1, "triggered": 0, "expired": 0, "cancelled": 0}
    assert detail(client, api_key, stop_id)["status"] == "open"

    parent = wait_status(client, api_key, twap_id, "confirmed", "failed")
    last = next(c for c in parent["children"] if c["sliceIndex"] == 2)
    assert (last["status"], last["error"]["code"]) == ("failed", "trading_halted")

    halt(client, ops, False)
    assert watch_resting(app)["triggered"] == 1
    assert wait_status(client, api_key, stop_id, "confirmed", "failed")["status"] == "confirmed"
