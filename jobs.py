"""Job functions, run by RQ workers or the in-process executor: take ids, load, decide, record, publish.

``execute_orders`` (a batch of new orders) and ``execute_order`` (one, on retry): pending →
quoting → routing → building (``execution.decide``) → submitted → confirmed by
``trade_logger.settle_orders``, which re-prices every leg under row locks. OTC legs settle after
the desk's settlement delay, by a delayed ``settle_order`` job, so no worker sleeps. Transient
faults (a Jupiter timeout, a lock timeout) retry with exponential backoff; business rejections
fail the order at once with the reason. ``recover_orders`` re-queues what a dead worker left.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask

import live_updates
from database import fault_name, is_transient_error
from errors import TransientError
from execution import Attempt, Deferred, Venues, decide
from execution_plan import ExecutionPlan
from executor import job_app
from models import FINAL_STATUSES, Order, OrderStatus, db
from services import get_services
from trade_logger import (
    Refusal,
    Settlement,
    Step,
    advance,
    claim_stale_orders,
    fail_order,
    settle_orders,
)

__all__ = ["execute_order", "execute_orders", "recover_orders", "settle_order"]

log = logging.getLogger(__name__)


def _retry_or_fail(app: Flask, attempt: Attempt, why: str) -> None:
    """A transient fault: store this attempt's steps with the reason, then retry with backoff."""
    if attempt.number >= app.config["ORDER_MAX_ATTEMPTS"]:
        _fail(attempt, "retries_exhausted", f"gave up after {attempt.number} attempts: {why}")
        return
    delay = app.config["ORDER_RETRY_BASE_S"] * 2 ** (attempt.number - 1) * (1 + random.random() * 0.25)
    log.info("order %s attempt %d: %s; retrying in %.2f s", attempt.order_id, attempt.number, why, delay)
    steps = attempt.steps or [Step(OrderStatus.QUOTING, f"attempt {attempt.number}")]
    last = steps[-1]
    steps[-1] = Step(last.status, f"{last.message}: {why}; retrying in {delay:.2f} s", last.at)
    live_updates.publish_events(advance(db.session, attempt.order_id, steps, attempt=attempt.number))
    get_services(app).executor.enqueue(
        "jobs.execute_order",
        attempt.order_id,
        attempt.number + 1,
        delay_s=delay,
        job_id=f"order-{attempt.order_id}-{attempt.number + 1}",
    )


def _fail(attempt: Attempt, code: str, message: str, route: Mapping[str, Any] | None = None) -> None:
    stored = fail_order(
        db.session,
        attempt.order_id,
        code,
        message,
        steps=attempt.steps,
        attempt=attempt.number,
        route=route,
    )
    live_updates.publish_events(stored)


def _guarded(app: Flask, attempt: Attempt, run: Callable[[], str]) -> str:
    """Run a step of an order: transient faults retry with backoff, anything unexpected fails it."""
    try:
        return run()
    except TransientError as exc:
        db.session.rollback()
        _retry_or_fail(app, attempt, str(exc))
        return "retrying"
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        if not is_transient_error(exc):
            return _internal_error(attempt, exc)
        _retry_or_fail(app, attempt, fault_name(exc))
        return "retrying"
    except Exception as exc:  # a bug: fail the order now rather than leave it for recovery
        db.session.rollback()
        return _internal_error(attempt, exc)


def _internal_error(attempt: Attempt, exc: Exception) -> str:
    """An unexpected error: logged with its traceback; the order fails and its hold is released."""
    log.exception("order %s attempt %d failed unexpectedly", attempt.order_id, attempt.number)
    _fail(attempt, "internal_error", f"internal error ({type(exc).__name__}); nothing was traded")
    return OrderStatus.FAILED


def _decide(
    app: Flask, order: Order, attempt: Attempt, venues: Venues, wait_s: float
) -> Settlement | Refusal | Deferred:
    return decide(
        get_services(app),
        order,
        attempt,
        venues,
        is_last_attempt=attempt.number >= app.config["ORDER_MAX_ATTEMPTS"],
        rate_limit_wait_s=wait_s,
    )


def _venues_now(app: Flask) -> Venues:
    return Venues.now(db.session, get_services(app), Decimal(app.config["OTC_SETTLEMENT_SCALE"]))


def execute_order(order_id: str, attempt: int = 1) -> str:
    """Run one order through its lifecycle; returns its status when this job is done with it."""
    with job_app() as app:
        current = Attempt(order_id, attempt)
        return _guarded(app, current, lambda: _execute(app, current))


def _execute(app: Flask, attempt: Attempt) -> str:
    """One order: decide in memory, then one transaction stores every step with the outcome."""
    order = db.session.get(Order, attempt.order_id)
    if order is None or order.status in FINAL_STATUSES:
        return "final"  # gone, or a duplicate or recovered job with nothing left to do
    decision = _decide(app, order, attempt, _venues_now(app), app.config["VENUE_RATE_LIMIT_WAIT_S"])
    if isinstance(decision, Refusal):
        _fail(attempt, decision.code, decision.message, decision.route)
        return OrderStatus.FAILED
    if isinstance(decision, Deferred):
        return _defer(app, attempt, decision)
    return _settle(app, [decision])


def _defer(app: Flask, attempt: Attempt, deferred: Deferred) -> str:
    stored = advance(
        db.session, attempt.order_id, attempt.steps, attempt=attempt.number, route=deferred.route
    )
    if stored is None:
        return "final"
    live_updates.publish_events(stored)
    get_services(app).executor.enqueue(
        "jobs.settle_order",
        attempt.order_id,
        attempt.number,
        delay_s=deferred.delay_s,
        job_id=f"settle-{attempt.order_id}-{attempt.number}",
    )
    return OrderStatus.SUBMITTED


