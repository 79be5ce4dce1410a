"""The router: every venue's quote, the chosen route, and its optimality certificate.

``find_route(market, token_in, token_out, amount_in, strategy, slippage_bps)`` is pure: it
takes a ``Market`` snapshot and returns a ``RouteResult``. Amounts are int base units; bps
figures are Decimal.

The split itself lives in ``splitting`` (``optimal_split``). Here: every venue and two-hop path
quoted on its own for the side-by-side table, the single-venue strategies, and the route's
figures (minimum received, price impact versus the reference mid, saving versus the best
single venue, optimality gap). OPTIMAL_SPLIT is never worse than BEST_PRICE: if the split
were, BEST_PRICE's route is returned.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, localcontext

from amm.constant_product import BPS
from errors import NoRouteError
from routing_engine.paths import Market, direct_venues, two_hop_paths
from routing_engine.routes import (
    DEFAULT_CONFIG,
    LeafKey,
    Leg,
    Route,
    RouterConfig,
    RouteResult,
    VenueQuote,
    leaf_key,
    validate_order,
)
from routing_engine.splitting import plan_split
from routing_engine.strategies import Strategy, parse_strategy, pick_single
from routing_engine.venues import Venue, VenueKind, price_impact_bps
from tokens import get_token

__all__ = ["find_route", "quote_venue"]

_GAP_QUANTUM = Decimal("0.000001")
_BPS_QUANTUM = Decimal("0.01")


# --- single venues and paths -------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _combined_fee_bps(fees: tuple[Decimal | None, ...]) -> Decimal | None:
    # Pool pairs repeat their fees on every quote: memoised (the quantized result is exact per input).
    if any(f is None for f in fees):
        return None
    keep = Decimal(1)
    for fee in fees:
        assert fee is not None
        keep *= 1 - fee / BPS
    return ((1 - keep) * BPS).quantize(_BPS_QUANTUM)


def _quote_direct(venue: Venue, amount_in: int) -> VenueQuote:
    reason = venue.check(amount_in)
    out = 0 if reason else venue.quote(amount_in)
    return VenueQuote(
        venue_id=venue.venue_id,
        venue=venue.venue,
        kind=venue.kind,
        path=(venue.token_in, venue.token_out),
        amount_in=amount_in,
        amount_out=out,
        price_impact_bps=None if reason else price_impact_bps(venue, amount_in, out).quantize(_BPS_QUANTUM),
        fee_bps=venue.fee_bps(amount_in) if not reason else None,
        available=reason is None,
        reason=reason,
        latency_ms=venue.latency_ms,
        depth_out=venue.depth_out(),
        is_estimate=venue.is_estimate,
    )


def quote_venue(venue: Venue, amount_in: int) -> VenueQuote:
    """One direct venue quoted on its own for the whole ``amount_in`` (a row of the side-by-side table)."""
    return _quote_direct(venue, amount_in)


def _quote_two_hop(first: Venue, second: Venue, amount_in: int) -> VenueQuote:
    reason = first.check(amount_in)
    middle = 0 if reason else first.quote(amount_in)
    if reason is None:
        second_reason = second.check(middle)
        reason = f"second hop: {second_reason}" if second_reason else None
    else:
        reason = f"first hop: {reason}"
    out = 0 if reason else second.quote(middle)
    kind = VenueKind.OTC if VenueKind.OTC in (first.kind, second.kind) else VenueKind.AMM
    impact = None
    if not reason:
        with localcontext() as ctx:
            ctx.prec = 40
            impact = (
                (1 - Decimal(out) / (amount_in * first.marginal0() * second.marginal0())) * BPS
            ).quantize(_BPS_QUANTUM)
    # A path's liquidity is its shallower hop, measured in token_out.
    depth = min(second.depth_out(), int(first.depth_out() * second.marginal0()))
    return VenueQuote(
        venue_id=f"{first.venue_id}>{second.venue_id}",
        venue=f"{first.venue} → {second.venue}",
        kind=kind,
        path=(first.token_in, first.token_out, second.token_out),
        amount_in=amount_in,
        amount_out=out,
        price_impact_bps=impact,
        fee_bps=None if reason else _combined_fee_bps((first.fee_bps(amount_in), second.fee_bps(middle))),
        available=reason is None,
        reason=reason,
        latency_ms=first.latency_ms + second.latency_ms,
        depth_out=depth,
        is_estimate=first.is_estimate or second.is_estimate,
    )


def _single_route_legs(quote: VenueQuote, venues: dict[LeafKey, Venue]) -> tuple[Leg, ...]:
    """Re-derive the legs of a single venue or two-hop path quote."""
    ids = quote.venue_id.split(">")
    legs = []
    amount = quote.amount_in
    for hop, venue_id in enumerate(ids):
        venue = venues[(hop, venue_id, quote.path[hop])]  # same form as _leaf_key
        out = venue.quote(amount)
        legs.append(
            Leg(
                venue.venue_id,
                venue.venue,
                venue.kind,
                venue.token_in,
                venue.token_out,
                amount,
                out,
                hop,
                quote.path,
                venue.is_estimate,
                venue.latency_ms,
            )
        )
        amount = out
    return tuple(legs)


# --- the entry point ---------------------------------------------------------------------


def _bps(
    numerator: Decimal, denominator: Decimal, quantum: Decimal, rounding: str = ROUND_HALF_EVEN
) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 40
        return (numerator / denominator * BPS).quantize(quantum, rounding=rounding)


def missing_aggregator_quote(
    market: Market, direct: Sequence[Venue], token_in: str, token_out: str, amount_in: int
) -> VenueQuote | None:
    """The aggregator's row when it did not quote (``market.aggregator_unavailable`` says why), so
    that every list of venues shows it with the reason; None when it quoted or is not in play."""
    if not market.aggregator_unavailable or any(v.kind is VenueKind.AGGREGATOR for v in direct):
        return None
    return VenueQuote(
        venue_id="jupiter",
        venue="Jupiter",
        kind=VenueKind.AGGREGATOR,
        path=(token_in, token_out),
        amount_in=amount_in,
        amount_out=0,
        price_impact_bps=None,
        fee_bps=None,
        available=False,
        reason=market.aggregator_unavailable,
        latency_ms=market.latency.aggregator_ms,
        depth_out=0,
        is_estimate=True,
    )


def find_route(
    market: Market,
    token_in: str,
    token_out: str,
    amount_in: int,
    strategy: Strategy | str = Strategy.OPTIMAL_SPLIT,
    slippage_bps: int = 50,
    config: RouterConfig = DEFAULT_CONFIG,
) -> RouteResult:
    """Quote every venue and path for the order and choose a route by ``strategy``."""
    strategy = parse_strategy(strategy)
    validate_order(token_in, token_out, amount_in, slippage_bps)
    direct = direct_venues(market, token_in, token_out)
    paths = two_hop_paths(market, token_in, token_out) if config.two_hop else []

    quotes = [_quote_direct(v, amount_in) for v in direct]
    missing = missing_aggregator_quote(market, direct, token_in, token_out, amount_in)
    if missing is not None:
        quotes.append(missing)
    quotes += [_quote_two_hop(a, b, amount_in) for p in paths for a in p.first for b in p.second]
    available = [q for q in quotes if q.available]
    best_single = max(available, key=lambda q: q.amount_out) if available else None
    venue_index: dict[LeafKey, Venue] = {leaf_key(0, v): v for v in direct}
    venue_index |= {leaf_key(0, v): v for p in paths for v in p.first}
    venue_index |= {leaf_key(1, v): v for p in paths for v in p.second}

    legs: tuple[Leg, ...]
    plan = plan_split(
        market, direct, paths, token_in, amount_in, config, split=strategy is Strategy.OPTIMAL_SPLIT
    )
    upper = plan.upper_bound_out
    if strategy is Strategy.OPTIMAL_SPLIT:
        if not plan.legs and best_single is None:
            raise NoRouteError(f"no route can fill {amount_in} base units of {token_in} for {token_out}")
        if plan.legs and (best_single is None or plan.amount_out >= best_single.amount_out):
            legs = plan.legs
        else:
            assert best_single is not None
            legs = _single_route_legs(best_single, venue_index)
    else:
        legs = _single_route_legs(pick_single(strategy, quotes), venue_index)

    amount_out = sum(leg.amount_out for leg in legs if leg.token_out == token_out)
    if amount_out <= 0:
        raise NoRouteError(f"no route pays anything for {amount_in} units of {token_in}")
    gap = (
        _bps(Decimal(max(upper - amount_out, 0)), Decimal(amount_out), _GAP_QUANTUM, ROUND_CEILING)
        if upper
        else None
    )

    reference = market.mid_price(token_in, token_out)
    impact = None
    if reference is not None:
        scale = Decimal(10) ** (get_token(token_out).decimals - get_token(token_in).decimals)
        expected = amount_in * reference * scale
        impact = _bps(expected - amount_out, expected, _BPS_QUANTUM)
    savings = None
    if best_single is not None:
        savings = _bps(
            Decimal(amount_out - best_single.amount_out),
            Decimal(best_single.amount_out),
            _BPS_QUANTUM,
        )
    latency = _expected_latency_ms(legs)
    route = Route(
        strategy=strategy,
        legs=legs,
        amount_in=amount_in,
        amount_out=amount_out,
        min_amount_out=amount_out * (BPS - slippage_bps) // BPS,
        price_impact_bps=impact,
        savings_vs_best_single_bps=savings,
        optimality_gap_bps=gap,
        upper_bound_out=upper,
        expected_latency_ms=latency,
    )
    return RouteResult(
        token_in, token_out, amount_in, slippage_bps, reference, tuple(quotes), best_single, route
    )


def _expected_latency_ms(legs: Sequence[Leg]) -> int:
    """Legs of one hop run in parallel (the slowest counts); hops run in sequence; paths in parallel."""
    per_hop: dict[tuple[tuple[str, ...], int], int] = {}
    for leg in legs:
        per_hop[(leg.path, leg.hop)] = max(per_hop.get((leg.path, leg.hop), 0), leg.latency_ms)
    per_path: dict[tuple[str, ...], int] = {}
    for (path, _hop), ms in per_hop.items():
        per_path[path] = per_path.get(path, 0) + ms
    return max(per_path.values(), default=0)
