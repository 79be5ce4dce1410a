"""Resting orders with the production shape: gunicorn, two RQ workers (each runs the watcher,
one per tick under a Redis lock), PostgreSQL and Redis; plus two watchers racing in one process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from flask import Flask

import jobs
from tests.stack import Stack, book_problems, kill_process_group, query, running_stack, stack_env
from tests.test_workers import Api, balance, order_rows, seed_database
from tests.waiting import WAIT_S, wait_until

SOL = 10**9


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Stack]:
    """The processes of one test (as tests/test_workers.py's); their logs are printed if it fails."""
    runner = running_stack(request, tmp_path / "logs")
    started = next(runner)
    try:
        yield started
    finally:
        next(runner, None)
        for proc in started.procs:
            if proc.popen.poll() is not None:
                kill_process_group(proc)


def reference(base_url: str) -> Decimal:
    prices = requests.get(f"{base_url}/api/prices", timeout=WAIT_S).json()["prices"]
    return Decimal(prices["SOL"]["priceUsd"]) / Decimal(prices["USDC"]["priceUsd"])


def wait_status(api: Api, key: str, order_id: str, *wanted: str) -> dict[str, Any]:
    return wait_until(
        lambda: (o := api.order(key, order_id))["status"] in wanted and o,
        f"order {order_id} to be {' or '.join(wanted)}",
    )


@pytest.mark.slow
def test_workers_trigger_resting_orders_once_and_cancel_races_end_one_way(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    db = seed_database(pg_database, {})
    env = stack_env(db.url, redis_url, redis_namespace, RESTING_ORDERS_TICK_S="0.2")
    api = Api(stack.start_server(env))
    key = db.keys["demo"]
    sol_before = balance(db.url, db.ids["demo"], "SOL")

    ref = reference(api.base_url)
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}
    fires = api.accepted(key, body | {"orderType": "take_profit", "triggerPrice": str(ref * Decimal("0.99"))})
    waits = api.accepted(key, body | {"orderType": "stop_loss", "triggerPrice": str(ref * Decimal("0.5"))})
    stack.start_worker(env)
    stack.start_worker(env)

    fired = wait_status(api, key, fires, "confirmed", "failed")
    assert fired["status"] == "confirmed", fired["events"]
    assert [e["status"] for e in fired["events"]].count("pending") == 1
    assert order_rows(db.url, fires)["trades"] == 1

    # Cancel racing the workers: each order ends confirmed or cancelled, never both.
    confirmed_sol = 1
    for _ in range(10):
        order_id = api.accepted(key, body)
        answer = requests.post(
            f"{api.base_url}/api/orders/{order_id}/cancel", headers={"X-API-Key": key}, timeout=WAIT_S
        )
        final = wait_status(api, key, order_id, "confirmed", "cancelled", "failed")
        statuses = [e["status"] for e in final["events"]]
        assert final["status"] in ("confirmed", "cancelled"), final["events"]
        assert not ("confirmed" in statuses and "cancelled" in statuses)
        if final["status"] == "cancelled":
            assert answer.status_code == 200, answer.text
            assert order_rows(db.url, order_id)["trades"] == 0
        else:
            assert answer.status_code == 409, answer.text
            assert order_rows(db.url, order_id)["trades"] == 1
            confirmed_sol += 1

    assert api.order(key, waits)["status"] == "open"
    r = requests.post(f"{api.base_url}/api/orders/{waits}/cancel", headers={"X-API-Key": key}, timeout=WAIT_S)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert balance(db.url, db.ids["demo"], "SOL") == (sol_before[0] - confirmed_sol * SOL, 0)
    events = query(
        db.url, "SELECT count(*) FROM order_events WHERE order_id = :o AND status = 'pending'", o=fires
    )
    assert events[0][0] == 1
    assert book_problems(db.url, db.seed) == []


def test_two_watchers_at_once_trigger_an_order_once(app: Flask, client: Any, api_key: str) -> None:
    prices = client.get("/api/prices").get_json()["prices"]
    ref = Decimal(prices["SOL"]["priceUsd"]) / Decimal(prices["USDC"]["priceUsd"])
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "orderType": "stop_loss"}
    r = client.post(
        "/api/orders/execute", json=body | {"triggerPrice": str(ref * 2)}, headers={"X-API-Key": api_key}
    )
    assert r.status_code == 202, r.get_json()
    order_id = r.get_json()["orderId"]
    results: list[dict[str, int]] = []
    start = threading.Barrier(2)

    def watch() -> None:
        with app.app_context():
            start.wait()
            results.append(jobs.watch_resting_orders())

    threads = [threading.Thread(target=watch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["triggered"] for r in results) == [0, 1]  # the compare-and-set lets one through
    final = wait_until(
        lambda: (
            (o := client.get(f"/api/orders/{order_id}", headers={"X-API-Key": api_key}).get_json())["status"]
            in ("confirmed", "failed")
            and o
        ),
        f"order {order_id} to be final",
    )
    assert final["status"] == "confirmed", final["events"]
    assert [e["status"] for e in final["events"]].count("pending") == 1
