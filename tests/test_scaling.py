"""Scaled out: two single-worker gunicorn processes and two RQ workers on one Redis and one PostgreSQL.

Live updates fan out through the Redis message queue, so a client of one web process follows an
order submitted through the other; orders sent to either process all confirm, and both workers
take a share of the jobs (RQ's own records say which worker ran each job).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from services import get_services
from tests.conftest import build_app, empty_postgres
from tests.stack import (
    BatchRun,
    LiveClient,
    Stack,
    batch_runs,
    rq_workers,
    running_stack,
    stack_env,
    wait_workers,
)
from tests.waiting import WAIT_S, wait_until

pytestmark = pytest.mark.slow

LIFECYCLE = ["pending", "quoting", "routing", "building", "submitted", "confirmed"]
# Small orders over every pool pair (one and two hops), well below the OTC desks' minimum sizes.
ORDERS = [
    {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.5"},
    {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "40"},
    {"tokenIn": "SOL", "tokenOut": "USDT", "amountIn": "0.3"},
    {"tokenIn": "USDT", "tokenOut": "USDC", "amountIn": "25"},
    {"tokenIn": "JUP", "tokenOut": "USDC", "amountIn": "30"},
    {"tokenIn": "RAY", "tokenOut": "SOL", "amountIn": "5"},
    {"tokenIn": "BONK", "tokenOut": "SOL", "amountIn": "100000"},
    {"tokenIn": "USDC", "tokenOut": "JUP", "amountIn": "20"},
]
BULK_ORDERS = 48
TRADERS = 8  # one account per submitting thread, as separate traders would


@dataclass
class Cluster:
    servers: tuple[str, str]
    key: str
    trader_keys: list[str]
    env: dict[str, str]
    stack: Stack
    redis_url: str
    namespace: str

    def start_workers(self, count: int = 2) -> set[str]:
        """Start ``count`` RQ workers, wait until all of them take jobs; their names in RQ."""
        procs = [self.stack.start_worker(self.env, f"worker-{i + 1}") for i in range(count)]
        names = {w.name for w in wait_workers(self.redis_url, self.namespace, procs)}
        assert len(names) == count, names
        return names

    def run(self, order_id: str) -> BatchRun:
        """The RQ batch job that executed ``order_id`` (its first attempt), as RQ recorded it."""
        return batch_runs(self.redis_url, self.namespace, [order_id])[order_id]


def submit(url: str, key: str, order: dict[str, str]) -> str:
    response = requests.post(
        f"{url}/api/orders/execute", json=order, headers={"X-API-Key": key}, timeout=WAIT_S
    )
    assert response.status_code == 202, response.text
    return str(response.json()["orderId"])


def status(url: str, key: str, order_id: str) -> str:
    response = requests.get(f"{url}/api/orders/{order_id}", headers={"X-API-Key": key}, timeout=WAIT_S)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The test's processes, stopped afterwards; their logs are printed if the test failed."""
    yield from running_stack(request, tmp_path / "logs")


@pytest.fixture
def cluster(stack: Stack, pg_database: str, redis_url: str, redis_namespace: str) -> Cluster:
    """Two gunicorn processes (A and B, each one worker, no control socket) on one database and Redis."""
    from models import db
    from venue_state import create_account

    empty_postgres(pg_database)
    app, key = build_app(pg_database)
    try:
        with app.app_context():
            trader_keys = [create_account(db.session, f"trader-{i}")[1] for i in range(TRADERS)]
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    finally:
        get_services(app).shutdown()
    env = stack_env(pg_database, redis_url, redis_namespace)
    servers = (stack.start_server(env), stack.start_server(env))
    assert servers[0] != servers[1]
    return Cluster(servers, key, trader_keys, env, stack, redis_url, redis_namespace)


