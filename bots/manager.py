"""The bot manager: create, start, stop, delete, and run one tick of a bot under its lease.

A bot is a ``bots`` row (state survives any restart) with its own paper account, created and
funded from ``BOT_FUNDING`` when the bot is made. A tick (``run_bot``):

1. takes the bot's lease with one compare-and-set UPDATE (``state = running``, the lease free or
   expired, the bot due): of two runners at once exactly one gets it, on both databases;
2. during a trading halt records one ``skip`` ("trading halted") and places nothing (the bot keeps
   its ``running`` state and trades again once the halt is lifted);
3. else asks its type's ``decide`` for intents and places each through the order path
   (``bots/orders.py``); a refused order (no route, balance, risk limit) is a ``skip`` action;
4. an unexpected failure is an ``error`` action, and ``BOT_MAX_ERRORS`` in a row put the bot in
   state ``error`` with the reason;
5. writes its run count, next run time and releases the lease, only if it still holds the lease
   (an operator's stop meanwhile is kept).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from flask import current_app

import live_updates
from bots import arbitrage, dca, flow, rebalance
from bots.base import Intent, Tick
from bots.orders import idempotency_key, place
from errors import SolrouteError, ValidationError
from execution import Venues
from models import Account, Balance, Bot, BotAction, BotKind, BotState, DbSession, utcnow
from payloads import bot_action_json
from risk_controls import trading_halt
from routing_engine import Market
from services import get_services
from tokens import TOKENS, to_base_units
from venue_state import create_account

__all__ = [
    "TYPES",
    "ActionRecord",
    "TickResult",
    "bot_job_id",
    "create_bot",
    "delete_bot",
    "due_bot_ids",
    "enqueue_run",
    "overdue_bots",
    "publish_actions",
    "recent_actions",
    "run_bot",
    "set_running",
]

log = logging.getLogger(__name__)

TYPES: Mapping[str, ModuleType] = {
    BotKind.ARBITRAGE: arbitrage,
    BotKind.REBALANCE: rebalance,
    BotKind.FLOW: flow,
    BotKind.DCA: dca,
}
HALT_MESSAGE = "trading halted"


@dataclass(frozen=True)
class ActionRecord:
    """An action as written (what the Socket.IO ``bot_action`` event carries)."""

    bot_id: str
    kind: str
    message: str
    t: datetime
    order_id: str | None = None
    details: Mapping[str, Any] | None = None


@dataclass
class TickResult:
    """What one ``run_bot`` call did: ``outcome`` ran, busy (not taken), halted, error."""

    outcome: str
    run: int = 0
    actions: list[ActionRecord] = field(default_factory=list)
    state: str | None = None


def _config_of(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    if kind not in TYPES:
        raise ValidationError(f"kind must be one of {', '.join(TYPES)}, got {kind!r}", field="kind")
    out: dict[str, Any] = TYPES[kind].validate(config)
    return out


def _record(session: DbSession, actions: Sequence[ActionRecord]) -> None:
    if actions:
        session.execute(
            sa.insert(BotAction),
            [
                {
                    "bot_id": a.bot_id,
                    "t": a.t,
                    "kind": a.kind,
                    "message": a.message[:2000],
                    "order_id": a.order_id,
                    "details": dict(a.details) if a.details else None,
                }
                for a in actions
            ],
        )


def create_bot(
    session: DbSession,
    owner: Account,
    *,
    kind: str,
    name: str,
    config: Mapping[str, Any],
    interval_s: float,
    funding: Mapping[str, object],
    start: bool = True,
) -> tuple[Bot, list[ActionRecord]]:
    """A new bot with its own paper account funded with ``funding`` (committed)."""
    normalised = _config_of(kind, config)
    for symbol, amount in funding.items():
        if symbol not in TOKENS:
            raise ValidationError(f"funding: unknown token {symbol!r}", field=f"funding.{symbol}")
        if to_base_units(TOKENS[symbol], amount, field=f"funding.{symbol}") <= 0:
            raise ValidationError(f"funding of {symbol} must be positive", field=f"funding.{symbol}")
    bot_id = uuid.uuid4().hex
    if kind == BotKind.FLOW and normalised["mode"] == "mean_revert" and "anchorUsd" not in normalised:
        prices = get_services().quotes.usd_prices((normalised["base"],))
        if normalised["base"] in prices:
            normalised["anchorUsd"] = format(prices[normalised["base"]], "f")
    account, _ = create_account(session, f"bot:{name[:40]}:{bot_id[:8]}", funding=funding)
    now = utcnow()
    bot = Bot(
        id=bot_id,
        account_id=account.id,
        owner_id=owner.id,
        kind=kind,
        name=name,
        config=normalised,
        state=BotState.RUNNING if start else BotState.STOPPED,
        state_reason=None,
        interval_s=interval_s,
        next_run_at=now if start else None,
        consecutive_errors=0,
        runs=0,
        created_at=now,
        updated_at=now,
    )
    session.add(bot)
    session.flush()
    actions = [ActionRecord(bot_id, "start", f"created by {owner.name} and started", now)] if start else []
    _record(session, actions)
    session.commit()
    return bot, actions


def set_running(
    session: DbSession, bot: Bot, running: bool, *, by: str, reason: str | None = None
) -> ActionRecord:
    """Start (due at once, errors forgiven) or stop a bot (committed); the action recorded."""
    now = utcnow()
    if running:
        values: dict[str, Any] = {
            "state": BotState.RUNNING,
            "state_reason": None,
            "consecutive_errors": 0,
            "next_run_at": now,
        }
        action = ActionRecord(bot.id, "start", f"started by {by}", now)
    else:
        why = reason or f"stopped by {by}"
        values = {"state": BotState.STOPPED, "state_reason": why, "next_run_at": None}
        action = ActionRecord(bot.id, "stop", why, now)
    session.execute(sa.update(Bot).where(Bot.id == bot.id).values(updated_at=now, **values))
    _record(session, [action])
    session.commit()
    session.refresh(bot)
    return action


def delete_bot(session: DbSession, bot: Bot) -> None:
    """Delete a bot and its actions (its account, orders and trades stay: they are history)."""
    session.execute(sa.delete(BotAction).where(BotAction.bot_id == bot.id))
    session.execute(sa.delete(Bot).where(Bot.id == bot.id))
    session.commit()


def due_bot_ids(session: DbSession, now: datetime, limit: int = 100) -> list[str]:
    """Running bots whose next run is due (the (state, next_run_at) index), soonest first."""
    rows = session.execute(
        sa.select(Bot.id)
        .where(Bot.state == BotState.RUNNING, Bot.next_run_at <= now)
        .order_by(Bot.next_run_at)
        .limit(limit)
    ).scalars()
    return list(rows)


def recent_actions(session: DbSession, bot_id: str, limit: int = 20) -> list[BotAction]:
    """The bot's newest actions, newest first."""
    return list(
        session.execute(
            sa.select(BotAction).where(BotAction.bot_id == bot_id).order_by(BotAction.id.desc()).limit(limit)
        ).scalars()
    )


