"""What views and jobs share in one process: ``Services``, built once per process by ``build_services``.

A web process quotes from a briefly cached venue snapshot (``SnapshotCache``) and serves
Socket.IO; a worker process reads venues afresh and emits through the Redis message queue.
``get_services(app)`` is the one way to reach them (``app`` defaults to the current app).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from amm.pools import Pool
from executor import Executor, InProcessExecutor, OrderDispatcher, RqExecutor
from models import db
from otc_engine import Desk
from quoting import QuoteService
from rate_limits import LocalRateLimiter, RateLimiter, RedisRateLimiter
from resting_book import RestingBook
from venue_state import load_desks, load_pools

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["EmitMode", "Services", "SnapshotCache", "build_services", "get_services"]

log = logging.getLogger(__name__)

EXTENSION = "solroute"
Venues = tuple[tuple[Pool, ...], tuple[Desk, ...]]


class SnapshotCache:
    """The venues as read at most about ``ttl_s`` ago: web quotes share one read (execution never
    uses it).

    A snapshot between ``ttl_s`` and twice that old is refreshed by a background thread while
    callers keep it (one refresh at a time), so under steady traffic a quote never waits for a
    read: under load a read can take tens of milliseconds, the quote's whole latency budget. An
    older one (a process that was idle) or none is read by the caller, so an occasional request
    never sees venues older than ``2 * ttl_s``.
    """

    def __init__(
        self,
        read: Callable[[], Venues],
        ttl_s: float,
        *,
        run_read: Callable[[Callable[[], None]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._clock = clock
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._value: Venues | None = None
        self._read_at = float("-inf")
        self._reading = False
        # How a refresh runs: on a new daemon thread by default (the app passes one with its context).
        self._run_read = run_read or (lambda job: threading.Thread(target=job, daemon=True).start())

    def __call__(self) -> Venues:
        now = self._clock()
        with self._lock:
            value, age = self._value, now - self._read_at
            if value is not None and age < self._ttl_s:
                return value
            refreshing = self._reading
            self._reading = True
        if value is not None and age < 2 * self._ttl_s:
            if not refreshing:
                try:
                    self._run_read(self._refresh_quietly)
                except Exception:
                    with self._lock:
                        self._reading = False
                    raise
            return value
        if refreshing:  # too old to serve, and a refresh is under way: read too rather than wait
            return self._read()
        return self._refresh()

    def _refresh(self) -> Venues:
        started = self._clock()
        try:
            value = self._read()
        finally:
            with self._lock:
                self._reading = False
        with self._lock:
            self._value, self._read_at = value, started
        return value

    def _refresh_quietly(self) -> None:
        try:
            self._refresh()
        except Exception:  # the next due call tries again; callers keep the previous snapshot
            log.exception("could not refresh the venue snapshot")


EmitMode = str  # "server" (a web process), "queue" (a worker with Redis) or "off"


@dataclass
class Services:
    """What views and jobs share in one process."""

    quotes: QuoteService
    executor: Executor
    dispatcher: OrderDispatcher  # new orders to the executor, in batches
    rate_limiter: RateLimiter
    emit_mode: EmitMode
    redis: Redis | None = None
    resting_book: RestingBook = field(default_factory=RestingBook)  # the watcher's, kept between ticks
    # Set when this process settles trades: the resting-order watcher ticks at once, not on its timer.
    venues_moved: threading.Event = field(default_factory=threading.Event)
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def shutdown(self) -> None:
        self.stop_event.set()
        self.venues_moved.set()  # wakes the watcher's loop to see the stop
        for thread in self.threads:
            thread.join(timeout=5)
        self.dispatcher.close()
        self.executor.shutdown()
        if self.quotes.jupiter is not None:
            self.quotes.jupiter.close()
        self.quotes.price_service.close()


def build_services(app: Flask, role: str) -> Services:
    """The services of a ``web`` or ``worker`` process, stored on ``app`` (``get_services`` reads them)."""
    config = app.config
    redis_url = config.get("REDIS_URL")
    redis_client = None
    if redis_url:
        from redis import Redis

        redis_client = Redis.from_url(redis_url)
    scale = Decimal(config["OTC_SETTLEMENT_SCALE"])

    def read_venues() -> Venues:
        return load_pools(db.session), load_desks(db.session, scale)

    def in_app_thread(job: Callable[[], None]) -> None:
        def run() -> None:
            with app.app_context():
                job()

        threading.Thread(target=run, name="solroute-venue-snapshot", daemon=True).start()

    limits = config["VENUE_RATE_LIMITS"]
    namespace = config["REDIS_NAMESPACE"]
    limiter: RateLimiter = (
        RedisRateLimiter(redis_client, limits, prefix=f"{namespace}:ratelimit:")
        if redis_client
        else LocalRateLimiter(limits)
    )
    cache_s = config["VENUE_CACHE_S"] if role == "web" else 0.0
    quotes = QuoteService(
        config["SOLROUTE_SETTINGS"],
        venue_state=SnapshotCache(read_venues, cache_s, run_read=in_app_thread)
        if cache_s > 0
        else read_venues,
        # Web quotes read Jupiter from background-refreshed curves; workers ask it afresh.
        jupiter_curve_ttl_s=config["JUPITER_CURVE_TTL_S"] if role == "web" else None,
        rate_limiter=limiter,  # every Jupiter call passes the one shared limit
    )
    executor: Executor = (
        RqExecutor(redis_url, queue_name=namespace)
        if redis_url
        else InProcessExecutor(app, config["INPROCESS_WORKERS"])
    )
    emit_mode = "server" if role == "web" else "queue" if redis_url else "off"
    dispatcher = OrderDispatcher(
        executor, max_batch=config["ORDER_BATCH_MAX"], max_hold_s=config["ORDER_BATCH_HOLD_S"]
    )
    services = Services(quotes, executor, dispatcher, limiter, emit_mode, redis_client)
    app.extensions[EXTENSION] = services
    return services


def get_services(app: Flask | None = None) -> Services:
    """The services of ``app`` (default: the current app)."""
    target: Any = current_app if app is None else app
    services: Services = target.extensions[EXTENSION]
    return services
