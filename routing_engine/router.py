"""The router: every venue's quote, the chosen route, and its optimality certificate.

``find_route(market, token_in, token_out, amount_in, strategy, slippage_bps)`` is pure: it
takes a ``Market`` snapshot and returns a ``RouteResult``. Amounts are int base units; bps
figures are Decimal.

OPTIMAL_SPLIT: solve the continuous problem (``splitting.solve``) over all direct venues and
one branch per two-hop intermediate; round to base units with exact integer venue maths;
drop dust legs (worth less than ``min_leg_usd``) and desk legs below the desk's
minimum, then re-solve without them (a desk can instead be forced to its minimum; the better
of the two wins). The result is never worse than BEST_PRICE: if it were, BEST_PRICE's route
is returned. Each route carries D(λ*), the dual upper bound on any split's output, and the gap
to it in bps.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, localcontext

from amm.constant_product import BPS
from errors import InsufficientLiquidityError, NoRouteError, ValidationError
from routing_engine.curves import (
    CPCurve,
    CPGroup,
    Curve,
    PolyCurve,
    SeriesCurve,
    Stage,
    virtual_cp_of_two_hops,
)
from routing_engine.paths import Market, TwoHop, direct_venues, two_hop_paths
from routing_engine.splitting import Solution, apportion, dual_bound, solve
from routing_engine.strategies import Strategy, parse_strategy
from routing_engine.venues import AmmVenue, Venue, VenueKind, price_impact_bps
from tokens import get_token

__all__ = [
    "Leg",
    "Route",
    "RouteResult",
    "RouterConfig",
    "SplitPlan",
    "VenueQuote",
    "find_route",
    "optimal_split",
]

_GAP_QUANTUM = Decimal("0.000001")
_BPS_QUANTUM = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """Tunables of the split."""

    # A leg is dust when it is worth less than ``min_leg_usd`` at the reference price (too small to be
    # worth a transaction), or, optionally, less than ``min_leg_fraction`` of what its hop carries.
    min_leg_usd: Decimal = Decimal("1")
    min_leg_fraction: Decimal = Decimal(0)
    two_hop: bool = True
    max_nodes: int = 64  # branch-and-bound nodes over desk minimums before settling for a looser bound


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """One venue's (or one two-hop path's) quote for the whole order."""

    venue_id: str
    venue: str
    kind: VenueKind
    path: tuple[str, ...]
    amount_in: int
    amount_out: int
    price_impact_bps: Decimal | None
    fee_bps: Decimal | None
    available: bool
    reason: str | None
    latency_ms: int
    depth_out: int
    is_estimate: bool


@dataclass(frozen=True, slots=True)
class Leg:
    """One venue's part of a route: hop 0 is the first (or only) hop, hop 1 the second."""

    venue_id: str
    venue: str
    kind: VenueKind
    token_in: str
    token_out: str
    amount_in: int
    amount_out: int
    hop: int
    path: tuple[str, ...]
    is_estimate: bool
    latency_ms: int


@dataclass(frozen=True, slots=True)
class Route:
    """The chosen route and its figures."""

    strategy: Strategy
    legs: tuple[Leg, ...]
    amount_in: int
    amount_out: int
    min_amount_out: int
    price_impact_bps: Decimal | None
    savings_vs_best_single_bps: Decimal | None
    optimality_gap_bps: Decimal | None
    upper_bound_out: int | None
    expected_latency_ms: int


@dataclass(frozen=True, slots=True)
class RouteResult:
    """Everything a quote shows: every venue's quote and the chosen route."""

    token_in: str
    token_out: str
    amount_in: int
    slippage_bps: int
    reference_price: Decimal | None
    quotes: tuple[VenueQuote, ...]
    best_single: VenueQuote | None
    route: Route


# --- single venues and paths -------------------------------------------------------------


def _combined_fee_bps(fees: Sequence[Decimal | None]) -> Decimal | None:
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
        fee_bps=None if reason else _combined_fee_bps([first.fee_bps(amount_in), second.fee_bps(middle)]),
        available=reason is None,
        reason=reason,
        latency_ms=first.latency_ms + second.latency_ms,
        depth_out=depth,
        is_estimate=first.is_estimate or second.is_estimate,
    )


def _single_route_legs(quote: VenueQuote, venues: dict[_LeafKey, Venue]) -> tuple[Leg, ...]:
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


