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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter

from amm.constant_product import amount_out_unchecked
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
from routing_engine.paths import Market, PathSearch, TwoHop, direct_venues, route_paths
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
from tokens import format_amount, get_token

__all__ = [
    "Solution",
    "apportion",
    "dual_bound",
    "optimal_split",
    "output_bound",
    "plan_split",
    "search_paths",
    "solve",
]

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
    # S flat across the bracket means it already equals A there (forced floors taking exactly the
    # order, e.g. a desk whose minimum is the order's size): the secant would divide by zero.
    mu = mu_a if s_b == s_a else mu_b - s_b * (mu_b - mu_a) / (s_b - s_a)
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
    is_uncapped = caps.count(None) == len(caps)
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
    onward: tuple[_Branch, ...] = ()  # three-hop paths via→Y→out after ``first`` (hops 1 and 2)
    before: tuple[_Branch, ...] = ()  # three-hop paths in→X→via beside ``first`` (hops 0 and 1)
    via: str = ""
    # Whether a venue has a minimum size (min_in > 1), when known at build time (None: ask them).
    has_minimum: bool | None = None


def _series(
    first: Sequence[CPCurve | PolyCurve | SeriesCurve], second: Sequence[CPCurve | PolyCurve | SeriesCurve]
) -> Curve:
    """Stage ``first`` feeding stage ``second``: one virtual pool when both are a single pool."""
    if len(first) == len(second) == 1 and isinstance(first[0], CPCurve) and isinstance(second[0], CPCurve):
        return virtual_cp_of_two_hops(first[0], second[0])
    return SeriesCurve(Stage(first), Stage(second))


def _path_branch(
    path: TwoHop, hop: int, excluded: frozenset[LeafKey], forced: frozenset[LeafKey]
) -> _Branch | None:
    """The branch of ``path`` whose first stage is at ``hop``, or None when a stage has no venue left.

    With ``before`` paths, the last stage is at hop + 2 whichever feeds it (its input arrives from
    hop 0 and hop 1 legs alike; execution spends it all at hop 2).
    """
    last_hop = hop + 2 if path.before else hop + 1
    first = tuple(v for v in path.first if leaf_key(hop, v) not in excluded)
    second = tuple(v for v in path.second if leaf_key(last_hop, v) not in excluded)
    onward = [b for b in (_path_branch(o, hop + 1, excluded, forced) for o in path.onward) if b is not None]
    before = [b for b in (_path_branch(o, hop, excluded, forced) for o in path.before) if b is not None]
    if not (first or before) or not (second or onward):
        return None
    first_curves = tuple(v.curve(forced_on=leaf_key(hop, v) in forced) for v in first)
    second_curves = tuple(v.curve(forced_on=leaf_key(last_hop, v) in forced) for v in second)
    upstream: list[CPCurve | PolyCurve | SeriesCurve] = [*first_curves]
    downstream: list[CPCurve | PolyCurve | SeriesCurve] = [*second_curves]
    for sub_branch in onward:
        assert isinstance(sub_branch.curve, CPCurve | SeriesCurve)
        downstream.append(sub_branch.curve)
    for sub_branch in before:
        assert isinstance(sub_branch.curve, CPCurve | SeriesCurve)
        upstream.append(sub_branch.curve)
    return _Branch(
        _series(upstream, downstream),
        first=first,
        second=second,
        first_curves=first_curves,
        second_curves=second_curves,
        onward=tuple(onward),
        before=tuple(before),
        via=path.via,
    )


def _build_branches(
    direct: Sequence[Venue],
    paths: Sequence[TwoHop],
    excluded: frozenset[LeafKey],
    forced: frozenset[LeafKey],
) -> list[_Branch]:
    branches = []
    group_venues: list[Venue] = []
    group_curves: list[CPCurve] = []
    group_has_minimum = False
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
            if venue.min_in > 1:
                group_has_minimum = True
        elif curve.cap > curve.lo or curve.lo > 0:
            branches.append(_Branch(curve, direct=(venue,)))
    if len(group_curves) == 1:
        branches.append(_Branch(group_curves[0], direct=(group_venues[0],)))
    elif group_curves:
        branches.append(
            _Branch(CPGroup(group_curves), direct=tuple(group_venues), has_minimum=group_has_minimum)
        )
    for path in paths:
        branch = _path_branch(path, 0, excluded, forced)
        if branch is not None:
            branches.append(branch)
    return branches


