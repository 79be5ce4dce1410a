"""How an order executes: quote every venue, route, plan, and decide to settle, refuse or defer.

The decision is made in memory on venues the caller holds; nothing here writes. ``jobs.py``
loads the order, calls ``decide`` and hands the outcome to ``trade_logger``: a ``Settlement``
(settle now), a ``Refusal`` (a business rejection: fail the order) or a ``Deferred`` (an OTC leg:
commit ``submitted`` now and settle after the desk's delay). A transient fault (Jupiter timing
out) raises ``TransientError`` for the job to retry.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from amm import Pool
from errors import (
    InsufficientLiquidityError,
    NoRouteError,
    PriceMovedError,
    SlippageExceededError,
    SolrouteError,
    TransientError,
    VenueUnavailableError,
)
from execution_plan import (
    ExecutionPlan,
    PlannedLeg,
    minimum_source,
    plan_from_route,
    reprice_plan,
    settle_plan,
)
from jupiter_api import JupiterError
from models import DbSession, Order, OrderStatus
from otc_engine import Desk
from routing_engine import AggregatorQuote, Market, RouteResult, find_route, find_route_exact_out
from services import Services
from tokens import format_amount
from trade_logger import Refusal, Settlement, Step
from venue_state import load_desks, load_pools

__all__ = ["Attempt", "Deferred", "Venues", "decide"]


class Attempt:
    """The steps one attempt at an order has taken so far: stored by whichever write ends it."""

    def __init__(self, order_id: str, number: int) -> None:
        self.order_id = order_id
        self.number = number
        self.steps: list[Step] = []

    def step(self, status: OrderStatus, message: str) -> None:
        self.steps.append(Step(status, message))


@dataclass(frozen=True)
class Venues:
    """The pools and desks an order routes on, and the USD prices read off them."""

    pools: dict[str, Pool]
    desks: dict[str, Desk]
    usd_prices: dict[str, Decimal]

    @classmethod
    def now(cls, session: DbSession, svc: Services, settlement_scale: Decimal) -> Venues:
        """The venues as the database has them now (never the web's quote snapshot: in-process jobs
        share the web's services, and routing on a snapshot up to VENUE_CACHE_S old would miss the
        trades settled since)."""
        pools = load_pools(session)
        desks = load_desks(session, settlement_scale)
        prices = svc.quotes.prices(pools)
        return cls(
            {p.pool_id: p for p in pools},
            {d.desk_id: d for d in desks},
            {s: q.price_usd for s, q in prices.items()},
        )

    def after(self, plan: ExecutionPlan, token_out: str, now: float) -> Venues:
        """The venues once ``plan`` has traded on them (what the next order of a batch routes on)."""
        pools, desks = dict(self.pools), dict(self.desks)
        try:
            reprice_plan(plan, token_out, pools, desks, self.usd_prices, now)
        except SolrouteError:
            return self  # settling will refuse it under lock; route the rest as before it
        return Venues(pools, desks, self.usd_prices)


@dataclass(frozen=True)
class Deferred:
    """An order with an OTC leg: it commits ``submitted`` now and settles after the desk's delay."""

    route: dict[str, Any]
    delay_s: float


def _aggregator_at_execution(
    svc: Services, order: Order, is_last_attempt: bool, wait_s: float
) -> tuple[AggregatorQuote | None, str | None]:
    """A fresh Jupiter quote for this order, within Jupiter's rate limit (waiting at most ``wait_s``);
    None with the reason if not.

    A transient fault (timeout, 5xx) retries the order while attempts remain; on the last
    attempt the order routes without Jupiter rather than fail.
    """
    if svc.quotes.jupiter is None:
        return None, "disabled"
    try:
        return svc.quotes.ask_jupiter(
            order.token_in,
            order.token_out,
            order.amount_in,
            order.slippage_bps,
            raise_transient=not is_last_attempt,
            max_wait_s=wait_s,  # Jupiter's client takes the slot of its one rate limit
        )
    except JupiterError as exc:
        raise TransientError(f"Jupiter: {exc}") from exc


def _without(market: Market, venues: set[str]) -> Market:
    return Market(
        tuple(p for p in market.pools if p.venue.lower() not in venues),
        tuple(d for d in market.desks if d.name.lower() not in venues),
        market.usd_prices,
        market.now,
        aggregator=market.aggregator,
        aggregator_unavailable=market.aggregator_unavailable,
        latency=market.latency,
    )


