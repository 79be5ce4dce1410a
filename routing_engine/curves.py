"""Continuous output curves the split solver optimises over.

Every venue is modelled by a concave, increasing output function f(x) of its input x on
[lo, cap] (lo > 0 only for a desk forced to trade at least its minimum). The solver only
needs, for a marginal price λ (output per unit input), the best response

    x(λ) = argmax_{lo ≤ x ≤ cap} f(x) − λ·x      (non-increasing in λ)

and its slope dx/dλ. These are numerical models in float64: they choose the split. Every
amount that leaves the router is an int computed by the venue's exact integer pricing.

Curves:
- ``CPCurve``: constant product with fee factor g: f(x) = g·x·R_out / (R_in + g·x),
  f'(x) = g·R_in·R_out / (R_in + g·x)², so x(λ) = (√(g·R_in·R_out/λ) − R_in) / g.
  With μ = λ^(-1/2) this is linear in μ, which is why the solver iterates in μ.
- ``PolyCurve``: an OTC desk, f(x) = u·x − v·x^(p+1) (see otc_engine), f'(x) = u − (p+1)·v·x^p,
  x(λ) = ((u − λ) / ((p+1)·v))^(1/p).
- ``Stage``: parallel curves at one common marginal price (a sum of best responses).
- ``SeriesCurve``: a two-hop branch, stage 1 (A→X) feeding stage 2 (X→B). At the optimum the
  marginal prices multiply: t·s = λ with t stage 1's and s stage 2's, and stage 1's output
  equals stage 2's input: H(t) = X₂(λ/t). H falls and X₂(λ/t) rises with t, so the root is
  unique; it is found by a safeguarded Newton in √t that stops at every bend (``inner_price``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate, islice
from operator import eq, itemgetter
from typing import Protocol

__all__ = ["CPCurve", "CPGroup", "Curve", "PolyCurve", "SeriesCurve", "Stage", "virtual_cp_of_two_hops"]

_INF = math.inf
_event_mu = itemgetter(0)
# Newton on a two-hop root: converges in a few steps; the cap only bounds bisection from far off.
_INNER_ITERATIONS = 200


class Curve(Protocol):
    """What the solver needs of a branch."""

    @property
    def marginal0(self) -> float:
        """f'(lo): the highest marginal price at which the branch takes more than its floor."""
        ...

    @property
    def cap(self) -> float:
        """Largest input the branch accepts."""
        ...

    @property
    def lo(self) -> float:
        """Smallest input once used (0 unless forced on)."""
        ...

    def x_at(self, lam: float) -> float:
        """Best response to marginal price λ."""
        ...

    def slope_at(self, lam: float) -> float:
        """d x(λ) / dλ (≤ 0)."""
        ...

    def value_at(self, lam: float) -> float:
        """f(x(λ)): output at the best response."""
        ...

    def surplus_at(self, lam: float) -> float:
        """max_x f(x) − λ·x over the branch's inputs: its term in the dual bound."""
        ...


