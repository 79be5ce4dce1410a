"""The JSON API (``/api``): thin views over quoting, the order write path and the read models.

Every request is validated by a model of ``views.schemas`` (the same models generate
``/api/openapi.json``); every failure is ``{"error": {"code", "message", "field"}}`` (views/errors.py).
Public: health, tokens, quote, prices, pools, desks, trades, analytics, the OpenAPI document.
An account (``X-API-Key`` header, or the web session) is needed for orders and the account.
"""

from __future__ import annotations

import json
import re
import threading
import time
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel

import analytics
import otc_engine
from errors import (
    InsufficientLiquidityError,
    NoRouteError,
    PriceUnavailableError,
    SolrouteError,
    ValidationError,
)
from models import Account, Order, Trade, db, utcnow
from quoting import Quote
from routing_engine import parse_strategy
from services import Services, get_services
from tokens import TOKENS, get_token, to_base_units
from trade_logger import create_order, replayed_order, request_hash
from venue_state import desk_from_row, hash_api_key, load_pools
from views.auth import api_session_account
from views.errors import ApiError
from views.openapi import openapi_document
from views.schemas import (
    AnalyticsQuery,
    ExecuteOrderRequest,
    LiquidityCurvesQuery,
    NoQuery,
    OrdersQuery,
    PoolsQuery,
    QuoteQuery,
    RecentTradesQuery,
    TimeseriesQuery,
    TradesQuery,
)
from views.serialize import (
    account_json,
    breakdown_json,
    curves_json,
    desk_json,
    fill_json,
    impact_json,
    iso,
    latency_json,
    order_accepted,
    order_detail,
    order_summary,
    pool_json,
    prices_json,
    quote_json,
    slippage_json,
    summary_json,
    timeseries_json,
)

__all__ = ["api", "current_account", "services", "symbol"]

api = Blueprint("api", __name__, url_prefix="/api")

MAX_DB_AMOUNT = 2**63 - 1  # amounts are BIGINT columns
IDEMPOTENCY_KEY_MAX = 255
ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
Q = TypeVar("Q", bound=BaseModel)


def services() -> Services:
    """The process's shared services (quotes, executor, rate limiter)."""
    return get_services()


# --- request helpers -----------------------------------------------------------------------------


def current_account(*, required: bool = True) -> Account | None:
    """The caller's account: ``X-API-Key`` header, else the logged-in web session."""
    key = request.headers.get("X-API-Key")
    account = None
    if key:
        account = db.session.execute(
            sa.select(Account).where(Account.api_key_hash == hash_api_key(key.strip()))
        ).scalar_one_or_none()
        if account is None:
            raise ApiError(401, "unauthorized", "the X-API-Key is not valid", "X-API-Key")
    else:  # the web session's account (development: the demo account); CSRF-checked when it writes
        account = api_session_account()
    if account is None and required:
        raise ApiError(
            401,
            "unauthorized",
            "send an API key in the X-API-Key header (create one with `flask accounts create NAME`)",
            "X-API-Key",
        )
    return account


def _account() -> Account:
    account = current_account(required=True)
    assert account is not None  # required=True raises instead
    return account


class _KeyCache:
    """API key hash → account id, remembered for ``ttl_s``: order submission skips a query per request.

    Keys are never revoked or re-pointed (there is no such operation), so a short memory is safe.
    """

    def __init__(self, ttl_s: float = 30.0, max_entries: int = 10_000) -> None:
        self._ttl_s, self._max = ttl_s, max_entries
        self._ids: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> int | None:
        entry = self._ids.get(key_hash)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def put(self, key_hash: str, account_id: int) -> None:
        with self._lock:
            if len(self._ids) >= self._max:
                self._ids.clear()
            self._ids[key_hash] = (account_id, time.monotonic() + self._ttl_s)


_KEYS = _KeyCache()


