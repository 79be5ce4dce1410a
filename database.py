"""The database: engine options, PostgreSQL and SQLite guards, migrations; ``init_app`` binds them.

Like flaskr's ``db.py``: the extensions are created unbound in ``models.py`` (``db``) and here
(``migrate``), and ``init_app(app)`` binds both and installs the dialect's guards once the engine
exists. Nothing here knows about orders or venues.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_migrate import Migrate

from models import db

__all__ = ["fault_name", "init_app", "is_transient_error", "migrate"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
migrate = Migrate()


def init_app(app: Flask) -> None:
    """Bind SQLAlchemy and Alembic to ``app`` and guard its engine (PostgreSQL or SQLite)."""
    _engine_options(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    with app.app_context():
        _install_sqlite_locking(db.engine)
        _install_postgres_guards(db.engine, app.config["DB_PING_IDLE_S"])


def is_transient_error(exc: BaseException) -> bool:
    """True for a database fault worth retrying: lock timeouts, deadlocks, dropped connections."""
    if isinstance(exc, sa.exc.OperationalError):
        return True  # lock timeouts, "database is locked", dropped connections
    code = getattr(getattr(exc, "orig", None), "pgcode", None)
    return code in ("40001", "40P01", "55P03")  # serialization failure, deadlock, lock not available


def fault_name(exc: BaseException) -> str:
    """A database fault as a short reason for an order's timeline: the driver's error class."""
    return f"database: {type(getattr(exc, 'orig', None) or exc).__name__}"


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


def _install_postgres_guards(engine: sa.Engine, ping_idle_s: float) -> None:
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


def _install_sqlite_locking(engine: sa.Engine) -> None:
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