class CPCurve:
    """Constant-product curve f(x) = g·x·R_out / (R_in + g·x) on [lo, cap]."""

    __slots__ = ("_events", "_k", "_root_g_out", "cap", "g", "lo", "marginal0", "r_in", "r_out")

    def __init__(self, r_in: float, r_out: float, g: float, cap: float = _INF, lo: float = 0.0) -> None:
        self.r_in = r_in
        self.r_out = r_out
        self.g = g
        self.cap = cap
        self.lo = lo
        self._k = math.sqrt(g * r_in * r_out)  # x(λ) = (k·μ − R_in)/g with μ = λ^(-1/2)
        self.marginal0 = self.marginal(lo)
        self._root_g_out = math.sqrt(g * r_out)  # √(g·R_out), in every dual-bound term
        # This curve's breakpoints in a CPGroup, (μ, ΔA, ΔB, ΔC): computed once here, since pools'
        # curves are cached between quotes and every branch-and-bound node rebuilds its groups.
        slope, intercept = self._k / g, r_in / g
        start = (r_in / self._k, slope, intercept, 0.0)
        self._events: tuple[tuple[float, float, float, float], ...] = (
            (start,)
            if cap == _INF
            # At the cap the curve leaves the linear part and becomes a constant.
            else (start, ((r_in + g * cap) / self._k, -slope, -intercept, cap))
        )

    def value(self, x: float) -> float:
        """f(x)."""
        return self.g * x * self.r_out / (self.r_in + self.g * x)

    def marginal(self, x: float) -> float:
        """f'(x)."""
        d = self.r_in + self.g * x
        return self.g * self.r_in * self.r_out / (d * d)

    def x_at(self, lam: float) -> float:
        """Best response, clipped to [lo, cap]."""
        x = (self._k / math.sqrt(lam) - self.r_in) / self.g
        if x <= self.lo:
            return self.lo
        return self.cap if x >= self.cap else x

    def slope_at(self, lam: float) -> float:
        """dx/dλ = −k / (2·g·λ^1.5) inside the bounds, else 0."""
        x = (self._k / math.sqrt(lam) - self.r_in) / self.g
        if x <= self.lo or x >= self.cap:
            return 0.0
        return -self._k / (2.0 * self.g * lam * math.sqrt(lam))

    def value_at(self, lam: float) -> float:
        """f(x(λ))."""
        return self.value(self.x_at(lam))

    def response_at(self, lam: float) -> tuple[float, float, float]:
        """(x_at, value_at, slope_at) in one pass: what a two-hop root needs per evaluation."""
        root_lam = math.sqrt(lam)
        x = (self._k / root_lam - self.r_in) / self.g
        if x <= self.lo:
            x, slope = self.lo, 0.0
        elif x >= self.cap:
            x, slope = self.cap, 0.0
        else:
            slope = -self._k / (2.0 * self.g * lam * root_lam)
        return x, self.g * x * self.r_out / (self.r_in + self.g * x), slope

    def surplus_at(self, lam: float) -> float:
        """max f(x) − λ·x: (√(g·R_out) − √(λ·R_in))² / g inside the bounds, with no x in it.

        At the optimum R_in + g·x = k/√λ, and f − λ·x simplifies to that square. Computing it
        from x instead loses everything on deep curves, where x is only known to ~R_in·1e-16.
        """
        x = self.x_at(lam)
        if x <= self.lo or x >= self.cap:
            return self.value(x) - lam * x
        root = self._root_g_out - math.sqrt(lam * self.r_in)
        return root * root / self.g


class PolyCurve:
    """OTC desk curve f(x) = u·x − v·x^(p+1) on [lo, cap], p ∈ {1, 2}."""

    __slots__ = ("cap", "exponent", "lo", "marginal0", "u", "v")

    def __init__(self, u: float, v: float, exponent: int, cap: float, lo: float = 0.0) -> None:
        if exponent not in (1, 2):
            raise ValueError(f"exponent must be 1 or 2, got {exponent}")
        self.u = u
        self.v = v
        self.exponent = exponent
        self.cap = cap
        self.lo = lo
        self.marginal0 = self.marginal(lo)

    def value(self, x: float) -> float:
        """f(x)."""
        return self.u * x - self.v * x ** (self.exponent + 1)

    def marginal(self, x: float) -> float:
        """f'(x)."""
        return self.u - (self.exponent + 1) * self.v * x**self.exponent

    def _unclipped(self, lam: float) -> float:
        if lam >= self.u:
            return 0.0
        if self.v <= 0.0:
            return _INF
        base = (self.u - lam) / ((self.exponent + 1) * self.v)
        return base if self.exponent == 1 else math.sqrt(base)

    def x_at(self, lam: float) -> float:
        """Best response, clipped to [lo, cap]."""
        x = self._unclipped(lam)
        if x <= self.lo:
            return self.lo
        return self.cap if x >= self.cap else x

    def slope_at(self, lam: float) -> float:
        """dx/dλ inside the bounds, else 0."""
        x = self._unclipped(lam)
        if x <= self.lo or x >= self.cap or self.v <= 0.0:
            return 0.0
        if self.exponent == 1:
            return -1.0 / (2.0 * self.v)
        return -1.0 / (6.0 * self.v * x)

    def value_at(self, lam: float) -> float:
        """f(x(λ))."""
        return self.value(self.x_at(lam))

    def response_at(self, lam: float) -> tuple[float, float, float]:
        """(x_at, value_at, slope_at) in one pass."""
        x = self.x_at(lam)
        return x, self.value(x), self.slope_at(lam)

    def surplus_at(self, lam: float) -> float:
        """max f(x) − λ·x."""
        x = self.x_at(lam)
        return self.value(x) - lam * x


