"""Arbitrage bot: trades the best opportunity ``routing_engine.arbitrage.find_opportunities`` finds.

Config: ``minProfitUsd`` (opportunities paying less are ignored, default 1) and
``maxOpportunities`` per tick (default 1).

How it trades, honestly: an opportunity is a loop of venue legs (buy SOL on pool A, sell it on
pool B; or a three-token cycle), but the order path takes market orders for a pair, not for a
venue. So each leg becomes one market order for its pair and size (``leg.amount_in`` of
``leg.token_in``), and the router routes it like any trader's order: it may split across venues
or take another path. The legs run as separate orders from the bot's own inventory (funded in
every token), not as one atomic loop: the profit realised is not the opportunity's figure, and a
leg may even lose. What does hold is the effect the bot exists for: the optimal split sends each
leg where it pays most (the dear venue for the sell, the cheap ones for the buy) and leaves the
venues it used at equal marginal prices, so ticks repeat until no loop pays more than
``minProfitUsd``: venue prices converge to within fees of each other, and (through the desks,
which quote around the reference price) of the reference (tests/test_bot_arbitrage.py measures it).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bots.base import Intent, Tick, decimal_field, int_field
from routing_engine import find_opportunities

__all__ = ["decide", "validate"]


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config normalised (ValidationError naming ``config.<field>``)."""
    return {
        "minProfitUsd": format(decimal_field(config, "minProfitUsd", "1"), "f"),
        "maxOpportunities": int_field(config, "maxOpportunities", 1, 1, 5),
    }


def decide(tick: Tick) -> list[Intent]:
    """One market order per leg of the best opportunities (legs the inventory cannot pay are cut)."""
    c = tick.config
    found = find_opportunities(
        tick.market, min_profit_usd=Decimal(c["minProfitUsd"]), limit=int(c["maxOpportunities"])
    )
    left = dict(tick.available)
    intents: list[Intent] = []
    for opportunity in found:
        path = "→".join(opportunity.tokens)
        for leg in opportunity.legs:
            amount = min(leg.amount_in, left.get(leg.token_in, 0))
            if amount <= 0:
                continue
            left[leg.token_in] = left.get(leg.token_in, 0) - amount
            intents.append(
                Intent(
                    leg.token_in,
                    leg.token_out,
                    amount,
                    f"arbitrage {opportunity.kind} {path}: leg {leg.hop} via {leg.venue} "
                    f"(expected profit ${opportunity.profit_usd:.2f}, {opportunity.profit_bps:.1f} bps)",
                    details={
                        "venue": leg.venue_id,
                        "profitUsd": format(opportunity.profit_usd, "f"),
                        "profitBps": format(opportunity.profit_bps, "f"),
                        "path": path,
                    },
                )
            )
    return intents
