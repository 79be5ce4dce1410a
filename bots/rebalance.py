"""Rebalance bot: keeps the account's value split between tokens at target weights, within a band.

Config: ``targets`` (token → weight, decimal strings summing to 1, at least two tokens),
``bandBps`` (act when a token's weight is off its target by more than this, default 500),
``minTradeUsd`` (smaller corrections are skipped, default 10). On a tick outside the band it sells
the most overweight token for the most underweight one, for the smaller of the two gaps in USD
(one market order per tick; the next tick sees its effect).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bots.base import Intent, Tick, decimal_field, int_field, units_of_usd
from errors import ValidationError
from tokens import TOKENS

__all__ = ["decide", "validate", "weights"]

BPS = Decimal(10_000)


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config normalised (ValidationError naming ``config.<field>``)."""
    raw = config.get("targets", {"SOL": "0.5", "USDC": "0.5"})
    if not isinstance(raw, Mapping) or len(raw) < 2:
        raise ValidationError(
            'config.targets must map at least two tokens to weights, e.g. {"SOL": "0.5", "USDC": "0.5"}',
            field="config.targets",
        )
    targets: dict[str, Decimal] = {}
    for symbol, weight in raw.items():
        if not isinstance(symbol, str) or symbol.upper() not in TOKENS:
            raise ValidationError(f"config.targets has an unknown token {symbol!r}", field="config.targets")
        targets[symbol.upper()] = decimal_field({symbol: weight}, symbol, positive=True)
    if sum(targets.values()) != 1:
        raise ValidationError(
            f"config.targets weights must sum to 1, they sum to {sum(targets.values())}",
            field="config.targets",
        )
    return {
        "targets": {s: format(w, "f") for s, w in targets.items()},
        "bandBps": int_field(config, "bandBps", 500, 1, 10_000),
        "minTradeUsd": format(decimal_field(config, "minTradeUsd", "10"), "f"),
    }


def weights(values_usd: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Each token's share of the total value (0 each when the total is 0)."""
    total = sum(values_usd.values(), Decimal(0))
    return {s: (v / total if total > 0 else Decimal(0)) for s, v in values_usd.items()}


def decide(tick: Tick) -> list[Intent]:
    """One correcting market order when a weight is outside the band, else nothing."""
    c = tick.config
    targets = {s: Decimal(w) for s, w in c["targets"].items()}
    prices = tick.usd_prices
    if any(prices.get(s) is None for s in targets):
        return []
    values = {
        s: Decimal(tick.available.get(s, 0)) / (Decimal(10) ** _decimals(s)) * prices[s] for s in targets
    }
    total = sum(values.values(), Decimal(0))
    if total <= 0:
        return []
    now = weights(values)
    gaps = {s: now[s] - targets[s] for s in targets}  # + overweight, - underweight
    over = max(gaps, key=lambda s: gaps[s])
    under = min(gaps, key=lambda s: gaps[s])
    band = Decimal(c["bandBps"]) / BPS
    if gaps[over] <= band and -gaps[under] <= band:
        return []
    usd = min(gaps[over], -gaps[under]) * total
    if usd < Decimal(c["minTradeUsd"]):
        return []
    units = min(units_of_usd(over, usd, prices[over]), tick.available.get(over, 0))
    if units <= 0:
        return []
    return [
        Intent(
            over,
            under,
            units,
            f"rebalance: {over} {now[over]:.2%} vs target {targets[over]:.2%}, "
            f"{under} {now[under]:.2%} vs {targets[under]:.2%}: sell ${usd:.2f} of {over}",
            details={"weights": {s: f"{w:.6f}" for s, w in now.items()}},
        )
    ]


def _decimals(symbol: str) -> int:
    return TOKENS[symbol].decimals