def _account_id() -> int:
    """The caller's account id (as ``current_account``, with API keys remembered for a while)."""
    key = request.headers.get("X-API-Key")
    if key:
        key_hash = hash_api_key(key.strip())
        cached = _KEYS.get(key_hash)
        if cached is not None:
            return cached
        account_id = _account().id
        _KEYS.put(key_hash, account_id)
        return account_id
    return _account().id


def _args(model: type[Q]) -> Q:
    """Validate the query string against ``model``; a repeated key or a NUL character is refused."""
    data: dict[str, str] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise ValidationError(f"{key} is given {len(values)} times", field=key)
        if "\x00" in key or "\x00" in values[0]:
            raise ValidationError(f"{key} contains a NUL character", field=key)
        data[key] = values[0]
    return model.model_validate(data)


def _window(q: Any) -> analytics.Window:
    """The ``from``/``to`` window of a query model; ``to`` before ``from`` is refused."""
    if q.from_ is not None and q.to is not None and q.to < q.from_:
        raise ValidationError(f"to ({iso(q.to)}) is before from ({iso(q.from_)})", field="to")
    return analytics.Window(q.from_, q.to)


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKeyError(key)
        data[key] = value
    return data


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not valid JSON")


def _json_body() -> dict[str, Any]:
    """The request's JSON object: numbers parsed exactly; NaN, Infinity and repeated keys refused."""
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the order as application/json, not {request.mimetype or 'no content type'}",
            "Content-Type",
        )
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise ApiError(413, "request_entity_too_large", f"the body is larger than {limit} bytes", None)
    raw = request.get_data(cache=True)
    try:
        body = json.loads(
            raw, parse_float=Decimal, parse_constant=_not_json, object_pairs_hook=_no_duplicates
        )
    except _DuplicateKeyError as exc:
        raise ValidationError(f"{exc.key} is given more than once", field=exc.key) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}", None) from exc
    except RecursionError as exc:
        raise ApiError(400, "malformed_json", "the body is nested too deeply", None) from exc
    if not isinstance(body, dict):
        kind = "an array" if isinstance(body, list) else "a scalar"
        raise ApiError(400, "invalid_input", f"the body must be a JSON object, not {kind}", None)
    return body


def _units(symbol: str, value: object, field: str) -> int:
    token = get_token(symbol)
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"{field} must be a number or a decimal string", field=field)
    units = to_base_units(token, value, field=field)
    if units <= 0:
        raise ValidationError(f"{field} must be positive, got {value}", field=field)
    if units > MAX_DB_AMOUNT:
        raise ValidationError(f"{field} is larger than any supply of {token.symbol}", field=field)
    return units


def symbol(value: str, field: str) -> str:
    """The canonical symbol of a token symbol or mint; an unknown one is an error naming ``field``."""
    try:
        return get_token(value).symbol
    except SolrouteError as exc:
        raise type(exc)(exc.message, field=field) from exc


def _optional_symbol(value: str | None, field: str) -> str | None:
    return None if value is None else symbol(value, field)


def _pair(token_in: str, token_out: str) -> tuple[str, str]:
    sell, buy = symbol(token_in, "tokenIn"), symbol(token_out, "tokenOut")
    if sell == buy:
        raise ValidationError(f"tokenIn and tokenOut are both {sell}", field="tokenOut")
    return sell, buy


def _is_pair_served(token_in: str, token_out: str) -> bool:
    """True if our pools or desks connect the pair directly or through one intermediate token."""
    return services().quotes.serves_pair(token_in, token_out)


def _quote(token_in: str, token_out: str, amount_in: int, strategy: str, slippage_bps: int) -> Quote:
    """Route the trade; "no route" names the pair (``tokenOut``) or, when the pair trades, ``amountIn``."""
    try:
        return services().quotes.quote_units(token_in, token_out, amount_in, strategy, slippage_bps)
    except (NoRouteError, InsufficientLiquidityError) as exc:
        field = "amountIn" if _is_pair_served(token_in, token_out) else "tokenOut"
        raise type(exc)(exc.message, field=field) from exc


