"""Replay a plan over market frames through the live router and settlement maths.

PURE. At each decision the engine builds a ``routing_engine.Market`` (pools as ``amm.Pool``, desks
as ``otc_engine.Desk`` rebuilt from the default terms and the frame's ``DeskState``, the frame's
reference prices, now = t), routes with ``routing_engine.find_route`` and settles the route with
``execution_plan.plan_from_route`` and ``settle_plan``: the code live orders run, not a copy.

Own impact. A pool or desk the strategy traded is simulated from then on: the next decision sees
it as the trade left it, relaxed toward the frame's recorded state by the arbitrage rule
(``backtesting.arbitrage``, ``relax_fraction`` of the gap per step, compounded over the steps
since the pool was last looked at: φ = 1 − (1 − f)^n). Once its price is back inside the fee band
around the recorded pool's, arbitrage no longer pays and the uninformed flow that keeps the
recorded pool in its band carries it too: the recorded pool replaces it. A traded desk refills at
its own rate (``otc_engine.refilled``) and rejoins the recorded desk once its inventories are back
to the recorded ones. Nothing is simulated between decisions: relaxation is computed lazily when a
pool is next needed, so a step without a decision costs only the equity update.

Strategies: the router's (``OPTIMAL_SPLIT``, ``BEST_PRICE``, ``LOWEST_SLIPPAGE``,
``HIGHEST_LIQUIDITY``, ``FASTEST_EXECUTION``) or ``VENUE:<venue>``: the Market holds only that
venue's pools (``VENUE:raydium``) or desks (``VENUE:otc`` for every desk, or a desk id), routed
with OPTIMAL_SPLIT inside it (the best that venue alone can do, multi-hop included).

Round trips (for win rate, profit factor, average win and loss) close at AVERAGE COST: each
non-stable token (not USDC/USDT) carries a position (quantity, USD cost); buying it adds the USD
value given up at the reference prices (a sold position's proceeds when paid with another
non-stable token, so a cost counts once); selling it closes a round trip with P&L = proceeds at
the reference price of what came back − the average cost of what was sold. Initial holdings enter
at the first frame's prices.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Context, Decimal
from typing import Any

import otc_engine
from amm.pools import Pool
from backtesting.arbitrage import arb_target, swap_toward
from backtesting.metrics import EquityStats, compute
from backtesting.model import BacktestResult, Frame, Plan, PlanKind, PoolState, Progress, SimTrade
from backtesting.synthetic import SECONDS_PER_YEAR
from errors import SolrouteError, ValidationError
from execution_plan import plan_from_route, price_of, settle_plan
from order_book import limit_min_amount_out
from routing_engine import LatencyConfig, Market, RouterConfig, Strategy, find_route, parse_strategy
from routing_engine.routes import DEFAULT_CONFIG
from tokens import get_token

__all__ = ["MAX_POINTS", "STABLE", "compare", "parse_plan_strategy", "run", "validate_plan"]

MAX_POINTS = 2_000  # equity and drawdown points kept (downsampled; metrics use every step)
STABLE = frozenset({"USDC", "USDT"})  # cash: no position, no round trip
_CONTEXT = Context(prec=28)
_COST_QUANTUM = Decimal("0.0001")
_VENUE_PREFIX = "VENUE:"
DEFAULT_LATENCY = LatencyConfig()


@dataclass(frozen=True)
class _Strategy:
    router: Strategy
    venue: str | None  # lower-cased venue filter for VENUE:<venue>


def parse_plan_strategy(value: str) -> tuple[Strategy, str | None]:
    """(router strategy, venue filter or None) of a plan's strategy; ValidationError naming it."""
    if isinstance(value, str) and value.upper().startswith(_VENUE_PREFIX):
        venue = value[len(_VENUE_PREFIX) :].strip().lower()
        if not venue:
            raise ValidationError("strategy VENUE: needs a venue, e.g. VENUE:raydium", field="strategy")
        return Strategy.OPTIMAL_SPLIT, venue
    return parse_strategy(value, field="strategy"), None


