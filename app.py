"""The application factory: config, extensions, services, blueprints and CLI commands.

``create_app(overrides)`` layers configuration as: environment (``config.app_config``), then
``instance/config.py``, then ``overrides`` (tests). ``role="worker"`` builds the same app for an
RQ worker: no Socket.IO server, emits go to the Redis message queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup
from flask_migrate import Migrate

from amm.pools import Pool
from config import app_config
from errors import SolrouteError
from executor import Executor, InProcessExecutor, OrderDispatcher, RqExecutor
from live_updates import socketio
from models import db
from otc_engine import Desk
from quoting import QuoteService
from rate_limits import LocalRateLimiter, RateLimiter, RedisRateLimiter
from venue_state import create_account, load_desks, load_pools, seed_database

__all__ = ["Services", "create_app", "start_background"]

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent
migrate = Migrate()


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
        read: Callable[[], tuple[tuple[Pool, ...], tuple[Desk, ...]]],
        ttl_s: float,
        *,
        run_read: Callable[[Callable[[], None]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._clock = clock
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._value: tuple[tuple[Pool, ...], tuple[Desk, ...]] | None = None
        self._read_at = float("-inf")
        self._reading = False
        # How a refresh runs: on a new daemon thread by default (the app passes one with its context).
        self._run_read = run_read or (lambda job: threading.Thread(target=job, daemon=True).start())

    def __call__(self) -> tuple[tuple[Pool, ...], tuple[Desk, ...]]:
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

    def _refresh(self) -> tuple[tuple[Pool, ...], tuple[Desk, ...]]:
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
            logging.getLogger(__name__).exception("could not refresh the venue snapshot")


@dataclass
class Services:
    """What views and jobs share in one process."""

    quotes: QuoteService
    executor: Executor
    dispatcher: OrderDispatcher  # new orders to the executor, in batches
    rate_limiter: RateLimiter
    emit_mode: str  # server | queue | off
    redis: Any = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def shutdown(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.dispatcher.close()
        self.executor.shutdown()
        if self.quotes.jupiter is not None:
            self.quotes.jupiter.close()
        self.quotes.price_service.close()


def _engine_options(app: Flask) -> None:
    """Pool settings for PostgreSQL; for SQLite, a connection shareable across threads with a busy timeout."""
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        options.setdefault("connect_args", {}).update({"check_same_thread": False, "timeout": 30})
        return
    # Batched UPDATEs (a job settling many orders) as one round trip per page, not one per row.
    options.setdefault("executemany_mode", "values_plus_batch")
    # Enough pooled connections for the threads that use the database at once: a connection
    # beyond the pool is closed when returned, and opening one forks a PostgreSQL backend.
    options.setdefault("pool_size", app.config["DB_POOL_SIZE"])
    options.setdefault("max_overflow", app.config["DB_MAX_OVERFLOW"])


_db_socket_fds: set[int] = set()


def _blind_inherited_db_sockets() -> None:
    """In a forked child: point inherited PostgreSQL sockets at /dev/null.

    RQ forks its scheduler from a worker that holds database connections. Holding copies of
    those sockets, the child would keep a killed worker's transaction (and its row locks) alive
    for as long as the child lives; blinded, the child holds nothing and can write nothing on
    them, and the parent's connections are untouched.
    """
    if not _db_socket_fds:
        return
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in list(_db_socket_fds):
            with contextlib.suppress(OSError):
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)
        _db_socket_fds.clear()


os.register_at_fork(after_in_child=_blind_inherited_db_sockets)


def _install_postgres_guards(ping_idle_s: float) -> None:
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return
    dialect = engine.dialect

    # Pessimistic disconnect handling, for idle connections only: SQLAlchemy's pool_pre_ping costs a
    # round trip on every checkout (one per request), while a connection used a moment ago is
    # alive in all but a server restart, which fails only the statements in flight and
    # invalidates the pool (views/errors.py answers those 503).
    @sa.event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < ping_idle_s:
            return  # just opened, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and checks out another (up to 3 times)
            raise sa.exc.DisconnectionError(f"pooled connection is dead: {type(exc).__name__}") from exc

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        fd = dbapi_connection.fileno()
        record.info["fd"] = fd
        _db_socket_fds.add(fd)
        cursor = dbapi_connection.cursor()
        # A safety net: no transaction may sit idle holding locks for a minute (ours take milliseconds).
        cursor.execute("SET idle_in_transaction_session_timeout = 60000")
        cursor.close()
        dbapi_connection.commit()

    @sa.event.listens_for(engine, "close")
    def on_close(_dbapi_connection: Any, record: Any) -> None:
        _db_socket_fds.discard(record.info.get("fd", -1))


def _install_sqlite_locking(app: Flask) -> None:
    engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (pysqlite's is deferred)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        # SQLite has no row locks: an immediate transaction takes the write lock up front, so a
        # read-modify-write in settle_orders can never interleave with another writer.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_app(overrides: Mapping[str, Any] | None = None, *, role: str = "web") -> Flask:
    """Build the Flask app (``role`` is ``web`` or ``worker``)."""
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(app_config(instance_path=app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    if overrides:
        app.config.update(overrides)
    app.config["SOLROUTE_ROLE"] = role
    app.config.setdefault("MAINTENANCE_THREAD", True)
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None: no limit
        app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # an order is a few hundred bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    _engine_options(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    with app.app_context():
        _install_sqlite_locking(app)
        _install_postgres_guards(app.config["DB_PING_IDLE_S"])

    redis_url = app.config.get("REDIS_URL")
    redis_client = None
    if redis_url:
        from redis import Redis

        redis_client = Redis.from_url(redis_url)
    scale = Decimal(app.config["OTC_SETTLEMENT_SCALE"])

    def read_venues() -> tuple[tuple[Pool, ...], tuple[Desk, ...]]:
        return load_pools(db.session), load_desks(db.session, scale)

    def in_app_thread(job: Callable[[], None]) -> None:
        def run() -> None:
            with app.app_context():
                job()

        threading.Thread(target=run, name="solroute-venue-snapshot", daemon=True).start()

    cache_s = app.config["VENUE_CACHE_S"] if role == "web" else 0.0
    quotes = QuoteService(
        app.config["SOLROUTE_SETTINGS"],
        venue_state=SnapshotCache(read_venues, cache_s, run_read=in_app_thread)
        if cache_s > 0
        else read_venues,
        # Web quotes read Jupiter from background-refreshed curves; workers ask it afresh.
        jupiter_curve_ttl_s=app.config["JUPITER_CURVE_TTL_S"] if role == "web" else None,
    )
    limits = app.config["VENUE_RATE_LIMITS"]
    namespace = app.config["REDIS_NAMESPACE"]
    limiter: RateLimiter = (
        RedisRateLimiter(redis_client, limits, prefix=f"{namespace}:ratelimit:")
        if redis_client
        else LocalRateLimiter(limits)
    )
    executor: Executor = (
        RqExecutor(redis_url, queue_name=namespace)
        if redis_url
        else InProcessExecutor(app, app.config["INPROCESS_WORKERS"])
    )
    if role == "web":
        emit_mode = "server"
        socketio.init_app(
            app,
            async_mode="threading",
            message_queue=redis_url,
            channel=namespace,
            cors_allowed_origins=app.config.get("SOCKETIO_CORS_ORIGINS"),
            manage_session=True,
        )
    else:
        emit_mode = "queue" if redis_url else "off"
    dispatcher = OrderDispatcher(
        executor, max_batch=app.config["ORDER_BATCH_MAX"], max_hold_s=app.config["ORDER_BATCH_HOLD_S"]
    )
    services = Services(quotes, executor, dispatcher, limiter, emit_mode, redis_client)
    app.extensions["solroute"] = services

    from views.api import api
    from views.errors import register_error_handlers
    from views.pages import pages

    app.register_blueprint(api)
    app.register_blueprint(pages)
    register_error_handlers(app)
    _register_cli(app)
    return app


def start_background(app: Flask) -> None:
    """Start the serving process's background threads (wsgi.py calls this; CLI commands do not).

    Every web process publishes prices and refreshes Jupiter curves; in in-process mode (no
    REDIS_URL) it also recovers stuck orders and samples metrics, which workers do otherwise.
    """
    from background import start_loops

    services: Services = app.extensions["solroute"]
    services.threads.extend(start_loops(app))
    if app.config.get("REDIS_URL") or not app.config["MAINTENANCE_THREAD"]:
        return
    from jobs import run_maintenance

    thread = threading.Thread(
        target=run_maintenance,
        args=(app, services.stop_event.is_set, app.config["RECOVERY_INTERVAL_S"]),
        name="solroute-maintenance",
        daemon=True,
    )
    services.threads.append(thread)
    thread.start()


def _register_cli(app: Flask) -> None:
    accounts = AppGroup("accounts", help="Paper trading accounts.")

    @accounts.command("create")
    @click.argument("name")
    def create(name: str) -> None:
        """Create a funded paper account and print its API key (shown once)."""
        try:
            account, key = create_account(db.session, name)
        except SolrouteError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        db.session.commit()
        click.echo(f"account {account.name} (id {account.id}) created")
        click.echo(f"API key: {key}")

    app.cli.add_command(accounts)

    @app.cli.command("seed")
    def seed() -> None:
        """Seed tokens, default pools and desks and the demo account (idempotent)."""
        key = seed_database(db.session, demo_account=app.config["DEMO_ACCOUNT"])
        db.session.commit()
        if key is not None:
            path = Path(app.instance_path) / "demo_api_key"
            if app.config["SOLROUTE_ENV"] == "development":
                path.write_text(key + "\n")
                path.chmod(0o600)
            click.echo(f"demo account {app.config['DEMO_ACCOUNT']!r} created; API key: {key}")
        else:
            click.echo("database already seeded")