def _usd_prices() -> dict[str, Decimal] | None:
    """Current USD prices, pool-implied ones from the pools as stored now; None if unavailable."""
    try:
        return {s: q.price_usd for s, q in services().quotes.prices(load_pools(db.session)).items()}
    except PriceUnavailableError:
        return None


# --- public ----------------------------------------------------------------------------------------


@api.get("/health")
def health() -> tuple[Response, int]:
    """Database, Redis, queue and Jupiter status; 503 when a dependency is down."""
    svc = services()
    checks: dict[str, Any] = {}
    ok = True
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True, "backend": db.engine.dialect.name}
    except sa.exc.SQLAlchemyError as exc:
        ok = False
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    if svc.redis is not None:
        try:
            svc.redis.ping()
            checks["redis"] = {"ok": True}
        except Exception as exc:  # any client error means Redis is down for us
            ok = False
            checks["redis"] = {"ok": False, "error": type(exc).__name__}
    else:
        checks["redis"] = {"ok": None, "detail": "not configured: jobs run in-process"}
    try:
        checks["queue"] = {
            "depth": svc.executor.queue_depth(),
            "ordersWaiting": svc.dispatcher.orders_waiting(),
            "dispatched": svc.dispatcher.stats(),
            "executor": "rq" if svc.redis is not None else "in-process",
        }
    except Exception as exc:  # the queue lives in Redis, already reported above
        checks["queue"] = {"depth": None, "error": type(exc).__name__}
    jupiter = svc.quotes.jupiter
    checks["jupiter"] = {"state": jupiter.status().state.value if jupiter is not None else "disabled"}
    body = {"status": "ok" if ok else "degraded", "checks": checks, "time": iso(utcnow())}
    return jsonify(body), 200 if ok else 503


@api.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(openapi_document())


@api.get("/tokens")
def tokens() -> Response:
    """The supported tokens with their mints and decimals."""
    _args(NoQuery)
    return jsonify(
        {
            "tokens": [
                {"symbol": t.symbol, "mint": t.mint, "decimals": t.decimals, "name": t.name}
                for t in TOKENS.values()
            ]
        }
    )


@api.get("/quote")
def quote() -> Response:
    """Every venue's quote side by side and the chosen route."""
    q = _args(QuoteQuery)
    token_in, token_out = _pair(q.tokenIn, q.tokenOut)
    amount_in = _units(token_in, q.amountIn, "amountIn")
    strategy = parse_strategy(q.routingStrategy)
    return jsonify(quote_json(_quote(token_in, token_out, amount_in, strategy, q.slippageBps), utcnow()))


@api.get("/prices")
def prices() -> Response:
    """USD price of every token, its source and the sources' health."""
    _args(NoQuery)
    quotes = services().quotes
    found = quotes.prices(load_pools(db.session))  # pool-implied prices read the pools as stored now
    return jsonify(prices_json(found, quotes.price_service.source_status(), quotes.clock()))


@api.get("/liquidity-pools")
def liquidity_pools() -> Response:
    """AMM pools with reserves, spot price and USD depth; filters dex, tokenA, tokenB."""
    q = _args(PoolsQuery)
    venue = None
    if q.dex is not None:
        venues = analytics.amm_venues(db.session)
        venue = next((v for v in venues if v.lower() == q.dex.strip().lower()), None)
        if venue is None:
            raise ValidationError(f"unknown dex {q.dex!r}; expected one of {', '.join(venues)}", field="dex")
    token_a, token_b = _optional_symbol(q.tokenA, "tokenA"), _optional_symbol(q.tokenB, "tokenB")
    if token_a is not None and token_a == token_b:
        raise ValidationError(f"tokenA and tokenB are both {token_a}", field="tokenB")
    rows = analytics.amm_pools(db.session, venue=venue, token_a=token_a, token_b=token_b)
    usd = _usd_prices()
    return jsonify({"pools": [pool_json(row, usd) for row in rows], "total": len(rows)})


