"""Domain and storage values as the API's JSON: camelCase, amounts as exact decimal strings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

import otc_engine
from amm import Pool
from analytics import (
    Breakdown,
    LatencyDistribution,
    Page,
    Savings,
    Slippage,
    Summary,
    Timeseries,
    TradeRow,
    Window,
)
from models import Account, AmmPool, Fill, Order, OrderEvent, OTCPool, Trade
from price_feeds import PriceQuote, SourceStatus
from quoting import LiquidityCurves, Quote
from routing_engine import Leg, Route, VenueCurve, VenueQuote
from tokens import format_amount, from_base_units, get_token

__all__ = [
    "account_json",
    "amount_str",
    "breakdown_json",
    "curves_json",
    "decimal_str",
    "desk_json",
    "desk_update_json",
    "epoch_iso",
    "fill_json",
    "impact_json",
    "iso",
    "latency_json",
    "order_accepted",
    "order_detail",
    "order_legs",
    "order_summary",
    "planned_legs",
    "pool_json",
    "pool_update_json",
    "prices_json",
    "quote_json",
    "route_json",
    "slippage_json",
    "spot_price_str",
    "summary_json",
    "timeseries_json",
]


def amount_str(symbol: str, units: int | None) -> str | None:
    """Base units as an exact decimal string in token units ("1234.5", never an exponent)."""
    return None if units is None else format_amount(symbol, units)


def decimal_str(value: Decimal | str | None, places: int | None = None) -> str | None:
    """A Decimal as plain text, optionally rounded to ``places`` (display only, not money)."""
    if value is None:
        return None
    d = Decimal(value)
    if places is not None:
        d = d.quantize(Decimal(1).scaleb(-places))
    return f"{d:f}"


def iso(at: datetime | None) -> str | None:
    """A UTC datetime as ISO 8601 with a Z."""
    if at is None:
        return None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat().replace("+00:00", "Z")


def epoch_iso(seconds: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC."""
    return None if seconds is None else iso(datetime.fromtimestamp(seconds, UTC))


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
    """A route: its legs (first-hop legs with their share of the input) and its certificate."""
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
    """One executed leg (no account: this is public in ``GET /api/trades``)."""
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


def planned_legs(order: Order) -> list[dict[str, Any]]:
    """The legs of the order's plan once routed (amounts as planned), else nothing."""
    plan = (order.route or {}).get("plan")
    return [_planned_leg(leg) for leg in plan.get("legs", [])] if plan else []


def order_legs(order: Order) -> list[dict[str, Any]]:
    """Executed fills once confirmed, else the planned legs once routed, else nothing."""
    if order.status == "confirmed" and order.fills:  # no fills query for a live order
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


def order_accepted(order: Order) -> dict[str, Any]:
    """The answer to ``POST /api/orders/execute`` (first time or replayed)."""
    return {
        "orderId": order.id,
        "status": order.status,
        "quotedAmountOut": amount_str(order.token_out, order.quoted_amount_out),
        "minAmountOut": amount_str(order.token_out, order.min_amount_out),
        "paper": True,
        "links": {"order": f"/api/orders/{order.id}"},
        "socket": {
            "path": "/socket.io",
            "auth": {"apiKey": "<your X-API-Key>"},
            "subscribe": {"event": "subscribe_order", "data": {"orderId": order.id}},
            "event": "order_update",
        },
    }


def account_json(account: Account) -> dict[str, Any]:
    """``GET /api/accounts/me``: the account and its balances by token."""
    return {
        "accountId": account.id,
        "name": account.name,
        "apiKeyPrefix": account.api_key_prefix,
        "createdAt": iso(account.created_at),
        "balances": [
            {
                "token": b.token,
                "amount": amount_str(b.token, b.amount),
                "reserved": amount_str(b.token, b.reserved),
                "available": amount_str(b.token, b.amount - b.reserved),
            }
            for b in sorted(account.balances, key=lambda b: b.token)
        ],
        "paper": True,
    }