class CPGroup:
    """Many constant-product curves at one marginal price: the solver's hot path in O(log n).

    Each curve's best response is x_i(μ) = clip((k_i·μ − R_in,i)/g_i, 0, cap_i) with
    k_i = √(g_i·R_in,i·R_out,i): zero until μ = R_in/k, linear with slope k/g, flat from
    μ = (R_in + g·cap)/k. Sorting those breakpoints once and keeping prefix sums gives, for
    the active set at μ, Σ x = A·μ − B + C and d Σx / dμ = A (A = Σ k/g, B = Σ R_in/g over
    active curves; C the capped inputs). One bisect per evaluation. Outputs (for the bound)
    are summed curve by curve: see ``value_at``.
    """

    __slots__ = ("_a", "_b", "_c", "_mu", "cap", "curves", "lo", "marginal0")

    def __init__(self, curves: Sequence[CPCurve]) -> None:
        self.curves = tuple(curves)
        self.lo = 0.0
        # One pass for Σ cap (added in order, as sum() adds), the largest marginal0 (the first
        # of equals, as max() keeps) and the breakpoints: every node of a route builds its group.
        cap: float = 0
        top = 0.0
        events: list[tuple[float, float, float, float]] = []  # (μ, ΔA, ΔB, ΔC)
        has_cap = False
        for i, c in enumerate(self.curves):
            cap += c.cap
            if i == 0 or c.marginal0 > top:
                top = c.marginal0
            events += c._events
            if c.cap != _INF:
                has_cap = True
        self.cap = cap
        self.marginal0 = top
        # Sorting by μ alone is 5× cheaper than comparing tuples (1,000 pools: 38 vs 184 µs), and
        # gives the same order unless two events share a μ: then the whole tuples decide, as
        # before, so the prefix sums add in exactly the same order.
        events.sort(key=_event_mu)
        mus = [e[0] for e in events]
        if any(map(eq, mus, islice(mus, 1, None))):
            events.sort()
            mus = [e[0] for e in events]
        columns: list[tuple[float, ...]] = list(zip(*events, strict=True)) if events else [(), (), (), ()]
        self._mu: list[float] = mus
        # Prefix sums after each event (index 0: before any): C loops via accumulate.
        self._a: list[float] = [0.0, *accumulate(columns[1])]
        self._b: list[float] = [0.0, *accumulate(columns[2])]
        # Without a capped curve every ΔC is 0.0 and so is every prefix sum: skip the adds.
        self._c: list[float] = [0.0, *accumulate(columns[3])] if has_cap else [0.0] * (len(events) + 1)

    def x_at(self, lam: float) -> float:
        """Σ best responses."""
        mu = 1.0 / math.sqrt(lam)
        j = bisect_right(self._mu, mu)
        return max(0.0, self._a[j] * mu - self._b[j]) + self._c[j]

    def slope_at(self, lam: float) -> float:
        """d Σx / dλ = A · dμ/dλ = −A / (2·λ^1.5)."""
        j = bisect_right(self._mu, 1.0 / math.sqrt(lam))
        return -self._a[j] / (2.0 * lam * math.sqrt(lam))

    def value_at(self, lam: float) -> float:
        """Σ outputs at the best responses, curve by curve (O(n): not on the solver's hot path)."""
        return math.fsum(c.value_at(lam) for c in self.curves)

    def surplus_at(self, lam: float) -> float:
        """Σ max f − λ·x, curve by curve in the cancellation-free form (see CPCurve.surplus_at).

        ``CPCurve.surplus_at`` inlined (the same float operations, so the same terms): this is
        the dual bound's O(n) loop at every branch-and-bound node.
        """
        root_lam = math.sqrt(lam)
        terms = []
        for c in self.curves:
            x = (c._k / root_lam - c.r_in) / c.g
            if x <= c.lo:
                x = c.lo
            elif x >= c.cap:
                x = c.cap
            else:
                root = c._root_g_out - math.sqrt(lam * c.r_in)
                terms.append(root * root / c.g)
                continue
            terms.append(c.value(x) - lam * x)
        return math.fsum(terms)

    def active_surpluses(self, lam: float) -> list[tuple[float, int]]:
        """(``surplus_at``, index) of each curve whose best response is positive, in order.

        ``CPCurve.x_at`` and ``CPCurve.surplus_at`` inlined, x computed once: the same values.
        """
        root_lam = math.sqrt(lam)
        found = []
        for i, c in enumerate(self.curves):
            x = (c._k / root_lam - c.r_in) / c.g
            if x <= c.lo:
                x = c.lo
            elif x >= c.cap:
                x = c.cap
            else:
                if x > 0.0:
                    root = c._root_g_out - math.sqrt(lam * c.r_in)
                    found.append((root * root / c.g, i))
                continue
            if x > 0.0:
                found.append((c.value(x) - lam * x, i))
        return found

    def allocation(self, lam: float) -> list[float]:
        """Each curve's best response (``CPCurve.x_at`` inlined: same operations, same values)."""
        root_lam = math.sqrt(lam)
        shares = []
        for c in self.curves:
            x = (c._k / root_lam - c.r_in) / c.g
            shares.append(c.lo if x <= c.lo else c.cap if x >= c.cap else x)
        return shares


