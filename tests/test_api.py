"""The JSON API as a black box, on SQLite and PostgreSQL: every bad input, every endpoint, every filter.

Bad input must answer ``{"error": {"code", "message", "field"}}`` with a 4xx naming the field,
and an order that is refused must leave no row and no balance changed. Responses are held to
the pydantic response models the OpenAPI document is generated from (``check``).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from pydantic import BaseModel

from models import AmmPool, Balance, Fill, LedgerEntry, Order, OrderEvent, Trade, db
from payloads import (
    AccountResponse,
    AnalyticsSummary,
    ErrorResponse,
    OrderAccepted,
    OrderDetail,
    OrdersPage,
    OtcPoolsResponse,
    PoolsResponse,
    PricesResponse,
    QuoteResponse,
    TokensResponse,
    TradesPage,
)
from services import get_services
from tests import waiting
from tests.direct_orders import write_and_dispatch
from tokens import TOKENS
from venue_state import create_account

SOL_MINT = TOKENS["SOL"].mint


# --- helpers -------------------------------------------------------------------------------------


def check(model: type[BaseModel], response: Any) -> dict[str, Any]:
    """The response's JSON, after checking it against its documented response model (strictly)."""
    body = response.get_json()
    model.model_validate(body, strict=True)
    return body  # type: ignore[no-any-return]


def assert_error(response: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    """The response is the documented error body with this status, code and field."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = check(ErrorResponse, response)
    assert (body["error"]["code"], body["error"]["field"]) == (code, field), body
    assert body["error"]["message"]
    assert "Traceback" not in body["error"]["message"]
    return body


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": key, **extra}


def rows(app: Flask) -> dict[str, int]:
    """How many rows each written table holds."""
    with app.app_context():
        return {
            m.__tablename__: db.session.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
            for m in (Order, OrderEvent, LedgerEntry, Trade, Fill, Balance)
        }


def balances(client: Any, key: str) -> dict[str, dict[str, str]]:
    body = client.get("/api/accounts/me", headers=auth(key)).get_json()
    return {b["token"]: b for b in body["balances"]}


def submit(client: Any, key: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    r = client.post("/api/orders/execute", json=body, headers=auth(key, **headers))
    assert r.status_code == 202, r.get_json()
    return check(OrderAccepted, r)


def wait_final(client: Any, order_id: str, key: str) -> dict[str, Any]:
    """The order's detail once it is final (``tests.waiting.wait_final``), checked against OrderDetail."""
    order = waiting.wait_final(client, order_id, key)
    OrderDetail.model_validate(order, strict=True)
    return order


def execute(client: Any, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """Submit an order and wait until it is confirmed; returns its detail."""
    order = wait_final(client, submit(client, key, body)["orderId"], key)
    assert order["status"] == "confirmed", order
    return order


def other_account_key(app: Flask, name: str = "other") -> str:
    with app.app_context():
        _, key = create_account(db.session, name)
        db.session.commit()
    return key


def dec(text: str | None) -> Decimal:
    assert text is not None
    return Decimal(text)


# --- submitting an order: every bad input ----------------------------------------------------------

GOOD = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}

# (id, body, status, code, field)
BAD_ORDERS: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    ("unknown tokenIn", {**GOOD, "tokenIn": "DOGE"}, 400, "unknown_token", "tokenIn"),
    ("unknown tokenOut", {**GOOD, "tokenOut": "DOGE"}, 400, "unknown_token", "tokenOut"),
    (
        "unknown mint",
        {**GOOD, "tokenIn": "So11111111111111111111111111111111111111113"},
        400,
        "unknown_token",
        "tokenIn",
    ),
    ("tokenIn not a string", {**GOOD, "tokenIn": 1}, 400, "invalid_input", "tokenIn"),
    ("same token both sides", {**GOOD, "tokenOut": "sol"}, 400, "invalid_input", "tokenOut"),
    ("same token by mint", {**GOOD, "tokenOut": SOL_MINT}, 400, "invalid_input", "tokenOut"),
    ("zero amount", {**GOOD, "amountIn": "0"}, 400, "invalid_input", "amountIn"),
    ("zero amount as a number", {**GOOD, "amountIn": 0}, 400, "invalid_input", "amountIn"),
    ("negative amount", {**GOOD, "amountIn": "-1"}, 400, "invalid_input", "amountIn"),
    ("negative amount as a number", {**GOOD, "amountIn": -0.5}, 400, "invalid_input", "amountIn"),
    ("non-numeric amount", {**GOOD, "amountIn": "ten"}, 400, "invalid_input", "amountIn"),
    ("empty amount", {**GOOD, "amountIn": ""}, 400, "invalid_input", "amountIn"),
    ("NaN amount", {**GOOD, "amountIn": "NaN"}, 400, "invalid_input", "amountIn"),
    ("infinite amount", {**GOOD, "amountIn": "Infinity"}, 400, "invalid_input", "amountIn"),
    ("too precise amount", {**GOOD, "amountIn": "0.0000000001"}, 400, "too_precise", "amountIn"),
    ("too precise number", {**GOOD, "amountIn": 1e-10}, 400, "too_precise", "amountIn"),
    ("boolean amount", {**GOOD, "amountIn": True}, 400, "invalid_input", "amountIn"),
    ("null amount", {**GOOD, "amountIn": None}, 400, "invalid_input", "amountIn"),
    ("array amount", {**GOOD, "amountIn": ["1"]}, 400, "invalid_input", "amountIn"),
    ("huge amount", {**GOOD, "amountIn": "1e30"}, 400, "invalid_input", "amountIn"),
    ("amount beyond any supply", {**GOOD, "amountIn": "10000000000"}, 400, "invalid_input", "amountIn"),
    ("unknown strategy", {**GOOD, "routingStrategy": "CHEAPEST"}, 400, "invalid_input", "routingStrategy"),
    ("strategy not a string", {**GOOD, "routingStrategy": 3}, 400, "invalid_input", "routingStrategy"),
    ("slippage above 5000", {**GOOD, "slippageBps": 5001}, 400, "invalid_input", "slippageBps"),
    ("negative slippage", {**GOOD, "slippageBps": -1}, 400, "invalid_input", "slippageBps"),
    ("non-integer slippage", {**GOOD, "slippageBps": 1.5}, 400, "invalid_input", "slippageBps"),
    ("slippage as a string", {**GOOD, "slippageBps": "50"}, 400, "invalid_input", "slippageBps"),
    ("boolean slippage", {**GOOD, "slippageBps": True}, 400, "invalid_input", "slippageBps"),
    ("limit without limitPrice", {**GOOD, "orderType": "limit"}, 422, "invalid_order", "limitPrice"),
    ("unknown extra field", {**GOOD, "amountOut": "1"}, 400, "invalid_input", "amountOut"),
    ("missing tokenIn", {"tokenOut": "USDC", "amountIn": "1"}, 400, "invalid_input", "tokenIn"),
    ("missing amountIn", {"tokenIn": "SOL", "tokenOut": "USDC"}, 400, "invalid_input", "amountIn"),
    ("zero minAmountOut", {**GOOD, "minAmountOut": "0"}, 400, "invalid_input", "minAmountOut"),
    ("too precise minAmountOut", {**GOOD, "minAmountOut": "1.0000001"}, 400, "too_precise", "minAmountOut"),
    ("balance too small", {**GOOD, "amountIn": "1000.000000001"}, 422, "insufficient_balance", "amountIn"),
    ("too small for any venue", {**GOOD, "amountIn": "0.000000001"}, 422, "no_route", "amountIn"),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"), [c[1:] for c in BAD_ORDERS], ids=[c[0] for c in BAD_ORDERS]
)
def test_a_bad_order_is_refused_naming_its_field_and_writes_nothing(
    app: Flask, client: Any, api_key: str, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    before, held = rows(app), balances(client, api_key)
    r = client.post("/api/orders/execute", json=body, headers=auth(api_key))
    assert_error(r, status, code, field)
    assert rows(app) == before
    assert balances(client, api_key) == held


JSON = "application/json"
ORDER_JSON = b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}'

