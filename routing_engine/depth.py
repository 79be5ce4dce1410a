"""Liquidity curves: every direct venue of a pair quoted on its own at log-spaced order sizes.

Each point is ``router.quote_venue`` (the exact integer quote and size-driven price impact the
router's side-by-side table shows), so a curve's point at size x is exactly that venue's row in
``find_route`` for an order of x on the same market. Nothing here prices anything itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from errors import ValidationError
from routing_engine.paths import Market, direct_venues, hop_venues
from routing_engine.router import missing_aggregator_quote, quote_venue, reference_ratio
from routing_engine.routes import VenueQuote
from routing_engine.venues import AmmVenue, OtcVenue, VenueKind

__all__ = ["DEFAULT_DECADES", "VenueCurve", "default_size_range", "log_sizes", "venue_curves"]

DEFAULT_DECADES = 5  # the default range spans hi / 10^5 .. hi
_SIGNIFICANT = 3  # interior sizes are rounded to 3 significant digits (base units): readable labels


@dataclass(frozen=True, slots=True)
class VenueCurve:
    """One venue's quotes at each size (``points`` in the order of the sizes asked for)."""

    venue_id: str
    venue: str
    kind: VenueKind
    is_estimate: bool
    min_in: int
    max_in: int | None
    depth_out: int
    points: tuple[VenueQuote, ...]

    @property
    def is_available(self) -> bool:
        """True when the venue can fill at least one of the sizes."""
        return any(p.available for p in self.points)

    @property
    def reason(self) -> str | None:
        """Why the venue fills none of the sizes (the largest size's reason); None when it fills one."""
        if self.is_available or not self.points:
            return None
        return self.points[-1].reason


def _round_significant(n: int, digits: int) -> int:
    """``n`` rounded to ``digits`` significant digits (half-even), never below 1."""
    excess = len(str(n)) - digits
    return n if excess <= 0 else max(1, round(n, -excess))


def log_sizes(lo: int, hi: int, count: int) -> tuple[int, ...]:
    """``count`` sizes from ``lo`` to ``hi`` base units (both exact) evenly spaced in log(size).

    Interior sizes are rounded to 3 significant digits; sizes that coincide in base units are
    dropped, so a range only a few base units wide yields fewer than ``count``.
    """
    if lo < 1 or hi < lo:
        raise ValidationError(f"sizes need 1 <= lo <= hi, got lo={lo} hi={hi}")
    if count < 2:
        raise ValidationError(f"count must be at least 2, got {count}")
    log_lo, log_hi = math.log(lo), math.log(hi)
    sizes = {lo, hi}
    for k in range(1, count - 1):
        x = round(math.exp(log_lo + (log_hi - log_lo) * k / (count - 1)))
        sizes.add(min(max(_round_significant(x, _SIGNIFICANT), lo), hi))
    return tuple(sorted(sizes))


def default_size_range(market: Market, token_in: str, token_out: str) -> tuple[int, int] | None:
    """(lo, hi) in base units of ``token_in``, or None when no pool or desk trades the pair directly.

    hi is the largest of a quarter of each pool's input reserve (about 20% price impact on that
    pool alone) and each desk's maximum input, rounded to 3 significant digits; lo is hi / 10^5,
    at least one base unit. The aggregator is left out: its quoted size is whatever the last
    quote asked for.
    """
    venues = hop_venues(market, token_in, token_out)
    if not venues:
        return None
    hi = 1
    for venue in venues:
        if isinstance(venue, AmmVenue):
            hi = max(hi, venue.reserve_in // 4)
        elif isinstance(venue, OtcVenue):
            hi = max(hi, venue.max_in)
    hi = _round_significant(hi, _SIGNIFICANT)
    return max(1, hi // 10**DEFAULT_DECADES), hi


def venue_curves(
    market: Market, token_in: str, token_out: str, sizes: tuple[int, ...]
) -> tuple[VenueCurve, ...]:
    """Every direct venue (pools, desks, the aggregator when it quoted the pair) quoted at each size.

    Without an aggregator quote for the pair but with ``market.aggregator_unavailable`` set, the
    aggregator is listed with every point unavailable for that reason (as ``find_route`` lists it).
    """
    curves = []
    venues = direct_venues(market, token_in, token_out)
    reference = reference_ratio(market, token_in, token_out)
    for venue in venues:
        curves.append(
            VenueCurve(
                venue_id=venue.venue_id,
                venue=venue.venue,
                kind=venue.kind,
                is_estimate=venue.is_estimate,
                min_in=venue.min_in,
                max_in=venue.max_in,
                depth_out=venue.depth_out(),
                points=tuple(quote_venue(venue, size, reference) for size in sizes),
            )
        )
    missing = [missing_aggregator_quote(market, venues, token_in, token_out, size) for size in sizes]
    if sizes and missing[0] is not None:
        points = tuple(q for q in missing if q is not None)
        curves.append(VenueCurve("jupiter", "Jupiter", VenueKind.AGGREGATOR, True, 1, None, 0, points))
    return tuple(curves)
