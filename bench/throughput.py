"""Throughput benchmark: orders per second through the real stack, and /api/quote latency.

Run from the repository root (PostgreSQL and Redis must be up: ``bash scripts/services.sh``)::

    .venv/bin/python bench/throughput.py                      # 1 gunicorn, 2 RQ workers, 16 clients, 20 s
    .venv/bin/python bench/throughput.py --servers 2 --workers 4 --clients 32
    .venv/bin/python bench/throughput.py --markdown           # the same tables as Markdown
    .venv/bin/python bench/throughput.py --rate 300           # a fixed offered load instead
    .venv/bin/python bench/throughput.py --cpu-classes off    # every process in the normal CPU class

What it does: creates a PostgreSQL database ``solroute_bench_<random>``, migrates it (Alembic),
seeds it and gives every client its own funded trader account; starts ``--servers`` single-worker
gunicorn processes for orders, ``--quote-servers`` more for the quote clients (the production
shape: quotes apart from order traffic) and ``--workers`` RQ workers (``tests/stack.py``, offline
venues, instant OTC settlement) sharing a fresh Redis namespace. Where it can (root, or a
delegated cgroup), it puts the order servers and workers in an idle-class CPU cgroup and leaves the
quote servers in the normal class, as the README's production shape does with systemd
(``bench/cpu_classes.py``; ``--cpu-classes``; the header says which it ran); then

1. times ``GET /api/quote`` on the idle stack (one client, one request at a time);
2. times it under a light concurrent load of quotes alone (``--quote-clients`` closed-loop clients);
3. runs the order load: ``--clients`` threads, each with its own keep-alive connection (``http.client``)
   and account, submit small orders (a few dollars, over every pool pair, both directions, so all
   confirm and pools do not drift) back to back (or ``--rate`` orders/s in all, on a fixed
   schedule) for ``--warmup`` + ``--duration`` seconds, while ``--quote-clients`` more keep timing
   quotes from a process and session of their own; the window measured is the last
   ``--duration`` seconds;
4. stops submitting and waits for the queue to drain, then reads the orders back from the database.

Figures: orders accepted (HTTP 202) per second in the window; orders confirmed per second in the
window (``confirmed_at`` inside it); the drained rate (every order submitted in the window, from the
window's start to the last confirmation); submit-to-confirmed latency p50/p99 from the orders' own
``created_at`` and ``confirmed_at`` (orders created in the window); the HTTP submit latency seen by
clients; the backlog when the window closed; and where the CPU went during the window (``/proc``:
web, workers, PostgreSQL, Redis, this load generator and everything else on the machine), per
order. Percentiles are nearest-rank (an observed sample). Everything it created (the database, the
Redis keys, the processes) is removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.cpu_classes import IdleCpuGroup, Unavailable  # noqa: E402
from bench.procs import CLOCK_TICKS, descendants, processes  # noqa: E402
from bench.report import Table, render_markdown, render_text, verdict  # noqa: E402
from services import get_services  # noqa: E402
from stats import percentile  # noqa: E402
from tests.conftest import (  # noqa: E402
    REDIS_URL,
    base_overrides,
    create_pg_database,
    delete_redis_namespace,
    drop_pg_database,
    migrate_database,
)
from tests.stack import Stack, open_order_count, stack_env, wait_workers  # noqa: E402

__all__ = ["main"]

CONFIRMED_TARGET_PER_S = 300
QUOTE_P99_TARGET_MS = 10.0
IDLE_QUOTES = 300
# Small orders (a few dollars) over every pool pair in both directions: far below the OTC desks'
# minimum sizes, well above the router's $1 dust rule, and balanced so pools barely move.
ORDER_MIX: tuple[tuple[str, str, Decimal], ...] = (
    ("SOL", "USDC", Decimal("0.05")),
    ("USDC", "SOL", Decimal("7")),
    ("SOL", "USDT", Decimal("0.04")),
    ("USDT", "SOL", Decimal("6")),
    ("USDC", "USDT", Decimal("10")),
    ("USDT", "USDC", Decimal("10")),
    ("JUP", "USDC", Decimal("8")),
    ("USDC", "JUP", Decimal("5")),
    ("RAY", "SOL", Decimal("2")),
    ("SOL", "RAY", Decimal("0.03")),
    ("BONK", "SOL", Decimal("250000")),
    ("SOL", "BONK", Decimal("0.02")),
)
STRATEGY_MIX = ("OPTIMAL_SPLIT", "OPTIMAL_SPLIT", "OPTIMAL_SPLIT", "BEST_PRICE", "LOWEST_SLIPPAGE")
QUOTE_MIX: tuple[tuple[str, str, str], ...] = (
    ("SOL", "USDC", "1"),
    ("USDC", "SOL", "150"),
    ("JUP", "USDC", "20"),
    ("SOL", "USDT", "2.5"),
)
# Each trader's paper funding: enough for thousands of the orders above.
FUNDING = {
    "SOL": "100000",
    "USDC": "10000000",
    "USDT": "10000000",
    "JUP": "5000000",
    "RAY": "1000000",
    "BONK": "100000000000",
}


# --- set-up and tear-down ----------------------------------------------------------------------


def create_database() -> tuple[str, str]:
    """A new, migrated PostgreSQL database: (name, SQLAlchemy URL)."""
    name, url = create_pg_database("solroute_bench")
    migrate_database(url)
    return name, url


def seed(url: str, traders: int) -> list[str]:
    """Seed venues and create ``traders`` funded accounts; their API keys."""
    from app import create_app
    from models import db
    from venue_state import create_account, seed_database

    app = create_app(base_overrides(url), role="worker")
    try:
        with app.app_context():
            seed_database(db.session, demo_account=None)
            keys = [create_account(db.session, f"bench-{i}", funding=FUNDING)[1] for i in range(traders)]
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    finally:
        get_services(app).shutdown()
    return keys


def queue_backlog(namespace: str) -> int:
    """Jobs waiting in the RQ queue (not yet taken by a worker)."""
    from redis import Redis
    from rq import Queue

    client = Redis.from_url(REDIS_URL)
    try:
        return int(Queue(namespace, connection=client).count)
    finally:
        client.close()


def _machine_cpu_s() -> float:
    """CPU seconds spent by the whole machine so far (everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def cpu_by_group(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each group of process trees, PostgreSQL, Redis, and the machine."""
    procs = processes()
    mine = os.getpid()  # the stack's processes are our children: count only this process itself
    trees = descendants([root for roots in groups.values() for root in roots if root != mine], procs)
    used = {
        name: sum(procs[p][2] for root in roots for p in trees.get(root, [root]) if p in procs)
        for name, roots in groups.items()
    }
    used["PostgreSQL (every backend)"] = sum(
        cpu for name, _, cpu in procs.values() if name.startswith("postgres")
    )
    used["Redis"] = sum(cpu for name, _, cpu in procs.values() if name.startswith("redis-server"))
    used["machine"] = _machine_cpu_s()
    return used


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Submitted:
    order_id: str | None
    status: int
    sent_at: float  # time.time()
    took_s: float


@dataclass
class Timed:
    at: float  # time.time() when the request was sent
    took_s: float
    status: int


@dataclass
class Load:
    """What the clients saw."""

    orders: list[Submitted] = field(default_factory=list)
    quotes: list[Timed] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def order_body(n: int) -> dict[str, Any]:
    """The ``n``-th order of the mix: pairs in turn, amounts varied by up to +60%."""
    token_in, token_out, amount = ORDER_MIX[n % len(ORDER_MIX)]
    scale = 1 + Decimal((n * 7) % 13) / 20
    return {
        "tokenIn": token_in,
        "tokenOut": token_out,
        "amountIn": f"{(amount * scale).normalize():f}",
        "routingStrategy": STRATEGY_MIX[n % len(STRATEGY_MIX)],
        "slippageBps": 100,
    }


class KeepAlive:
    """One keep-alive HTTP/1.1 connection (http.client: a lighter client than requests, so the load
    generator takes less of the machine it shares with the stack)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # reconnects on the next request
            raise

    def close(self) -> None:
        self.conn.close()


def submitter(
    url: str, key: str, index: int, stop_at: float, load: Load, interval_s: float | None = None
) -> None:
    """Submit orders until ``stop_at`` over one keep-alive connection: back to back, or one every
    ``interval_s`` on a fixed schedule (a late request is sent at once; the schedule never slips,
    so a slow server is not offered less load)."""
    client = KeepAlive(url, {"X-API-Key": key})
    n = index * 1_000_003
    next_at = time.time() + (interval_s or 0) * random.random()  # clients spread over an interval
    try:
        while time.time() < stop_at:
            if interval_s:
                delay = next_at - time.time()
                if delay > 0:
                    time.sleep(delay)
                next_at += interval_s
                if time.time() >= stop_at:
                    break
            body = json.dumps(order_body(n)).encode()
            n += 1
            sent = time.time()
            start = time.perf_counter()
            try:
                status, headers, data = client.request("POST", "/api/orders/execute", body)
            except (http.client.HTTPException, OSError) as exc:
                with load.lock:
                    load.errors[f"submit: {type(exc).__name__}"] += 1
                continue
            took = time.perf_counter() - start
            answer = json.loads(data) if data else {}
            order_id = answer.get("orderId") if status == 202 else None
            if status != 202:
                try:
                    code = answer["error"]["code"]
                except (KeyError, TypeError):
                    code = "?"
                with load.lock:
                    load.errors[f"submit HTTP {status} {code}"] += 1
            with load.lock:
                load.orders.append(Submitted(order_id, status, sent, took))
            retry_after = headers.get("Retry-After")
            if status == 503 and retry_after:
                # A well-behaved client: backpressure means wait, not hammer the web process.
                time.sleep(min(float(retry_after), max(0.0, stop_at - time.time())))
    finally:
        client.close()


def quoter(url: str, index: int, stop: Callable[[], bool], load: Load, pause_s: float) -> None:
    """GET /api/quote in a closed loop (one request at a time, ``pause_s`` between) until ``stop()``."""
    client = KeepAlive(url)
    n = index
    try:
        while not stop():
            token_in, token_out, amount = QUOTE_MIX[n % len(QUOTE_MIX)]
            n += 1
            path = "/api/quote?" + urlencode({"tokenIn": token_in, "tokenOut": token_out, "amountIn": amount})
            sent = time.time()
            start = time.perf_counter()
            try:
                status, _headers, _data = client.request("GET", path)
            except (http.client.HTTPException, OSError) as exc:
                with load.lock:
                    load.errors[f"quote: {type(exc).__name__}"] += 1
                continue
            took = time.perf_counter() - start
            with load.lock:
                load.quotes.append(Timed(sent, took, status))
                if status != 200:
                    load.errors[f"quote HTTP {status}"] += 1
            if pause_s:
                time.sleep(pause_s)
    finally:
        client.close()


def run_threads(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def idle_quotes(url: str, count: int) -> list[float]:
    """``count`` quotes one after another on a quiet stack (after 30 unmeasured warm-up requests)."""
    load = Load()
    calls = iter(range(count + 30 + 1))
    quoter(url, 0, lambda: next(calls) >= count + 30, load, 0.0)
    return [q.took_s for q in load.quotes[30:] if q.status == 200]


def concurrent_quotes(urls: list[str], clients: int, seconds: float, pause_s: float) -> list[float]:
    """Quotes from ``clients`` closed-loop clients for ``seconds``, nothing else running."""
    load = Load()
    stop_at = time.time() + seconds
    run_threads(
        [
            threading.Thread(
                target=quoter, args=(urls[i % len(urls)], i, lambda: time.time() >= stop_at, load, pause_s)
            )
            for i in range(clients)
        ]
    )
    return [q.took_s for q in load.quotes if q.status == 200]


def _quote_clients_main(urls: list[str], clients: int, pause_s: float, stop: Any, results: Any) -> None:
    """The quote clients of the order load, in a process of their own (see ``QuoteClients``)."""
    # A session of its own: with Linux autogroup, the scheduler shares the CPU between sessions
    # first, and in the generator's session the clients would queue behind its 16 busy threads.
    os.setsid()
    load = Load()
    run_threads(
        [
            threading.Thread(target=quoter, args=(urls[i % len(urls)], i, stop.is_set, load, pause_s))
            for i in range(clients)
        ]
    )
    results.send(([(q.at, q.took_s, q.status) for q in load.quotes], dict(load.errors)))
    results.close()


class QuoteClients:
    """Quote clients in a separate process and session: in the order generator's process they
    would wait for its GIL, and in its session for a CPU, behind its 16 busy submitter threads, and
    count that wait as the server's latency (real clients run on machines of their own)."""

    def __init__(self, urls: list[str], clients: int, pause_s: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._results, child_end = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_quote_clients_main, args=(urls, clients, pause_s, self._stop, child_end), daemon=True
        )
        self.process.start()
        child_end.close()

    def finish(self, load: Load) -> None:
        """Stop the clients and add what they saw to ``load``."""
        self._stop.set()
        quotes, errors = self._results.recv()
        self.process.join(timeout=30)
        with load.lock:
            load.quotes.extend(Timed(at, took, status) for at, took, status in quotes)
            load.errors.update(errors)


# --- reading the results back -------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFacts:
    created_at: float
    confirmed_at: float | None
    status: str
    error_code: str | None


def order_facts(url: str) -> list[OrderFacts]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT extract(epoch FROM created_at), extract(epoch FROM confirmed_at), status,"
                    " error_code FROM orders"
                )
            ).all()
    finally:
        engine.dispose()
    return [
        OrderFacts(float(c), None if f is None else float(f), str(s), None if e is None else str(e))
        for c, f, s, e in rows
    ]


def dispatched(urls: list[str]) -> dict[str, int]:
    """The order servers' dispatcher figures (``GET /api/health``), summed; the largest batch of all."""
    total = {"batches": 0, "orders": 0, "largestBatch": 0}
    for url in urls:
        status, _, data = KeepAlive(url).request("GET", "/api/health")
        stats = json.loads(data)["checks"]["queue"].get("dispatched") or {} if status in (200, 503) else {}
        total["batches"] += stats.get("batches", 0)
        total["orders"] += stats.get("orders", 0)
        total["largestBatch"] = max(total["largestBatch"], stats.get("largestBatch", 0))
    return total


# --- tables -------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def latency_row(what: str, samples_s: Sequence[float], target: bool = True) -> tuple[str, ...]:
    if not samples_s:
        return (what, "0", "—", "—", "—", f"< {QUOTE_P99_TARGET_MS:g} ms" if target else "—", "MISS")
    p50, p99 = statistics.median(samples_s), percentile(sorted(samples_s), 0.99)
    return (
        what,
        f"{len(samples_s):,}",
        ms(p50),
        ms(p99),
        ms(max(samples_s)),
        f"< {QUOTE_P99_TARGET_MS:g} ms" if target else "—",
        verdict(p99 * 1000 < QUOTE_P99_TARGET_MS) if target else "—",
    )


@dataclass(frozen=True)
class Results:
    window_s: float
    accepted: int
    refused: int
    confirmed_in_window: int
    window_orders: int
    window_confirmed: int
    window_failed: int
    drained_rate: float | None
    drained_s: float | None
    drain_only_rate: float | None
    latencies_s: list[float]
    submit_s: list[float]
    backlog_at_end: int
    open_at_end: int
    failures: Counter[str]
    batches: dict[str, int] = field(default_factory=dict)  # the order servers' dispatcher stats


def _rate(stamps: list[float], after: float) -> float | None:
    later = sorted(t for t in stamps if t >= after)
    return None if len(later) < 20 else (len(later) - 1) / (later[-1] - later[0])


def summarise(facts: list[OrderFacts], load: Load, start: float, end: float) -> dict[str, Any]:
    in_window = [f for f in facts if start <= f.created_at < end]
    confirmed_in_window = sum(
        1 for f in facts if f.confirmed_at is not None and start <= f.confirmed_at < end
    )
    confirmed = [f for f in in_window if f.confirmed_at is not None]
    last = max((f.confirmed_at for f in confirmed if f.confirmed_at is not None), default=None)
    submitted = [o for o in load.orders if start <= o.sent_at < end]
    return {
        "accepted": sum(1 for o in submitted if o.status == 202),
        "refused": sum(1 for o in submitted if o.status != 202),
        "confirmed_in_window": confirmed_in_window,
        "window_orders": len(in_window),
        "window_confirmed": len(confirmed),
        "window_failed": sum(1 for f in in_window if f.status == "failed"),
        "drained_rate": None if last is None or last <= start else len(confirmed) / (last - start),
        "drained_s": None if last is None else last - start,
        # Workers alone: confirmations from 1 s after the window (no new orders) to the last one.
        "drain_only_rate": _rate([f.confirmed_at for f in facts if f.confirmed_at is not None], end + 1.0),
        "latencies_s": [f.confirmed_at - f.created_at for f in confirmed if f.confirmed_at is not None],
        "submit_s": [o.took_s for o in submitted if o.status == 202],
        "failures": Counter(f.error_code or "?" for f in in_window if f.status == "failed"),
    }


def order_table(r: Results) -> Table:
    per_s = r.confirmed_in_window / r.window_s
    p50 = ms(statistics.median(r.latencies_s)) if r.latencies_s else "—"
    p99 = ms(percentile(sorted(r.latencies_s), 0.99)) if r.latencies_s else "—"
    s50 = ms(statistics.median(r.submit_s)) if r.submit_s else "—"
    s99 = ms(percentile(sorted(r.submit_s), 0.99)) if r.submit_s else "—"
    rows = [
        ("orders accepted (HTTP 202)", f"{r.accepted:,}", f"{r.accepted / r.window_s:,.1f} /s", "—", "—"),
        ("orders refused by the API", f"{r.refused:,}", "—", "—", "—"),
        (
            "orders confirmed in the window",
            f"{r.confirmed_in_window:,}",
            f"{per_s:,.1f} /s",
            f"≥ {CONFIRMED_TARGET_PER_S} /s",
            verdict(per_s >= CONFIRMED_TARGET_PER_S),
        ),
        (
            "window's orders, drained",
            f"{r.window_confirmed:,} of {r.window_orders:,}",
            "—" if r.drained_rate is None else f"{r.drained_rate:,.1f} /s over {r.drained_s:,.1f} s",
            "—",
            "—",
        ),
        (
            "execution alone (draining, no new orders)",
            "—",
            "—" if r.drain_only_rate is None else f"{r.drain_only_rate:,.1f} /s",
            "—",
            "—",
        ),
        ("window's orders failed", f"{r.window_failed:,}", "—", "0", verdict(r.window_failed == 0)),
        (
            "batch jobs (whole run)",
            f"{r.batches.get('batches', 0):,}",
            f"{r.batches.get('orders', 0) / max(1, r.batches.get('batches', 0)):,.1f} orders each, "
            f"largest {r.batches.get('largestBatch', 0):,}",
            "—",
            "—",
        ),
        ("queue backlog when the window closed", f"{r.backlog_at_end:,} jobs", "—", "—", "—"),
        ("orders not final when the window closed", f"{r.open_at_end:,}", "—", "—", "—"),
        ("submit → confirmed p50 / p99", f"{len(r.latencies_s):,}", f"{p50} / {p99} ms", "—", "—"),
        ("HTTP POST /api/orders/execute p50 / p99", f"{len(r.submit_s):,}", f"{s50} / {s99} ms", "—", "—"),
    ]
    return Table(
        f"1. Orders over a {r.window_s:g} s window (after warm-up)",
        ("measure", "count", "rate / latency", "target", "result"),
        "lrrll",
        rows,
    )


def quote_table(rows: list[tuple[str, ...]]) -> Table:
    return Table(
        "2. GET /api/quote latency, ms (client-side, keep-alive; p99 by nearest rank)",
        ("condition", "requests", "p50 ms", "p99 ms", "max ms", "target (p99)", "result"),
        "lrrrrll",
        rows,
    )


def cpu_table(cpu: dict[str, float], window_s: float, r: Results) -> Table:
    """Where the machine's CPU went during the window, and per order confirmed in it."""
    capacity = (os.cpu_count() or 1) * window_s
    machine = cpu.pop("machine")
    rows = []
    for name, seconds in [*cpu.items(), ("other processes on the machine", machine - sum(cpu.values()))]:
        per_order = f"{seconds * 1000 / r.confirmed_in_window:,.2f}" if r.confirmed_in_window else "—"
        per_accepted = f"{seconds * 1000 / r.accepted:,.2f}" if r.accepted else "—"
        rows.append((name, f"{seconds:,.2f}", f"{seconds / capacity:.0%}", per_order, per_accepted))
    rows.append(("machine, all processes", f"{machine:,.2f}", f"{machine / capacity:.0%}", "—", "—"))
    return Table(
        f"3. CPU time during the window ({os.cpu_count()} CPUs × {window_s:g} s = {capacity:g} CPU-s), "
        "from /proc",
        ("process", "CPU s", "of capacity", "ms per order confirmed", "ms per order accepted"),
        "lrrrr",
        rows,
    )


def header(
    args: argparse.Namespace, started_at: datetime, load_1min: float, markdown: bool, cpu_classes: str
) -> list[str]:
    def code(text: str) -> str:
        return f"`{text}`" if markdown else text

    when = started_at.strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"Solroute throughput benchmark · {when} · Python {platform.python_version()} · "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, load {load_1min:.1f} at start · "
        f"command: {code(shlex.join(sys.orig_argv))}",
        f"Stack: {args.servers} gunicorn process(es) for orders"
        + (f" and {args.quote_servers} for quotes" if args.quote_servers else " (quotes too)")
        + f" (gthread, 1 worker, {args.threads} threads each), "
        f"{args.workers} RQ worker(s) (SimpleWorker), PostgreSQL + Redis on this machine; "
        f"{args.clients} order clients (one account and keep-alive connection each, "
        + (f"{args.rate:g} orders/s in all on a fixed schedule), " if args.rate else "back to back), ")
        + f"{args.quote_clients} quote clients during the order load; {args.warmup:g} s warm-up + "
        f"{args.duration:g} s window. Offline venues (no outside API), OTC settlement scale 0.",
        f"CPU classes: {cpu_classes}.",
    ]


