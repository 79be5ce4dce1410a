"""Operator endpoints of the paper trading bots (README "Bots"), on the ``api`` blueprint.

Every call takes an operator's ``X-API-Key`` (views/portfolio.operator_account: 401 without one,
403 for a trader's). The bots themselves run in the background (background.run_bots without
Redis, jobs.run_bot with it); these views only write their rows.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import current_app

import analytics
import portfolio
from bots import manager
from errors import PriceUnavailableError, ValidationError
from models import Account, Balance, Bot, BotState, db, utcnow
from payloads import BotActionOut, BotDeleted, BotDetail, BotOut, BotsResponse, PortfolioResponse
from services import get_services
from venue_state import load_pools
from views.api import operations
from views.errors import ApiError
from views.portfolio import HISTORY_BUCKETS, operator_account
from views.schemas import CreateBotRequest, NoQuery

BOT_ID = re.compile(r"[0-9a-f]{32}")
BOT_ID_PARAM = {
    "name": "botId",
    "in": "path",
    "required": True,
    "description": "The bot's id",
    "schema": {"type": "string"},
}
MAX_BOTS_LISTED = 200
ACTIONS_SHOWN = 30


def _bot(bot_id: str) -> Bot:
    bot = db.session.get(Bot, bot_id) if BOT_ID.fullmatch(bot_id) else None
    if bot is None:
        raise ApiError(404, "not_found", f"no bot {bot_id!r}", "botId")
    return bot


def _prices() -> dict[str, tuple[Any, str]]:
    try:
        found = get_services().quotes.prices(load_pools(db.session))
    except PriceUnavailableError:
        found = {}
    return {s: (p.price_usd, p.source) for s, p in found.items()}


def _portfolio(account_id: int, prices: dict[str, tuple[Any, str]], *, history: bool) -> PortfolioResponse:
    """The bot account's portfolio, as GET /api/accounts/me/portfolio builds it (the P&L is its)."""
    rows = db.session.execute(
        sa.select(Balance.token, Balance.amount, Balance.reserved).where(Balance.account_id == account_id)
    ).all()
    balances = {str(t): (int(a), int(r)) for t, a, r in rows}
    now = utcnow()
    points = (
        portfolio.value_history(
            db.session,
            account_id,
            {t: a for t, (a, _) in balances.items()},
            {s: p for s, (p, _) in prices.items()},
            analytics.Bucket("hour"),
            buckets=HISTORY_BUCKETS["hour"],
            now=now,
        )
        if history
        else []
    )
    return PortfolioResponse.of(
        account_id,
        balances,
        portfolio.holdings(db.session, account_id),
        prices,
        portfolio.today(db.session, account_id, now.date()),
        "hour",
        points,
        now,
    )


def _actions(bot_id: str, limit: int) -> list[BotActionOut]:
    return [
        BotActionOut.of(a.t, a.kind, a.message, a.order_id, a.details)
        for a in manager.recent_actions(db.session, bot_id, limit)
    ]


def _detail(bot: Bot) -> BotDetail:
    return BotDetail.of_bot(
        bot, _portfolio(bot.account_id, _prices(), history=True), _actions(bot.id, ACTIONS_SHOWN)
    )


@operations.get(
    "/bots",
    operation_id="listBots",
    summary="Operator: every paper trading bot with its state, last action and P&L, newest first",
    tag="system",
    auth=operator_account,
    query=NoQuery,
    response=BotsResponse,
    errors=(400, 401, 403),
)
def list_bots(operator: Account) -> BotsResponse:
    """The bots (at most MAX_BOTS_LISTED), each with its account's P&L totals."""
    bots = (
        db.session.execute(sa.select(Bot).order_by(Bot.created_at.desc()).limit(MAX_BOTS_LISTED))
        .scalars()
        .all()
    )
    prices = _prices()
    out = []
    for bot in bots:
        last = _actions(bot.id, 1)
        totals = _portfolio(bot.account_id, prices, history=False).totals
        out.append(BotOut.of(bot, totals, last[0] if last else None))
    return BotsResponse.of(out)