def _param(plan: Plan, name: str, kind: type | tuple[type, ...]) -> Any:
    value = plan.params.get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        raise ValidationError(f"params.{name} is missing or not a {kind}", field=f"params.{name}")
    return value


def _positive_int(plan: Plan, name: str) -> int:
    value = _param(plan, name, int)
    if value <= 0:
        raise ValidationError(f"params.{name} must be positive, got {value}", field=f"params.{name}")
    return int(value)


def _token(plan: Plan, name: str) -> str:
    symbol = _param(plan, name, str)
    try:
        return get_token(symbol).symbol
    except SolrouteError as exc:
        raise ValidationError(f"params.{name}: unknown token {symbol!r}", field=f"params.{name}") from exc


def _decimal(value: Any) -> Decimal | None:
    """A plan's ratio as a Decimal (floats through their repr: 0.1 is 0.1); None if it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, (int, str, Decimal)):
        try:
            return Decimal(value)
        except ArithmeticError:
            return None
    return None


def _fraction(plan: Plan, name: str, *, upper: Decimal | None = None) -> Decimal:
    value = _decimal(plan.params.get(name))
    if (
        not isinstance(value, Decimal)
        or not value.is_finite()
        or value < 0
        or (upper is not None and value > upper)
    ):
        raise ValidationError(
            f"params.{name} must be a Decimal in [0, {upper if upper is not None else '∞'}], "
            f"got {plan.params.get(name)!r}",
            field=f"params.{name}",
        )
    return value


def validate_plan(plan: Plan) -> None:
    """Raise ValidationError (naming the field) unless the plan can run."""
    if not isinstance(plan.kind, PlanKind):
        raise ValidationError(f"unknown plan kind {plan.kind!r}", field="kind")
    parse_plan_strategy(plan.strategy)
    if not (math.isfinite(plan.start) and math.isfinite(plan.end)) or plan.end < plan.start:
        raise ValidationError("end must not be before start", field="end")
    if (
        isinstance(plan.slippage_bps, bool)
        or not isinstance(plan.slippage_bps, int)
        or not 0 <= plan.slippage_bps <= 5_000
    ):
        raise ValidationError("slippage_bps must be an integer from 0 to 5000", field="slippage_bps")
    for symbol, amount in plan.initial.items():
        get_token(symbol)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValidationError(f"initial {symbol} must be a non-negative integer", field="initial")
    kind = plan.kind
    if kind is PlanKind.DCA:
        if _token(plan, "token_in") == _token(plan, "token_out"):
            raise ValidationError("token_in and token_out are the same", field="params.token_out")
        _positive_int(plan, "amount_in")
        _positive_int(plan, "every_s")
    elif kind is PlanKind.REBALANCE:
        if _token(plan, "token_a") == _token(plan, "token_b"):
            raise ValidationError("token_a and token_b are the same", field="params.token_b")
        _fraction(plan, "target_weight", upper=Decimal(1))
        _fraction(plan, "band", upper=Decimal(1))
        _positive_int(plan, "check_every_s")
    elif kind is PlanKind.MEAN_REVERSION:
        if _token(plan, "token") == _token(plan, "quote_token"):
            raise ValidationError("token and quote_token are the same", field="params.quote_token")
        _positive_int(plan, "window_s")
        _fraction(plan, "threshold", upper=Decimal(1))
        _positive_int(plan, "amount_in")
    elif kind is PlanKind.LIMIT_LADDER:
        if _token(plan, "token") == _token(plan, "quote_token"):
            raise ValidationError("token and quote_token are the same", field="params.quote_token")
        _positive_int(plan, "rungs")
        _fraction(plan, "step", upper=Decimal(1))
        _positive_int(plan, "amount_in")


# --- the simulated market ----------------------------------------------------------------------


class _Venues:
    """The strategy's view of the market: recorded frames, plus the pools and desks it moved."""

    def __init__(self, venue: str | None, relax_fraction: float, latency: LatencyConfig) -> None:
        self.venue = venue
        self.latency = latency
        self.keep = 1.0 - relax_fraction  # share of a gap left after one step
        self.pools: dict[str, tuple[Pool, int]] = {}  # moved pools, and the step they were last relaxed at
        self.desks: dict[str, otc_engine.Desk] = {}  # moved desks
        self.terms: dict[str, otc_engine.Desk] = {}  # default desk terms by id (built once)

    def _pool_wanted(self, state: PoolState) -> bool:
        return self.venue is None or state.venue.lower() == self.venue

    def _desk_wanted(self, desk: otc_engine.Desk) -> bool:
        venue = self.venue
        return venue is None or venue in ("otc", desk.desk_id.lower(), desk.name.lower())

    def market(self, frame: Frame, step: int) -> tuple[Market, dict[str, Pool], dict[str, otc_engine.Desk]]:
        """The Market for a decision at ``frame`` (moved venues relaxed to ``step``)."""
        for spec in otc_engine.DEFAULT_DESK_SPECS:
            if spec.desk_id not in self.terms:  # built once, at the first frame pricing both its tokens
                try:
                    self.terms[spec.desk_id] = otc_engine.make_desk(spec, frame.prices, frame.t)
                except SolrouteError:
                    continue
        pools: dict[str, Pool] = {}
        for state in frame.pools:
            if not self._pool_wanted(state):
                continue
            moved = self.pools.get(state.pool_id)
            pool = self._relaxed(moved[0], state, step - moved[1], step) if moved else None
            pools[state.pool_id] = pool or Pool(
                state.pool_id, state.venue, state.token_a, state.token_b,
                state.reserve_a, state.reserve_b, state.fee_bps,
            )  # fmt: skip
        desks: dict[str, otc_engine.Desk] = {}
        for desk_state in frame.desks:
            terms = self.terms.get(desk_state.desk_id)
            if terms is None or not self._desk_wanted(terms):
                continue
            moved_desk = self.desks.get(desk_state.desk_id)
            inventory = (desk_state.inventory_base, desk_state.inventory_quote)
            if moved_desk is not None:
                moved_desk = otc_engine.refilled(moved_desk, frame.t)
                own = (moved_desk.inventory_base, moved_desk.inventory_quote)
                if own[0] >= inventory[0] and own[1] >= inventory[1]:
                    del self.desks[desk_state.desk_id]  # refilled: the recorded desk again
                else:
                    inventory = (min(own[0], inventory[0]), min(own[1], inventory[1]))
            desks[desk_state.desk_id] = replace(
                terms, inventory_base=inventory[0], inventory_quote=inventory[1], updated_at=frame.t
            )
        market = Market(
            tuple(pools.values()), tuple(desks.values()), frame.prices, frame.t, latency=self.latency
        )
        return market, pools, desks

    def _relaxed(self, pool: Pool, recorded: PoolState, steps: int, step: int) -> Pool | None:
        """The moved pool after ``steps`` steps of arbitrage toward the recorded one; None once back
        inside the recorded pool's fee band (the recorded pool is used again)."""
        q = pool.reserve_b / pool.reserve_a
        r = recorded.reserve_b / recorded.reserve_a
        g = (10_000 - pool.fee_bps) / 10_000
        phi = 1.0 - self.keep ** max(steps, 0)
        target = arb_target(q, r, g, phi)
        if target is not None:
            reserve_a, reserve_b = swap_toward(pool.reserve_a, pool.reserve_b, pool.fee_bps, target)
            pool = replace(pool, reserve_a=reserve_a, reserve_b=reserve_b)
            q = reserve_b / reserve_a
        if steps > 0 and g * q <= r * (1 + 1e-9) and g * r <= q * (1 + 1e-9):
            del self.pools[pool.pool_id]
            return None
        self.pools[pool.pool_id] = (pool, step)
        return pool

    def moved(self, pools: Mapping[str, Pool], desks: Mapping[str, otc_engine.Desk], step: int) -> None:
        for pool_id, pool in pools.items():
            self.pools[pool_id] = (pool, step)
        self.desks.update(desks)


