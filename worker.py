"""An RQ worker for Solroute: ``python -m worker`` (needs REDIS_URL; DATABASE_URL for PostgreSQL).

It recovers orders a dead worker left behind when it starts and then every RECOVERY_INTERVAL_S
(one worker at a time, under a Redis lock), and runs jobs in its own process (RQ's SimpleWorker:
no fork per job) with the scheduler on, for delayed retries and OTC settlement.
"""

from __future__ import annotations

import argparse
import logging
import os

from redis import Redis
from rq import Queue, SimpleWorker

import background
import jobs
from app import create_app
from executor import bind_worker_app
from services import get_services

log = logging.getLogger("solroute.worker")


def _lower_priority(niceness: int) -> None:
    """Nice this process by ``niceness``, and its autogroup too where Linux groups by session.

    With autogroup (the default on most Linux kernels) the scheduler first shares the CPU fairly
    between sessions, so a process's own niceness counts only against its own session's
    processes; the session's (``/proc/self/autogroup``) is what yields to other sessions.
    """
    if niceness <= 0:
        return
    os.nice(niceness)
    try:
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write(str(niceness))
    except OSError:  # not Linux, autogroup off, or not allowed: the process niceness still holds
        log.info("autogroup niceness not set")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", help="worker name (default: RQ's)")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(role="worker")
    # Execution is batch work: on a shared machine it yields the CPU to the web processes, so a
    # quote or a page is served at once even while workers drain a backlog (WORKER_NICE=0: off).
    _lower_priority(app.config["WORKER_NICE"])
    if not app.config.get("REDIS_URL"):
        raise SystemExit("worker: set REDIS_URL (without it the web process runs jobs itself)")
    bind_worker_app(app)
    # RQ needs a client of its own: it raises the socket timeout above its blocking dequeue's only on
    # connections it creates, and the app's client keeps redis-py's 5 s default (an idle worker
    # would time out and quit).
    redis = Redis.from_url(app.config["REDIS_URL"])
    with app.app_context():
        # On start: whatever a dead worker left is ours to finish (stale ones only).
        log.info("startup recovery: %s", jobs.recover_orders())
        log.info("startup recovery: %d overdue TWAP slice(s) re-queued", jobs.recover_twap_slices())
    background.run_maintenance(app)
    queue = Queue(app.config["REDIS_NAMESPACE"], connection=redis)
    worker = SimpleWorker([queue], connection=redis, name=args.name)
    try:
        worker.work(with_scheduler=True, burst=args.burst, logging_level="WARNING")
    finally:
        get_services(app).stop_event.set()


if __name__ == "__main__":
    main()
