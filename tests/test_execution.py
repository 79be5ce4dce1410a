"""Execution correctness with the in-process executor, on SQLite and PostgreSQL.

Orders go in through the HTTP API and run on the app's own executor against the real database;
the books are then read back with plain SQL (``tests.stack.book_problems``) and must reconcile
exactly: every journal sums to zero, balances equal their ledger, pools moved by exactly their
fills, and each fill paid what the pool, as left by the fills before it, pays.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from flask import Flask

from tests.direct_orders import write_and_dispatch
from tests.stack import (
    backends_waiting_on_locks,
    book_problems,
    execute,
    query,
    timeline_problems,
    venue_locks,
    venue_seed,
)
from tests.waiting import WAIT_S, wait_final, wait_until
from tokens import get_token

SOL = 10**9  # base units per SOL
USDC = 10**6
TOKENS = ("SOL", "USDC", "USDT", "JUP", "RAY", "BONK")
STRATEGIES = ("BEST_PRICE", "LOWEST_SLIPPAGE", "HIGHEST_LIQUIDITY", "FASTEST_EXECUTION", "OPTIMAL_SPLIT")
DEMO_SOL = 1000 * SOL  # venue_state.DEMO_FUNDING
DEMO_USDC = 250_000 * USDC


def units(symbol: str, human: str) -> int:
    return int(Decimal(human).scaleb(get_token(symbol).decimals))


def submit(client: Any, api_key: str, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
    headers = {"X-API-Key": api_key}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return client.post("/api/orders/execute", json=body, headers=headers)


def accepted(client: Any, api_key: str, body: dict[str, Any]) -> str:
    r = submit(client, api_key, body)
    assert r.status_code == 202, r.get_json()
    return str(r.get_json()["orderId"])


def order_json(client: Any, api_key: str, order_id: str) -> dict[str, Any]:
    r = client.get(f"/api/orders/{order_id}", headers={"X-API-Key": api_key})
    assert r.status_code == 200, r.get_json()
    return dict(r.get_json())


def new_trader(app: Flask, name: str, funding: dict[str, str] | None = None) -> tuple[int, str]:
    """A funded trader account (``venue_state.create_account``) and its API key."""
    from models import db
    from venue_state import create_account

    with app.app_context():
        account, key = create_account(db.session, name, funding=funding)
        db.session.commit()
        return int(account.id), key


def demo_account_id(database_url: str) -> int:
    return int(query(database_url, "SELECT id FROM accounts WHERE name = 'demo'")[0][0])


def balance(database_url: str, account_id: int, token: str) -> tuple[int, int]:
    """(amount, reserved) in base units."""
    rows = query(
        database_url,
        "SELECT amount, reserved FROM balances WHERE account_id = :a AND token = :t",
        a=account_id,
        t=token,
    )
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


def reserves(database_url: str) -> dict[str, tuple[int, int]]:
    return {
        str(r[0]): (int(r[1]), int(r[2]))
        for r in query(database_url, "SELECT id, reserve_a, reserve_b FROM amm_pools")
    }


def inventories(database_url: str) -> dict[str, tuple[int, int]]:
    return {
        str(r[0]): (int(r[1]), int(r[2]))
        for r in query(database_url, "SELECT id, inventory_base, inventory_quote FROM otc_pools")
    }


def rows_for_order(database_url: str, order_id: str) -> dict[str, int]:
    """How many trade, fill and ledger rows an order has."""
    return {
        "trades": int(
            query(database_url, "SELECT count(*) FROM trades WHERE order_id = :o", o=order_id)[0][0]
        ),
        "fills": int(query(database_url, "SELECT count(*) FROM fills WHERE order_id = :o", o=order_id)[0][0]),
        "ledger": int(
            query(
                database_url, "SELECT count(*) FROM ledger_entries WHERE journal = :j", j=f"trade-{order_id}"
            )[0][0]
        ),
    }


def statuses(order: dict[str, Any]) -> list[str]:
    return [e["status"] for e in order["events"]]


def needs_postgres(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs row locks held from a second connection (PostgreSQL)")


# --- 1. idempotency -------------------------------------------------------------------------


def test_a_replayed_idempotency_key_returns_the_same_order_and_executes_it_once(
    app: Flask, client: Any, api_key: str, database_url: str
) -> None:
    seed = venue_seed(database_url)
    demo = demo_account_id(database_url)
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "3", "routingStrategy": "BEST_PRICE"}

    first = submit(client, api_key, body, "order-7")
    assert first.status_code == 202, first.get_json()
    order_id = first.get_json()["orderId"]
    replay = submit(client, api_key, body, "order-7")
    assert replay.status_code == 200, replay.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["orderId"] == order_id

    order = wait_final(client, order_id, api_key)
    assert order["status"] == "confirmed", order
    late = submit(client, api_key, body, "order-7")
    assert (late.status_code, late.get_json()["orderId"], late.get_json()["status"]) == (
        200,
        order_id,
        "confirmed",
    )

    conflict = submit(client, api_key, {**body, "amountIn": "4"}, "order-7")
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"

    assert query(database_url, "SELECT id FROM orders WHERE account_id = :a", a=demo) == [(order_id,)]
    legs = int(query(database_url, "SELECT count(*) FROM fills WHERE order_id = :o", o=order_id)[0][0])
    assert legs >= 1
    assert rows_for_order(database_url, order_id) == {"trades": 1, "fills": legs, "ledger": 2 + 2 * legs}
    amount_out = int(query(database_url, "SELECT amount_out FROM orders WHERE id = :o", o=order_id)[0][0])
    assert balance(database_url, demo, "SOL") == (DEMO_SOL - 3 * SOL, 0)
    assert balance(database_url, demo, "USDC") == (DEMO_USDC + amount_out, 0)
    assert book_problems(database_url, seed) == []


def test_another_account_may_reuse_an_idempotency_key_string(
    app: Flask, client: Any, api_key: str, database_url: str
) -> None:
    seed = venue_seed(database_url)
    other_id, other_key = new_trader(app, "other")
    body = {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "500", "routingStrategy": "OPTIMAL_SPLIT"}

    mine = submit(client, api_key, body, "shared-key")
    theirs = submit(client, other_key, body, "shared-key")
    assert (mine.status_code, theirs.status_code) == (202, 202)
    mine_id, theirs_id = mine.get_json()["orderId"], theirs.get_json()["orderId"]
    assert mine_id != theirs_id
    assert wait_final(client, mine_id, api_key)["status"] == "confirmed"
    assert wait_final(client, theirs_id, other_key)["status"] == "confirmed"

    for account_id, order_id in ((demo_account_id(database_url), mine_id), (other_id, theirs_id)):
        assert query(database_url, "SELECT id FROM orders WHERE account_id = :a", a=account_id) == [
            (order_id,)
        ]
        assert balance(database_url, account_id, "USDC") == (DEMO_USDC - 500 * USDC, 0)
        assert rows_for_order(database_url, order_id)["trades"] == 1
    assert book_problems(database_url, seed) == []


def test_concurrent_submissions_with_one_idempotency_key_make_one_order(
    app: Flask, api_key: str, database_url: str
) -> None:
    seed = venue_seed(database_url)
    demo = demo_account_id(database_url)
    body = {"tokenIn": "SOL", "tokenOut": "USDT", "amountIn": "2.5", "routingStrategy": "OPTIMAL_SPLIT"}
    threads = 8
    barrier = threading.Barrier(threads)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        r = submit(client, api_key, body, "same-key-everywhere")
        with lock:
            answers.append((r.status_code, r.get_json().get("orderId", r.get_json())))

    workers = [threading.Thread(target=post) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=WAIT_S)
    assert len(answers) == threads, answers
    assert sorted(code for code, _ in answers) == [200] * (threads - 1) + [202], answers
    order_ids = {order_id for _, order_id in answers}
    assert len(order_ids) == 1, answers
    (order_id,) = order_ids
    assert wait_final(app.test_client(), order_id, api_key)["status"] == "confirmed"

    assert query(database_url, "SELECT count(*) FROM orders")[0][0] == 1
    assert rows_for_order(database_url, order_id)["trades"] == 1
    assert balance(database_url, demo, "SOL") == (DEMO_SOL - units("SOL", "2.5"), 0)
    assert book_problems(database_url, seed) == []


# --- concurrent orders from one account ---------------------------------------------------------


def test_concurrent_orders_from_one_account_reserve_each_input_and_never_overdraw(
    app: Flask, database_url: str
) -> None:
    """Ten SOL, six simultaneous 4-SOL orders: exactly two are accepted and 8 SOL is held.

    Executions are held at settle_orders (venue rows locked) so only submission is under test.
    """
    needs_postgres(database_url)
    seed = venue_seed(database_url)
    account_id, key = new_trader(app, "racer", funding={"SOL": "10", "USDC": "1"})
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "4", "routingStrategy": "BEST_PRICE"}
    threads = 6
    barrier = threading.Barrier(threads)
    answers: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        r = submit(client, key, body, f"racer-{i}")
        with lock:
            answers.append((r.status_code, r.get_json()))

    with venue_locks(database_url):
        workers = [threading.Thread(target=post, args=(i,)) for i in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=WAIT_S)
        held = balance(database_url, account_id, "SOL")
        codes = Counter("accepted" if status == 202 else body_["error"]["code"] for status, body_ in answers)
    assert (held, codes) == ((10 * SOL, 8 * SOL), Counter(accepted=2, insufficient_balance=4)), answers

    client = app.test_client()
    for status, body_ in answers:
        if status == 202:
            assert wait_final(client, body_["orderId"], key)["status"] == "confirmed"
    assert balance(database_url, account_id, "SOL") == (2 * SOL, 0)
    assert book_problems(database_url, seed) == []


# --- 2. and 3. the books after many random orders, and k -------------------------------------


def random_body(rng: random.Random, prices: dict[str, Decimal]) -> dict[str, Any]:
    """A random order: pair, size ($0.50 to $300k, log-uniform), strategy and slippage."""
    sell, buy = rng.sample(TOKENS, 2)
    usd = Decimal(math.exp(rng.uniform(math.log(0.5), math.log(300_000))))
    places = Decimal(1).scaleb(-min(get_token(sell).decimals, 4))
    amount = max((usd / prices[sell]).quantize(places, ROUND_DOWN), places)
    body: dict[str, Any] = {
        "tokenIn": sell,
        "tokenOut": buy,
        "amountIn": str(amount),
        "routingStrategy": rng.choice(STRATEGIES),
        "slippageBps": rng.choice((0, 5, 50, 300)),
    }
    if rng.random() < 0.15:  # twice the reference value: no route can pay it
        minimum = (amount * prices[sell] / prices[buy] * 2).quantize(
            Decimal(1).scaleb(-get_token(buy).decimals)
        )
        body["minAmountOut"] = str(minimum)
    return body


def test_many_random_orders_leave_the_books_balanced(app: Flask, api_key: str, database_url: str) -> None:
    from venue_state import seed_prices

    seed = venue_seed(database_url)
    rng = random.Random(20261117)
    prices = seed_prices()
    keys = [api_key] + [new_trader(app, f"trader-{i}")[1] for i in range(3)]
    client = app.test_client()
    open_by_key: dict[str, str] = {}
    submitted: list[tuple[str, str]] = []
    outcomes: Counter[str] = Counter()
    for i in range(80):
        key = keys[i % len(keys)]
        # One open order per account at a time (four accounts' orders run concurrently): concurrent
        # submissions from one account are the subject of their own test above.
        if key in open_by_key:
            wait_final(client, open_by_key.pop(key), key)
        r = submit(client, key, random_body(rng, prices))
        if r.status_code == 202:
            open_by_key[key] = r.get_json()["orderId"]
            submitted.append((key, r.get_json()["orderId"]))
        else:
            assert r.status_code == 422, r.get_json()
            outcomes[f"rejected {r.get_json()['error']['code']}"] += 1
    for key, order_id in submitted:
        order = wait_final(client, order_id, key)
        outcomes[order["status"] if order["error"] is None else order["error"]["code"]] += 1

    assert outcomes["confirmed"] >= 40, outcomes
    # A minimum no route can pay is refused at submission now (422 min_amount_out_unreachable); one
    # that a concurrent order's trade made unreachable after acceptance fails slippage_exceeded.
    assert outcomes["rejected min_amount_out_unreachable"] + outcomes["slippage_exceeded"] >= 5, outcomes
    assert outcomes["rejected insufficient_balance"] >= 1, outcomes
    assert sum(outcomes.values()) == 80, outcomes
    assert book_problems(database_url, seed) == []


def test_pool_k_never_decreases_across_trades(client: Any, api_key: str, database_url: str) -> None:
    def k_by_pool() -> dict[str, int]:
        return {pid: a * b for pid, (a, b) in reserves(database_url).items()}

    seed = venue_seed(database_url)
    trades = [
        ("SOL", "USDC", "40", "BEST_PRICE"),
        ("USDC", "SOL", "9000", "OPTIMAL_SPLIT"),
        ("JUP", "USDC", "5000", "OPTIMAL_SPLIT"),
        ("BONK", "USDT", "90000000", "OPTIMAL_SPLIT"),
        ("USDT", "RAY", "3000", "BEST_PRICE"),
        ("SOL", "USDT", "15", "LOWEST_SLIPPAGE"),
        ("USDC", "USDT", "20000", "HIGHEST_LIQUIDITY"),
    ]
    before = k_by_pool()
    for sell, buy, amount, strategy in trades:
        order_id = accepted(
            client,
            api_key,
            {"tokenIn": sell, "tokenOut": buy, "amountIn": amount, "routingStrategy": strategy},
        )
        assert wait_final(client, order_id, api_key)["status"] == "confirmed"
        after = k_by_pool()
        touched = {
            str(r[0])
            for r in query(
                database_url, "SELECT venue_id FROM fills WHERE order_id = :o AND kind = 'amm'", o=order_id
            )
        }
        assert touched, f"{sell}->{buy} used no pool"
        for pid in after:
            if pid in touched:
                assert after[pid] > before[pid], (pid, sell, buy)  # the fee stays in the pool
            else:
                assert after[pid] == before[pid], (pid, sell, buy)
        before = after
    assert book_problems(database_url, seed) == []


def test_the_fill_message_names_the_token_of_every_amount(client: Any, api_key: str) -> None:
    """Issue 18: "filled 1,496.07 USDC via Meteora 2.533762196 SOL, …", never a bare number."""
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "40", "routingStrategy": "OPTIMAL_SPLIT"}
    order = wait_final(client, accepted(client, api_key, body), api_key)
    assert order["status"] == "confirmed", order
    message = order["events"][-1]["message"]
    head, _, venues = message.removesuffix(" (paper fills)").partition(" via ")
    assert head.startswith("filled ") and head.endswith(" USDC"), message
    legs = venues.split(", ")
    assert len(legs) == len(order["legs"]), (message, order["legs"])
    for text, leg in zip(legs, order["legs"], strict=True):
        assert text.endswith(f" {leg['tokenIn']}"), (text, leg)


# --- 4. and 8. slippage: a business rejection, enforced and never retried -----------------------


def test_an_order_whose_minimum_no_route_pays_fails_with_slippage_exceeded_and_moves_nothing(
    client: Any, api_key: str, database_url: str
) -> None:
    seed = venue_seed(database_url)
    demo = demo_account_id(database_url)
    pools, desks = reserves(database_url), inventories(database_url)
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "10", "minAmountOut": "3000"}  # SOL is ~$150

    # Through the API such a minimum is refused at once and nothing is held ...
    r = submit(client, api_key, body)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] == "min_amount_out_unreachable"
    assert balance(database_url, demo, "SOL") == (DEMO_SOL, 0)
    # ... so it reaches execution only when accepted before the market moved: written as the API would.
    order_id = write_and_dispatch(
        client.application,
        token_in="SOL",
        token_out="USDC",
        amount_in=10 * SOL,
        min_amount_out=3000 * USDC,
        quoted_amount_out=1500 * USDC,
    )
    order = wait_final(client, order_id, api_key)

    assert order["status"] == "failed"
    assert order["error"]["code"] == "slippage_exceeded"
    message = order["error"]["message"]
    assert message.startswith("market moved: best route now pays "), message
    assert "below the minimum of 3000 USDC" in message and "nothing was traded" in message, message
    assert timeline_problems(statuses(order), attempts=1, final="failed") == []  # not retried
    assert order["attempts"] == 1
    assert order["amountOut"] is None
    # The route it attempted stays on the order (issue 18: its page shows it), as planned legs only.
    assert order["legs"] and all(leg["planned"] for leg in order["legs"]), order["legs"]
    assert sum(Decimal(leg["amountIn"]) for leg in order["legs"] if leg["hop"] == 0) == Decimal("10")
    assert order["route"] is not None and order["route"]["settleAt"] is None
    assert (reserves(database_url), inventories(database_url)) == (pools, desks)
    assert balance(database_url, demo, "SOL") == (DEMO_SOL, 0)
    assert balance(database_url, demo, "USDC") == (DEMO_USDC, 0)
    assert rows_for_order(database_url, order["orderId"]) == {"trades": 0, "fills": 0, "ledger": 0}
    assert book_problems(database_url, seed) == []


def test_a_market_moved_under_the_settling_job_fails_it_with_slippage_exceeded(
    client: Any, api_key: str, database_url: str
) -> None:
    """The job routed and submitted at the old price; settle_orders re-prices under lock and refuses."""
    needs_postgres(database_url)
    demo = demo_account_id(database_url)
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "10", "routingStrategy": "BEST_PRICE"}
    with venue_locks(database_url) as conn:
        order_id = accepted(client, api_key, body)
        wait_until(lambda: backends_waiting_on_locks(database_url) >= 1, "the job to wait on the pools")
        # Every pool selling SOL for a stablecoin now pays 2 % less (well beyond 50 bps slippage).
        conn.exec_driver_sql(
            "UPDATE amm_pools SET reserve_b = reserve_b * 98 / 100"
            " WHERE token_a = 'SOL' AND token_b IN ('USDC', 'USDT')"
        )
        conn.commit()
        moved_pools, desks = reserves(database_url), inventories(database_url)
        order = wait_final(client, order_id, api_key)

    assert order["status"] == "failed", order
    assert order["error"]["code"] == "slippage_exceeded"
    message = order["error"]["message"]
    assert message.startswith("market moved: the route now pays "), message
    assert "below the minimum of" in message and "nothing was traded" in message, message
    assert timeline_problems(statuses(order), attempts=1, final="failed") == []
    assert order["attempts"] == 1
    assert order["legs"] and all(leg["planned"] for leg in order["legs"]), order["legs"]  # as attempted
    assert (reserves(database_url), inventories(database_url)) == (moved_pools, desks)
    assert balance(database_url, demo, "SOL") == (DEMO_SOL, 0)
    assert balance(database_url, demo, "USDC") == (DEMO_USDC, 0)
    assert rows_for_order(database_url, order_id) == {"trades": 0, "fills": 0, "ledger": 0}


def test_an_order_whose_held_balance_vanished_fails_with_insufficient_balance_at_once(
    client: Any, api_key: str, database_url: str
) -> None:
    """The held SOL is written off while the job waits on the pools: it must fail, not retry or hang."""
    needs_postgres(database_url)
    demo = demo_account_id(database_url)
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "10", "routingStrategy": "BEST_PRICE"}
    with venue_locks(database_url):
        order_id = accepted(client, api_key, body)
        wait_until(lambda: backends_waiting_on_locks(database_url) >= 1, "the job to wait on the pools")
        assert (
            execute(
                database_url,
                "UPDATE balances SET amount = 0, reserved = 0 WHERE account_id = :a AND token = 'SOL'",
                a=demo,
            )
            == 1
        )
    order = wait_final(client, order_id, api_key)

    assert (order["status"], order["error"]["code"]) == ("failed", "insufficient_balance"), order
    assert order["attempts"] == 1
    assert timeline_problems(statuses(order), attempts=1, final="failed") == []
    assert balance(database_url, demo, "SOL") == (0, 0)
    assert rows_for_order(database_url, order_id) == {"trades": 0, "fills": 0, "ledger": 0}


# --- desks: refills and the ledger ---------------------------------------------------------------


def test_a_desk_inventory_equals_its_seed_plus_its_ledger_after_a_refill(
    client: Any, api_key: str, database_url: str
) -> None:
    """Refilling a desk's inventory over time must be posted to the ledger like any other movement."""
    seed = venue_seed(database_url)
    for _ in range(2):
        order_id = accepted(
            client,
            api_key,
            {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "400", "routingStrategy": "OPTIMAL_SPLIT"},
        )
        assert wait_final(client, order_id, api_key)["status"] == "confirmed"
        kinds = {
            str(r[0]) for r in query(database_url, "SELECT kind FROM fills WHERE order_id = :o", o=order_id)
        }
        assert "otc" in kinds, kinds
        time.sleep(0.5)  # the desk's USDC refills (about 416 USDC a second) before the next fill
    assert book_problems(database_url, seed, strict_desks=True) == []