def decide(
    svc: Services,
    order: Order,
    attempt: Attempt,
    venues: Venues,
    *,
    is_last_attempt: bool,
    rate_limit_wait_s: float,
) -> Settlement | Refusal | Deferred:
    """Quote, route and build one order in memory: settle it now, refuse it, or defer it (OTC).

    A venue whose rate limit has no slot within ``rate_limit_wait_s`` is routed around. An
    exact-out order (``exact_side`` "out") routes the least input for its wanted amount; a firm
    quote's order (route ``firm_quote``) executes the quoted legs (``_decide_firm``).
    """
    firm = (order.route or {}).get("firm_quote")
    if firm is not None:
        attempt.step(OrderStatus.QUOTING, f"pricing the firm quote's legs now (attempt {attempt.number})")
        return _decide_firm(svc, order, attempt, venues, firm, is_last_attempt, rate_limit_wait_s)
    attempt.step(OrderStatus.QUOTING, f"quoting every venue (attempt {attempt.number})")
    aggregator = _aggregator_at_execution(svc, order, is_last_attempt, rate_limit_wait_s)
    market = svc.quotes.market_of(
        tuple(venues.pools.values()), tuple(venues.desks.values()), venues.usd_prices, aggregator
    )
    is_exact_out = order.exact_side == "out" and order.amount_out_wanted is not None

    def route_on(candidates: Market) -> RouteResult:
        if is_exact_out:
            assert order.amount_out_wanted is not None
            return find_route_exact_out(
                candidates,
                order.token_in,
                order.token_out,
                order.amount_out_wanted,
                order.strategy,
                order.slippage_bps,
                svc.quotes.router_config,
            ).result
        return find_route(
            candidates,
            order.token_in,
            order.token_out,
            order.amount_in,
            order.strategy,
            order.slippage_bps,
            svc.quotes.router_config,
        )

    try:
        result = route_on(market)
        wanted = {leg.venue.lower() for leg in result.route.legs if leg.kind.value != "aggregator"}
        limited = {v for v in sorted(wanted) if not svc.rate_limiter.acquire(v, rate_limit_wait_s)}
        if limited:  # route around the venues whose rate limit has no slot now
            result = route_on(_without(market, limited))
    except (NoRouteError, InsufficientLiquidityError) as exc:
        return Refusal(order.id, exc.code, f"no route at execution: {exc}", attempt.steps, attempt.number)
    route = result.route
    names = ", ".join(sorted({leg.venue for leg in route.legs}))
    attempt.step(OrderStatus.ROUTING, f"{route.strategy.value}: {len(route.legs)} leg(s) via {names}")
    out, minimum = order.token_out, order.min_amount_out
    desk_delays = {d.desk_id: float(d.settlement_delay_s) for d in market.desks}
    delay = max(
        (desk_delays.get(leg.venue_id, 0.0) for leg in route.legs if leg.kind.value == "otc"), default=0.0
    )
    plan = plan_from_route(result, minimum, market.usd_prices, settlement_delay_s=delay)
    if is_exact_out and result.amount_in > order.amount_in:
        sell = order.token_in
        return Refusal(
            order.id,
            SlippageExceededError.code,
            f"market moved: buying {format_amount(out, minimum)} {out} now takes "
            f"{format_amount(sell, result.amount_in)} {sell}, more than the order's maxAmountIn of "
            f"{format_amount(sell, order.amount_in)} {sell} (the input quoted at submission plus "
            f"slippageBps {order.slippage_bps}); nothing was traded",
            attempt.steps,
            attempt.number,
            route={"plan": plan.to_json()},  # the route it attempted, for the order's page
        )
    if route.amount_out < minimum:
        return Refusal(
            order.id,
            SlippageExceededError.code,
            f"market moved: best route now pays {format_amount(out, route.amount_out)} {out}, "
            f"below the minimum of {format_amount(out, minimum)} {out} "
            f"({minimum_source(out, minimum, order.quoted_amount_out, order.slippage_bps)})"
            f"{_moved_since_quote(order.quoted_amount_out, route.amount_out)}; nothing was traded",
            attempt.steps,
            attempt.number,
            route={"plan": plan.to_json()},  # the route it attempted, for the order's page
        )
    attempt.step(
        OrderStatus.BUILDING,
        f"plan pays {format_amount(out, route.amount_out)} {out}, minimum {format_amount(out, minimum)}",
    )
    stored_route = {"plan": plan.to_json(), "settle_at": time.time() + delay}
    if delay > 0:
        attempt.step(OrderStatus.SUBMITTED, f"submitted; OTC settlement in {delay:g} s")
        return Deferred(stored_route, delay)
    attempt.step(OrderStatus.SUBMITTED, "submitted")
    return Settlement(order.id, plan, attempt.steps, attempt.number, stored_route)