# --- the replay ----------------------------------------------------------------------------------


class _Replay:
    def __init__(
        self, plan: Plan, relax_fraction: float, config: RouterConfig, latency: LatencyConfig
    ) -> None:
        self.plan = plan
        self.config = config
        self.router, venue = parse_plan_strategy(plan.strategy)
        self.venues = _Venues(venue, relax_fraction, latency)
        self.balances: dict[str, int] = {get_token(s).symbol: int(a) for s, a in plan.initial.items()}
        self.units = {s: get_token(s).unit for s in self.balances}
        self.trades: list[SimTrade] = []
        self.trade_costs: list[tuple[float, float]] = []
        self.round_trips: list[float] = []
        self.positions: dict[str, tuple[int, float]] = {}  # token -> (quantity, USD cost)
        self.skipped = 0
        self.step = 0

    def value_usd(self, prices: Mapping[str, Decimal]) -> float:
        return sum(
            amount * float(prices.get(symbol, 0)) / self.units[symbol]
            for symbol, amount in self.balances.items()
            if amount
        )

    def open_positions(self, frame: Frame) -> None:
        for symbol, amount in self.balances.items():
            if amount and symbol not in STABLE:
                self.positions[symbol] = (
                    amount,
                    amount * float(frame.prices.get(symbol, 0)) / self.units[symbol],
                )

    def _usd(self, frame: Frame, symbol: str, amount: int) -> float:
        return amount * float(frame.prices.get(symbol, 0)) / get_token(symbol).unit

    def trade(
        self, frame: Frame, token_in: str, token_out: str, amount_in: int, min_out: int = 0
    ) -> SimTrade | None:
        """Route and settle one trade; None (counted as skipped) when it cannot trade."""
        if (
            amount_in <= 0
            or self.balances.get(token_in, 0) < amount_in
            or not frame.prices.get(token_in)
            or not frame.prices.get(token_out)  # no reference to measure the cost against
        ):
            self.skipped += 1
            return None
        plan = self.plan
        try:
            market, pools, desks = self.venues.market(frame, self.step)
            result = find_route(
                market, token_in, token_out, amount_in, self.router, plan.slippage_bps, self.config
            )
            minimum = max(result.route.min_amount_out, min_out)
            if result.route.amount_out < minimum:
                self.skipped += 1
                return None
            execution = plan_from_route(result, minimum, frame.prices)
            settled = settle_plan(execution, token_out, minimum, plan.slippage_bps, pools, desks, frame.t)
        except SolrouteError:
            self.skipped += 1
            return None
        touched = {leg.planned.venue_id for leg in settled.legs}
        self.venues.moved(
            {i: p for i, p in settled.pools.items() if i in touched},
            {i: d for i, d in settled.desks.items() if i in touched},
            self.step,
        )
        amount_out = settled.amount_out
        self.balances[token_in] -= amount_in
        self.balances[token_out] = self.balances.get(token_out, 0) + amount_out
        self.units.setdefault(token_out, get_token(token_out).unit)
        prices = frame.prices
        reference = _CONTEXT.divide(prices[token_in], prices[token_out])
        execution_price = price_of(token_in, token_out, amount_in, amount_out)
        cost_bps = _CONTEXT.multiply(
            _CONTEXT.divide(_CONTEXT.subtract(reference, execution_price), reference), Decimal(10_000)
        ).quantize(_COST_QUANTUM)
        notional = self._usd(frame, token_in, amount_in)
        self.trade_costs.append((notional, float(cost_bps)))
        self._round_trip(frame, token_in, token_out, amount_in, amount_out)
        trade = SimTrade(
            seq=len(self.trades) + 1,
            t=frame.t,
            token_in=token_in,
            token_out=token_out,
            amount_in=amount_in,
            amount_out=amount_out,
            execution_price=execution_price,
            reference_price=reference,
            cost_bps=cost_bps,
            legs=tuple(
                {
                    "venue": leg.planned.venue,
                    "venueId": leg.planned.venue_id,
                    "tokenIn": leg.planned.token_in,
                    "tokenOut": leg.planned.token_out,
                    "amountIn": leg.amount_in,
                    "amountOut": leg.amount_out,
                    "hop": leg.planned.hop,
                }
                for leg in settled.legs
            ),
            balances=dict(self.balances),
            value_usd=self.value_usd(prices),
        )
        self.trades.append(trade)
        return trade

    def _round_trip(
        self, frame: Frame, token_in: str, token_out: str, amount_in: int, amount_out: int
    ) -> None:
        proceeds = self._usd(frame, token_out, amount_out)
        if token_in not in STABLE and token_in in self.positions:
            quantity, cost = self.positions[token_in]
            sold = min(amount_in, quantity)
            if sold > 0:
                basis = cost * sold / quantity
                self.round_trips.append(proceeds * sold / amount_in - basis)
                left = quantity - sold
                if left:
                    self.positions[token_in] = (left, cost - basis)
                else:
                    del self.positions[token_in]
        if token_out not in STABLE:
            paid = proceeds if token_in not in STABLE else self._usd(frame, token_in, amount_in)
            quantity, cost = self.positions.get(token_out, (0, 0.0))
            self.positions[token_out] = (quantity + amount_out, cost + paid)


