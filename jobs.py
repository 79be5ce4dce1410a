"""Job functions, run by RQ workers or the in-process executor: take ids, load, decide, record, publish.

``execute_orders`` (a batch of new orders) and ``execute_order`` (one, on retry): pending →
quoting → routing → building (``execution.decide``) → submitted → confirmed by
``trade_logger.settle_orders``, which re-prices every leg under row locks. OTC legs settle after
the desk's settlement delay, by a delayed ``settle_order`` job, so no worker sleeps. Transient
faults (a Jupiter timeout, a lock timeout) retry with exponential backoff; business rejections
fail the order at once with the reason. ``recover_orders`` re-queues what a dead worker left.

A TWAP parent's slices: ``run_twap_slice`` sends each as a child market order when it is due and
schedules the next; ``recover_twap_slices`` re-queues a slice whose job a restart lost.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask

import bots.manager as bot_manager
import live_updates
import market_history
import order_book
import twap
from amm.constant_product import BPS
from backtest_runs import expected_steps, fail, finish, plan_of, request_of_config
from backtesting import engine as backtest_engine
from backtesting.model import Progress, SyntheticConfig
from database import fault_name, is_transient_error
from errors import InsufficientLiquidityError, NoRouteError, SolrouteError, TransientError
from execution import Attempt, Deferred, Venues, decide
from execution_plan import ExecutionPlan
from executor import job_app
from market_history import stream_frames
from models import (
    FINAL_STATUSES,
    NOT_EXECUTABLE,
    RESTING_STATUSES,
    Backtest,
    BacktestStatus,
    Bot,
    Order,
    OrderStatus,
    db,
    utcnow,
)
from payloads import backtest_progress_json, dataset_progress_json
from risk_controls import trading_halt
from routing_engine import RouteResult, find_route
from services import get_services
from trade_logger import (
    ParentChange,
    Refusal,
    Settlement,
    Step,
    TriggerRequest,
    advance,
    claim_stale_orders,
    fail_order,
    settle_orders,
    start_twap_slice,
    trigger_orders,
    twap_slices_due,
)

__all__ = [
    "execute_order",
    "execute_orders",
    "generate_dataset",
    "recover_bots",
    "recover_orders",
    "recover_twap_slices",
    "run_backtest",
    "run_bot",
    "run_twap_slice",
    "settle_order",
    "watch_resting_orders",
]

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
    parents: list[ParentChange] = []  # a TWAP slice's parent, moved on in the same transaction
    stored = fail_order(
        db.session,
        attempt.order_id,
        code,
        message,
        steps=attempt.steps,
        attempt=attempt.number,
        parent_changes=parents,
        route=route,
    )
    live_updates.publish_events(stored)
    live_updates.publish_parents(parents)


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
    if order.status in RESTING_STATUSES:
        return "resting"  # waits for its price or its slices: not for the market path
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
        orders = [found[i] for i in wanted if i in found and found[i].status not in NOT_EXECUTABLE]
        outcome = {i: "final" for i in wanted}  # gone, final or resting: nothing to do
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
    if batch.trades:
        get_services(app).venues_moved.set()
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
        get_services(app).venues_moved.set()
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


# --- TWAP: each slice a child market order, at its time ------------------------------------------

# A slice due longer ago than this with no child yet lost its job (a restart): recovery re-queues it.
# Shorter would race the scheduler that is about to run it (harmless, but a wasted job).
TWAP_RECOVERY_GRACE_S = 2.0


def _twap_job_id(parent_id: str, index: int) -> str:
    return f"twap-{parent_id}-{index}"


def _slice_quote(app: Flask, parent: Order, amount_in: int) -> RouteResult | Refusal:
    """A fresh quote for one slice on the venues as the database has them now; a Refusal if none."""
    svc = get_services(app)
    venues = _venues_now(app)
    aggregator = svc.quotes.aggregator_quote(
        parent.token_in, parent.token_out, amount_in, parent.slippage_bps
    )
    market = svc.quotes.market_of(
        tuple(venues.pools.values()), tuple(venues.desks.values()), venues.usd_prices, aggregator
    )
    try:
        return find_route(
            market,
            parent.token_in,
            parent.token_out,
            amount_in,
            parent.strategy,
            parent.slippage_bps,
            svc.quotes.router_config,
        )
    except (NoRouteError, InsufficientLiquidityError) as exc:
        return Refusal(parent.id, exc.code, f"no route for this slice: {exc}")


def run_twap_slice(parent_id: str, index: int) -> str:
    """Send slice ``index`` of a TWAP parent as a child market order, then schedule the next slice.

    ``trade_logger.start_twap_slice`` does it under the parent's row lock only if the parent is
    still ``working`` and ``index`` slices went out before, so a duplicate or late job (a
    recovered one, a cancelled parent) does nothing. The child's minimum is a fresh quote less the
    parent's slippage; it goes to the market path like any new order (``jobs.execute_orders``).
    """
    with job_app() as app:
        parent = db.session.get(Order, parent_id)
        if parent is None or parent.status != OrderStatus.WORKING or parent.slices_sent != index:
            return "skipped"
        slices, interval_s, start = parent.slices or 0, parent.interval_s or 0.0, parent.created_at
        executor = get_services(app).executor
        early_s = (twap.slice_due(start, interval_s, index) - utcnow()).total_seconds()
        if early_s > 0.05:  # never expected (timers and RQ's scheduler are not early): wait for it
            executor.enqueue(
                "jobs.run_twap_slice",
                parent_id,
                index,
                delay_s=early_s,
                job_id=f"{_twap_job_id(parent_id, index)}-due",
            )
            return "early"
        halt = trading_halt(db.session)
        if halt.halted:  # a slice not yet sent is a new order: refused, and the parent follows onChildFailure
            why = f": {halt.reason}" if halt.reason else ""
            quoted: RouteResult | Refusal = Refusal(
                parent.id, "trading_halted", f"trading is halted by the operator{why}"
            )
        else:
            quoted = _slice_quote(app, parent, twap.slice_amount(parent.amount_in, slices, index))
        db.session.rollback()  # end the read: the slice is written under the parent's lock
        if isinstance(quoted, Refusal):
            started = start_twap_slice(
                db.session,
                parent_id,
                index,
                quoted_amount_out=0,
                min_amount_out=0,
                refusal=(quoted.code, quoted.message),
            )
        else:
            started = start_twap_slice(
                db.session,
                parent_id,
                index,
                quoted_amount_out=quoted.route.amount_out,
                min_amount_out=quoted.route.min_amount_out,
            )
        if started is None:
            return "skipped"
        live_updates.publish_events((started.child, list(started.child_events)))
        live_updates.publish_parents([started.parent])
        if started.is_pending:
            executor.enqueue_orders([started.child.id])  # the market path, as a new order
        if index + 1 < slices:
            # Scheduled even when this slice failed: the next job finds the parent stopped, or not.
            due = twap.slice_due(start, interval_s, index + 1)
            executor.enqueue(
                "jobs.run_twap_slice",
                parent_id,
                index + 1,
                delay_s=max(0.0, (due - utcnow()).total_seconds()),
                job_id=_twap_job_id(parent_id, index + 1),
            )
        return started.child.status


def recover_twap_slices(grace_s: float = TWAP_RECOVERY_GRACE_S) -> int:
    """Re-queue the next slice of working TWAP parents whose slice is overdue (a restart lost its
    job); the number re-queued. A job that still exists and runs too finds the slice sent: no-op."""
    with job_app() as app:
        due = twap_slices_due(db.session, before=utcnow() - timedelta(seconds=grace_s))
        for parent_id, index in due:
            log.warning("recovering slice %d of TWAP order %s", index, parent_id)
            get_services(app).executor.enqueue(
                "jobs.run_twap_slice", parent_id, index, job_id=_twap_job_id(parent_id, index)
            )
        return len(due)


# --- resting orders --------------------------------------------------------------------------------


def watch_resting_orders() -> dict[str, int]:
    """One tick of the resting-order watcher: evaluate every open order against the venues as the
    database has them now, then trigger and expire in one transaction, publish, and dispatch the
    triggered orders to the market path. Returns counts (open, triggered, expired, cancelled)."""
    with job_app() as app:
        services = get_services(app)
        book = services.resting_book.book(db.session, time.time())
        if not len(book):
            db.session.rollback()
            return {"open": 0, "triggered": 0, "expired": 0, "cancelled": 0}
        venues = _venues_now(app)
        # Our venues only: Jupiter is asked when an order executes, never per tick.
        market = services.quotes.market_of(
            tuple(venues.pools.values()),
            tuple(venues.desks.values()),
            venues.usd_prices,
            (None, "not asked while watching resting orders"),
        )
        config = services.quotes.router_config
        # While trading is halted nothing triggers (the orders stay open; expiry still runs).
        is_halted = trading_halt(db.session).halted

        def route_out(token_in: str, token_out: str, amount_in: int, strategy: str) -> int | None:
            try:
                return find_route(
                    market, token_in, token_out, amount_in, strategy, 0, config
                ).route.amount_out
            except SolrouteError:
                return None

        db.session.rollback()  # the reads are done: hold no snapshot while routing
        found = order_book.evaluate(book, order_book.Snapshot(market, time.time(), route_out))
        requests = []
        for t in () if is_halted else found.triggered:
            o = t.order
            if o.order_type is order_book.RestingType.LIMIT:
                requests.append(TriggerRequest(o.order_id, t.message, None, t.amount_out))
                continue
            out = route_out(o.token_in, o.token_out, o.amount_in, o.strategy)
            if out is None:
                continue  # no route now: it stays open and is looked at again next tick
            minimum = out * (BPS - o.slippage_bps) // BPS
            requests.append(TriggerRequest(o.order_id, t.message, minimum, out))
        if not requests and not found.expired:
            return {"open": len(book), "triggered": 0, "expired": 0, "cancelled": 0}
        changes = trigger_orders(db.session, requests, [o.order_id for o in found.expired])
        for stored in changes.stored:
            live_updates.publish_events(stored)
        for order_id in changes.triggered:
            services.dispatcher.submit(order_id)  # the market path from here on
        return {
            "open": len(book),
            "triggered": len(changes.triggered),
            "expired": len(changes.expired),
            "cancelled": len(changes.cancelled),
        }


# --- backtests and market history (README "Backtesting") -------------------------------------------

PROGRESS_EVERY_S = 0.5  # a run writes its progress and reads its cancel flag at most this often


class _RunTracker:
    """A run's ``progress`` and ``should_stop`` callbacks: throttled writes of the progress, reads of
    the cancel flag, and ``backtest_progress`` events to the owner's room. The engine calls them
    between frames, when ``market_history.stream_frames`` holds no transaction open."""

    def __init__(self, backtest_id: str, account_id: int, total: int) -> None:
        self.backtest_id, self.account_id, self.total = backtest_id, account_id, max(1, total)
        self._next_write = 0.0
        self._next_check = 0.0
        self._stop = False

    def progress(self, p: Progress) -> None:
        now = time.monotonic()
        if now < self._next_write:
            return
        self._next_write = now + PROGRESS_EVERY_S
        fraction = min(1.0, p.done / self.total)
        db.session.execute(
            sa.update(Backtest).where(Backtest.id == self.backtest_id).values(progress=fraction, steps=p.done)
        )
        db.session.commit()
        _publish_progress(self.account_id, self.backtest_id, "running", fraction, p.done, p.trades)

    def should_stop(self) -> bool:
        now = time.monotonic()
        if self._stop or now < self._next_check:
            return self._stop
        self._next_check = now + PROGRESS_EVERY_S
        flag = db.session.execute(
            sa.select(Backtest.cancel_requested).where(Backtest.id == self.backtest_id)
        ).scalar()
        db.session.rollback()
        self._stop = flag is None or bool(flag)  # deleted or cancelled
        return self._stop


def _publish_progress(
    account_id: int, backtest_id: str, status: str, progress: float, steps: int, trades: int
) -> None:
    live_updates.publish(
        "backtest_progress",
        backtest_progress_json(backtest_id, status, progress, steps, trades, time.time()),
        f"account:{account_id}",
    )


def run_backtest(backtest_id: str) -> str:
    """Run a stored backtest: stream its dataset's frames through ``backtesting.engine.run`` and
    store the result (metrics, series, trades in batches). Returns the run's final status."""
    with job_app() as app:
        backtest = db.session.get(Backtest, backtest_id)
        if backtest is None or backtest.status != BacktestStatus.PENDING:
            db.session.rollback()
            return "skipped"
        backtest.status = BacktestStatus.RUNNING
        backtest.started_at = utcnow()
        account_id = backtest.account_id
        db.session.commit()
        _publish_progress(account_id, backtest_id, "running", 0.0, 0, 0)
        try:
            plan = plan_of(request_of_config(backtest.config), backtest.start_at, backtest.end_at)
            backtest_engine.validate_plan(plan)
            quotes = get_services(app).quotes  # route exactly as this app's live orders do
            total = expected_steps(db.session, backtest)
            span_s = max(1.0, (backtest.end_at - backtest.start_at).total_seconds())
            chunk_s = span_s * CHUNK_FRAMES / max(1, total)  # about CHUNK_FRAMES frames per read
            tracker = _RunTracker(backtest_id, account_id, total)
            frames = stream_frames(
                db.session, backtest.dataset, backtest.start_at, backtest.end_at, chunk_s=chunk_s
            )
            result = backtest_engine.run(
                plan,
                frames,
                progress=tracker.progress,
                should_stop=tracker.should_stop,
                progress_every=200,
                router_config=quotes.router_config,
                latency=quotes.latency,
            )
        except Exception as exc:  # a run's failure is its own: recorded on the run, never retried
            log.exception("backtest %s failed", backtest_id)
            db.session.rollback()
            failed = db.session.get(Backtest, backtest_id, populate_existing=True)
            if failed is None:
                return "deleted"
            fail(failed, f"{type(exc).__name__}: {exc}")
            db.session.commit()
            _publish_progress(account_id, backtest_id, failed.status, failed.progress, failed.steps, 0)
            return failed.status
        db.session.rollback()
        done = db.session.get(Backtest, backtest_id, populate_existing=True)
        if done is None:
            return "deleted"
        finish(db.session, done, result)
        db.session.commit()
        _publish_progress(account_id, backtest_id, done.status, done.progress, done.steps, done.trade_count)
        return done.status


