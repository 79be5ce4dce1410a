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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from errors import InsufficientLiquidityError
from routing_engine.curves import Curve

__all__ = ["Solution", "apportion", "dual_bound", "solve"]

_MAX_ITERATIONS = 200


@dataclass(frozen=True, slots=True)
class Solution:
    """Continuous optimum: common marginal price λ and each branch's input."""

    lam: float
    allocations: tuple[float, ...]
    iterations: int


def _total(branches: Sequence[Curve], lam: float) -> float:
    return sum(b.x_at(lam) for b in branches)


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

    # Refine: Newton where it stays inside the bracket, else the secant across it, else bisection.
    mu = mu_b - s_b * (mu_b - mu_a) / (s_b - s_a)
    for _ in range(_MAX_ITERATIONS):
        residual = _total(branches, mu**-2) - amount
        iterations += 1
        if residual < 0.0:
            mu_a, s_a = mu, residual
        else:
            mu_b, s_b = mu, residual
        if abs(residual) <= tol or mu_b - mu_a <= 1e-15 * mu_b:
            break
        lam = mu**-2
        # dS/dμ = dS/dλ · dλ/dμ = Σ slope · (−2·μ⁻³) ≥ 0
        slope = sum(b.slope_at(lam) for b in branches) * (-2.0 / (mu * mu * mu))
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
    return lam * amount + sum(b.value_at(lam) - lam * b.x_at(lam) for b in branches)


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
    if total < 0 or weight_sum <= 0.0:
        raise ValueError(f"cannot apportion {total} over weights summing to {weight_sum}")
    shares = [w * total / weight_sum for w in weights]
    amounts = [
        max(0, math.floor(share) if cap is None else min(math.floor(share), cap))
        for share, cap in zip(shares, caps, strict=True)
    ]
    leftover = total - sum(amounts)
    by_remainder = sorted(range(len(shares)), key=lambda i: shares[i] - amounts[i], reverse=True)
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