def execute_orders(order_ids: list[str]) -> dict[str, str]:
    """Execute a batch of new orders: each routes in memory on the venues as the ones before it in
    the batch leave them, then one transaction settles them all (``trade_logger.settle_orders``
    re-prices each under lock and fails only the ones that no longer pay their minimum).

    Business rejections fail their order in that transaction. A transient fault of one order
    (Jupiter) retries that order alone; a transient database fault retries each order alone; an
    unexpected error re-runs each order alone (``execute_order``), so it fails only the order that
    causes it. In a batch no order waits for a rate-limit slot: without one it routes without that
    venue. Returns each order's outcome: its status, or ``retrying``, ``rerun`` or ``final``.
    """
    with job_app() as app:
        get_services(app).executor.orders_started(len(order_ids))
        wanted = list(dict.fromkeys(order_ids))
        found = {o.id: o for o in db.session.execute(sa.select(Order).where(Order.id.in_(wanted))).scalars()}
        orders = [found[i] for i in wanted if i in found and found[i].status not in FINAL_STATUSES]
        outcome = {i: "final" for i in wanted}  # gone or already final: nothing to do
        if not orders:
            return outcome
        attempts = {o.id: Attempt(o.id, o.attempts + 1) for o in orders}
        decided: list[Settlement | Refusal] = []
        venues = _venues_now(app)
        for order in orders:
            attempt = attempts[order.id]
            try:
                decision = _decide(app, order, attempt, venues, 0.0)
            except TransientError as exc:
                db.session.rollback()
                _retry_or_fail(app, attempt, str(exc))
                outcome[order.id] = "retrying"
                continue
            except Exception:
                log.exception("order %s: routing in a batch failed; re-running it alone", order.id)
                db.session.rollback()
                outcome[order.id] = _rerun(app, attempt)
                continue
            if isinstance(decision, Deferred):
                outcome[order.id] = _guarded(app, attempt, functools.partial(_defer, app, attempt, decision))
                continue
            decided.append(decision)
            if isinstance(decision, Settlement):
                venues = venues.after(decision.plan, order.token_out, time.time())
        if decided:
            outcome.update(_settle_batch(app, decided, attempts))
        return outcome


def _settle_batch(
    app: Flask, decided: list[Settlement | Refusal], attempts: dict[str, Attempt]
) -> dict[str, str]:
    """Settle a batch's decisions in one transaction; when it fails, each order retries or re-runs alone."""
    settlements = [d for d in decided if isinstance(d, Settlement)]
    refusals = [d for d in decided if isinstance(d, Refusal)]
    try:
        batch = settle_orders(db.session, settlements, refusals, now=time.time())
    except Exception as exc:
        db.session.rollback()
        if isinstance(exc, sa.exc.SQLAlchemyError) and is_transient_error(exc):
            for d in decided:
                _retry_or_fail(app, attempts[d.order_id], fault_name(exc))
            return {d.order_id: "retrying" for d in decided}
        log.exception("settling a batch of %d orders failed; re-running each alone", len(decided))
        return {d.order_id: _rerun(app, attempts[d.order_id]) for d in decided}
    live_updates.publish_batch(batch)
    outcome = {t.order_id: OrderStatus.CONFIRMED.value for t in batch.trades}
    outcome.update({f.order.id: OrderStatus.FAILED.value for f in batch.failed})
    return outcome


def _rerun(app: Flask, attempt: Attempt) -> str:
    """Hand an order of a failed batch to ``execute_order``, as the same attempt."""
    get_services(app).executor.enqueue(
        "jobs.execute_order",
        attempt.order_id,
        attempt.number,
        job_id=f"order-{attempt.order_id}-{attempt.number}-alone",
    )
    return "rerun"


def settle_order(order_id: str, attempt: int = 1) -> str:
    """Settle a submitted order whose OTC settlement delay has passed."""
    with job_app() as app:
        current = Attempt(order_id, attempt)

        def settle() -> str:
            order = db.session.get(Order, order_id)
            if order is None or order.status in FINAL_STATUSES:
                return "final" if order else "missing"
            plan = ExecutionPlan.from_json((order.route or {})["plan"])
            return _settle(app, [Settlement(order_id, plan, current.steps, current.number, None)])

        return _guarded(app, current, settle)


def _settle(app: Flask, settlements: list[Settlement]) -> str:
    """Settle in one transaction and publish; the status of the (first) order."""
    batch = settle_orders(db.session, settlements, now=time.time())
    live_updates.publish_batch(batch)
    if batch.trades:
        return OrderStatus.CONFIRMED
    if batch.failed:
        return OrderStatus.FAILED
    return "final"


def recover_orders(stale_after_s: float | None = None) -> dict[str, int]:
    """Re-queue (or, out of attempts, fail) orders left unfinished longer than ``stale_after_s``."""
    with job_app() as app:
        stale_after = app.config["ORDER_STALE_AFTER_S"] if stale_after_s is None else stale_after_s
        requeued = failed = 0
        for claimed in claim_stale_orders(db.session, stale_after_s=stale_after, now_s=time.time()):
            if claimed.attempts >= app.config["ORDER_MAX_ATTEMPTS"]:
                message = (
                    f"no worker finished this order after {claimed.attempts} attempts; nothing was traded"
                )
                _fail(Attempt(claimed.order_id, claimed.attempts), "abandoned", message)
                failed += 1
                continue
            log.warning("recovering order %s left in %s", claimed.order_id, claimed.status)
            get_services(app).executor.enqueue(
                "jobs.execute_order",
                claimed.order_id,
                claimed.attempts + 1,
                job_id=f"order-{claimed.order_id}-{claimed.attempts + 1}-recovered",
            )
            requeued += 1
        return {"requeued": requeued, "failed": failed}