def _price(frame: Frame, token: str, quote: str) -> float:
    """token's reference price in quote (human units), as a float for signals."""
    quote_usd = float(frame.prices.get(quote, 0))
    return float(frame.prices.get(token, 0)) / quote_usd if quote_usd > 0 else 0.0


class _Decider:
    """A plan kind's decision rule: ``step`` runs on every frame in range (O(1) unless it trades)."""

    def __init__(self, plan: Plan, replay: _Replay) -> None:
        self.plan, self.replay, self.p = plan, replay, plan.params

    def step(self, frame: Frame) -> None:
        raise NotImplementedError


class _Dca(_Decider):
    def __init__(self, plan: Plan, replay: _Replay) -> None:
        super().__init__(plan, replay)
        self.next_t = plan.start
        self.token_in, self.token_out = (
            get_token(self.p["token_in"]).symbol,
            get_token(self.p["token_out"]).symbol,
        )

    def step(self, frame: Frame) -> None:
        if frame.t < self.next_t:
            return
        every = self.p["every_s"]
        self.next_t += every * (math.floor((frame.t - self.next_t) / every) + 1)
        self.replay.trade(frame, self.token_in, self.token_out, self.p["amount_in"])


class _Rebalance(_Decider):
    def __init__(self, plan: Plan, replay: _Replay) -> None:
        super().__init__(plan, replay)
        self.next_t = plan.start
        self.a, self.b = get_token(self.p["token_a"]).symbol, get_token(self.p["token_b"]).symbol
        self.target = float(_fraction(plan, "target_weight"))
        self.band = float(_fraction(plan, "band"))

    def step(self, frame: Frame) -> None:
        if frame.t < self.next_t:
            return
        every = self.p["check_every_s"]
        self.next_t += every * (math.floor((frame.t - self.next_t) / every) + 1)
        balances, replay = self.replay.balances, self.replay
        value_a = replay._usd(frame, self.a, balances.get(self.a, 0))
        value_b = replay._usd(frame, self.b, balances.get(self.b, 0))
        total = value_a + value_b
        if total <= 0:
            return
        weight = value_a / total
        if abs(weight - self.target) <= self.band:
            return
        excess_usd = abs(weight - self.target) * total
        sell, buy = (self.a, self.b) if weight > self.target else (self.b, self.a)
        price = float(frame.prices.get(sell, 0))
        if price <= 0:
            replay.skipped += 1
            return
        amount = min(balances.get(sell, 0), int(excess_usd / price * get_token(sell).unit))
        replay.trade(frame, sell, buy, amount)


