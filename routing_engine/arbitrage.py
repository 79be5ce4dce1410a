"""Arbitrage detection: cross-venue pairs and two- and three-hop cycles over every pool and desk.

A cycle trades a start token round a loop of directional venues (pools and OTC desks; the
aggregator is ignored) back to itself. Two hops over two venues of one pair is a **cross-venue**
opportunity (buy on the cheap venue, sell on the dear one); three hops over three pairs is a
**cycle** (e.g. SOL→USDC→USDT→SOL).

Search (scales to hundreds of pools). Each directional venue has a zero-size marginal price m
(output per unit input, fee or desk base spread included: g·R_out/R_in for a pool, the desk's u).
Along a loop the marginal price of the whole cycle at size 0 is the product of its venues' m, and
every venue is concave (marginals only fall with size), so a loop whose product is ≤ 1 cannot
profit at any size. Per ordered token pair the venues are sorted by m, so the best product of a
token loop is one multiplication: token loops at or under 1 are dropped whole, and within a
surviving loop the venue combinations are walked best-first and cut as soon as the product
falls to 1. Only the survivors are sized.

Sizing, per surviving loop and per rotation (which token it starts from):
- all constant-product: pool i maps x to a·x/(b + c·x) with a = (10⁴ − fee)·R_out, b = 10⁴·R_in,
  c = 10⁴ − fee, and two such maps compose into one of the same form,
  (a₁a₂, b₁b₂, b₂c₁ + a₁c₂) — the same composition as ``curves.virtual_cp_of_two_hops``, in
  integers. Profit A·x/(B + C·x) − x is concave with its maximum where A·B/(B + C·x)² = 1:
  x* = (√(A·B) − B)/C, computed with ``math.isqrt`` exactly, then the exact integer maths is
  evaluated at the neighbours of x* and the best kept (the floors move the integer optimum by a
  few units at most; the tests bound the gap against a brute-force optimiser).
- with a desk leg: the desk only fills inputs in [min_in, max_in], which bounds the start input to
  an interval (every leg is non-decreasing in the start input, so each bound is found by
  bisection), and the profit is concave on it (concave increasing maps composed, less x): a
  safeguarded integer ternary search on the exact maths, then a scan of its last bracket.

The final figures are the venues' own exact integer maths (``amm`` for pools,
``otc_engine.quote`` for desks), rounded for the venue: executing the legs in order pays exactly
``amount_out``. USD figures are at the market's reference prices (float never enters them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Literal

import otc_engine
from amm.constant_product import BPS, amount_out_for_in, amount_out_unchecked
from errors import SolrouteError
from routing_engine.paths import Market
from routing_engine.venues import AmmVenue, OtcVenue, VenueKind
from tokens import get_token

__all__ = [
    "ArbitrageLeg",
    "ArbitrageSearch",
    "Opportunity",
    "OpportunityKind",
    "find_opportunities",
    "search_opportunities",
]

OpportunityKind = Literal["cross_venue", "cycle"]

_CONTEXT = Context(prec=40)
_NEIGHBOURS = 2  # integers either side of the closed-form optimum checked on the exact maths
_SCAN = 16  # the ternary search stops at a bracket this narrow and scans it


@dataclass(frozen=True, slots=True)
class ArbitrageLeg:
    """One hop of an opportunity: amounts in base units, computed with the venue's exact maths."""

    hop: int  # 1-based
    venue_id: str
    venue: str
    kind: VenueKind
    token_in: str
    token_out: str
    amount_in: int
    amount_out: int


@dataclass(frozen=True, slots=True)
class Opportunity:
    """A profitable loop at its optimal size; ``profit`` is in base units of ``start_token``."""

    kind: OpportunityKind
    start_token: str
    amount_in: int
    amount_out: int
    profit: int
    profit_usd: Decimal
    profit_bps: Decimal
    legs: tuple[ArbitrageLeg, ...]
    tokens: tuple[str, ...]  # the path, start token at both ends


@dataclass(frozen=True, slots=True)
class ArbitrageSearch:
    """What a search did: the opportunities and the work counts the bench prints."""

    opportunities: tuple[Opportunity, ...]
    checked: int  # marginal-price products compared with 1 (token loops and venue loops)
    examined: int  # venue loops that passed (all of them without pruning)
    sized: int  # optimal-size searches: one per examined loop and start token with a USD price


# --- the graph of directional venues ------------------------------------------------------------

