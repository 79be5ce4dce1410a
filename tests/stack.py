"""Start the real processes for black-box tests: gunicorn web servers and RQ workers.

Each process gets its environment from ``stack_env`` (database, Redis namespace, offline venues)
and its output goes to a log file that a failing test prints. ``Stack`` stops everything it
started, killing what does not stop in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import engineio
import requests
import socketio
import sqlalchemy as sa

from tests.waiting import WAIT_S, wait_until

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stack_env(database_url: str, redis_url: str | None, namespace: str, **extra: str) -> dict[str, str]:
    """The environment of a web or worker process in tests (offline venues, instant settlement)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOLROUTE_", "DATABASE_", "REDIS_"))}
    env.update(
        {
            "SOLROUTE_ENV": "testing",
            "SOLROUTE_OFFLINE": "1",
            "JUPITER_ENABLED": "0",
            "DATABASE_URL": database_url,
            "REDIS_NAMESPACE": namespace,
            "OTC_SETTLEMENT_SCALE": "0",
            "ORDER_RETRY_BASE_S": "0.1",
            "VENUE_RATE_LIMITS": "",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a crashed worker)."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


@dataclass
class Stack:
    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        out = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def start_server(self, env: Mapping[str, str], port: int | None = None, *, threads: int = 50) -> str:
        """A single-worker gunicorn (gthread) on ``port``; returns its base URL once healthy."""
        port = port or free_port()
        argv = [
            GUNICORN,
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--threads",
            str(threads),
            "--no-control-socket",
            "wsgi:app",
        ]
        proc = self._spawn(f"web-{port}", argv, env)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        return url

    def start_worker(self, env: Mapping[str, str], name: str | None = None) -> Proc:
        """An RQ worker process (``python -m worker``)."""
        name = name or f"worker-{len(self.procs)}"
        return self._spawn(
            name, [PYTHON, "-m", "worker", "--name", f"{name}-{os.getpid()}-{time.time_ns()}"], env
        )

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} -----\n{p.log()}" for p in self.procs)

    def stop(self) -> None:
        """SIGTERM every process group (children such as RQ's forked scheduler included), then SIGKILL."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=10)
        for proc in self.procs:  # whatever a dead leader left behind in its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)


def wait_healthy(url: str, proc: Proc, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log()}")
        try:
            if requests.get(f"{url}/api/health", timeout=10).status_code in (200, 503):
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not healthy after {timeout_s} s:\n{proc.log()}")


# --- helpers for black-box tests (RQ's worker registry, a recording Socket.IO client) ---


def rq_workers(redis_url: str, namespace: str) -> list[Any]:
    """The RQ workers registered on the queue ``namespace`` (RQ's worker registry)."""
    from redis import Redis
    from rq import Queue, Worker

    redis = Redis.from_url(redis_url)
    try:
        return list(Worker.all(queue=Queue(namespace, connection=redis)))
    finally:
        redis.close()


@dataclass(frozen=True)
class BatchRun:
    """How a finished ``jobs.execute_orders`` job ended for one of its orders."""

    job_id: str
    worker_name: str  # as RQ has it
    outcome: str  # the job's outcome for the order: confirmed, failed, ...
    batch_size: int

    @property
    def worker(self) -> str:
        """The name ``Stack.start_worker`` gave the worker ("worker-1"; RQ's is "<name>-<pid>-<ns>")."""
        return self.worker_name.rsplit("-", 2)[0]


def batch_runs(redis_url: str, namespace: str, order_ids: Iterable[str] = ()) -> dict[str, BatchRun]:
    """Order id → the finished batch job that executed it, read from RQ's finished-job registry;
    with ``order_ids``, once each of them is there: a job publishes its orders' updates before RQ
    records it as finished, so a test that has seen them final waits for the record too."""
    wanted = set(order_ids)
    if not wanted:
        return _finished_batch_runs(redis_url, namespace)

    def recorded() -> dict[str, BatchRun] | None:
        runs = _finished_batch_runs(redis_url, namespace)
        return runs if wanted <= runs.keys() else None

    return wait_until(
        recorded, f"RQ to record the jobs of {len(wanted)} order(s) as finished", interval_s=0.1
    )


def _finished_batch_runs(redis_url: str, namespace: str) -> dict[str, BatchRun]:
    from redis import Redis
    from rq import Queue
    from rq.job import Job

    redis = Redis.from_url(redis_url)
    try:
        ids = Queue(namespace, connection=redis).finished_job_registry.get_job_ids()
        runs: dict[str, BatchRun] = {}
        for job in Job.fetch_many(ids, connection=redis):
            if job is None or job.func_name != "jobs.execute_orders":
                continue
            outcomes = job.return_value() or {}
            for order_id in job.args[0]:
                runs[order_id] = BatchRun(
                    job.id, str(job.worker_name), str(outcomes.get(order_id)), len(job.args[0])
                )
        return runs
    finally:
        redis.close()


def wait_workers(redis_url: str, namespace: str, procs: list[Proc], timeout_s: float = WAIT_S) -> list[Any]:
    """Wait until every worker in ``procs`` has registered on the queue (it is then taking jobs)."""

    def registered() -> list[Any]:
        for proc in procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log()}")
        workers = rq_workers(redis_url, namespace)
        return workers if len(workers) >= len(procs) else []

    return wait_until(registered, f"{len(procs)} RQ worker(s) on {namespace}", timeout_s, interval_s=0.1)


