"""Pre-trade risk limits (pure): given an account's limits, an order and today's figures, a refusal or None.

Every figure is a USD ``Decimal`` (impact in basis points). A limit of ``None`` does not apply.
The checks, in order: the order's notional (``maxOrderUsd``), its price impact
(``maxImpactBps``, waived when the order says ``acceptHighImpact``), today's executed notional
plus this order (``dailyNotionalUsd``) and today's realised loss (``dailyLossUsd``: once the
day's realised P&L is at or below minus the limit, new orders wait for the next UTC day).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["LIMIT_NAMES", "Limits", "OrderRisk", "RiskRefusal", "Today", "check_order"]

# The limits' names in the API (``field`` of a ``risk_limit`` refusal), with the settings' names.
LIMIT_NAMES = {
    "max_order_usd": "maxOrderUsd",
    "max_impact_bps": "maxImpactBps",
    "daily_notional_usd": "dailyNotionalUsd",
    "daily_loss_usd": "dailyLossUsd",
}


@dataclass(frozen=True)
class Limits:
    """An account's effective limits (its own, else the defaults); None: no limit."""

    max_order_usd: Decimal | None = None
    max_impact_bps: Decimal | None = None
    daily_notional_usd: Decimal | None = None
    daily_loss_usd: Decimal | None = None


@dataclass(frozen=True)
class OrderRisk:
    """What an order would do: its USD notional and the price impact of its route now (bps)."""

    notional_usd: Decimal
    impact_bps: Decimal | None = None
    accept_high_impact: bool = False


@dataclass(frozen=True)
class Today:
    """The account's executed notional and realised P&L of the current UTC day (USD)."""

    notional_usd: Decimal = Decimal(0)
    realised_pnl_usd: Decimal = Decimal(0)


@dataclass(frozen=True)
class RiskRefusal:
    """The limit an order breaks: its API name, a message with the figures, and the figures."""

    limit: str
    message: str
    details: dict[str, str]


def _usd(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def check_order(limits: Limits, order: OrderRisk, today: Today) -> RiskRefusal | None:
    """The first limit ``order`` breaks, or None when it may go."""
    if limits.max_order_usd is not None and order.notional_usd > limits.max_order_usd:
        return RiskRefusal(
            LIMIT_NAMES["max_order_usd"],
            f"the order's notional ${_usd(order.notional_usd)} is above the account's maximum order "
            f"of ${_usd(limits.max_order_usd)}",
            {"limit": _usd(limits.max_order_usd), "orderUsd": _usd(order.notional_usd)},
        )
    if (
        limits.max_impact_bps is not None
        and order.impact_bps is not None
        and not order.accept_high_impact
        and order.impact_bps > limits.max_impact_bps
    ):
        return RiskRefusal(
            LIMIT_NAMES["max_impact_bps"],
            f"the route's price impact {order.impact_bps:f} bps is above the maximum of "
            f"{limits.max_impact_bps:f} bps: trade less, or send acceptHighImpact: true",
            {"limit": f"{limits.max_impact_bps:f}", "impactBps": f"{order.impact_bps:f}"},
        )
    if (
        limits.daily_notional_usd is not None
        and today.notional_usd + order.notional_usd > limits.daily_notional_usd
    ):
        return RiskRefusal(
            LIMIT_NAMES["daily_notional_usd"],
            f"today's executed notional ${_usd(today.notional_usd)} plus this order's "
            f"${_usd(order.notional_usd)} is above the daily limit of ${_usd(limits.daily_notional_usd)}",
            {
                "limit": _usd(limits.daily_notional_usd),
                "todayUsd": _usd(today.notional_usd),
                "orderUsd": _usd(order.notional_usd),
            },
        )
    loss = -today.realised_pnl_usd
    if limits.daily_loss_usd is not None and loss > 0 and loss >= limits.daily_loss_usd:
        return RiskRefusal(
            LIMIT_NAMES["daily_loss_usd"],
            f"today's realised loss ${_usd(-today.realised_pnl_usd)} has reached the daily limit of "
            f"${_usd(limits.daily_loss_usd)}: new orders wait for the next UTC day",
            {"limit": _usd(limits.daily_loss_usd), "todayRealisedPnlUsd": _usd(today.realised_pnl_usd)},
        )
    return None
