"""The web session: who the pages act for, and CSRF protection of what a browser sends.

A page gives the browser a signed session cookie holding a CSRF token (``secrets.token_urlsafe``).
Every state-changing request that the cookie authenticates must send the token back: the login
and logout forms as the ``csrf_token`` field, JSON POSTs to /api as the ``X-CSRF-Token`` header.
Requests with an ``X-API-Key`` carry no ambient credential a third-party site could ride on, so
they need no token.

In development (``SOLROUTE_ENV=development``) the pages act as the demo account
(``DEMO_ACCOUNT``) without a login; elsewhere ``/login`` takes an API key and keeps the
account's id in the session, and pages that need an account redirect there.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import ParamSpec

import sqlalchemy as sa
from flask import current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from models import Account, AccountKind, db
from venue_state import account_for_api_key
from views.errors import ApiError

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "account_for_key",
    "api_session_account",
    "csrf_token",
    "is_csrf_valid",
    "is_demo_session",
    "is_development",
    "log_in",
    "log_out",
    "login_required",
    "page_account",
    "safe_next",
]

CSRF_SESSION_KEY = "csrf_token"
CSRF_FIELD = "csrf_token"  # the form field
CSRF_HEADER = "X-CSRF-Token"  # the header of session-authenticated JSON requests
ACCOUNT_KEY = "account_id"  # also read by views/api.py's callers and live_updates.py (Socket.IO)
DEMO_KEY = "is_demo"  # the session's account is the development demo account, not a login
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

P = ParamSpec("P")


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def is_csrf_valid(sent: object) -> bool:
    """True if ``sent`` is this session's CSRF token (compared in constant time)."""
    expected = session.get(CSRF_SESSION_KEY)
    if not isinstance(expected, str) or not expected or not isinstance(sent, str):
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


def is_development() -> bool:
    """True when the app runs in development mode (the pages act as the demo account)."""
    return current_app.config.get("SOLROUTE_ENV") == "development"


def _demo_account() -> Account | None:
    name = current_app.config.get("DEMO_ACCOUNT")
    return db.session.execute(
        sa.select(Account).where(Account.name == name, Account.kind == AccountKind.TRADER)
    ).scalar_one_or_none()


def account_for_key(key: str) -> Account | None:
    """The trader account holding API key ``key``, if any."""
    return account_for_api_key(db.session, key)


def _session_account() -> Account | None:
    """The logged-in account, else (development only) the demo account; the session remembers it.

    The demo account's id is stored in the session too, because Socket.IO reads the account from
    the session when the browser connects (live_updates.py) and has no development fallback.
    """
    account_id = session.get(ACCOUNT_KEY)
    account = db.session.get(Account, account_id) if isinstance(account_id, int) else None
    if account is not None and (not session.get(DEMO_KEY) or is_development()):
        return account
    if account_id is not None:  # gone, or a demo session left over from another mode
        session.pop(ACCOUNT_KEY, None)
        session.pop(DEMO_KEY, None)
    if not is_development():
        return None
    account = _demo_account()
    if account is not None:
        session[ACCOUNT_KEY] = account.id
        session[DEMO_KEY] = True
    return account


def page_account() -> Account | None:
    """The account the pages act for in this request (looked up once per request)."""
    if "page_account" not in g:
        g.page_account = _session_account()
    account: Account | None = g.page_account
    return account


def is_demo_session() -> bool:
    """True if the pages act as the development demo account rather than a logged-in one."""
    return bool(session.get(DEMO_KEY))


def api_session_account() -> Account | None:
    """The account of an /api request authenticated by the web session (no ``X-API-Key``).

    Only a browser session counts (one that holds a CSRF token or an account, i.e. a page was
    loaded): a bare request stays anonymous and gets 401. A state-changing request must carry
    the session's token in ``X-CSRF-Token``, else it is refused with 403 ``csrf_failed``.
    """
    if CSRF_SESSION_KEY not in session and ACCOUNT_KEY not in session:
        return None
    account = _session_account()
    if account is None:
        return None
    if request.method not in SAFE_METHODS and not is_csrf_valid(request.headers.get(CSRF_HEADER)):
        raise ApiError(
            403,
            "csrf_failed",
            f"this request uses the web session and needs its CSRF token in the {CSRF_HEADER} header"
            " (reload the page to get a fresh one), or send an X-API-Key instead",
            CSRF_HEADER,
        )
    return account


def log_in(account: Account) -> None:
    """Start a fresh session for ``account`` (new CSRF token: nothing of the old session survives)."""
    session.clear()
    session[ACCOUNT_KEY] = account.id
    g.page_account = account
    csrf_token()


def log_out() -> None:
    """End the session."""
    session.clear()
    g.pop("page_account", None)


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site (no open redirect), else ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 32 for c in target):
        return default
    return target


def login_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Redirect to /login (coming back afterwards) when the pages act for no account."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if page_account() is None:
            path = request.full_path if request.query_string else request.path
            return redirect(url_for("pages.login", next=path))
        return view(*args, **kwargs)

    return wrapped