def test_a_client_of_server_b_follows_an_order_submitted_through_server_a(cluster: Cluster) -> None:
    server_a, server_b = cluster.servers
    follower = LiveClient(server_b, api_key=cluster.key)
    watcher = LiveClient(server_a)  # anonymous, on the other server
    try:
        order_id = submit(server_a, cluster.key, ORDERS[0])
        # Before any worker runs, so the subscription sees the order from its first status.
        ack = follower.call("subscribe_order", {"orderId": order_id})
        assert ack == {"ok": True, "orderId": order_id, "status": "pending"}
        workers = cluster.start_workers(2)

        confirmed = follower.wait_for(
            "order_update", lambda d: d["orderId"] == order_id and d["status"] == "confirmed"
        )
        assert confirmed["legs"], confirmed
        seen = [d["status"] for d in follower.received("order_update", lambda d: d["orderId"] == order_id)]
        assert [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]] == LIFECYCLE
        trade = follower.wait_for("trade_executed", lambda d: d["orderId"] == order_id)
        assert trade["amountOut"] == confirmed["amountOut"]
        # Both web processes relay the worker's events: the public room on A has the trade too.
        assert watcher.wait_for("trade_executed", lambda d: d["orderId"] == order_id) == trade

        run = cluster.run(order_id)
        assert run.outcome == "confirmed"
        assert run.worker_name in workers
    finally:
        follower.close()
        watcher.close()


def test_orders_sent_to_both_servers_all_confirm_and_both_workers_share_them(cluster: Cluster) -> None:
    workers = cluster.start_workers(2)
    watcher = LiveClient(cluster.servers[1])
    try:
        # Each trader sends its orders one after another, alternating servers and varying pairs;
        # the traders run at once.
        def trade(trader: int) -> list[tuple[int, str]]:
            key = cluster.trader_keys[trader]
            sent = []
            for k in range(BULK_ORDERS // TRADERS):
                server = cluster.servers[(trader + k) % 2]
                sent.append((trader, submit(server, key, ORDERS[(trader + 3 * k) % len(ORDERS)])))
            return sent

        with ThreadPoolExecutor(max_workers=TRADERS) as pool:
            orders = [order for sent in pool.map(trade, range(TRADERS)) for order in sent]
        order_ids = [order_id for _, order_id in orders]
        assert len(set(order_ids)) == BULK_ORDERS

        def statuses() -> dict[str, int] | None:
            found: dict[str, int] = {}
            for i, (trader, order_id) in enumerate(orders):
                s = status(cluster.servers[i % 2], cluster.trader_keys[trader], order_id)
                found[s] = found.get(s, 0) + 1
            return found if set(found) <= {"confirmed", "failed"} else None

        final = wait_until(statuses, f"{BULK_ORDERS} orders to finish", interval_s=0.2)
        assert final == {"confirmed": BULK_ORDERS}

        # Server B's public room had every trade, whichever server took the order.
        wait_until(
            lambda: set(order_ids) <= {d["orderId"] for d in watcher.received("trade_executed")},
            "a trade_executed on server B for every order",
        )

        runs = batch_runs(cluster.redis_url, cluster.namespace, order_ids)
        assert {runs[order_id].outcome for order_id in order_ids} == {"confirmed"}
        jobs_by: dict[str, set[str]] = {}
        for order_id in order_ids:
            jobs_by.setdefault(runs[order_id].worker_name, set()).add(runs[order_id].job_id)
        assert set(jobs_by) == workers, (jobs_by, workers)
        # RQ's worker registry agrees: each worker ran at least the batch jobs found for it.
        registry = {w.name: w.successful_job_count for w in rq_workers(cluster.redis_url, cluster.namespace)}
        assert all(registry[name] >= len(jobs_by[name]) for name in workers), (registry, jobs_by)
    finally:
        watcher.close()


# Not strict: whether the dequeue gets one of the short-timeout connections depends on which
# pooled connection is free at the time, so the bug shows in most runs but not all.
def test_a_worker_idle_longer_than_the_redis_socket_timeout_still_takes_jobs(cluster: Cluster) -> None:
    (name,) = cluster.start_workers(1)
    idle_s = 7.0  # redis-py 8's default socket timeout is 5 s
    deadline = time.monotonic() + idle_s
    while time.monotonic() < deadline:  # idle time is the precondition; the assertion follows
        time.sleep(0.5)
    assert name in {w.name for w in rq_workers(cluster.redis_url, cluster.namespace)}, "the worker quit"
    order_id = submit(cluster.servers[0], cluster.key, ORDERS[0])
    wait_until(
        lambda: status(cluster.servers[1], cluster.key, order_id) == "confirmed",
        f"order {order_id} to confirm",
    )
