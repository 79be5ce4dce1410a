"""Which venues and paths of up to three hops can carry a trade from token_in to token_out.

A ``Market`` is a snapshot of every venue's state as plain data. Two-hop paths go through an
intermediate token X over AMM pools and OTC desks (Jupiter already routes multi-hop inside
its own quote, so it is a direct venue only). Paths through different intermediates share no
pool (a pool has one pair), so each intermediate is an independent branch of the split.

Three-hop paths A→X→Y→B are grouped under their first intermediate X (``TwoHop.onward``): the
branch for X is stage 1 (A→X) feeding the optimal split of X→B over its direct venues and its
onward paths X→Y→B. A three-hop path is kept only if none of its pools or desks appears anywhere
else in the search (e.g. A→X→Y→B and A→Y→B share Y/B): then the branches stay independent and
every route the split builds trades each pool once. The paths left out for sharing a pool are
returned apart (``PathSearch.shared``) so the bound can still count them (see ``splitting``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Context, Decimal

import otc_engine
from amm.pools import Pool
from routing_engine.venues import AggregatorQuote, AggregatorVenue, AmmVenue, OtcVenue, Venue
from tokens import get_token

__all__ = [
    "LatencyConfig",
    "Market",
    "PathSearch",
    "TwoHop",
    "direct_venues",
    "hop_venues",
    "route_paths",
    "two_hop_paths",
]


_CONTEXT = Context(prec=40)  # one shared context: cheaper than entering localcontext() per call


@dataclass(frozen=True, slots=True)
class LatencyConfig:
    """Expected time to a confirmed fill per venue kind (OTC adds the desk's settlement delay)."""

    amm_ms: int = 400
    aggregator_ms: int = 1_500
    otc_ms: int = 500


@dataclass(frozen=True)
class Market:
    """Everything the router needs to know, as plain values (no I/O)."""

    pools: tuple[Pool, ...]
    desks: tuple[otc_engine.Desk, ...] = ()
    usd_prices: Mapping[str, Decimal] = field(default_factory=dict)
    now: float = 0.0
    aggregator: AggregatorQuote | None = None  # used only for its own pair
    aggregator_unavailable: str | None = None  # why the aggregator has no quote (offline, no route, ...)
    latency: LatencyConfig = LatencyConfig()

    def mid_price(self, base: str, quote: str) -> Decimal | None:
        """Reference mid in human units of ``quote`` per ``base`` (None without both USD prices)."""
        base_usd, quote_usd = self.usd_prices.get(base), self.usd_prices.get(quote)
        if not base_usd or not quote_usd:
            return None
        return _CONTEXT.divide(base_usd, quote_usd)


@dataclass(frozen=True)
class TwoHop:
    """Every venue for token_in→via (first) and via→token_out (second).

    ``onward``: three-hop paths through ``via`` first, each a ``TwoHop`` from ``via`` to token_out
    through its own second intermediate (its ``first`` trades via→Y, its ``second`` Y→token_out).
    ``second`` may be empty when only onward paths reach token_out.
    ``before``: the mirror image, three-hop paths that reach ``via`` last, each a ``TwoHop`` from
    token_in to ``via`` (its ``first`` trades token_in→X, its ``second`` X→via); they feed
    ``second`` alongside ``first``, which may then be empty. A path has one or the other.
    """

    via: str
    first: tuple[Venue, ...]
    second: tuple[Venue, ...]
    onward: tuple[TwoHop, ...] = ()
    before: tuple[TwoHop, ...] = ()


@dataclass(frozen=True)
class PathSearch:
    """The paths a route may use, and the three-hop ones left out because they share a pool.

    ``shared`` holds (branch of the first intermediate, onward path) pairs; ``pruned`` counts the three-hop
    paths not searched at all (too shallow for the order, or beyond ``max_paths``).
    """

    paths: tuple[TwoHop, ...]
    shared: tuple[tuple[TwoHop, TwoHop], ...] = ()
    pruned: int = 0
    by_last: bool = False  # three-hop paths grouped under their last intermediate (``before``)

    def with_shared(self) -> tuple[TwoHop, ...]:
        """The paths with the shared three-hop ones put back (their pools counted twice)."""
        if not self.shared:
            return self.paths
        extra: dict[str, list[TwoHop]] = {}
        bases: dict[str, TwoHop] = {}
        for base, onward in self.shared:
            extra.setdefault(base.via, []).append(onward)
            bases.setdefault(base.via, base)
        merged = [self._attach(p, tuple(extra.pop(p.via, ()))) for p in self.paths]
        merged += [self._attach(bases[via], tuple(subs)) for via, subs in extra.items()]
        return tuple(merged)

    def _attach(self, path: TwoHop, subs: tuple[TwoHop, ...]) -> TwoHop:
        if self.by_last:
            return replace(path, before=path.before + subs)
        return replace(path, onward=path.onward + subs)


def hop_venues(market: Market, token_in: str, token_out: str) -> list[Venue]:
    """AMM pools and OTC desks that trade token_in for token_out directly."""
    return _hop_venues(market, market.pools, token_in, token_out)


def _hop_venues(market: Market, pools: Sequence[Pool], token_in: str, token_out: str) -> list[Venue]:
    """``hop_venues`` over ``pools``: any subset of the market's pools that keeps their order."""
    amm_ms = market.latency.amm_ms
    # pool.has(token_in) and pool.has(token_out), inlined: 1,000-pool markets scan every pool.
    venues: list[Venue] = [
        AmmVenue(pool, token_in, amm_ms)
        for pool in pools
        if token_in in (pool.token_a, pool.token_b) and token_out in (pool.token_a, pool.token_b)
    ]
    mids: dict[tuple[str, str], Decimal | None] = {}  # desks on one pair share its mid
    for desk in market.desks:
        if {desk.base, desk.quote} != {token_in, token_out}:
            continue
        pair = (desk.base, desk.quote)
        if pair not in mids:
            mids[pair] = market.mid_price(*pair)
        mid = mids[pair]
        if mid is not None:
            venues.append(OtcVenue(desk, token_in, token_out, mid, market.now, market.latency.otc_ms))
    return venues


def direct_venues(market: Market, token_in: str, token_out: str) -> list[Venue]:
    """Direct venues, plus the aggregator when it quoted this pair."""
    venues = hop_venues(market, token_in, token_out)
    quote = market.aggregator
    if quote is not None and (quote.token_in, quote.token_out) == (token_in, token_out):
        venues.append(AggregatorVenue(quote, market.latency.aggregator_ms))
    return venues


def two_hop_paths(market: Market, token_in: str, token_out: str) -> list[TwoHop]:
    """One branch per intermediate token that connects both sides."""
    tokens = {t for pool in market.pools for t in (pool.token_a, pool.token_b)}
    tokens |= {t for desk in market.desks for t in (desk.base, desk.quote)}
    tokens -= {token_in, token_out}
    if not tokens:
        return []  # a market of the pair alone (the common direct case): no intermediate to scan for
    # Each hop only ever looks at pools holding its own end token: filter those once, not per via.
    from_in = [pool for pool in market.pools if pool.has(token_in)]
    to_out = [pool for pool in market.pools if pool.has(token_out)]
    paths = []
    for via in sorted(tokens):
        first = _hop_venues(market, from_in, token_in, via)
        second = _hop_venues(market, to_out, via, token_out) if first else []
        if first and second:
            paths.append(TwoHop(via, tuple(first), tuple(second)))
    return paths


def _venue_ids(venues: Sequence[Venue]) -> set[str]:
    return {v.venue_id for v in venues}


def _usd_depth(market: Market, venues: Sequence[Venue]) -> Decimal:
    """USD value of what ``venues`` can pay out together (0 without a USD price)."""
    if not venues:
        return Decimal(0)
    token = venues[0].token_out
    usd = market.usd_prices.get(token)
    if not usd:
        return Decimal(0)
    total = sum(v.depth_out() for v in venues)
    return _CONTEXT.multiply(_CONTEXT.divide(Decimal(total), Decimal(get_token(token).unit)), usd)


def route_paths(
    market: Market,
    token_in: str,
    token_out: str,
    amount_in: int = 0,
    *,
    max_hops: int = 3,
    max_three_hop: int = 16,
    min_depth_ratio: Decimal = Decimal("0.01"),
) -> PathSearch:
    """Two-hop branches and, with ``max_hops`` 3, three-hop paths (see the module docstring).

    Three-hop paths are grouped under their first intermediate (``onward``) unless that leaves
    some out for sharing a pool and grouping them under their last intermediate (``before``)
    leaves fewer out: e.g. SOL→USDC→JUP and SOL→USDT→USDC→JUP share USDC→JUP, which is one
    stage after the split of SOL→USDC (direct, or through USDT).

    Pruning: a three-hop path whose shallower hop can pay out less than ``min_depth_ratio`` of
    the order's USD value is not searched, nor any beyond the ``max_three_hop`` deepest.
    """
    if max_hops < 2:
        return PathSearch(())
    if max_hops < 3:
        return PathSearch(tuple(two_hop_paths(market, token_in, token_out)))
    neighbours: dict[str, set[str]] = {}
    pools_of: dict[str, list[Pool]] = {}
    for pool in market.pools:
        a, b = pool.token_a, pool.token_b
        if (a == token_in and b == token_out) or (a == token_out and b == token_in):
            continue  # a direct pool is on no path through an intermediate (1,000-pool markets: all of them)
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
        pools_of.setdefault(a, []).append(pool)
        pools_of.setdefault(b, []).append(pool)
    for desk in market.desks:
        neighbours.setdefault(desk.base, set()).add(desk.quote)
        neighbours.setdefault(desk.quote, set()).add(desk.base)
    if neighbours.keys() <= {token_in, token_out}:
        return PathSearch(())  # no intermediate token at all (a market of the pair alone): no path
    order_usd = Decimal(0)
    usd_in = market.usd_prices.get(token_in)
    if usd_in and amount_in > 0:
        order_usd = _CONTEXT.multiply(
            _CONTEXT.divide(Decimal(amount_in), Decimal(get_token(token_in).unit)), usd_in
        )
    limits = (max_three_hop, order_usd * min_depth_ratio)
    by_first = _grouped(market, token_in, token_out, (neighbours, pools_of), limits, by_last=False)
    if not by_first.shared:
        return by_first
    by_last = _grouped(market, token_in, token_out, (neighbours, pools_of), limits, by_last=True)
    return by_last if len(by_last.shared) < len(by_first.shared) else by_first


def _grouped(
    market: Market,
    token_in: str,
    token_out: str,
    graph: tuple[Mapping[str, set[str]], Mapping[str, list[Pool]]],
    limits: tuple[int, Decimal],
    *,
    by_last: bool,
) -> PathSearch:
    """Branches per first (or last) intermediate, each with the three-hop paths that fit it."""
    neighbours, pools_of = graph
    max_three_hop, min_depth_usd = limits
    bases: list[TwoHop] = []
    # Every token next to token_in (by_first) or token_out (by_last) is a branch; one whose other
    # hop is empty is kept only if three-hop paths complete it.
    for via in sorted((neighbours.get(token_out if by_last else token_in, set())) - {token_in, token_out}):
        first = _hop_venues(market, pools_of.get(via, ()), token_in, via)
        second = _hop_venues(market, pools_of.get(via, ()), via, token_out)
        if second if by_last else first:
            bases.append(TwoHop(via, tuple(first), tuple(second)))
    candidates: list[tuple[Decimal, TwoHop, TwoHop]] = []
    for base in bases:
        # by_first: via→Y→token_out; by_last: token_in→X→via.
        start, end = (token_in, base.via) if by_last else (base.via, token_out)
        for middle in sorted(neighbours.get(start, set()) - {token_in, token_out, base.via}):
            if end not in neighbours.get(middle, set()):
                continue
            first = _hop_venues(market, pools_of.get(middle, ()), start, middle)
            second = _hop_venues(market, pools_of.get(middle, ()), middle, end)
            if first and second:
                depth = min(_usd_depth(market, first), _usd_depth(market, second))
                candidates.append((depth, base, TwoHop(middle, tuple(first), tuple(second))))
    if not candidates:  # the common case (a direct pair, or two hops at most): nothing can be shared
        return PathSearch(tuple(b for b in bases if b.first and b.second), (), 0, by_last)
    used = {p.pool_id for p in market.pools if p.has(token_in) and p.has(token_out)}
    used |= {d.desk_id for d in market.desks if {d.base, d.quote} == {token_in, token_out}}
    for base in bases:
        used |= _venue_ids(base.first) | _venue_ids(base.second)
    candidates.sort(key=lambda c: (-c[0], c[1].via, c[2].via))
    subs: dict[str, list[TwoHop]] = {}
    shared: list[tuple[TwoHop, TwoHop]] = []
    pruned = kept = 0
    for depth, base, sub in candidates:
        # A path of unknown USD depth (no price) is searched: nothing says it is shallow.
        if kept >= max_three_hop or (depth and min_depth_usd and depth < min_depth_usd):
            pruned += 1
            continue
        kept += 1
        ids = _venue_ids(sub.first) | _venue_ids(sub.second)
        if ids & used:
            shared.append((base, sub))
            continue
        used |= ids
        subs.setdefault(base.via, []).append(sub)
    paths = []
    for base in bases:
        extra = tuple(subs.get(base.via, ()))
        if (base.first and base.second) or extra:
            paths.append(replace(base, before=extra) if by_last else replace(base, onward=extra))
    return PathSearch(tuple(paths), tuple(shared), pruned, by_last)
