"""Job functions, run by RQ workers or the in-process executor: take ids, load, decide, record, publish.

``execute_order``: pending → quoting (fresh prices, a fresh Jupiter quote within its rate limit)
→ routing (the order's strategy on current pools and desks) → building (the plan, checked against
``minAmountOut``) → submitted → confirmed by ``trade_logger.settle_orders``, which re-prices every
leg under row locks. OTC legs settle after the desk's settlement delay, by a delayed
``settle_order`` job, so no worker sleeps. Transient faults (a Jupiter timeout, a lock timeout)
retry with exponential backoff; business rejections fail the order at once with the reason.

``recover_orders`` finds orders a dead worker left behind and re-queues or fails them.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context

import live_updates
from amm import Pool
from errors import InsufficientLiquidityError, NoRouteError, SolrouteError
from jupiter_api import JupiterError
from models import FINAL_STATUSES, AmmPool, Order, OrderStatus, SystemMetrics, db, utcnow
from otc_engine import Desk
from payloads import desk_update_json, pool_update_json, trade_executed_json
from routing_engine import AggregatorQuote, Market, RouteResult, find_route
from tokens import format_amount
from trade_logger import (
    ExecutionPlan,
    Refusal,
    SettledBatch,
    Settlement,
    SlippageExceededError,
    Step,
    StoredEvent,
    advance,
    fail_order,
    plan_from_route,
    reprice_plan,
    settle_orders,
)
from venue_state import load_desks, load_pools

__all__ = [
    "TransientError",
    "execute_order",
    "execute_orders",
    "record_metrics",
    "recover_orders",
    "settle_order",
]

log = logging.getLogger(__name__)

_worker_app: Flask | None = None


class TransientError(SolrouteError):
    """A fault worth retrying (timeouts, lock contention); never a business rejection."""

    code = "transient"


@contextmanager
def job_context() -> Iterator[Flask]:
    """The app context a job runs in: the executor's, or the worker process's own app."""
    global _worker_app
    if has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            yield app
        finally:
            db.session.remove()
        return
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app(role="worker")
    with _worker_app.app_context():
        try:
            yield _worker_app
        finally:
            db.session.remove()


def _services(app: Flask) -> Any:
    return app.extensions["solroute"]


def _is_transient_db_error(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.OperationalError):
        return True  # lock timeouts, "database is locked", dropped connections
    code = getattr(getattr(exc, "orig", None), "pgcode", None)
    return code in ("40001", "40P01", "55P03")  # serialization failure, deadlock, lock not available


class _Attempt:
    """The steps one attempt has taken so far: stored by whichever write ends the attempt."""

    def __init__(self, order_id: str, number: int) -> None:
        self.order_id = order_id
        self.number = number
        self.steps: list[Step] = []

    def step(self, status: OrderStatus, message: str) -> None:
        self.steps.append(Step(status, message))


def _retry_or_fail(app: Flask, attempt: _Attempt, why: str) -> None:
    """A transient fault: store this attempt's steps with the reason, then retry with backoff."""
    svc = _services(app)
    if attempt.number >= app.config["ORDER_MAX_ATTEMPTS"]:
        _fail(attempt, "retries_exhausted", f"gave up after {attempt.number} attempts: {why}")
        return
    delay = app.config["ORDER_RETRY_BASE_S"] * 2 ** (attempt.number - 1) * (1 + random.random() * 0.25)
    log.info("order %s attempt %d: %s; retrying in %.2f s", attempt.order_id, attempt.number, why, delay)
    steps = attempt.steps or [Step(OrderStatus.QUOTING, f"attempt {attempt.number}")]
    last = steps[-1]
    steps[-1] = Step(last.status, f"{last.message}: {why}; retrying in {delay:.2f} s", last.at)
    stored = advance(db.session, attempt.order_id, steps, attempt=attempt.number)
    if stored is not None:
        _publish_events(*stored)
    svc.executor.enqueue(
        "jobs.execute_order",
        attempt.order_id,
        attempt.number + 1,
        delay_s=delay,
        job_id=f"order-{attempt.order_id}-{attempt.number + 1}",
    )


def _fail(attempt: _Attempt, code: str, message: str) -> None:
    stored = fail_order(
        db.session, attempt.order_id, code, message, steps=attempt.steps, attempt=attempt.number
    )
    if stored is not None:
        _publish_events(*stored)