def running_stack(request: Any, log_dir: Path) -> Iterator[Stack]:
    """A fixture body: a ``Stack`` for one test, stopped after it, its logs printed if the test failed.

    pytest shows a failed test's captured teardown output, so the logs appear beside the failure.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    failures_before = request.session.testsfailed
    stack = Stack(log_dir)
    try:
        yield stack
    finally:
        stack.stop()
        if request.session.testsfailed > failures_before:
            print(f"logs of the processes ({log_dir}):\n{stack.logs()}")


class _InOrderEngineIOClient(engineio.Client):  # type: ignore[misc]
    # engineio's client hands each message to a new thread, and two threads can swap under load;
    # handling messages on the read thread keeps events in the order the server sent them.
    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class _InOrderClient(socketio.Client):  # type: ignore[misc]
    def _engineio_client_class(self) -> type[engineio.Client]:
        return _InOrderEngineIOClient


class LiveClient:
    """A real Socket.IO client (``socketio.Client``) that records every event it receives, in order.

    Handlers run on the client's read thread (they only append), so the recorded order is the
    order the server sent.
    """

    def __init__(self, url: str, *, api_key: str | None = None, transport: str = "websocket") -> None:
        self.sio = _InOrderClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.sio.on("*", self._record)
        self.sio.connect(
            url,
            auth={"apiKey": api_key} if api_key else None,
            transports=[transport],
            wait_timeout=int(WAIT_S),
        )

    def _record(self, event: str, data: Any = None) -> None:
        with self._lock:
            self.events.append((event, data))

    def received(self, event: str, where: Callable[[Any], bool] = lambda _data: True) -> list[Any]:
        """The payloads of ``event`` received so far that satisfy ``where``, oldest first."""
        with self._lock:
            return [data for name, data in self.events if name == event and where(data)]

    def wait_for(
        self, event: str, where: Callable[[Any], bool] = lambda _data: True, timeout_s: float = WAIT_S
    ) -> Any:
        """The first payload of ``event`` satisfying ``where``, waiting up to ``timeout_s`` for it."""
        return wait_until(lambda: self.received(event, where), f"a {event!r} event", timeout_s)[0]

    def call(self, event: str, data: Any, timeout_s: float = WAIT_S) -> Any:
        """Emit ``event`` and return the server's acknowledgement."""
        return self.sio.call(event, data, timeout=timeout_s)

    def close(self) -> None:
        self.sio.disconnect()


