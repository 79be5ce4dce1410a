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


# --- 6: security headers (Flask test client, both databases) ---------------------------------------


@pytest.mark.parametrize("path", ["/", "/trade", "/api/tokens", "/api/nothing-here", "/static/css/app.css"])
def test_every_response_carries_the_security_headers(client: Any, path: str) -> None:
    from views.headers import CONTENT_SECURITY_POLICY

    response = client.get(path)
    headers = response.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers  # plain HTTP: HSTS would be meaningless
    response.close()


def test_hsts_is_sent_over_tls(client: Any) -> None:
    response = client.get("/api/tokens", base_url="https://solroute.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_session_cookie_is_secure_in_production_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    app = production_app(monkeypatch, tmp_path, GOOD_SECRET)
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
    finally:
        get_services(app).shutdown()
    from config import app_config

    assert app_config({}, instance_path=str(tmp_path))["SESSION_COOKIE_SECURE"] is False


def test_a_production_login_sets_a_secure_httponly_samesite_cookie(app: Flask) -> None:
    app.config.update(SOLROUTE_ENV="production", SESSION_COOKIE_SECURE=True)
    client = app.test_client()
    client.get("/login")
    cookie = client.get_cookie("session")
    if cookie is None:  # the login page may not store a session before a form is posted
        with client.session_transaction() as session:
            session["probe"] = 1
        cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.secure and cookie.http_only and cookie.same_site == "Lax"


# --- 8: a real gunicorn (gunicorn.conf.py): keep-alive after a 413, JSON for its own errors ----------


@pytest.fixture(scope="module")
def gunicorn_site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import build_app, create_pg_database, drop_pg_database, migrate_database
    from tests.stack import Stack, stack_env

    name, url = create_pg_database("solroute_sec")
    stack = Stack(tmp_path_factory.mktemp("sec-stack"))
    try:
        migrate_database(url)
        app, key = build_app(url)
        get_services(app).shutdown()
        from models import db

        with app.app_context():
            db.engine.dispose()
        base = stack.start_server(stack_env(url, None, f"solroute-sec-{name}"), threads=8)
        yield base, key
    finally:
        stack.stop()
        drop_pg_database(name)


def exchange(base: str, *requests_bytes: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Send raw HTTP/1.1 requests on ONE connection, one after the other; the answers in order."""
    import http.client

    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    answers = []
    try:
        conn.connect()
        assert conn.sock is not None
        for raw in requests_bytes:
            conn.sock.sendall(raw)
            response = http.client.HTTPResponse(conn.sock, method=raw.split(b" ", 1)[0].decode())
            response.begin()
            answers.append(
                (response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
            )
    finally:
        conn.close()
    return answers


def raw_request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@pytest.mark.parametrize("size", [70_000, 300_000])
def test_a_413_on_a_keep_alive_connection_leaves_it_usable_for_the_next_order(
    gunicorn_site: tuple[str, str], size: int
) -> None:
    import json

    base, key = gunicorn_site
    too_big = json.dumps({**ORDER_BODY, "pad": "x" * size}).encode()
    order = json.dumps(ORDER_BODY).encode()
    common = {"Content_Type": "application/json", "X_API_Key": key}
    answers = exchange(
        base,
        raw_request("POST", "/api/orders/execute", too_big, **common),
        raw_request("POST", "/api/orders/execute", order, **common),
        raw_request("GET", "/api/tokens"),
    )
    (status, headers, body), (next_status, _, next_body), (last, _, _) = answers
    assert status == 413 and headers["content-type"] == "application/json", body
    assert json.loads(body)["error"]["code"] == "request_entity_too_large"
    assert next_status == 202, next_body
    assert last == 200


def test_a_refusal_before_the_body_is_read_leaves_the_connection_usable(
    gunicorn_site: tuple[str, str],
) -> None:
    base, _ = gunicorn_site
    body = b'{"pad": "' + b"x" * 60_000 + b'"}' * 1
    answers = exchange(
        base,
        raw_request(
            "POST", "/api/orders/execute", body * 2, Content_Type="application/json", X_API_Key="wrong"
        ),
        raw_request("GET", "/api/tokens"),
    )
    assert [a[0] for a in answers] == [401, 200]


def test_gunicorn_answers_a_bad_header_character_and_an_over_long_line_in_json(
    gunicorn_site: tuple[str, str],
) -> None:
    import json
    import socket

    base, _ = gunicorn_site
    host, port = base.removeprefix("http://").split(":")

    def answer(raw: bytes) -> tuple[bytes, dict[str, Any]]:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(raw)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"content-type: application/json" in head.lower(), data
        return head.split(b"\r\n", 1)[0], json.loads(body)

    status, body = answer(b"GET /api/tokens HTTP/1.1\r\nHost: x\r\nX-Bad\x01: y\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400") and body["error"]["code"] == "bad_request"
    status, body = answer(b"GET /api/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 414") and body["error"]["field"] == "path"


def test_a_5000_character_api_path_reaches_flask_and_is_a_json_404(gunicorn_site: tuple[str, str]) -> None:
    import requests

    base, _ = gunicorn_site
    response = requests.get(f"{base}/api/{'a' * 5000}", timeout=30)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_the_server_header_does_not_name_gunicorn(gunicorn_site: tuple[str, str]) -> None:
    import requests

    base, _ = gunicorn_site
    response = requests.get(f"{base}/api/tokens", timeout=30)
    assert "gunicorn" not in response.headers.get("Server", "").lower()
    assert response.headers["X-Frame-Options"] == "DENY"


ORDER_BODY = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.01"}