class Stage:
    """Curves in parallel, all at one marginal price: the optimal split within one hop.

    A stage may hold ``SeriesCurve``s: the onward three-hop paths X→Y→B that share stage 1 of
    their branch (A→X) with the branch's direct X→B venues (see ``paths``).
    """

    __slots__ = ("cap", "curves", "lo", "marginal0")

    def __init__(self, curves: Sequence[CPCurve | PolyCurve | SeriesCurve]) -> None:
        self.curves = tuple(curves)
        self.marginal0: float = max((c.marginal0 for c in self.curves), default=0.0)
        self.cap: float = sum(c.cap for c in self.curves)
        self.lo: float = sum(c.lo for c in self.curves)

    def x_at(self, lam: float) -> float:
        """Σ best responses."""
        return sum(c.x_at(lam) for c in self.curves)

    def slope_at(self, lam: float) -> float:
        """Σ slopes."""
        return sum(c.slope_at(lam) for c in self.curves)

    def value_at(self, lam: float) -> float:
        """Σ outputs at the best responses."""
        return sum(c.value_at(lam) for c in self.curves)

    def response_at(self, lam: float) -> tuple[float, float, float]:
        """(Σ x, Σ f, Σ dx/dλ) at the best responses, summed in the same order as the methods above."""
        x = value = slope = 0.0
        for c in self.curves:
            cx, cv, cs = c.response_at(lam)
            x += cx
            value += cv
            slope += cs
        return x, value, slope

    def surplus_at(self, lam: float) -> float:
        """Σ max f − λ·x."""
        return math.fsum(c.surplus_at(lam) for c in self.curves)

    def allocation(self, lam: float) -> list[float]:
        """Each curve's best response."""
        return [c.x_at(lam) for c in self.curves]