def _claim(session: DbSession, bot_id: str, runner: str, now: datetime, lease_s: float) -> bool:
    """Take the bot's lease: one compare-and-set UPDATE; True for exactly one of concurrent runners."""
    result = session.execute(
        sa.update(Bot)
        .where(
            Bot.id == bot_id,
            Bot.state == BotState.RUNNING,
            sa.or_(Bot.lease_until.is_(None), Bot.lease_until < now),
            sa.or_(Bot.next_run_at.is_(None), Bot.next_run_at <= now),
        )
        .values(lease_owner=runner[:64], lease_until=now + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    taken = _rows(result)
    session.commit()
    return bool(taken == 1)


def _rows(result: object) -> int:
    """Rows an UPDATE matched."""
    return int(result.rowcount) if isinstance(result, sa.CursorResult) else 0


def _available(session: DbSession, account_id: int) -> dict[str, int]:
    rows = session.execute(
        sa.select(Balance.token, Balance.amount - Balance.reserved).where(Balance.account_id == account_id)
    ).all()
    return {str(t): int(a) for t, a in rows}


def _last_action_is_halt(session: DbSession, bot_id: str) -> bool:
    last = session.execute(
        sa.select(BotAction.kind, BotAction.message)
        .where(BotAction.bot_id == bot_id)
        .order_by(BotAction.id.desc())
        .limit(1)
    ).first()
    return last is not None and last[0] == "skip" and str(last[1]).startswith(HALT_MESSAGE)


def _tick_of(session: DbSession, bot: Bot, run: int) -> Tick:
    svc = get_services()
    venues = Venues.now(session, svc, Decimal(current_app.config["OTC_SETTLEMENT_SCALE"]))
    market = Market(
        tuple(venues.pools.values()), tuple(venues.desks.values()), venues.usd_prices, svc.quotes.clock()
    )
    return Tick(bot.id, dict(bot.config), run, _available(session, bot.account_id), venues.usd_prices, market)


def _trade(session: DbSession, bot: Bot, run: int, intents: Sequence[Intent]) -> list[ActionRecord]:
    actions: list[ActionRecord] = []
    for index, intent in enumerate(intents):
        try:
            placed = place(session, bot.account_id, intent, idempotency_key(bot.id, run, index))
        except SolrouteError as exc:  # the order path refused it: a market condition, not a bot fault
            session.rollback()
            actions.append(
                ActionRecord(
                    bot.id,
                    "skip",
                    f"{intent.reason}: refused ({exc.code}): {exc.message}",
                    utcnow(),
                    details={**intent.details, "code": exc.code},
                )
            )
            continue
        actions.append(
            ActionRecord(
                bot.id,
                "order",
                intent.reason + ("" if placed.created else " (placed by an earlier attempt of this run)"),
                utcnow(),
                order_id=placed.order_id,
                details={
                    **intent.details,
                    "tokenIn": intent.token_in,
                    "tokenOut": intent.token_out,
                    "amountIn": str(intent.amount_in),
                    "quotedAmountOut": str(placed.quoted_amount_out),
                    "orderType": intent.order_type,
                },
            )
        )
    return actions


def run_bot(session: DbSession, bot_id: str, runner: str, *, now: datetime | None = None) -> TickResult:
    """One tick of ``bot_id`` if this runner takes its lease (module docstring); committed."""
    config = current_app.config
    now = utcnow() if now is None else now
    if not _claim(session, bot_id, runner, now, config["BOT_LEASE_S"]):
        return TickResult("busy")
    bot = session.get(Bot, bot_id, populate_existing=True)
    if bot is None:
        return TickResult("busy")
    run = bot.runs + 1
    errors = bot.consecutive_errors
    result = TickResult("ran", run)
    halt = trading_halt(session)
    if halt.halted:
        result.outcome = "halted"
        if not _last_action_is_halt(session, bot.id):
            why = f": {halt.reason}" if halt.reason else ""
            result.actions.append(
                ActionRecord(bot.id, "skip", f"{HALT_MESSAGE}{why}; no orders until it is lifted", now)
            )
    else:
        try:
            intents = TYPES[bot.kind].decide(_tick_of(session, bot, run))
            result.actions.extend(_trade(session, bot, run, intents))
            errors = 0
        except Exception as exc:  # a bot must outlive any one failure; too many in a row stop it
            session.rollback()
            log.exception("bot %s run %d failed", bot.id, run)
            errors += 1
            result.outcome = "error"
            result.actions.append(ActionRecord(bot.id, "error", f"run {run} failed: {exc!r}"[:500], utcnow()))
    finished = utcnow()
    values: dict[str, Any] = {
        "runs": run,
        "last_run_at": finished,
        "next_run_at": finished + timedelta(seconds=bot.interval_s),
        "consecutive_errors": errors,
        "lease_owner": None,
        "lease_until": None,
        "updated_at": finished,
    }
    kept = _rows(
        session.execute(
            sa.update(Bot)
            .where(Bot.id == bot.id, Bot.lease_owner == runner[:64])
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    )
    if not kept and session.execute(sa.select(Bot.id).where(Bot.id == bot.id)).first() is None:
        session.commit()  # deleted while it ran: its orders stand, there is no row to record on
        return TickResult("deleted", run)
    if errors >= config["BOT_MAX_ERRORS"]:
        reason = f"{errors} errors in a row; the last: {result.actions[-1].message}"[:1000]
        stopped = _rows(
            session.execute(
                sa.update(Bot)
                .where(Bot.id == bot.id, Bot.state == BotState.RUNNING)
                .values(state=BotState.ERROR, state_reason=reason, next_run_at=None)
                .execution_options(synchronize_session=False)
            )
        )
        if stopped:
            result.actions.append(ActionRecord(bot.id, "stop", f"stopped: {reason}", finished))
    _record(session, result.actions)
    session.commit()
    result.state = session.execute(sa.select(Bot.state).where(Bot.id == bot.id)).scalar_one_or_none()
    return result


# --- scheduling and publishing ----------------------------------------------------------------


def bot_job_id(bot_id: str, run: int) -> str:
    """The RQ job id of a bot's run: one job per bot and run, whoever enqueues it."""
    return f"bot-{bot_id}-{run}"


def enqueue_run(bot_id: str, run: int, delay_s: float = 0.0) -> None:
    """With REDIS_URL, the RQ job of the bot's run ``run`` (after ``delay_s``); without it the
    in-process scheduler (background.run_bots) finds due bots itself, so nothing is queued."""
    if not current_app.config.get("REDIS_URL"):
        return
    try:
        get_services().executor.enqueue(
            "jobs.run_bot", bot_id, run, delay_s=delay_s, job_id=bot_job_id(bot_id, run)
        )
    except Exception:  # the row says when it is due: the workers' maintenance re-queues it
        log.exception("could not enqueue run %d of bot %s; maintenance will", run, bot_id)


def overdue_bots(session: DbSession, before: datetime, limit: int = 500) -> list[tuple[str, int]]:
    """Running bots due before ``before`` and not leased now: (id, next run number)."""
    now = utcnow()
    rows = session.execute(
        sa.select(Bot.id, Bot.runs)
        .where(
            Bot.state == BotState.RUNNING,
            Bot.next_run_at < before,
            sa.or_(Bot.lease_until.is_(None), Bot.lease_until < now),
        )
        .order_by(Bot.next_run_at)
        .limit(limit)
    ).all()
    return [(str(i), int(r) + 1) for i, r in rows]


def publish_actions(session: DbSession, bot_id: str, actions: Sequence[ActionRecord]) -> None:
    """Each action as a ``bot_action`` event to the ``trades`` room (the dashboard's live feed)."""
    if not actions:
        return
    row = session.execute(sa.select(Bot.name, Bot.kind).where(Bot.id == bot_id)).first()
    name, kind = (str(row[0]), str(row[1])) if row is not None else ("?", "flow")
    live_updates.publish_many(
        [
            ("bot_action", bot_action_json(bot_id, name, kind, a.t, a.kind, a.message, a.order_id), "trades")
            for a in actions
        ]
    )