# (id, raw body, content type, status, code, field)
BAD_BODIES: list[tuple[str, bytes, str | None, int, str, str | None]] = [
    ("malformed JSON", b'{"tokenIn": "SOL",', JSON, 400, "malformed_json", None),
    ("empty body", b"", JSON, 400, "malformed_json", None),
    ("not UTF-8", b"\xff\xfe\xfa", JSON, 400, "malformed_json", None),
    ("NaN literal", ORDER_JSON.replace(b'"1"', b"NaN"), JSON, 400, "malformed_json", None),
    ("Infinity literal", ORDER_JSON.replace(b'"1"', b"-Infinity"), JSON, 400, "malformed_json", None),
    ("huge JSON number", ORDER_JSON.replace(b'"1"', b"1e400"), JSON, 400, "invalid_input", "amountIn"),
    ("JSON array body", b"[" + ORDER_JSON + b"]", JSON, 400, "invalid_input", None),
    ("JSON string body", b'"SOL"', JSON, 400, "invalid_input", None),
    ("JSON null body", b"null", JSON, 400, "invalid_input", None),
    ("deeply nested body", b"[" * 20_000 + b"]" * 20_000, JSON, 400, "malformed_json", None),  # < 64 KiB
    ("repeated key", ORDER_JSON.replace(b"}", b', "amountIn": "2"}'), JSON, 400, "invalid_input", "amountIn"),
    ("wrong content type", ORDER_JSON, "text/plain", 415, "unsupported_media_type", "Content-Type"),
    (
        "form body",
        b"tokenIn=SOL",
        "application/x-www-form-urlencoded",
        415,
        "unsupported_media_type",
        "Content-Type",
    ),
    ("no content type", ORDER_JSON, None, 415, "unsupported_media_type", "Content-Type"),
]


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code", "field"),
    [c[1:] for c in BAD_BODIES],
    ids=[c[0] for c in BAD_BODIES],
)
def test_a_body_that_is_not_a_json_object_is_refused_and_writes_nothing(
    app: Flask,
    client: Any,
    api_key: str,
    raw: bytes,
    content_type: str | None,
    status: int,
    code: str,
    field: str,
) -> None:
    before, held = rows(app), balances(client, api_key)
    headers = auth(api_key) | ({"Content-Type": content_type} if content_type else {})
    r = client.post("/api/orders/execute", data=raw, headers=headers)
    assert_error(r, status, code, field)
    assert rows(app) == before
    assert balances(client, api_key) == held


@pytest.mark.parametrize(
    ("headers", "field"),
    [({}, "X-API-Key"), ({"X-API-Key": "sr_not-a-key"}, "X-API-Key")],
    ids=["missing key", "invalid key"],
)
def test_submitting_without_a_valid_key_is_401_and_writes_nothing(
    app: Flask, client: Any, headers: dict[str, str], field: str
) -> None:
    before = rows(app)
    assert_error(client.post("/api/orders/execute", json=GOOD, headers=headers), 401, "unauthorized", field)
    assert rows(app) == before


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tkey"], ids=["blank", "too long", "control character"])
def test_a_bad_idempotency_key_is_refused(app: Flask, client: Any, api_key: str, key: str) -> None:
    before = rows(app)
    r = client.post("/api/orders/execute", json=GOOD, headers=auth(api_key, **{"Idempotency-Key": key}))
    assert_error(r, 400, "invalid_input", "Idempotency-Key")
    assert rows(app) == before


