"""Application settings from the environment, and the schema the migrations build."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from config import DEV_SECRET_KEY, app_config, database_url
from errors import ValidationError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "sqlite:////srv/instance/solroute.db"),
        ("", "sqlite:////srv/instance/solroute.db"),
        ("postgres://u:p@db:5432/solroute", "postgresql+psycopg2://u:p@db:5432/solroute"),
        ("postgresql://u@db/solroute", "postgresql+psycopg2://u@db/solroute"),
        ("postgresql+psycopg2://u@db/x", "postgresql+psycopg2://u@db/x"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_uses_the_installed_driver(raw: str | None, expected: str) -> None:
    assert database_url(raw, "/srv/instance") == expected


def test_development_runs_with_a_default_secret_but_production_refuses_it() -> None:
    assert app_config({}, instance_path="/tmp")["SECRET_KEY"] == DEV_SECRET_KEY
    with pytest.raises(ValidationError) as info:
        app_config({"SOLROUTE_ENV": "production"}, instance_path="/tmp")
    assert info.value.field == "SECRET_KEY"
    # A short one ("s3cret") is refused too since issue 17: tests/test_security.py.
    strong = "Zq8vR2mXk4Lw9bTn7Yc3Hd6Jf1Gs5Pa0Ue"
    config = app_config({"SOLROUTE_ENV": "production", "SECRET_KEY": strong}, instance_path="/tmp")
    assert config["SECRET_KEY"] == strong


def test_an_unknown_environment_name_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        app_config({"SOLROUTE_ENV": "staging"}, instance_path="/tmp")
    assert info.value.field == "SOLROUTE_ENV"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, {"jupiter": 0.5}),
        ("", {}),
        ("Jupiter=1, orca=20", {"jupiter": 1.0, "orca": 20.0}),
    ],
)
def test_venue_rate_limits(raw: str | None, expected: dict[str, float]) -> None:
    env = {} if raw is None else {"VENUE_RATE_LIMITS": raw}
    assert app_config(env, instance_path="/tmp")["VENUE_RATE_LIMITS"] == expected


@pytest.mark.parametrize("raw", ["jupiter", "=2", "jupiter=fast", "jupiter=-1"])
def test_malformed_venue_rate_limits_name_the_variable(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        app_config({"VENUE_RATE_LIMITS": raw}, instance_path="/tmp")
    assert info.value.field == "VENUE_RATE_LIMITS"


def test_redis_url_is_optional() -> None:
    assert app_config({}, instance_path="/tmp")["REDIS_URL"] is None
    assert (
        app_config({"REDIS_URL": "redis://h:6379/1"}, instance_path="/tmp")["REDIS_URL"] == "redis://h:6379/1"
    )


def test_the_migrations_build_exactly_the_models_schema(app: Any) -> None:
    """Alembic finds nothing to add or change between the migrated database and models.py."""
    from models import db

    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []
