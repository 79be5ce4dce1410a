"""The serving process's background loops: prices (``price_update``) and Jupiter curves.

Each loop runs on a daemon thread and sleeps on the app's stop event, so shutdown is prompt.
With several web processes (Redis mode) only one publishes prices per interval, under a Redis
lock; each process refreshes its own Jupiter curves, but the calls share Jupiter's one rate
limit through the Redis rate limiter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

import live_updates
from models import db
from payloads import prices_json
from venue_state import load_pools

__all__ = ["price_snapshot", "publish_prices", "start_loops"]

log = logging.getLogger(__name__)


def price_snapshot(services: Any) -> dict[str, Any]:
    """The ``price_update`` body: ``GET /api/prices``'s, plus the time it was taken."""
    quotes = services.quotes
    found = quotes.prices(load_pools(db.session))  # pool-implied prices read the latest reserves
    body = prices_json(found, quotes.price_service.source_status(), quotes.clock())
    return {**body, "timestamp": body["asOf"]}


def publish_prices(app: Flask) -> None:
    """One ``price_update`` to the prices room (skipped if another web process just sent one)."""
    services = app.extensions["solroute"]
    interval = app.config["PRICE_POLL_S"]
    if services.redis is not None:
        lock = f"{app.config['REDIS_NAMESPACE']}:price-poll"
        if not services.redis.set(lock, "1", nx=True, px=max(100, int(interval * 900))):
            return
    with app.app_context():
        try:
            live_updates.publish_price_update(price_snapshot(services))
        finally:
            db.session.remove()


def _loop(name: str, stop: threading.Event, interval_s: float, step: Callable[[], object]) -> None:
    while not stop.is_set():
        try:
            step()
        except Exception:  # a background loop must outlive any one failure
            log.exception("%s failed", name)
        stop.wait(interval_s)


def start_loops(app: Flask) -> list[threading.Thread]:
    """Start the price and Jupiter loops of a web process."""
    services = app.extensions["solroute"]
    stop: threading.Event = services.stop_event
    loops: list[tuple[str, float, Callable[[], object]]] = []
    if app.config["PRICE_POLL_S"] > 0:
        loops.append(("price poll", app.config["PRICE_POLL_S"], lambda: publish_prices(app)))
    curves = services.quotes.jupiter_curves
    if curves is not None:
        max_rps = max(app.config["SOLROUTE_SETTINGS"].jupiter_max_rps, 1e-3)

        def refresh() -> None:
            if services.rate_limiter.acquire("jupiter", 0.0):
                curves.refresh_next()

        loops.append(("jupiter curves", 1.0 / max_rps, refresh))
    threads = []
    for name, interval, step in loops:
        thread = threading.Thread(
            target=_loop, args=(name, stop, interval, step), name=f"solroute-{name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads
