"""Live updates over a real Socket.IO connection, against real processes.

PostgreSQL, Redis, one gunicorn and one RQ worker (``tests/stack.py``): a client that follows its
order sees every status in lifecycle order and the fills on the confirmed one, and sees trades and
pool changes in the public rooms it joins on connect; a late subscriber gets the final state at
once; nobody else (another account, or a connection without a key) can follow the order. Then
gunicorn alone on SQLite, running jobs in its own thread pool, shows the same lifecycle.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from services import get_services
from tests.conftest import build_app, empty_postgres
from tests.stack import LiveClient, Stack, running_stack, stack_env, wait_workers
from tests.waiting import WAIT_S, wait_final, wait_until

LIFECYCLE = ("pending", "quoting", "routing", "building", "submitted", "confirmed")
ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.25"}


@dataclass
class Deployment:
    """Running processes on one database: the web server's URL and the accounts' API keys."""

    url: str
    key: str
    other_key: str
    env: dict[str, str]
    stack: Stack
    redis_url: str | None
    namespace: str

    def start_worker(self) -> None:
        """Start one RQ worker and wait until it takes jobs."""
        assert self.redis_url is not None
        proc = self.stack.start_worker(self.env)
        wait_workers(self.redis_url, self.namespace, [proc])


def seed(database_url: str) -> tuple[str, str]:
    """Seed an empty migrated database; the demo account's key and a second trader's key."""
    from models import db
    from venue_state import create_account

    app, key = build_app(database_url)
    try:
        with app.app_context():
            _, other_key = create_account(db.session, "someone-else")
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    finally:
        get_services(app).shutdown()
    return key, other_key


def submit(url: str, key: str, order: dict[str, str] = ORDER) -> str:
    response = requests.post(
        f"{url}/api/orders/execute", json=order, headers={"X-API-Key": key}, timeout=WAIT_S
    )
    assert response.status_code == 202, response.text
    return str(response.json()["orderId"])


def get_order(url: str, key: str, order_id: str) -> dict[str, Any]:
    response = requests.get(f"{url}/api/orders/{order_id}", headers={"X-API-Key": key}, timeout=WAIT_S)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def statuses(client: LiveClient, order_id: str) -> list[str]:
    """The statuses of ``order_id``'s updates as a client applies them: by arrival, dropping any
    update whose ``seq`` is not above the highest seen (a snapshot overtaken by a room update)."""
    applied, highest = [], -1
    for data in client.received("order_update", lambda d: d["orderId"] == order_id):
        assert isinstance(data["seq"], int), data
        if data["seq"] > highest:
            applied.append(data["status"])
            highest = data["seq"]
    return applied


def is_monotone(seen: list[str]) -> bool:
    """Every status is at or after the one before it along the lifecycle."""
    ranks = [LIFECYCLE.index(status) for status in seen]
    return ranks == sorted(ranks)


def assert_monotone(seen: list[str]) -> None:
    assert is_monotone(seen), f"statuses out of lifecycle order: {seen}"


def distinct(seen: list[str]) -> list[str]:
    return [status for i, status in enumerate(seen) if i == 0 or status != seen[i - 1]]


def is_confirmed(order_id: str) -> Any:
    return lambda data: data["orderId"] == order_id and data["status"] == "confirmed"


def check_confirmed_update(update: dict[str, Any], order: dict[str, Any]) -> None:
    """The confirmed ``order_update`` carries the executed legs, as the HTTP API reports them."""
    legs = update["legs"]
    assert legs, update
    assert legs == order["legs"]
    assert all(leg["paper"] and "legIndex" in leg for leg in legs), legs  # fills, not the plan
    assert sum(Decimal(leg["amountIn"]) for leg in legs if leg["hop"] == 0) == Decimal(order["amountIn"])
    assert update["amountOut"] == order["amountOut"] and Decimal(update["amountOut"]) > 0


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The test's processes, stopped afterwards; their logs are printed if the test failed."""
    yield from running_stack(request, tmp_path / "logs")