class _MeanReversion(_Decider):
    """Buy ``amount_in`` of quote_token's worth of token when the price is ``threshold`` below its
    moving average over ``window_s``; sell that lot when it is ``threshold`` above. One lot at a time;
    no signal until the window is full."""

    def __init__(self, plan: Plan, replay: _Replay) -> None:
        super().__init__(plan, replay)
        self.token, self.quote = get_token(self.p["token"]).symbol, get_token(self.p["quote_token"]).symbol
        self.window = float(self.p["window_s"])
        self.threshold = float(_fraction(plan, "threshold"))
        self.points: deque[tuple[float, float]] = deque()
        self.total = 0.0
        self.first_t: float | None = None
        self.lot = 0  # token held from the open buy

    def step(self, frame: Frame) -> None:
        price = _price(frame, self.token, self.quote)
        points = self.points
        points.append((frame.t, price))
        self.total += price
        while points[0][0] <= frame.t - self.window:
            self.total -= points.popleft()[1]
        if self.first_t is None:
            self.first_t = frame.t
        if frame.t - self.first_t < self.window or price <= 0:
            return
        average = self.total / len(points)
        if not self.lot and price < average * (1 - self.threshold):
            trade = self.replay.trade(frame, self.quote, self.token, self.p["amount_in"])
            if trade is not None:
                self.lot = trade.amount_out
        elif self.lot and price > average * (1 + self.threshold):
            lot = min(self.lot, self.replay.balances.get(self.token, 0))
            if self.replay.trade(frame, self.token, self.quote, lot) is not None:
                self.lot = 0


