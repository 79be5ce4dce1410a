"""Where jobs run: RQ queues over Redis when ``REDIS_URL`` is set, else an in-process thread pool.

Both run the same job functions from ``jobs.py`` by dotted name, with the same delays (used for
retry backoff and OTC settlement), so one command runs everything on one machine and the
production shape differs only in where the code executes.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from importlib import import_module
from typing import Any, Protocol

from flask import Flask

__all__ = ["QUEUE_NAME", "Executor", "InProcessExecutor", "RqExecutor", "resolve"]

log = logging.getLogger(__name__)

QUEUE_NAME = "solroute"


def resolve(dotted: str) -> Any:
    """The function named ``module.function``."""
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)


class Executor(Protocol):
    def enqueue(self, func: str, *args: Any, delay_s: float = 0.0, job_id: str | None = None) -> None: ...

    def queue_depth(self) -> int: ...

    def shutdown(self) -> None: ...


class InProcessExecutor:
    """Runs jobs on a thread pool inside the web process, each in its own app context."""

    def __init__(self, app: Flask, workers: int = 4) -> None:
        self.app = app
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="solroute-job")
        self._lock = threading.Lock()
        self._pending = 0
        self._timers: set[threading.Timer] = set()
        self._closed = False

    def _run(self, func: str, args: tuple[Any, ...]) -> None:
        try:
            with self.app.app_context():
                resolve(func)(*args)
        except Exception:
            log.exception("job %s%r failed", func, args)
        finally:
            with self._lock:
                self._pending -= 1

    def _submit(self, func: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending += 1
        self._pool.submit(self._run, func, args)

    def enqueue(self, func: str, *args: Any, delay_s: float = 0.0, job_id: str | None = None) -> None:
        """Run ``func(*args)`` now, or after ``delay_s`` seconds."""
        if delay_s <= 0:
            self._submit(func, args)
            return
        timer: threading.Timer

        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            self._submit(func, args)

        timer = threading.Timer(delay_s, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def queue_depth(self) -> int:
        with self._lock:
            return self._pending + len(self._timers)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


class RqExecutor:
    """Enqueues jobs on an RQ queue; ``python -m worker`` processes run them."""

    def __init__(self, redis_url: str, queue_name: str = QUEUE_NAME) -> None:
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url)
        self.queue = Queue(queue_name, connection=self.redis)

    def enqueue(self, func: str, *args: Any, delay_s: float = 0.0, job_id: str | None = None) -> None:
        """Enqueue ``func(*args)``; a delay needs workers started with the scheduler (ours are)."""
        # RQ's own Retry stays off: jobs retry themselves with backoff, in both executors alike.
        options: dict[str, Any] = {"job_id": job_id, "result_ttl": 300, "failure_ttl": 86_400}
        if delay_s > 0:
            self.queue.enqueue_in(timedelta(seconds=delay_s), func, *args, **options)
        else:
            self.queue.enqueue(func, *args, **options)

    def queue_depth(self) -> int:
        return int(self.queue.count) + int(self.queue.scheduled_job_registry.count)

    def shutdown(self) -> None:
        self.redis.close()