def cpu_classes(args: argparse.Namespace) -> tuple[IdleCpuGroup | None, str]:
    """The idle-class group for order servers and workers, or None; and the header's account of it."""
    if args.cpu_classes == "off":
        return None, "off (--cpu-classes off): every process in the normal class"
    if not args.quote_servers:
        if args.cpu_classes == "on":
            raise SystemExit("--cpu-classes on needs quote servers of their own (--quote-servers >= 1)")
        return None, "off: the order servers serve quotes too"
    try:
        group = IdleCpuGroup.create(f"solroute-bench-{os.getpid()}")
    except Unavailable as exc:
        if args.cpu_classes == "on":
            raise SystemExit(f"--cpu-classes on: {exc}") from exc
        return None, f"off, not available here ({exc})"
    return group, (
        f"order servers and RQ workers in an idle-class cgroup ({group.path}, cpu.idle = 1), "
        "quote servers, PostgreSQL, Redis and the load generator in the normal class"
    )


# --- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1, help="gunicorn processes for orders (default 1)")
    parser.add_argument(
        "--quote-servers",
        type=int,
        default=1,
        help="gunicorn processes that serve the quote clients, apart from order traffic (default 1; "
        "0: quotes share the order servers)",
    )
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes (default 2)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent order clients (default 16)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="offer this many orders per second in all, on a fixed schedule (default: each client "
        "sends back to back, as fast as the stack answers)",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="measured window, s (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="load before the window, s (default 3)")
    parser.add_argument("--threads", type=int, default=50, help="gunicorn threads per process (default 50)")
    parser.add_argument(
        "--quote-clients", type=int, default=2, help="quote clients during the order load (default 2)"
    )
    parser.add_argument(
        "--quote-pause", type=float, default=0.02, help="pause between a quote client's requests, s"
    )
    parser.add_argument(
        "--quote-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment setting for the quote servers only (repeatable)",
    )
    parser.add_argument(
        "--cpu-classes",
        choices=("auto", "on", "off"),
        default="auto",
        help="put the order servers and RQ workers in an idle-class CPU cgroup, the quote servers "
        "staying in the normal class, as production does with systemd's CPUWeight=idle "
        "(bench/cpu_classes.py; needs write access to the cgroup hierarchy). auto (default): "
        "where it can, with quote servers of their own",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the processes' logs and print their path"
    )
    args = parser.parse_args(argv)

    started_at = datetime.now(UTC)
    load_1min = os.getloadavg()[0]
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    namespace = f"solroute-bench-{uuid.uuid4().hex[:10]}"
    log_dir = Path(tempfile.mkdtemp(prefix="solroute-bench-"))
    stack = Stack(log_dir)
    progress("creating and migrating the database")
    db_name, db_url = create_database()
    idle_group: IdleCpuGroup | None = None
    failed = True
    try:
        idle_group, cpu_note = cpu_classes(args)
        keys = seed(db_url, args.clients)
        env = stack_env(db_url, REDIS_URL, namespace, GUNICORN_LOG_LEVEL="warning")
        progress(f"starting {args.servers} server(s)")
        urls = [stack.start_server(env, threads=args.threads) for _ in range(args.servers)]
        order_pids = [p.popen.pid for p in stack.procs if p.name.startswith("web-")]
        if idle_group:
            for pid in order_pids:
                idle_group.add(pid)  # the arbiter and its forked worker
        quote_env = {**env, **dict(item.split("=", 1) for item in args.quote_env)}
        quote_urls = [
            stack.start_server(quote_env, threads=args.threads) for _ in range(args.quote_servers)
        ] or urls
        quote_pids = [p.popen.pid for p in stack.procs if p.name.startswith("web-")][len(order_pids) :]

        progress(f"timing {IDLE_QUOTES} quotes on the idle stack")
        quote_rows = [
            latency_row("idle: 1 client, one request at a time", idle_quotes(quote_urls[0], IDLE_QUOTES))
        ]
        progress(f"timing quotes from {args.quote_clients * 2} concurrent clients, no orders")
        light = (
            f"quotes only: {args.quote_clients * 2} concurrent clients, {args.quote_pause * 1000:g} ms pause"
        )
        quote_rows.append(
            latency_row(light, concurrent_quotes(quote_urls, args.quote_clients * 2, 5.0, args.quote_pause))
        )

        # Workers start last, just before the load: the quote timings need none, and an idle worker
        # may quit (worker.py's Redis client keeps redis-py 8's 5 s socket timeout for RQ's dequeue).
        progress(f"starting {args.workers} worker(s)")
        workers = [stack.start_worker(env, f"worker-{i + 1}") for i in range(args.workers)]
        wait_workers(REDIS_URL, namespace, workers)
        if idle_group:
            for worker in workers:
                idle_group.add(worker.popen.pid)

        progress(f"order load: {args.clients} clients for {args.warmup:g} + {args.duration:g} s")
        load = Load()
        t0 = time.time()
        window_start = t0 + args.warmup
        window_end = window_start + args.duration
        quote_clients = QuoteClients(quote_urls, args.quote_clients, args.quote_pause)
        threads = [
            threading.Thread(
                target=submitter,
                args=(
                    urls[i % len(urls)],
                    keys[i],
                    i,
                    window_end,
                    load,
                    args.clients / args.rate if args.rate else None,
                ),
            )
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        while time.time() < window_start:
            time.sleep(0.05)
        groups = {
            "web, orders (gunicorn)": order_pids,
            **({"web, quotes (gunicorn)": quote_pids} if quote_pids else {}),
            "RQ workers": [w.popen.pid for w in workers],
            "load generator (orders, quotes)": [os.getpid(), quote_clients.process.pid or 0],
        }
        cpu_before = cpu_by_group(groups)
        while time.time() < window_end:
            time.sleep(0.05)
        cpu_after = cpu_by_group(groups)
        backlog = queue_backlog(namespace)
        open_at_end = open_order_count(db_url)
        for thread in threads:
            thread.join()
        quote_clients.finish(load)

        progress(f"draining ({open_at_end:,} orders not final, {backlog:,} jobs queued)")
        drain_deadline = time.monotonic() + max(120.0, 5 * args.duration)
        while open_order_count(db_url) and time.monotonic() < drain_deadline:
            if all(w.popen.poll() is not None for w in workers):
                break
            time.sleep(0.25)
        exited = [f"{w.name} (exit code {w.popen.returncode})" for w in workers if w.popen.poll() is not None]
        still_open = open_order_count(db_url)

        facts = order_facts(db_url)
        summary = summarise(facts, load, window_start, window_end)
        results = Results(
            window_s=args.duration,
            backlog_at_end=backlog,
            open_at_end=open_at_end,
            batches=dispatched(urls),
            **summary,
        )
        loaded_quotes = [
            q.took_s for q in load.quotes if window_start <= q.at < window_end and q.status == 200
        ]
        quote_rows.append(
            latency_row(
                f"during the order load: {args.quote_clients} clients, {args.quote_pause * 1000:g} ms pause",
                loaded_quotes,
            )
        )
        cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
        tables = [order_table(results), quote_table(quote_rows), cpu_table(cpu, args.duration, results)]
        elapsed_s = time.perf_counter() - started
        notes = []
        if still_open:
            notes.append(f"{still_open:,} orders were still not final after the drain.")
        if exited:
            notes.append("Workers that exited during the run: " + ", ".join(exited) + ".")
        if load.errors:
            notes.append("Client errors: " + ", ".join(f"{k} × {v}" for k, v in load.errors.most_common()))
        if results.failures:
            notes.append(
                "Failed orders: " + ", ".join(f"{k} × {v}" for k, v in results.failures.most_common())
            )
        notes.append(f"PASS/MISS: the figure against its target (— : no target). Ran in {elapsed_s:.1f} s.")
        if args.markdown:
            lines = header(args, started_at, load_1min, True, cpu_note)
            print("\n\n".join([*lines, *map(render_markdown, tables), *notes]))
        else:
            print("\n".join(header(args, started_at, load_1min, False, cpu_note)))
            print()
            print("\n\n".join([*map(render_text, tables), "\n".join(notes)]))
        failed = False
        return 0
    finally:
        stack.stop()
        if idle_group:
            idle_group.dispose()
        if failed:
            print(stack.logs(), file=sys.stderr)
        drop_pg_database(db_name)
        delete_redis_namespace(REDIS_URL, namespace)
        if args.keep_logs:
            print(f"logs: {log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