@pytest.fixture
def pg_web(stack: Stack, pg_database: str, redis_url: str, redis_namespace: str) -> Deployment:
    """PostgreSQL + Redis + one gunicorn; no worker yet (tests start it when they want it)."""
    empty_postgres(pg_database)
    key, other_key = seed(pg_database)
    env = stack_env(pg_database, redis_url, redis_namespace)
    url = stack.start_server(env)
    return Deployment(url, key, other_key, env, stack, redis_url, redis_namespace)


@pytest.fixture
def inprocess_web(stack: Stack, sqlite_template: Path, tmp_path: Path) -> Deployment:
    """gunicorn alone on a SQLite file, no REDIS_URL: it runs the jobs in its own thread pool."""
    path = tmp_path / "solroute.db"
    shutil.copy(sqlite_template, path)
    database_url = f"sqlite:///{path}"
    key, other_key = seed(database_url)
    env = stack_env(database_url, None, "solroute-inprocess")
    url = stack.start_server(env)
    return Deployment(url, key, other_key, env, stack, None, "solroute-inprocess")


@pytest.fixture
def pg_stack(pg_web: Deployment) -> Deployment:
    """``pg_web`` with a worker taking jobs."""
    pg_web.start_worker()
    return pg_web


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_subscriber_sees_its_order_pass_every_status_in_order_then_the_trade_and_pools(
    pg_web: Deployment, transport: str
) -> None:
    client = LiveClient(pg_web.url, api_key=pg_web.key, transport=transport)
    try:
        order_id = submit(pg_web.url, pg_web.key)
        # No worker yet: the order waits in the queue, so the subscription sees it from the start.
        ack = client.call("subscribe_order", {"orderId": order_id})
        assert ack == {"ok": True, "orderId": order_id, "status": "pending"}
        pg_web.start_worker()

        confirmed = client.wait_for("order_update", is_confirmed(order_id))
        trade = client.wait_for("trade_executed", lambda d: d["orderId"] == order_id)
        seen = statuses(client, order_id)
        assert_monotone(seen)
        assert distinct(seen) == list(LIFECYCLE)
        order = get_order(pg_web.url, pg_web.key, order_id)
        assert [event["status"] for event in order["events"]] == list(LIFECYCLE)
        check_confirmed_update(confirmed, order)

        assert (trade["tokenIn"], trade["tokenOut"], trade["amountIn"]) == ("SOL", "USDC", "1.25")
        assert trade["amountOut"] == order["amountOut"] and trade["tradeId"] == order["trade"]["tradeId"]
        assert set(trade["venues"]) == {leg["venue"] for leg in order["legs"]}
        # Every pool or desk the fills touched is announced in the public "pools" room.
        touched = {leg["venueId"] for leg in order["legs"] if leg["kind"] in ("amm", "otc")}
        assert touched
        wait_until(
            lambda: touched <= {data["id"] for data in client.received("pool_update")},
            f"pool_update for each of {sorted(touched)}",
        )
        for update in client.received("pool_update", lambda d: d["id"] in touched):
            assert (
                update["kind"] == "amm" and Decimal(update["reserveA"]) > 0 and Decimal(update["price"]) > 0
            )
    finally:
        client.close()


def test_a_subscriber_after_the_order_finished_gets_its_final_status_at_once(pg_stack: Deployment) -> None:
    order_id = submit(pg_stack.url, pg_stack.key)
    order = wait_final(pg_stack.url, order_id, pg_stack.key)
    assert order["status"] == "confirmed", order

    client = LiveClient(pg_stack.url, api_key=pg_stack.key)
    try:
        ack = client.call("subscribe_order", {"orderId": order_id})
        assert ack == {"ok": True, "orderId": order_id, "status": "confirmed"}
        # The server sends the state before its acknowledgement, and the client handles packets in order.
        assert statuses(client, order_id) == ["confirmed"]
        check_confirmed_update(client.received("order_update")[0], order)
    finally:
        client.close()