def prices_json(
    quotes: Mapping[str, PriceQuote], statuses: Sequence[SourceStatus], now: float
) -> dict[str, Any]:
    """``GET /api/prices``: each token's USD price and source, and every source's health."""
    counts = Counter(q.source for q in quotes.values())
    return {
        "prices": {
            symbol: {
                "priceUsd": decimal_str(q.price_usd),
                "change24hPct": decimal_str(q.change_24h_pct),
                "source": q.source,
                "fetchedAt": epoch_iso(q.fetched_at),
                "ageS": round(q.age_s(now), 3),
            }
            for symbol, q in quotes.items()
        },
        "source": next(iter(counts)) if len(counts) == 1 else "mixed",
        "sourceCounts": dict(sorted(counts.items())),
        "sources": [
            {
                "name": st.name,
                "healthy": st.healthy,
                "lastError": st.last_error,
                "lastSuccessAt": epoch_iso(st.last_success_at),
                "retryAt": epoch_iso(st.retry_at),
                "throttled": st.is_throttled,
            }
            for st in statuses
        ],
        "cacheAgeS": round(max((q.age_s(now) for q in quotes.values()), default=0.0), 3),
        "asOf": epoch_iso(now),
    }


def _human(symbol: str, units: int) -> Decimal:
    return from_base_units(get_token(symbol), units)


def spot_price_str(token_a: str, token_b: str, reserve_a: int, reserve_b: int) -> str:
    """A pool's spot price, tokenB per tokenA in token units (28 significant digits)."""
    with localcontext() as ctx:
        ctx.prec = 28
        price = _human(token_b, reserve_b) / _human(token_a, reserve_a)
    return f"{price.normalize():f}"


def pool_json(pool: AmmPool, usd_prices: Mapping[str, Decimal] | None) -> dict[str, Any]:
    """An AMM pool: reserves, spot price (tokenB per tokenA) and depth at current USD prices."""
    human_a, human_b = _human(pool.token_a, pool.reserve_a), _human(pool.token_b, pool.reserve_b)
    with localcontext() as ctx:
        ctx.prec = 28
        depth = None
        if usd_prices and pool.token_a in usd_prices and pool.token_b in usd_prices:
            depth = human_a * usd_prices[pool.token_a] + human_b * usd_prices[pool.token_b]
    return {
        "id": pool.id,
        "venue": pool.venue,
        "kind": "amm",
        "tokenA": pool.token_a,
        "tokenB": pool.token_b,
        "reserveA": amount_str(pool.token_a, pool.reserve_a),
        "reserveB": amount_str(pool.token_b, pool.reserve_b),
        "feeBps": pool.fee_bps,
        "price": spot_price_str(pool.token_a, pool.token_b, pool.reserve_a, pool.reserve_b),
        "depthUsd": decimal_str(depth, 2),
        "updatedAt": iso(pool.updated_at),
    }


def pool_update_json(pool: Pool) -> dict[str, Any]:
    """The ``pool_update`` event for an AMM pool a trade moved: reserves and spot price."""
    return {
        "id": pool.pool_id,
        "venue": pool.venue,
        "kind": "amm",
        "tokenA": pool.token_a,
        "tokenB": pool.token_b,
        "reserveA": format_amount(pool.token_a, pool.reserve_a),
        "reserveB": format_amount(pool.token_b, pool.reserve_b),
        "price": spot_price_str(pool.token_a, pool.token_b, pool.reserve_a, pool.reserve_b),
    }


def desk_update_json(desk: otc_engine.Desk) -> dict[str, Any]:
    """The ``pool_update`` event for an OTC desk a trade used: its inventory."""
    return {
        "id": desk.desk_id,
        "venue": desk.name,
        "kind": "otc",
        "tokenA": desk.base,
        "tokenB": desk.quote,
        "inventoryBase": format_amount(desk.base, desk.inventory_base),
        "inventoryQuote": format_amount(desk.quote, desk.inventory_quote),
    }


def desk_json(row: OTCPool, desk: otc_engine.Desk) -> dict[str, Any]:
    """An OTC desk: spread curve, size limits, and ``desk`` (the row refilled to now) inventory."""
    return {
        "id": desk.desk_id,
        "name": desk.name,
        "kind": "otc",
        "base": desk.base,
        "quote": desk.quote,
        "baseSpreadBps": decimal_str(desk.base_spread_bps),
        "sizeSpreadBps": decimal_str(desk.size_spread_bps),
        "curve": desk.curve.value,
        "minSize": amount_str(desk.base, desk.min_size),
        "maxSize": amount_str(desk.base, desk.max_size),
        "inventory": {
            "base": amount_str(desk.base, desk.inventory_base),
            "quote": amount_str(desk.quote, desk.inventory_quote),
        },
        "targets": {
            "base": amount_str(desk.base, desk.target_base),
            "quote": amount_str(desk.quote, desk.target_quote),
        },
        "refillPerS": {
            "base": amount_str(desk.base, desk.refill_base_per_s),
            "quote": amount_str(desk.quote, desk.refill_quote_per_s),
        },
        "settlementDelayS": decimal_str(desk.settlement_delay_s.normalize()),
        "updatedAt": iso(row.updated_at),
    }


