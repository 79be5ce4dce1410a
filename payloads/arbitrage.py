"""Arbitrage opportunities at their optimal sizes (``routing_engine.arbitrage``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Self

from pydantic import Field

from payloads.common import Amount, DecimalText, Timestamp, _Out, amount_str, decimal_str, epoch_iso

if TYPE_CHECKING:
    from routing_engine import ArbitrageLeg, Opportunity


class ArbitrageLegOut(_Out):
    hop: int = Field(description="1 for the first trade of the loop")
    venueId: str
    venue: str
    kind: Literal["amm", "otc"]
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount

    @classmethod
    def of(cls, leg: ArbitrageLeg) -> Self:
        return cls.make(
            hop=leg.hop,
            venueId=leg.venue_id,
            venue=leg.venue,
            kind=leg.kind.value,
            tokenIn=leg.token_in,
            tokenOut=leg.token_out,
            amountIn=amount_str(leg.token_in, leg.amount_in),
            amountOut=amount_str(leg.token_out, leg.amount_out),
        )


class OpportunityOut(_Out):
    kind: Literal["cross_venue", "cycle"] = Field(
        description="cross_venue: one pair on two venues (two hops); cycle: three hops over three pairs"
    )
    path: list[str] = Field(description="Tokens traded in order, the start token at both ends")
    startToken: str
    amountIn: Amount = Field(description="Optimal input of startToken")
    amountOut: Amount = Field(description="What the last leg pays back, exact venue maths")
    profit: Amount = Field(description="amountOut - amountIn, in startToken units, net of fees and spreads")
    profitUsd: DecimalText = Field(description="profit at the reference USD price (6 places)")
    profitBps: DecimalText = Field(description="profit / amountIn in basis points (2 places)")
    legs: list[ArbitrageLegOut]

    @classmethod
    def of(cls, o: Opportunity) -> Self:
        return cls.make(
            kind=o.kind,
            path=list(o.tokens),
            startToken=o.start_token,
            amountIn=amount_str(o.start_token, o.amount_in),
            amountOut=amount_str(o.start_token, o.amount_out),
            profit=amount_str(o.start_token, o.profit),
            profitUsd=decimal_str(o.profit_usd, 6),
            profitBps=decimal_str(o.profit_bps, 2),
            legs=[ArbitrageLegOut.of(leg) for leg in o.legs],
        )


class OpportunitiesResponse(_Out):
    opportunities: list[OpportunityOut] = Field(description="Best USD profit first")
    total: int = Field(description="How many are listed (at most limit)")
    minProfitUsd: DecimalText
    asOf: Timestamp = Field(description="When the venues were read")

    @classmethod
    def of(cls, found: Sequence[Opportunity], min_profit_usd: Decimal, as_of: float) -> Self:
        return cls.make(
            opportunities=[OpportunityOut.of(o) for o in found],
            total=len(found),
            minProfitUsd=decimal_str(min_profit_usd),
            asOf=epoch_iso(as_of),
        )