CHUNK_FRAMES = 2_000


def synthetic_config(options: Mapping[str, Any]) -> SyntheticConfig:
    """The generator's config from a job's JSON options (start epoch s, steps, stepS, seed, ...)."""
    extra: dict[str, Any] = {}
    if options.get("tokens"):
        extra["tokens"] = tuple(options["tokens"])
    if "poolNoiseBps" in options:
        extra["pool_noise_bps"] = float(options["poolNoiseBps"])
    if "arbFraction" in options:
        extra["arb_fraction"] = float(options["arbFraction"])
    return SyntheticConfig(
        start=float(options["start"]),
        steps=int(options["steps"]),
        step_s=int(options["stepS"]),
        seed=int(options["seed"]),
        volatility={k: float(v) for k, v in (options.get("volatility") or {}).items()},
        drift={k: float(v) for k, v in (options.get("drift") or {}).items()},
        **extra,
    )


def generate_dataset(job_id: str, account_id: int, dataset: str, options: dict[str, Any]) -> dict[str, Any]:
    """Generate a synthetic dataset (``market_history.generate_dataset``), with ``dataset_progress``
    events to the owner's room. Returns the frames and rows written and the rate."""
    with job_app():
        config = synthetic_config(options)
        started = time.monotonic()
        last = [0.0]

        def publish(status: str, frames: int, rows: int, error: str | None = None) -> None:
            elapsed = time.monotonic() - started
            fields = {
                "jobId": job_id,
                "dataset": dataset,
                "status": status,
                "frames": frames,
                "total": config.steps,
                "rows": rows,
                "rowsPerS": round(rows / elapsed, 1) if elapsed > 0 else None,
                "error": error,
            }
            live_updates.publish(
                "dataset_progress", dataset_progress_json(fields, time.time()), f"account:{account_id}"
            )

        def progress(frames: int, total: int, rows: int) -> None:
            if time.monotonic() - last[0] >= PROGRESS_EVERY_S:
                last[0] = time.monotonic()
                publish("running", frames, rows)

        try:
            rows = market_history.generate_dataset(db.session, dataset, config, progress=progress)
        except Exception as exc:
            log.exception("generating dataset %s failed", dataset)
            db.session.rollback()
            market_history.mark_failed(db.session, dataset)
            publish("failed", 0, 0, f"{type(exc).__name__}: {exc}")
            return {"dataset": dataset, "status": "failed"}
        publish("completed", config.steps, rows)
        elapsed = time.monotonic() - started
        return {
            "dataset": dataset,
            "status": "completed",
            "frames": config.steps,
            "rows": rows,
            "seconds": elapsed,
        }