def _guarded(app: Flask, attempt: _Attempt, run: Callable[[], str]) -> str:
    """Run a step of an order: transient faults retry with backoff, anything unexpected fails it."""
    try:
        return run()
    except TransientError as exc:
        db.session.rollback()
        _retry_or_fail(app, attempt, str(exc))
        return "retrying"
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        if not _is_transient_db_error(exc):
            return _internal_error(attempt, exc)
        _retry_or_fail(app, attempt, f"database: {type(getattr(exc, 'orig', None) or exc).__name__}")
        return "retrying"
    except Exception as exc:  # a bug: fail the order now rather than leave it for recovery
        db.session.rollback()
        return _internal_error(attempt, exc)


def _internal_error(attempt: _Attempt, exc: Exception) -> str:
    """An unexpected error: logged with its traceback; the order fails and its hold is released."""
    log.exception("order %s attempt %d failed unexpectedly", attempt.order_id, attempt.number)
    _fail(attempt, "internal_error", f"internal error ({type(exc).__name__}); nothing was traded")
    return OrderStatus.FAILED


def _publish_events(order: Order, events: list[StoredEvent]) -> None:
    """One ``order_update`` per committed step, in order, each with its ``seq``."""
    with live_updates.publishing() as out:
        for event in events:
            out.order_update(order, event)


def _aggregator_at_execution(
    app: Flask, order: Order, attempt: int, wait_s: float
) -> tuple[AggregatorQuote | None, str | None]:
    """A fresh Jupiter quote for this order, within Jupiter's rate limit; None with the reason if not.

    A transient fault (timeout, 5xx) retries the order while attempts remain; on the last
    attempt the order routes without Jupiter rather than fail.
    """
    svc = _services(app)
    if svc.quotes.jupiter is None:
        return None, "disabled"
    if not svc.rate_limiter.acquire("jupiter", wait_s):
        return None, "rate limited at execution"
    last_attempt = attempt >= app.config["ORDER_MAX_ATTEMPTS"]
    try:
        return svc.quotes.ask_jupiter(  # type: ignore[no-any-return]
            order.token_in,
            order.token_out,
            order.amount_in,
            order.slippage_bps,
            raise_transient=not last_attempt,
        )
    except JupiterError as exc:
        raise TransientError(f"Jupiter: {exc}") from exc


def _limited_venues(app: Flask, venues: set[str]) -> set[str]:
    """The venues among ``venues`` whose rate limit has no slot within the configured wait."""
    svc = _services(app)
    wait = app.config["VENUE_RATE_LIMIT_WAIT_S"]
    return {v for v in sorted(venues) if not svc.rate_limiter.acquire(v, wait)}


def _without(market: Market, venues: set[str]) -> Market:
    return Market(
        tuple(p for p in market.pools if p.venue.lower() not in venues),
        tuple(d for d in market.desks if d.name.lower() not in venues),
        market.usd_prices,
        market.now,
        aggregator=market.aggregator,
        aggregator_unavailable=market.aggregator_unavailable,
        latency=market.latency,
    )


def execute_order(order_id: str, attempt: int = 1) -> str:
    """Run one order through its lifecycle; returns its status when this job is done with it."""
    with job_context() as app:
        current = _Attempt(order_id, attempt)
        return _guarded(app, current, lambda: _execute(app, current))


@dataclass(frozen=True)
class _Venues:
    """The pools and desks an order routes on, and the USD prices read off them."""

    pools: dict[str, Pool]
    desks: dict[str, Desk]
    usd_prices: dict[str, Decimal]

    @classmethod
    def now(cls, app: Flask) -> _Venues:
        """The venues as the database has them now (never the web's quote snapshot: in-process jobs
        share the web's services, and routing on a snapshot up to VENUE_CACHE_S old would miss the
        trades settled since)."""
        svc = _services(app)
        pools = load_pools(db.session)
        desks = load_desks(db.session, Decimal(app.config["OTC_SETTLEMENT_SCALE"]))
        prices = svc.quotes.prices(pools)
        return cls(
            {p.pool_id: p for p in pools},
            {d.desk_id: d for d in desks},
            {s: q.price_usd for s, q in prices.items()},
        )

    def market(self, app: Flask, aggregator: tuple[AggregatorQuote | None, str | None]) -> Market:
        return _services(app).quotes.market_of(  # type: ignore[no-any-return]
            tuple(self.pools.values()), tuple(self.desks.values()), self.usd_prices, aggregator
        )

    def after(self, plan: ExecutionPlan, token_out: str, now: float) -> _Venues:
        """The venues once ``plan`` has traded on them (what the next order of a batch routes on)."""
        pools, desks = dict(self.pools), dict(self.desks)
        try:
            reprice_plan(plan, token_out, pools, desks, self.usd_prices, now)
        except SolrouteError:  # settling will refuse it under lock; route the rest as before it
            return self
        return _Venues(pools, desks, self.usd_prices)