def test_a_worker_sends_the_updates_of_followed_orders_only_and_every_trade(pg_web: Deployment) -> None:
    """Order updates nobody follows never reach the message queue (every web process would parse
    them for nothing); trades and pools always do."""
    import json

    import redis

    listener = redis.Redis.from_url(pg_web.redis_url or "")
    channel = listener.pubsub(ignore_subscribe_messages=True)
    channel.subscribe(pg_web.namespace)
    client = LiveClient(pg_web.url, api_key=pg_web.key)
    try:
        followed = submit(pg_web.url, pg_web.key)
        unfollowed = submit(pg_web.url, pg_web.key)
        assert client.call("subscribe_order", {"orderId": followed})["ok"] is True
        pg_web.start_worker()
        for order_id in (followed, unfollowed):
            assert wait_final(pg_web.url, order_id, pg_web.key)["status"] == "confirmed"
        client.wait_for("order_update", is_confirmed(followed))
        client.wait_for("trade_executed", lambda d: d["orderId"] == unfollowed)
        messages: list[Any] = []

        def both_trades_read() -> bool:
            # An order's updates are published before its trade, on one channel: once both trades
            # are read, so is any order_update either order had sent to the message queue.
            # (get_message is None also for the subscription's own reply: the next call reads on.)
            while (message := channel.get_message(timeout=0.1)) is not None:
                messages.append(json.loads(message["data"]))
            trades = {m["data"][0]["orderId"] for m in messages if m.get("event") == "trade_executed"}
            return trades >= {followed, unfollowed}

        wait_until(both_trades_read, "both trades on the message queue")
        # (The web server's own reply to the subscription goes to the client's sid, not a room.)
        updates = {
            m["room"] for m in messages if m.get("event") == "order_update" and m["room"].startswith("order:")
        }
        trades = {m["data"][0]["orderId"] for m in messages if m.get("event") == "trade_executed"}
        assert updates == {f"order:{followed}"}
        assert trades == {followed, unfollowed}
        assert distinct(statuses(client, followed))[-1] == "confirmed"
    finally:
        client.close()
        channel.close()
        listener.close()


def test_another_account_cannot_follow_someone_elses_order_nor_receive_its_updates(
    pg_stack: Deployment,
) -> None:
    owner = LiveClient(pg_stack.url, api_key=pg_stack.key)
    other = LiveClient(pg_stack.url, api_key=pg_stack.other_key)
    try:
        order_id = submit(pg_stack.url, pg_stack.key)
        refused = other.call("subscribe_order", {"orderId": order_id})
        assert refused["error"]["code"] == "not_found", refused
        # The same answer as for an order that does not exist: ids are not disclosed.
        missing = other.call("subscribe_order", {"orderId": "0" * 32})
        assert missing["error"]["code"] == refused["error"]["code"] == "not_found"
        assert owner.call("subscribe_order", {"orderId": order_id})["ok"] is True

        owner.wait_for("order_update", is_confirmed(order_id))
        # The trade is public and published after the order's own updates, on the same channel:
        # once the other client has it, it would have had any order_update sent its way.
        other.wait_for("trade_executed", lambda d: d["orderId"] == order_id)
        assert other.received("order_update") == []
    finally:
        owner.close()
        other.close()


