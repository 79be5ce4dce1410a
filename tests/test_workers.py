"""Execution correctness with the production shape: gunicorn, real RQ workers, PostgreSQL and Redis.

Each test seeds the session's PostgreSQL database, starts the processes it needs (tests/stack.py)
and drives them over HTTP; faults are real ones: a worker SIGKILLed inside ``settle_orders``, row
locks held from another connection, a lock timeout. Afterwards the books are read back with
plain SQL and must reconcile exactly (``tests.stack.book_problems``).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from services import get_services
from tests.conftest import build_app, empty_postgres
from tests.stack import (
    Proc,
    Stack,
    VenueSeed,
    backends_waiting_on_locks,
    batch_runs,
    book_problems,
    execute,
    idle_transactions,
    kill_process_group,
    open_order_count,
    query,
    running_stack,
    stack_env,
    timeline_problems,
    venue_locks,
    venue_seed,
    wait_workers,
)
from tests.waiting import WAIT_S, wait_final, wait_until

SOL = 10**9
USDC = 10**6
DEMO_SOL = 1000 * SOL  # venue_state.DEMO_FUNDING
DEMO_USDC = 250_000 * USDC
FINAL = ("confirmed", "failed")
# Failures that are the market's answer, not the system's: never retried, never "abandoned".
BUSINESS_REJECTIONS = ("slippage_exceeded", "insufficient_liquidity", "no_route")


@dataclass
class Seeded:
    """A freshly seeded database: its URL, the venues as seeded, and traders' ids and API keys."""

    url: str
    seed: VenueSeed
    ids: dict[str, int]
    keys: dict[str, str]


def seed_database(url: str, traders: dict[str, dict[str, str] | None]) -> Seeded:
    """Empty and seed ``url`` (demo account included) and create ``traders`` (name: funding)."""
    from models import db
    from venue_state import create_account

    empty_postgres(url)
    app, demo_key = build_app(url)
    keys = {"demo": demo_key}
    try:
        with app.app_context():
            for name, funding in traders.items():
                _, keys[name] = create_account(db.session, name, funding=funding)
                db.session.commit()
            db.engine.dispose()
    finally:
        get_services(app).shutdown()
    ids = {str(name): int(i) for i, name in query(url, "SELECT id, name FROM accounts")}
    return Seeded(url, venue_seed(url), ids, keys)


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
                kill_process_group(proc)  # the scheduler a SIGKILLed worker forked lives on


