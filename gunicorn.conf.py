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