_Edge = AmmVenue | OtcVenue


def _marginal(venue: _Edge) -> float:
    """Zero-size output per unit input, fee or base spread included (an upper bound at every size)."""
    if isinstance(venue, AmmVenue):
        return (BPS - venue.pool.fee_bps) * venue.reserve_out / (BPS * venue.reserve_in)
    return float(venue.marginal0())


def _edges(market: Market) -> dict[tuple[str, str], list[tuple[float, _Edge]]]:
    """Every directional pool and desk per ordered token pair, best zero-size marginal first."""
    by_pair: dict[tuple[str, str], list[tuple[float, _Edge]]] = {}
    latency = market.latency
    for pool in market.pools:
        for token_in in (pool.token_a, pool.token_b):
            venue = AmmVenue(pool, token_in, latency.amm_ms)
            by_pair.setdefault((token_in, venue.token_out), []).append((_marginal(venue), venue))
    for desk in market.desks:
        mid = market.mid_price(desk.base, desk.quote)
        if mid is None:
            continue  # a desk quotes around the reference mid: none without both prices
        for token_in, token_out in ((desk.base, desk.quote), (desk.quote, desk.base)):
            otc = OtcVenue(desk, token_in, token_out, mid, market.now, latency.otc_ms)
            if otc.params is not None:  # None: nothing fillable now (inventory, limits)
                by_pair.setdefault((token_in, token_out), []).append((_marginal(otc), otc))
    for venues in by_pair.values():
        venues.sort(key=lambda e: (-e[0], e[1].venue_id))
    return by_pair


def _loops(
    by_pair: Mapping[tuple[str, str], Sequence[tuple[float, _Edge]]], *, prune: bool, checks: list[int]
) -> Iterator[tuple[_Edge, ...]]:
    """Venue loops of two and three hops, each once (from its smallest token), with product > 1.

    With ``prune`` off every loop is yielded (the bench's baseline); the product is not checked.
    ``checks[0]`` counts the products compared.
    """
    out: dict[str, list[str]] = {}
    for a, b in by_pair:
        out.setdefault(a, []).append(b)
    for targets in out.values():
        targets.sort()
    for a in sorted(out):
        for b in out[a]:
            if b < a:
                continue
            first = by_pair[(a, b)]
            # Two hops: a→b on one venue, b→a on another.
            back = by_pair.get((b, a), ())
            checks[0] += bool(back and prune)
            if back and (not prune or first[0][0] * back[0][0] > 1.0):
                for m1, e1 in first:
                    checks[0] += prune
                    if prune and m1 * back[0][0] <= 1.0:
                        break
                    for m2, e2 in back:
                        checks[0] += prune
                        if prune and m1 * m2 <= 1.0:
                            break
                        if e1.venue_id != e2.venue_id:
                            yield (e1, e2)
            # Three hops: a→b→c→a with a the smallest token (both orientations are found).
            for c in out.get(b, ()):
                if c <= a:
                    continue
                second, third = by_pair[(b, c)], by_pair.get((c, a), ())
                if not third:
                    continue
                checks[0] += prune
                if prune and first[0][0] * second[0][0] * third[0][0] <= 1.0:
                    continue
                for m1, e1 in first:
                    checks[0] += prune
                    if prune and m1 * second[0][0] * third[0][0] <= 1.0:
                        break
                    for m2, e2 in second:
                        checks[0] += prune
                        if prune and m1 * m2 * third[0][0] <= 1.0:
                            break
                        for m3, e3 in third:
                            checks[0] += prune
                            if prune and m1 * m2 * m3 <= 1.0:
                                break
                            yield (e1, e2, e3)


# --- exact maths along a loop --------------------------------------------------------------------


def _step(venue: _Edge, amount_in: int) -> int:
    """One leg's output, non-decreasing in the input: a desk pays 0 below its minimum and its
    maximum's output above it (so bounds can be found by bisection; ``_feasible`` tells them apart)."""
    if isinstance(venue, AmmVenue):
        return amount_out_unchecked(venue.reserve_in, venue.reserve_out, amount_in, venue.pool.fee_bps)
    if amount_in < venue.min_in:
        return 0
    return venue.quote(min(amount_in, venue.max_in))


def _inputs(loop: Sequence[_Edge], x: int) -> list[int]:
    """Each leg's input for start input x, and the loop's output last."""
    amounts = [x]
    for venue in loop:
        amounts.append(_step(venue, amounts[-1]))
    return amounts