# --- submitting an order: what is accepted ---------------------------------------------------------


def test_an_amount_sent_as_a_json_number_is_read_exactly(app: Flask, client: Any, api_key: str) -> None:
    raw = b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": 0.1}'
    r = client.post(
        "/api/orders/execute", data=raw, headers=auth(api_key, **{"Content-Type": "application/json"})
    )
    assert r.status_code == 202, r.get_json()
    order_id = check(OrderAccepted, r)["orderId"]
    with app.app_context():
        assert db.session.get(Order, order_id).amount_in == 100_000_000  # 0.1 SOL, not 0.1000000000000000055
    order = wait_final(client, order_id, api_key)
    assert order["amountIn"] == "0.1"
    assert sum(dec(leg["amountIn"]) for leg in order["legs"] if leg["hop"] == 0) == Decimal("0.1")


def test_an_amount_with_every_decimal_the_token_has_is_exact(app: Flask, client: Any, api_key: str) -> None:
    held = balances(client, api_key)["SOL"]
    order_id = submit(client, api_key, {**GOOD, "amountIn": 1.123456789})["orderId"]
    with app.app_context():
        assert db.session.get(Order, order_id).amount_in == 1_123_456_789
    order = wait_final(client, order_id, api_key)
    assert order["status"] == "confirmed"
    assert dec(balances(client, api_key)["SOL"]["amount"]) == dec(held["amount"]) - Decimal("1.123456789")


def test_the_same_idempotency_key_and_body_replay_the_first_order_which_executes_once(
    app: Flask, client: Any, api_key: str
) -> None:
    sol_before = dec(balances(client, api_key)["SOL"]["amount"])
    headers = auth(api_key, **{"Idempotency-Key": "order-1"})
    first = client.post("/api/orders/execute", json={**GOOD, "amountIn": "2.5"}, headers=headers)
    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    # The same order, the amount written as a number: the same request.
    again = client.post("/api/orders/execute", json={**GOOD, "amountIn": 2.5}, headers=headers)
    assert again.status_code == 200, again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert check(OrderAccepted, again)["orderId"] == first.get_json()["orderId"]
    order = wait_final(client, first.get_json()["orderId"], api_key)
    assert order["status"] == "confirmed"
    replay_after = client.post("/api/orders/execute", json={**GOOD, "amountIn": "2.5"}, headers=headers)
    assert replay_after.status_code == 200 and replay_after.get_json()["status"] == "confirmed"
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Order)).scalar_one() == 1
        assert db.session.execute(sa.select(sa.func.count()).select_from(Trade)).scalar_one() == 1
    assert dec(balances(client, api_key)["SOL"]["amount"]) == sol_before - Decimal("2.5")


def test_the_same_idempotency_key_with_another_body_is_a_409_naming_the_header(
    app: Flask, client: Any, api_key: str
) -> None:
    headers = auth(api_key, **{"Idempotency-Key": "order-2"})
    wait_final(client, submit(client, api_key, GOOD, **{"Idempotency-Key": "order-2"})["orderId"], api_key)
    before, held = rows(app), balances(client, api_key)
    r = client.post("/api/orders/execute", json={**GOOD, "amountIn": "2"}, headers=headers)
    assert_error(r, 409, "idempotency_conflict", "Idempotency-Key")
    assert rows(app) == before
    assert balances(client, api_key) == held


def test_idempotency_keys_belong_to_their_account(app: Flask, client: Any, api_key: str) -> None:
    other = other_account_key(app)
    mine = submit(client, api_key, GOOD, **{"Idempotency-Key": "shared"})
    theirs = submit(client, other, {**GOOD, "amountIn": "3"}, **{"Idempotency-Key": "shared"})
    assert mine["orderId"] != theirs["orderId"]
    for key, order in ((api_key, mine), (other, theirs)):
        wait_final(client, order["orderId"], key)


def test_an_order_moves_each_pool_by_exactly_its_fills_and_the_balances_by_the_order(
    client: Any, api_key: str
) -> None:
    pools_before = {p["id"]: p for p in check(PoolsResponse, client.get("/api/liquidity-pools"))["pools"]}
    held = balances(client, api_key)
    order = execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "50"})
    fills = check(TradesPage, client.get(f"/api/trades?orderId={order['orderId']}"))["trades"]
    assert fills and all(f["kind"] == "amm" for f in fills)
    assert sum(dec(f["amountIn"]) for f in fills if f["hop"] == 0) == Decimal(50)
    pools_after = {p["id"]: p for p in client.get("/api/liquidity-pools").get_json()["pools"]}

    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in fills:
        expected[(f["venueId"], f["tokenIn"])] += dec(f["amountIn"])
        expected[(f["venueId"], f["tokenOut"])] -= dec(f["amountOut"])
    for pool_id, before in pools_before.items():
        after = pools_after[pool_id]
        for side in ("A", "B"):
            change = dec(after[f"reserve{side}"]) - dec(before[f"reserve{side}"])
            assert change == expected.get((pool_id, before[f"token{side}"]), Decimal(0)), (pool_id, side)

    now = balances(client, api_key)
    assert dec(now["SOL"]["amount"]) == dec(held["SOL"]["amount"]) - 50
    assert dec(now["USDC"]["amount"]) == dec(held["USDC"]["amount"]) + dec(order["amountOut"])
    assert now["SOL"]["reserved"] == "0"
    assert dec(order["amountOut"]) == sum(dec(f["amountOut"]) for f in fills if f["tokenOut"] == "USDC")