@operations.post(
    "/bots",
    operation_id="createBot",
    summary="Operator: create a paper trading bot (its own account, funded) and start it",
    tag="system",
    auth=operator_account,
    body=CreateBotRequest,
    response=BotDetail,
    errors=(400, 401, 403, 415),
    status=201,
)
def create_bot(operator: Account, body: CreateBotRequest) -> tuple[BotDetail, int]:
    """Validate the type's config (400 naming ``config.<field>``), fund its account, store it."""
    funding = body.funding if body.funding is not None else current_app.config["BOT_FUNDING"]
    try:
        bot, actions = manager.create_bot(
            db.session,
            operator,
            kind=body.kind,
            name=body.name.strip() or body.kind,
            config=body.config,
            interval_s=body.intervalS,
            funding=funding,
            start=body.start,
        )
    except ValidationError as exc:
        db.session.rollback()
        if exc.field and exc.field.startswith("deposit."):  # the funding's token and amount
            raise ValidationError(exc.message, field="funding." + exc.field.removeprefix("deposit.")) from exc
        raise
    manager.publish_actions(db.session, bot.id, actions)
    if bot.state == BotState.RUNNING:
        manager.enqueue_run(bot.id, 1)
    return _detail(bot), 201


@operations.get(
    "/bots/<bot_id>",
    operation_id="getBot",
    summary="Operator: a bot's config, state, newest actions and its account's P&L and value history",
    tag="system",
    auth=operator_account,
    query=NoQuery,
    response=BotDetail,
    errors=(400, 401, 403, 404),
    path_params=(BOT_ID_PARAM,),
)
def get_bot(operator: Account, bot_id: str) -> BotDetail:
    """The bot with its last actions and P&L."""
    return _detail(_bot(bot_id))


@operations.post(
    "/bots/<bot_id>/start",
    operation_id="startBot",
    summary="Operator: start a stopped bot (or restart one in error: its error count is reset)",
    tag="system",
    auth=operator_account,
    response=BotDetail,
    errors=(401, 403, 404),
    path_params=(BOT_ID_PARAM,),
)
def start_bot(operator: Account, bot_id: str) -> BotDetail:
    """Running at once (its next run is due now); a running bot stays as it is."""
    bot = _bot(bot_id)
    if bot.state != BotState.RUNNING:
        action = manager.set_running(db.session, bot, True, by=operator.name)
        manager.publish_actions(db.session, bot.id, [action])
        manager.enqueue_run(bot.id, bot.runs + 1)
    return _detail(bot)


@operations.post(
    "/bots/<bot_id>/stop",
    operation_id="stopBot",
    summary="Operator: stop a bot (it places no more orders; its open orders are left as they are)",
    tag="system",
    auth=operator_account,
    response=BotDetail,
    errors=(401, 403, 404),
    path_params=(BOT_ID_PARAM,),
)
def stop_bot(operator: Account, bot_id: str) -> BotDetail:
    """Stopped, with the operator's name as the reason; a stopped bot stays as it is."""
    bot = _bot(bot_id)
    if bot.state == BotState.RUNNING:
        action = manager.set_running(db.session, bot, False, by=operator.name)
        manager.publish_actions(db.session, bot.id, [action])
    return _detail(bot)


@operations.delete(
    "/bots/<bot_id>",
    operation_id="deleteBot",
    summary="Operator: delete a bot and its actions (its account, orders and trades stay)",
    tag="system",
    auth=operator_account,
    response=BotDeleted,
    errors=(401, 403, 404),
    path_params=(BOT_ID_PARAM,),
)
def delete_bot(operator: Account, bot_id: str) -> BotDeleted:
    """Gone at once: a run in progress finds no row to write back."""
    bot = _bot(bot_id)
    account_id = bot.account_id
    manager.delete_bot(db.session, bot)
    return BotDeleted.make(id=bot_id, deleted=True, accountId=account_id)
