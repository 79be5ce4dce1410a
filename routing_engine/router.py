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
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal, localcontext

from amm.constant_product import BPS
from errors import NoRouteError
from routing_engine.outliers import reject_outliers
from routing_engine.paths import Market, TwoHop, direct_venues
from routing_engine.routes import (
    DEFAULT_CONFIG,
    LeafKey,
    Leg,
    Outlier,
    Route,
    RouterConfig,
    RouteResult,
    VenueQuote,
    leaf_key,
    new_venue_quote,
    validate_order,
)
from routing_engine.splitting import plan_split, search_paths
from routing_engine.strategies import Strategy, parse_strategy, pick_single
from routing_engine.venues import Venue, VenueKind, price_impact_bps
from tokens import format_amount, get_token

__all__ = ["find_route", "quote_venue", "reference_ratio"]

_GAP_QUANTUM = Decimal("0.000001")
_BPS_QUANTUM = Decimal("0.01")
_CONTEXT = Context(prec=40)
_MAX_PATH_ROWS = 64  # rows of the side-by-side table for multi-hop paths (venue combinations)


def reference_ratio(market: Market, token_in: str, token_out: str) -> Decimal | None:
    """The reference mid as base units of token_out per base unit of token_in (None without prices)."""
    mid = market.mid_price(token_in, token_out)
    if mid is None:
        return None
    scale = Decimal(10) ** (get_token(token_out).decimals - get_token(token_in).decimals)
    return _CONTEXT.multiply(mid, scale)


def _impact_vs(reference: Decimal | None, amount_in: int, amount_out: int) -> Decimal | None:
    """The one price impact: 1 − out / (in × reference mid), in bps, fees included (2 places)."""
    if reference is None or reference <= 0 or amount_in <= 0:
        return None
    return _impact_at(_impact_scale(reference, amount_in), amount_out)


def _impact_scale(reference: Decimal, amount_in: int) -> Decimal:
    """10⁴ / (in × reference): one division per order, shared by every venue's quote of it."""
    return _CONTEXT.divide(Decimal(BPS), _CONTEXT.multiply(Decimal(amount_in), reference))


def _impact_at(scale: Decimal, amount_out: int) -> Decimal:
    """10⁴ − out × scale = (1 − out / (in × reference)) × 10⁴."""
    return _CONTEXT.subtract(Decimal(BPS), _CONTEXT.multiply(Decimal(amount_out), scale)).quantize(
        _BPS_QUANTUM
    )


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


def _quote_direct(venue: Venue, amount_in: int, reference: Decimal | None = None) -> VenueQuote:
    reason = venue.check(amount_in)
    out = 0 if reason else venue.quote(amount_in)
    scale = _impact_scale(reference, amount_in) if reference is not None and reference > 0 else None
    return _quote_row(venue, amount_in, out, reason, scale)


def _quote_row(
    venue: Venue, amount_in: int, out: int, reason: str | None, scale: Decimal | None
) -> VenueQuote:
    return new_venue_quote(
        venue.venue_id,
        venue.venue,
        venue.kind,
        (venue.token_in, venue.token_out),
        amount_in,
        out,
        None if reason or scale is None else _impact_at(scale, out),
        venue.fee_bps(amount_in) if not reason else None,
        reason is None,
        reason,
        venue.latency_ms,
        venue.depth_out(),
        venue.is_estimate,
        None if reason else price_impact_bps(venue, amount_in, out).quantize(_BPS_QUANTUM),
    )


def quote_venue(venue: Venue, amount_in: int, reference: Decimal | None = None) -> VenueQuote:
    """One direct venue quoted on its own for the whole ``amount_in`` (a row of the side-by-side table).

    ``reference``: the pair's reference mid in base units (``reference_ratio``) for the quote's
    ``price_impact_bps``; without it only the curve impact is known.
    """
    return _quote_direct(venue, amount_in, reference)