# A leg before it becomes a ``Leg``: (venue, amount_in, amount_out, hop, path). Legs are built only
# for the split that is returned: splits rounded and then re-solved (dust, the min-gain check)
# never pay for their ``Leg`` objects (1 µs each, the largest cost of a rounding pass).
_PendingLeg = tuple[Venue, int, int, int, tuple[str, ...]]


@dataclass
class _Integerised:
    legs: list[_PendingLeg]
    amount_out: int
    dust: set[LeafKey]
    below_min: set[LeafKey]

    def built_legs(self) -> tuple[Leg, ...]:
        """The legs as ``Leg`` values."""
        return tuple(
            new_leg(
                venue.venue_id,
                venue.venue,
                venue.kind,
                venue.token_in,
                venue.token_out,
                amount,
                out,
                hop,
                path,
                venue.is_estimate,
                venue.latency_ms,
            )
            for venue, amount, out, hop, path in self.legs
        )


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
    if amount >= min_leg and max(amounts) < min_leg:
        keep = max(range(len(amounts)), key=amounts.__getitem__)
    total = 0
    for i, (venue, leg_amount) in enumerate(zip(venues, amounts, strict=True)):
        if leg_amount == 0:
            continue
        if leg_amount < min_leg and i != keep:
            result.dust.add(leaf_key(hop, venue))
            continue
        if type(venue) is AmmVenue:
            # AmmVenue.check then .quote, inlined (the same exact integer maths; 1,000-pool splits
            # price 1,000 legs): an amount that buys nothing is refused, as check() would.
            out = amount_out_unchecked(venue.reserve_in, venue.reserve_out, leg_amount, venue.pool.fee_bps)
            if leg_amount <= 0 or out <= 0:
                (result.below_min if leg_amount < AmmVenue.min_in else result.dust).add(leaf_key(hop, venue))
                continue
        else:
            reason = venue.check(leg_amount)
            if reason is not None:
                (result.below_min if leg_amount < venue.min_in else result.dust).add(leaf_key(hop, venue))
                continue
            out = venue.quote(leg_amount)
        total += out
        result.legs.append((venue, leg_amount, out, hop, path))
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


def _final_token(branch: _Branch) -> str:
    return branch.second[0].token_out if branch.second else _final_token(branch.onward[0])


