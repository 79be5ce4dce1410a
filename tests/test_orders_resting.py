"""Resting orders through the API: limit, stop-loss, take-profit, OCO, expiry and cancel.

Each test runs on SQLite and PostgreSQL (the ``client`` fixture). The watcher's tick is called
directly (``background.watch_resting``), as the maintenance loop calls it: no test waits on a timer.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from background import watch_resting
from models import Order, Trade, db
from order_book import limit_min_amount_out
from payloads import OrderAccepted, OrderDetail, OrdersPage, OrderSummary
from tests.test_api import assert_error, auth, balances, check, dec, execute, other_account_key, rows
from tests.waiting import wait_until
from tokens import get_token
from venue_state import account_for_api_key, deposit


def place(client: Any, key: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/orders/execute", json=body, headers=auth(key))
    assert r.status_code == 202, r.get_json()
    return check(OrderAccepted, r)


def detail(client: Any, key: str, order_id: str) -> dict[str, Any]:
    r = client.get(f"/api/orders/{order_id}", headers=auth(key))
    assert r.status_code == 200, r.get_json()
    return check(OrderDetail, r)


def wait_status(client: Any, key: str, order_id: str, *wanted: str) -> dict[str, Any]:
    return wait_until(
        lambda: (d := detail(client, key, order_id))["status"] in wanted and d,
        f"order {order_id} to be {' or '.join(wanted)}",
    )


def cancel(client: Any, key: str, order_id: str) -> Any:
    return client.post(f"/api/orders/{order_id}/cancel", headers=auth(key))


def reserved(client: Any, key: str, token: str) -> Decimal:
    return dec(balances(client, key)[token]["reserved"])


def amount(client: Any, key: str, token: str) -> Decimal:
    return dec(balances(client, key)[token]["amount"])


def tick(app: Flask) -> dict[str, int]:
    result = watch_resting(app)
    assert result is not None  # without Redis every call takes its turn
    return result


def reference(client: Any, token_in: str = "SOL", token_out: str = "USDC") -> Decimal:
    """The watcher's reference price: tokenOut per tokenIn from the USD prices (the pools')."""
    prices = {s: dec(p["priceUsd"]) for s, p in client.get("/api/prices").get_json()["prices"].items()}
    return prices[token_in] / prices[token_out]


def route_pays(client: Any, amount_in: str, token_in: str = "SOL", token_out: str = "USDC") -> Decimal:
    r = client.get(f"/api/quote?tokenIn={token_in}&tokenOut={token_out}&amountIn={amount_in}")
    assert r.status_code == 200, r.get_json()
    return dec(r.get_json()["route"]["amountOut"])


def trades_of(app: Flask, order_id: str) -> int:
    with app.app_context():
        return int(
            db.session.execute(sa.select(sa.func.count()).where(Trade.order_id == order_id)).scalar_one()
        )


def fund(app: Flask, key: str, amounts: dict[str, str]) -> None:
    with app.app_context():
        account = account_for_api_key(db.session, key)
        assert account is not None
        deposit(db.session, account, amounts, memo="test funding")
        db.session.commit()


def messages(order: dict[str, Any]) -> list[str]:
    return [e["message"] for e in order["events"]]


LIMIT = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2", "orderType": "limit", "limitPrice": "1000"}


# --- intake ----------------------------------------------------------------------------------------


def test_a_limit_order_rests_open_holding_its_input_with_the_ceiling_of_its_limit_as_minimum(
    client: Any, api_key: str
) -> None:
    body = LIMIT | {"limitPrice": "150.0000005", "amountIn": "1.5"}
    accepted = place(client, api_key, body)
    assert accepted["status"] == "open"
    assert accepted["minAmountOut"] == "225.000001"  # ceil(1.5 × 150.0000005 USDC) in base units
    order = detail(client, api_key, accepted["orderId"])
    assert (order["orderType"], order["limitPrice"], order["triggerPrice"]) == ("limit", "150.0000005", None)
    assert [e["status"] for e in order["events"]] == ["open"]
    assert reserved(client, api_key, "SOL") == Decimal("1.5")
    assert tick(app_of(client))["triggered"] == 0  # 150.0000005 is above what 1.5 SOL fetches now
    assert detail(client, api_key, accepted["orderId"])["status"] == "open"


def app_of(client: Any) -> Flask:
    return client.application  # type: ignore[no-any-return]


IN_THE_FUTURE = (datetime.now(UTC) + timedelta(days=400)).isoformat()
# (id, body, field)
BAD_RESTING: list[tuple[str, dict[str, Any], str]] = [
    ("limit without limitPrice", LIMIT | {"limitPrice": None}, "limitPrice"),
    ("zero limitPrice", LIMIT | {"limitPrice": "0"}, "limitPrice"),
    ("negative limitPrice", LIMIT | {"limitPrice": "-1"}, "limitPrice"),
    ("underscored limitPrice", LIMIT | {"limitPrice": "1_50"}, "limitPrice"),
    ("huge limitPrice", LIMIT | {"limitPrice": "1" + "0" * 25}, "limitPrice"),
    ("limit with triggerPrice", LIMIT | {"triggerPrice": "140"}, "triggerPrice"),
    ("stop without triggerPrice", LIMIT | {"orderType": "stop_loss", "limitPrice": None}, "triggerPrice"),
    ("stop with limitPrice", LIMIT | {"orderType": "stop_loss", "triggerPrice": "140"}, "limitPrice"),
    (
        "take profit at 0",
        {**LIMIT, "orderType": "take_profit", "limitPrice": None, "triggerPrice": 0},
        "triggerPrice",
    ),
    ("limit without amountIn", LIMIT | {"amountIn": None}, "amountIn"),
    ("limit with amountOut", LIMIT | {"amountOut": "100"}, "amountOut"),
    ("limit with quoteId", LIMIT | {"quoteId": "q"}, "quoteId"),
    ("limit with minAmountOut", LIMIT | {"minAmountOut": "1"}, "minAmountOut"),
    ("both expiries", LIMIT | {"expiresAt": IN_THE_FUTURE, "expiresInS": 60}, "expiresInS"),
    ("expiry in the past", LIMIT | {"expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt"),
]


@pytest.mark.parametrize(
    ("body", "field"), [(b, f) for _, b, f in BAD_RESTING], ids=[i for i, _, _ in BAD_RESTING]
)
def test_a_bad_resting_order_is_a_422_naming_its_field_and_writes_nothing(
    app: Flask, client: Any, api_key: str, body: dict[str, Any], field: str
) -> None:
    before = rows(app)
    body = {k: v for k, v in body.items() if v is not None}
    assert_error(
        client.post("/api/orders/execute", json=body, headers=auth(api_key)), 422, "invalid_order", field
    )
    assert rows(app) == before
    assert reserved(client, api_key, "SOL") == 0


def test_a_resting_order_larger_than_the_balance_is_refused(app: Flask, client: Any, api_key: str) -> None:
    response = client.post("/api/orders/execute", json=LIMIT | {"amountIn": "1000000"}, headers=auth(api_key))
    assert_error(response, 422, "insufficient_balance", "amountIn")


def test_a_replayed_resting_order_is_the_same_order(client: Any, api_key: str) -> None:
    headers = auth(api_key, **{"Idempotency-Key": "rest-1"})
    first = client.post("/api/orders/execute", json=LIMIT, headers=headers)
    again = client.post("/api/orders/execute", json=LIMIT, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.get_json()["orderId"] == again.get_json()["orderId"]
    assert reserved(client, api_key, "SOL") == 2
    other = client.post("/api/orders/execute", json=LIMIT | {"limitPrice": "999"}, headers=headers)
    assert_error(other, 409, "idempotency_conflict", "Idempotency-Key")


# --- triggering ------------------------------------------------------------------------------------


def test_a_limit_order_whose_price_is_there_executes_at_least_at_its_limit(
    app: Flask, client: Any, api_key: str
) -> None:
    pays = route_pays(client, "2")
    limit = (pays / 2 * Decimal("0.999")).quantize(Decimal("0.0001"))
    sol, usdc = amount(client, api_key, "SOL"), amount(client, api_key, "USDC")
    order_id = place(client, api_key, LIMIT | {"limitPrice": str(limit)})["orderId"]
    assert tick(app)["triggered"] == 1
    order = wait_status(client, api_key, order_id, "confirmed", "failed")
    assert order["status"] == "confirmed", messages(order)
    assert dec(order["amountOut"]) >= 2 * limit
    assert order["triggeredAt"] is not None
    assert [e["status"] for e in order["events"]][:2] == ["open", "pending"]
    assert order["currentPrice"] is None and order["distanceBps"] is None  # not resting any more
    assert messages(order)[1].startswith("limit reached: best route pays ")
    assert amount(client, api_key, "SOL") == sol - 2
    assert amount(client, api_key, "USDC") == usdc + dec(order["amountOut"])
    assert reserved(client, api_key, "SOL") == 0
    assert tick(app)["triggered"] == 0 and trades_of(app, order_id) == 1


@pytest.mark.parametrize(
    ("kind", "ratio", "fires"),
    [
        ("stop_loss", Decimal("1.01"), True),
        ("stop_loss", Decimal("0.99"), False),
        ("take_profit", Decimal("0.99"), True),
        ("take_profit", Decimal("1.01"), False),
    ],
)
def test_stops_and_take_profits_fire_on_the_reference_price(
    app: Flask, client: Any, api_key: str, kind: str, ratio: Decimal, fires: bool
) -> None:
    trigger = (reference(client) * ratio).quantize(Decimal("0.0001"))
    body = {
        "tokenIn": "SOL",
        "tokenOut": "USDC",
        "amountIn": "1",
        "orderType": kind,
        "triggerPrice": str(trigger),
    }
    order_id = place(client, api_key, body)["orderId"]
    assert tick(app)["triggered"] == int(fires)
    if not fires:
        waiting = detail(client, api_key, order_id)
        assert waiting["status"] == "open"
        assert reserved(client, api_key, "SOL") == 1
        # What its page shows: the reference now, and how far the trigger is from it (signed, bps).
        assert abs(dec(waiting["currentPrice"]) - reference(client)) < Decimal("1e-9")
        expected = (trigger - dec(waiting["currentPrice"])) / dec(waiting["currentPrice"]) * 10_000
        assert abs(dec(waiting["distanceBps"]) - expected) <= Decimal("0.01")
        assert (dec(waiting["distanceBps"]) < 0) == (kind == "stop_loss")
        return
    order = wait_status(client, api_key, order_id, "confirmed", "failed")
    assert order["status"] == "confirmed", messages(order)
    name, sign = ("stop", "<=") if kind == "stop_loss" else ("take profit", ">=")
    assert messages(order)[1].startswith(f"{name} triggered: reference ")
    assert f" {sign} trigger {trigger}" in messages(order)[1]
    # Its minimum came from the route at the trigger, less slippageBps (50).
    assert dec(order["minAmountOut"]) == (dec(order["quotedAmountOut"]) * 9950 / 10000).quantize(
        Decimal("0.000001"), rounding="ROUND_FLOOR"
    )
    assert reserved(client, api_key, "SOL") == 0


def test_moving_the_pool_by_trading_triggers_a_limit_and_a_stop_exactly_once(
    app: Flask, client: Any, api_key: str
) -> None:
    # JUP trades on one pool (Orca JUP/USDC) and no desk: market orders move its price.
    fund(app, api_key, {"USDC": "200000", "JUP": "200000"})
    start = {t: amount(client, api_key, t) for t in ("JUP", "USDC")}
    spent: Counter[str] = Counter()

    def traded(order: dict[str, Any]) -> None:
        assert order["status"] == "confirmed", messages(order)
        spent[order["tokenIn"]] += dec(order["amountIn"])
        spent[order["tokenOut"]] -= dec(order["amountOut"])

    sell = {"tokenIn": "JUP", "tokenOut": "USDC", "amountIn": "100"}
    limit_at = (route_pays(client, "100", "JUP") / 100 * Decimal("1.003")).quantize(Decimal("0.000001"))
    limit = place(client, api_key, sell | {"orderType": "limit", "limitPrice": str(limit_at)})
    stop_at = (reference(client, "JUP") * Decimal("0.997")).quantize(Decimal("0.000001"))
    stop = place(client, api_key, sell | {"orderType": "stop_loss", "triggerPrice": str(stop_at)})
    assert tick(app)["triggered"] == 0

    # The moves trade with wide slippage: each one's quote may come from the web's venue snapshot
    # taken before the move just made (up to 2 x VENUE_CACHE_S old); the orders under test are the
    # limit and the stop.
    buy_jup = {"tokenIn": "USDC", "tokenOut": "JUP", "amountIn": "4000", "slippageBps": 3000}
    sell_jup = {"tokenIn": "JUP", "tokenOut": "USDC", "amountIn": "5000", "slippageBps": 3000}
    # Buy JUP until the pool pays the limit: the limit sells, the stop stays.
    for _ in range(40):
        traded(execute(client, api_key, buy_jup))
        if tick(app)["triggered"]:
            break
    limit_order = wait_status(client, api_key, limit["orderId"], "confirmed", "failed")
    traded(limit_order)
    assert detail(client, api_key, stop["orderId"])["status"] == "open"

    # Sell JUP until the reference falls to the stop.
    for _ in range(40):
        traded(execute(client, api_key, sell_jup))
        if tick(app)["triggered"]:
            break
    stop_order = wait_status(client, api_key, stop["orderId"], "confirmed", "failed")
    traded(stop_order)
    assert tick(app)["triggered"] == 0

    for order, word in ((limit_order, "limit reached"), (stop_order, "stop triggered")):
        assert sum(m.startswith(word) for m in messages(order)) == 1
        assert [e["status"] for e in order["events"]].count("pending") == 1
        assert trades_of(app, order["orderId"]) == 1
    assert dec(limit_order["amountOut"]) >= 100 * limit_at
    for token in ("JUP", "USDC"):
        assert amount(client, api_key, token) == start[token] - spent[token]
        assert reserved(client, api_key, token) == 0


# --- OCO -------------------------------------------------------------------------------------------


def bracket(
    client: Any, key: str, group: str, stop_amount: str = "3", take_amount: str = "2"
) -> tuple[str, str]:
    ref = reference(client)
    stop = place(
        client,
        key,
        {
            "tokenIn": "SOL",
            "tokenOut": "USDC",
            "amountIn": stop_amount,
            "orderType": "stop_loss",
            "triggerPrice": str((ref * Decimal("0.9")).quantize(Decimal("0.01"))),
            "ocoGroup": group,
        },
    )
    take = place(
        client,
        key,
        {
            "tokenIn": "SOL",
            "tokenOut": "USDC",
            "amountIn": take_amount,
            "orderType": "take_profit",
            "triggerPrice": str((ref * Decimal("1.1")).quantize(Decimal("0.01"))),
            "ocoGroup": group,
        },
    )
    return stop["orderId"], take["orderId"]


def test_an_oco_group_holds_its_largest_order_once(client: Any, api_key: str) -> None:
    bracket(client, api_key, "b1", "3", "2")
    assert reserved(client, api_key, "SOL") == 3
    place(client, api_key, LIMIT | {"amountIn": "5", "ocoGroup": "b1"})
    assert reserved(client, api_key, "SOL") == 5  # the group's hold grew to its largest order


def test_when_one_of_an_oco_group_triggers_the_others_are_cancelled_and_their_hold_released(
    app: Flask, client: Any, api_key: str
) -> None:
    stop_id, take_id = bracket(client, api_key, "b2", "3", "2")
    sol = amount(client, api_key, "SOL")
    with app.app_context():  # the price reaches the take-profit: make its trigger the reference
        db.session.execute(sa.update(Order).where(Order.id == take_id).values(trigger_price=Decimal("0.01")))
        db.session.commit()
    assert tick(app) == {"open": 2, "triggered": 1, "expired": 0, "cancelled": 1}
    take = wait_status(client, api_key, take_id, "confirmed", "failed")
    assert take["status"] == "confirmed", messages(take)
    stop = detail(client, api_key, stop_id)
    assert stop["status"] == "cancelled"
    assert f"one-cancels-other, {take_id}" in messages(stop)[-1]
    assert amount(client, api_key, "SOL") == sol - 2
    assert reserved(client, api_key, "SOL") == 0


def test_cancelling_one_order_of_an_oco_group_cancels_the_group(client: Any, api_key: str) -> None:
    stop_id, take_id = bracket(client, api_key, "b3")
    r = cancel(client, api_key, take_id)
    assert r.status_code == 200 and check(OrderSummary, r)["status"] == "cancelled"
    assert detail(client, api_key, stop_id)["status"] == "cancelled"
    assert reserved(client, api_key, "SOL") == 0
    refused = client.post(
        "/api/orders/execute", json=LIMIT | {"ocoGroup": "b3"}, headers=auth(api_key)
    )  # the group has ended
    assert_error(refused, 422, "invalid_order", "ocoGroup")


def test_an_oco_group_sells_one_token(client: Any, api_key: str) -> None:
    bracket(client, api_key, "b4")
    body = {
        "tokenIn": "USDC",
        "tokenOut": "SOL",
        "amountIn": "10",
        "orderType": "limit",
        "limitPrice": "0.001",
        "ocoGroup": "b4",
    }
    assert_error(
        client.post("/api/orders/execute", json=body, headers=auth(api_key)), 422, "invalid_order", "ocoGroup"
    )


# --- expiry ----------------------------------------------------------------------------------------


def test_an_open_order_past_its_expiry_expires_and_its_hold_is_released(
    app: Flask, client: Any, api_key: str
) -> None:
    order_id = place(client, api_key, LIMIT | {"expiresInS": 60})["orderId"]
    kept = place(client, api_key, LIMIT | {"expiresInS": 3600})["orderId"]
    assert reserved(client, api_key, "SOL") == 4
    assert tick(app)["expired"] == 0
    with app.app_context():  # time passes (the clock is the database row's: no sleeping)
        past = datetime.now(UTC) - timedelta(seconds=1)
        db.session.execute(sa.update(Order).where(Order.id == order_id).values(expires_at=past))
        db.session.commit()
    assert tick(app)["expired"] == 1
    order = detail(client, api_key, order_id)
    assert order["status"] == "expired" and order["phases"]["expired"] is not None
    assert messages(order)[-1].startswith("expired at ")
    assert detail(client, api_key, kept)["status"] == "open"
    assert reserved(client, api_key, "SOL") == 2
    assert_error(cancel(client, api_key, order_id), 409, "order_final", "orderId")


def test_an_oco_order_that_expires_releases_only_what_the_group_no_longer_needs(
    app: Flask, client: Any, api_key: str
) -> None:
    stop_id, _ = bracket(client, api_key, "b5", "3", "2")
    with app.app_context():
        past = datetime.now(UTC) - timedelta(seconds=1)
        db.session.execute(sa.update(Order).where(Order.id == stop_id).values(expires_at=past))
        db.session.commit()
    assert tick(app)["expired"] == 1
    assert reserved(client, api_key, "SOL") == 2  # the take-profit still holds its own 2


# --- cancel ----------------------------------------------------------------------------------------


def test_cancelling_an_open_order_releases_its_hold_and_is_idempotent(client: Any, api_key: str) -> None:
    order_id = place(client, api_key, LIMIT)["orderId"]
    first = cancel(client, api_key, order_id)
    assert first.status_code == 200, first.get_json()
    assert check(OrderSummary, first)["status"] == "cancelled"
    assert reserved(client, api_key, "SOL") == 0
    again = cancel(client, api_key, order_id)
    assert again.status_code == 200 and again.get_json()["status"] == "cancelled"
    order = detail(client, api_key, order_id)
    assert [e["status"] for e in order["events"]] == ["open", "cancelled"]
    assert order["phases"]["cancelled"] is not None


def test_someone_elses_order_cannot_be_cancelled(app: Flask, client: Any, api_key: str) -> None:
    order_id = place(client, api_key, LIMIT)["orderId"]
    other = other_account_key(app)
    assert_error(cancel(client, other, order_id), 404, "not_found", "orderId")
    assert_error(cancel(client, api_key, "nope"), 404, "not_found", "orderId")
    assert detail(client, api_key, order_id)["status"] == "open"


def test_a_confirmed_order_cannot_be_cancelled(client: Any, api_key: str) -> None:
    order = execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
    assert_error(cancel(client, api_key, order["orderId"]), 409, "order_final", "orderId")


def test_an_executing_order_answers_409_with_its_state(app: Flask, client: Any, api_key: str) -> None:
    order_id = place(client, api_key, LIMIT)["orderId"]
    with app.app_context():  # as a worker leaves it between its steps (an OTC leg waiting to settle)
        db.session.execute(sa.update(Order).where(Order.id == order_id).values(status="submitted"))
        db.session.commit()
    body = assert_error(cancel(client, api_key, order_id), 409, "order_executing", "orderId")
    assert "submitted" in body["error"]["message"]


def test_cancel_racing_a_worker_ends_confirmed_or_cancelled_never_both(
    app: Flask, client: Any, api_key: str
) -> None:
    start = {t: amount(client, api_key, t) for t in ("SOL", "USDC")}
    outcomes: Counter[str] = Counter()
    sol_spent = Decimal(0)
    usdc_got = Decimal(0)
    for _ in range(12):
        order_id = place(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})["orderId"]
        answer = cancel(client, api_key, order_id)  # the in-process worker has it already, or not yet
        final = wait_status(client, api_key, order_id, "confirmed", "cancelled", "failed")
        assert final["status"] in ("confirmed", "cancelled"), messages(final)
        outcomes[final["status"]] += 1
        if final["status"] == "cancelled":
            assert answer.status_code == 200, answer.get_json()
            assert trades_of(app, order_id) == 0
        else:
            assert answer.status_code == 409, answer.get_json()
            assert answer.get_json()["error"]["code"] in ("order_final", "order_executing")
            assert trades_of(app, order_id) == 1
            sol_spent += 1
            usdc_got += dec(final["amountOut"])
        statuses = [e["status"] for e in final["events"]]
        assert not ("confirmed" in statuses and "cancelled" in statuses)
    assert amount(client, api_key, "SOL") == start["SOL"] - sol_spent
    assert amount(client, api_key, "USDC") == start["USDC"] + usdc_got
    assert reserved(client, api_key, "SOL") == 0


def test_cancel_from_many_threads_cancels_once(app: Flask, client: Any, api_key: str) -> None:
    order_id = place(client, api_key, LIMIT)["orderId"]
    answers: list[int] = []

    def go() -> None:
        answers.append(
            app.test_client().post(f"/api/orders/{order_id}/cancel", headers=auth(api_key)).status_code
        )

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200] * 6
    order = detail(client, api_key, order_id)
    assert [e["status"] for e in order["events"]].count("cancelled") == 1
    assert reserved(client, api_key, "SOL") == 0


# --- the list --------------------------------------------------------------------------------------


def test_the_orders_list_puts_resting_orders_first_and_filters_by_type(client: Any, api_key: str) -> None:
    limit_id = place(client, api_key, LIMIT)["orderId"]
    market = execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
    listed = check(OrdersPage, client.get("/api/orders", headers=auth(api_key)))["orders"]
    assert [o["orderId"] for o in listed] == [limit_id, market["orderId"]]
    only = check(OrdersPage, client.get("/api/orders?orderType=limit", headers=auth(api_key)))
    assert [o["orderId"] for o in only["orders"]] == [limit_id] and only["total"] == 1
    r = client.get("/api/orders?orderType=nope", headers=auth(api_key))
    assert_error(r, 400, "invalid_input", "orderType")


def test_limit_min_amount_out_matches_the_api(client: Any, api_key: str) -> None:
    accepted = place(client, api_key, LIMIT | {"amountIn": "0.123456789", "limitPrice": "151.33"})
    units = limit_min_amount_out("SOL", "USDC", 123_456_789, Decimal("151.33"))
    assert dec(accepted["minAmountOut"]) * get_token("USDC").unit == units


def test_a_triggered_limit_the_price_left_behind_goes_back_to_open_holding_its_input(
    app: Flask, client: Any, api_key: str
) -> None:
    import jobs
    from trade_logger import TriggerRequest, trigger_orders

    fund(app, api_key, {"JUP": "200000"})
    limit_at = (route_pays(client, "100", "JUP") / 100 * Decimal("0.999")).quantize(Decimal("0.000001"))
    sell = {"tokenIn": "JUP", "tokenOut": "USDC", "amountIn": "100", "orderType": "limit"}
    order_id = place(client, api_key, sell | {"limitPrice": str(limit_at)})["orderId"]
    jup = amount(client, api_key, "JUP")

    def trigger() -> None:  # as the watcher does, without dispatching it yet
        with app.app_context():
            assert trigger_orders(db.session, [TriggerRequest(order_id, "limit reached: test")]).triggered

    # The price falls between the trigger and the execution: the batch path, then the single one.
    for run in (lambda: jobs.execute_orders([order_id]), lambda: jobs.execute_order(order_id, 1)):
        trigger()
        # The move itself: wide slippage, since its quote may come from the web's venue snapshot
        # taken before the previous round's move (up to 2 x VENUE_CACHE_S old), and what is tested
        # here is the limit order, not this one.
        move = {"tokenIn": "JUP", "tokenOut": "USDC", "amountIn": "20000", "slippageBps": 3000}
        execute(client, api_key, move)
        with app.app_context():
            run()
        order = detail(client, api_key, order_id)
        assert order["status"] == "open", messages(order)
        assert messages(order)[-1].startswith("price moved back (market moved: best route now pays ")
        assert order["error"] is None
        assert reserved(client, api_key, "JUP") == 100
        assert amount(client, api_key, "JUP") == jup - 20000
        jup -= 20000
    assert trades_of(app, order_id) == 0
    assert [e["status"] for e in detail(client, api_key, order_id)["events"]].count("open") == 3


# --- the watcher's book between ticks ---------------------------------------------------------------


def test_the_kept_book_follows_new_cancelled_and_triggered_orders_like_a_full_read(
    app: Flask, client: Any, api_key: str
) -> None:
    """``RestingBook`` reads the whole book once, then only what changed: after orders are placed,
    cancelled and triggered, the kept book equals a fresh full read, and no full read happened."""
    from resting_book import RestingBook, open_order_book

    kept = RestingBook(full_reload_s=1e9)

    def kept_ids() -> set[str]:
        with app.app_context():
            book = kept.book(db.session, 0.0)
            db.session.rollback()
            return set(book.by_id)

    def full_ids() -> set[str]:
        with app.app_context():
            book = open_order_book(db.session)
            db.session.rollback()
            return set(book.by_id)

    first = place(client, api_key, LIMIT)["orderId"]
    assert kept_ids() == full_ids() == {first}
    second = place(client, api_key, LIMIT | {"limitPrice": "900"})["orderId"]
    stop = place(client, api_key, LIMIT | {"orderType": "stop_loss", "limitPrice": None, "triggerPrice": "1"})
    assert kept_ids() == full_ids() == {first, second, stop["orderId"]}
    assert cancel(client, api_key, first).status_code == 200
    assert kept_ids() == full_ids() == {second, stop["orderId"]}
    cheap = place(client, api_key, LIMIT | {"limitPrice": "1"})["orderId"]  # fills now
    assert kept_ids() == full_ids() == {second, stop["orderId"], cheap}
    tick(app)
    assert kept_ids() == full_ids() == {second, stop["orderId"]}
    assert kept.reloads == 1 and kept.refreshes == 4


def test_the_first_orders_of_a_new_oco_group_placed_together_hold_the_largest_once(
    app: Flask, client: Any, api_key: str
) -> None:
    """No row of the group exists yet when its first orders arrive together: each intake must
    still see the others' hold (on PostgreSQL an advisory lock per group orders them)."""
    answers: list[int] = []
    sizes = ["2", "3", "1", "2.5", "1.5", "3"]

    def go(size: str) -> None:
        body = LIMIT | {"amountIn": size, "ocoGroup": "born-together"}
        answers.append(
            app.test_client().post("/api/orders/execute", json=body, headers=auth(api_key)).status_code
        )

    threads = [threading.Thread(target=go, args=(size,)) for size in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [202] * len(sizes)
    assert reserved(client, api_key, "SOL") == 3


def test_a_trade_wakes_the_watcher_without_waiting_for_its_tick(database_url: str) -> None:
    """With an hour-long tick, a limit order still triggers right after a trade moves the pools:
    settling trades wakes the watcher's loop of the process (``Services.venues_moved``)."""
    from background import run_maintenance
    from services import get_services
    from tests.conftest import build_app

    app, key = build_app(
        database_url,
        RESTING_ORDERS_TICK_S=3600,
        RECOVERY_INTERVAL_S=3600,
        # the pool-moving trade is far above the default risk limits, which are not what this tests
        RISK_MAX_ORDER_USD=None,
        RISK_MAX_IMPACT_BPS=None,
        RISK_DAILY_NOTIONAL_USD=None,
    )
    client = app.test_client()
    try:
        run_maintenance(app)
        fund(app, key, {"USDC": "2000000"})
        pays = route_pays(client, "1")  # USDC for 1 SOL now
        order_id = place(client, key, LIMIT | {"amountIn": "1", "limitPrice": str(pays * Decimal("1.01"))})[
            "orderId"
        ]
        wait_until(lambda: get_services(app).resting_book.reloads >= 1, "the watcher's first tick")
        assert detail(client, key, order_id)["status"] == "open"
        # Buy SOL with USDC: SOL gets dearer in the pools, so 1 SOL pays more than 1% more.
        execute(
            client, key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "1500000", "slippageBps": 5000}
        )
        wait_status(client, key, order_id, "confirmed")
    finally:
        get_services(app).shutdown()