def test_an_otc_fill_moves_the_desk_inventory(client: Any, api_key: str) -> None:
    desks = {d["id"]: d for d in check(OtcPoolsResponse, client.get("/api/otc-pools"))["desks"]}
    started = time.time()
    order = execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "300"})
    otc = [leg for leg in order["legs"] if leg["kind"] == "otc"]
    assert otc, "300 SOL should route partly to the SOL/USDC desk"
    desk_before = desks[otc[0]["venueId"]]
    desk_after = {d["id"]: d for d in client.get("/api/otc-pools").get_json()["desks"]}[otc[0]["venueId"]]
    sold, paid = sum(dec(leg["amountIn"]) for leg in otc), sum(dec(leg["amountOut"]) for leg in otc)
    # Base was at its target, so it does not refill: it grows by exactly what the desk bought.
    assert dec(desk_after["inventory"]["base"]) == dec(desk_before["inventory"]["base"]) + sold
    # Quote refills linearly from the fill on, capped at the target.
    low = dec(desk_before["inventory"]["quote"]) - paid
    refill = dec(desk_after["refillPerS"]["quote"]) * Decimal(time.time() - started + 1)
    assert low <= dec(desk_after["inventory"]["quote"]) <= low + refill


# --- reading orders --------------------------------------------------------------------------------


def test_orders_and_the_account_need_a_key(client: Any, api_key: str) -> None:
    order_id = submit(client, api_key, GOOD)["orderId"]
    for path in ("/api/orders", f"/api/orders/{order_id}", "/api/accounts/me"):
        assert_error(client.get(path), 401, "unauthorized", "X-API-Key")
        assert_error(client.get(path, headers={"X-API-Key": "sr_wrong"}), 401, "unauthorized", "X-API-Key")
    wait_final(client, order_id, api_key)


def test_someone_elses_order_is_not_found(app: Flask, client: Any, api_key: str) -> None:
    order_id = submit(client, api_key, GOOD)["orderId"]
    other = other_account_key(app)
    assert_error(client.get(f"/api/orders/{order_id}", headers=auth(other)), 404, "not_found", "orderId")
    assert check(OrdersPage, client.get("/api/orders", headers=auth(other)))["total"] == 0
    for missing in ("0" * 32, "no-such-order", "x" * 200, "bad%00id"):
        assert_error(client.get(f"/api/orders/{missing}", headers=auth(api_key)), 404, "not_found", "orderId")
    wait_final(client, order_id, api_key)


def test_the_account_shows_its_paper_balances(client: Any, api_key: str) -> None:
    body = check(AccountResponse, client.get("/api/accounts/me", headers=auth(api_key)))
    assert body["name"] == "demo" and body["paper"] is True
    assert {b["token"]: b["amount"] for b in body["balances"]} == {
        "BONK": "5000000000",
        "JUP": "100000",
        "RAY": "50000",
        "SOL": "1000",
        "USDC": "250000",
        "USDT": "250000",
    }
    assert all(b["reserved"] == "0" and b["available"] == b["amount"] for b in body["balances"])


def test_the_orders_list_filters_pages_and_puts_the_newest_first(client: Any, api_key: str) -> None:
    submitted = [
        execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}),
        execute(
            client,
            api_key,
            {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "100", "routingStrategy": "best_price"},
        ),
        execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDT", "amountIn": "2"}),
    ]
    ids = [o["orderId"] for o in submitted]
    everything = check(OrdersPage, client.get("/api/orders", headers=auth(api_key)))
    assert everything["total"] == 3
    assert [o["orderId"] for o in everything["orders"]] == ids[::-1]

    def listed(query: str) -> list[str]:
        body = check(OrdersPage, client.get(f"/api/orders?{query}", headers=auth(api_key)))
        assert body["total"] == len(body["orders"]) or "limit" in query
        return [o["orderId"] for o in body["orders"]]

    assert listed("tokenIn=SOL") == [ids[2], ids[0]]
    assert listed(f"tokenIn={SOL_MINT}") == [ids[2], ids[0]]
    assert listed("tokenOut=usdt") == [ids[2]]
    assert listed("routingStrategy=BEST_PRICE") == [ids[1]]
    assert listed("status=confirmed") == ids[::-1]
    assert listed("status=failed") == []
    assert listed("limit=2") == [ids[2], ids[1]]
    assert listed("limit=2&offset=2") == [ids[0]]
    page = client.get("/api/orders?limit=1&offset=1", headers=auth(api_key)).get_json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    second = submitted[1]["createdAt"]
    assert listed(f"from={second}") == [ids[2], ids[1]]
    assert listed(f"to={second}") == [ids[0]]
    assert listed(f"from={second}&to={submitted[2]['createdAt']}") == [ids[1]]
    assert listed("from=2000-01-01") == ids[::-1]  # a date without a zone is UTC
    assert listed("to=2000-01-01T00:00:00%2B02:00") == []