class SeriesCurve:
    """A two-hop branch: ``first`` (A→X) feeds ``second`` (X→B); both are stages.

    Forced minimums (desks in a branch-and-bound node) may sit in either stage: the branch
    then has a minimum input ``lo``, the least input whose optimal stage-1 output covers
    stage 2's floor.
    """

    __slots__ = ("_cache", "_kinks_first", "_kinks_second", "first", "lo", "marginal0", "second")

    def __init__(self, first: Stage, second: Stage) -> None:
        self.first = first
        self.second = second
        self.marginal0: float = first.marginal0 * second.marginal0
        self._cache: tuple[float, float] = (math.nan, math.nan)
        # Where φ bends, in τ = √t: a stage-1 venue switches on or caps at t = its marginal price
        # there (τ = √m); a stage-2 venue at s = m, i.e. τ = √λ / √m (kept as 1/√m, scaled per λ).
        self._kinks_first = sorted({math.sqrt(m) for m in _bends(first.curves)})
        self._kinks_second = sorted({1.0 / math.sqrt(m) for m in _bends(second.curves)})
        self.lo: float = first.lo
        if second.lo > 0.0:
            # The stage-1 price at which stage 1 just produces stage 2's floor.
            t = _root_decreasing(lambda t: first.value_at(t) - second.lo, first.marginal0)
            self.lo = max(first.lo, first.x_at(t))

    @property
    def cap(self) -> float:
        """Stage 1's capacity (stage 2's bound shows up as a flat marginal)."""
        return self.first.cap

    def inner_price(self, lam: float) -> float:
        """Stage 1's marginal price t at which the branch is optimal for λ (t·s = λ).

        Root of φ = H(t) − X₂(λ/t) by Newton in τ = √t, where constant-product venues make both
        terms exactly linear (H = Σ R_out − √(R_in·R_out/g)·τ, X₂ = Σ (k·τ/√λ − R_in)/g), so a
        step lands on the root unless a venue switches on, or reaches its cap, in between. A step
        therefore stops at the first such bend on its way (their prices are known: ``_bends``),
        and Newton restarts there with the right slope. Safeguards: the bracket built as it goes
        (doubling τ outwards until both signs are seen), and a false-position step (Illinois)
        whenever a step jumps across the root without halving |φ| (a desk switching on bends φ
        with a square root, where Newton alone crawls). Warm-started from the previous root (the
        outer solver moves λ a little at a time), else from the t that splits the branch's price
        impact evenly between its stages. Stops once the Newton correction is below float
        resolution in τ (~4 ulps), or the bracket is that narrow.

        Replaced a Newton in t that stopped only at |φ| ≤ 1e-13 of stage 1's output, a level
        float noise cannot reach: it ended in ~30 bisections per call (15-50 φ evaluations,
        now 1-12, most often 2-4).
        """
        if self._cache[0] == lam:
            return self._cache[1]
        first, second = self.first, self.second
        guess = self._cache[1]
        if not (guess > 0.0 and math.isfinite(guess)):
            guess = first.marginal0 * math.sqrt(lam / self.marginal0) if self.marginal0 > 0.0 else 1.0
            if not (guess > 0.0 and math.isfinite(guess)):
                guess = 1.0
        tau = math.sqrt(guess)
        lo, hi = 0.0, _INF  # φ(lo) > 0 > φ(hi) once known; 0 and ∞ stand for "not yet"
        f_lo = f_hi = 0.0
        side = 0
        previous, previous_side = _INF, 0
        must_fall_back = False
        for _ in range(_INNER_ITERATIONS):
            t = tau * tau
            s = lam / t
            _, h, a1 = first.response_at(t)
            x2, _, b2 = second.response_at(s)
            value = h - x2
            if value > 0.0:
                lo, f_lo = tau, value
                if side == 1:
                    f_hi *= 0.5  # Illinois: the far end has not moved twice running
                side = 1
            elif value < 0.0:
                hi, f_hi = tau, value
                if side == -1:
                    f_lo *= 0.5
                side = -1
            else:
                break
            if hi - lo <= 1e-15 * hi < _INF:
                break
            # dφ/dτ = 2τ·dφ/dt, dφ/dt = t·X₁'(t) + X₂'(λ/t)·λ/t² (H' = t·X₁' at stage 1's optimum).
            derivative = 2.0 * tau * (t * a1 + b2 * s / t)
            step = value / derivative if derivative < 0.0 else math.nan
            if abs(step) <= 1e-15 * tau:
                candidate = tau - step
                if lo <= candidate <= hi:
                    tau = candidate
                break
            # Bouncing across the root without halving |φ| is a kink between the two points.
            must_fall_back = must_fall_back or (side != previous_side and abs(value) > 0.5 * previous)
            previous, previous_side = abs(value), side
            candidate = tau - step
            if not must_fall_back and lo < candidate < hi:
                # Stop at the first bend on the way: past it the slope is not the one the step used.
                candidate = self._first_bend(tau, candidate, lam)
            else:
                must_fall_back = False
                if hi == _INF:
                    candidate = tau * 2.0
                elif lo == 0.0:
                    candidate = tau * 0.5
                else:
                    candidate = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)  # false position
                    if not lo < candidate < hi:
                        candidate = 0.5 * (lo + hi)
            tau = candidate
        t = tau * tau
        self._cache = (lam, t)
        return t

    def _first_bend(self, start: float, end: float, lam: float) -> float:
        """The bend of φ strictly between ``start`` and ``end`` (in τ) nearest ``start``, else ``end``."""
        best = end
        scale = math.sqrt(lam)
        for kinks, factor in ((self._kinks_first, 1.0), (self._kinks_second, scale)):
            if end > start:
                i = bisect_right(kinks, start / factor)
                if i < len(kinks):
                    kink = kinks[i] * factor
                    if start < kink < best:
                        best = kink
            else:
                i = bisect_left(kinks, start / factor) - 1
                if i >= 0:
                    kink = kinks[i] * factor
                    if best < kink < start:
                        best = kink
        return best

    def x_at(self, lam: float) -> float:
        """Input the branch takes at λ."""
        if lam >= self.marginal0 and self.lo == 0.0:
            return 0.0
        return max(self.lo, self.first.x_at(self.inner_price(lam)))

    def slope_at(self, lam: float) -> float:
        """dx/dλ by implicit differentiation of H(t) = X₂(λ/t); see the module docstring."""
        if lam >= self.marginal0 and self.lo == 0.0:
            return 0.0
        t = self.inner_price(lam)
        a1 = self.first.slope_at(t)
        b2 = self.second.slope_at(lam / t)
        denominator = t * a1 + b2 * lam / (t * t)
        if denominator == 0.0:
            return 0.0
        return a1 * (b2 / t) / denominator

    def value_at(self, lam: float) -> float:
        """Output of stage 2 when the branch is optimal for λ."""
        if lam >= self.marginal0 and self.lo == 0.0:
            return 0.0
        t = self.inner_price(lam)
        return self.second.value_at(lam / t)

    def response_at(self, lam: float) -> tuple[float, float, float]:
        """(x_at, value_at, slope_at): what an enclosing branch's root needs per evaluation."""
        return self.x_at(lam), self.value_at(lam), self.slope_at(lam)

    def surplus_at(self, lam: float) -> float:
        """An upper bound on max_x f(x) − λ·x, tight at the inner root: S₂(s) + s·S₁(t), s = λ/t.

        Lagrangian decomposition (weak duality): pricing the intermediate token at s, for any
        s > 0, max over (x, y = H(x)) of F₂(y) − λx ≤ max_y (F₂(y) − s·y) + s·max_x (H(x) − (λ/s)·x).
        So the term is a true bound however precisely ``inner_price`` found its root, and at the
        root both maxima sit at the same y, where it equals value − λ·x. Stages nested in a stage
        (three-hop paths) are bounded the same way, recursively.
        """
        if lam >= self.marginal0 and self.lo == 0.0:
            return 0.0  # concave with f'(0) = marginal0 ≤ λ: the best is x = 0
        t = self.inner_price(lam)
        s = lam / t
        return self.second.surplus_at(s) + s * self.first.surplus_at(t)

    def allocations(self, lam: float) -> tuple[list[float], list[float]]:
        """Each stage's per-venue inputs when the branch is optimal for λ."""
        t = self.inner_price(lam)
        return self.first.allocation(t), self.second.allocation(lam / t)


