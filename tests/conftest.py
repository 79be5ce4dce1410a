"""Shared fixtures: the app on SQLite and on this machine's real PostgreSQL, and Redis namespaces.

Application tests take ``app`` (or ``client``) and run once per database: ``sqlite`` (a copy of
a migrated template file) and ``postgresql`` (a database created for this test session, migrated
once, emptied and re-seeded before each test). Redis users take ``redis_url`` and
``redis_namespace``, a prefix of their own so runs never see each other's queues or channels.
The services are real; ``scripts/services.sh`` (run by ./test.sh) starts them when they are down.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from config import Settings
from services import get_services

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Offline: no outside API is ever asked; prices come from the pools and static defaults.
TEST_SETTINGS = Settings(offline=True, jupiter_enabled=False)
DB_BACKENDS = ("sqlite", "postgresql")


def base_overrides(database_url: str, **extra: Any) -> dict[str, Any]:
    """The config every test app starts from (offline, instant OTC settlement, no background threads)."""
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SOLROUTE_SETTINGS": TEST_SETTINGS,
        "REDIS_URL": None,
        "OTC_SETTLEMENT_SCALE": 0,
        "MAINTENANCE_THREAD": False,
        "ORDER_RETRY_BASE_S": 0.05,
        "VENUE_RATE_LIMITS": {},
        **extra,
    }


def migrate_database(database_url: str) -> None:
    """Run the Alembic migrations (not create_all) against ``database_url``."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(base_overrides(database_url), role="worker")
    with app.app_context():
        upgrade()
        from models import db

        db.engine.dispose()
    get_services(app).shutdown()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate_database(f"sqlite:///{path}")
    return path


def _admin_execute(sql: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(sql))
    finally:
        admin.dispose()


def create_pg_database(prefix: str) -> tuple[str, str]:
    """A new, empty PostgreSQL database named ``<prefix>_<random>``: (name, SQLAlchemy URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(name: str) -> None:
    """Drop a database made by ``create_pg_database``, closing whatever is still connected."""
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_redis_namespace(redis_url: str, namespace: str) -> None:
    """Delete every Redis key of a namespace (our keys and RQ's for its queue)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in (f"{namespace}*", f"rq:*{namespace}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session, migrated once; dropped at the end."""
    try:
        name, url = create_pg_database("solroute_test")
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (run scripts/services.sh): {exc}")
    try:
        migrate_database(url)
        yield url
    finally:
        drop_pg_database(name)


def empty_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    sa.text(
                        "SELECT tablename FROM pg_tables"
                        " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                )
            ]
            if tables:
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=DB_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each backend in turn."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "solroute.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    empty_postgres(url)
    return str(url)


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} (run scripts/services.sh): {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A Redis prefix for one test: queue, Socket.IO channel, rate limits. Its keys are deleted after."""
    namespace = f"solroute-test-{uuid.uuid4().hex[:10]}"
    yield namespace
    delete_redis_namespace(redis_url, namespace)


def build_app(database_url: str, **extra: Any) -> tuple[Flask, str]:
    """A seeded app on ``database_url`` and the demo account's API key."""
    from app import create_app
    from models import db
    from venue_state import seed_database

    app = create_app(base_overrides(database_url, **extra))
    with app.app_context():
        key = seed_database(db.session)
        db.session.commit()
    assert key is not None
    return app, key


@pytest.fixture
def app_and_key(database_url: str) -> Iterator[tuple[Flask, str]]:
    from models import db

    app, key = build_app(database_url)
    yield app, key
    get_services(app).shutdown()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(app_and_key: tuple[Flask, str]) -> Flask:
    """The seeded app on each database in turn (in-process executor, offline venues)."""
    return app_and_key[0]


@pytest.fixture
def api_key(app_and_key: tuple[Flask, str]) -> str:
    """The demo account's API key (the account is funded with DEMO_FUNDING)."""
    return app_and_key[1]


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()