def _pick_single(strategy: Strategy, candidates: Sequence[VenueQuote]) -> VenueQuote:
    available = [q for q in candidates if q.available]
    if not available:
        reasons = "; ".join(f"{q.venue}: {q.reason}" for q in candidates) or "no venue trades this pair"
        raise NoRouteError(f"no single venue can fill this order ({reasons})")
    if strategy is Strategy.LOWEST_SLIPPAGE:
        return min(available, key=lambda q: (q.price_impact_bps or Decimal(0), -q.amount_out))
    if strategy is Strategy.HIGHEST_LIQUIDITY:
        return max(available, key=lambda q: (q.depth_out, q.amount_out))
    if strategy is Strategy.FASTEST_EXECUTION:
        return min(available, key=lambda q: (q.latency_ms, -q.amount_out))
    return max(available, key=lambda q: q.amount_out)


# --- the split ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Branch:
    """Direct venue(s) or a two-hop intermediate, as the solver sees it.

    Several direct constant-product venues form one branch whose curve is a ``CPGroup``.
    """

    curve: Curve
    direct: tuple[Venue, ...] = ()
    first: tuple[Venue, ...] = ()
    second: tuple[Venue, ...] = ()
    first_curves: tuple[CPCurve | PolyCurve, ...] = ()
    second_curves: tuple[CPCurve | PolyCurve, ...] = ()


_LeafKey = tuple[int, str, str]


def _leaf_key(hop: int, venue: Venue | Leg) -> _LeafKey:
    """Identifies one venue at one hop in one direction (legs and venues map to the same key)."""
    return (hop, venue.venue_id, venue.token_in)


def _build_branches(
    direct: Sequence[Venue],
    paths: Sequence[TwoHop],
    excluded: frozenset[_LeafKey],
    forced: frozenset[_LeafKey],
) -> list[_Branch]:
    branches = []
    grouped: list[tuple[Venue, CPCurve]] = []
    for venue in direct:
        key = _leaf_key(0, venue)
        if key in excluded:
            continue
        curve = venue.curve(forced_on=key in forced)
        if isinstance(curve, CPCurve):
            grouped.append((venue, curve))
        elif curve.cap > curve.lo or curve.lo > 0:
            branches.append(_Branch(curve, direct=(venue,)))
    if len(grouped) == 1:
        branches.append(_Branch(grouped[0][1], direct=(grouped[0][0],)))
    elif grouped:
        branches.append(_Branch(CPGroup([c for _, c in grouped]), direct=tuple(v for v, _ in grouped)))
    for path in paths:
        first = tuple(v for v in path.first if _leaf_key(0, v) not in excluded)
        second = tuple(v for v in path.second if _leaf_key(1, v) not in excluded)
        if not first or not second:
            continue
        first_curves = tuple(v.curve(forced_on=_leaf_key(0, v) in forced) for v in first)
        second_curves = tuple(v.curve(forced_on=_leaf_key(1, v) in forced) for v in second)
        series: Curve
        if (
            len(first) == len(second) == 1
            and isinstance(first_curves[0], CPCurve)
            and isinstance(second_curves[0], CPCurve)
        ):
            series = virtual_cp_of_two_hops(first_curves[0], second_curves[0])
        else:
            series = SeriesCurve(Stage(first_curves), Stage(second_curves))
        branches.append(
            _Branch(
                series,
                first=first,
                second=second,
                first_curves=first_curves,
                second_curves=second_curves,
            )
        )
    return branches


@dataclass
class _Integerised:
    legs: list[Leg]
    amount_out: int
    dust: set[_LeafKey]
    below_min: set[_LeafKey]


def _fill_stage(
    hop: int,
    venues: Sequence[Venue],
    weights: Sequence[float],
    amount: int,
    path: tuple[str, ...],
    min_leg: int,
    result: _Integerised,
) -> int:
    """Split ``amount`` over one stage's venues by ``weights``; record legs and problems; return output."""
    if math.fsum(weights) <= 0.0:
        weights = [1.0 if isinstance(v, AmmVenue) else 0.0 for v in venues]
    amounts = apportion(amount, weights, [v.max_in for v in venues])
    total = 0
    for venue, leg_amount in zip(venues, amounts, strict=True):
        if leg_amount == 0:
            continue
        key = _leaf_key(hop, venue)
        if leg_amount < min_leg:
            result.dust.add(key)
            continue
        reason = venue.check(leg_amount)
        if reason is not None:
            (result.below_min if leg_amount < venue.min_in else result.dust).add(key)
            continue
        out = venue.quote(leg_amount)
        total += out
        result.legs.append(
            Leg(
                venue.venue_id,
                venue.venue,
                venue.kind,
                venue.token_in,
                venue.token_out,
                leg_amount,
                out,
                hop,
                path,
                venue.is_estimate,
                venue.latency_ms,
            )
        )
    return total