# --- helpers for tests that drive the real processes and then read the database ----------------

FINAL_STATUSES = ("confirmed", "failed", "cancelled", "expired")  # models.FINAL_STATUSES


def kill_process_group(proc: Proc) -> None:
    """SIGKILL whatever is left of ``proc``'s process group (an RQ worker forks its scheduler).

    ``Stack.stop`` signals only the groups of processes still alive, so the scheduler child of a
    worker killed with ``Proc.kill`` would outlive the test without this.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.popen.pid, signal.SIGKILL)


@contextmanager
def venue_locks(database_url: str) -> Iterator[sa.Connection]:
    """Hold ``SELECT ... FOR UPDATE`` on every AMM pool and OTC desk row (PostgreSQL) until exit.

    ``settle_orders`` locks the venues of a plan the same way, so a job that reaches it waits here;
    quoting reads venues with plain SELECTs and is not blocked. The connection is yielded so the
    holder can change rows under the lock and ``commit()`` (which also releases the locks).
    """
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    conn = engine.connect()
    try:
        conn.execute(sa.text("SELECT id FROM amm_pools ORDER BY id FOR UPDATE")).all()
        conn.execute(sa.text("SELECT id FROM otc_pools ORDER BY id FOR UPDATE")).all()
        yield conn
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def backends_waiting_on_locks(database_url: str) -> int:
    """How many sessions of this PostgreSQL database are waiting for a lock right now."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def idle_transactions(database_url: str) -> list[sa.Row[Any]]:
    """Sessions of this PostgreSQL database idle inside an open transaction: (pid, since, last query)."""
    return query(
        database_url,
        "SELECT pid, xact_start, left(query, 120) FROM pg_stat_activity"
        " WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()",
    )


def query(database_url: str, sql: str, **params: object) -> list[sa.Row[Any]]:
    """Run one read-only statement on its own connection (the app's sessions are never touched)."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())
    finally:
        engine.dispose()


def execute(database_url: str, sql: str, **params: object) -> int:
    """Run one write in its own committed transaction; returns the row count."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            return int(conn.execute(sa.text(sql), params).rowcount)
    finally:
        engine.dispose()


LIFECYCLE = ("quoting", "routing", "building", "submitted")


def timeline_problems(statuses: list[str], *, attempts: int, final: str) -> list[str]:
    """How an order's event statuses break its lifecycle; an empty list when they follow it.

    ``pending`` first, then ``attempts`` attempts, each starting with ``quoting`` and going
    forward through the lifecycle (an attempt cut short by a crash or a rejection stops early),
    then ``final`` once, last.
    """
    problems = []
    if statuses[:1] != ["pending"] or statuses[-1:] != [final] or statuses.count(final) != 1:
        problems.append(f"{statuses} does not go from pending to one {final}")
    runs: list[list[str]] = []
    for status in statuses[1:-1]:
        if status == "quoting" or not runs:
            runs.append([])
        runs[-1].append(status)
    if len(runs) != attempts:
        problems.append(f"{statuses} shows {len(runs)} attempts, not {attempts}")
    for run in runs:
        if run != list(LIFECYCLE[: len(run)]):
            problems.append(f"attempt {run} of {statuses} is out of lifecycle order")
    return problems


def open_order_count(database_url: str) -> int:
    """How many orders are neither confirmed nor failed."""
    rows = query(database_url, "SELECT count(*) FROM orders WHERE status NOT IN ('confirmed', 'failed')")
    return int(rows[0][0])


@dataclass(frozen=True)
class VenueSeed:
    """The venues as seeded: what the books are reconciled against."""

    pools: Mapping[str, tuple[str, str, int, int, int]]  # id: token_a, token_b, reserve_a, reserve_b, fee_bps
    desks: Mapping[str, tuple[str, str, int, int, int, int, float]]
    # desk id: base, quote, inventory_base, inventory_quote, refill_base_per_s, refill_quote_per_s,
    # inventory_at (epoch seconds)