BAD_ORDER_QUERIES = [
    ("bad from date", "from=yesterday", "from"),
    ("impossible date", "from=2026-02-30", "from"),
    ("bad to date", "to=2026-13-01", "to"),
    ("to before from", "from=2026-01-02&to=2026-01-01", "to"),
    ("date out of range", "to=9999-12-31T23:00:00-05:00", "to"),
    ("limit zero", "limit=0", "limit"),
    ("limit above 500", "limit=501", "limit"),
    ("limit not a number", "limit=ten", "limit"),
    ("negative offset", "offset=-1", "offset"),
    ("huge offset", "offset=99999999999999999999", "offset"),
    ("repeated limit", "limit=1&limit=2", "limit"),
    ("repeated status", "status=failed&status=confirmed", "status"),
    ("unknown status", "status=done", "status"),
    ("unknown strategy", "routingStrategy=CHEAPEST", "routingStrategy"),
    ("unknown parameter", "sort=asc", "sort"),
    ("NUL character", "tokenOut=US%00DC", "tokenOut"),
]


@pytest.mark.parametrize(
    ("query", "field"), [c[1:] for c in BAD_ORDER_QUERIES], ids=[c[0] for c in BAD_ORDER_QUERIES]
)
def test_a_bad_orders_query_names_its_parameter(client: Any, api_key: str, query: str, field: str) -> None:
    assert_error(client.get(f"/api/orders?{query}", headers=auth(api_key)), 400, "invalid_input", field)


@pytest.mark.parametrize("field", ["tokenIn", "tokenOut"])
def test_an_unknown_token_filter_names_its_parameter(client: Any, api_key: str, field: str) -> None:
    assert_error(client.get(f"/api/orders?{field}=DOGE", headers=auth(api_key)), 400, "unknown_token", field)
    assert_error(client.get(f"/api/trades?{field}=DOGE"), 400, "unknown_token", field)


# --- public market data ----------------------------------------------------------------------------


def test_market_data_and_analytics_are_public(client: Any) -> None:
    for path, model in (
        ("/api/tokens", TokensResponse),
        ("/api/quote?tokenIn=SOL&tokenOut=USDC&amountIn=1", QuoteResponse),
        ("/api/prices", PricesResponse),
        ("/api/liquidity-pools", PoolsResponse),
        ("/api/otc-pools", OtcPoolsResponse),
        ("/api/trades", TradesPage),
        ("/api/analytics/summary", AnalyticsSummary),
    ):
        r = client.get(path)
        assert r.status_code == 200, (path, r.get_json())
        check(model, r)


def test_a_quote_splits_the_exact_amount_and_accepts_a_mint(client: Any) -> None:
    body = check(QuoteResponse, client.get(f"/api/quote?tokenIn={SOL_MINT}&tokenOut=usdc&amountIn=12.5"))
    assert (body["tokenIn"], body["tokenOut"], body["amountIn"]) == ("SOL", "USDC", "12.5")
    route = body["route"]
    assert sum(dec(leg["amountIn"]) for leg in route["legs"] if leg["hop"] == 0) == Decimal("12.5")
    assert dec(route["minAmountOut"]) == (dec(route["amountOut"]) * (10_000 - 50) / 10_000).quantize(
        Decimal("0.000001"), rounding="ROUND_FLOOR"
    )
    assert body["jupiter"] is None or body["jupiter"]["available"] is False


BAD_QUOTES: list[tuple[str, str, int, str, str]] = [
    ("unknown tokenIn", "tokenIn=DOGE&tokenOut=USDC&amountIn=1", 400, "unknown_token", "tokenIn"),
    ("unknown tokenOut", "tokenIn=SOL&tokenOut=DOGE&amountIn=1", 400, "unknown_token", "tokenOut"),
    ("same token", "tokenIn=SOL&tokenOut=sol&amountIn=1", 400, "invalid_input", "tokenOut"),
    ("zero amount", "tokenIn=SOL&tokenOut=USDC&amountIn=0", 400, "invalid_input", "amountIn"),
    ("negative amount", "tokenIn=SOL&tokenOut=USDC&amountIn=-1", 400, "invalid_input", "amountIn"),
    ("non-numeric amount", "tokenIn=SOL&tokenOut=USDC&amountIn=ten", 400, "invalid_input", "amountIn"),
    ("too precise amount", "tokenIn=SOL&tokenOut=USDC&amountIn=0.0000000001", 400, "too_precise", "amountIn"),
    ("huge amount", "tokenIn=SOL&tokenOut=USDC&amountIn=1e30", 400, "invalid_input", "amountIn"),
    ("missing amount", "tokenIn=SOL&tokenOut=USDC", 400, "invalid_input", "amountIn"),
    (
        "unknown strategy",
        "tokenIn=SOL&tokenOut=USDC&amountIn=1&routingStrategy=X",
        400,
        "invalid_input",
        "routingStrategy",
    ),
    (
        "slippage out of range",
        "tokenIn=SOL&tokenOut=USDC&amountIn=1&slippageBps=5001",
        400,
        "invalid_input",
        "slippageBps",
    ),
    (
        "non-integer slippage",
        "tokenIn=SOL&tokenOut=USDC&amountIn=1&slippageBps=0.5",
        400,
        "invalid_input",
        "slippageBps",
    ),
    (
        "repeated parameter",
        "tokenIn=SOL&tokenOut=USDC&amountIn=1&amountIn=2",
        400,
        "invalid_input",
        "amountIn",
    ),
    ("unknown parameter", "tokenIn=SOL&tokenOut=USDC&amountIn=1&amount=1", 400, "invalid_input", "amount"),
    ("too small for any venue", "tokenIn=BONK&tokenOut=SOL&amountIn=0.00001", 422, "no_route", "amountIn"),
]


@pytest.mark.parametrize(
    ("query", "status", "code", "field"), [c[1:] for c in BAD_QUOTES], ids=[c[0] for c in BAD_QUOTES]
)
def test_a_bad_quote_names_its_field(client: Any, query: str, status: int, code: str, field: str) -> None:
    assert_error(client.get(f"/api/quote?{query}"), status, code, field)