def _fill_path(
    branch: _Branch,
    hop: int,
    amount: int,
    lam: float,
    prefix: tuple[str, ...],
    dust: _DustRule,
    result: _Integerised,
    min_leg: int,
    suffix: tuple[str, ...] = (),
) -> int:
    """Fill a path branch (its first stage at ``hop``) with ``amount``; record legs; return its output.

    ``lam`` is the marginal price the branch faces (output per unit of its input). Stage 1 runs
    at the branch's inner price t, stage 2 at λ/t; the onward paths of stage 2 (and the ``before``
    paths of stage 1) take their share by their best responses there and are filled the same
    way. ``prefix``/``suffix``: the tokens before and after this branch on the legs' paths;
    ``min_leg``: the smallest leg at the branch's first hop (``_DustRule``, from that hop's total).
    """
    first, second, onward, before = branch.first, branch.second, branch.onward, branch.before
    token_out = _final_token(branch)
    own = (*prefix, branch.via, token_out, *suffix)
    if isinstance(branch.curve, SeriesCurve):
        t = branch.curve.inner_price(lam)
        s = lam / t
        up = [c.x_at(t) for c in branch.first_curves] + [b.curve.x_at(t) for b in before]
        down = [c.x_at(s) for c in branch.second_curves] + [b.curve.x_at(s) for b in onward]
    else:  # one pool per stage: a virtual pool, all of it on that single venue at each stage
        t = s = math.nan
        up, down = [1.0], [1.0]
    if amount < min_leg:
        result.dust.update(leaf_key(hop, v) for v in first)
        for sub in before:
            result.dust.update(leaf_key(hop, v) for v in sub.first)
        return 0
    before_count = len(result.dust) + len(result.below_min)
    if before:
        # Stage 1 is the split of token_in→via: its direct venues and the in→X→via paths.
        if math.fsum(up) <= 0.0:
            up = [1.0] * len(up)
        parts = apportion(amount, up, [v.max_in for v in first] + [None] * len(before))
        middle = 0
        direct_total = sum(parts[: len(first)])
        if direct_total:
            weights = [float(p) for p in parts[: len(first)]]
            middle += _fill_stage(hop, first, weights, direct_total, own, min_leg, result)
        for sub, part in zip(before, parts[len(first) :], strict=True):
            if part:
                middle += _fill_path(sub, hop, part, t, prefix, dust, result, min_leg, (token_out, *suffix))
        fed = [sub for sub, part in zip(before, parts[len(first) :], strict=True) if part]
        last_path = (*prefix, fed[0].via, branch.via, token_out, *suffix) if fed else own
        last_hop = hop + 2
    else:
        # Stage-1 legs feed the direct two-hop path and the onward ones: labelled with the former.
        first_path = own if second else (*prefix, branch.via, onward[0].via, token_out, *suffix)
        middle = _fill_stage(hop, first, up, amount, first_path, min_leg, result)
        last_path, last_hop = own, hop + 1
    if len(result.dust) + len(result.below_min) > before_count or middle == 0:
        return 0  # re-solve without the offending leg before pricing the later hops
    min_middle = dust.min_leg(branch.via, middle)
    if not onward:
        start = len(result.legs)
        out = _fill_stage(last_hop, second, down, middle, last_path, min_middle, result)
        if before and len(last_path) == len(own):
            # No three-hop path got any input: the last stage is the second hop of a two-hop path.
            # (It was priced under its structural hop, hop + 2, which dust keys must match.)
            result.legs[start:] = [(v, a, o, hop + 1, p) for v, a, o, _, p in result.legs[start:]]
        return out
    if math.fsum(down) <= 0.0:
        down = [1.0] * len(down)
    caps: list[int | None] = [v.max_in for v in second]
    parts = apportion(middle, down, caps + [None] * len(onward))
    total = 0
    direct_total = sum(parts[: len(second)])
    if direct_total:
        weights = [float(p) for p in parts[: len(second)]]
        total += _fill_stage(hop + 1, second, weights, direct_total, own, min_middle, result)
    for sub, part in zip(onward, parts[len(second) :], strict=True):
        if part:
            total += _fill_path(
                sub, hop + 1, part, s, (*prefix, branch.via), dust, result, min_middle, suffix
            )
    return total


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
    for branch, amount in zip(branches, amounts, strict=True):
        if amount == 0:
            continue
        if branch.direct:
            path = (token_in, branch.direct[0].token_out)
            weights_in = branch.curve.allocation(solution.lam) if isinstance(branch.curve, CPGroup) else [1.0]
            result.amount_out += _fill_stage(0, branch.direct, weights_in, amount, path, min_leg, result)
            continue
        result.amount_out += _fill_path(branch, 0, amount, solution.lam, (token_in,), dust, result, min_leg)
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
        if only_with_minimum and (
            branch.has_minimum is False
            or (branch.has_minimum is None and all(v.min_in <= 1 for v in _branch_venues(branch)))
        ):
            continue
        if isinstance(branch.curve, CPGroup):
            shares = branch.curve.allocation(solution.lam)
            allocations |= {leaf_key(0, v): (a, v) for v, a in zip(branch.direct, shares, strict=True)}
        elif branch.direct:
            allocations[leaf_key(0, branch.direct[0])] = (x, branch.direct[0])
        else:
            _path_allocations(branch, 0, solution.lam, allocations)
    return allocations


