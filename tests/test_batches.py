"""Batched execution (``jobs.execute_orders``) against the single-order path, on each database.

A batch routes each order on the venues as the batch's earlier orders leave them and settles all
of them in one transaction. It must give exactly what executing the same orders one after another
gives, fail only the orders that no longer pay their minimum, and release their holds.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from models import Balance, Fill, Order, db
from services import get_services
from tests.conftest import build_app, empty_postgres
from tests.stack import book_problems, venue_seed
from tests.waiting import WAIT_S, wait_until
from tokens import get_token, to_base_units
from trade_logger import create_order, request_hash

# AMM-sized orders over several pairs, both directions, every strategy: all below the desks'
# minimums, so the outcome depends on pool state alone (a batch prices desks once per batch).
ORDERS: tuple[tuple[str, str, str, str], ...] = (
    ("SOL", "USDC", "25", "OPTIMAL_SPLIT"),
    ("USDC", "SOL", "4000", "BEST_PRICE"),
    ("SOL", "USDC", "40", "OPTIMAL_SPLIT"),
    ("JUP", "USDC", "900", "LOWEST_SLIPPAGE"),
    ("USDC", "JUP", "1200", "OPTIMAL_SPLIT"),
    ("SOL", "USDT", "12", "HIGHEST_LIQUIDITY"),
    ("RAY", "SOL", "300", "OPTIMAL_SPLIT"),
    ("USDT", "SOL", "2500", "BEST_PRICE"),
    ("SOL", "USDC", "60", "OPTIMAL_SPLIT"),
    ("BONK", "SOL", "90000000", "OPTIMAL_SPLIT"),
)


def place(app: Flask, account_id: int, orders: tuple[tuple[str, str, str, str], ...]) -> list[str]:
    """Store pending orders (held, quoted as the API would) without dispatching them."""
    svc = get_services(app)
    ids = []
    with app.app_context():
        for token_in, token_out, amount, strategy in orders:
            units = to_base_units(get_token(token_in), amount)
            route = svc.quotes.quote_units(token_in, token_out, units, strategy, 100).result.route
            order, created = create_order(
                db.session,
                account_id,
                token_in=token_in,
                token_out=token_out,
                amount_in=units,
                strategy=strategy,
                slippage_bps=100,
                quoted_amount_out=route.amount_out,
                min_amount_out=route.min_amount_out,
                route=None,
                idempotency_key=None,
                request_digest=request_hash({"n": len(ids)}),
            )
            assert created
            ids.append(order.id)
        db.session.remove()
    return ids


def outcome(app: Flask, ids: list[str]) -> list[tuple[Any, ...]]:
    """Per order, in order: status, error, amount out and its fills (venue, in, out)."""
    with app.app_context():
        found = []
        for order_id in ids:
            order = db.session.get(Order, order_id)
            assert order is not None
            fills = db.session.execute(
                sa.select(Fill.venue_id, Fill.amount_in, Fill.amount_out)
                .where(Fill.order_id == order_id)
                .order_by(Fill.leg_index)
            ).all()
            found.append((order.status, order.error_code, order.amount_out, [tuple(f) for f in fills]))
        pools = db.session.execute(
            sa.text("SELECT id, reserve_a, reserve_b FROM amm_pools ORDER BY id")
        ).all()
        db.session.remove()
    return [*found, [tuple(p) for p in pools]]


def demo_id(app: Flask) -> int:
    with app.app_context():
        account_id = db.session.execute(sa.text("SELECT id FROM accounts WHERE name = 'demo'")).scalar_one()
        db.session.remove()
    return int(account_id)


@pytest.fixture
def fresh_app(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Any]:
    """A factory of seeded apps on ``database_url``, each on a database emptied and reseeded first."""
    apps: list[Flask] = []

    def make() -> Flask:
        for old in apps:
            get_services(old).shutdown()
            with old.app_context():
                db.session.remove()
                db.engine.dispose()
        if database_url.startswith("sqlite"):
            shutil.copy(request.getfixturevalue("sqlite_template"), database_url.removeprefix("sqlite:///"))
        else:
            empty_postgres(database_url)
        app, _key = build_app(database_url, INPROCESS_WORKERS=1)
        apps.append(app)
        return app

    yield make
    for app in apps:
        get_services(app).shutdown()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_batch_settles_exactly_as_the_same_orders_one_after_another(fresh_app: Any) -> None:
    import jobs

    batch_app = fresh_app()
    ids = place(batch_app, demo_id(batch_app), ORDERS)
    with batch_app.app_context():
        result = jobs.execute_orders(ids)
    assert result == dict.fromkeys(ids, "confirmed")
    batched = outcome(batch_app, ids)

    single_app = fresh_app()
    ids = place(single_app, demo_id(single_app), ORDERS)
    with single_app.app_context():
        assert [jobs.execute_order(order_id) for order_id in ids] == ["confirmed"] * len(ids)
    one_by_one = outcome(single_app, ids)

    assert batched == one_by_one
    assert all(fills for _status, _error, _out, fills in batched[:-1])


def test_an_order_that_no_longer_pays_its_minimum_fails_alone_and_its_hold_is_released(
    fresh_app: Any, database_url: str
) -> None:
    import jobs

    app = fresh_app()
    seed = venue_seed(database_url)
    account = demo_id(app)
    ids = place(app, account, ORDERS[:3])
    # The second order's minimum is now more than any route pays: the others must still settle.
    with app.app_context():
        db.session.execute(sa.update(Order).where(Order.id == ids[1]).values(min_amount_out=10**15))
        db.session.commit()
        before = {
            b.token: (b.amount, b.reserved)
            for b in db.session.execute(sa.select(Balance).where(Balance.account_id == account)).scalars()
        }
        db.session.remove()
    with app.app_context():
        result = jobs.execute_orders(ids)
    assert result == {ids[0]: "confirmed", ids[1]: "failed", ids[2]: "confirmed"}
    statuses = outcome(app, ids)
    assert statuses[1][:2] == ("failed", "slippage_exceeded") and statuses[1][3] == []
    with app.app_context():
        after = {
            b.token: (b.amount, b.reserved)
            for b in db.session.execute(sa.select(Balance).where(Balance.account_id == account)).scalars()
        }
        db.session.remove()
    usdc_in = to_base_units(get_token("USDC"), ORDERS[1][2])
    sol_in = sum(to_base_units(get_token("SOL"), o[2]) for o in (ORDERS[0], ORDERS[2]))
    assert after["USDC"][0] == before["USDC"][0] + statuses[0][2] + statuses[2][2]  # nothing of order 2
    assert after["USDC"][1] == before["USDC"][1] - usdc_in  # its hold released
    assert after["SOL"] == (before["SOL"][0] - sol_in, before["SOL"][1] - sol_in)
    assert book_problems(database_url, seed) == []


def test_a_batch_skips_orders_that_are_already_final(fresh_app: Any) -> None:
    import jobs

    app = fresh_app()
    ids = place(app, demo_id(app), ORDERS[:2])
    with app.app_context():
        assert jobs.execute_order(ids[0]) == "confirmed"
        first = outcome(app, ids[:1])
        assert jobs.execute_orders(ids) == {ids[0]: "final", ids[1]: "confirmed"}
    assert outcome(app, ids[:1])[0] == first[0]  # executed once: the same order row and fills


def test_a_batch_creates_the_balance_a_trader_did_not_hold_and_every_order_adds_to_it(
    fresh_app: Any, database_url: str
) -> None:
    """Two orders of one batch buy JUP for an account with no JUP balance row: the row is created
    once, holding both orders' output, and the USDC balance pays for both."""
    import jobs
    from venue_state import create_account

    app = fresh_app()
    seed = venue_seed(database_url)
    with app.app_context():
        account, _key = create_account(db.session, "jup-buyer", funding={"USDC": "5000"})
        db.session.commit()
        account_id = int(account.id)
        db.session.remove()
    buys = (("USDC", "JUP", "1200", "OPTIMAL_SPLIT"), ("USDC", "JUP", "800", "BEST_PRICE"))
    ids = place(app, account_id, buys)
    with app.app_context():
        assert db.session.get(Balance, (account_id, "JUP")) is None
        db.session.remove()
        assert jobs.execute_orders(ids) == dict.fromkeys(ids, "confirmed")
    results = outcome(app, ids)
    with app.app_context():
        jup = db.session.get(Balance, (account_id, "JUP"))
        usdc = db.session.get(Balance, (account_id, "USDC"))
        assert jup is not None and usdc is not None
        assert (jup.amount, jup.reserved) == (results[0][2] + results[1][2], 0)
        assert (usdc.amount, usdc.reserved) == (to_base_units(get_token("USDC"), "3000"), 0)
        db.session.remove()
    assert book_problems(database_url, seed) == []