def _feasible(loop: Sequence[_Edge], amounts: Sequence[int]) -> bool:
    for venue, a in zip(loop, amounts, strict=False):
        if a <= 0 or (isinstance(venue, OtcVenue) and not venue.min_in <= a <= venue.max_in):
            return False
    return True


def _profit(loop: Sequence[_Edge], x: int) -> int | None:
    """Exact profit at start input x (None if a leg cannot take its input)."""
    if x <= 0:
        return None
    amounts = _inputs(loop, x)
    if not _feasible(loop, amounts) or amounts[-1] <= 0:
        return None
    return amounts[-1] - x


def _best_of(loop: Sequence[_Edge], candidates: Iterator[int] | Sequence[int]) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    for x in candidates:
        p = _profit(loop, x)
        if p is not None and (best is None or p > best[1]):
            best = (x, p)
    return best


def _size_cp(loop: Sequence[AmmVenue]) -> tuple[int, int] | None:
    """Closed form for constant-product loops (module docstring), then the exact neighbours."""
    big_a, big_b, big_c = 1, 1, 0
    legs = []
    for v in loop:
        g = BPS - v.pool.fee_bps
        a, b = g * v.reserve_out, BPS * v.reserve_in
        big_a, big_b, big_c = big_a * a, big_b * b, b * big_c + g * big_a
        legs.append((g, v.reserve_out, b))
    if big_a <= big_b:
        return None
    x_star = (math.isqrt(big_a * big_b) - big_b) // big_c
    best: tuple[int, int] | None = None
    for x in range(max(1, x_star - _NEIGHBOURS), x_star + _NEIGHBOURS + 2):
        amount = x
        for g, reserve_out, scaled_in in legs:  # amm's amount_out_unchecked, inlined: the hot loop
            after_fee = amount * g
            amount = after_fee * reserve_out // (scaled_in + after_fee)
        if amount > 0 and (best is None or amount - x > best[1]):
            best = (x, amount - x)
    return best


def _bound(loop: Sequence[_Edge], hi: int, *, lowest: bool) -> int | None:
    """Smallest x in [1, hi] meeting every leg's minimum (``lowest``), or largest within every maximum."""

    def ok(x: int) -> bool:
        amounts = _inputs(loop, x)
        if lowest:
            return all(a >= v.min_in and a > 0 for v, a in zip(loop, amounts, strict=False))
        return all(v.max_in is None or a <= v.max_in for v, a in zip(loop, amounts, strict=False))

    lo_x, hi_x = 1, hi
    if lowest:
        if not ok(hi_x):
            return None
        while lo_x < hi_x:
            mid = (lo_x + hi_x) // 2
            if ok(mid):
                hi_x = mid
            else:
                lo_x = mid + 1
        return lo_x
    if not ok(lo_x):
        return None
    while lo_x < hi_x:
        mid = (lo_x + hi_x + 1) // 2
        if ok(mid):
            lo_x = mid
        else:
            hi_x = mid - 1
    return lo_x


def _size_mixed(loop: Sequence[_Edge]) -> tuple[int, int] | None:
    """Safeguarded ternary search of the concave exact profit over the feasible inputs."""
    last = loop[-1]
    # The loop pays out at most what its last venue can; a profit needs x below that.
    cap = last.reserve_out if isinstance(last, AmmVenue) else last.depth_out()
    first = loop[0]
    if isinstance(first, OtcVenue):
        cap = min(cap, first.max_in)
    lo = _bound(loop, cap, lowest=True)
    hi = _bound(loop, cap, lowest=False)
    if lo is None or hi is None or lo > hi:
        return None

    def value(x: int) -> int:
        p = _profit(loop, x)
        return -(2**200) if p is None else p

    a, b = lo, hi
    while b - a > _SCAN:
        third = (b - a) // 3
        if value(a + third) < value(b - third):
            a += third  # concave: the maximum is not left of a + third
        else:
            b -= third
    return _best_of(loop, range(a, b + 1))


# --- the result ------------------------------------------------------------------------------------


