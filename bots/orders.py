"""How a bot places an order: the API's intake for a market or TWAP order, minus the HTTP.

The same steps as ``POST /api/orders/execute`` (views/api.py ``_accept_market``/``_accept_twap``):
quote on the venues, the account's risk limits (``risk.check_order``), ``trade_logger.create_order``
(the one write path: the hold and the order in one statement), then the services' dispatcher (or
the TWAP's first slice job). The idempotency key is the bot's id, run number and intent index, and
the request digest is built from the same three: a re-run of a run (a runner died after placing,
before recording) gets the first run's order back instead of a second one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import twap
from bots.base import Intent
from errors import MinAmountOutUnreachableError, RiskLimitError, ValidationError
from models import DbSession, OrderStatus, utcnow
from pnl import trade_value_usd
from risk import OrderRisk, check_order
from risk_controls import order_risk_state
from services import get_services
from trade_logger import create_order, request_hash

__all__ = ["BOT_SLIPPAGE_BPS", "BOT_STRATEGY", "PlacedOrder", "idempotency_key", "place"]

log = logging.getLogger(__name__)

BOT_STRATEGY = "OPTIMAL_SPLIT"
BOT_SLIPPAGE_BPS = 100


@dataclass(frozen=True)
class PlacedOrder:
    order_id: str
    created: bool  # False: this run's order already existed (a re-run)
    quoted_amount_out: int


def idempotency_key(bot_id: str, run: int, index: int) -> str:
    """The order's Idempotency-Key: one per bot, run and intent."""
    return f"bot:{bot_id}:{run}:{index}"


def place(session: DbSession, account_id: int, intent: Intent, key: str) -> PlacedOrder:
    """Place ``intent`` from ``account_id``; SolrouteError (no route, balance, risk limit) if refused."""
    svc = get_services()
    digest = request_hash({"idempotencyKey": key})
    is_twap = intent.order_type == "twap"
    if is_twap:
        assert intent.slices is not None and intent.interval_s is not None
        twap.check_schedule(intent.amount_in, intent.slices, intent.interval_s)
        size = twap.slice_amount(intent.amount_in, intent.slices, intent.slices - 1)
    else:
        size = intent.amount_in
    quoted = svc.quotes.quote_units(intent.token_in, intent.token_out, size, BOT_STRATEGY, BOT_SLIPPAGE_BPS)
    route = quoted.result.route
    if route.amount_out <= 0 or route.min_amount_out <= 0:
        raise MinAmountOutUnreachableError(
            f"{intent.amount_in} base units of {intent.token_in} buy nothing of {intent.token_out}",
            field="amountIn",
        )
    scale = intent.slices if is_twap and intent.slices else 1
    quoted_out, min_out = route.amount_out * scale, route.min_amount_out * scale
    prices = {s: q.price_usd for s, q in quoted.prices.items()}
    notional = trade_value_usd(intent.token_in, intent.amount_in, intent.token_out, quoted_out, prices)
    limits, today = order_risk_state(session, account_id, utcnow().date())
    refusal = check_order(limits, OrderRisk(notional, route.price_impact_bps, False), today)
    if refusal is not None:
        session.rollback()
        raise RiskLimitError(refusal.message, field=refusal.limit, details=refusal.details)
    if is_twap:
        order, created = create_order(
            session,
            account_id,
            token_in=intent.token_in,
            token_out=intent.token_out,
            amount_in=intent.amount_in,
            strategy=BOT_STRATEGY,
            slippage_bps=BOT_SLIPPAGE_BPS,
            quoted_amount_out=quoted_out,
            min_amount_out=min_out,
            route=None,
            idempotency_key=key,
            request_digest=digest,
            order_type="twap",
            status=OrderStatus.WORKING,
            message=f"TWAP of {intent.slices} slices, one every {intent.interval_s:g} s (a bot's)",
            columns={
                "slices": intent.slices,
                "interval_s": intent.interval_s,
                "on_child_failure": "continue",
                "next_run_at": utcnow(),
            },
        )
        if created:
            try:
                svc.executor.enqueue("jobs.run_twap_slice", order.id, 0, job_id=f"twap-{order.id}-0")
            except Exception:  # stored and held: recovery sends the overdue slice
                log.exception("could not enqueue the first slice of TWAP order %s; recovery will", order.id)
        return PlacedOrder(order.id, created, quoted_out)
    order, created = create_order(
        session,
        account_id,
        token_in=intent.token_in,
        token_out=intent.token_out,
        amount_in=intent.amount_in,
        strategy=BOT_STRATEGY,
        slippage_bps=BOT_SLIPPAGE_BPS,
        quoted_amount_out=route.amount_out,
        min_amount_out=route.min_amount_out,
        route=None,
        idempotency_key=key,
        request_digest=digest,
    )
    if created:
        svc.dispatcher.submit(order.id)
    return PlacedOrder(order.id, created, route.amount_out)


def check_intent(intent: Intent) -> None:
    """Refuse an intent no order could carry (a bug in a bot type, not a market condition)."""
    if intent.amount_in <= 0:
        raise ValidationError(f"a bot's order must sell a positive amount, got {intent.amount_in}")