# --- bots ----------------------------------------------------------------------------------------

BOT_RECOVERY_GRACE_S = 5.0


def run_bot(bot_id: str, run: int) -> str:
    """RQ job: run ``run`` of a bot (bots.manager.run_bot under its lease), publish its actions and
    queue the next run ``interval_s`` later (job id per bot and run). Without REDIS_URL the
    in-process scheduler (background.run_bots) runs bots instead."""
    with job_app():
        result = bot_manager.run_bot(db.session, bot_id, f"rq-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        bot_manager.publish_actions(db.session, bot_id, result.actions)
        if result.outcome != "busy" and result.state == "running":
            interval = db.session.execute(sa.select(Bot.interval_s).where(Bot.id == bot_id)).scalar_one()
            bot_manager.enqueue_run(bot_id, result.run + 1, delay_s=float(interval))
        log.debug("bot %s run %d: %s", bot_id, run, result.outcome)
        return result.outcome


def recover_bots(grace_s: float = BOT_RECOVERY_GRACE_S) -> int:
    """Re-queue the run of running bots overdue by ``grace_s`` (a restart lost their job); the count.
    A job that still exists runs too, finds the bot not due (or leased) and does nothing."""
    with job_app():
        overdue = bot_manager.overdue_bots(db.session, utcnow() - timedelta(seconds=grace_s))
        for bot_id, run in overdue:
            bot_manager.enqueue_run(bot_id, run)
        return len(overdue)
