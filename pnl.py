"""Average-cost accounting of a holding, in exact decimals (pure: plain values in and out).

A holding is a quantity of one token (base units), its cost basis in USD and the P&L its sales
realised. Buying adds the trade's USD value to the cost; selling removes cost in proportion
(cost × sold ÷ quantity) and realises proceeds − removed cost. USD figures are kept to 8
decimal places (``USD_STEP``), rounded half-even: they are reporting figures, never money that
moves (balances are integer base units).

A trade's USD value (``trade_value_usd``) is one figure for both of its sides, so a trade moves
P&L between the two holdings and never creates any: when exactly one side is a USD stablecoin
it is that side's amount at its reference price (a SOL sale for USDC realises the USDC received;
a SOL purchase costs the USDC paid), otherwise the amount paid at the paid token's reference price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from tokens import from_base_units, get_token

__all__ = ["USD_STABLECOINS", "USD_STEP", "Holding", "bought", "sold", "trade_value_usd", "usd", "usd_value"]

USD_STEP = Decimal("0.00000001")
USD_STABLECOINS = frozenset({"USDC", "USDT"})
ZERO = Decimal(0)


def usd(value: Decimal) -> Decimal:
    """A USD figure to 8 decimal places, half-even."""
    return value.quantize(USD_STEP, rounding=ROUND_HALF_EVEN)


def usd_value(symbol: str, units: int, price_usd: Decimal) -> Decimal:
    """``units`` base units of ``symbol`` at ``price_usd`` per token, in USD (8 places)."""
    return usd(from_base_units(get_token(symbol), units) * price_usd)


@dataclass(frozen=True)
class Holding:
    """A position at average cost: ``quantity`` base units, their cost basis and the realised P&L."""

    quantity: int = 0
    cost_usd: Decimal = ZERO
    realised_pnl_usd: Decimal = ZERO

    def average_cost(self, symbol: str) -> Decimal | None:
        """USD per token of the holding's cost basis (None when it holds nothing)."""
        if self.quantity <= 0:
            return None
        return self.cost_usd / from_base_units(get_token(symbol), self.quantity)


def bought(holding: Holding, units: int, value_usd: Decimal) -> Holding:
    """``holding`` after receiving ``units`` worth ``value_usd`` (cost basis += value)."""
    if units < 0:
        raise ValueError(f"bought: negative units {units}")
    return replace(holding, quantity=holding.quantity + units, cost_usd=usd(holding.cost_usd + value_usd))


def sold(holding: Holding, units: int, proceeds_usd: Decimal) -> tuple[Holding, Decimal]:
    """``holding`` after selling ``units`` for ``proceeds_usd``, and the P&L that sale realised.

    Removed cost = cost × sold ÷ quantity (8 places, half-even); all of it when the sale takes
    the whole quantity. Units beyond the quantity (a balance older than its position) carry no
    cost: their proceeds are all gain.
    """
    if units < 0:
        raise ValueError(f"sold: negative units {units}")
    if holding.quantity <= 0:
        removed = ZERO
    elif units >= holding.quantity:
        removed = holding.cost_usd
    else:
        removed = usd(holding.cost_usd * units / holding.quantity)
    realised = usd(proceeds_usd - removed)
    after = Holding(
        quantity=max(0, holding.quantity - units),
        cost_usd=usd(holding.cost_usd - removed),
        realised_pnl_usd=usd(holding.realised_pnl_usd + realised),
    )
    return after, realised


def trade_value_usd(
    token_in: str, spent: int, token_out: str, received: int, prices_usd: Mapping[str, Decimal]
) -> Decimal:
    """The one USD value of a trade (see the module's docstring); 0 when neither side has a price."""
    sides = [(token_in, spent), (token_out, received)]
    if token_out in USD_STABLECOINS and token_in not in USD_STABLECOINS:
        sides.reverse()
    for symbol, units in sides:
        price = prices_usd.get(symbol)
        if price is not None and price > 0:
            return usd_value(symbol, units, price)
    return ZERO
