"""TWAP orders: a parent ``working`` while its slices run as child market orders, one per interval.

In-process on SQLite and PostgreSQL (the ``client`` fixtures), and with gunicorn and real RQ
workers across a worker restart. Every test waits on conditions; intervals are short.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

import jobs
import twap
from app import create_app
from errors import ValidationError
from live_updates import socketio
from models import Balance, Order, OrderStatus, db, utcnow
from services import get_services
from tests.conftest import base_overrides
from tests.stack import (
    Stack,
    book_problems,
    kill_process_group,
    query,
    running_stack,
    stack_env,
    wait_workers,
)
from tests.test_workers import Api, seed_database
from tests.waiting import WAIT_S, wait_until
from trade_logger import create_order, start_twap_slice

SOL = 10**9
USDC = 10**6


# --- the pure schedule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_in", "slices", "expected"),
    [
        (3_000_000_001, 3, [1_000_000_000, 1_000_000_000, 1_000_000_001]),
        (10, 4, [2, 2, 2, 4]),
        (2, 2, [1, 1]),
        (1000, 1000, [1] * 1000),
    ],
)
def test_slices_add_up_to_the_amount_with_the_remainder_in_the_last(
    amount_in: int, slices: int, expected: list[int]
) -> None:
    sizes = [twap.slice_amount(amount_in, slices, i) for i in range(slices)]
    assert sizes == expected and sum(sizes) == amount_in
    for sent in range(slices + 1):
        assert twap.sent_amount(amount_in, slices, sent) == sum(sizes[:sent])
        assert twap.unsent_amount(amount_in, slices, sent) == sum(sizes[sent:])
    assert set(twap.slice_sizes(amount_in, slices)) == set(sizes)


def test_slice_due_times_are_one_interval_apart_from_the_start() -> None:
    start = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
    assert [twap.slice_due(start, 0.25, i) for i in range(3)] == [
        start,
        start + timedelta(seconds=0.25),
        start + timedelta(seconds=0.5),
    ]


@pytest.mark.parametrize(
    ("amount_in", "slices", "interval_s", "field"),
    [(2, 3, 1.0, "slices"), (10, 1, 1.0, "slices"), (10, 1001, 1.0, "slices"), (10, 2, 0.0, "intervalS")],
)
def test_a_schedule_that_cannot_sell_a_unit_per_slice_is_refused_naming_the_field(
    amount_in: int, slices: int, interval_s: float, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        twap.check_schedule(amount_in, slices, interval_s)
    assert caught.value.field == field


# --- helpers ----------------------------------------------------------------------------------------


def submit(client: Any, key: str, **fields: Any) -> Any:
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "3.000000001", "orderType": "twap"}
    body |= {"slices": 3, "intervalS": 0.2, "slippageBps": 100} | fields
    return client.post("/api/orders/execute", json=body, headers={"X-API-Key": key})


def detail(client: Any, key: str, order_id: str) -> dict[str, Any]:
    r = client.get(f"/api/orders/{order_id}", headers={"X-API-Key": key})
    assert r.status_code == 200, r.get_data(as_text=True)
    body: dict[str, Any] = r.get_json()
    return body


def balances(app: Flask, account_id: int) -> dict[str, tuple[int, int]]:
    with app.app_context():
        rows = db.session.execute(sa.select(Balance).where(Balance.account_id == account_id)).scalars()
        found = {b.token: (b.amount, b.reserved) for b in rows}
        db.session.remove()
        return found


def account_of(client: Any, key: str) -> int:
    r = client.get("/api/accounts/me", headers={"X-API-Key": key})
    assert r.status_code == 200
    return int(r.get_json()["accountId"])


def units(text: str, decimals: int) -> int:
    return int(Decimal(text).scaleb(decimals))


def wait_idle(app: Flask) -> None:
    """The in-process executor has nothing scheduled or running: every slice job due has run."""
    executor = get_services(app).executor
    wait_until(lambda: executor.queue_depth() == 0, "the executor to have run every scheduled job")


def wait_settled(client: Any, key: str, order_id: str) -> dict[str, Any]:
    """The parent final and every child it sent final too."""

    def done() -> dict[str, Any] | None:
        body = detail(client, key, order_id)
        final = body["status"] in ("confirmed", "failed", "cancelled")
        children_final = all(c["status"] in ("confirmed", "failed", "cancelled") for c in body["children"])
        return body if final and children_final and len(body["children"]) == body["slicesSent"] else None

    return dict(wait_until(done, f"TWAP {order_id} and its slices to be final"))


# --- intake ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"slices": None}, "slices"),
        ({"intervalS": None}, "intervalS"),
        ({"amountIn": None}, "amountIn"),
        ({"limitPrice": "150"}, "limitPrice"),
        ({"triggerPrice": "150"}, "triggerPrice"),
        ({"amountOut": "100"}, "amountOut"),
        ({"quoteId": "q-1"}, "quoteId"),
        ({"minAmountOut": "100"}, "minAmountOut"),
        ({"expiresInS": 60}, "expiresInS"),
        ({"amountIn": "0.000000002", "slices": 3}, "slices"),
    ],
)
def test_a_twap_without_what_it_needs_or_with_what_it_cannot_use_is_422_naming_the_field(
    client: Any, api_key: str, fields: dict[str, Any], field: str
) -> None:
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "3", "orderType": "twap"}
    body |= {"slices": 3, "intervalS": 0.2}
    for name, value in fields.items():  # None: left out
        if value is None:
            body.pop(name)
        else:
            body[name] = value
    r = client.post("/api/orders/execute", json=body, headers={"X-API-Key": api_key})
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.get_json()["error"]["field"] == field
    assert r.get_json()["error"]["code"] == "invalid_order"  # as every order type's refusals


@pytest.mark.parametrize(("fields", "field"), [({"slices": 1}, "slices"), ({"intervalS": 0}, "intervalS")])
def test_slices_and_interval_out_of_range_are_refused_by_the_schema(
    client: Any, api_key: str, fields: dict[str, Any], field: str
) -> None:
    r = submit(client, api_key, **fields)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_json()["error"]["field"] == field


def test_a_twap_is_accepted_working_with_its_input_held_and_replayed_by_its_idempotency_key(
    client: Any, api_key: str, app: Flask
) -> None:
    headers = {"X-API-Key": api_key, "Idempotency-Key": "twap-1"}
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2", "orderType": "twap"}
    body |= {"slices": 2, "intervalS": 30, "slippageBps": 100}
    first = client.post("/api/orders/execute", json=body, headers=headers)
    assert first.status_code == 202, first.get_data(as_text=True)
    accepted = first.get_json()
    assert accepted["status"] == "working"
    again = client.post("/api/orders/execute", json=body, headers=headers)
    assert again.status_code == 200 and again.get_json()["orderId"] == accepted["orderId"]
    other = client.post("/api/orders/execute", json=body | {"slices": 4}, headers=headers)
    assert other.status_code == 409
    order = detail(client, api_key, accepted["orderId"])
    assert (order["orderType"], order["slices"], order["intervalS"], order["onChildFailure"]) == (
        "twap",
        2,
        30.0,
        "stop",
    )
    # The first slice goes at once; the second is due one interval after the start.
    wait_until(lambda: detail(client, api_key, accepted["orderId"])["slicesSent"] == 1, "the first slice")
    order = detail(client, api_key, accepted["orderId"])
    created = datetime.fromisoformat(order["createdAt"].replace("Z", "+00:00"))
    next_at = datetime.fromisoformat(order["nextSliceAt"].replace("Z", "+00:00"))
    assert abs((next_at - created).total_seconds() - 30) < 0.01
    wait_until(
        lambda: detail(client, api_key, accepted["orderId"])["children"][0]["status"] == "confirmed",
        "the first slice to fill",
    )
    # The parent's hold carried the first slice's until it settled; the second's is still held.
    assert balances(app, account_of(client, api_key))["SOL"][1] == SOL


# --- a TWAP that runs to the end -------------------------------------------------------------------


def test_a_three_slice_twap_completes_with_its_fills_the_sum_of_its_slices_and_balances_exact(
    client: Any, api_key: str, app: Flask
) -> None:
    account_id = account_of(client, api_key)
    before = balances(app, account_id)
    r = submit(client, api_key)
    assert r.status_code == 202, r.get_data(as_text=True)
    order_id = r.get_json()["orderId"]
    parent = wait_settled(client, api_key, order_id)

    assert parent["status"] == "confirmed", parent["events"]
    children = parent["children"]
    assert [c["sliceIndex"] for c in children] == [0, 1, 2]
    assert [units(c["amountIn"], 9) for c in children] == [SOL, SOL, SOL + 1]
    assert all(c["status"] == "confirmed" and c["executedAt"] and c["price"] for c in children)
    out = sum(units(c["amountOut"], 6) for c in children)
    assert units(parent["filledAmountIn"], 9) == 3 * SOL + 1
    assert units(parent["filledAmountOut"], 6) == out == units(parent["amountOut"], 6)
    average = Decimal(parent["averagePrice"])
    assert abs(average - Decimal(out) / 10**6 / (Decimal(3 * SOL + 1) / 10**9)) < Decimal("1e-9")
    assert parent["slicesSent"] == 3 and parent["nextSliceAt"] is None
    # Each child is an ordinary market order of its parent.
    for c in children:
        child = detail(client, api_key, c["orderId"])
        assert (child["orderType"], child["parentId"], child["sliceIndex"]) == (
            "market",
            order_id,
            c["sliceIndex"],
        )
        assert child["trade"] is not None and child["children"] == []
        # The reference each slice was routed at: the plan's USD prices, SOL over USDC.
        reference = Decimal(c["referencePrice"])
        assert Decimal(150) * Decimal("0.5") < reference < Decimal(150) * 2
        # the slice's price against that reference: within the fees and impact of a small order
        assert abs(Decimal(c["price"]) / reference - 1) < Decimal("0.02")
    messages = [e["message"] for e in parent["events"]]
    assert sum("sent: order" in m for m in messages) == 3
    assert sum(" filled: " in m for m in messages) == 3
    assert parent["events"][-1]["status"] == "confirmed"

    after = balances(app, account_id)
    assert after["SOL"] == (before["SOL"][0] - (3 * SOL + 1), before["SOL"][1])
    assert after["USDC"] == (before["USDC"][0] + out, before["USDC"][1])


def test_the_parent_publishes_each_slice_and_its_end_to_its_order_room(
    client: Any, api_key: str, app: Flask
) -> None:
    r = submit(client, api_key, intervalS=0.5)
    order_id = r.get_json()["orderId"]
    live = socketio.test_client(app, auth={"apiKey": api_key})
    try:
        assert live.emit("subscribe_order", {"orderId": order_id}, callback=True)["ok"] is True
        seen: list[dict[str, Any]] = []

        def ended() -> bool:
            seen.extend(e["args"][0] for e in live.get_received() if e["name"] == "order_update")
            return any(u["status"] == "confirmed" and u["orderId"] == order_id for u in seen)

        wait_until(ended, "the parent's confirmed order_update")
    finally:
        live.disconnect()
    mine = [u for u in seen if u["orderId"] == order_id]
    messages = [u["message"] for u in mine]
    # The snapshot on joining may already include the first slices; the rest arrive as updates.
    assert any("slice 3/3 filled" in m for m in messages), messages
    assert mine[-1]["status"] == "confirmed" and mine[-1]["filledAmountIn"] == "3.000000001"
    # A client keeps only updates newer than the highest seq it has seen (the snapshot sent on
    # joining can overtake an update published just before): what it keeps ends confirmed.
    kept: list[dict[str, Any]] = []
    for update in mine:
        if not kept or update["seq"] > kept[-1]["seq"]:
            kept.append(update)
    assert kept[-1]["status"] == "confirmed" and kept[-1] is mine[-1]


# --- cancel --------------------------------------------------------------------------------------------


def cancel_parent(client: Any, api_key: str, order_id: str) -> int:
    """Cancel a working TWAP parent through ``POST /api/orders/<id>/cancel``; the slices sent then."""
    r = client.post(f"/api/orders/{order_id}/cancel", headers={"X-API-Key": api_key})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["status"] == "cancelled"
    return int(body["slicesSent"])


def test_a_cancelled_twap_keeps_its_filled_slices_runs_no_more_and_releases_the_rest(
    client: Any, api_key: str, app: Flask
) -> None:
    account_id = account_of(client, api_key)
    before = balances(app, account_id)
    r = submit(client, api_key, amountIn="4", slices=4, intervalS=1.0)
    assert r.status_code == 202
    order_id = r.get_json()["orderId"]
    wait_until(
        lambda: [c["status"] for c in detail(client, api_key, order_id)["children"]][:1] == ["confirmed"],
        "the first slice to fill",
    )
    sent = cancel_parent(client, api_key, order_id)
    assert 1 <= sent < 4
    wait_idle(app)  # the next slice's job has run (and found the parent cancelled)
    parent = wait_settled(client, api_key, order_id)

    assert parent["status"] == "cancelled"
    assert parent["slicesSent"] == sent and len(parent["children"]) == sent
    filled = [c for c in parent["children"] if c["status"] == "confirmed"]
    assert units(parent["filledAmountIn"], 9) == sum(units(c["amountIn"], 9) for c in filled)
    out = sum(units(c["amountOut"], 6) for c in filled)
    assert units(parent["filledAmountOut"], 6) == out
    spent = units(parent["filledAmountIn"], 9)
    after = balances(app, account_id)
    assert after["SOL"] == (before["SOL"][0] - spent, before["SOL"][1])
    assert after["USDC"][0] == before["USDC"][0] + out


# --- a slice that fails --------------------------------------------------------------------------------


def write_off_after_first_fill(app: Flask, order_id: str, keep: int) -> int:
    """Leave the account ``keep`` units of SOL (less than a slice), holds written down with it,
    as an operator's adjustment would, once the first slice has filled: every slice that settles
    afterwards finds its input gone and fails. Done under the parent's row lock (slices settle
    under it too); returns how many slices had filled by then."""
    with app.app_context():
        parent = db.session.get(Order, order_id, with_for_update=True, populate_existing=True)
        assert parent is not None
        filled = db.session.execute(
            sa.select(sa.func.count())
            .select_from(Order)
            .where(Order.parent_id == order_id, Order.status == OrderStatus.CONFIRMED)
        ).scalar_one()
        db.session.execute(
            sa.update(Balance)
            .where(Balance.account_id == parent.account_id, Balance.token == "SOL")
            .values(amount=keep, reserved=sa.case((Balance.reserved > keep, keep), else_=Balance.reserved))
        )
        db.session.commit()
        db.session.remove()
        return int(filled)


@pytest.mark.parametrize("on_failure", ["stop", "continue"])
def test_a_failed_slice_stops_the_twap_or_is_passed_over_as_the_trader_chose(
    client: Any, api_key: str, app: Flask, on_failure: str
) -> None:
    usdc_before = balances(app, account_of(client, api_key))["USDC"][0]
    r = submit(client, api_key, amountIn="5", slices=5, intervalS=1.0, onChildFailure=on_failure)
    assert r.status_code == 202, r.get_data(as_text=True)
    order_id = r.get_json()["orderId"]
    account_id = account_of(client, api_key)
    wait_until(
        lambda: "confirmed" in [c["status"] for c in detail(client, api_key, order_id)["children"]],
        "the first slice to fill",
    )
    filled_before = write_off_after_first_fill(app, order_id, keep=SOL - 1)
    parent = wait_settled(client, api_key, order_id)
    wait_idle(app)
    parent = detail(client, api_key, order_id)

    children = parent["children"]
    statuses = [c["status"] for c in children]
    assert statuses[:filled_before] == ["confirmed"] * filled_before
    assert set(statuses[filled_before:]) <= {"failed"} and "failed" in statuses
    assert {c["error"]["code"] for c in children if c["status"] == "failed"} == {"insufficient_balance"}
    filled = [c for c in children if c["status"] == "confirmed"]
    out = sum(units(c["amountOut"], 6) for c in filled)
    assert units(parent["filledAmountIn"], 9) == len(filled) * SOL
    assert units(parent["filledAmountOut"], 6) == out
    if on_failure == "stop":
        assert parent["status"] == "failed" and parent["error"]["code"] == "slice_failed"
        assert parent["slicesSent"] == len(children) < 5  # no slice after the one that failed
        assert "onChildFailure is stop" in parent["error"]["message"]
    else:
        assert parent["status"] == "confirmed"
        assert parent["slicesSent"] == len(children) == 5
        failed = [str(c["sliceIndex"] + 1) for c in children if c["status"] == "failed"]
        assert f"slice(s) {', '.join(failed)} failed" in parent["events"][-1]["message"]
    # Every hold is released: failed slices their own, the parent what it never sent.
    assert balances(app, account_id)["SOL"] == (SOL - 1, 0)
    assert balances(app, account_id)["USDC"][0] == usdc_before + out


def working_parent(app: Flask, account_id: int, on_failure: str) -> str:
    """A TWAP parent of 2 SOL in 2 slices, stored as ``POST /api/orders/execute`` stores it, with no
    slice job scheduled: the test sends its slices itself."""
    with app.app_context():
        order, _ = create_order(
            db.session,
            account_id,
            token_in="SOL",
            token_out="USDC",
            amount_in=2 * SOL,
            strategy="OPTIMAL_SPLIT",
            slippage_bps=100,
            quoted_amount_out=1,
            min_amount_out=1,
            route=None,
            idempotency_key=None,
            request_digest="test",
            order_type="twap",
            status=OrderStatus.WORKING,
            columns={
                "slices": 2,
                "interval_s": 60.0,
                "on_child_failure": on_failure,
                "next_run_at": utcnow(),
            },
        )
        db.session.remove()
        return order.id


@pytest.mark.parametrize("on_failure", ["stop", "continue"])
def test_slices_that_cannot_be_quoted_fail_at_once_and_release_their_share(
    client: Any, api_key: str, app: Flask, on_failure: str
) -> None:
    account_id = account_of(client, api_key)
    before = balances(app, account_id)["SOL"]
    order_id = working_parent(app, account_id, on_failure)
    assert balances(app, account_id)["SOL"] == (before[0], before[1] + 2 * SOL)
    refusal = ("no_route", "no route for this slice: the pools are gone")
    with app.app_context():
        first = start_twap_slice(
            db.session, order_id, 0, quoted_amount_out=0, min_amount_out=0, refusal=refusal
        )
        assert first is not None and not first.is_pending
        assert first.child.status == OrderStatus.FAILED and first.child.error_code == "no_route"
        # A duplicate of that slice's job, or one for a slice not yet due, does nothing.
        assert start_twap_slice(db.session, order_id, 0, quoted_amount_out=1, min_amount_out=1) is None
        assert start_twap_slice(db.session, order_id, 2, quoted_amount_out=1, min_amount_out=1) is None
        if on_failure == "continue":
            second = start_twap_slice(
                db.session, order_id, 1, quoted_amount_out=0, min_amount_out=0, refusal=refusal
            )
            assert second is not None
        db.session.remove()
    parent = detail(client, api_key, order_id)
    assert parent["status"] == "failed"
    if on_failure == "stop":
        assert parent["error"]["code"] == "slice_failed" and parent["slicesSent"] == 1
        assert "released 1 SOL never sent" in parent["error"]["message"]
    else:
        assert parent["error"]["code"] == "slices_failed" and parent["slicesSent"] == 2
    assert parent["filledAmountIn"] == "0" and parent["averagePrice"] is None
    assert [c["status"] for c in parent["children"]] == ["failed"] * parent["slicesSent"]
    assert balances(app, account_id)["SOL"] == before  # every unit held is released, nothing spent


def test_a_slice_is_cancelled_through_its_twap_and_never_alone(client: Any, api_key: str, app: Flask) -> None:
    account_id = account_of(client, api_key)
    before = balances(app, account_id)["SOL"]
    order_id = working_parent(app, account_id, "stop")
    with app.app_context():  # slice 0 sent, not dispatched: a pending child no worker has taken
        started = start_twap_slice(db.session, order_id, 0, quoted_amount_out=1, min_amount_out=1)
        assert started is not None and started.is_pending
        child_id = started.child.id
        db.session.remove()
    headers = {"X-API-Key": api_key}
    r = client.post(f"/api/orders/{child_id}/cancel", headers=headers)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "order_is_slice"
    assert detail(client, api_key, child_id)["status"] == "pending"  # nothing changed
    r = client.post(f"/api/orders/{order_id}/cancel", headers=headers)
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    parent = detail(client, api_key, order_id)
    assert [c["status"] for c in parent["children"]] == ["cancelled"]
    assert balances(app, account_id)["SOL"] == before  # the sent slice's and the unsent hold released


# --- restarts -------------------------------------------------------------------------------------------


def test_a_restart_between_slices_loses_no_slice_and_runs_none_twice(
    database_url: str, app: Flask, api_key: str, client: Any
) -> None:
    r = submit(client, api_key, intervalS=2.0)
    order_id = r.get_json()["orderId"]
    wait_until(
        lambda: [c["status"] for c in detail(client, api_key, order_id)["children"]][:1] == ["confirmed"],
        "the first slice to fill",
    )
    get_services(app).shutdown()  # the process stops: its scheduled slice (a timer) is lost

    restarted = create_app(base_overrides(database_url))
    try:
        with restarted.app_context():
            # Recovery re-queues the overdue slice once it is due (and past the grace period).
            wait_until(lambda: jobs.recover_twap_slices() > 0, "recovery to re-queue the overdue slice")
        parent = wait_settled(restarted.test_client(), api_key, order_id)
        assert parent["status"] == "confirmed", parent["events"]
        assert [c["sliceIndex"] for c in parent["children"]] == [0, 1, 2]
        with restarted.app_context():
            assert jobs.recover_twap_slices() == 0
            # A duplicate of a slice job that already ran does nothing.
            assert jobs.run_twap_slice(order_id, 1) == "skipped"
            assert (
                db.session.execute(
                    sa.select(sa.func.count()).select_from(Order).where(Order.parent_id == order_id)
                ).scalar_one()
                == 3
            )
    finally:
        get_services(restarted).shutdown()
        with restarted.app_context():
            db.engine.dispose()


# --- RQ workers -------------------------------------------------------------------------------------------


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Stack]:
    """The processes of one test; their logs are printed if it fails."""
    runner = running_stack(request, tmp_path / "logs")
    started = next(runner)
    try:
        yield started
    finally:
        next(runner, None)
        for proc in started.procs:
            if proc.popen.poll() is not None:
                kill_process_group(proc)


@pytest.mark.slow
def test_a_twap_runs_each_slice_once_across_an_rq_worker_restart(
    stack: Stack,
    pg_database: str,
    redis_url: str,
    redis_namespace: str,
) -> None:
    seeded = seed_database(pg_database, {})
    env = stack_env(seeded.url, redis_url, redis_namespace)
    api = Api(stack.start_server(env))
    key = seeded.keys["demo"]
    worker = stack.start_worker(env, name="first")
    wait_workers(redis_url, redis_namespace, [worker])
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "3.000000001", "orderType": "twap"}
    r = api.submit(key, body | {"slices": 3, "intervalS": 2.0, "slippageBps": 100})
    assert r.status_code == 202, r.text
    order_id = r.json()["orderId"]
    wait_until(
        lambda: [c["status"] for c in api.order(key, order_id)["children"]] == ["confirmed"],
        "the first slice to fill",
    )
    # A restart: the worker (and its scheduler) stop between slices; the next slice's scheduled
    # job waits in Redis, and becomes overdue, so the new worker's startup recovery re-queues it too.
    os.killpg(worker.popen.pid, signal.SIGTERM)
    worker.popen.wait(timeout=WAIT_S)
    kill_process_group(worker)
    due = api.order(key, order_id)["nextSliceAt"]
    due_at = datetime.fromisoformat(due.replace("Z", "+00:00"))
    wait_until(
        lambda: datetime.now(UTC) > due_at + timedelta(seconds=jobs.TWAP_RECOVERY_GRACE_S + 0.5),
        "the next slice to be overdue",
    )
    assert api.order(key, order_id)["slicesSent"] == 1  # nothing ran it while no worker was up
    second = stack.start_worker(env, name="second")

    def settled() -> dict[str, Any] | None:
        body = api.order(key, order_id)
        done = body["status"] == "confirmed" and all(c["status"] == "confirmed" for c in body["children"])
        return body if done else None

    parent = wait_until(settled, f"TWAP {order_id} to complete")
    assert "1 overdue TWAP slice(s) re-queued" in second.log(), second.log()
    assert [c["sliceIndex"] for c in parent["children"]] == [0, 1, 2]
    indexes = query(seeded.url, "SELECT slice_index FROM orders WHERE parent_id = :p", p=order_id)
    assert Counter(int(i) for (i,) in indexes) == {0: 1, 1: 1, 2: 1}
    out = sum(units(c["amountOut"], 6) for c in parent["children"])
    assert units(parent["filledAmountOut"], 6) == out
    amount, reserved = query(
        seeded.url,
        "SELECT amount, reserved FROM balances WHERE account_id = :a AND token = 'SOL'",
        a=seeded.ids["demo"],
    )[0]
    assert (int(amount), int(reserved)) == (1000 * SOL - (3 * SOL + 1), 0)
    # The books reconcile; a TWAP parent has no trade of its own (its slices do).
    problems = [p for p in book_problems(seeded.url, seeded.seed) if order_id not in p]
    assert problems == []
