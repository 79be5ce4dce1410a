"""Errors to HTTP, in one place: ``{"error": {"code", "message", "field"}}`` for every /api failure."""

from __future__ import annotations

import logging
import re
from typing import Any

import pydantic
import sqlalchemy as sa
from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from errors import (
    AmountPrecisionError,
    InsufficientBalanceError,
    InsufficientLiquidityError,
    InvalidQuoteError,
    MinAmountOutUnreachableError,
    NoRouteError,
    OrderConflictError,
    PriceMovedError,
    PriceUnavailableError,
    QuoteExpiredError,
    RiskLimitError,
    SlippageExceededError,
    SolrouteError,
    TradingHaltedError,
    UnknownTokenError,
    ValidationError,
    VenueUnavailableError,
)

__all__ = ["ApiError", "error_response", "html_error", "register_error_handlers", "status_for"]

log = logging.getLogger(__name__)


class ApiError(SolrouteError):
    """An HTTP-level refusal (auth, not found, content type) with its status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s


_STATUS: tuple[tuple[type[SolrouteError], int], ...] = (
    (OrderConflictError, 409),
    (InsufficientBalanceError, 422),
    (SlippageExceededError, 422),
    (NoRouteError, 422),
    (InsufficientLiquidityError, 422),
    (MinAmountOutUnreachableError, 422),
    (InvalidQuoteError, 422),
    (QuoteExpiredError, 422),
    (PriceMovedError, 422),
    (RiskLimitError, 422),
    (TradingHaltedError, 503),
    (PriceUnavailableError, 503),
    (VenueUnavailableError, 503),
    (AmountPrecisionError, 400),
    (UnknownTokenError, 400),
    (ValidationError, 400),
)


def status_for(exc: SolrouteError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    details: dict[str, str] | None = None,
) -> tuple[Response, int]:
    error: dict[str, Any] = {"code": code, "message": message, "field": field}
    if details:
        error["details"] = details
    return jsonify({"error": error}), status


_PYDANTIC_STEP = re.compile(
    r"[a-z][a-z0-9_-]*\[.*\]|str|int|float|bool|decimal|list|dict|none|[a-z]+-[a-z-]+"
)


def pydantic_error(exc: pydantic.ValidationError) -> tuple[Response, int]:
    """The first problem of a schema validation, naming its field (``from`` for ``from_``)."""
    first: Any = exc.errors(include_url=False)[0]
    loc = [str(p) for p in first.get("loc", ()) if not isinstance(p, int)]
    # A field, then the keys below it ("initial.USDC", "params.amountIn"); pydantic's own steps
    # into a type ("function-after[...]", "str", "constrained-str") name nothing the client sent.
    path = [p for p in loc[1:] if not _PYDANTIC_STEP.fullmatch(p)]
    field = ".".join([loc[0].rstrip("_"), *path]) if loc else None
    if first.get("type") == "extra_forbidden":
        message = f"unknown field {field!r}"
    elif first.get("type") == "missing":
        message = f"{field} is required"
    else:
        message = f"{field}: {first.get('msg', 'invalid value')}" if field else str(first.get("msg"))
    return error_response(400, "invalid_input", message, field)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SolrouteError)
    def solroute_error(exc: SolrouteError) -> tuple[Response, int]:
        response, status = error_response(status_for(exc), exc.code, exc.message, exc.field, exc.details)
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response, status

    @app.errorhandler(pydantic.ValidationError)
    def schema_error(exc: pydantic.ValidationError) -> tuple[Response, int]:
        return pydantic_error(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if not request.path.startswith("/api/"):
            if exc.code is None or exc.code < 400:  # redirects (a missing slash) stay as they are
                return exc
            return html_error(exc.code, exc.name, exc.description)
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name or "error", None)

    @app.errorhandler(sa.exc.DBAPIError)
    def database_error(exc: sa.exc.DBAPIError) -> Any:
        if not (exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError)):
            return unexpected(exc)
        # The database dropped the connection (a restart), is unreachable or timed out: the pool has
        # been invalidated if the connection died, and the request can be sent again (an order with
        # the same Idempotency-Key: if its insert did reach the database, the retry replays it).
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exc.orig)
        if not request.path.startswith("/api/"):
            return html_error(503, "Service Unavailable", "The database is unavailable; try again shortly.")
        response, status = error_response(
            503,
            "database_unavailable",
            "the database is unavailable; retry in a moment (orders: with the same Idempotency-Key)",
            None,
        )
        response.headers["Retry-After"] = "1"
        return response, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return error_response(500, "internal_error", "internal error; it has been logged", None)
        return html_error(500, "Internal Server Error", None)


def html_error(status: int, title: str, description: str | None) -> tuple[str, int]:
    """The site's error page (404.html, 500.html, else error.html); never the exception's details."""
    template = {404: "404.html"}.get(status, "500.html" if status >= 500 else "error.html")
    try:
        return render_template(template, status=status, title=title, description=description), status
    except Exception:  # the page itself failed (a broken database?): plain text, still no traceback
        log.exception("could not render %s", template)
        return f"{status} {title}", status