@dataclass(frozen=True)
class _Deferred:
    """An order with an OTC leg: it commits ``submitted`` now and settles after the desk's delay."""

    route: dict[str, Any]
    delay_s: float


def _decide(
    app: Flask, order: Order, attempt: _Attempt, venues: _Venues, *, jupiter_wait_s: float
) -> Settlement | Refusal | _Deferred:
    """Quote, route and build one order in memory: settle it now, refuse it, or defer it (OTC)."""
    svc = _services(app)
    attempt.step(OrderStatus.QUOTING, f"quoting every venue (attempt {attempt.number})")
    market = venues.market(app, _aggregator_at_execution(app, order, attempt.number, jupiter_wait_s))

    def route_on(candidates: Market) -> RouteResult:
        return find_route(
            candidates,
            order.token_in,
            order.token_out,
            order.amount_in,
            order.strategy,
            order.slippage_bps,
            svc.quotes.router_config,
        )

    try:
        result = route_on(market)
        limited = _limited_venues(
            app, {leg.venue.lower() for leg in result.route.legs if leg.kind.value != "aggregator"}
        )
        if limited:  # route around the venues whose rate limit has no slot now
            result = route_on(_without(market, limited))
    except (NoRouteError, InsufficientLiquidityError) as exc:
        return Refusal(order.id, exc.code, f"no route at execution: {exc}", attempt.steps, attempt.number)
    route = result.route
    names = ", ".join(sorted({leg.venue for leg in route.legs}))
    attempt.step(OrderStatus.ROUTING, f"{route.strategy.value}: {len(route.legs)} leg(s) via {names}")
    if route.amount_out < order.min_amount_out:
        return Refusal(
            order.id,
            SlippageExceededError.code,
            f"market moved: best route now pays "
            f"{format_amount(order.token_out, route.amount_out)} {order.token_out}, "
            f"below the minimum of {format_amount(order.token_out, order.min_amount_out)} {order.token_out} "
            f"({order.slippage_bps} bps tolerance); nothing was traded",
            attempt.steps,
            attempt.number,
        )
    desk_delays = {d.desk_id: float(d.settlement_delay_s) for d in market.desks}
    delay = max(
        (desk_delays.get(leg.venue_id, 0.0) for leg in route.legs if leg.kind.value == "otc"), default=0.0
    )
    plan = plan_from_route(result, order.min_amount_out, market.usd_prices, settlement_delay_s=delay)
    attempt.step(
        OrderStatus.BUILDING,
        f"plan pays {format_amount(order.token_out, route.amount_out)} {order.token_out}, "
        f"minimum {format_amount(order.token_out, order.min_amount_out)}",
    )
    stored_route = {"plan": plan.to_json(), "settle_at": time.time() + delay}
    if delay > 0:
        attempt.step(OrderStatus.SUBMITTED, f"submitted; OTC settlement in {delay:g} s")
        return _Deferred(stored_route, delay)
    attempt.step(OrderStatus.SUBMITTED, "submitted")
    return Settlement(order.id, plan, attempt.steps, attempt.number, stored_route)


def _execute(app: Flask, attempt: _Attempt) -> str:
    """One order: decide in memory, then one transaction stores every step with the outcome."""
    order = db.session.get(Order, attempt.order_id)
    if order is None or order.status in FINAL_STATUSES:
        return "final"  # gone, or a duplicate or recovered job with nothing left to do
    decision = _decide(
        app, order, attempt, _Venues.now(app), jupiter_wait_s=app.config["VENUE_RATE_LIMIT_WAIT_S"]
    )
    if isinstance(decision, Refusal):
        _fail(attempt, decision.code, decision.message)
        return OrderStatus.FAILED
    if isinstance(decision, _Deferred):
        return _defer(app, attempt, decision)
    return _settle(app, [decision])