def test_a_connection_without_a_key_gets_public_events_but_cannot_follow_orders(
    pg_stack: Deployment,
) -> None:
    anonymous = LiveClient(pg_stack.url)
    try:
        order_id = submit(pg_stack.url, pg_stack.key)
        refused = anonymous.call("subscribe_order", {"orderId": order_id})
        assert refused["error"]["code"] == "unauthorized", refused
        assert anonymous.call("subscribe", {"room": "trades"}) == {"ok": True, "room": "trades"}

        trade = anonymous.wait_for("trade_executed", lambda d: d["orderId"] == order_id)
        assert trade["paper"] is True and Decimal(trade["amountOut"]) > 0
        anonymous.wait_for("pool_update")
        assert anonymous.received("order_update") == []
        assert wait_final(pg_stack.url, order_id, pg_stack.key)["status"] == "confirmed"
    finally:
        anonymous.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_without_redis_the_web_process_runs_the_order_and_streams_the_same_lifecycle(
    inprocess_web: Deployment, transport: str
) -> None:
    health = requests.get(f"{inprocess_web.url}/api/health", timeout=WAIT_S).json()
    assert health["checks"]["queue"]["executor"] == "in-process", health
    client = LiveClient(inprocess_web.url, api_key=inprocess_web.key, transport=transport)
    try:
        order_id = submit(inprocess_web.url, inprocess_web.key)
        # The job starts as soon as the order is stored, so the subscription may join at any status;
        # from there on every update must arrive, in order.
        ack = client.call("subscribe_order", {"orderId": order_id})
        assert ack["ok"] is True and ack["status"] in LIFECYCLE, ack
        confirmed = client.wait_for("order_update", is_confirmed(order_id))
        client.wait_for("trade_executed", lambda d: d["orderId"] == order_id)
        order = get_order(inprocess_web.url, inprocess_web.key, order_id)
        assert [event["status"] for event in order["events"]] == list(LIFECYCLE)
        check_confirmed_update(confirmed, order)
        seen = statuses(client, order_id)
        assert seen[-1] == "confirmed"
        assert_monotone(seen)
    finally:
        client.close()


def test_pool_update_payloads_carry_token_amounts_and_the_spot_price() -> None:
    """The two ``pool_update`` shapes a settled batch publishes, AMM pool and OTC desk, exactly."""
    from dataclasses import replace

    from amm import Pool
    from otc_engine import default_desks
    from payloads import desk_update_json, pool_update_json
    from venue_state import seed_prices

    pool = Pool("orca-sol-usdc", "Orca", "SOL", "USDC", 12_000_500_000_000, 1_800_075_000_000, 25)
    assert pool_update_json(pool) == {
        "id": "orca-sol-usdc",
        "venue": "Orca",
        "kind": "amm",
        "tokenA": "SOL",
        "tokenB": "USDC",
        "reserveA": "12000.5",
        "reserveB": "1800075",
        "price": "150",
    }
    desk = default_desks(seed_prices(), 0.0)[0]
    assert (desk.desk_id, desk.base, desk.quote) == ("otc-a-sol-usdc", "SOL", "USDC")
    desk = replace(desk, inventory_base=1_500_000_000, inventory_quote=2_000_000)
    assert desk_update_json(desk) == {
        "id": "otc-a-sol-usdc",
        "venue": "OTC Desk A (SOL/USDC)",
        "kind": "otc",
        "tokenA": "SOL",
        "tokenB": "USDC",
        "inventoryBase": "1.5",
        "inventoryQuote": "2",
    }


def test_an_app_without_redis_serves_socket_io_itself_after_one_with_redis_was_built(
    database_url: str, redis_url: str, redis_namespace: str
) -> None:
    # One socketio object is bound to every app a process builds: an app without REDIS_URL must not
    # inherit the message queue an earlier app with Redis configured (its test client needs none).
    from app import create_app
    from live_updates import socketio
    from tests.conftest import base_overrides

    with_redis = create_app(
        base_overrides(database_url, REDIS_URL=redis_url, REDIS_NAMESPACE=redis_namespace)
    )
    without = create_app(base_overrides(database_url))
    try:
        client = socketio.test_client(without)
        assert client.is_connected()
        client.disconnect()
    finally:
        for app in (with_redis, without):
            get_services(app).shutdown()