def _exact_legs(market: Market, loop: Sequence[_Edge], x: int) -> tuple[ArbitrageLeg, ...] | None:
    """The legs priced by the venues' own maths (amm, otc_engine.quote); None if one refuses."""
    legs = []
    amount = x
    for hop, venue in enumerate(loop, start=1):
        if isinstance(venue, AmmVenue):
            out = amount_out_for_in(venue.reserve_in, venue.reserve_out, amount, venue.pool.fee_bps)
        else:
            q = otc_engine.quote(
                venue.desk, venue.token_in, venue.token_out, amount, venue.mid_price, market.now
            )
            if not q.available:
                return None
            out = q.amount_out
        if out <= 0:
            return None
        legs.append(
            ArbitrageLeg(
                hop, venue.venue_id, venue.venue, venue.kind, venue.token_in, venue.token_out, amount, out
            )
        )
        amount = out
    return tuple(legs)


def _unit(token: str, decimals: Mapping[str, int] | None) -> int | None:
    if decimals is not None and token in decimals:
        return int(10 ** decimals[token])
    try:
        return get_token(token).unit
    except SolrouteError:
        return None


def _usd(amount: int, unit: int, usd_price: Decimal) -> Decimal:
    """Base units of a token at its USD price."""
    return _CONTEXT.multiply(_CONTEXT.divide(Decimal(amount), Decimal(unit)), usd_price)


def _opportunity(
    market: Market, loop: Sequence[_Edge], x: int, decimals: Mapping[str, int] | None
) -> Opportunity | None:
    legs = _exact_legs(market, loop, x)
    if legs is None:
        return None
    start = loop[0].token_in
    out = legs[-1].amount_out
    profit = out - x
    usd, unit = market.usd_prices.get(start), _unit(start, decimals)
    if profit <= 0 or not usd or unit is None:
        return None
    profit_usd = _usd(profit, unit, usd)
    profit_bps = _CONTEXT.divide(Decimal(profit * BPS), Decimal(x))
    return Opportunity(
        kind="cross_venue" if len(loop) == 2 else "cycle",
        start_token=start,
        amount_in=x,
        amount_out=out,
        profit=profit,
        profit_usd=profit_usd,
        profit_bps=profit_bps,
        legs=legs,
        tokens=(start, *(v.token_out for v in loop)),
    )


def _size(loop: Sequence[_Edge]) -> tuple[int, int] | None:
    if all(isinstance(v, AmmVenue) for v in loop):
        return _size_cp([v for v in loop if isinstance(v, AmmVenue)])
    return _size_mixed(loop)


def search_opportunities(
    market: Market,
    *,
    min_profit_usd: Decimal = Decimal(0),
    limit: int = 50,
    prune: bool = True,
    decimals: Mapping[str, int] | None = None,
) -> ArbitrageSearch:
    """``find_opportunities`` with its work counts; ``prune=False`` sizes every loop (the baseline).

    ``decimals`` adds token decimals the registry lacks (the bench's generated tokens); a loop is
    reported from whichever of its start tokens that has a USD price makes the most USD.
    """
    by_pair = _edges(market)
    found: list[Opportunity] = []
    examined = sized = 0
    checks = [0]
    for loop in _loops(by_pair, prune=prune, checks=checks):
        examined += 1
        # Size the loop from each start token; value each in USD; build the best one only.
        best: tuple[Decimal, tuple[_Edge, ...], int] | None = None
        for r in range(len(loop)):
            rotation = loop[r:] + loop[:r]
            start = rotation[0].token_in
            usd, unit = market.usd_prices.get(start), _unit(start, decimals)
            if not usd or unit is None:
                continue
            sized += 1
            size = _size(rotation)
            if size is None or size[1] <= 0:
                continue
            value = _usd(size[1], unit, usd)
            if best is None or value > best[0]:
                best = (value, rotation, size[0])
        if best is None or best[0] < min_profit_usd:
            continue
        opportunity = _opportunity(market, best[1], best[2], decimals)
        if opportunity is not None:
            found.append(opportunity)
    found.sort(key=lambda o: (-o.profit_usd, -o.profit_bps, tuple(leg.venue_id for leg in o.legs)))
    return ArbitrageSearch(tuple(found[: max(0, limit)]), checks[0], examined, sized)


def find_opportunities(
    market: Market, *, min_profit_usd: Decimal = Decimal(0), limit: int = 50
) -> tuple[Opportunity, ...]:
    """Profitable cross-venue pairs and 2-3 hop cycles at their optimal sizes, best USD profit first."""
    return search_opportunities(market, min_profit_usd=min_profit_usd, limit=limit).opportunities
