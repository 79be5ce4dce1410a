"""Domain and storage values as the API's JSON: camelCase, amounts as exact decimal strings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from models import Fill, Order, OrderEvent, Trade
from quoting import Quote
from routing_engine import Leg, Route, VenueQuote
from tokens import get_token

__all__ = [
    "amount_str",
    "decimal_str",
    "fill_json",
    "iso",
    "order_detail",
    "order_legs",
    "order_summary",
    "quote_json",
    "route_json",
]


def amount_str(symbol: str, units: int | None) -> str | None:
    """Base units as an exact decimal string in token units ("1234.5", never an exponent)."""
    if units is None:
        return None
    value = Decimal(units).scaleb(-get_token(symbol).decimals)
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def decimal_str(value: Decimal | str | None, places: int | None = None) -> str | None:
    """A Decimal as plain text, optionally rounded to ``places`` (display only, not money)."""
    if value is None:
        return None
    d = Decimal(value)
    if places is not None:
        d = d.quantize(Decimal(1).scaleb(-places))
    return f"{d:f}"


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def _venue_quote(q: VenueQuote, token_out: str) -> dict[str, Any]:
    return {
        "venue": q.venue,
        "venueId": q.venue_id,
        "kind": q.kind.value,
        "path": list(q.path),
        "amountOut": amount_str(token_out, q.amount_out) if q.available else None,
        "priceImpactBps": decimal_str(q.price_impact_bps, 4),
        "feeBps": decimal_str(q.fee_bps, 4),
        "available": q.available,
        "reason": q.reason,
        "isEstimate": q.is_estimate,
        "latencyMs": q.latency_ms,
    }


def _leg(leg: Leg) -> dict[str, Any]:
    return {
        "venue": leg.venue,
        "venueId": leg.venue_id,
        "kind": leg.kind.value,
        "hop": leg.hop,
        "path": list(leg.path),
        "tokenIn": leg.token_in,
        "tokenOut": leg.token_out,
        "amountIn": amount_str(leg.token_in, leg.amount_in),
        "amountOut": amount_str(leg.token_out, leg.amount_out),
        "isEstimate": leg.is_estimate,
        "paper": leg.kind.value == "aggregator",
    }


def route_json(route: Route, token_in: str, token_out: str) -> dict[str, Any]:
    first_hop_total = sum(leg.amount_in for leg in route.legs if leg.hop == 0) or 1
    legs = []
    for leg in route.legs:
        data = _leg(leg)
        if leg.hop == 0:
            data["share"] = decimal_str(Decimal(leg.amount_in) / first_hop_total, 6)
        legs.append(data)
    return {
        "strategy": route.strategy.value,
        "legs": legs,
        "amountIn": amount_str(token_in, route.amount_in),
        "amountOut": amount_str(token_out, route.amount_out),
        "minAmountOut": amount_str(token_out, route.min_amount_out),
        "priceImpactBps": decimal_str(route.price_impact_bps, 4),
        "savingsVsBestSingleBps": decimal_str(route.savings_vs_best_single_bps, 4),
        "optimalityGapBps": decimal_str(route.optimality_gap_bps, 6),
        "upperBoundOut": amount_str(token_out, route.upper_bound_out),
        "expectedLatencyMs": route.expected_latency_ms,
    }


def quote_json(quote: Quote, quoted_at: datetime) -> dict[str, Any]:
    """The body of ``GET /api/quote``."""
    r = quote.result
    status = quote.jupiter_status
    return {
        "tokenIn": r.token_in,
        "tokenOut": r.token_out,
        "amountIn": amount_str(r.token_in, r.amount_in),
        "slippageBps": r.slippage_bps,
        "referencePrice": decimal_str(r.reference_price),
        "quotes": [_venue_quote(q, r.token_out) for q in r.quotes],
        "bestSingle": None if r.best_single is None else _venue_quote(r.best_single, r.token_out),
        "route": route_json(r.route, r.token_in, r.token_out),
        "prices": {
            s: {"priceUsd": decimal_str(p.price_usd), "source": p.source}
            for s, p in quote.prices.items()
            if s in (r.token_in, r.token_out)
        },
        "jupiter": None
        if status is None
        else {
            "state": status.state.value,
            "available": status.is_available,
            "lastError": status.last_error,
        },
        "paper": True,
        "quotedAt": iso(quoted_at),
    }


PHASES = ("quoting", "routing", "building", "submitted", "confirmed", "failed")


def order_summary(order: Order) -> dict[str, Any]:
    """An order's own fields (no legs or events)."""
    return {
        "orderId": order.id,
        "status": order.status,
        "tokenIn": order.token_in,
        "tokenOut": order.token_out,
        "amountIn": amount_str(order.token_in, order.amount_in),
        "amountOut": amount_str(order.token_out, order.amount_out),
        "quotedAmountOut": amount_str(order.token_out, order.quoted_amount_out),
        "minAmountOut": amount_str(order.token_out, order.min_amount_out),
        "orderType": order.order_type,
        "routingStrategy": order.strategy,
        "slippageBps": order.slippage_bps,
        "attempts": order.attempts,
        "error": None
        if order.error_code is None
        else {"code": order.error_code, "message": order.error_message},
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "phases": {p: iso(getattr(order, f"{p}_at")) for p in PHASES},
        "paper": True,
    }


