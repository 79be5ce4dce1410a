"""Flow bot: market orders on one pair at a configured rate and size, to make a demonstration live.

Config: ``base``/``quote`` (the pair, default SOL/USDC), ``size`` (base token units per order,
each order drawn uniformly in [size/2, 3·size/2]), ``mode`` ``random`` (buy or sell with equal
odds) or ``mean_revert`` (sell the base while its USD price is above ``anchorUsd``, buy below;
``anchorUsd`` defaults to the base's price when the bot was created), ``probability`` of trading on a
tick (default 1), ``seed`` of the generator (seeded per run: a re-run decides the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bots.base import Intent, Tick, decimal_field, int_field, token_field, units_of, units_of_usd
from errors import ValidationError

__all__ = ["decide", "validate"]

MODES = ("random", "mean_revert")


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config normalised (ValidationError naming ``config.<field>``)."""
    base = token_field(config, "base", "SOL")
    quote = token_field(config, "quote", "USDC")
    if base == quote:
        raise ValidationError("config.quote must differ from config.base", field="config.quote")
    size = decimal_field(config, "size", "0.5")
    units_of(base, size, "size")
    mode = config.get("mode", "random")
    if mode not in MODES:
        raise ValidationError(
            f"config.mode must be one of {', '.join(MODES)}, got {mode!r}", field="config.mode"
        )
    probability = decimal_field(config, "probability", "1")
    if probability > 1:
        raise ValidationError("config.probability must be at most 1", field="config.probability")
    out: dict[str, Any] = {
        "base": base,
        "quote": quote,
        "size": format(size, "f"),
        "mode": mode,
        "probability": format(probability, "f"),
        "seed": int_field(config, "seed", 0, 0, 2**31 - 1),
    }
    if config.get("anchorUsd") is not None:
        out["anchorUsd"] = format(decimal_field(config, "anchorUsd"), "f")
    return out


def decide(tick: Tick) -> list[Intent]:
    """At most one market order this tick."""
    c = tick.config
    rng = tick.rng()
    if Decimal(rng.random()) >= Decimal(c["probability"]):
        return []
    base, quote = c["base"], c["quote"]
    size = Decimal(c["size"]) * (Decimal("0.5") + Decimal(rng.random()).quantize(Decimal("0.0001")))
    price_base, price_quote = tick.usd_prices.get(base), tick.usd_prices.get(quote)
    if c["mode"] == "mean_revert" and price_base is not None and c.get("anchorUsd") is not None:
        sell = price_base > Decimal(c["anchorUsd"])
        why = f"{base} ${price_base:.4f} {'above' if sell else 'below'} anchor ${Decimal(c['anchorUsd']):.4f}"
    else:
        sell = rng.random() < 0.5
        why = "random side"
    units = units_of(base, size, "size")
    if sell:
        return [Intent(base, quote, units, f"flow: sell {size:.4f} {base} ({why})")]
    if price_base is None or price_quote is None:
        return []
    spend = units_of_usd(quote, size * price_base, price_quote)
    return [Intent(quote, base, spend, f"flow: buy ~{size:.4f} {base} ({why})")] if spend > 0 else []
