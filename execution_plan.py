"""PURE: execution plans, what a routed order will do, and repricing them against venue state.

A job routes an order into an ``ExecutionPlan`` (plain, JSON-able values: it is stored with the
order while an OTC leg waits to settle). At settlement, ``reprice_plan`` executes the plan's legs
hop by hop against the locked pools and desks, so the trader gets what the venues pay now, and
``settle_plan`` enforces the order's minimum. No database, no Flask: ``trade_logger`` does the
writing, and backtests can replay the same code.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal, localcontext
from typing import Any

import otc_engine
from amm import Pool
from errors import InsufficientLiquidityError, SlippageExceededError, ValidationError
from routing_engine import RouteResult
from tokens import format_amount, from_base_units, get_token

__all__ = [
    "ExecutedLeg",
    "ExecutionPlan",
    "PlannedLeg",
    "RepricedPlan",
    "minimum_source",
    "plan_from_route",
    "price_of",
    "reprice_plan",
    "settle_plan",
]


@dataclass(frozen=True)
class PlannedLeg:
    venue_id: str
    venue: str
    kind: str  # amm | otc | aggregator
    token_in: str
    token_out: str
    amount_in: int
    amount_out: int
    hop: int
    path: tuple[str, ...]
    fee_bps: str | None = None


@dataclass(frozen=True)
class ExecutionPlan:
    """A routed order ready to settle: legs, the prices used and what the alternatives gave."""

    legs: tuple[PlannedLeg, ...]
    amount_out: int
    min_amount_out: int
    usd_prices: Mapping[str, str]
    best_single_venue: str | None = None
    best_single_amount_out: int | None = None
    jupiter_amount_out: int | None = None
    price_impact_bps: str | None = None
    optimality_gap_bps: str | None = None
    savings_vs_best_single_bps: str | None = None
    settlement_delay_s: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        # Field by field: dataclasses.asdict deep-copies recursively, and cost a job 5% of its time.
        data = {f.name: getattr(self, f.name) for f in _PLAN_FIELDS}
        data["legs"] = [
            {f.name: getattr(leg, f.name) for f in _LEG_FIELDS} | {"path": list(leg.path)}
            for leg in self.legs
        ]
        data["usd_prices"] = dict(self.usd_prices)
        data["extra"] = copy.deepcopy(dict(self.extra))
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExecutionPlan:
        legs = tuple(PlannedLeg(**(dict(leg) | {"path": tuple(leg["path"])})) for leg in data["legs"])
        return cls(**(dict(data) | {"legs": legs}))

    def decimal_prices(self) -> dict[str, Decimal]:
        """The USD prices the plan was routed with, as Decimals."""
        return {symbol: Decimal(price) for symbol, price in self.usd_prices.items()}


_LEG_FIELDS = fields(PlannedLeg)
_PLAN_FIELDS = fields(ExecutionPlan)


@dataclass(frozen=True)
class ExecutedLeg:
    planned: PlannedLeg
    amount_in: int
    amount_out: int
    fee: int
    fee_bps: Decimal


@dataclass(frozen=True)
class RepricedPlan:
    """A plan executed against venue state: its legs, what it pays, and the venues as it leaves them."""

    legs: tuple[ExecutedLeg, ...]
    amount_out: int
    pools: dict[str, Pool]
    desks: dict[str, otc_engine.Desk]


def plan_from_route(
    result: RouteResult,
    min_amount_out: int,
    usd_prices: Mapping[str, Decimal],
    settlement_delay_s: float = 0.0,
) -> ExecutionPlan:
    """The execution plan of a routed quote."""
    route = result.route
    fee_by_venue = {q.venue_id: q.fee_bps for q in result.quotes}
    jupiter = next((q for q in result.quotes if q.kind.value == "aggregator" and q.available), None)
    return ExecutionPlan(
        legs=tuple(
            PlannedLeg(
                leg.venue_id,
                leg.venue,
                leg.kind.value,
                leg.token_in,
                leg.token_out,
                leg.amount_in,
                leg.amount_out,
                leg.hop,
                tuple(leg.path),
                None if fee_by_venue.get(leg.venue_id) is None else str(fee_by_venue[leg.venue_id]),
            )
            for leg in route.legs
        ),
        amount_out=route.amount_out,
        min_amount_out=min_amount_out,
        usd_prices={s: str(p) for s, p in usd_prices.items()},
        best_single_venue=result.best_single.venue if result.best_single else None,
        best_single_amount_out=result.best_single.amount_out if result.best_single else None,
        jupiter_amount_out=jupiter.amount_out if jupiter else None,
        price_impact_bps=_str(route.price_impact_bps),
        optimality_gap_bps=_str(route.optimality_gap_bps),
        savings_vs_best_single_bps=_str(route.savings_vs_best_single_bps),
        settlement_delay_s=settlement_delay_s,
    )


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def price_of(token_in: str, token_out: str, amount_in: int, amount_out: int) -> Decimal:
    """token_out per token_in in human units (28 significant digits)."""
    if amount_in == 0:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 28
        bought = from_base_units(get_token(token_out), amount_out)
        return bought / from_base_units(get_token(token_in), amount_in)


def _scaled(amounts: Sequence[int], total: int) -> list[int]:
    """Split ``total`` in proportion to ``amounts`` exactly (floors, the remainder to the largest)."""
    planned = sum(amounts)
    if planned == 0:
        return [0 for _ in amounts]
    shares = [total * a // planned for a in amounts]
    shares[max(range(len(amounts)), key=lambda i: amounts[i])] += total - sum(shares)
    return shares


def reprice_plan(
    plan: ExecutionPlan,
    token_out: str,
    pools: dict[str, Any],
    desks: dict[str, otc_engine.Desk],
    prices: Mapping[str, Decimal],
    now: float,
) -> list[ExecutedLeg]:
    """Execute the plan's legs, hop by hop, on ``pools`` and ``desks`` (changed in place)."""
    executed: list[ExecutedLeg] = []
    produced: dict[str, int] = defaultdict(int)  # intermediate tokens made by earlier hops
    for hop in sorted({leg.hop for leg in plan.legs}):
        legs = [leg for leg in plan.legs if leg.hop == hop]
        inputs = [leg.amount_in for leg in legs]
        if hop > 0:
            # A later hop spends exactly what the earlier hop produced, split as planned.
            by_token: dict[str, list[int]] = defaultdict(list)
            for i, leg in enumerate(legs):
                by_token[leg.token_in].append(i)
            for token, idx in by_token.items():
                for i, share in zip(
                    idx, _scaled([legs[i].amount_in for i in idx], produced.pop(token, 0)), strict=True
                ):
                    inputs[i] = share
        for leg, amount_in in zip(legs, inputs, strict=True):
            out, fee, fee_bps = _execute_leg(leg, amount_in, pools, desks, prices, now)
            executed.append(ExecutedLeg(leg, amount_in, out, fee, fee_bps))
            if leg.token_out != token_out:
                produced[leg.token_out] += out
    if any(produced.values()):
        raise ValidationError("the plan leaves intermediate tokens unspent", field="legs")
    return executed