def test_prices_come_from_the_pools_as_stored_now(app: Flask, client: Any) -> None:
    # Every SOL/stable pool at 1,000 SOL to 300,000 stable: the pool-implied SOL price becomes 300.
    with app.app_context():
        query = sa.select(AmmPool).where(AmmPool.token_a == "SOL", AmmPool.token_b.in_(("USDC", "USDT")))
        for pool in db.session.execute(query).scalars():
            pool.reserve_a, pool.reserve_b = 1_000 * 10**9, 300_000 * 10**6
        db.session.commit()
    body = check(PricesResponse, client.get("/api/prices"))
    assert set(body["prices"]) == set(TOKENS)
    assert dec(body["prices"]["SOL"]["priceUsd"]) == 300
    assert dec(body["prices"]["USDC"]["priceUsd"]) == 1
    assert body["source"] == "pools" and body["sourceCounts"] == {"pools": len(TOKENS)}
    assert all(p["source"] == "pools" and p["change24hPct"] is None for p in body["prices"].values())
    assert [s["name"] for s in body["sources"]] == ["pools", "static"]
    assert 0 <= body["cacheAgeS"] < 60
    assert_error(client.get("/api/prices?symbols=SOL"), 400, "invalid_input", "symbols")


def test_liquidity_pools_show_every_pool_and_filter_by_dex_and_pair(client: Any) -> None:
    body = check(PoolsResponse, client.get("/api/liquidity-pools"))
    assert body["total"] == len(body["pools"]) == 12
    pools = {p["id"]: p for p in body["pools"]}
    stable = pools["raydium-usdc-usdt"]
    assert (stable["reserveA"], stable["reserveB"], stable["feeBps"]) == ("6000000", "6000000", 5)
    assert (stable["price"], stable["depthUsd"]) == ("1", "12000000.00")
    sol = pools["orca-sol-usdc"]
    assert dec(sol["price"]) == dec(sol["reserveB"]) / dec(sol["reserveA"]) == 150

    def ids(query: str) -> list[str]:
        return [p["id"] for p in check(PoolsResponse, client.get(f"/api/liquidity-pools?{query}"))["pools"]]

    assert ids("dex=ORCA") == ["orca-jup-usdc", "orca-sol-usdc", "orca-sol-usdt", "orca-usdc-usdt"]
    pair = ["meteora-sol-usdc", "orca-sol-usdc", "raydium-sol-usdc"]
    assert ids("tokenA=SOL&tokenB=USDC") == pair
    assert ids("tokenA=USDC&tokenB=SOL") == pair  # either orientation
    assert ids("tokenA=BONK") == ["meteora-bonk-sol"]
    assert ids("tokenB=RAY") == ["raydium-ray-sol"]
    assert ids("dex=meteora&tokenA=USDT&tokenB=USDC") == ["meteora-usdc-usdt"]
    assert ids("tokenA=RAY&tokenB=USDC") == []


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("dex=Uniswap", "invalid_input", "dex"),
        ("dex=", "invalid_input", "dex"),
        ("tokenA=DOGE", "unknown_token", "tokenA"),
        ("tokenA=SOL&tokenB=DOGE", "unknown_token", "tokenB"),
        ("tokenA=SOL&tokenB=sol", "invalid_input", "tokenB"),
        ("dex=Orca&dex=Raydium", "invalid_input", "dex"),
        ("venue=Orca", "invalid_input", "venue"),
    ],
)
def test_a_bad_pools_query_names_its_parameter(client: Any, query: str, code: str, field: str) -> None:
    assert_error(client.get(f"/api/liquidity-pools?{query}"), 400, code, field)


def test_otc_desks_show_their_terms_and_full_inventory(client: Any) -> None:
    body = check(OtcPoolsResponse, client.get("/api/otc-pools"))
    desks = {d["id"]: d for d in body["desks"]}
    assert set(desks) == {"otc-a-sol-usdc", "otc-b-sol-usdt"} and body["total"] == 2
    a = desks["otc-a-sol-usdc"]
    assert (a["base"], a["quote"], a["curve"]) == ("SOL", "USDC", "quadratic")
    assert (a["baseSpreadBps"], a["sizeSpreadBps"], a["minSize"], a["maxSize"]) == ("25", "40", "100", "5000")
    assert a["inventory"] == a["targets"] and a["inventory"]["base"] == "20000"
    assert a["settlementDelayS"] == "0"  # the tests' OTC_SETTLEMENT_SCALE is 0
    assert_error(client.get("/api/otc-pools?base=SOL"), 400, "invalid_input", "base")


# --- trades --------------------------------------------------------------------------------------