@api.get("/otc-pools")
def otc_pools() -> Response:
    """OTC desks with their terms and inventory refilled to now."""
    _args(NoQuery)
    scale = Decimal(current_app.config["OTC_SETTLEMENT_SCALE"])
    now = services().quotes.clock()
    rows = analytics.otc_desks(db.session)
    desks = [desk_json(row, otc_engine.refilled(desk_from_row(row, scale), now)) for row in rows]
    return jsonify({"desks": desks, "total": len(desks)})


@api.get("/trades")
def trades() -> Response:
    """Executed legs, newest first, with the total matching the filters."""
    q = _args(TradesQuery)
    page = analytics.fills_page(
        db.session,
        venue=None if q.venue is None else q.venue.strip(),
        token_in=_optional_symbol(q.tokenIn, "tokenIn"),
        token_out=_optional_symbol(q.tokenOut, "tokenOut"),
        order_id=q.orderId,
        window=_window(q),
        limit=q.limit,
        offset=q.offset,
    )
    return _page_json("trades", [fill_json(f) for f in page.rows], page.total, q)


def _page_json(name: str, items: list[dict[str, Any]], total: int, q: Any) -> Response:
    """One page of a list endpoint: the items under ``name``, with the total and the paging used."""
    return jsonify({name: items, "total": total, "limit": q.limit, "offset": q.offset})


@api.get("/analytics/summary")
def analytics_summary() -> Response:
    """Volume, savings, impact, latency and order outcomes over an optional window."""
    q = _args(AnalyticsQuery)
    return jsonify(summary_json(analytics.summary(db.session, _window(q))))


# --- charts: public, read-only series for the dashboard, analytics and pools pages ----------------


@api.get("/analytics/timeseries")
def analytics_timeseries() -> Response:
    """Orders, trades, volume and savings per minute, hour or day bucket (empty buckets as zeros)."""
    q = _args(TimeseriesQuery)
    series = analytics.timeseries(db.session, analytics.Bucket(q.bucket), _window(q), now=utcnow())
    return jsonify(timeseries_json(series))


@api.get("/analytics/impact")
def analytics_impact() -> Response:
    """The latest trades' notional and price impact (a size-versus-impact scatter)."""
    q = _args(RecentTradesQuery)
    window = _window(q)
    return jsonify(impact_json(analytics.recent_trades(db.session, window, q.limit), window, q.limit))


@api.get("/analytics/latency")
def analytics_latency() -> Response:
    """Histogram and percentiles of submit-to-confirmed latency."""
    q = _args(AnalyticsQuery)
    return jsonify(latency_json(analytics.latency_distribution(db.session, _window(q))))


@api.get("/analytics/slippage")
def analytics_slippage() -> Response:
    """Quoted versus filled output of the latest trades (realised slippage) and its aggregate."""
    q = _args(RecentTradesQuery)
    return jsonify(slippage_json(analytics.slippage(db.session, _window(q), q.limit), q.limit))


@api.get("/analytics/breakdown")
def analytics_breakdown() -> Response:
    """Volume and savings per venue and per strategy."""
    q = _args(AnalyticsQuery)
    return jsonify(breakdown_json(analytics.breakdown(db.session, _window(q))))


@api.get("/liquidity-curves")
def liquidity_curves() -> Response:
    """Output and price impact of each pool, desk and cached Jupiter curve of a pair at log-spaced sizes."""
    q = _args(LiquidityCurvesQuery)
    token_in, token_out = _pair(q.tokenIn, q.tokenOut)
    lo = None if q.minAmountIn is None else _units(token_in, q.minAmountIn, "minAmountIn")
    hi = None if q.maxAmountIn is None else _units(token_in, q.maxAmountIn, "maxAmountIn")
    curves = services().quotes.liquidity_curves(token_in, token_out, q.points, lo, hi)
    return jsonify(curves_json(curves, utcnow()))