def _moved_since_quote(quoted: int | None, now: int) -> str:
    """ ", N bps below the quote at submission" (nothing when there is no quote or it is not below)."""
    if not quoted or now >= quoted:
        return ""
    return f", {Decimal((quoted - now) * 10_000) / quoted:.2f} bps below the quote at submission"


def _planned_legs(rows: list[Mapping[str, Any]]) -> tuple[PlannedLeg, ...]:
    return tuple(PlannedLeg(**(dict(row) | {"path": tuple(row["path"])})) for row in rows)


def _decide_firm(
    svc: Services,
    order: Order,
    attempt: Attempt,
    venues: Venues,
    firm: Mapping[str, Any],
    is_last_attempt: bool,
    wait_s: float,
) -> Settlement | Refusal | Deferred:
    """A firm quote's order: its quoted legs, if the venues now still pay the quote's minAmountOut.

    A Jupiter leg is re-quoted for its size (Jupiter fills at its price now); the other legs are
    priced exactly on the venues as they are. Short of the minimum: ``price_moved``, with the
    figures; nothing is re-routed (that would not be the quoted route).
    """
    out, minimum = order.token_out, order.min_amount_out
    legs = _planned_legs(list(firm["legs"]))
    fresh_legs = []
    for leg in legs:
        if leg.kind == "aggregator":
            try:
                fresh, why = svc.quotes.ask_jupiter(
                    leg.token_in,
                    leg.token_out,
                    leg.amount_in,
                    order.slippage_bps,
                    raise_transient=not is_last_attempt,
                    max_wait_s=wait_s,
                )
            except JupiterError as exc:
                raise TransientError(f"Jupiter: {exc}") from exc
            if fresh is None:
                return Refusal(
                    order.id,
                    VenueUnavailableError.code,
                    f"the firm quote's Jupiter leg cannot be confirmed now ({why}); nothing was traded",
                    attempt.steps,
                    attempt.number,
                )
            leg = dataclasses.replace(leg, amount_out=fresh.out_amount * leg.amount_in // fresh.in_amount)
        fresh_legs.append(leg)
    names = ", ".join(sorted({leg.venue for leg in fresh_legs}))
    attempt.step(OrderStatus.ROUTING, f"firm quote: its {len(fresh_legs)} quoted leg(s) via {names}")
    plan = ExecutionPlan(
        legs=tuple(fresh_legs),
        amount_out=int(firm["amount_out"]),
        min_amount_out=minimum,
        usd_prices={s: str(p) for s, p in venues.usd_prices.items()},
        extra={"firm_quote": True},
    )
    now = time.time()
    quoted = format_amount(out, int(firm["amount_out"]))
    try:
        pays = settle_plan(plan, out, 0, order.slippage_bps, venues.pools, venues.desks, now).amount_out
    except InsufficientLiquidityError as exc:
        return Refusal(
            order.id,
            PriceMovedError.code,
            f"price moved: the quoted route cannot be filled now ({exc.message}); quoted {quoted} {out}, "
            "nothing was traded",
            attempt.steps,
            attempt.number,
            route={"plan": plan.to_json()},  # the route it attempted, for the order's page
        )
    if pays < minimum:
        return Refusal(
            order.id,
            PriceMovedError.code,
            f"price moved: the quoted route now pays {format_amount(out, pays)} {out}, below the quote's "
            f"minAmountOut of {format_amount(out, minimum)} {out} (quoted {quoted} {out}"
            f"{_moved_since_quote(int(firm['amount_out']), pays)}); nothing was traded",
            attempt.steps,
            attempt.number,
            route={"plan": plan.to_json()},
        )
    plan = dataclasses.replace(plan, amount_out=pays)
    desk_delays = {d.desk_id: float(d.settlement_delay_s) for d in venues.desks.values()}
    delay = max((desk_delays.get(leg.venue_id, 0.0) for leg in plan.legs if leg.kind == "otc"), default=0.0)
    plan = dataclasses.replace(plan, settlement_delay_s=delay)
    attempt.step(
        OrderStatus.BUILDING,
        f"quoted route pays {format_amount(out, pays)} {out} now, minimum {format_amount(out, minimum)}",
    )
    # The quote stays in the route: a settlement that falls short later is price_moved too.
    stored_route = {"plan": plan.to_json(), "settle_at": time.time() + delay, "firm_quote": dict(firm)}
    if delay > 0:
        attempt.step(OrderStatus.SUBMITTED, f"submitted; OTC settlement in {delay:g} s")
        return Deferred(stored_route, delay)
    attempt.step(OrderStatus.SUBMITTED, "submitted")
    return Settlement(order.id, plan, attempt.steps, attempt.number, stored_route)
