"""Which venues and two-hop paths can carry a trade from token_in to token_out.

A ``Market`` is a snapshot of every venue's state as plain data. Two-hop paths go through an
intermediate token X over AMM pools and OTC desks (Jupiter already routes multi-hop inside
its own quote, so it is a direct venue only). Paths through different intermediates share no
pool (a pool has one pair), so each intermediate is an independent branch of the split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal

import otc_engine
from amm.pools import Pool
from routing_engine.venues import AggregatorQuote, AggregatorVenue, AmmVenue, OtcVenue, Venue

__all__ = ["LatencyConfig", "Market", "TwoHop", "direct_venues", "hop_venues", "two_hop_paths"]


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
    """Every venue for token_in→via (first) and via→token_out (second)."""

    via: str
    first: tuple[Venue, ...]
    second: tuple[Venue, ...]


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