def _branch_venues(branch: _Branch) -> tuple[Venue, ...]:
    """Every venue of a branch, three-hop paths included."""
    if branch.direct:
        return branch.direct
    venues = branch.first + branch.second
    for sub in branch.onward + branch.before:
        venues += _branch_venues(sub)
    return venues


def _path_allocations(
    branch: _Branch, hop: int, lam: float, allocations: dict[LeafKey, tuple[float, Venue]]
) -> None:
    """Each venue's continuous input in a path branch facing price ``lam`` (virtual pools: none)."""
    if not isinstance(branch.curve, SeriesCurve):
        return  # one pool per stage: no minimum size to branch on
    t = branch.curve.inner_price(lam)
    s = lam / t
    last_hop = hop + 2 if branch.before else hop + 1
    allocations |= {
        leaf_key(hop, v): (c.x_at(t), v) for v, c in zip(branch.first, branch.first_curves, strict=True)
    }
    allocations |= {
        leaf_key(last_hop, v): (c.x_at(s), v)
        for v, c in zip(branch.second, branch.second_curves, strict=True)
    }
    for sub in branch.onward:
        _path_allocations(sub, hop + 1, s, allocations)
    for sub in branch.before:
        _path_allocations(sub, hop, t, allocations)


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
    direct: Sequence[Venue],
    paths: Sequence[TwoHop],
    amount_in: int,
    node: _Node,
    *,
    with_bound: bool = True,
) -> _Relaxed | None:
    """The node's convex optimum; ``with_bound=False`` leaves ``bound`` NaN (re-solves never read it)."""
    branches = _build_branches(direct, paths, node.excluded, node.forced)
    if not branches:
        return None
    curves = [b.curve for b in branches]
    try:
        solution = solve(curves, float(amount_in))
    except InsufficientLiquidityError:
        return None
    bound = dual_bound(curves, float(amount_in), solution.lam) if with_bound else math.nan
    return _Relaxed(node, branches, solution, bound)


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
) -> tuple[_Integerised, _Relaxed]:
    """Round a node's optimum to base units, dropping dust and re-solving until every leg is clean."""
    relaxed = start
    for _ in range(64):
        result = _integerise(relaxed.branches, relaxed.solution, amount_in, dust)
        problems = result.dust | result.below_min
        if not problems:
            return result, relaxed
        node = _Node(relaxed.node.excluded | problems, relaxed.node.forced - problems)
        next_relaxed = _solve_node(direct, paths, amount_in, node, with_bound=False)
        if next_relaxed is None:
            raise InsufficientLiquidityError("no venue is left to fill the order")
        relaxed = next_relaxed
    raise InsufficientLiquidityError("the split did not settle on clean legs")


def _hop0_keys(branch: _Branch) -> frozenset[LeafKey]:
    """The first-hop venues of a branch: excluding them all takes the branch out of the split."""
    if branch.direct:
        return frozenset(leaf_key(0, v) for v in branch.direct)
    keys = {leaf_key(0, v) for v in branch.first}
    for sub in branch.before:
        keys |= _hop0_keys(sub)
    return frozenset(keys)


_unit_surplus = itemgetter(0)