def _bends(curves: Sequence[CPCurve | PolyCurve | SeriesCurve]) -> list[float]:
    """Marginal prices at which a curve's best response leaves its floor or reaches its cap.

    A nested series (a three-hop path) gives only its first bend: its others are not known in
    closed form, and the root's bracket and false-position steps cope without them.
    """
    prices = [c.marginal0 for c in curves]
    prices += [c.marginal(c.cap) for c in curves if c.cap != _INF and not isinstance(c, SeriesCurve)]
    return [m for m in prices if m > 0.0 and math.isfinite(m)]


def _bracket_decreasing(f: Callable[[float], float], start: float) -> tuple[float, float]:
    """(lo, hi) with f(lo) ≥ 0 ≥ f(hi) for a decreasing f of t > 0, widening from ``start`` by 4×."""
    lo = hi = start if start > 0.0 and math.isfinite(start) else 1.0
    for _ in range(400):
        if f(lo) >= 0.0:
            break
        hi, lo = lo, lo * 0.25
    for _ in range(400):
        if f(hi) <= 0.0:
            break
        lo, hi = hi, hi * 4.0
    return lo, hi


def _root_decreasing(f: Callable[[float], float], start: float) -> float:
    """Root of a decreasing function of t > 0 near ``start``."""
    return _illinois_decreasing(f, *_bracket_decreasing(f, start))