def fill_json(fill: Fill) -> dict[str, Any]:
    return {
        "id": fill.id,
        "orderId": fill.order_id,
        "legIndex": fill.leg_index,
        "venue": fill.venue,
        "venueId": fill.venue_id,
        "kind": fill.kind,
        "hop": fill.hop,
        "path": fill.path.split(">"),
        "tokenIn": fill.token_in,
        "tokenOut": fill.token_out,
        "amountIn": amount_str(fill.token_in, fill.amount_in),
        "amountOut": amount_str(fill.token_out, fill.amount_out),
        "quotedAmountOut": amount_str(fill.token_out, fill.quoted_amount_out),
        "price": decimal_str(fill.price),
        "fee": amount_str(fill.token_in, fill.fee),
        "feeBps": decimal_str(fill.fee_bps, 4),
        "paper": fill.is_paper,
        "executedAt": iso(fill.created_at),
    }


def _planned_leg(leg: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "venue": leg["venue"],
        "venueId": leg["venue_id"],
        "kind": leg["kind"],
        "hop": leg["hop"],
        "path": list(leg["path"]),
        "tokenIn": leg["token_in"],
        "tokenOut": leg["token_out"],
        "amountIn": amount_str(leg["token_in"], leg["amount_in"]),
        "amountOut": amount_str(leg["token_out"], leg["amount_out"]),
        "planned": True,
        "paper": True,
    }


def order_legs(order: Order) -> list[dict[str, Any]]:
    """Executed fills once confirmed, else the planned legs once routed, else nothing."""
    if order.fills:
        return [fill_json(f) for f in order.fills]
    plan = (order.route or {}).get("plan")
    if plan:
        return [_planned_leg(leg) for leg in plan.get("legs", [])]
    return []


def _event(e: OrderEvent) -> dict[str, Any]:
    return {"status": e.status, "message": e.message, "timestamp": iso(e.created_at)}


def order_detail(order: Order, trade: Trade | None) -> dict[str, Any]:
    """``GET /api/orders/<id>``: the order, its legs, its events and the route's certificate."""
    data = order_summary(order)
    plan = (order.route or {}).get("plan") or {}
    data["legs"] = order_legs(order)
    data["events"] = [_event(e) for e in order.events]
    data["route"] = (
        {
            "optimalityGapBps": decimal_str(plan.get("optimality_gap_bps"), 6),
            "priceImpactBps": decimal_str(plan.get("price_impact_bps"), 4),
            "savingsVsBestSingleBps": decimal_str(plan.get("savings_vs_best_single_bps"), 4),
            "bestSingleVenue": plan.get("best_single_venue"),
            "bestSingleAmountOut": amount_str(order.token_out, plan.get("best_single_amount_out")),
            "jupiterAmountOut": amount_str(order.token_out, plan.get("jupiter_amount_out")),
        }
        if plan
        else None
    )
    data["trade"] = (
        None
        if trade is None
        else {
            "tradeId": trade.id,
            "price": decimal_str(trade.price),
            "latencyMs": round(trade.latency_ms, 3),
            "notionalUsd": round(trade.notional_usd, 2),
            "savingsUsd": round(trade.savings_usd, 6),
            "executedAt": iso(trade.executed_at),
        }
    )
    return data
