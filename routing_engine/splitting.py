"""The optimal split: equalise marginal prices across branches, with a duality certificate.

Problem: maximise Σ f_b(x_b) subject to Σ x_b = A and lo_b ≤ x_b ≤ cap_b, every f_b concave
and increasing (see ``curves``). At the optimum every branch in use has the same marginal
price λ (KKT), so we solve the one-dimensional monotone equation S(λ) = Σ x_b(λ) = A.

We iterate in μ = λ^(-1/2), where constant-product allocations are exactly linear, with a
Newton step safeguarded by a bracket (falls back to bisection), so a pure-AMM problem
converges in a handful of steps and every problem converges.

Certificate (weak duality): for any λ ≥ 0 and any feasible split,
    Σ f_b(x_b) = λ·A + Σ (f_b(x_b) − λ·x_b) ≤ λ·A + Σ max_x (f_b(x) − λ·x) =: D(λ).
D(λ*) is an upper bound on what ANY split can produce, and it is tight at the continuous
optimum. Integer outputs floor the continuous ones, so D(λ*) also bounds every integer split;
the route's optimality gap is (D(λ*) − achieved) / achieved.

The pipeline (``optimal_split``): one branch per direct venue (constant-product venues merged
into one ``CPGroup``) and per two-hop intermediate; a branch-and-bound over desk minimum sizes
(each node convex, the largest leaf bound is the certificate); the best node rounded to base
units with exact integer venue maths; dust legs (worth less than ``min_leg_usd``) and desk legs
below the desk's minimum dropped, re-solving without them until every leg is clean.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from errors import InsufficientLiquidityError, NoRouteError
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
from routing_engine.routes import (
    DEFAULT_CONFIG,
    LeafKey,
    Leg,
    RouterConfig,
    SplitPlan,
    leaf_key,
    new_leg,
    validate_order,
)
from routing_engine.venues import AmmVenue, Venue
from tokens import get_token

__all__ = ["Solution", "apportion", "dual_bound", "optimal_split", "plan_split", "solve"]

_MAX_ITERATIONS = 200


@dataclass(frozen=True, slots=True)
class Solution:
    """Continuous optimum: common marginal price λ and each branch's input."""

    lam: float
    allocations: tuple[float, ...]
    iterations: int


def _total(branches: Sequence[Curve], lam: float) -> float:
    if len(branches) == 1:  # a pure-AMM market is one CPGroup: skip the generator
        return branches[0].x_at(lam)
    return sum(b.x_at(lam) for b in branches)


def _total_slope(branches: Sequence[Curve], lam: float) -> float:
    if len(branches) == 1:
        return branches[0].slope_at(lam)
    return sum(b.slope_at(lam) for b in branches)


