"""Bots: ``GET/POST /api/bots``, ``GET /api/bots/<id>`` and the ``bot_action`` Socket.IO event.

A bot's P&L is its own account's portfolio (``PortfolioResponse``: positions at average cost,
valued at the reference prices), not a figure of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import Field

from payloads.common import DecimalText, Timestamp, _Out, iso
from payloads.portfolio import PortfolioResponse, PortfolioTotals

__all__ = [
    "BotActionEvent",
    "BotActionOut",
    "BotDeleted",
    "BotDetail",
    "BotOut",
    "BotsResponse",
    "bot_action_json",
]

BotKindName = Literal["arbitrage", "rebalance", "flow", "dca"]
BotStateName = Literal["running", "stopped", "error"]
ActionKindName = Literal["order", "skip", "error", "start", "stop"]


class BotActionOut(_Out):
    t: Timestamp
    kind: ActionKindName
    message: str
    orderId: str | None = Field(description="The order it placed (kind order)")
    details: dict[str, Any] | None

    @classmethod
    def of(
        cls, t: datetime, kind: str, message: str, order_id: str | None, details: Mapping[str, Any] | None
    ) -> Self:
        return cls.make(
            t=iso(t), kind=kind, message=message, orderId=order_id, details=dict(details) if details else None
        )


class BotPnl(_Out):
    valueUsd: DecimalText
    costBasisUsd: DecimalText
    realisedPnlUsd: DecimalText
    unrealisedPnlUsd: DecimalText
    totalPnlUsd: DecimalText

    @classmethod
    def of(cls, totals: PortfolioTotals) -> Self:
        return cls.make(
            valueUsd=totals.valueUsd,
            costBasisUsd=totals.costBasisUsd,
            realisedPnlUsd=totals.realisedPnlUsd,
            unrealisedPnlUsd=totals.unrealisedPnlUsd,
            totalPnlUsd=totals.totalPnlUsd,
        )


class BotOut(_Out):
    id: str
    name: str
    kind: BotKindName
    state: BotStateName
    stateReason: str | None = Field(description="Why it is stopped or in error")
    accountId: int = Field(description="The bot's own paper account")
    ownerId: int = Field(description="The operator who made it")
    intervalS: float = Field(description="Seconds between runs")
    config: dict[str, Any]
    runs: int
    consecutiveErrors: int
    lastRunAt: Timestamp | None
    nextRunAt: Timestamp | None
    createdAt: Timestamp
    pnl: BotPnl = Field(description="Its account's totals (GET /api/accounts/me/portfolio's)")
    lastAction: BotActionOut | None

    @classmethod
    def of(cls, bot: Any, totals: PortfolioTotals, last: BotActionOut | None) -> Self:
        return cls.make(
            id=bot.id,
            name=bot.name,
            kind=bot.kind,
            state=bot.state,
            stateReason=bot.state_reason,
            accountId=bot.account_id,
            ownerId=bot.owner_id,
            intervalS=float(bot.interval_s),
            config=dict(bot.config),
            runs=bot.runs,
            consecutiveErrors=bot.consecutive_errors,
            lastRunAt=iso(bot.last_run_at),
            nextRunAt=iso(bot.next_run_at),
            createdAt=iso(bot.created_at),
            pnl=BotPnl.of(totals),
            lastAction=last,
        )


class BotsResponse(_Out):
    """``GET /api/bots``: every bot, newest first."""

    bots: list[BotOut]

    @classmethod
    def of(cls, bots: Sequence[BotOut]) -> Self:
        return cls.make(bots=list(bots))


class BotDetail(BotOut):
    """``GET /api/bots/<id>`` (and the answer to create, start, stop): the bot, its newest actions
    and its account's portfolio (holdings, P&L, value history: the page's chart)."""

    actions: list[BotActionOut]
    portfolio: PortfolioResponse

    @classmethod
    def of_bot(cls, bot: Any, portfolio: PortfolioResponse, actions: Sequence[BotActionOut]) -> Self:
        base = BotOut.of(bot, portfolio.totals, actions[0] if actions else None)
        return cls.make(
            **{n: getattr(base, n) for n in BotOut.field_names}, actions=list(actions), portfolio=portfolio
        )


class BotActionEvent(_Out):
    """The ``bot_action`` Socket.IO event (to the ``trades`` room: the dashboard's live feed)."""

    botId: str
    botName: str
    botKind: BotKindName
    t: Timestamp
    kind: ActionKindName
    message: str
    orderId: str | None


def bot_action_json(
    bot_id: str, bot_name: str, bot_kind: str, t: datetime, kind: str, message: str, order_id: str | None
) -> dict[str, Any]:
    """The ``bot_action`` body as JSON-ready values."""
    return BotActionEvent.make(
        botId=bot_id,
        botName=bot_name,
        botKind=bot_kind,
        t=iso(t),
        kind=kind,
        message=message,
        orderId=order_id,
    ).model_dump(mode="json")


class BotDeleted(_Out):
    """``DELETE /api/bots/<id>``: the bot and its actions are gone (its account and trades stay)."""

    id: str
    deleted: bool
    accountId: int