def minimum_source(
    token_out: str,
    min_amount_out: int,
    quoted_amount_out: int | None,
    slippage_bps: int,
    *,
    exact_side: str = "in",
    is_firm_quote: bool = False,
) -> str:
    """Where an order's minimum came from, in words, for the message of an order that falls short.

    Exact out: the wanted amount; a firm quote: its minAmountOut; otherwise the quote at submission
    less slippageBps when the minimum is exactly that, else the trader's own minAmountOut.
    """
    if exact_side == "out":
        return "the exact amountOut the order buys"
    if is_firm_quote:
        return f"the firm quote's minAmountOut (its slippageBps {slippage_bps})"
    if (
        quoted_amount_out is not None
        and min_amount_out == quoted_amount_out * (10_000 - slippage_bps) // 10_000
    ):
        quoted = format_amount(token_out, quoted_amount_out)
        return f"the quote at submission, {quoted} {token_out}, less slippageBps {slippage_bps}"
    return "the order's own minAmountOut"


def settle_plan(
    plan: ExecutionPlan,
    token_out: str,
    min_amount_out: int,
    slippage_bps: int,
    pools: Mapping[str, Pool],
    desks: Mapping[str, otc_engine.Desk],
    now: float,
    *,
    tolerance: str | None = None,
) -> RepricedPlan:
    """Reprice ``plan`` on copies of ``pools`` and ``desks``; the venues are not changed.

    Raises InsufficientLiquidityError when a venue is gone or refuses its leg, and
    SlippageExceededError when the legs now pay less than ``min_amount_out``; its message names
    where the minimum came from (``tolerance``, see ``minimum_source``; default: slippageBps).
    """
    missing = sorted(
        leg.venue_id
        for leg in plan.legs
        if (leg.kind == "amm" and leg.venue_id not in pools)
        or (leg.kind == "otc" and leg.venue_id not in desks)
    )
    if missing:
        raise InsufficientLiquidityError(f"venue {missing[0]} no longer exists", field="legs")
    after_pools, after_desks = dict(pools), dict(desks)
    executed = reprice_plan(plan, token_out, after_pools, after_desks, plan.decimal_prices(), now)
    total_out = sum(e.amount_out for e in executed if e.planned.token_out == token_out)
    if total_out < min_amount_out:
        raise SlippageExceededError(
            f"market moved: the route now pays {format_amount(token_out, total_out)} "
            f"{token_out}, below the minimum of "
            f"{format_amount(token_out, min_amount_out)} {token_out} "
            f"({tolerance or f'{slippage_bps} bps slippage tolerance'}); nothing was traded",
            field="slippageBps",
        )
    return RepricedPlan(tuple(executed), total_out, after_pools, after_desks)