def test_trades_are_public_legs_newest_first_without_accounts(app: Flask, client: Any, api_key: str) -> None:
    first = execute(
        client,
        api_key,
        {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "10", "routingStrategy": "BEST_PRICE"},
    )
    second = execute(client, api_key, {"tokenIn": "RAY", "tokenOut": "USDC", "amountIn": "1000"})
    body = check(TradesPage, client.get("/api/trades"))
    legs = body["trades"]
    assert body["total"] == len(legs) == len(first["legs"]) + len(second["legs"])
    assert [leg["orderId"] for leg in legs] == [second["orderId"]] * len(second["legs"]) + [first["orderId"]]
    assert [leg["legIndex"] for leg in legs[: len(second["legs"])]] == list(range(len(second["legs"])))
    assert legs[-1] == first["legs"][0]
    assert (legs[-1]["venue"], legs[-1]["tokenIn"], legs[-1]["amountIn"]) == ("Meteora", "SOL", "10")
    assert not any("account" in key.lower() for leg in legs for key in leg)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Fill)).scalar_one() == body["total"]

    def order_ids(query: str) -> list[str]:
        return [leg["orderId"] for leg in check(TradesPage, client.get(f"/api/trades?{query}"))["trades"]]

    assert order_ids(f"orderId={first['orderId']}") == [first["orderId"]]
    assert order_ids("tokenIn=RAY") == [second["orderId"]]
    assert order_ids("venue=meteora&tokenIn=SOL&tokenOut=USDC")[-1] == first["orderId"]
    assert order_ids("venue=meteora-sol-usdc")[-1] == first["orderId"]
    assert order_ids("venue=Uniswap") == []
    assert order_ids(f"from={second['trade']['executedAt']}") == [second["orderId"]] * len(second["legs"])
    assert order_ids(f"to={second['trade']['executedAt']}") == [first["orderId"]]
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert order_ids(f"from={future}") == []

    pages = [client.get(f"/api/trades?limit=2&offset={o}").get_json() for o in range(0, body["total"], 2)]
    assert [leg for page in pages for leg in page["trades"]] == legs
    assert {page["total"] for page in pages} == {body["total"]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=not-a-date", "from"),
        ("to=2026-01-01&from=2026-06-01", "to"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("offset=-5", "offset"),
        ("venue=a&venue=b", "venue"),
        ("orderId=" + "x" * 65, "orderId"),
        ("account=1", "account"),
    ],
)
def test_a_bad_trades_query_names_its_parameter(client: Any, query: str, field: str) -> None:
    assert_error(client.get(f"/api/trades?{query}"), 400, "invalid_input", field)


# --- analytics -----------------------------------------------------------------------------------


def test_analytics_start_empty(client: Any) -> None:
    body = check(AnalyticsSummary, client.get("/api/analytics/summary"))
    assert body["orders"] == {
        "total": 0,
        "byStatus": dict.fromkeys(
            (
                "pending",
                "quoting",
                "routing",
                "building",
                "submitted",
                "confirmed",
                "failed",
                "open",
                "working",
                "cancelled",
                "expired",
            ),
            0,
        ),
        "final": 0,
        "successRate": None,
    }
    assert (body["trades"], body["notionalUsd"], body["volumeByVenue"], body["volumeByStrategy"]) == (
        0,
        0,
        [],
        [],
    )
    assert body["savingsVsJupiter"] == {
        "available": False,
        "trades": 0,
        "totalUsd": None,
        "avgUsd": None,
        "avgBps": None,
    }
    assert body["latency"] == {
        "count": 0,
        "meanMs": None,
        "p50Ms": None,
        "p95Ms": None,
        "p99Ms": None,
        "byKind": [],
    }


def test_one_single_venue_trade_is_all_of_its_venues_volume(client: Any, api_key: str) -> None:
    execute(
        client,
        api_key,
        {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "10", "routingStrategy": "BEST_PRICE"},
    )
    body = check(AnalyticsSummary, client.get("/api/analytics/summary"))
    assert body["trades"] == 1
    assert body["notionalUsd"] == pytest.approx(1500.0)  # 10 SOL at the pools' 150 USD
    assert body["volumeByVenue"] == [
        {"venue": "Meteora", "fills": 1, "volumeUsd": pytest.approx(1500.0), "amountIn": {"SOL": "10"}}
    ]
    assert body["volumeByStrategy"] == [
        {"strategy": "BEST_PRICE", "trades": 1, "volumeUsd": pytest.approx(1500.0)}
    ]
    best = body["savingsVsBestSingle"]
    assert (best["available"], best["trades"], best["totalUsd"], best["avgBps"]) == (True, 1, 0, 0)