def test_a_batch_writes_each_table_with_one_statement_whatever_the_accounts(fresh_app: Any) -> None:
    """Orders of several accounts in one batch: one UPDATE per table (the ORM's flush sent one per
    group of rows with the same changed columns, about one per account for balances)."""
    import jobs
    from venue_state import create_account

    app = fresh_app()
    funding = {"SOL": "500", "USDC": "100000", "USDT": "100000", "JUP": "10000", "RAY": "1000", "BONK": "1e9"}
    with app.app_context():
        accounts = [int(create_account(db.session, f"trader-{i}", funding=funding)[0].id) for i in range(5)]
        db.session.commit()
        db.session.remove()
    ids = [
        order_id for i, account in enumerate(accounts) for order_id in place(app, account, ORDERS[i : i + 2])
    ]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()[:3]))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", seen)
        try:
            assert jobs.execute_orders(ids) == dict.fromkeys(ids, "confirmed")
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", seen)
    updates = sorted(s for s in statements if s.startswith("UPDATE"))
    assert updates == [
        "UPDATE amm_pools SET",
        "UPDATE balances SET",
        "UPDATE daily_risk SET",  # the accounts' day figures (portfolio.record_moves)
        "UPDATE orders SET",
        "UPDATE positions SET",
    ]


RELEASE = threading.Event()
HELD = threading.Event()