class Api:
    """The HTTP API of one gunicorn server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def submit(self, key: str, body: dict[str, Any], idempotency_key: str | None = None) -> requests.Response:
        headers = {"X-API-Key": key}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return requests.post(
            f"{self.base_url}/api/orders/execute", json=body, headers=headers, timeout=WAIT_S
        )

    def accepted(self, key: str, body: dict[str, Any]) -> str:
        r = self.submit(key, body)
        assert r.status_code == 202, r.text
        return str(r.json()["orderId"])

    def order(self, key: str, order_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.base_url}/api/orders/{order_id}", headers={"X-API-Key": key}, timeout=WAIT_S)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def wait_final(self, key: str, order_id: str) -> dict[str, Any]:
        return wait_final(self.base_url, order_id, key)


def statuses(order: dict[str, Any]) -> list[str]:
    return [e["status"] for e in order["events"]]


def balance(url: str, account_id: int, token: str) -> tuple[int, int]:
    rows = query(
        url,
        "SELECT amount, reserved FROM balances WHERE account_id = :a AND token = :t",
        a=account_id,
        t=token,
    )
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


def order_rows(url: str, order_id: str) -> dict[str, int]:
    """How many trade, fill and ledger rows an order has."""
    count = "SELECT count(*) FROM {} WHERE {} = :v"
    return {
        "trades": int(query(url, count.format("trades", "order_id"), v=order_id)[0][0]),
        "fills": int(query(url, count.format("fills", "order_id"), v=order_id)[0][0]),
        "ledger": int(query(url, count.format("ledger_entries", "journal"), v=f"trade-{order_id}")[0][0]),
    }


def reserves(url: str) -> dict[str, tuple[int, int]]:
    return {
        str(r[0]): (int(r[1]), int(r[2]))
        for r in query(url, "SELECT id, reserve_a, reserve_b FROM amm_pools")
    }


def wait_stale(url: str, order_id: str, seconds: float) -> None:
    """Wait until the order was last updated more than ``seconds`` ago (by the database's clock)."""
    sql = "SELECT now() - updated_at > make_interval(secs => :s) FROM orders WHERE id = :o"
    wait_until(lambda: query(url, sql, s=seconds, o=order_id)[0][0], f"order {order_id} to be stale")


def lock_timeout_url(url: str, timeout_ms: int) -> str:
    """``url`` with libpq's ``options`` setting PostgreSQL's lock_timeout for every session."""
    return f"{url}{'&' if '?' in url else '?'}options=-c%20lock_timeout%3D{timeout_ms}"


# --- 5. two workers, conflicting orders on the same pools ---------------------------------------


@pytest.mark.slow
def test_two_workers_settle_conflicting_orders_without_losing_an_update(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    db = seed_database(pg_database, {"alice": None, "bob": None, "carol": None})
    # Batches of at most 5: both workers settle conflicting batches at the same time.
    env = stack_env(db.url, redis_url, redis_namespace, ORDER_BATCH_MAX="5")
    api = Api(stack.start_server(env))
    rng = random.Random(5)
    plans: dict[str, list[dict[str, Any]]] = {}
    for name in ("alice", "bob", "carol"):
        plans[name] = []
        for i in range(20):
            if i % 2 == 0:
                size = rng.choice(("250", "180")) if i % 10 == 0 else f"{rng.uniform(0.5, 30):.3f}"
                body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": size}
            else:
                body = {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": f"{rng.uniform(50, 4500):.2f}"}
            body |= {"routingStrategy": ("BEST_PRICE", "OPTIMAL_SPLIT")[i % 4 < 2], "slippageBps": 100}
            plans[name].append(body)

    # Every order is queued before the workers start, so both take jobs from a full queue at once.
    order_ids: list[tuple[str, str]] = []
    lock = threading.Lock()

    def submit_all(name: str) -> None:
        for body in plans[name]:
            order_id = api.accepted(db.keys[name], body)
            with lock:
                order_ids.append((name, order_id))

    submitters = [threading.Thread(target=submit_all, args=(name,)) for name in plans]
    for t in submitters:
        t.start()
    for t in submitters:
        t.join(timeout=WAIT_S)
    assert len(order_ids) == 60

    # Neither worker settles a batch before both hold one (waiting on the venues' locks), however
    # far apart a loaded machine starts them: then both drain the rest of the queue at once.
    with venue_locks(db.url):
        for i in (1, 2):
            stack.start_worker(env, name=f"worker-{i}")
        wait_until(
            lambda: backends_waiting_on_locks(db.url) >= 2, "both workers to hold a batch", interval_s=0.1
        )
    wait_until(lambda: open_order_count(db.url) == 0, "every order to be final", interval_s=0.2)
    runs = batch_runs(redis_url, redis_namespace, [order_id for _, order_id in order_ids])
    ran_by = Counter(runs[order_id].worker for _, order_id in order_ids)
    assert len(ran_by) == 2 and min(ran_by.values()) >= 5, ran_by  # both workers took a share
    assert len({runs[order_id].job_id for _, order_id in order_ids}) >= 6  # in many small batches

    outcomes = Counter(
        status if code is None else code
        for status, code in query(db.url, "SELECT status, error_code FROM orders")
    )
    assert set(outcomes) <= {"confirmed", *BUSINESS_REJECTIONS}, outcomes
    assert outcomes["confirmed"] >= 45, outcomes
    otc = int(query(db.url, "SELECT count(*) FROM fills WHERE kind = 'otc'")[0][0])
    assert otc >= 1  # the desk is contended too
    assert book_problems(db.url, db.seed) == []


@pytest.mark.slow
def test_idle_workers_keep_waiting_for_jobs(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    db = seed_database(pg_database, {})
    env = stack_env(db.url, redis_url, redis_namespace)
    api = Api(stack.start_server(env))
    # Several workers: whether one trips over a short Redis socket timeout depends on a startup race.
    workers = [stack.start_worker(env, name=f"idle-{i}") for i in range(4)]
    wait_workers(redis_url, redis_namespace, workers)
    time.sleep(7)  # idle for longer than redis-py's default 5 s socket timeout

    exited = [w.name for w in workers if w.popen.poll() is not None]
    assert exited == [], "\n".join(w.log() for w in workers)
    order_id = api.accepted(db.keys["demo"], {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
    assert api.wait_final(db.keys["demo"], order_id)["status"] == "confirmed"


# --- 6. a worker killed inside settle_orders, then recovery ------------------------------------


def kill(worker: Proc, *, whole_group: bool) -> None:
    """SIGKILL ``worker``; with ``whole_group`` its forked RQ scheduler too (its container died)."""
    worker.kill()
    if whole_group:
        kill_process_group(worker)


def wait_dead_transaction_gone(url: str) -> None:
    """With its client gone, PostgreSQL must end a killed worker's transaction and free its locks."""
    try:
        wait_until(lambda: not idle_transactions(url), "the killed worker's transaction to end")
    except AssertionError:
        raise AssertionError(
            f"the killed worker's transaction still holds its locks: {idle_transactions(url)}"
        ) from None


def kill_worker_inside_settle_orders(
    stack: Stack, env: dict[str, str], db: Seeded, api: Api, body: dict[str, Any], *, whole_group: bool
) -> str:
    """Start a worker, let it reach settle_orders for a new order and SIGKILL it there; the order's id.

    ``whole_group`` kills the worker's RQ scheduler (a forked child) with it, as when its container
    dies; otherwise only the worker process dies, as when the OOM killer picks it.
    """
    worker: Proc = stack.start_worker(env, name="doomed")
    wait_workers(env["REDIS_URL"], env["REDIS_NAMESPACE"], [worker])
    time.sleep(0.5)  # its first maintenance pass is over: the job reuses the startup's connection
    with venue_locks(db.url):
        order_id = api.accepted(db.keys["demo"], body)
        wait_until(lambda: backends_waiting_on_locks(db.url) >= 1, "the worker to wait on the pools")
        kill(worker, whole_group=whole_group)
    wait_dead_transaction_gone(db.url)
    return order_id


def recovered(worker: Proc) -> bool:
    """Whether ``worker``'s startup or periodic recovery re-queued an order."""
    return "'requeued': 1" in worker.log()


@pytest.mark.slow
@pytest.mark.parametrize("whole_group", [False, True], ids=["worker-process", "worker-and-scheduler"])
def test_an_order_whose_worker_was_killed_in_settle_orders_is_recovered_and_confirmed_once(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str, whole_group: bool
) -> None:
    db = seed_database(pg_database, {})
    env = stack_env(db.url, redis_url, redis_namespace)
    api = Api(stack.start_server(env))
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "10", "routingStrategy": "BEST_PRICE"}
    order_id = kill_worker_inside_settle_orders(stack, env, db, api, body, whole_group=whole_group)
    assert balance(db.url, db.ids["demo"], "SOL") == (DEMO_SOL, 10 * SOL)  # still held

    wait_stale(db.url, order_id, 1.5)  # so the rescuer's startup recovery takes it
    rescuer_env = {**env, "ORDER_STALE_AFTER_S": "1", "RECOVERY_INTERVAL_S": "1"}
    rescuer = stack.start_worker(rescuer_env, name="rescuer")
    order = api.wait_final(db.keys["demo"], order_id)

    assert order["status"] == "confirmed", order
    assert recovered(rescuer), rescuer.log()
    assert timeline_problems(statuses(order), attempts=order["attempts"], final="confirmed") == []
    rows = order_rows(db.url, order_id)
    assert rows["trades"] == 1 and rows["ledger"] == 2 + 2 * rows["fills"], rows
    amount_out = int(query(db.url, "SELECT amount_out FROM orders WHERE id = :o", o=order_id)[0][0])
    assert balance(db.url, db.ids["demo"], "SOL") == (DEMO_SOL - 10 * SOL, 0)
    assert balance(db.url, db.ids["demo"], "USDC") == (DEMO_USDC + amount_out, 0)
    assert book_problems(db.url, db.seed) == []


@pytest.mark.slow
def test_an_order_that_kills_every_worker_is_abandoned_once_out_of_attempts_and_its_hold_released(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    """ORDER_MAX_ATTEMPTS=1: a worker dies running the order, then the worker that recovers it dies
    running it too; the next recovery must give up ("abandoned") and release the held input."""
    db = seed_database(pg_database, {})
    env = stack_env(db.url, redis_url, redis_namespace)
    api = Api(stack.start_server(env))
    pools = reserves(db.url)
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "10", "routingStrategy": "BEST_PRICE"}
    order_id = kill_worker_inside_settle_orders(stack, env, db, api, body, whole_group=True)
    rescuer_env = {**env, "ORDER_STALE_AFTER_S": "1", "RECOVERY_INTERVAL_S": "1", "ORDER_MAX_ATTEMPTS": "1"}

    def final() -> bool:
        return api.order(db.keys["demo"], order_id)["status"] in FINAL

    with venue_locks(db.url):
        wait_stale(db.url, order_id, 1.5)
        rescuer = stack.start_worker(rescuer_env, name="rescuer")
        # It either gives up at once (the dead run was counted) or re-runs the order into the locks.
        wait_until(lambda: final() or backends_waiting_on_locks(db.url) >= 1, "the rescuer to act")
        if not final():
            kill(rescuer, whole_group=True)
    if not final():
        wait_dead_transaction_gone(db.url)
        wait_stale(db.url, order_id, 1.5)
        stack.start_worker(rescuer_env, name="second-rescuer")
    order = api.wait_final(db.keys["demo"], order_id)

    assert (order["status"], order["error"]["code"]) == ("failed", "abandoned"), order
    assert re.fullmatch(
        r"no worker finished this order after \d+ attempts; nothing was traded", order["error"]["message"]
    ), order["error"]
    assert balance(db.url, db.ids["demo"], "SOL") == (DEMO_SOL, 0)
    assert balance(db.url, db.ids["demo"], "USDC") == (DEMO_USDC, 0)
    assert reserves(db.url) == pools
    assert order_rows(db.url, order_id) == {"trades": 0, "fills": 0, "ledger": 0}
    assert book_problems(db.url, db.seed) == []


@pytest.mark.slow
def test_a_worker_starts_taking_jobs_while_a_stale_order_is_locked_by_another_transaction(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    """Startup recovery must skip an order some live transaction holds, not wait for it."""
    db = seed_database(pg_database, {})
    env = stack_env(db.url, redis_url, redis_namespace)
    api = Api(stack.start_server(env))
    held = api.accepted(db.keys["demo"], {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
    with venue_locks(db.url) as conn:
        conn.execute(sa.text("SELECT id FROM orders WHERE id = :o FOR UPDATE"), {"o": held})
        wait_stale(db.url, held, 1.5)
        worker = stack.start_worker({**env, "ORDER_STALE_AFTER_S": "1"}, name="starter")
        wait_workers(redis_url, redis_namespace, [worker])
    fresh = api.accepted(db.keys["demo"], {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "100"})
    assert api.wait_final(db.keys["demo"], fresh)["status"] == "confirmed"
    assert api.wait_final(db.keys["demo"], held)["status"] == "confirmed"
    assert order_rows(db.url, held)["trades"] == 1
    assert book_problems(db.url, db.seed) == []


# --- 7. a transient fault is retried with backoff ---------------------------------------------


@pytest.mark.slow
def test_a_lock_timeout_is_retried_with_backoff_until_the_order_confirms(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    db = seed_database(pg_database, {})
    env = stack_env(db.url, redis_url, redis_namespace)
    api = Api(stack.start_server(env))
    worker_env = {**env, "DATABASE_URL": lock_timeout_url(db.url, 200), "ORDER_MAX_ATTEMPTS": "8"}
    worker = stack.start_worker(worker_env, name="impatient")
    wait_workers(redis_url, redis_namespace, [worker])
    body = {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "1500", "routingStrategy": "OPTIMAL_SPLIT"}

    with venue_locks(db.url):
        order_id = api.accepted(db.keys["demo"], body)
        wait_until(
            lambda: (
                (o := api.order(db.keys["demo"], order_id))["attempts"] >= 2
                or statuses(o).count("quoting") >= 2
            ),
            "a second attempt",
        )
    order = api.wait_final(db.keys["demo"], order_id)

    assert order["status"] == "confirmed", order
    attempts = order["attempts"]
    assert attempts >= 2
    assert timeline_problems(statuses(order), attempts=attempts, final="confirmed") == []
    retries = re.findall(
        rf"order {order_id} attempt (\d+): database: LockNotAvailable; retrying in ([0-9.]+) s", worker.log()
    )
    assert [int(n) for n, _ in retries] == list(range(1, attempts)), worker.log()
    delays = [float(d) for _, d in retries]
    assert delays == sorted(delays) and len(set(delays)) == len(delays), delays  # backing off
    assert order_rows(db.url, order_id)["trades"] == 1
    assert balance(db.url, db.ids["demo"], "USDC") == (DEMO_USDC - 1500 * USDC, 0)
    assert book_problems(db.url, db.seed) == []


# --- 4. and 8. business rejections: enforced, never retried -------------------------------------


@pytest.mark.slow
def test_an_order_the_market_moved_against_while_queued_fails_with_slippage_exceeded(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    db = seed_database(pg_database, {"whale": {"SOL": "5000"}})
    env = stack_env(db.url, redis_url, redis_namespace)
    api = Api(stack.start_server(env))
    # No worker yet: both are quoted on the seeded pools; the whale's sale runs first.
    whale = api.accepted(db.keys["whale"], {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "5000"})
    victim = api.accepted(
        db.keys["demo"], {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "10", "slippageBps": 50}
    )
    stack.start_worker(env)

    assert api.wait_final(db.keys["whale"], whale)["status"] == "confirmed"
    order = api.wait_final(db.keys["demo"], victim)
    assert (order["status"], order["error"]["code"]) == ("failed", "slippage_exceeded"), order
    assert order["error"]["message"].startswith("market moved: best route now pays "), order["error"]
    assert "nothing was traded" in order["error"]["message"]
    assert timeline_problems(statuses(order), attempts=1, final="failed") == []
    assert order["attempts"] == 1
    assert balance(db.url, db.ids["demo"], "SOL") == (DEMO_SOL, 0)
    assert balance(db.url, db.ids["demo"], "USDC") == (DEMO_USDC, 0)
    assert order_rows(db.url, victim) == {"trades": 0, "fills": 0, "ledger": 0}
    assert book_problems(db.url, db.seed) == []


@pytest.mark.slow
def test_an_order_whose_balance_was_drained_before_execution_fails_at_once_without_retry(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    db = seed_database(pg_database, {})
    env = stack_env(db.url, redis_url, redis_namespace)
    api = Api(stack.start_server(env))
    order_id = api.accepted(db.keys["demo"], {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "10"})
    assert balance(db.url, db.ids["demo"], "SOL") == (DEMO_SOL, 10 * SOL)
    drained = "UPDATE balances SET amount = 0, reserved = 0 WHERE account_id = :a AND token = 'SOL'"
    assert execute(db.url, drained, a=db.ids["demo"]) == 1
    stack.start_worker({**env, "ORDER_MAX_ATTEMPTS": "8"})

    order = api.wait_final(db.keys["demo"], order_id)
    assert (order["status"], order["error"]["code"]) == ("failed", "insufficient_balance"), order
    assert order["attempts"] == 1
    assert timeline_problems(statuses(order), attempts=1, final="failed") == []
    assert balance(db.url, db.ids["demo"], "SOL") == (0, 0)
    assert order_rows(db.url, order_id) == {"trades": 0, "fills": 0, "ledger": 0}