def solve(branches: Sequence[Curve], amount: float) -> Solution:
    """Split ``amount`` across ``branches`` to maximise total output (continuous optimum)."""
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    floor_total = sum(b.lo for b in branches)
    if floor_total > amount:
        raise InsufficientLiquidityError(
            f"the forced minimums ({floor_total:.0f}) exceed the order ({amount:.0f})"
        )
    if sum(b.cap for b in branches) < amount:
        raise InsufficientLiquidityError("the order exceeds the combined capacity of every venue")
    top = max((b.marginal0 for b in branches if b.cap > b.lo), default=0.0)
    if top <= 0.0:
        raise InsufficientLiquidityError("no venue pays anything for this order")

    # 1e-11 of the order is ~1e-7 bps of output; exact apportioning absorbs the residual, and the
    # nested two-hop roots carry float noise near 1e-13, so a tighter target would only stall.
    tol = max(amount * 1e-11, 1e-6)
    # Bracket in μ: at μ_a = top^(-1/2) only forced floors trade (S ≤ A); grow μ_b until S ≥ A.
    mu_a = 1.0 / math.sqrt(top)
    iterations = 0
    s_a = _total(branches, mu_a**-2) - amount
    while s_a > 0.0 and iterations < _MAX_ITERATIONS:
        mu_a *= 0.25  # a forced floor's marginal can sit below ``top``: widen until S(μ_a) ≤ A
        s_a = _total(branches, mu_a**-2) - amount
        iterations += 1
    # Grow the bracket geometrically from a 0.1% step: typical orders need λ within a few % of top.
    growth = 1e-3
    mu_b = mu_a * (1.0 + growth)
    s_b = _total(branches, mu_b**-2) - amount
    while s_b < 0.0:
        mu_a, s_a = mu_b, s_b
        growth *= 4.0
        mu_b = mu_a * (1.0 + growth)
        s_b = _total(branches, mu_b**-2) - amount
        iterations += 1
        if iterations > _MAX_ITERATIONS:
            raise InsufficientLiquidityError("could not bracket the split: venues too shallow for the order")

    # Refine: Newton where it stays inside the bracket, else the secant across it, else
    # bisection; and whenever a step fails to halve the residual, the next step bisects. Without
    # that, a kink (a deep venue switching on next to shallow ones) pins one end of the bracket
    # and the secant crawls; Newton's quadratic steps are never slowed by it.
    mu = mu_b - s_b * (mu_b - mu_a) / (s_b - s_a)
    previous = math.inf
    must_bisect = False
    for _ in range(_MAX_ITERATIONS):
        residual = _total(branches, mu**-2) - amount
        iterations += 1
        if residual < 0.0:
            mu_a, s_a = mu, residual
        else:
            mu_b, s_b = mu, residual
        if abs(residual) <= tol or mu_b - mu_a <= 1e-15 * mu_b:
            break
        must_bisect = must_bisect or abs(residual) > 0.5 * previous
        previous = abs(residual)
        if must_bisect:
            mu, must_bisect = 0.5 * (mu_a + mu_b), False
            continue
        lam = mu**-2
        # dS/dμ = dS/dλ · dλ/dμ = Σ slope · (−2·μ⁻³) ≥ 0
        slope = _total_slope(branches, lam) * (-2.0 / (mu * mu * mu))
        candidate = mu - residual / slope if slope > 0.0 else math.nan
        if not mu_a < candidate < mu_b:
            candidate = mu_b - s_b * (mu_b - mu_a) / (s_b - s_a)
            if not mu_a < candidate < mu_b or candidate == mu:
                candidate = 0.5 * (mu_a + mu_b)
        mu = candidate
    lam = mu**-2
    return Solution(lam, tuple(b.x_at(lam) for b in branches), iterations)


def dual_bound(branches: Sequence[Curve], amount: float, lam: float) -> float:
    """D(λ) = λ·A + Σ_b max_x (f_b(x) − λ·x): an upper bound on any split's total output."""
    return lam * amount + math.fsum(b.surplus_at(lam) for b in branches)


def apportion(total: int, weights: Sequence[float], caps: Sequence[int | None]) -> list[int]:
    """Integers that sum exactly to ``total``, proportional to ``weights``, none above its cap.

    Largest-remainder rounding: floor every share (clipped to its cap), give one more unit to
    the largest fractional parts, then pour anything a cap pushed out into legs with room.
    """
    if len(weights) == 1 and weights[0] > 0.0 and total >= 0:
        if caps[0] is not None and total > caps[0]:
            raise InsufficientLiquidityError(
                f"{total - caps[0]} units cannot be placed within the venue's limit"
            )
        return [total]
    weight_sum = math.fsum(weights)
    if total < 0 or not 0.0 < weight_sum < math.inf:
        raise ValueError(f"cannot apportion {total} over weights summing to {weight_sum}")
    if len(caps) != len(weights):
        raise ValueError(f"{len(weights)} weights but {len(caps)} caps")
    shares = [w * total / weight_sum for w in weights]
    # floor(share) clipped at 0: int() is floor for positive shares, and a negative share gets 0.
    is_uncapped = all(cap is None for cap in caps)
    if is_uncapped:
        amounts = [int(share) if share > 0.0 else 0 for share in shares]
    else:
        amounts = [
            max(0, math.floor(share) if cap is None else min(math.floor(share), cap))
            for share, cap in zip(shares, caps, strict=True)
        ]
    leftover = total - sum(amounts)
    if leftover > 0:
        remainders = [share - amount for share, amount in zip(shares, amounts, strict=True)]
        by_remainder = sorted(range(len(shares)), key=remainders.__getitem__, reverse=True)
        if is_uncapped:
            # The general loop below without caps: one unit each by largest remainder, then the
            # rest at once to the first leg with a positive weight.
            for i in by_remainder:
                if leftover <= 0:
                    break
                if weights[i] > 0.0:
                    amounts[i] += 1
                    leftover -= 1
            for i in by_remainder:
                if leftover <= 0:
                    break
                if weights[i] > 0.0:
                    amounts[i] += leftover
                    leftover = 0
        else:
            for one_each in (True, False):
                for i in by_remainder:
                    if leftover <= 0:
                        break
                    cap = caps[i]
                    room = leftover if cap is None else cap - amounts[i]
                    step = min(room, leftover, 1 if one_each else leftover)
                    if step > 0 and weights[i] > 0.0:
                        amounts[i] += step
                        leftover -= step
    if leftover > 0:
        raise InsufficientLiquidityError(f"{leftover} units cannot be placed within the venues' limits")
    while leftover < 0:  # float shares can overshoot by a unit; take it back from the largest leg
        i = max(range(len(amounts)), key=amounts.__getitem__)
        amounts[i] -= 1
        leftover += 1
    return amounts


