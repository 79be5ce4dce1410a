"""PostgreSQL connections: one round trip to place an order, and pooled connections that die.

The order's insert runs alone in autocommit (no BEGIN, no COMMIT around it); a pooled connection
that sat idle is tested before use and replaced when the server dropped it; one dropped while in
use fails that request with a 503 the client can retry, and the pool recovers at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from models import Order, db
from services import get_services
from tests.conftest import PG_ADMIN_URL, build_app, empty_postgres

GOOD = {
    "tokenIn": "SOL",
    "tokenOut": "USDC",
    "amountIn": "0.5",
    "routingStrategy": "BEST_PRICE",
    "slippageBps": 100,
}
IDLE = 0  # psycopg2.extensions.TRANSACTION_STATUS_IDLE


def make_app(url: str, **extra: Any) -> Iterator[tuple[Flask, str]]:
    empty_postgres(url)
    app, key = build_app(url, **extra)
    try:
        yield app, key
    finally:
        get_services(app).shutdown()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def pg_app(pg_database: str) -> Iterator[tuple[Flask, str]]:
    yield from make_app(pg_database, DB_PING_IDLE_S=60.0)


def terminate_backends(url: str) -> int:
    """Kill every server process of the database behind ``url`` (what a restart does to a pool)."""
    name = sa.make_url(url).database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar_one()
    finally:
        admin.dispose()
    return int(killed)


def post_order(app: Flask, key: str) -> Any:
    return app.test_client().post("/api/orders/execute", json=GOOD, headers={"X-API-Key": key})


def test_placing_an_order_is_the_risk_read_and_one_statement_in_autocommit(pg_app: tuple[Flask, str]) -> None:
    app, key = pg_app
    assert post_order(app, key).status_code == 202  # warms the API-key cache and the venue snapshot
    seen: list[tuple[str, bool, int]] = []
    me = threading.get_ident()

    def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() == me:  # not the venue snapshot's background refresh
            raw = conn.connection.dbapi_connection
            seen.append((statement.split()[0].upper(), raw.autocommit, raw.info.transaction_status))

    with app.app_context():
        sa.event.listen(db.engine, "after_cursor_execute", after)
        try:
            response = post_order(app, key)
        finally:
            sa.event.remove(db.engine, "after_cursor_execute", after)
    assert response.status_code == 202, response.get_json()
    # The risk limits' read (the account's limits and today's figures, one SELECT) and the one
    # statement placing the order, each sent in autocommit and leaving no transaction open: no
    # BEGIN, no COMMIT.
    assert seen == [("SELECT", True, IDLE), ("WITH", True, IDLE)]
    order_id = response.get_json()["orderId"]
    with app.app_context():
        # Committed: another connection sees it. Pooled connections are back to transactions.
        other = sa.create_engine(db.engine.url)
        try:
            with other.connect() as conn:
                assert conn.execute(sa.select(Order.id).where(Order.id == order_id)).scalar_one() == order_id
        finally:
            other.dispose()
        with db.engine.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]


def test_an_order_placed_inside_an_open_transaction_joins_it(pg_app: tuple[Flask, str]) -> None:
    """With an Idempotency-Key the replay lookup has begun a transaction: the insert joins it."""
    app, key = pg_app
    headers = {"X-API-Key": key, "Idempotency-Key": "joins-1"}
    first = app.test_client().post("/api/orders/execute", json=GOOD, headers=headers)
    assert first.status_code == 202, first.get_json()
    again = app.test_client().post("/api/orders/execute", json=GOOD, headers=headers)
    assert again.status_code == 200 and again.get_json()["orderId"] == first.get_json()["orderId"]
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Order)).scalar_one() == 1


def test_a_connection_dropped_while_idle_is_replaced_before_use(pg_database: str) -> None:
    for app, key in make_app(pg_database, DB_PING_IDLE_S=0.0):  # 0: test every checkout
        assert post_order(app, key).status_code == 202
        assert terminate_backends(pg_database) >= 1
        response = post_order(app, key)
        assert response.status_code == 202, response.get_json()


def test_a_connection_dropped_in_use_fails_one_request_with_503_and_the_pool_recovers(
    pg_app: tuple[Flask, str], pg_database: str
) -> None:
    app, key = pg_app  # connections used within DB_PING_IDLE_S are not tested before use
    client = app.test_client()
    assert client.get("/api/accounts/me", headers={"X-API-Key": key}).status_code == 200
    assert terminate_backends(pg_database) >= 1
    failed = client.get("/api/accounts/me", headers={"X-API-Key": key})
    assert failed.status_code == 503
    assert failed.get_json()["error"]["code"] == "database_unavailable"
    assert failed.headers["Retry-After"] == "1"
    # The disconnect invalidated the whole pool: the next request connects afresh.
    assert client.get("/api/accounts/me", headers={"X-API-Key": key}).status_code == 200
    assert post_order(app, key).status_code == 202


def demo_id() -> int:
    account_id = db.session.execute(sa.text("SELECT id FROM accounts WHERE name = 'demo'")).scalar_one()
    db.session.remove()
    return int(account_id)


def create(account_id: int, n: int, route: dict[str, Any] | None = None) -> tuple[Order, bool]:
    """``trade_logger.create_order`` for 1 USDC → SOL (the API's path, without the view)."""
    from trade_logger import create_order, request_hash

    return create_order(
        db.session,
        account_id,
        token_in="USDC",
        token_out="SOL",
        amount_in=1_000_000,
        strategy="BEST_PRICE",
        slippage_bps=50,
        quoted_amount_out=1,
        min_amount_out=1,
        route=route,
        idempotency_key=None,
        request_digest=request_hash({"n": n}),
    )


def test_an_order_created_with_a_route_stores_it_as_json(pg_app: tuple[Flask, str]) -> None:
    """The driver-level insert converts what SQLAlchemy's column types would: the route as JSON."""
    app, _key = pg_app
    route = {"plan": {"legs": [{"venue": "Orca", "amountIn": 5}]}, "settle_at": 1.5}
    with app.app_context():
        order, created = create(demo_id(), 0, route)
        assert created and order.route == route
        db.session.remove()
        stored = db.session.get(Order, order.id)
        assert stored is not None
        assert (stored.route, stored.status, stored.created_at) == (route, "pending", order.created_at)
        db.session.remove()


def test_placing_an_order_on_a_connection_that_died_raises_the_database_error_and_the_next_succeeds(
    pg_app: tuple[Flask, str], pg_database: str
) -> None:
    """The autocommit switch is put back even on a dead connection, without hiding the error the
    request must map to a 503 (psycopg2 refuses to touch a closed connection)."""
    app, _key = pg_app
    with app.app_context():
        account_id = demo_id()
        create(account_id, 0)  # the pool now holds a connection just used: not tested before use
        assert terminate_backends(pg_database) >= 1
        with pytest.raises(sa.exc.DBAPIError) as failed:
            create(account_id, 1)
        assert failed.value.connection_invalidated
        db.session.remove()
        assert create(account_id, 2)[1] is True
        assert db.session.execute(sa.select(sa.func.count()).select_from(Order)).scalar_one() == 2
        db.session.remove()