def _drop_small_gains(
    direct: Sequence[Venue],
    paths: Sequence[TwoHop],
    amount_in: int,
    dust: _DustRule,
    relaxed: _Relaxed,
    result: _Integerised,
    config: RouterConfig,
) -> _Integerised:
    """The split without the extra legs that each add less than ``config.min_gain_bps_per_leg``.

    Units: a direct venue, or a whole path branch. A unit's surplus f(x) − λ·x at the split's λ
    is a lower bound on what it adds (without it, every other branch faces the same λ at best:
    D₋ᵢ(λ) = D(λ) − surplusᵢ bounds the rest). Units whose surplus is below the threshold are
    dropped, smallest first, while their surpluses add up to less than the threshold; the split
    is re-solved without them and kept only if it really gives up less than the threshold in all
    (exact integer outputs). Removing a set loses at least as much as removing any one of it, so
    each dropped unit then adds less than the threshold on its own. The certificate is untouched:
    the gap is still measured to the true bound, so it shows what was given up.

    Splits of more than ``config.min_gain_max_legs`` first-hop legs are left as they are: the
    check re-solves the split, which on a 1,000-venue market doubled the route's time (measured:
    2.7 → 5.4 ms), and such a split's many small legs are the market's depth, not a rounding.
    """
    first_keys: set[LeafKey] = set()
    for venue, _, _, hop, _ in result.legs:  # counted up to one past the limit, not over 1,000 legs
        if hop == 0:
            first_keys.add(leaf_key(0, venue))
            if len(first_keys) > config.min_gain_max_legs:
                return result
    if len(first_keys) < 2 or result.amount_out <= 0:
        return result
    threshold = float(config.min_gain_bps_per_leg) / 10_000 * result.amount_out
    lam = relaxed.solution.lam
    # (surplus, the direct venue or the path branch it drops); keys are built only for those dropped.
    units: list[tuple[float, Venue | _Branch]] = []
    for branch, x in zip(relaxed.branches, relaxed.solution.allocations, strict=True):
        if x <= 0.0:
            continue
        if isinstance(branch.curve, CPGroup):
            direct_of = branch.direct
            units += [(surplus, direct_of[i]) for surplus, i in branch.curve.active_surpluses(lam)]
        else:
            units.append((branch.curve.surplus_at(lam), branch))
    if len(units) < 2:
        return result
    units.sort(key=_unit_surplus)  # stable: ties keep their order
    dropped: set[LeafKey] = set()
    spent = 0.0
    for surplus, unit in units[:-1]:  # never the largest: something must carry the order
        if surplus >= threshold or spent + surplus >= threshold:
            break
        spent += surplus
        if isinstance(unit, _Branch):
            dropped |= _hop0_keys(unit)
        else:
            dropped.add(leaf_key(0, unit))
    if not dropped:
        return result
    node = _Node(relaxed.node.excluded | dropped, relaxed.node.forced - dropped)
    fewer = _solve_node(direct, paths, amount_in, node, with_bound=False)
    if fewer is None:
        return result
    try:
        candidate, _ = _clean_split(direct, paths, amount_in, dust, fewer)
    except InsufficientLiquidityError:
        return result
    lost = result.amount_out - candidate.amount_out
    # lost / (what the route would be without them) < threshold in bps: each dropped unit adds less.
    if candidate.amount_out > 0 and lost * 10_000 < config.min_gain_bps_per_leg * candidate.amount_out:
        return candidate
    return result


def plan_split(
    market: Market,
    direct: Sequence[Venue],
    paths: Sequence[TwoHop],
    token_in: str,
    amount_in: int,
    config: RouterConfig,
    *,
    split: bool,
    shared: Sequence[TwoHop] = (),
) -> SplitPlan:
    """Branch and bound for the bound; with ``split``, also the clean integer legs (empty if none).

    ``shared``: the paths again with the three-hop ones that share a pool put back
    (``PathSearch.with_shared``), when there are any. The route never uses those, but the bound
    must cover them: it becomes the larger of the branch-and-bound bound and the dual bound of
    the convex relaxation over ``shared`` with desk minimums dropped and every shared pool
    counted once per path it is on. A relaxation of every split over every searched path (a
    concave pool used by two paths pays f(a + b) ≤ f(a) + f(b)), so still a true upper bound,
    only looser: the route says so (``SplitPlan.bound_note``).
    """
    best_node, upper_float = _branch_and_bound(direct, paths, amount_in, config)
    note = None
    if shared:
        relaxed = _solve_node(direct, shared, amount_in, _Node(frozenset(), frozenset()))
        if relaxed is not None:
            upper_float = relaxed.bound if upper_float is None else max(upper_float, relaxed.bound)
            note = (
                "relaxed: three-hop paths sharing a pool with another path are left out of the "
                "route and counted in the bound as if their pools were separate (the bound still "
                "holds; the gap may overstate)"
            )
    # The bound is evaluated in float64: a 1e-12 relative margin (1e-8 bps) keeps it above the
    # true D(λ) whatever the rounding.
    upper = math.ceil(upper_float * (1 + 1e-12)) if upper_float is not None else None
    if not split or best_node is None:
        return SplitPlan((), 0, upper, note)
    try:
        vias = {p.via for p in paths} | {o.via for p in paths for o in p.onward + p.before}
        dust = _dust_rule(market, {token_in} | vias, config)
        result, relaxed_best = _clean_split(direct, paths, amount_in, dust, best_node)
        if config.min_gain_bps_per_leg > 0:
            result = _drop_small_gains(direct, paths, amount_in, dust, relaxed_best, result, config)
    except InsufficientLiquidityError:
        return SplitPlan((), 0, upper, note)
    return SplitPlan(result.built_legs(), result.amount_out, upper, note)


