"""Background loops: prices (``price_update``), Jupiter curves, maintenance (order recovery) and
the resting-order watcher (limit, stop-loss, take-profit, expiry; every RESTING_ORDERS_TICK_S).

Each loop runs on a daemon thread and sleeps on the services' stop event, so shutdown is prompt.
A web process publishes prices and refreshes its Jupiter curves (with several web processes only
one publishes prices per interval, under a Redis lock; the curve refreshes share Jupiter's one rate
limit through the Redis rate limiter). Maintenance runs in RQ workers (one worker per interval,
under a Redis lock) or, with no Redis, in the web process that runs the jobs; so do the watcher,
the market-history recorder (record_history: live prices, pools and desks; retention) and the
bot scheduler (``run_bots``: due bots every BOT_POLL_S; with Redis each bot's run is an RQ job
that queues the next, jobs.run_bot).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask

import bots.manager as bot_manager
import jobs
import live_updates
import market_history
from models import db, utcnow
from payloads import price_update_json
from services import Services, get_services
from venue_state import load_desks, load_pools

__all__ = [
    "price_snapshot",
    "publish_prices",
    "record_history",
    "run_bots",
    "run_maintenance",
    "start",
    "start_loops",
    "watch_resting",
]

log = logging.getLogger(__name__)


def price_snapshot(services: Services) -> dict[str, Any]:
    """The ``price_update`` body: ``GET /api/prices``'s, plus the time it was taken."""
    quotes = services.quotes
    found = quotes.prices(load_pools(db.session))  # pool-implied prices read the latest reserves
    return price_update_json(found, quotes.price_service.source_status(), quotes.clock())


def _is_mine(services: Services, name: str, ttl_s: float) -> bool:
    """True if this process takes this interval's turn at ``name`` (always, without Redis)."""
    if services.redis is None:
        return True
    return bool(services.redis.set(name, "1", nx=True, px=max(100, int(ttl_s * 1000))))


def publish_prices(app: Flask) -> None:
    """One ``price_update`` to the prices room (skipped if another web process just sent one)."""
    services = get_services(app)
    interval = app.config["PRICE_POLL_S"]
    if not _is_mine(services, f"{app.config['REDIS_NAMESPACE']}:price-poll", interval * 0.9):
        return
    with app.app_context():
        try:
            live_updates.publish_price_update(price_snapshot(services))
        finally:
            db.session.remove()


def maintain(app: Flask) -> dict[str, int] | None:
    """One maintenance pass: recover orders a dead worker left; None if another process just did."""
    interval = app.config["RECOVERY_INTERVAL_S"]
    if not _is_mine(get_services(app), f"{app.config['REDIS_NAMESPACE']}:maintenance", max(1.0, interval)):
        return None
    with app.app_context():
        result = jobs.recover_orders()
        slices = jobs.recover_twap_slices()  # TWAP slices whose scheduled job a restart lost
        if app.config.get("REDIS_URL"):
            bots = jobs.recover_bots()  # bots whose next run's job a restart lost (RQ only)
            if bots:
                log.warning("recovery: re-queued the run of %d overdue bot(s)", bots)
    if any(result.values()):
        log.warning("recovery: %s", result)
    if slices:
        log.warning("recovery: re-queued %d overdue TWAP slice(s)", slices)
    return result


def watch_resting(app: Flask) -> dict[str, int] | None:
    """One tick of the resting-order watcher (jobs.watch_resting_orders); None if another process
    took this tick. Two watchers at once would still trigger each order once (compare-and-set)."""
    tick = app.config["RESTING_ORDERS_TICK_S"]
    if not _is_mine(get_services(app), f"{app.config['REDIS_NAMESPACE']}:resting-orders", tick * 0.9):
        return None
    with app.app_context():
        result = jobs.watch_resting_orders()
    if result["triggered"] or result["expired"]:
        log.info("resting orders: %s", result)
    return result


def record_history(app: Flask) -> int | None:
    """One tick of the market-history recorder: a live snapshot (every token's price with its
    source, every pool's reserves, every desk's mid and inventory) when one is due (every
    HISTORY_INTERVAL_S, or after trades but at most once per HISTORY_MIN_GAP_S: trades coalesce),
    then retention. Rows written; None if another process took this tick."""
    config = app.config
    services = get_services(app)
    if not _is_mine(services, f"{config['REDIS_NAMESPACE']}:history", config["HISTORY_MIN_GAP_S"] * 0.9):
        return None
    with app.app_context():
        try:
            now = utcnow()
            due = market_history.is_snapshot_due(
                db.session,
                now,
                interval_s=config["HISTORY_INTERVAL_S"],
                min_gap_s=config["HISTORY_MIN_GAP_S"],
            )
            if not due:
                db.session.rollback()
                return 0
            pools = load_pools(db.session)
            desks = load_desks(db.session)
            prices = services.quotes.prices(pools)
            written = market_history.record_live(db.session, now, prices, pools, desks)
            if config["HISTORY_RETENTION_DAYS"] > 0:
                market_history.prune(db.session, now - timedelta(days=config["HISTORY_RETENTION_DAYS"]))
            db.session.commit()
            return written
        finally:
            db.session.remove()


