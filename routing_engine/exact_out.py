"""Exact-out routing: the least input that buys a wanted amount of ``token_out``.

``find_route_exact_out(market, token_in, token_out, amount_out, strategy, slippage_bps)`` is the
dual of ``find_route``: instead of the most output for a given input, the least input whose route
(by the same strategy, so OPTIMAL_SPLIT's output is the optimal split's) pays at least
``amount_out`` base units. Pure, like the rest of the router.

Method: a monotone search on the input over ``find_route`` itself, so the answer is exactly what
execution will route (integer legs, dust rule, desk minimums, BEST_PRICE fallback included). Let
F(a) be the route's integer output for input a; F is non-decreasing and, for OPTIMAL_SPLIT,
concave up to rounding (its continuous version has F'(a) = λ(a), the split's common marginal
price, which falls as a grows). We want a* = min{a : F(a) ≥ T}.

1. Start from the reference mid (or a one-token probe): a₀ = T / price, below a* since no fill
   beats the mid by more than the venues' spread.
2. Bracket: from a point below, step to a·T/F(a) (the average price only falls with size, so this
   stays at or below a*, a fixed point approaching a* from below), inflated by a growing margin so
   the bracket closes in a few steps; from a point above, step down the same way.
3. Narrow [lo, hi] (F(lo) < T ≤ F(hi)) by regula falsi with the Illinois modification, on
   integers; a step that fails to halve the bracket is followed by a bisection. Near a* F is
   locally linear, so the secant lands within a few base units in a handful of evaluations.

Every evaluated input is an integer and the answer is always an evaluated ``hi`` with F(hi) ≥ T:
the returned input never buys less than ``amount_out`` (rounding is the venues' own: against the
trader). When the search runs out of evaluations it returns the current ``hi``: still sufficient,
at most the bracket's width above the least.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from decimal import Decimal

from amm.constant_product import BPS
from errors import InsufficientLiquidityError, NoRouteError, ValidationError
from routing_engine.paths import Market
from routing_engine.router import find_route
from routing_engine.routes import DEFAULT_CONFIG, RouterConfig, RouteResult
from routing_engine.strategies import Strategy, parse_strategy
from tokens import format_amount, get_token

__all__ = ["MAX_AMOUNT_IN", "ExactOutRoute", "find_route_exact_out", "max_amount_in_for"]

MAX_AMOUNT_IN = 2**63 - 1  # amounts are BIGINT columns
_MAX_EVALUATIONS = 96


@dataclass(frozen=True, slots=True)
class ExactOutRoute:
    """The least-input route for ``amount_out_wanted``, and the hold that covers slippage on it.

    ``result`` is ``find_route``'s answer at ``amount_in`` with the route's ``min_amount_out`` set
    to the wanted amount (an exact-out order's slippage is on its input, never its output).
    """

    amount_out_wanted: int
    amount_in: int
    max_amount_in: int
    result: RouteResult
    evaluations: int


def max_amount_in_for(amount_in: int, slippage_bps: int) -> int:
    """⌈amount_in · (10,000 + slippageBps) / 10,000⌉: the most input an exact-out order pays (rounded up)."""
    return -(-amount_in * (BPS + slippage_bps) // BPS)


def find_route_exact_out(
    market: Market,
    token_in: str,
    token_out: str,
    amount_out: int,
    strategy: Strategy | str = Strategy.OPTIMAL_SPLIT,
    slippage_bps: int = 50,
    config: RouterConfig = DEFAULT_CONFIG,
    *,
    max_amount_in: int = MAX_AMOUNT_IN,
) -> ExactOutRoute:
    """The least input (base units of ``token_in``) whose ``strategy`` route pays ≥ ``amount_out``.

    Raises InsufficientLiquidityError (field ``amountOut``) when no input up to ``max_amount_in``
    buys that much, and NoRouteError when nothing trades the pair at all.
    """
    strategy = parse_strategy(strategy)
    sell, buy = get_token(token_in), get_token(token_out)
    if isinstance(amount_out, bool) or not isinstance(amount_out, int) or amount_out <= 0:
        raise ValidationError(
            f"amountOut must be a positive number of base units, got {amount_out!r}", field="amountOut"
        )
    if isinstance(slippage_bps, bool) or not isinstance(slippage_bps, int) or not 0 <= slippage_bps <= 5_000:
        raise ValidationError(
            f"slippageBps must be an integer from 0 to 5000, got {slippage_bps!r}", field="slippageBps"
        )
    search = _Search(market, token_in, token_out, amount_out, strategy, slippage_bps, config, max_amount_in)
    amount_in = search.run(_first_guess(market, sell.symbol, buy.symbol, amount_out, search))
    result = search.results[amount_in]
    route = dataclasses.replace(result.route, min_amount_out=amount_out)
    return ExactOutRoute(
        amount_out_wanted=amount_out,
        amount_in=amount_in,
        max_amount_in=max_amount_in_for(amount_in, slippage_bps),
        result=dataclasses.replace(result, route=route),
        evaluations=search.evaluations,
    )


class _Search:
    """F(a) = the route's output for input a, memoised; the bracket search over it."""

    def __init__(
        self,
        market: Market,
        token_in: str,
        token_out: str,
        target: int,
        strategy: Strategy,
        slippage_bps: int,
        config: RouterConfig,
        max_amount_in: int,
    ) -> None:
        self.market, self.token_in, self.token_out = market, token_in, token_out
        self.target, self.strategy, self.slippage_bps, self.config = target, strategy, slippage_bps, config
        self.max_amount_in = max_amount_in
        self.results: dict[int, RouteResult] = {}
        self.outputs: dict[int, int] = {}
        self.evaluations = 0
        self.no_route: NoRouteError | None = None

    def out(self, amount_in: int) -> int:
        """The route's output for ``amount_in`` (0 when nothing can fill it)."""
        if amount_in in self.outputs:
            return self.outputs[amount_in]
        self.evaluations += 1
        try:
            result = find_route(
                self.market,
                self.token_in,
                self.token_out,
                amount_in,
                self.strategy,
                self.slippage_bps,
                self.config,
            )
        except (NoRouteError, InsufficientLiquidityError) as exc:
            if isinstance(exc, NoRouteError):
                self.no_route = exc
            self.outputs[amount_in] = 0
            return 0
        self.results[amount_in] = result
        self.outputs[amount_in] = result.route.amount_out
        return result.route.amount_out

    def run(self, guess: int) -> int:
        lo, hi = self._bracket(guess)
        return self._narrow(lo, hi)

    def _unreachable(self) -> InsufficientLiquidityError | NoRouteError:
        best_in = max(self.outputs, key=lambda a: (self.outputs[a], -a), default=None)
        best = (
            ""
            if best_in is None or not self.outputs[best_in]
            else (
                f"; the most found is {format_amount(self.token_out, self.outputs[best_in])} "
                f"{self.token_out} "
                f"for {format_amount(self.token_in, best_in)} {self.token_in}"
            )
        )
        if best_in is not None and not self.outputs[best_in] and self.no_route is not None:
            return NoRouteError(self.no_route.message, field="amountOut")
        return InsufficientLiquidityError(
            f"no amount of {self.token_in} buys {format_amount(self.token_out, self.target)} "
            f"{self.token_out} on the venues now{best}",
            field="amountOut",
        )

    def _bracket(self, guess: int) -> tuple[int, int]:
        """(lo, hi) with F(lo) < T ≤ F(hi) (lo = 0 when even the smallest input is enough)."""
        target = self.target
        a = min(max(1, guess), self.max_amount_in)
        margin = 1e-4  # grows ×4 per step that does not close the bracket
        out = self.out(a)
        if out == 0:  # too small to buy anything, or past every venue's limit: look below first
            below = a // 16
            while below >= 1 and self.out(below) == 0 and self.evaluations < _MAX_EVALUATIONS // 4:
                below //= 16
            if below >= 1 and self.outputs.get(below, 0) > 0:
                a, out = below, self.outputs[below]
        if out >= target:  # step down until below
            hi = a
            while True:
                if self.evaluations >= _MAX_EVALUATIONS:
                    return 0, hi
                a = min(hi - 1, math.floor(hi * (target / self.outputs[hi]) * (1 - margin)))
                if a <= 0:
                    a = hi // 2
                if a <= 0:
                    return 0, hi
                if self.out(a) >= target:
                    hi = a
                    margin *= 4
                    continue
                return a, hi
        lo = a
        while True:
            if lo >= self.max_amount_in or self.evaluations >= _MAX_EVALUATIONS:
                raise self._unreachable()
            out_lo = self.outputs[lo]
            # Below any fill (out 0), grow ×16; else to where the average price says T is, and a margin.
            a = lo * 16 if out_lo <= 0 else max(lo + 1, math.ceil(lo * (target / out_lo) * (1 + margin)))
            a = min(a, self.max_amount_in)
            out = self.out(a)
            if out >= target:
                return lo, a
            if out == 0 and out_lo > 0:
                return self._below_capacity(lo, a)  # past every venue's limit (desks, Jupiter's size)
            if out <= out_lo and out_lo > 0 and a > 2 * lo:
                raise self._unreachable()  # growing the input no longer buys more: capacity reached
            lo = a
            margin *= 4

    def _below_capacity(self, lo: int, too_big: int) -> tuple[int, int]:
        """A bracket between ``lo`` (buys less than T) and an input no venue can take: bisect for an
        input that buys T below the venues' limits, or find there is none."""
        target = self.target
        while too_big - lo > 1 and self.evaluations < _MAX_EVALUATIONS:
            mid = (lo + too_big) // 2
            out = self.out(mid)
            if out >= target:
                return lo, mid
            if out == 0:
                too_big = mid
            else:
                lo = mid
        raise self._unreachable()

    def _narrow(self, lo: int, hi: int) -> int:
        """The least evaluated ``hi`` with F(hi) ≥ T once hi − lo ≤ 1 (or the evaluations run out)."""
        target = self.target
        f_lo = float((self.outputs.get(lo, 0) if lo > 0 else 0) - target)
        f_hi = float(self.outputs[hi] - target)
        side = 0  # Illinois: which end the last step kept (−1: lo moved, 1: hi moved)
        stalls = 0  # steps in a row that did not halve the bracket
        while hi - lo > 1 and self.evaluations < _MAX_EVALUATIONS:
            width = hi - lo
            if stalls >= 2 or f_hi == f_lo:
                c, stalls = (lo + hi) // 2, 0
            else:
                c = lo + round(width * (-f_lo / (f_hi - f_lo)))
            c = min(max(c, lo + 1), hi - 1)
            f_c = float(self.out(c) - target)
            if f_c >= 0:
                hi, f_hi = c, f_c
                if side == 1:
                    f_lo /= 2
                side = 1
            else:
                lo, f_lo = c, f_c
                if side == -1:
                    f_hi /= 2
                side = -1
            stalls = stalls + 1 if 2 * (hi - lo) > width else 0
        return hi


def _first_guess(market: Market, token_in: str, token_out: str, amount_out: int, search: _Search) -> int:
    """Input worth ``amount_out`` at the reference mid; without one, at a one-token probe's price."""
    mid = market.mid_price(token_in, token_out)
    scale = Decimal(10) ** (get_token(token_out).decimals - get_token(token_in).decimals)
    if mid is not None and mid > 0:
        return max(1, math.floor(Decimal(amount_out) / (mid * scale)))
    probe = get_token(token_in).unit
    out = search.out(probe)
    if out <= 0:
        return probe
    return max(1, probe * amount_out // out)