def test_analytics_add_up_to_the_trades(app: Flask, client: Any, api_key: str) -> None:
    orders = [
        execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "50"}),
        execute(client, api_key, {"tokenIn": "RAY", "tokenOut": "USDC", "amountIn": "1000"}),
        execute(
            client,
            api_key,
            {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "2000", "routingStrategy": "BEST_PRICE"},
        ),
    ]
    # An order whose minimum no route can pay fails at execution (accepted before the market moved:
    # the API itself now refuses such a minimum at submission, min_amount_out_unreachable).
    failed = wait_final(
        client,
        write_and_dispatch(
            app, token_in="SOL", token_out="USDC", amount_in=10**9, min_amount_out=1_000_000 * 10**6
        ),
        api_key,
    )
    assert failed["status"] == "failed" and failed["error"]["code"] == "slippage_exceeded"

    body = check(AnalyticsSummary, client.get("/api/analytics/summary"))
    with app.app_context():
        trades = {t.order_id: t for t in db.session.execute(sa.select(Trade)).scalars()}
    assert body["trades"] == len(trades) == 3
    assert body["notionalUsd"] == pytest.approx(sum(t.notional_usd for t in trades.values()))
    assert body["orders"]["byStatus"]["confirmed"] == 3 and body["orders"]["byStatus"]["failed"] == 1
    assert (body["orders"]["total"], body["orders"]["final"]) == (4, 4)
    assert body["orders"]["successRate"] == pytest.approx(0.75)

    # Per venue: exactly the fills' input per token, and every fill counted once.
    fills = client.get("/api/trades?limit=500").get_json()["trades"]
    amounts: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for f in fills:
        amounts[f["venue"]][f["tokenIn"]] += dec(f["amountIn"])
    assert {
        v["venue"]: {t: dec(a) for t, a in v["amountIn"].items()} for v in body["volumeByVenue"]
    } == amounts
    assert sum(v["fills"] for v in body["volumeByVenue"]) == len(fills)
    # Per venue USD: each trade's notional once for its first hop, plus the share that took a second
    # hop, plus the share that took a third (RAY→SOL→USDT→USDC): Σ of the legs' shares of the trade.
    expected_usd = 0.0
    for order in orders:
        trade = trades[order["orderId"]]
        legs, total = order["legs"], dec(order["amountIn"])

        def share(leg: dict[str, Any], legs: list[dict[str, Any]] = legs, total: Decimal = total) -> Decimal:
            if leg["hop"] == 0:
                return dec(leg["amountIn"]) / total
            reached = sum(share(g) for g in legs if g["tokenOut"] == leg["tokenIn"])
            fed = sum(dec(g["amountIn"]) for g in legs if g["hop"] > 0 and g["tokenIn"] == leg["tokenIn"])
            return dec(leg["amountIn"]) / fed * reached

        expected_usd += trade.notional_usd * float(sum(share(leg) for leg in legs))
    assert sum(v["volumeUsd"] for v in body["volumeByVenue"]) == pytest.approx(expected_usd, rel=1e-9)
    by_strategy = {s["strategy"]: s for s in body["volumeByStrategy"]}
    assert {k: v["trades"] for k, v in by_strategy.items()} == {"OPTIMAL_SPLIT": 2, "BEST_PRICE": 1}
    assert sum(s["volumeUsd"] for s in by_strategy.values()) == pytest.approx(body["notionalUsd"])

    best = body["savingsVsBestSingle"]
    assert best["trades"] == 3 and best["totalUsd"] == pytest.approx(
        sum(t.savings_usd for t in trades.values())
    )
    assert best["totalUsd"] >= 0  # the router never does worse than the best single venue
    assert body["savingsVsJupiter"]["available"] is False  # Jupiter is offline in tests
    assert body["priceImpact"]["trades"] == 3
    assert body["priceImpact"]["maxBps"] == pytest.approx(
        max(float(t.price_impact_bps) for t in trades.values()), abs=1e-4
    )
    latency = body["latency"]
    assert latency["count"] == 3
    assert latency["p50Ms"] == pytest.approx(sorted(t.latency_ms for t in trades.values())[1], abs=1e-3)
    assert (
        latency["p50Ms"]
        <= latency["p95Ms"]
        <= latency["p99Ms"]
        == pytest.approx(max(t.latency_ms for t in trades.values()), abs=1e-3)
    )

    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = check(AnalyticsSummary, client.get(f"/api/analytics/summary?from={future}"))
    assert (later["trades"], later["orders"]["total"], later["window"]["from"]) == (0, 0, future)
    until = orders[1]["trade"]["executedAt"]
    earlier = client.get(f"/api/analytics/summary?to={until}").get_json()
    assert earlier["trades"] == 1 and earlier["volumeByVenue"][0]["amountIn"].get("SOL")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=soon", "from"),
        ("from=2026-06-01&to=2026-01-01", "to"),
        ("to=1&to=2", "to"),
        ("venue=Orca", "venue"),
    ],
)
def test_a_bad_analytics_query_names_its_parameter(client: Any, query: str, field: str) -> None:
    assert_error(client.get(f"/api/analytics/summary?{query}"), 400, "invalid_input", field)


# --- the rest --------------------------------------------------------------------------------------


def test_health_and_tokens(client: Any) -> None:
    from payloads import HealthResponse

    health = check(HealthResponse, client.get("/api/health"))
    assert health["status"] == "ok" and health["checks"]["database"]["ok"] is True
    assert health["checks"]["jupiter"] == {"state": "disabled"}
    tokens = check(TokensResponse, client.get("/api/tokens"))["tokens"]
    assert {t["symbol"]: t["decimals"] for t in tokens} == {s: t.decimals for s, t in TOKENS.items()}


def test_an_unknown_api_path_or_method_answers_the_error_shape(client: Any) -> None:
    assert_error(client.get("/api/nothing-here"), 404, "not_found", None)
    assert_error(client.delete("/api/orders"), 405, "method_not_allowed", None)


def test_an_oversized_body_is_refused_before_it_is_read(client: Any, api_key: str) -> None:
    body = b'{"tokenIn": "SOL", "pad": "' + b"x" * 100_000 + b'"}'
    r = client.post(
        "/api/orders/execute", data=body, content_type="application/json", headers={"X-API-Key": api_key}
    )
    assert r.status_code == 413, r.get_json()
    assert r.get_json()["error"]["code"] == "request_entity_too_large"


RELEASE = threading.Event()


def hold_a_worker() -> None:
    """A job that occupies the executor until the test sets RELEASE (the executor runs it by name)."""
    RELEASE.wait(10 * waiting.WAIT_S)  # a bound only so that a broken test cannot hang the suite


def test_new_orders_are_refused_with_retry_after_while_the_queue_is_full(app: Any, api_key: str) -> None:
    """Backpressure: past ORDER_QUEUE_LIMIT waiting jobs, a submission is a 503 and writes nothing."""
    executor = get_services(app).executor
    app.config["ORDER_QUEUE_LIMIT"] = 3
    RELEASE.clear()
    for _ in range(3):  # occupy the queue with jobs that wait
        executor.enqueue("tests.test_api.hold_a_worker")
    try:
        before = rows(app)
        r = app.test_client().post(
            "/api/orders/execute",
            json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"},
            headers={"X-API-Key": api_key},
        )
        assert r.status_code == 503, r.get_json()
        assert r.get_json()["error"]["code"] == "queue_full"
        assert r.headers["Retry-After"] == "2"
        assert rows(app) == before
    finally:
        RELEASE.set()