def _illinois_decreasing(f: Callable[[float], float], lo: float, hi: float) -> float:
    """Root of a decreasing function on [lo, hi] (f(lo) ≥ 0 ≥ f(hi)), searched in log space."""
    a, b = math.log(lo), math.log(hi)
    fa, fb = f(lo), f(hi)
    if fa <= 0.0:
        return lo
    if fb >= 0.0:
        return hi
    side = 0
    c = a
    for _ in range(200):
        c = (a * fb - b * fa) / (fb - fa)
        fc = f(math.exp(c))
        if fc == 0.0 or abs(b - a) < 1e-15 * max(1.0, abs(a)):
            break
        if fc > 0.0:
            a, fa = c, fc
            if side == 1:
                fb *= 0.5
            side = 1
        else:
            b, fb = c, fc
            if side == -1:
                fa *= 0.5
            side = -1
    return math.exp(c)


def virtual_cp_of_two_hops(first: CPCurve, second: CPCurve) -> CPCurve:
    """Two constant-product pools in series as one constant-product curve (exact in the reals).

    f₂(f₁(x)) = g₁·x·R_out' / (R_in' + g₁·x) with R_in' = R₁ᵢ·R₂ᵢ / (R₂ᵢ + g₂·R₁ₒ) and
    R_out' = g₂·R₁ₒ·R₂ₒ / (R₂ᵢ + g₂·R₁ₒ).
    """
    denominator = first.r_out * second.g + second.r_in
    r_in = first.r_in * second.r_in / denominator
    r_out = second.g * first.r_out * second.r_out / denominator
    return CPCurve(r_in, r_out, first.g, cap=first.cap)