# --- with an account -------------------------------------------------------------------------------


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ValidationError(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters",
            field="Idempotency-Key",
        )
    return key


def _replay(order: Order) -> tuple[Response, int]:
    """The earlier answer for a repeated Idempotency-Key (its request was checked to be the same)."""
    response = jsonify(order_accepted(order))
    response.headers["Idempotent-Replayed"] = "true"
    return response, 200


def _refuse_when_backlogged() -> None:
    """503 with Retry-After when more orders wait than ORDER_QUEUE_LIMIT: latency stays bounded."""
    limit = current_app.config["ORDER_QUEUE_LIMIT"]
    if limit <= 0:
        return
    depth = services().dispatcher.backlog()
    if depth >= limit:
        raise ApiError(
            503,
            "queue_full",
            f"{depth} orders are waiting to execute (limit {limit}); retry in a few seconds",
            None,
            retry_after_s=2,
        )


@api.post("/orders/execute")
def execute_order() -> tuple[Response, int]:
    """Accept a market order (202) or replay the one with this Idempotency-Key (200)."""
    account_id = _account_id()
    body = ExecuteOrderRequest.model_validate(_json_body())
    token_in, token_out = _pair(body.tokenIn, body.tokenOut)
    amount_in = _units(token_in, body.amountIn, "amountIn")
    strategy = parse_strategy(body.routingStrategy)
    min_out = None if body.minAmountOut is None else _units(token_out, body.minAmountOut, "minAmountOut")
    key = _idempotency_key()
    digest = request_hash(
        {
            "tokenIn": token_in,
            "tokenOut": token_out,
            "amountIn": amount_in,
            "strategy": strategy.value,
            "slippageBps": body.slippageBps,
            "minAmountOut": min_out,
        }
    )
    existing = None if key is None else replayed_order(db.session, account_id, key, digest)
    if existing is not None:
        return _replay(existing)
    _refuse_when_backlogged()
    route = _quote(token_in, token_out, amount_in, strategy, body.slippageBps).result.route
    order, created = create_order(
        db.session,
        account_id,
        token_in=token_in,
        token_out=token_out,
        amount_in=amount_in,
        strategy=strategy.value,
        slippage_bps=body.slippageBps,
        quoted_amount_out=route.amount_out,
        min_amount_out=route.min_amount_out if min_out is None else min_out,
        route=None,
        idempotency_key=key,
        request_digest=digest,
    )
    if not created:
        return _replay(order)
    services().dispatcher.submit(order.id)  # batched into jobs.execute_orders
    return jsonify(order_accepted(order)), 202


@api.get("/orders")
def list_orders() -> Response:
    """The account's orders, newest first, with the total matching the filters."""
    account = _account()
    q = _args(OrdersQuery)
    page = analytics.orders_page(
        db.session,
        account.id,
        status=q.status,
        strategy=None if q.routingStrategy is None else parse_strategy(q.routingStrategy).value,
        token_in=_optional_symbol(q.tokenIn, "tokenIn"),
        token_out=_optional_symbol(q.tokenOut, "tokenOut"),
        window=_window(q),
        limit=q.limit,
        offset=q.offset,
    )
    return _page_json("orders", [order_summary(o) for o in page.rows], page.total, q)


@api.get("/orders/<order_id>")
def get_order(order_id: str) -> Response:
    """One of the account's orders with its legs, events and certificate."""
    account = _account()
    _args(NoQuery)
    order = db.session.get(Order, order_id) if ORDER_ID.fullmatch(order_id) else None
    if order is None or order.account_id != account.id:
        raise ApiError(404, "not_found", f"no order {order_id[:64]!r} for this account", "orderId")
    trade = db.session.execute(sa.select(Trade).where(Trade.order_id == order.id)).scalar_one_or_none()
    return jsonify(order_detail(order, trade))


@api.get("/accounts/me")
def account_me() -> Response:
    """The account and its paper balances."""
    account = _account()
    _args(NoQuery)
    return jsonify(account_json(account))