def venue_seed(database_url: str) -> VenueSeed:
    """Read the pools and desks now (call it before the first order)."""
    pools = query(database_url, "SELECT id, token_a, token_b, reserve_a, reserve_b, fee_bps FROM amm_pools")
    desks = query(
        database_url,
        "SELECT id, base, quote, inventory_base, inventory_quote, refill_base_per_s, refill_quote_per_s,"
        " inventory_at FROM otc_pools",
    )
    return VenueSeed(
        {str(r[0]): (str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in pools},
        {
            str(r[0]): (str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]), float(r[7]))
            for r in desks
        },
    )


def book_problems(database_url: str, seed: VenueSeed, *, strict_desks: bool = False) -> list[str]:
    """Every way the database's books disagree with themselves; an empty list when they reconcile.

    Checks: every order is final; each journal sums to zero per token; each trader's balance is
    the sum of its ledger entries and ``reserved`` equals its open orders' inputs; each pool's
    reserves moved by exactly its ledger entries and its fills, and replaying the fills in commit
    order from the seed reproduces every fill's output exactly (x*y=k with the pool's fee, so no
    fill priced against stale reserves) with k never decreasing; a confirmed order has one trade
    whose ledger posts exactly its input and output, a failed one has an error code and no trade,
    fill or ledger row. A desk's inventory may exceed seed + fills only by its refills (at most the
    refill rate times the time elapsed); its ledger must explain every movement, or, unless
    ``strict_desks``, at least its fills (refills are not posted to the ledger today). Each
    trader's position in a token holds exactly its balance.
    """
    from amm.constant_product import amount_out_for_in

    problems: list[str] = []
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:

            def rows(sql: str) -> list[sa.Row[Any]]:
                return list(conn.execute(sa.text(sql)).all())

            orders = {
                str(r[0]): r
                for r in rows(
                    "SELECT id, account_id, token_in, token_out, amount_in, amount_out, status, error_code,"
                    " exact_side, filled_amount_in FROM orders"
                )
            }
            for oid, o in orders.items():
                if o.status not in FINAL_STATUSES:
                    problems.append(f"order {oid} is still {o.status}")

            for journal, token, total in rows(
                "SELECT journal, token, SUM(amount) FROM ledger_entries GROUP BY journal, token"
                " HAVING SUM(amount) <> 0"
            ):
                problems.append(f"journal {journal} sums to {total} {token}, not 0")

            ledger: dict[tuple[int, str], int] = {
                (int(a), str(t)): int(s)
                for a, t, s in rows("SELECT account_id, token, SUM(amount) FROM ledger_entries GROUP BY 1, 2")
            }
            kinds = {int(a): str(k) for a, k in rows("SELECT id, kind FROM accounts")}
            balances = {
                (int(a), str(t)): (int(amount), int(reserved))
                for a, t, amount, reserved in rows("SELECT account_id, token, amount, reserved FROM balances")
            }
            held: dict[tuple[int, str], int] = {}
            for o in orders.values():
                if o.status not in FINAL_STATUSES:
                    key = (int(o.account_id), str(o.token_in))
                    held[key] = held.get(key, 0) + int(o.amount_in)
            traders = {a for a, k in kinds.items() if k == "trader"}
            for key in sorted({k for k in set(balances) | set(ledger) if k[0] in traders}):
                amount, reserved = balances.get(key, (0, 0))
                if amount != ledger.get(key, 0):
                    problems.append(f"trader {key}: balance {amount} but ledger sums to {ledger.get(key, 0)}")
                if reserved != held.get(key, 0):
                    problems.append(
                        f"trader {key}: reserved {reserved} but open orders hold {held.get(key, 0)}"
                    )
            # The positions (portfolio P&L) move with the balances, in the same transactions.
            positions = {
                (int(a), str(t)): int(q)
                for a, t, q in rows("SELECT account_id, token, quantity FROM positions")
            }
            for key in sorted({k for k in set(balances) | set(positions) if k[0] in traders}):
                amount = balances.get(key, (0, 0))[0]
                if positions.get(key, 0) != amount:
                    problems.append(f"trader {key}: position {positions.get(key, 0)} but balance {amount}")
            for account_id in sorted({k[0] for k in balances}):
                if kinds.get(account_id) != "trader":
                    problems.append(f"account {account_id} ({kinds.get(account_id)}) has a balance row")

            pools = {
                str(r[0]): r
                for r in rows(
                    "SELECT id, token_a, token_b, reserve_a, reserve_b, fee_bps, account_id FROM amm_pools"
                )
            }
            desks = {
                str(r[0]): r
                for r in rows(
                    "SELECT id, base, quote, inventory_base, inventory_quote, account_id FROM otc_pools"
                )
            }
            fills = rows(
                "SELECT f.trade_id, f.leg_index, f.venue_id, f.kind, f.token_in, f.token_out, f.amount_in,"
                " f.amount_out, f.order_id FROM fills f ORDER BY f.trade_id, f.leg_index"
            )
            # Replay every AMM fill in commit order (a trade id is drawn under its pools' row locks).
            state = {pid: [seed.pools[pid][2], seed.pools[pid][3]] for pid in seed.pools}
            for f in fills:
                if f.kind != "amm":
                    continue
                token_a, token_b, _, _, fee_bps = seed.pools[f.venue_id]
                r = state[f.venue_id]
                i_in, i_out = (0, 1) if f.token_in == token_a else (1, 0)
                if {f.token_in, f.token_out} != {token_a, token_b}:
                    problems.append(
                        f"fill {f.trade_id}/{f.leg_index} trades {f.token_in}->{f.token_out} on {f.venue_id}"
                    )
                    continue
                expected = amount_out_for_in(r[i_in], r[i_out], int(f.amount_in), fee_bps)
                if int(f.amount_out) != expected:
                    problems.append(
                        f"fill {f.trade_id}/{f.leg_index} on {f.venue_id} paid {f.amount_out}, but the pool"
                        f" as left by the fills before it pays {expected} (stale or lost reserves)"
                    )
                k_before = r[0] * r[1]
                r[i_in] += int(f.amount_in)
                r[i_out] -= int(f.amount_out)
                if r[0] * r[1] < k_before:
                    problems.append(f"k of {f.venue_id} fell at fill {f.trade_id}/{f.leg_index}")
            for pid, p in pools.items():
                token_a, token_b, seed_a, seed_b, _ = seed.pools[pid]
                if [int(p.reserve_a), int(p.reserve_b)] != state[pid]:
                    problems.append(
                        f"pool {pid}: reserves {p.reserve_a}/{p.reserve_b}, replaying its fills gives "
                        f"{state[pid][0]}/{state[pid][1]}"
                    )
                if int(p.reserve_a) * int(p.reserve_b) < seed_a * seed_b:
                    problems.append(f"pool {pid}: k is below its seed value")
                for token, now, seeded in ((token_a, p.reserve_a, seed_a), (token_b, p.reserve_b, seed_b)):
                    posted = ledger.get((int(p.account_id), token), 0)
                    if int(now) - seeded != posted:
                        problems.append(
                            f"pool {pid}: {token} reserve moved {int(now) - seeded}, its ledger says {posted}"
                        )
                others = {t for (a, t) in ledger if a == int(p.account_id)} - {token_a, token_b}
                if others:
                    problems.append(f"pool {pid} has ledger entries in {sorted(others)}")

            desk_net: dict[tuple[str, str], int] = {}
            for f in fills:
                if f.kind == "otc":
                    desk_net[(f.venue_id, f.token_in)] = desk_net.get((f.venue_id, f.token_in), 0) + int(
                        f.amount_in
                    )
                    desk_net[(f.venue_id, f.token_out)] = desk_net.get((f.venue_id, f.token_out), 0) - int(
                        f.amount_out
                    )
            now_s = time.time()
            for did, d in desks.items():
                base, quote, seed_base, seed_quote, rate_base, rate_quote, seeded_at = seed.desks[did]
                for token, held_now, seeded, rate in (
                    (base, d.inventory_base, seed_base, rate_base),
                    (quote, d.inventory_quote, seed_quote, rate_quote),
                ):
                    moved = int(held_now) - seeded
                    net = desk_net.get((did, token), 0)
                    posted = ledger.get((int(d.account_id), token), 0)
                    # What the fills do not explain is the refill, bounded by its rate and the time.
                    limit = int(rate * (now_s - seeded_at)) + 1
                    if not 0 <= moved - net <= limit:
                        problems.append(
                            f"desk {did}: {token} inventory moved {moved} but its fills net {net} "
                            f"(unexplained {moved - net}, refills give at most {limit})"
                        )
                    # Double entry: the ledger explains every movement (strict), or at least the fills.
                    if posted != moved and (strict_desks or posted != net):
                        problems.append(
                            f"desk {did}: {token} inventory moved {moved}, its ledger says {posted} "
                            f"(fills net {net}, so {moved - posted} was never posted)"
                        )

            trades: dict[str, list[sa.Row[Any]]] = {}
            for t in rows("SELECT id, order_id, amount_in, amount_out FROM trades"):
                trades.setdefault(str(t.order_id), []).append(t)
            entries: dict[str, list[tuple[int, str, int]]] = {}
            for journal, account_id, token, amount in rows(
                "SELECT journal, account_id, token, amount FROM ledger_entries WHERE journal LIKE 'trade-%'"
            ):
                entries.setdefault(str(journal)[len("trade-") :], []).append(
                    (int(account_id), token, int(amount))
                )
            fills_by_order: dict[str, list[sa.Row[Any]]] = {}
            for f in fills:
                fills_by_order.setdefault(str(f.order_id), []).append(f)
            for oid, o in orders.items():
                found = trades.get(oid, [])
                if o.status == "confirmed":
                    if len(found) != 1:
                        problems.append(f"confirmed order {oid} has {len(found)} trades")
                        continue
                    t = found[0]
                    # An exact-out order holds maxAmountIn (amount_in) and spends filled_amount_in.
                    spent = int(o.filled_amount_in) if o.exact_side == "out" else int(o.amount_in)
                    if (int(t.amount_in), int(t.amount_out)) != (spent, int(o.amount_out or -1)):
                        problems.append(
                            f"order {oid}: trade {t.amount_in}->{t.amount_out} differs from the order"
                        )
                    mine = sorted((tok, amt) for acc, tok, amt in entries.get(oid, []) if acc == o.account_id)
                    expected_entries = sorted([(o.token_in, -spent), (o.token_out, int(o.amount_out))])
                    if mine != expected_entries:
                        problems.append(
                            f"order {oid}: trader's ledger entries {mine}, expected {expected_entries}"
                        )
                    legs = fills_by_order.get(oid, [])
                    first = sum(int(f.amount_in) for f in legs if f.token_in == o.token_in)
                    last = sum(int(f.amount_out) for f in legs if f.token_out == o.token_out)
                    if (first, last) != (spent, int(o.amount_out)):
                        problems.append(f"order {oid}: fills take {first} and pay {last}")
                elif o.status == "failed":
                    if found or fills_by_order.get(oid) or entries.get(oid):
                        problems.append(f"failed order {oid} has trades, fills or ledger entries")
                    if not o.error_code or o.amount_out is not None:
                        problems.append(
                            f"failed order {oid}: error {o.error_code!r}, amount_out {o.amount_out}"
                        )
    finally:
        engine.dispose()
    return problems