def _window(window: Window) -> dict[str, Any]:
    return {"from": iso(window.start), "to": iso(window.end)}


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def summary_json(s: Summary) -> dict[str, Any]:
    """``GET /api/analytics/summary`` (USD to the cent is not promised: these are statistics)."""

    def savings(x: Savings) -> dict[str, Any]:
        return {
            "available": x.trades > 0,
            "trades": x.trades,
            "totalUsd": _round(x.total_usd, 6),
            "avgUsd": _round(x.avg_usd, 6),
            "avgBps": _round(x.avg_bps, 4),
        }

    return {
        "window": _window(s.window),
        "orders": {
            "total": s.orders_total,
            "byStatus": s.orders_by_status,
            "final": s.orders_final,
            "successRate": _round(s.success_rate, 6),
        },
        "trades": s.trades,
        "notionalUsd": round(s.notional_usd, 6),
        "volumeByVenue": [
            {
                "venue": v.venue,
                "fills": v.fills,
                "volumeUsd": round(v.volume_usd, 6),
                "amountIn": {token: amount_str(token, units) for token, units in v.amount_in.items()},
            }
            for v in s.by_venue
        ],
        "volumeByStrategy": [
            {"strategy": v.strategy, "trades": v.trades, "volumeUsd": round(v.volume_usd, 6)}
            for v in s.by_strategy
        ],
        "volumeMethod": s.volume_method,
        "savingsVsBestSingle": savings(s.vs_best_single),
        "savingsVsJupiter": savings(s.vs_jupiter),
        "priceImpact": {
            "trades": s.impact_trades,
            "avgBps": _round(s.impact_avg_bps, 4),
            "maxBps": _round(s.impact_max_bps, 4),
        },
        "latency": {
            "count": s.latency.count,
            "meanMs": _round(s.latency.mean_ms, 3),
            "p50Ms": _round(s.latency.p50_ms, 3),
            "p95Ms": _round(s.latency.p95_ms, 3),
            "p99Ms": _round(s.latency.p99_ms, 3),
        },
    }


# --- charts ----------------------------------------------------------------------------------------


def timeseries_json(t: Timeseries) -> dict[str, Any]:
    """``GET /api/analytics/timeseries``."""
    buckets = []
    for b in t.buckets:
        final = b.confirmed + b.failed
        buckets.append(
            {
                "start": iso(b.start),
                "orders": b.orders,
                "confirmed": b.confirmed,
                "failed": b.failed,
                "successRate": round(b.confirmed / final, 6) if final else None,
                "trades": b.trades,
                "volumeUsd": round(b.volume_usd, 6),
                "savingsVsBestSingleUsd": round(b.savings_vs_best_single_usd, 6),
                "jupiterTrades": b.jupiter_trades,
                "savingsVsJupiterUsd": _round(b.savings_vs_jupiter_usd, 6),
            }
        )
    return {
        "bucket": t.bucket.value,
        "window": _window(t.window),
        "truncated": t.truncated,
        "buckets": buckets,
    }


def _trade_head(row: TradeRow) -> dict[str, Any]:
    t = row.trade
    return {
        "orderId": t.order_id,
        "executedAt": iso(t.executed_at),
        "tokenIn": t.token_in,
        "tokenOut": t.token_out,
        "strategy": t.strategy,
        "amountIn": amount_str(t.token_in, t.amount_in),
    }


def impact_json(page: Page[TradeRow], window: Window, limit: int) -> dict[str, Any]:
    """``GET /api/analytics/impact``: the latest trades' size and price impact."""
    trades = [
        _trade_head(row)
        | {
            "amountOut": amount_str(row.trade.token_out, row.trade.amount_out),
            "notionalUsd": round(row.trade.notional_usd, 6),
            "priceImpactBps": decimal_str(row.trade.price_impact_bps),
            "savingsUsd": round(row.trade.savings_usd, 6),
            "venues": list(row.venues),
            "kinds": list(row.kinds),
            "legs": row.legs,
        }
        for row in page.rows
    ]
    return {"window": _window(window), "total": page.total, "limit": limit, "trades": trades}