def _quote_path(hops: Sequence[Venue], amount_in: int, reference: Decimal | None = None) -> VenueQuote:
    """A multi-hop path through one venue per hop, quoted on its own for the whole order."""
    reason = None
    amount = amount_in
    fees: list[Decimal | None] = []
    for i, venue in enumerate(hops):
        why = venue.check(amount)
        if why:
            reason = f"{_HOP_NAMES[i]} hop: {why}"
            break
        fees.append(venue.fee_bps(amount))
        amount = venue.quote(amount)
    out = 0 if reason else amount
    kind = VenueKind.OTC if any(v.kind is VenueKind.OTC for v in hops) else VenueKind.AMM
    curve_impact = None
    if not reason:
        best = Decimal(amount_in)
        for venue in hops:
            best = _CONTEXT.multiply(best, venue.marginal0())
        curve_impact = _CONTEXT.multiply(1 - _CONTEXT.divide(Decimal(out), best), Decimal(BPS)).quantize(
            _BPS_QUANTUM
        )
    # A path's liquidity is its shallowest hop, measured in token_out.
    depth = hops[-1].depth_out()
    downstream = Decimal(1)
    for i in range(len(hops) - 2, -1, -1):
        downstream = _CONTEXT.multiply(downstream, hops[i + 1].marginal0())
        depth = min(depth, int(hops[i].depth_out() * downstream))
    return VenueQuote(
        venue_id=">".join(v.venue_id for v in hops),
        venue=" → ".join(v.venue for v in hops),
        kind=kind,
        path=(hops[0].token_in, *(v.token_out for v in hops)),
        amount_in=amount_in,
        amount_out=out,
        price_impact_bps=None if reason else _impact_vs(reference, amount_in, out),
        curve_impact_bps=curve_impact,
        fee_bps=None if reason else _combined_fee_bps(tuple(fees)),
        available=reason is None,
        reason=reason,
        latency_ms=sum(v.latency_ms for v in hops),
        depth_out=depth,
        is_estimate=any(v.is_estimate for v in hops),
    )


_HOP_NAMES = ("first", "second", "third")


def _path_combinations(paths: Sequence[TwoHop]) -> list[tuple[Venue, ...]]:
    """Every venue combination of every path (two and three hops), at most ``_MAX_PATH_ROWS``."""
    rows: list[tuple[Venue, ...]] = []
    for p in paths:
        rows += [(a, b) for a in p.first for b in p.second]
        rows += [(a, b, c) for a in p.first for o in p.onward for b in o.first for c in o.second]
        rows += [(a, b, c) for o in p.before for a in o.first for b in o.second for c in p.second]
    return rows[:_MAX_PATH_ROWS]


def _single_route_legs(quote: VenueQuote, venues: dict[LeafKey, Venue]) -> tuple[Leg, ...]:
    """Re-derive the legs of a single venue or two-hop path quote."""
    ids = quote.venue_id.split(">")
    legs = []
    amount = quote.amount_in
    for hop, venue_id in enumerate(ids):
        venue = venues[(hop, venue_id, quote.path[hop])]  # same form as leaf_key
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
        curve_impact_bps=None,
        fee_bps=None,
        available=False,
        reason=market.aggregator_unavailable,
        latency_ms=market.latency.aggregator_ms,
        depth_out=0,
        is_estimate=True,
    )