def search_paths(
    market: Market, token_in: str, token_out: str, amount_in: int, config: RouterConfig
) -> PathSearch:
    """The paths ``config`` allows (none without ``two_hop``; three hops unless ``max_hops`` < 3)."""
    if not config.two_hop:
        return PathSearch(())
    return route_paths(
        market,
        token_in,
        token_out,
        amount_in,
        max_hops=config.max_hops,
        max_three_hop=config.max_three_hop_paths,
        min_depth_ratio=config.min_path_depth_ratio,
    )


def output_bound(market: Market, token_in: str, token_out: str) -> Callable[[int], int | None]:
    """``bound(amount_in)``: an integer no route of the pair can beat on ``market``, or None.

    The dual bound D(λ*) of the convex relaxation over every venue and every path of up to three
    hops, unpruned (no depth or count limit, three-hop paths sharing a pool counted as separate),
    with desk minimum sizes dropped: each route ``find_route`` can return, under any strategy and
    config, is a feasible split of a subset of those branches, so its output is at most the
    relaxation's optimum (weak duality: at most D(λ) for every λ; λ* makes it tight). Built once per
    pair; each call solves the split for its amount (no integer legs, no branch and bound).

    None when the bound cannot be had cheaply: the order exceeds every venue's capacity, or the
    pair has an aggregator quote (its fitted curve is an estimate, not a bound on its quotes).
    """
    aggregator = market.aggregator
    if aggregator is not None and (aggregator.token_in, aggregator.token_out) == (token_in, token_out):
        return lambda amount_in: None
    direct = direct_venues(market, token_in, token_out)
    search = route_paths(market, token_in, token_out, 0, max_three_hop=1 << 30, min_depth_ratio=Decimal(0))
    branches = _build_branches(direct, search.with_shared(), frozenset(), frozenset())
    curves = [b.curve for b in branches]

    def bound(amount_in: int) -> int | None:
        if not curves:
            return 0
        try:
            lam = solve(curves, float(amount_in)).lam
        except InsufficientLiquidityError:
            return None
        # float64 evaluation: the same 1e-12 relative margin as the route's certificate.
        return math.ceil(dual_bound(curves, float(amount_in), lam) * (1 + 1e-12))

    return bound


def optimal_split(
    market: Market, token_in: str, token_out: str, amount_in: int, config: RouterConfig = DEFAULT_CONFIG
) -> SplitPlan:
    """The optimal split alone, without quoting every venue on its own (what execution re-runs).

    ``find_route`` adds the per-venue quote table and never returns less than BEST_PRICE.
    """
    validate_order(token_in, token_out, amount_in, 0)
    direct = direct_venues(market, token_in, token_out)
    search = search_paths(market, token_in, token_out, amount_in, config)
    plan = plan_split(
        market,
        direct,
        search.paths,
        token_in,
        amount_in,
        config,
        split=True,
        shared=search.with_shared() if search.shared else (),
    )
    if not plan.legs:
        raise NoRouteError(
            f"no split can fill {format_amount(token_in, amount_in)} {token_in} for {token_out}"
        )
    return plan