def latency_json(d: LatencyDistribution) -> dict[str, Any]:
    """``GET /api/analytics/latency``: histogram and nearest-rank percentiles, in ms."""
    return {
        "window": _window(d.window),
        "count": d.count,
        "minMs": _round(d.min_ms, 3),
        "maxMs": _round(d.max_ms, 3),
        "meanMs": _round(d.mean_ms, 3),
        "p50Ms": _round(d.p50_ms, 3),
        "p90Ms": _round(d.p90_ms, 3),
        "p95Ms": _round(d.p95_ms, 3),
        "p99Ms": _round(d.p99_ms, 3),
        "percentileMethod": "nearest-rank",
        "buckets": [{"loMs": b.lo_ms, "hiMs": b.hi_ms, "count": b.count} for b in d.buckets],
    }


def slippage_json(s: Slippage, limit: int) -> dict[str, Any]:
    """``GET /api/analytics/slippage``: quoted versus filled output per trade, and the aggregate."""
    a = s.stats
    return {
        "window": _window(s.window),
        "total": s.total,
        "limit": limit,
        "trades": [
            _trade_head(row)
            | {
                "quotedAmountOut": amount_str(row.trade.token_out, row.trade.quoted_amount_out),
                "amountOut": amount_str(row.trade.token_out, row.trade.amount_out),
                "slippageBps": decimal_str(bps),
                "notionalUsd": round(row.trade.notional_usd, 6),
                "venues": list(row.venues),
            }
            for row, bps in s.rows
        ],
        "aggregate": {
            "trades": a.trades,
            "avgBps": _round(a.avg_bps, 4),
            "weightedBps": _round(a.weighted_bps, 4),
            "minBps": _round(a.min_bps, 4),
            "maxBps": _round(a.max_bps, 4),
            "p50Bps": _round(a.p50_bps, 4),
            "p95Bps": _round(a.p95_bps, 4),
            "worse": a.worse,
            "equal": a.equal,
            "better": a.better,
        },
    }


def breakdown_json(b: Breakdown) -> dict[str, Any]:
    """``GET /api/analytics/breakdown``: volume and savings per venue and per strategy."""
    return {
        "window": _window(b.window),
        "byVenue": [
            {
                "venue": v.venue,
                "kind": v.kind,
                "fills": v.fills,
                "trades": v.trades,
                "volumeUsd": round(v.volume_usd, 6),
                "savingsUsd": round(v.savings_usd, 6),
            }
            for v in b.by_venue
        ],
        "byStrategy": [
            {
                "strategy": x.strategy,
                "trades": x.trades,
                "volumeUsd": round(x.volume_usd, 6),
                "savingsUsd": round(x.savings_usd, 6),
                "avgSavingsBps": _round(x.avg_savings_bps, 4),
                "jupiterTrades": x.jupiter_trades,
                "savingsVsJupiterUsd": _round(x.savings_vs_jupiter_usd, 6),
                "avgPriceImpactBps": _round(x.avg_impact_bps, 4),
                "avgLatencyMs": _round(x.avg_latency_ms, 3),
            }
            for x in b.by_strategy
        ],
        "volumeMethod": b.volume_method,
    }


def _curve_point(q: VenueQuote, token_in: str, token_out: str) -> dict[str, Any]:
    price = None
    if q.available:
        with localcontext() as ctx:
            ctx.prec = 28
            price = f"{(_human(token_out, q.amount_out) / _human(token_in, q.amount_in)).normalize():f}"
    return {
        "amountIn": amount_str(token_in, q.amount_in),
        "amountOut": amount_str(token_out, q.amount_out) if q.available else None,
        "price": price,
        "priceImpactBps": decimal_str(q.price_impact_bps, 4),
        "feeBps": decimal_str(q.fee_bps, 4),
        "available": q.available,
        "reason": q.reason,
    }


def _curve_venue(c: VenueCurve, token_in: str, token_out: str) -> dict[str, Any]:
    return {
        "venue": c.venue,
        "venueId": c.venue_id,
        "kind": c.kind.value,
        "available": c.is_available,
        "reason": c.reason,
        "isEstimate": c.is_estimate,
        "minAmountIn": amount_str(token_in, c.min_in),
        "maxAmountIn": amount_str(token_in, c.max_in),
        "depthOut": amount_str(token_out, c.depth_out),
        "points": [_curve_point(p, token_in, token_out) for p in c.points],
    }


def curves_json(c: LiquidityCurves, as_of: datetime) -> dict[str, Any]:
    """``GET /api/liquidity-curves``: each venue of the pair quoted alone at every size."""
    return {
        "tokenIn": c.token_in,
        "tokenOut": c.token_out,
        "referencePrice": decimal_str(c.reference_price),
        "sizes": [amount_str(c.token_in, size) for size in c.sizes],
        "venues": [_curve_venue(v, c.token_in, c.token_out) for v in c.curves],
        "asOf": iso(as_of),
    }
