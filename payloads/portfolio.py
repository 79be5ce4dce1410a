"""Portfolio, risk limits and the trading halt: ``GET /api/accounts/me/portfolio``, ``.../limits``,
``POST /api/admin/trading-halt`` and the ``trading_halt`` Socket.IO event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal, Self

from pydantic import Field

from payloads.common import Amount, DecimalText, Timestamp, _Out, amount_str, decimal_str, iso
from pnl import Holding, usd, usd_value
from portfolio import ValuePoint
from risk import LIMIT_NAMES, Limits, Today

__all__ = [
    "HoldingOut",
    "LimitOut",
    "LimitsResponse",
    "PortfolioResponse",
    "PortfolioTotals",
    "TradingHaltResponse",
    "ValuePointOut",
]

ZERO = Decimal(0)


def _usd(value: Decimal | None) -> str | None:
    return decimal_str(value, places=8)


class HoldingOut(_Out):
    token: str
    amount: Amount = Field(description="The balance: available plus held")
    available: Amount
    held: Amount = Field(description="Held by open orders")
    priceUsd: DecimalText | None = Field(description="The reference USD price now (null: none)")
    priceSource: str | None = Field(
        description="Where the price came from: coingecko, kraken, pools, static…"
    )
    valueUsd: DecimalText | None = Field(description="amount × priceUsd (8 places)")
    averageCostUsd: DecimalText | None = Field(description="Cost basis per token (null: nothing held)")
    costBasisUsd: DecimalText = Field(description="Average-cost basis of the position (8 places)")
    realisedPnlUsd: DecimalText = Field(description="Proceeds less removed cost of every sale (8 places)")
    unrealisedPnlUsd: DecimalText | None = Field(description="Position × priceUsd − costBasisUsd")


class PortfolioTotals(_Out):
    valueUsd: DecimalText
    costBasisUsd: DecimalText
    realisedPnlUsd: DecimalText
    unrealisedPnlUsd: DecimalText
    totalPnlUsd: DecimalText
    todayNotionalUsd: DecimalText = Field(description="Executed today (UTC), for the daily limits")
    todayRealisedPnlUsd: DecimalText


class ValuePointOut(_Out):
    at: Timestamp = Field(description="Start of the bucket; the value is at its end (now for the last)")
    valueUsd: float


class PortfolioResponse(_Out):
    """``GET /api/accounts/me/portfolio``."""

    accountId: int
    asOf: Timestamp
    holdings: list[HoldingOut]
    totals: PortfolioTotals
    bucket: Literal["hour", "day"]
    history: list[ValuePointOut] = Field(
        description="The account's value per bucket: quantities from its ledger, prices from the trades"
    )

    @classmethod
    def of(
        cls,
        account_id: int,
        balances: Mapping[str, tuple[int, int]],
        holdings: Mapping[str, Holding],
        prices: Mapping[str, tuple[Decimal, str]],
        today: Today,
        bucket: Literal["hour", "day"],
        history: Sequence[ValuePoint],
        as_of: datetime,
    ) -> Self:
        """``balances``: token → (amount, reserved); ``prices``: token → (USD price, source)."""
        rows = []
        value_total = cost_total = realised_total = unrealised_total = ZERO
        for token in sorted(set(balances) | set(holdings)):
            amount, reserved = balances.get(token, (0, 0))
            holding = holdings.get(token, Holding())
            if amount == 0 and holding.quantity == 0 and holding.realised_pnl_usd == 0:
                continue
            price, source = prices.get(token, (None, None))
            value = None if price is None else usd_value(token, amount, price)
            unrealised = (
                None if price is None else usd(usd_value(token, holding.quantity, price) - holding.cost_usd)
            )
            value_total += value or ZERO
            cost_total += holding.cost_usd
            realised_total += holding.realised_pnl_usd
            unrealised_total += unrealised or ZERO
            average = holding.average_cost(token)
            rows.append(
                HoldingOut.make(
                    token=token,
                    amount=amount_str(token, amount),
                    available=amount_str(token, amount - reserved),
                    held=amount_str(token, reserved),
                    priceUsd=None if price is None else decimal_str(price),
                    priceSource=source,
                    valueUsd=_usd(value),
                    averageCostUsd=None if average is None else decimal_str(average),
                    costBasisUsd=_usd(holding.cost_usd),
                    realisedPnlUsd=_usd(holding.realised_pnl_usd),
                    unrealisedPnlUsd=_usd(unrealised),
                )
            )
        totals = PortfolioTotals.make(
            valueUsd=_usd(value_total),
            costBasisUsd=_usd(cost_total),
            realisedPnlUsd=_usd(realised_total),
            unrealisedPnlUsd=_usd(unrealised_total),
            totalPnlUsd=_usd(realised_total + unrealised_total),
            todayNotionalUsd=_usd(today.notional_usd),
            todayRealisedPnlUsd=_usd(today.realised_pnl_usd),
        )
        return cls.make(
            accountId=account_id,
            asOf=iso(as_of),
            holdings=rows,
            totals=totals,
            bucket=bucket,
            history=[ValuePointOut.make(at=iso(p.at), valueUsd=p.value_usd) for p in history],
        )


class LimitOut(_Out):
    value: DecimalText | None = Field(description="The limit in force (null: none)")
    own: DecimalText | None = Field(description="The account's own setting (null: the default applies)")
    default: DecimalText | None = Field(description="The default from the settings (null: none)")


class LimitsResponse(_Out):
    """``GET``/``PUT /api/accounts/me/limits``: each limit in force, the account's own and the default."""

    accountId: int
    maxOrderUsd: LimitOut
    maxImpactBps: LimitOut
    dailyNotionalUsd: LimitOut
    dailyLossUsd: LimitOut
    todayNotionalUsd: DecimalText
    todayRealisedPnlUsd: DecimalText

    @classmethod
    def of(cls, account_id: int, effective: Limits, own: Limits, defaults: Limits, today: Today) -> Self:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else f"{value.normalize():f}"

        limits = {
            name: LimitOut.make(
                value=text(getattr(effective, column)),
                own=text(getattr(own, column)),
                default=text(getattr(defaults, column)),
            )
            for column, name in LIMIT_NAMES.items()
        }
        return cls.make(
            accountId=account_id,
            **limits,
            todayNotionalUsd=_usd(today.notional_usd),
            todayRealisedPnlUsd=_usd(today.realised_pnl_usd),
        )


class TradingHaltResponse(_Out):
    """The trading halt (``POST /api/admin/trading-halt``, ``GET /api/trading-halt``, Socket.IO)."""

    halted: bool
    reason: str
    updatedAt: Timestamp | None
    updatedBy: str | None

    @classmethod
    def of(cls, halted: bool, reason: str, updated_at: datetime | None, updated_by: str | None) -> Self:
        return cls.make(halted=halted, reason=reason, updatedAt=iso(updated_at), updatedBy=updated_by)