@dataclass(frozen=True)
class _DustRule:
    """Smallest leg worth sending, per input token and hop total (see RouterConfig)."""

    unit_floor: dict[str, int]
    fraction: Decimal

    def min_leg(self, token: str, hop_total: int) -> int:
        return max(1, self.unit_floor.get(token, 1), int(hop_total * self.fraction))


def _dust_rule(market: Market, tokens: set[str], config: RouterConfig) -> _DustRule:
    floor = {}
    for token in tokens:
        usd = market.usd_prices.get(token)
        if usd and config.min_leg_usd > 0:
            floor[token] = _units_worth(token, usd, config.min_leg_usd)
    return _DustRule(floor, config.min_leg_fraction)


@functools.lru_cache(maxsize=256)
def _units_worth(token: str, usd_price: Decimal, usd: Decimal) -> int:
    """Base units of ``token`` worth ``usd`` at ``usd_price`` (rounded up)."""
    return math.ceil(usd / usd_price * get_token(token).unit)


def _integerise(
    branches: Sequence[_Branch], solution: Solution, amount_in: int, dust: _DustRule
) -> _Integerised:
    result = _Integerised([], 0, set(), set())
    token_in = (branches[0].direct or branches[0].first)[0].token_in
    min_leg = dust.min_leg(token_in, amount_in)
    caps = [b.direct[0].max_in if len(b.direct) == 1 else None for b in branches]
    weights: Sequence[float] = solution.allocations
    if math.fsum(weights) <= 0.0:
        # An order below the solver's float resolution: it all goes to the best marginal price.
        best = max(range(len(branches)), key=lambda i: branches[i].curve.marginal0)
        weights = [1.0 if i == best else 0.0 for i in range(len(branches))]
    amounts = apportion(amount_in, weights, caps)
    path: tuple[str, ...]
    for branch, amount in zip(branches, amounts, strict=True):
        if amount == 0:
            continue
        if branch.direct:
            path = (token_in, branch.direct[0].token_out)
            weights_in = branch.curve.allocation(solution.lam) if isinstance(branch.curve, CPGroup) else [1.0]
            result.amount_out += _fill_stage(0, branch.direct, weights_in, amount, path, min_leg, result)
            continue
        first, second = branch.first, branch.second
        path = (first[0].token_in, first[0].token_out, second[0].token_out)
        if isinstance(branch.curve, SeriesCurve):
            t = branch.curve.inner_price(solution.lam)
            w1 = [c.x_at(t) for c in branch.first_curves]
            w2 = [c.x_at(solution.lam / t) for c in branch.second_curves]
        else:
            w1, w2 = [1.0], [1.0]
        if amount < min_leg:
            result.dust.update(_leaf_key(0, v) for v, w in zip(first, w1, strict=True) if w > 0)
            continue
        before = len(result.dust) + len(result.below_min)
        middle = _fill_stage(0, first, w1, amount, path, min_leg, result)
        if len(result.dust) + len(result.below_min) > before or middle == 0:
            continue  # re-solve without the offending first-hop leg before pricing the second hop
        min_middle = dust.min_leg(path[1], middle)
        result.amount_out += _fill_stage(1, second, w2, middle, path, min_middle, result)
    return result


def _leaf_allocations(branches: Sequence[_Branch], solution: Solution) -> dict[_LeafKey, tuple[float, Venue]]:
    """Continuous input of every venue at every hop in a solution."""
    allocations: dict[_LeafKey, tuple[float, Venue]] = {}
    for branch, x in zip(branches, solution.allocations, strict=True):
        if isinstance(branch.curve, CPGroup):
            shares = branch.curve.allocation(solution.lam)
            allocations |= {_leaf_key(0, v): (a, v) for v, a in zip(branch.direct, shares, strict=True)}
        elif branch.direct:
            allocations[_leaf_key(0, branch.direct[0])] = (x, branch.direct[0])
        elif isinstance(branch.curve, SeriesCurve):
            first, second = branch.curve.allocations(solution.lam)
            allocations |= {_leaf_key(0, v): (a, v) for v, a in zip(branch.first, first, strict=True)}
            allocations |= {_leaf_key(1, v): (a, v) for v, a in zip(branch.second, second, strict=True)}
    return allocations