def _defer(app: Flask, attempt: _Attempt, deferred: _Deferred) -> str:
    stored = advance(
        db.session, attempt.order_id, attempt.steps, attempt=attempt.number, route=deferred.route
    )
    if stored is None:
        return "final"
    _publish_events(*stored)
    _services(app).executor.enqueue(
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
    with job_context() as app:
        _services(app).executor.orders_started(len(order_ids))
        wanted = list(dict.fromkeys(order_ids))
        found = {o.id: o for o in db.session.execute(sa.select(Order).where(Order.id.in_(wanted))).scalars()}
        orders = [found[i] for i in wanted if i in found and found[i].status not in FINAL_STATUSES]
        outcome = {i: "final" for i in wanted}  # gone or already final: nothing to do
        if not orders:
            return outcome
        attempts = {o.id: _Attempt(o.id, o.attempts + 1) for o in orders}
        settlements: list[Settlement] = []
        refusals: list[Refusal] = []
        venues = _Venues.now(app)
        for order in orders:
            attempt = attempts[order.id]
            try:
                decision = _decide(app, order, attempt, venues, jupiter_wait_s=0.0)
            except TransientError as exc:
                db.session.rollback()
                _retry_or_fail(app, attempt, str(exc))
                outcome[order.id] = "retrying"
                continue
            except Exception:
                log.exception("order %s: routing in a batch failed; re-running it alone", order.id)
                db.session.rollback()
                _rerun(app, attempt)
                outcome[order.id] = "rerun"
                continue
            if isinstance(decision, Refusal):
                refusals.append(decision)
            elif isinstance(decision, _Deferred):
                outcome[order.id] = _guarded(app, attempt, functools.partial(_defer, app, attempt, decision))
            else:
                settlements.append(decision)
                venues = venues.after(decision.plan, order.token_out, time.time())
        decided = [s.order_id for s in settlements] + [r.order_id for r in refusals]
        if not decided:
            return outcome
        try:
            batch = settle_orders(db.session, settlements, refusals, now=time.time())
        except sa.exc.SQLAlchemyError as exc:
            db.session.rollback()
            why = f"database: {type(getattr(exc, 'orig', None) or exc).__name__}"
            transient = _is_transient_db_error(exc)
            if not transient:
                log.exception("settling a batch of %d orders failed; re-running each alone", len(orders))
            for order_id in decided:
                if transient:
                    _retry_or_fail(app, attempts[order_id], why)
                else:
                    _rerun(app, attempts[order_id])
                outcome[order_id] = "retrying" if transient else "rerun"
            return outcome
        except Exception:
            db.session.rollback()
            log.exception("settling a batch of %d orders failed; re-running each alone", len(orders))
            for order_id in decided:
                _rerun(app, attempts[order_id])
                outcome[order_id] = "rerun"
            return outcome
        _publish_batch(batch)
        outcome.update({t.order_id: OrderStatus.CONFIRMED.value for t in batch.trades})
        outcome.update({f.order.id: OrderStatus.FAILED.value for f in batch.failed})
        return outcome


def _rerun(app: Flask, attempt: _Attempt) -> None:
    """Hand an order of a failed batch to ``execute_order``, as the same attempt."""
    _services(app).executor.enqueue(
        "jobs.execute_order",
        attempt.order_id,
        attempt.number,
        job_id=f"order-{attempt.order_id}-{attempt.number}-alone",
    )


def settle_order(order_id: str, attempt: int = 1) -> str:
    """Settle a submitted order whose OTC settlement delay has passed."""
    with job_context() as app:
        current = _Attempt(order_id, attempt)

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
    _publish_batch(batch)
    if batch.trades:
        return OrderStatus.CONFIRMED
    if batch.failed:
        return OrderStatus.FAILED
    return "final"


def _publish_batch(batch: SettledBatch) -> None:
    """Every committed step, trade and venue change of a settled batch, over Socket.IO."""
    with live_updates.publishing() as out:
        for recorded in batch.trades:
            order = recorded.order
            for event in recorded.events:
                out.order_update(order, event, fills=recorded.fills)
            out.trade_executed(trade_executed_json(recorded))
        for failed in batch.failed:
            for event in failed.events:
                out.order_update(failed.order, event)
        for pool in batch.pools:
            out.pool_update(pool_update_json(pool))
        for desk in batch.desks:
            out.pool_update(desk_update_json(desk))


# --- recovery and metrics -----------------------------------------------------------------------


def recover_orders(stale_after_s: float | None = None) -> dict[str, int]:
    """Re-queue (or, out of attempts, fail) orders left unfinished longer than ``stale_after_s``."""
    with job_context() as app:
        svc = _services(app)
        stale_after = app.config["ORDER_STALE_AFTER_S"] if stale_after_s is None else stale_after_s
        now = utcnow()
        cutoff = now - timedelta(seconds=stale_after)
        rows = db.session.execute(
            sa.select(Order.id, Order.status, Order.attempts, Order.route)
            .where(Order.status.not_in([s.value for s in FINAL_STATUSES]), Order.updated_at < cutoff)
            .order_by(Order.created_at)
            .limit(500)
        ).all()
        requeued = failed = 0
        for order_id, status, attempts, route in rows:
            settle_at = (route or {}).get("settle_at")
            if status == OrderStatus.SUBMITTED and settle_at and time.time() < settle_at + stale_after:
                continue  # waiting for its OTC settlement, not stuck
            # A row another transaction holds is being worked on, not abandoned: skip it, never wait.
            live = db.session.execute(
                sa.select(Order.id)
                .where(Order.id == order_id, Order.updated_at < cutoff)
                .with_for_update(skip_locked=True)
            ).first()
            if live is None:
                db.session.rollback()
                continue
            # Claim it (compare-and-set on updated_at) so two recoverers never both re-queue it.
            result = db.session.execute(
                sa.update(Order)
                .where(Order.id == order_id, Order.updated_at < cutoff)
                # Counting the recovery as an attempt bounds an order that kills every worker.
                .values(updated_at=utcnow(), attempts=Order.attempts + 1)
            )
            claimed = result.rowcount if isinstance(result, sa.CursorResult) else 0
            db.session.commit()
            if not claimed:
                continue
            if attempts >= app.config["ORDER_MAX_ATTEMPTS"]:
                _fail(
                    _Attempt(order_id, attempts),
                    "abandoned",
                    f"no worker finished this order after {attempts} attempts; nothing was traded",
                )
                failed += 1
            else:
                log.warning("recovering order %s left in %s", order_id, status)
                svc.executor.enqueue(
                    "jobs.execute_order",
                    order_id,
                    attempts + 1,
                    job_id=f"order-{order_id}-{attempts + 1}-recovered",
                )
                requeued += 1
        return {"requeued": requeued, "failed": failed}


def record_metrics() -> None:
    """Append a point of each dashboard time series (queue depth, open orders, reserves' value)."""
    with job_context() as app:
        svc = _services(app)
        now = utcnow()
        open_orders = db.session.execute(
            sa.select(sa.func.count())
            .select_from(Order)
            .where(Order.status.not_in([s.value for s in FINAL_STATUSES]))
        ).scalar_one()
        confirmed = db.session.execute(
            sa.select(sa.func.count()).select_from(Order).where(Order.status == OrderStatus.CONFIRMED)
        ).scalar_one()
        pools = db.session.execute(sa.select(sa.func.count()).select_from(AmmPool)).scalar_one()
        points: list[tuple[str, float]] = [
            ("queue_depth", float(svc.executor.queue_depth())),
            ("open_orders", float(open_orders)),
            ("confirmed_orders", float(confirmed)),
            ("amm_pools", float(pools)),
        ]
        db.session.add_all(SystemMetrics(name=n, value=v, recorded_at=now) for n, v in points)
        db.session.commit()


def run_maintenance(app: Flask, stop: Callable[[], bool], interval_s: float) -> None:
    """Loop: recover stuck orders and record metrics every ``interval_s`` until ``stop()``."""
    while not stop():
        try:
            with app.app_context():
                recover_orders()
                record_metrics()
        except Exception:
            log.exception("maintenance pass failed")
        deadline = time.monotonic() + interval_s
        while not stop() and time.monotonic() < deadline:
            time.sleep(min(0.5, interval_s))
