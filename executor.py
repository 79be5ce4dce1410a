"""Where jobs run: RQ queues over Redis when ``REDIS_URL`` is set, else an in-process thread pool.

Both run the same job functions from ``jobs.py`` by dotted name, with the same delays (used for
retry backoff and OTC settlement), so one command runs everything on one machine and the
production shape differs only in where the code executes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from importlib import import_module
from typing import Any, Protocol

from flask import Flask, current_app, has_app_context

from models import db

__all__ = [
    "QUEUE_NAME",
    "Executor",
    "InProcessExecutor",
    "OrderDispatcher",
    "RqExecutor",
    "bind_worker_app",
    "job_app",
    "resolve",
]

log = logging.getLogger(__name__)

QUEUE_NAME = "solroute"
_worker_app: Flask | None = None


def bind_worker_app(app: Flask) -> None:
    """Make ``app`` the one an RQ worker process runs its jobs in (``python -m worker`` calls this)."""
    global _worker_app
    _worker_app = app


@contextmanager
def job_app() -> Iterator[Flask]:
    """The app a job runs in: the caller's (the in-process executor pushes one), else the worker's.

    The job's database session is removed when it ends, so no job leaks state into the next.
    """
    if has_app_context():
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            yield app
        finally:
            db.session.remove()
        return
    if _worker_app is None:
        raise RuntimeError("no app for this job: run jobs with `python -m worker` (it binds one)")
    with _worker_app.app_context():
        try:
            yield _worker_app
        finally:
            db.session.remove()


def resolve(dotted: str) -> Any:
    """The function named ``module.function``."""
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)


BATCH_JOB = "jobs.execute_orders"


class Executor(Protocol):
    def enqueue(
        self,
        func: str,
        *args: Any,
        delay_s: float = 0.0,
        job_id: str | None = None,
        timeout_s: float | None = None,
    ) -> None: ...

    def enqueue_orders(self, order_ids: list[str]) -> None: ...

    def orders_started(self, count: int) -> None: ...

    def orders_waiting(self) -> int: ...

    def waiting_jobs(self) -> int: ...

    def queue_depth(self) -> int: ...

    def shutdown(self) -> None: ...


class InProcessExecutor:
    """Runs jobs on a thread pool inside the web process, each in its own app context."""

    def __init__(self, app: Flask, workers: int = 4) -> None:
        self.app = app
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="solroute-job")
        self._lock = threading.Lock()
        self._pending = 0
        self._running = 0
        self._orders_waiting = 0
        self._timers: set[threading.Timer] = set()
        self._closed = False

    def _run(self, func: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            self._running += 1
        try:
            with self.app.app_context():
                resolve(func)(*args)
        except Exception:
            log.exception("job %s%r failed", func, args)
        finally:
            with self._lock:
                self._pending -= 1
                self._running -= 1

    def _submit(self, func: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending += 1
        self._pool.submit(self._run, func, args)

    def enqueue(
        self,
        func: str,
        *args: Any,
        delay_s: float = 0.0,
        job_id: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """Run ``func(*args)`` now, or after ``delay_s`` seconds (threads have no timeout)."""
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

    def enqueue_orders(self, order_ids: list[str]) -> None:
        """One ``jobs.execute_orders`` job for these new orders."""
        with self._lock:
            self._orders_waiting += len(order_ids)
        self._submit(BATCH_JOB, (order_ids,))

    def orders_started(self, count: int) -> None:
        with self._lock:
            self._orders_waiting = max(0, self._orders_waiting - count)

    def orders_waiting(self) -> int:
        with self._lock:
            return self._orders_waiting

    def waiting_jobs(self) -> int:
        with self._lock:
            return self._pending - self._running

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
        # New orders in batch jobs not yet started, across every process (backpressure reads it).
        self._orders_key = f"{queue_name}:orders-waiting"

    def enqueue(
        self,
        func: str,
        *args: Any,
        delay_s: float = 0.0,
        job_id: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """Enqueue ``func(*args)``; a delay needs workers started with the scheduler (ours are).

        ``timeout_s``: how long the job may run before RQ stops it (default: RQ's, 180 s), for long
        jobs such as a backtest."""
        # RQ's own Retry stays off: jobs retry themselves with backoff, in both executors alike.
        options: dict[str, Any] = {"job_id": job_id, "result_ttl": 300, "failure_ttl": 86_400}
        if timeout_s is not None:
            options["job_timeout"] = int(timeout_s)
        if delay_s > 0:
            self.queue.enqueue_in(timedelta(seconds=delay_s), func, *args, **options)
        else:
            self.queue.enqueue(func, *args, **options)

    def enqueue_orders(self, order_ids: list[str]) -> None:
        """One ``jobs.execute_orders`` job for these new orders."""
        self.redis.incrby(self._orders_key, len(order_ids))
        try:
            self.enqueue(BATCH_JOB, order_ids, job_id=f"orders-{order_ids[0]}-{len(order_ids)}")
        except Exception:
            self.redis.decrby(self._orders_key, len(order_ids))
            raise

    def orders_started(self, count: int) -> None:
        self.redis.decrby(self._orders_key, count)

    def orders_waiting(self) -> int:
        return max(0, int(self.redis.get(self._orders_key) or 0))

    def waiting_jobs(self) -> int:
        return int(self.queue.count)

    def queue_depth(self) -> int:
        return int(self.queue.count) + int(self.queue.scheduled_job_registry.count)

    def shutdown(self) -> None:
        self.redis.close()


class OrderDispatcher:
    """Hands new orders to the executor in batches: one ``jobs.execute_orders`` job per batch.

    An order goes out at once while the executor keeps up. While batch jobs wait for a worker,
    new orders gather (up to ``max_batch``, for at most ``max_hold_s``) into the next job, so a
    busy system runs few large jobs, and pays the queue's and the database's per-transaction
    costs once per batch rather than once per order.
    """

    def __init__(
        self,
        executor: Executor,
        *,
        max_batch: int = 64,
        max_hold_s: float = 0.25,
        poll_s: float = 0.01,
        backlog_ttl_s: float = 0.05,
    ) -> None:
        self._executor = executor
        self._max_batch = max(1, max_batch)
        self._max_hold_s = max_hold_s
        self._poll_s = poll_s
        self._backlog_ttl_s = backlog_ttl_s
        self._ids: list[str] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._backlog = (0.0, 0)  # (read at, value)
        self._sent = {"batches": 0, "orders": 0, "largestBatch": 0}

    def submit(self, order_id: str) -> None:
        """Queue a new order (already committed) for execution; never raises (when this process is
        shutting down, the recovery step queues the order instead)."""
        with self._cond:
            if self._closed:
                log.warning("shutting down: order %s is left to the recovery step", order_id)
                return
            self._ids.append(order_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="solroute-dispatcher", daemon=True)
                self._thread.start()
            self._cond.notify()

    def backlog(self) -> int:
        """Orders accepted and not yet taken by a worker, plus other jobs waiting (cached briefly)."""
        read_at, value = self._backlog
        now = time.monotonic()
        if now - read_at > self._backlog_ttl_s:
            value = self._executor.queue_depth() + self._executor.orders_waiting()
            self._backlog = (now, value)
        with self._cond:
            return value + len(self._ids)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._ids and not self._closed:
                    self._cond.wait()
                if not self._ids:
                    return
            # Gather while earlier jobs still wait for a worker: they would only queue behind them.
            deadline = time.monotonic() + self._max_hold_s
            while not self._closed and len(self._ids) < self._max_batch and time.monotonic() < deadline:
                try:
                    if self._executor.waiting_jobs() == 0:
                        break
                except Exception:
                    log.exception("could not read the queue's length")
                    break
                time.sleep(self._poll_s)
            with self._cond:
                batch, self._ids = self._ids[: self._max_batch], self._ids[self._max_batch :]
            try:
                self._executor.enqueue_orders(batch)
            except Exception:  # the orders are stored: the recovery step queues them when it can
                log.exception("could not enqueue %d orders; recovery will pick them up", len(batch))
                continue
            with self._cond:
                self._sent["batches"] += 1
                self._sent["orders"] += len(batch)
                self._sent["largestBatch"] = max(self._sent["largestBatch"], len(batch))

    def orders_waiting(self) -> int:
        """Accepted orders no worker has taken yet: in batch jobs waiting, or gathering here."""
        with self._cond:
            gathering = len(self._ids)
        return self._executor.orders_waiting() + gathering

    def stats(self) -> dict[str, int]:
        """Batch jobs and orders this process has handed to the executor so far, and the largest batch."""
        with self._cond:
            return dict(self._sent)

    def close(self) -> None:
        """Send what has gathered and stop."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