@dataclass(frozen=True)
class _Node:
    """A branch-and-bound node: desks switched off, desks forced to at least their minimum."""

    excluded: frozenset[_LeafKey]
    forced: frozenset[_LeafKey]


@dataclass(frozen=True)
class _Relaxed:
    node: _Node
    branches: list[_Branch]
    solution: Solution
    bound: float  # D(λ*) of this node's convex problem: tight, and ≥ anything below the node


def _solve_node(
    direct: Sequence[Venue], paths: Sequence[TwoHop], amount_in: int, node: _Node
) -> _Relaxed | None:
    branches = _build_branches(direct, paths, node.excluded, node.forced)
    if not branches:
        return None
    curves = [b.curve for b in branches]
    try:
        solution = solve(curves, float(amount_in))
    except InsufficientLiquidityError:
        return None
    return _Relaxed(node, branches, solution, dual_bound(curves, float(amount_in), solution.lam))


def _branch_and_bound(
    direct: Sequence[Venue], paths: Sequence[TwoHop], amount_in: int, config: RouterConfig
) -> tuple[_Relaxed | None, float | None]:
    """Best convex node and an upper bound on every split, honouring desk minimum sizes.

    A desk's feasible inputs are {0} ∪ [min, max], which is not convex. Relax to [0, max];
    where the relaxed optimum gives a desk an amount inside (0, min), branch into "desk off"
    and "desk ≥ min". Every leaf is a convex problem solved exactly; the largest leaf dual
    bound is an upper bound on every feasible split.
    """
    stack = [_Node(frozenset(), frozenset())]
    best: _Relaxed | None = None
    bound: float | None = None
    root_bound: float | None = None
    nodes = 0
    while stack:
        nodes += 1
        if nodes > config.max_nodes:
            return best, root_bound  # give up exactness, keep a valid (looser) bound
        relaxed = _solve_node(direct, paths, amount_in, stack.pop())
        if relaxed is None:
            continue
        if root_bound is None:
            root_bound = relaxed.bound
        node = relaxed.node
        ambiguous = sorted(
            key
            for key, (x, venue) in _leaf_allocations(relaxed.branches, relaxed.solution).items()
            if key not in node.forced and venue.min_in > 1 and 0.5 < x < venue.min_in
        )
        if ambiguous:
            key = ambiguous[0]
            stack.append(_Node(node.excluded | {key}, node.forced))
            stack.append(_Node(node.excluded, node.forced | {key}))
            continue
        bound = relaxed.bound if bound is None else max(bound, relaxed.bound)
        if best is None or relaxed.bound > best.bound:
            best = relaxed
    return best, bound


def _clean_split(
    direct: Sequence[Venue],
    paths: Sequence[TwoHop],
    amount_in: int,
    dust: _DustRule,
    start: _Relaxed,
) -> _Integerised:
    """Round a node's optimum to base units, dropping dust and re-solving until every leg is clean."""
    relaxed = start
    for _ in range(64):
        result = _integerise(relaxed.branches, relaxed.solution, amount_in, dust)
        problems = result.dust | result.below_min
        if not problems:
            return result
        node = _Node(relaxed.node.excluded | problems, relaxed.node.forced - problems)
        next_relaxed = _solve_node(direct, paths, amount_in, node)
        if next_relaxed is None:
            raise InsufficientLiquidityError("no venue is left to fill the order")
        relaxed = next_relaxed
    raise InsufficientLiquidityError("the split did not settle on clean legs")


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """The OPTIMAL_SPLIT route on its own: exact legs, their output and the bound on any split."""

    legs: tuple[Leg, ...]
    amount_out: int
    upper_bound_out: int | None