def _rejected_quote(venue: Venue, outlier: Outlier, amount_in: int) -> VenueQuote:
    """A venue rejected as an outlier, as a row of the side-by-side table (not routed)."""
    pair = f"{venue.token_out} per {venue.token_in}"
    return VenueQuote(
        venue_id=venue.venue_id,
        venue=venue.venue,
        kind=venue.kind,
        path=(venue.token_in, venue.token_out),
        amount_in=amount_in,
        amount_out=0,
        price_impact_bps=None,
        fee_bps=None,
        available=False,
        reason=(
            f"rejected: outlier: its price {outlier.price:.6g} {pair} is {outlier.deviation_bps} bps "
            f"from the reference {outlier.reference:.6g}, beyond what its curve and fee explain"
        ),
        latency_ms=venue.latency_ms,
        depth_out=venue.depth_out(),
        is_estimate=venue.is_estimate,
        outlier=outlier,
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
    direct, search, rejected = reject_outliers(
        market,
        direct_venues(market, token_in, token_out),
        search_paths(market, token_in, token_out, amount_in, config),
        config,
    )
    paths = search.paths
    reference = reference_ratio(market, token_in, token_out)

    scale = _impact_scale(reference, amount_in) if reference is not None and reference > 0 else None
    quotes = []
    for v in direct:
        reason = v.check(amount_in)
        quotes.append(_quote_row(v, amount_in, 0 if reason else v.quote(amount_in), reason, scale))
    quotes += [_rejected_quote(v, outlier, amount_in) for v, outlier in rejected]
    missing = missing_aggregator_quote(market, direct, token_in, token_out, amount_in)
    if missing is not None and not any(v.kind is VenueKind.AGGREGATOR for v, _ in rejected):
        quotes.append(missing)
    quotes += [_quote_path(hops, amount_in, reference) for hops in _path_combinations(paths)]
    available = [q for q in quotes if q.available]
    best_single = max(available, key=lambda q: q.amount_out) if available else None
    venue_index: dict[LeafKey, Venue] = {leaf_key(0, v): v for v in direct}
    for p in paths:
        venue_index |= {leaf_key(0, v): v for v in p.first}
        venue_index |= {leaf_key(1, v): v for v in p.second}
        for o in p.onward:
            venue_index |= {leaf_key(1, v): v for v in o.first}
            venue_index |= {leaf_key(2, v): v for v in o.second}
        for o in p.before:
            venue_index |= {leaf_key(0, v): v for v in o.first}
            venue_index |= {leaf_key(1, v): v for v in o.second}
            venue_index |= {leaf_key(2, v): v for v in p.second}

    legs: tuple[Leg, ...]
    plan = plan_split(
        market,
        direct,
        paths,
        token_in,
        amount_in,
        config,
        split=strategy is Strategy.OPTIMAL_SPLIT,
        shared=search.with_shared() if search.shared else (),
    )
    upper = plan.upper_bound_out
    if strategy is Strategy.OPTIMAL_SPLIT:
        if not plan.legs and best_single is None:
            raise NoRouteError(_no_route_message(quotes, token_in, token_out, amount_in))
        if plan.legs and (best_single is None or plan.amount_out >= best_single.amount_out):
            legs = plan.legs
        else:
            assert best_single is not None
            legs = _single_route_legs(best_single, venue_index)
    else:
        legs = _single_route_legs(pick_single(strategy, quotes), venue_index)

    amount_out = sum(leg.amount_out for leg in legs if leg.token_out == token_out)
    if amount_out <= 0:
        raise NoRouteError(
            f"no route pays anything for {format_amount(token_in, amount_in)} {token_in} in {token_out}"
        )
    gap = (
        _bps(Decimal(max(upper - amount_out, 0)), Decimal(amount_out), _GAP_QUANTUM, ROUND_CEILING)
        if upper
        else None
    )

    impact = _impact_vs(reference, amount_in, amount_out)
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
        bound_note=plan.bound_note if upper else None,
    )
    human_reference = market.mid_price(token_in, token_out)
    return RouteResult(
        token_in, token_out, amount_in, slippage_bps, human_reference, tuple(quotes), best_single, route
    )


def _no_route_message(quotes: Sequence[VenueQuote], token_in: str, token_out: str, amount_in: int) -> str:
    """Why nothing fills the order, in token units, with each venue's own reason (at most 6)."""
    head = f"no route can fill {format_amount(token_in, amount_in)} {token_in} for {token_out}"
    reasons = [f"{q.venue}: {q.reason}" for q in quotes if q.reason][:6]
    return f"{head} ({'; '.join(reasons)})" if reasons else f"{head}: no pool or desk connects the pair"


def _expected_latency_ms(legs: Sequence[Leg]) -> int:
    """Legs of one hop run in parallel (the slowest counts); hops run in sequence; paths in parallel.

    A leg at hop h serves every path that shares its first h + 2 tokens (a first-hop leg into X
    feeds the two-hop path through X and the three-hop paths through X alike).
    """
    per_hop: dict[tuple[tuple[str, ...], int], int] = {}
    for leg in legs:
        key = (leg.path[: leg.hop + 2], leg.hop)
        per_hop[key] = max(per_hop.get(key, 0), leg.latency_ms)
    best = 0
    for path in {leg.path for leg in legs}:
        best = max(best, sum(per_hop.get((path[: h + 2], h), 0) for h in range(len(path) - 1)))
    return best
