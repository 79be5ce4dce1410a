"""Routing strategies and how the single-venue ones pick their venue."""

from __future__ import annotations

import enum

from errors import ValidationError

__all__ = ["Strategy", "parse_strategy"]


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