# --- the split pipeline: branches, branch and bound, exact legs ------------------------------


@dataclass(slots=True)
class _Branch:
    """Direct venue(s) or a two-hop intermediate, as the solver sees it (never mutated).

    Several direct constant-product venues form one branch whose curve is a ``CPGroup``. Not
    frozen: every node builds its branches, and a frozen dataclass pays per field to do so.
    """

    curve: Curve
    direct: tuple[Venue, ...] = ()
    first: tuple[Venue, ...] = ()
    second: tuple[Venue, ...] = ()
    first_curves: tuple[CPCurve | PolyCurve, ...] = ()
    second_curves: tuple[CPCurve | PolyCurve, ...] = ()


def _build_branches(
    direct: Sequence[Venue],
    paths: Sequence[TwoHop],
    excluded: frozenset[LeafKey],
    forced: frozenset[LeafKey],
) -> list[_Branch]:
    branches = []
    group_venues: list[Venue] = []
    group_curves: list[CPCurve] = []
    has_keys = bool(excluded or forced)  # the root node has neither: skip building the keys
    for venue in direct:
        if has_keys:
            key = leaf_key(0, venue)
            if key in excluded:
                continue
            curve = venue.curve(forced_on=key in forced)
        else:
            curve = venue.curve()
        if isinstance(curve, CPCurve):
            group_venues.append(venue)
            group_curves.append(curve)
        elif curve.cap > curve.lo or curve.lo > 0:
            branches.append(_Branch(curve, direct=(venue,)))
    if len(group_curves) == 1:
        branches.append(_Branch(group_curves[0], direct=(group_venues[0],)))
    elif group_curves:
        branches.append(_Branch(CPGroup(group_curves), direct=tuple(group_venues)))
    for path in paths:
        first = tuple(v for v in path.first if leaf_key(0, v) not in excluded)
        second = tuple(v for v in path.second if leaf_key(1, v) not in excluded)
        if not first or not second:
            continue
        first_curves = tuple(v.curve(forced_on=leaf_key(0, v) in forced) for v in first)
        second_curves = tuple(v.curve(forced_on=leaf_key(1, v) in forced) for v in second)
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
    dust: set[LeafKey]
    below_min: set[LeafKey]


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
    # If every leg is dust but the stage as a whole is not, keep the largest leg: dropping them
    # all would throw away a worthwhile stage instead of consolidating it (re-solving without
    # the others hands the largest the stage's whole flow).
    keep = -1
    if amount >= min_leg and all(a < min_leg for a in amounts):
        keep = max(range(len(amounts)), key=amounts.__getitem__)
    total = 0
    for i, (venue, leg_amount) in enumerate(zip(venues, amounts, strict=True)):
        if leg_amount == 0:
            continue
        if leg_amount < min_leg and i != keep:
            result.dust.add(leaf_key(hop, venue))
            continue
        reason = venue.check(leg_amount)
        if reason is not None:
            (result.below_min if leg_amount < venue.min_in else result.dust).add(leaf_key(hop, venue))
            continue
        out = venue.quote(leg_amount)
        total += out
        result.legs.append(
            new_leg(
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
            result.dust.update(leaf_key(0, v) for v, w in zip(first, w1, strict=True) if w > 0)
            continue
        before = len(result.dust) + len(result.below_min)
        middle = _fill_stage(0, first, w1, amount, path, min_leg, result)
        if len(result.dust) + len(result.below_min) > before or middle == 0:
            continue  # re-solve without the offending first-hop leg before pricing the second hop
        min_middle = dust.min_leg(path[1], middle)
        result.amount_out += _fill_stage(1, second, w2, middle, path, min_middle, result)
    return result


def _leaf_allocations(
    branches: Sequence[_Branch], solution: Solution, *, only_with_minimum: bool = False
) -> dict[LeafKey, tuple[float, Venue]]:
    """Continuous input of every venue at every hop in a solution.

    With ``only_with_minimum``, branches whose venues all have no minimum size (min_in ≤ 1) are
    left out: branch and bound only looks at desks' minimums.
    """
    allocations: dict[LeafKey, tuple[float, Venue]] = {}
    for branch, x in zip(branches, solution.allocations, strict=True):
        if only_with_minimum and all(v.min_in <= 1 for v in branch.direct or branch.first + branch.second):
            continue
        if isinstance(branch.curve, CPGroup):
            shares = branch.curve.allocation(solution.lam)
            allocations |= {leaf_key(0, v): (a, v) for v, a in zip(branch.direct, shares, strict=True)}
        elif branch.direct:
            allocations[leaf_key(0, branch.direct[0])] = (x, branch.direct[0])
        elif isinstance(branch.curve, SeriesCurve):
            first, second = branch.curve.allocations(solution.lam)
            allocations |= {leaf_key(0, v): (a, v) for v, a in zip(branch.first, first, strict=True)}
            allocations |= {leaf_key(1, v): (a, v) for v, a in zip(branch.second, second, strict=True)}
    return allocations


@dataclass(frozen=True)
class _Node:
    """A branch-and-bound node: desks switched off, desks forced to at least their minimum."""

    excluded: frozenset[LeafKey]
    forced: frozenset[LeafKey]


@dataclass(slots=True)
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
        with_minimum = _leaf_allocations(relaxed.branches, relaxed.solution, only_with_minimum=True)
        ambiguous = sorted(
            key
            for key, (x, venue) in with_minimum.items()
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


def plan_split(
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
    # The bound is evaluated in float64: a 1e-12 relative margin (1e-8 bps) keeps it above the
    # true D(λ) whatever the rounding.
    upper = math.ceil(upper_float * (1 + 1e-12)) if upper_float is not None else None
    if not split or best_node is None:
        return SplitPlan((), 0, upper)
    try:
        dust = _dust_rule(market, {token_in} | {p.via for p in paths}, config)
        result = _clean_split(direct, paths, amount_in, dust, best_node)
    except InsufficientLiquidityError:
        return SplitPlan((), 0, upper)
    return SplitPlan(tuple(result.legs), result.amount_out, upper)


def optimal_split(
    market: Market, token_in: str, token_out: str, amount_in: int, config: RouterConfig = DEFAULT_CONFIG
) -> SplitPlan:
    """The optimal split alone, without quoting every venue on its own (what execution re-runs).

    ``find_route`` adds the per-venue quote table and never returns less than BEST_PRICE.
    """
    validate_order(token_in, token_out, amount_in, 0)
    direct = direct_venues(market, token_in, token_out)
    paths = two_hop_paths(market, token_in, token_out) if config.two_hop else []
    plan = plan_split(market, direct, paths, token_in, amount_in, config, split=True)
    if not plan.legs:
        raise NoRouteError(f"no split can fill {amount_in} base units of {token_in} for {token_out}")
    return plan