def _plan(
    market: Market,
    direct: Sequence[Venue],
    paths: Sequence[TwoHop],
    token_in: str,
    amount_in: int,
    config: RouterConfig,
    *,
    split: bool,
) -> SplitPlan:
    """Branch and bound for the bound; with ``split``, also the clean integer legs (empty if none)."""
    best_node, upper_float = _branch_and_bound(direct, paths, amount_in, config)
    upper = math.ceil(upper_float) if upper_float is not None else None
    if not split or best_node is None:
        return SplitPlan((), 0, upper)
    try:
        dust = _dust_rule(market, {token_in} | {p.via for p in paths}, config)
        result = _clean_split(direct, paths, amount_in, dust, best_node)
    except InsufficientLiquidityError:
        return SplitPlan((), 0, upper)
    return SplitPlan(tuple(result.legs), result.amount_out, upper)


def optimal_split(
    market: Market, token_in: str, token_out: str, amount_in: int, config: RouterConfig = RouterConfig()
) -> SplitPlan:
    """The optimal split alone, without quoting every venue on its own (what execution re-runs).

    ``find_route`` adds the per-venue quote table and never returns less than BEST_PRICE.
    """
    _validate(token_in, token_out, amount_in, 0)
    direct = direct_venues(market, token_in, token_out)
    paths = two_hop_paths(market, token_in, token_out) if config.two_hop else []
    plan = _plan(market, direct, paths, token_in, amount_in, config, split=True)
    if not plan.legs:
        raise NoRouteError(f"no split can fill {amount_in} base units of {token_in} for {token_out}")
    return plan


# --- the entry point ---------------------------------------------------------------------


def _validate(token_in: str, token_out: str, amount_in: int, slippage_bps: int) -> None:
    get_token(token_in)
    get_token(token_out)
    if token_in == token_out:
        raise ValidationError(f"tokenIn and tokenOut are both {token_in}", field="tokenOut")
    if isinstance(amount_in, bool) or not isinstance(amount_in, int) or amount_in <= 0:
        raise ValidationError(
            f"amountIn must be a positive number of base units, got {amount_in!r}", field="amountIn"
        )
    if isinstance(slippage_bps, bool) or not isinstance(slippage_bps, int) or not 0 <= slippage_bps <= 5_000:
        raise ValidationError(
            f"slippageBps must be an integer from 0 to 5000, got {slippage_bps!r}",
            field="slippageBps",
        )


def _bps(
    numerator: Decimal, denominator: Decimal, quantum: Decimal, rounding: str = ROUND_HALF_EVEN
) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 40
        return (numerator / denominator * BPS).quantize(quantum, rounding=rounding)


def find_route(
    market: Market,
    token_in: str,
    token_out: str,
    amount_in: int,
    strategy: Strategy | str = Strategy.OPTIMAL_SPLIT,
    slippage_bps: int = 50,
    config: RouterConfig = RouterConfig(),
) -> RouteResult:
    """Quote every venue and path for the order and choose a route by ``strategy``."""
    strategy = parse_strategy(strategy)
    _validate(token_in, token_out, amount_in, slippage_bps)
    direct = direct_venues(market, token_in, token_out)
    paths = two_hop_paths(market, token_in, token_out) if config.two_hop else []

    quotes = [_quote_direct(v, amount_in) for v in direct]
    if market.aggregator_unavailable and not any(v.kind is VenueKind.AGGREGATOR for v in direct):
        quotes.append(
            VenueQuote(
                "jupiter",
                "Jupiter",
                VenueKind.AGGREGATOR,
                (token_in, token_out),
                amount_in,
                0,
                None,
                None,
                False,
                market.aggregator_unavailable,
                market.latency.aggregator_ms,
                0,
                True,
            )
        )
    quotes += [_quote_two_hop(a, b, amount_in) for p in paths for a in p.first for b in p.second]
    available = [q for q in quotes if q.available]
    best_single = max(available, key=lambda q: q.amount_out) if available else None
    venue_index: dict[_LeafKey, Venue] = {_leaf_key(0, v): v for v in direct}
    venue_index |= {_leaf_key(0, v): v for p in paths for v in p.first}
    venue_index |= {_leaf_key(1, v): v for p in paths for v in p.second}

    legs: tuple[Leg, ...]
    plan = _plan(market, direct, paths, token_in, amount_in, config, split=strategy is Strategy.OPTIMAL_SPLIT)
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
        legs = _single_route_legs(_pick_single(strategy, quotes), venue_index)

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