def _execute_leg(
    leg: PlannedLeg,
    amount_in: int,
    pools: dict[str, Any],
    desks: dict[str, otc_engine.Desk],
    prices: Mapping[str, Decimal],
    now: float,
) -> tuple[int, int, Decimal]:
    """Apply one leg to the venue state in place; returns (amount_out, fee, fee_bps)."""
    if amount_in == 0:
        return 0, 0, Decimal(0)
    if leg.kind == "amm":
        pool = pools[leg.venue_id]
        pools[leg.venue_id], out = pool.swap(leg.token_in, amount_in)
        fee = -(-amount_in * pool.fee_bps // 10_000)  # the fee the pool keeps, rounded for the pool
        return out, fee, Decimal(pool.fee_bps)
    if leg.kind == "otc":
        desk = desks[leg.venue_id]
        base_usd, quote_usd = prices.get(desk.base), prices.get(desk.quote)
        if not base_usd or not quote_usd:
            raise InsufficientLiquidityError(f"no mid price for {desk.name}", field="legs")
        with localcontext() as ctx:
            ctx.prec = 40
            mid = base_usd / quote_usd
        q = otc_engine.quote(desk, leg.token_in, leg.token_out, amount_in, mid, now)
        if not q.available:
            raise InsufficientLiquidityError(f"{desk.name} refused the fill: {q.message}", field="legs")
        desks[leg.venue_id] = otc_engine.fill(desk, leg.token_in, amount_in, q.amount_out, now)
        fee = math.ceil(Decimal(amount_in) * q.spread_bps / 10_000)
        return q.amount_out, fee, q.spread_bps
    # Aggregator (Jupiter): a paper fill at the fresh quote's price for this leg's size.
    if leg.amount_in == 0:
        return 0, 0, Decimal(0)
    out = leg.amount_out * amount_in // leg.amount_in
    return out, 0, Decimal(leg.fee_bps) if leg.fee_bps else Decimal(0)