def run_bots(app: Flask, runner: str | None = None) -> dict[str, int]:
    """One pass of the in-process bot scheduler (no REDIS_URL): run every due bot once, under its
    lease (two schedulers at once run each bot once); counts of outcomes."""
    runner = runner or f"loop-{os.getpid()}-{threading.get_ident()}"
    counts: dict[str, int] = {}
    with app.app_context():
        try:
            for bot_id in bot_manager.due_bot_ids(db.session, utcnow()):
                result = bot_manager.run_bot(db.session, bot_id, runner)
                bot_manager.publish_actions(db.session, bot_id, result.actions)
                counts[result.outcome] = counts.get(result.outcome, 0) + 1
        finally:
            db.session.remove()
    return counts


def _loop(name: str, stop: threading.Event, interval_s: float, step: Callable[[], object]) -> None:
    while not stop.is_set():
        try:
            step()
        except Exception:  # a background loop must outlive any one failure
            log.exception("%s failed", name)
        stop.wait(interval_s)


_WOKEN_MIN_GAP_S = 0.2


def _woken_loop(
    name: str, stop: threading.Event, wake: threading.Event, interval_s: float, step: Callable[[], object]
) -> None:
    """``_loop`` that also runs as soon as ``wake`` is set, but never more often than every
    ``_WOKEN_MIN_GAP_S`` (a burst of trades wakes it once)."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            step()
        except Exception:
            log.exception("%s failed", name)
        stop.wait(max(0.0, min(_WOKEN_MIN_GAP_S, interval_s) - (time.monotonic() - started)))
        wake.wait(interval_s)
        wake.clear()


def _start(
    name: str,
    services: Services,
    interval_s: float,
    step: Callable[[], object],
    wake: threading.Event | None = None,
) -> threading.Thread:
    target, args = (
        (_loop, (name, services.stop_event, interval_s, step))
        if wake is None
        else (_woken_loop, (name, services.stop_event, wake, interval_s, step))
    )
    thread = threading.Thread(target=target, args=args, name=f"solroute-{name}", daemon=True)
    thread.start()
    services.threads.append(thread)
    return thread


def start_loops(app: Flask) -> list[threading.Thread]:
    """Start the price and Jupiter loops of a web process."""
    services = get_services(app)
    threads = []
    if app.config["PRICE_POLL_S"] > 0:
        threads.append(
            _start("price poll", services, app.config["PRICE_POLL_S"], lambda: publish_prices(app))
        )
    curves = services.quotes.jupiter_curves
    if curves is not None:
        max_rps = max(app.config["SOLROUTE_SETTINGS"].jupiter_max_rps, 1e-3)

        # Each refresh passes Jupiter's rate limit inside the client (shared with execution).
        threads.append(_start("jupiter curves", services, 1.0 / max_rps, curves.refresh_next))
    return threads


def run_maintenance(app: Flask) -> threading.Thread:
    """Start the maintenance loop (order recovery every RECOVERY_INTERVAL_S), the resting-order
    watcher (every RESTING_ORDERS_TICK_S, and right after this process settles trades) and the
    market-history recorder (record_history); returns the maintenance thread."""
    services = get_services(app)
    tick = app.config["RESTING_ORDERS_TICK_S"]
    if tick > 0:
        # Every tick, and at once when this process settles trades (they move the venues).
        _start("resting orders", services, tick, lambda: watch_resting(app), wake=services.venues_moved)
    if app.config["HISTORY_INTERVAL_S"] > 0:
        gap = max(0.1, min(app.config["HISTORY_MIN_GAP_S"], app.config["HISTORY_INTERVAL_S"]))
        _start("market history", services, gap, lambda: record_history(app))
    return _start("maintenance", services, app.config["RECOVERY_INTERVAL_S"], lambda: maintain(app))


def start(app: Flask) -> None:
    """Start a serving process's background threads (wsgi.py calls this; CLI commands do not).

    Every web process publishes prices and refreshes Jupiter curves; with no REDIS_URL it also
    runs maintenance, which RQ workers do otherwise.
    """
    start_loops(app)
    if not app.config.get("REDIS_URL") and app.config["MAINTENANCE_THREAD"]:
        run_maintenance(app)
        if app.config["BOT_POLL_S"] > 0:  # with Redis, bots run as RQ jobs in the workers
            _start("bots", get_services(app), app.config["BOT_POLL_S"], lambda: run_bots(app))
