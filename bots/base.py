"""What a bot type sees and decides: the tick's context in, order intents out (no I/O here).

Each bot type (``bots/arbitrage.py``, ``rebalance.py``, ``flow.py``, ``dca.py``) has
``validate(config) -> dict`` (the config normalised; ValidationError naming ``config.<field>``)
and ``decide(tick) -> list[Intent]``. The manager places the intents through the normal order path.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from errors import ValidationError
from routing_engine import Market
from tokens import TOKENS, get_token, to_base_units

__all__ = ["Intent", "Tick", "decimal_field", "int_field", "token_field", "units_of", "units_of_usd"]


@dataclass(frozen=True)
class Intent:
    """An order a bot wants: sell ``amount_in`` base units of ``token_in`` for ``token_out``.

    ``order_type`` "market" or "twap" (then ``slices`` every ``interval_s``); ``reason`` is the
    action's message.
    """

    token_in: str
    token_out: str
    amount_in: int
    reason: str
    order_type: str = "market"
    slices: int | None = None
    interval_s: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tick:
    """One run of a bot: its config, run number, free balances (base units), USD prices, the market."""

    bot_id: str
    config: Mapping[str, Any]
    run: int
    available: Mapping[str, int]
    usd_prices: Mapping[str, Decimal]
    market: Market

    def rng(self) -> random.Random:
        """A generator seeded by the config's seed and the run number: a re-run decides the same."""
        return random.Random(f"{self.config.get('seed', 0)}:{self.bot_id}:{self.run}")


def _fail(name: str, message: str) -> ValidationError:
    return ValidationError(message, field=f"config.{name}")


def decimal_field(
    config: Mapping[str, Any], name: str, default: str | None = None, *, positive: bool = True
) -> Decimal:
    """A decimal given as a string or a number (not bool, not float text like 'nan')."""
    raw = config.get(name, default)
    if raw is None:
        raise _fail(name, f"config.{name} is required")
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise _fail(name, f'config.{name} must be a decimal string such as "1.5", got {raw!r}')
    try:
        value = Decimal(str(raw).strip()) if isinstance(raw, str) else Decimal(str(raw))
    except InvalidOperation as exc:
        raise _fail(name, f'config.{name} must be a decimal string such as "1.5", got {raw!r}') from exc
    text = str(raw).strip()
    if not value.is_finite() or not all(c.isascii() for c in text) or "_" in text:
        raise _fail(name, f"config.{name} must be a finite decimal, got {raw!r}")
    if positive and value <= 0:
        raise _fail(name, f"config.{name} must be positive, got {raw!r}")
    if value < 0:
        raise _fail(name, f"config.{name} must not be negative, got {raw!r}")
    return value


def int_field(config: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    """An integer in [lo, hi]."""
    raw = config.get(name, default)
    if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
        raise _fail(name, f"config.{name} must be an integer from {lo} to {hi}, got {raw!r}")
    return raw


def token_field(config: Mapping[str, Any], name: str, default: str | None = None) -> str:
    """A known token symbol."""
    raw = config.get(name, default)
    if not isinstance(raw, str) or raw.strip().upper() not in TOKENS:
        raise _fail(name, f"config.{name} must be one of {', '.join(TOKENS)}, got {raw!r}")
    return raw.strip().upper()


def units_of(symbol: str, human: Decimal, name: str) -> int:
    """``human`` token units as base units (rounded down), refusing zero."""
    units = to_base_units(get_token(symbol), format(human, "f"), field=f"config.{name}")
    if units <= 0:
        raise _fail(name, f"config.{name} is below one base unit of {symbol}")
    return units


def units_of_usd(symbol: str, usd: Decimal, usd_price: Decimal) -> int:
    """Base units of ``symbol`` worth ``usd`` at ``usd_price`` (rounded down; 0 without a price)."""
    if usd_price <= 0:
        return 0
    return int(usd / usd_price * (Decimal(10) ** get_token(symbol).decimals))