class _LimitLadder(_Decider):
    """Resting limits set at the first frame's price P₀ (token in quote_token): ``rungs`` buys at
    P₀·(1 − i·step), each spending ``amount_in`` of quote_token, and ``rungs`` sells at P₀·(1 + i·step),
    each selling the token ``amount_in`` bought at P₀, i = 1..rungs. A rung fills once, when the
    reference price has reached it and the route pays at least its limit (``limit_min_amount_out``);
    otherwise it keeps resting."""

    def __init__(self, plan: Plan, replay: _Replay) -> None:
        super().__init__(plan, replay)
        self.token, self.quote = get_token(self.p["token"]).symbol, get_token(self.p["quote_token"]).symbol
        self.buys: list[tuple[float, Decimal]] = []  # (trigger price, limit in token per quote)
        self.sells: list[tuple[float, Decimal, int]] = []  # (trigger, limit in quote per token, amount)
        self.placed = False

    def _place(self, frame: Frame) -> None:
        self.placed = True
        p0 = _CONTEXT.divide(frame.prices[self.token], frame.prices[self.quote])
        step = _fraction(self.plan, "step")
        amount_in = self.p["amount_in"]
        lot = int(
            _CONTEXT.divide(
                _CONTEXT.multiply(
                    Decimal(amount_in) / get_token(self.quote).unit, get_token(self.token).unit
                ),
                p0,
            )
        )
        for i in range(1, self.p["rungs"] + 1):
            below = _CONTEXT.multiply(p0, 1 - i * step)
            if below > 0:
                self.buys.append((float(below), _CONTEXT.divide(Decimal(1), below)))
            above = _CONTEXT.multiply(p0, 1 + i * step)
            if lot > 0:
                self.sells.append((float(above), above, lot))

    def step(self, frame: Frame) -> None:
        if not self.placed:
            self._place(frame)
        price = _price(frame, self.token, self.quote)
        if price <= 0:
            return
        for rung in [r for r in self.buys if price <= r[0]]:
            amount_in = self.p["amount_in"]
            minimum = limit_min_amount_out(self.quote, self.token, amount_in, rung[1])
            if self.replay.trade(frame, self.quote, self.token, amount_in, minimum) is not None:
                self.buys.remove(rung)
        for sell in [r for r in self.sells if price >= r[0]]:
            minimum = limit_min_amount_out(self.token, self.quote, sell[2], sell[1])
            if self.replay.trade(frame, self.token, self.quote, sell[2], minimum) is not None:
                self.sells.remove(sell)


_DECIDERS: dict[PlanKind, type[_Decider]] = {
    PlanKind.DCA: _Dca,
    PlanKind.REBALANCE: _Rebalance,
    PlanKind.MEAN_REVERSION: _MeanReversion,
    PlanKind.LIMIT_LADDER: _LimitLadder,
}


