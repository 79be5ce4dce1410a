"""Outlier rejection: venues whose own price is far from the reference mid are not routed.

A venue's own mid is its output per unit input for an infinitesimal order with its fee taken
back out (a pool: R_out / R_in; a desk: its price after the base spread, divided by 1 − spread;
the aggregator: its fitted best price, fees being inside its quote). Its curve explains any
further distance for a real order size, and its fee the rest; what neither explains is the
deviation (own mid / reference mid − 1). Beyond ``RouterConfig.outlier_bps`` the venue is
dropped from the route and listed with the figures (a stale or manipulated pool would otherwise
be routed at an absurd "price impact").

The screen runs in float (a 20% threshold needs no exactness); the figures reported for a
rejected venue are exact Decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Context, Decimal

from amm.constant_product import BPS
from routing_engine.paths import Market, PathSearch, TwoHop
from routing_engine.routes import Outlier, RouterConfig
from routing_engine.venues import AmmVenue, OtcVenue, Venue
from tokens import get_token

__all__ = ["reject_outliers", "venue_mid"]

_CONTEXT = Context(prec=40)
_QUANTUM = Decimal("0.01")
_FIGURES = Context(prec=12)  # the prices shown for a rejected venue: 12 significant digits


def venue_mid(venue: Venue) -> Decimal:
    """The venue's own mid in base units of token_out per base unit of token_in, fee taken out."""
    if isinstance(venue, AmmVenue):
        return _CONTEXT.divide(Decimal(venue.reserve_out), Decimal(venue.reserve_in))
    if isinstance(venue, OtcVenue):
        keep = 1 - _CONTEXT.divide(venue.desk.base_spread_bps, Decimal(BPS))
        return _CONTEXT.divide(venue.marginal0(), keep) if keep > 0 else venue.marginal0()
    return venue.marginal0()


def _float_mid(venue: Venue) -> float:
    if isinstance(venue, AmmVenue):  # the hot case (every pool of a 1,000-pool market): no Decimal
        return venue.reserve_out / venue.reserve_in
    return float(venue_mid(venue))


class _Screen:
    """Reference mids per pair (cached) and the venues found to be outliers."""

    def __init__(self, market: Market, threshold_bps: Decimal) -> None:
        self.market = market
        self.limit = float(threshold_bps) / BPS
        self.references: dict[tuple[str, str], tuple[Decimal, float] | None] = {}
        self.rejected: dict[tuple[str, str], tuple[Venue, Outlier]] = {}

    def _reference(self, token_in: str, token_out: str) -> tuple[Decimal, float] | None:
        pair = (token_in, token_out)
        if pair not in self.references:
            mid = self.market.mid_price(token_in, token_out)
            if mid is None or mid <= 0:
                self.references[pair] = None
            else:
                scale = Decimal(10) ** (get_token(token_out).decimals - get_token(token_in).decimals)
                ratio = _CONTEXT.multiply(mid, scale)
                self.references[pair] = (ratio, float(ratio))
        return self.references[pair]

    def is_kept(self, venue: Venue) -> bool:
        """False (and the venue recorded) when the venue is an outlier."""
        key = (venue.venue_id, venue.token_in)
        if key in self.rejected:
            return False
        reference = self._reference(venue.token_in, venue.token_out)
        if reference is None:
            return True
        exact, approximate = reference
        if abs(_float_mid(venue) / approximate - 1.0) <= self.limit:
            return True
        own = venue_mid(venue)
        deviation = _CONTEXT.multiply(_CONTEXT.divide(own, exact) - 1, Decimal(BPS))
        if abs(deviation) <= self.limit * BPS:  # float said out, exact maths says in: keep it
            return True
        scale = Decimal(10) ** (get_token(venue.token_in).decimals - get_token(venue.token_out).decimals)
        self.rejected[key] = (
            venue,
            Outlier(
                price=_FIGURES.plus(_CONTEXT.multiply(own, scale)),
                reference=_FIGURES.plus(_CONTEXT.multiply(exact, scale)),
                deviation_bps=_CONTEXT.quantize(deviation, _QUANTUM),
            ),
        )
        return False

    def keep(self, venues: Sequence[Venue]) -> tuple[Venue, ...]:
        """``venues`` without the outliers; pools of one pair are screened in one float loop."""
        kept: list[Venue] = []
        for venue in venues:
            if isinstance(venue, AmmVenue):
                reference = self._reference(venue.token_in, venue.token_out)
                if (
                    reference is None
                    or abs(venue.reserve_out / venue.reserve_in / reference[1] - 1.0) <= self.limit
                ):
                    kept.append(venue)
                    continue
            if self.is_kept(venue):
                kept.append(venue)
        return tuple(kept)

    def path(self, path: TwoHop) -> TwoHop | None:
        first, second = self.keep(path.first), self.keep(path.second)
        onward = tuple(p for p in (self.path(o) for o in path.onward) if p is not None)
        before = tuple(p for p in (self.path(o) for o in path.before) if p is not None)
        if not (first or before) or not (second or onward):
            return None
        return TwoHop(path.via, first, second, onward, before)


def reject_outliers(
    market: Market, direct: Sequence[Venue], search: PathSearch, config: RouterConfig
) -> tuple[list[Venue], PathSearch, list[tuple[Venue, Outlier]]]:
    """``direct`` and ``search`` without outlier venues, and the rejected venues with their figures."""
    if config.outlier_bps <= 0:
        return list(direct), search, []
    screen = _Screen(market, config.outlier_bps)
    kept_direct = list(screen.keep(direct))
    paths = tuple(p for p in (screen.path(p) for p in search.paths) if p is not None)
    shared = []
    for base, sub in search.shared:
        kept_sub = screen.path(sub)
        first = screen.keep(base.first)
        if kept_sub is not None and (first or search.by_last):
            shared.append((replace(base, first=first, second=screen.keep(base.second)), kept_sub))
    if not screen.rejected:
        return kept_direct, search, []
    return kept_direct, replace(search, paths=paths, shared=tuple(shared)), list(screen.rejected.values())
