"""Routing strategies and how the single-venue ones pick their venue."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from errors import NoRouteError, ValidationError

if TYPE_CHECKING:  # routes imports Strategy from here
    from routing_engine.routes import VenueQuote

__all__ = ["Strategy", "parse_strategy", "pick_single"]


class Strategy(enum.StrEnum):
    """How the router chooses a route."""

    BEST_PRICE = "BEST_PRICE"  # the single venue or path paying the most
    LOWEST_SLIPPAGE = "LOWEST_SLIPPAGE"  # the single venue with the least size-driven price impact
    HIGHEST_LIQUIDITY = "HIGHEST_LIQUIDITY"  # the deepest single venue (most token_out it can pay)
    FASTEST_EXECUTION = "FASTEST_EXECUTION"  # the lowest expected time to a confirmed fill
    OPTIMAL_SPLIT = "OPTIMAL_SPLIT"  # the split over every venue and path that maximises output


def parse_strategy(value: object, *, field: str = "routingStrategy") -> Strategy:
    """Parse a strategy name (case-insensitive); unknown names are a ValidationError naming the field."""
    if isinstance(value, Strategy):
        return value
    if isinstance(value, str):
        try:
            return Strategy(value.strip().upper())
        except ValueError:
            pass
    choices = ", ".join(s.value for s in Strategy)
    raise ValidationError(f"unknown {field} {value!r}; expected one of {choices}", field=field)


def pick_single(strategy: Strategy, candidates: Sequence[VenueQuote]) -> VenueQuote:
    """The available single venue or path that the strategy ranks first; NoRouteError if none."""
    available = [q for q in candidates if q.available]
    if not available:
        reasons = "; ".join(f"{q.venue}: {q.reason}" for q in candidates) or "no venue trades this pair"
        raise NoRouteError(f"no single venue can fill this order ({reasons})")
    if strategy is Strategy.LOWEST_SLIPPAGE:
        return min(available, key=lambda q: (q.curve_impact_bps or Decimal(0), -q.amount_out))
    if strategy is Strategy.HIGHEST_LIQUIDITY:
        return max(available, key=lambda q: (q.depth_out, q.amount_out))
    if strategy is Strategy.FASTEST_EXECUTION:
        return min(available, key=lambda q: (q.latency_ms, -q.amount_out))
    return max(available, key=lambda q: q.amount_out)
