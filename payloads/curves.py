"""``GET /api/liquidity-curves``: each venue of a pair quoted alone at a range of sizes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Self

from pydantic import Field

from payloads.common import (
    Amount,
    DecimalText,
    Kind,
    Timestamp,
    _human,
    _Out,
    amount_str,
    decimal_str,
    iso,
    ratio_str,
)

if TYPE_CHECKING:
    from quoting import LiquidityCurves
    from routing_engine import VenueCurve, VenueQuote


class CurvePointOut(_Out):
    amountIn: Amount
    amountOut: Amount | None = Field(description="null when the venue cannot fill this size")
    price: DecimalText | None = Field(description="amountOut / amountIn (tokenOut per tokenIn)")
    priceImpactBps: DecimalText | None = Field(
        description="Fees included, against the reference mid (null without a reference price)"
    )
    curveImpactBps: DecimalText | None = Field(description="Size-driven impact, fee and base spread excluded")
    feeBps: DecimalText | None = Field(description="Fee or desk spread at this size (null: inside the price)")
    available: bool
    reason: str | None

    @classmethod
    def of(cls, q: VenueQuote, token_in: str, token_out: str) -> Self:
        price = None
        if q.available:
            price = ratio_str(_human(token_out, q.amount_out), _human(token_in, q.amount_in))
        return cls.make(
            amountIn=amount_str(token_in, q.amount_in),
            amountOut=amount_str(token_out, q.amount_out) if q.available else None,
            price=price,
            priceImpactBps=decimal_str(q.price_impact_bps, 4),
            curveImpactBps=decimal_str(q.curve_impact_bps, 4),
            feeBps=decimal_str(q.fee_bps, 4),
            available=q.available,
            reason=q.reason,
        )


class CurveVenueOut(_Out):
    venue: str
    venueId: str
    kind: Kind
    available: bool = Field(description="true when the venue fills at least one of the sizes")
    reason: str | None = Field(description="Why it fills none (the largest size's reason)")
    isEstimate: bool
    minAmountIn: Amount
    maxAmountIn: Amount | None = Field(description="null: no maximum")
    depthOut: Amount = Field(description="Most tokenOut the venue can pay")
    points: list[CurvePointOut] = Field(description="One per entry of sizes, in that order")

    @classmethod
    def of(cls, c: VenueCurve, token_in: str, token_out: str) -> Self:
        return cls.make(
            venue=c.venue,
            venueId=c.venue_id,
            kind=c.kind.value,
            available=c.is_available,
            reason=c.reason,
            isEstimate=c.is_estimate,
            minAmountIn=amount_str(token_in, c.min_in),
            maxAmountIn=amount_str(token_in, c.max_in),
            depthOut=amount_str(token_out, c.depth_out),
            points=[CurvePointOut.of(p, token_in, token_out) for p in c.points],
        )


class LiquidityCurvesResponse(_Out):
    """``GET /api/liquidity-curves``: each venue of a pair quoted alone at log-spaced sizes."""

    tokenIn: str
    tokenOut: str
    referencePrice: DecimalText | None = Field(description="tokenOut per tokenIn from USD prices")
    sizes: list[Amount] = Field(description="The sizes quoted, in tokenIn units, ascending")
    venues: list[CurveVenueOut]
    asOf: Timestamp

    @classmethod
    def of(cls, c: LiquidityCurves, as_of: datetime) -> Self:
        return cls.make(
            tokenIn=c.token_in,
            tokenOut=c.token_out,
            referencePrice=decimal_str(c.reference_price),
            sizes=[amount_str(c.token_in, size) for size in c.sizes],
            venues=[CurveVenueOut.of(v, c.token_in, c.token_out) for v in c.curves],
            asOf=iso(as_of),
        )
