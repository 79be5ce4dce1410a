"""Security headers on every response, and the unread body of a refused request drained.

Content-Security-Policy allows only our own assets: every script, style sheet, font and image is
served from ``static/`` (Bootstrap, Chart.js and the Socket.IO client are vendored), and the
templates hold no inline ``<script>``, ``style=`` or ``on*=`` (tests/test_pages.py enforces it).
``data:`` images are allowed for Bootstrap's built-in SVG icons (form controls, the navbar
toggler) and the empty favicon. Frames are refused both ways (``frame-ancestors`` and the older
``X-Frame-Options``). HSTS is sent only on a request that arrived over TLS (``request.is_secure``:
gunicorn sets the scheme from ``X-Forwarded-Proto`` when the proxy is in ``forwarded_allow_ips``).

A request refused before its body was read (413 for a body beyond MAX_CONTENT_LENGTH, or 401,
415 ... answered first) leaves that body on the connection. gunicorn drains at most 64 KiB of it
after answering and otherwise closes the connection it has just announced as keep-alive, so the
client's next request on it fails ("Remote end closed connection"). ``drain_unread_body`` reads
and discards up to ``DRAIN_MAX_BYTES`` of it first, so the connection stays usable; a body larger
than that still ends the connection (reading megabytes to throw them away would cost more).
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

__all__ = ["CONTENT_SECURITY_POLICY", "DRAIN_MAX_BYTES", "init_app"]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",  # the API and Socket.IO (CSP 3: 'self' covers ws:/wss: to our host)
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"
DRAIN_MAX_BYTES = 1 << 20  # 16 x the default MAX_CONTENT_LENGTH
_CHUNK = 64 * 1024


def security_headers(response: Response) -> Response:
    """Add the headers above (a view that set one keeps its own)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def drain_unread_body(response: Response) -> Response:
    """Read and discard what is left of the request body (at most DRAIN_MAX_BYTES)."""
    length = request.content_length
    if length is None and not request.environ.get("wsgi.input_terminated"):
        return response  # no body, or one whose end this server cannot tell us: leave it
    if length is not None and length > DRAIN_MAX_BYTES:
        return response
    try:
        stream = request.stream  # the request's own stream: it knows what was read already
    except RequestEntityTooLarge:
        # Refused on its Content-Length before any byte was read: a fresh stream bounded by it.
        stream = get_input_stream(request.environ, max_content_length=None)
    drained = 0
    try:
        while drained < DRAIN_MAX_BYTES and (data := stream.read(_CHUNK)):
            drained += len(data)
    except (OSError, ValueError, RequestEntityTooLarge):
        pass  # the client went away or sent a broken body: the server closes the connection
    return response


def init_app(app: Flask) -> None:
    """Register the hooks (after every request, error answers included)."""
    app.after_request(drain_unread_body)
    app.after_request(security_headers)
