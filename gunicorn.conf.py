"""gunicorn settings for Solroute (``gunicorn -c gunicorn.conf.py wsgi:app``).

One worker per gunicorn process: Socket.IO needs sticky sessions, which several workers in one
process do not give. Scale out with more single-worker processes on other ports behind a sticky
proxy, all sharing REDIS_URL (Socket.IO message queue, RQ) and DATABASE_URL.
Threads bound the open websockets plus in-flight requests (Flask-SocketIO threading mode).
The control socket (gunicorn 25.1+, one fixed path) is off, so that several instances on one
machine do not collide: the same as ``--no-control-socket``.
"""

import os

bind = os.environ.get("SOLROUTE_BIND", "127.0.0.1:5000")
worker_class = "gthread"
control_socket_disable = True
workers = 1
threads = int(os.environ.get("GUNICORN_THREADS", "100"))
timeout = 60
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# gunicorn's default line plus the request's duration in microseconds.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# --- hardening (issue 17) ---------------------------------------------------------------------
# The longest request line gunicorn allows (its default is 4094): a long /api path or query then
# reaches Flask, which answers it in JSON (404, 400 naming the parameter) instead of gunicorn's
# HTML 414. Anything longer still gets gunicorn's 414, in JSON below.
limit_request_line = 8190


def _json_error(sock, status_int, reason, mesg):
    """gunicorn's own error answer (bad request line or header, 414, 431 ...) as our JSON error body.

    It answers before any request reaches Flask, so views/errors.py cannot; gunicorn has no
    setting for its error page, so ``post_worker_init`` puts this in place of
    ``gunicorn.util.write_error`` (same signature; tests/test_security.py holds it to a real
    gunicorn, so an upgrade that changes the hook fails there rather than silently).
    """
    import json

    from gunicorn import util

    code = {414: "uri_too_long", 431: "request_header_fields_too_large"}.get(
        status_int, reason.lower().replace(" ", "_")
    )
    field = {414: "path"}.get(status_int)
    body = json.dumps({"error": {"code": code, "message": mesg or reason, "field": field}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def post_worker_init(worker):
    """JSON error answers, and no ``Server: gunicorn`` (the product is nobody's business).

    gunicorn has no setting for either: ``Response`` reads the ``Server`` value from the module
    global ``gunicorn.http.wsgi.SERVER`` on each response, and the worker writes its own errors
    with ``gunicorn.util.write_error``. Both are replaced in the worker process only.
    """
    import gunicorn.http.wsgi
    import gunicorn.util

    gunicorn.http.wsgi.SERVER = "solroute"
    gunicorn.util.write_error = _json_error