def hold_the_worker() -> None:
    """A job that keeps the in-process executor's only worker busy until RELEASE is set."""
    HELD.set()
    RELEASE.wait(10 * WAIT_S)  # a bound only so that a broken test cannot hang the suite


@pytest.fixture
def busy_app(database_url: str) -> Iterator[tuple[Flask, str]]:
    """An app whose in-process executor's only worker is busy (hold_the_worker) until RELEASE.

    New orders gather for as long as the worker is held (ORDER_BATCH_HOLD_S past any test's
    wait), so which orders share a batch depends on RELEASE alone, not on how fast the machine is.
    """
    app, key = build_app(database_url, INPROCESS_WORKERS=1, ORDER_BATCH_HOLD_S=10 * WAIT_S)
    RELEASE.clear()
    HELD.clear()
    get_services(app).executor.enqueue("tests.test_batches.hold_the_worker")
    try:
        assert HELD.wait(WAIT_S), "the executor's worker never started the holding job"
        yield app, key
    finally:
        RELEASE.set()
        get_services(app).shutdown()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def statuses_when_settled(app: Flask, ids: list[str]) -> dict[str, str]:
    """Every order's status, once all of ``ids`` are final (AssertionError if they never are)."""

    def settled() -> dict[str, str] | None:
        with app.app_context():
            statuses = {i: s for i, s in db.session.execute(sa.select(Order.id, Order.status))}
            db.session.remove()
        return statuses if all(statuses.get(i) in ("confirmed", "failed") for i in ids) else None

    return wait_until(settled, f"orders {ids} to be final", interval_s=0.05)


def post_order(client: Any, key: str, body: dict[str, str]) -> str:
    r = client.post("/api/orders/execute", json=body, headers={"X-API-Key": key})
    assert r.status_code == 202, r.get_json()
    return str(r.get_json()["orderId"])


def test_orders_submitted_while_the_workers_are_busy_gather_into_one_batch(
    busy_app: tuple[Flask, str],
) -> None:
    app, key = busy_app
    svc = get_services(app)
    client = app.test_client()
    bodies = [
        {"tokenIn": token_in, "tokenOut": token_out, "amountIn": amount, "routingStrategy": strategy}
        for token_in, token_out, amount, strategy in ORDERS
    ]
    # The first order goes out at once (no job waits) and waits behind the busy worker...
    ids = [post_order(client, key, bodies[0])]
    wait_until(lambda: svc.dispatcher.stats()["orders"] >= 1, "the first order to be sent")
    # ...so the others gather behind it.
    ids += [post_order(client, key, body) for body in bodies[1:]]
    assert svc.dispatcher.stats() == {"batches": 1, "orders": 1, "largestBatch": 1}
    health = client.get("/api/health").get_json()
    assert health["checks"]["queue"]["ordersWaiting"] == len(ORDERS)
    RELEASE.set()
    statuses = statuses_when_settled(app, ids)
    assert [statuses[i] for i in ids] == ["confirmed"] * len(ids)
    # The dispatcher counts a batch just after handing it over, which may be after it settled.
    wait_until(lambda: svc.dispatcher.stats()["orders"] >= len(ORDERS), "the dispatcher to count every order")
    assert svc.dispatcher.stats() == {"batches": 2, "orders": len(ORDERS), "largestBatch": len(ORDERS) - 1}


def test_closing_the_dispatcher_sends_what_has_gathered_and_later_orders_are_left_to_recovery(
    busy_app: tuple[Flask, str],
) -> None:
    app, key = busy_app
    svc = get_services(app)
    client = app.test_client()
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"}
    ids = [post_order(client, key, body)]
    wait_until(lambda: svc.dispatcher.stats()["orders"] >= 1, "the first order to be sent")
    ids += [post_order(client, key, body) for _ in range(2)]
    assert svc.dispatcher.stats() == {"batches": 1, "orders": 1, "largestBatch": 1}
    svc.dispatcher.close()  # the two gathered behind the first go out as one more batch
    assert svc.dispatcher.stats() == {"batches": 2, "orders": 3, "largestBatch": 2}
    late = client.post("/api/orders/execute", json=body, headers={"X-API-Key": key})
    assert late.status_code == 202  # stored and held; the recovery step will queue it
    assert svc.dispatcher.stats()["orders"] == 3
    RELEASE.set()
    statuses = statuses_when_settled(app, ids)
    assert [statuses[i] for i in ids] == ["confirmed"] * 3
    assert statuses[late.get_json()["orderId"]] == "pending"