def run(
    plan: Plan,
    frames: Iterable[Frame],
    *,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_every: int = 1000,
    relax_fraction: float = 0.5,
    router_config: RouterConfig = DEFAULT_CONFIG,
    latency: LatencyConfig = DEFAULT_LATENCY,
) -> BacktestResult:
    """Replay ``plan`` over the frames with t in [plan.start, plan.end] (frames in time order).

    ``progress`` is called every ``progress_every`` steps and at the end; ``should_stop`` is asked
    as often, and a True stops the run (the result is marked ``cancelled``). ``relax_fraction``:
    the share of a moved pool's gap to the recorded one that arbitrage closes per step.
    ``router_config`` and ``latency``: the live app's (``Quotes.router_config`` and ``.latency``)
    to route exactly as it does; the router's defaults otherwise.
    """
    validate_plan(plan)
    if not 0.0 <= relax_fraction <= 1.0:
        raise ValidationError(
            f"relax_fraction must be in [0, 1], got {relax_fraction}", field="relax_fraction"
        )
    progress_every = max(1, int(progress_every))
    replay = _Replay(plan, relax_fraction, router_config, latency)
    decider = _DECIDERS[plan.kind](plan, replay)
    total = len(frames) if isinstance(frames, Sequence) else 0
    stats = EquityStats()
    equity: list[tuple[float, float]] = []
    drawdown: list[tuple[float, float]] = []
    stride = 1
    deepest: tuple[float, float, float] | None = None  # (t, value, drawdown) of the deepest point
    last_point: tuple[float, float, float] | None = None
    first_t = second_t = None
    cancelled = False
    steps = 0
    for frame in frames:
        t = frame.t
        if t < plan.start:
            continue
        if t > plan.end:
            break
        if first_t is None:
            first_t = t
            replay.open_positions(frame)
        elif second_t is None:
            second_t = t
            if not total and t > first_t:
                total = int((plan.end - first_t) // (t - first_t)) + 1
        replay.step = steps
        decider.step(frame)
        value = replay.value_usd(frame.prices)
        dd = stats.add(value)
        if deepest is None or dd < deepest[2]:
            deepest = (t, value, dd)
        last_point = (t, value, dd)
        if steps % stride == 0:
            equity.append((t, value))
            drawdown.append((t, dd))
            if len(equity) > MAX_POINTS:
                equity, drawdown, stride = equity[::2], drawdown[::2], stride * 2
        steps += 1
        if steps % progress_every == 0:
            if progress is not None:
                progress(Progress(steps, max(total, steps), len(replay.trades)))
            if should_stop is not None and should_stop():
                cancelled = True
                break
    for point in (deepest, last_point):
        if point is not None and all(t != point[0] for t, _ in equity):
            at = next((i for i, (t, _) in enumerate(equity) if t > point[0]), len(equity))
            equity.insert(at, (point[0], point[1]))
            drawdown.insert(at, (point[0], point[2]))
    if progress is not None:
        progress(Progress(steps, steps if not cancelled else max(total, steps), len(replay.trades)))
    step_s = (second_t - first_t) if first_t is not None and second_t is not None else 0.0
    metrics = compute(
        stats,
        periods_per_year=SECONDS_PER_YEAR / step_s if step_s > 0 else math.nan,
        round_trips=replay.round_trips,
        trade_costs=replay.trade_costs,
        skipped=replay.skipped,
    )
    return BacktestResult(
        trades=tuple(replay.trades),
        equity=tuple(equity),
        drawdown=tuple(drawdown),
        metrics=metrics,
        steps=steps,
        cancelled=cancelled,
        skipped=replay.skipped,
    )


def compare(
    plan: Plan,
    frames_factory: Callable[[], Iterable[Frame]],
    strategies: Iterable[str],
    **options: Any,
) -> dict[str, BacktestResult]:
    """The same plan over the same frames through each strategy, by strategy name (``options``:
    ``run``'s keyword arguments)."""
    return {
        strategy: run(replace(plan, strategy=strategy), frames_factory(), **options)
        for strategy in strategies
    }
