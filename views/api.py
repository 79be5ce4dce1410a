"""The JSON API (``/api``): thin views over quoting, the order write path and the read models.

Each view declares its operation once (``@operations.get``/``post``, views/operations.py): the
request model of ``views.schemas`` that validates it, the response model of ``payloads`` it
answers with, its statuses, tag and auth; ``/api/openapi.json`` is generated from those
declarations. Every failure is ``{"error": {"code", "message", "field"}}`` (views/errors.py).
Public: health, tokens, quote, prices, pools, desks, trades, analytics, the OpenAPI document.
An account (``X-API-Key`` header, or the web session) is needed for orders and the account.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, request

import analytics
import live_updates
import otc_engine
import twap
from errors import (
    InsufficientBalanceError,
    InsufficientLiquidityError,
    MinAmountOutUnreachableError,
    NoRouteError,
    PriceUnavailableError,
    QuoteExpiredError,
    RiskLimitError,
    SolrouteError,
    TradingHaltedError,
    ValidationError,
)
from execution_plan import plan_from_route, price_of
from firm_quotes import FirmQuote, quote_key, sign_quote, verify_quote
from models import Account, Balance, Order, OrderStatus, Trade, db, utcnow
from order_book import limit_min_amount_out
from payloads import (
    AccountResponse,
    AnalyticsSummary,
    BreakdownResponse,
    DatabaseCheck,
    DispatchStats,
    FillOut,
    HealthChecks,
    HealthResponse,
    ImpactResponse,
    JupiterCheck,
    LatencyResponse,
    LiquidityCurvesResponse,
    OrderAccepted,
    OrderDetail,
    OrdersPage,
    OrderSummary,
    OtcPoolsResponse,
    PoolsResponse,
    PriceHistoryResponse,
    PricesResponse,
    QueueCheck,
    QuoteResponse,
    RedisCheck,
    SlippageResponse,
    TimeseriesResponse,
    TokensResponse,
    TradesPage,
    iso,
)
from pnl import trade_value_usd
from quoting import Quote
from risk import OrderRisk, check_order
from risk_controls import order_risk_state, trading_halt
from routing_engine import ExactOutRoute, parse_strategy
from services import get_services
from tokens import TOKENS, format_amount, get_token, to_base_units
from trade_logger import cancel_order, create_order, oco_hold, replayed_order, request_hash
from venue_state import account_for_api_key, desk_from_row, hash_api_key, load_pools
from views.auth import api_session_account
from views.errors import ApiError
from views.operations import Operations
from views.schemas import (
    ORDER_ID,
    PRICE_PATTERN,
    AnalyticsQuery,
    ExecuteOrderRequest,
    LiquidityCurvesQuery,
    NoQuery,
    OrdersQuery,
    PoolsQuery,
    PriceHistoryQuery,
    QuoteQuery,
    RecentTradesQuery,
    TimeseriesQuery,
    TradesQuery,
)

__all__ = ["api", "current_account", "openapi_document", "operations", "symbol"]

log = logging.getLogger(__name__)

api = Blueprint("api", __name__, url_prefix="/api")
operations = Operations(api, tags=("market", "orders", "accounts", "analytics", "backtests", "system"))

MAX_DB_AMOUNT = 2**63 - 1  # amounts are BIGINT columns
IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the same key with the same body answers 200 with the first "
    "order (header Idempotent-Replayed: true) and executes once; with a different body, 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
}
ORDER_ID_PARAM = {
    "name": "orderId",
    "in": "path",
    "required": True,
    "description": "The orderId returned by POST /api/orders/execute",
    "schema": {"type": "string", "maxLength": 64},
}


# --- request helpers -----------------------------------------------------------------------------


def current_account(*, required: bool = True) -> Account | None:
    """The caller's account: ``X-API-Key`` header, else the logged-in web session."""
    key = request.headers.get("X-API-Key")
    account = None
    if key:
        account = account_for_api_key(db.session, key)
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


def _window(q: Any) -> analytics.Window:
    """The ``from``/``to`` window of a query model; ``to`` before ``from`` is refused."""
    if q.from_ is not None and q.to is not None and q.to < q.from_:
        raise ValidationError(f"to ({iso(q.to)}) is before from ({iso(q.from_)})", field="to")
    return analytics.Window(q.from_, q.to)


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
    return get_services().quotes.serves_pair(token_in, token_out)


def _quote(token_in: str, token_out: str, amount_in: int, strategy: str, slippage_bps: int) -> Quote:
    """Route the trade; "no route" names the pair (``tokenOut``) or, when the pair trades, ``amountIn``."""
    try:
        return get_services().quotes.quote_units(token_in, token_out, amount_in, strategy, slippage_bps)
    except (NoRouteError, InsufficientLiquidityError) as exc:
        field = "amountIn" if _is_pair_served(token_in, token_out) else "tokenOut"
        raise type(exc)(exc.message, field=field) from exc


def _quote_exact_out(
    token_in: str, token_out: str, amount_out: int, strategy: str, slippage_bps: int
) -> tuple[Quote, ExactOutRoute]:
    """The least-input route buying ``amount_out``; "no route" names ``amountOut`` (or the pair)."""
    try:
        return get_services().quotes.quote_units_exact_out(
            token_in, token_out, amount_out, strategy, slippage_bps
        )
    except (NoRouteError, InsufficientLiquidityError) as exc:
        field = "amountOut" if _is_pair_served(token_in, token_out) else "tokenOut"
        raise type(exc)(exc.message, field=field) from exc


def _one_side(amount_in: object, amount_out: object) -> None:
    """Exactly one of amountIn (exact in) and amountOut (exact out)."""
    if amount_in is not None and amount_out is not None:
        raise ValidationError("give amountIn or amountOut, not both", field="amountOut")
    if amount_in is None and amount_out is None:
        raise ValidationError("amountIn or amountOut is required", field="amountIn")


def _quote_key() -> bytes:
    return quote_key(current_app.config["SECRET_KEY"])


def _firm_quote(quoted: Quote, exact: ExactOutRoute | None, now: datetime) -> tuple[str, datetime]:
    """The signed quoteId of this quote (firm_quotes.py: stateless, nothing written) and its expiry."""
    r = quoted.result
    expires = now + timedelta(seconds=current_app.config["QUOTE_TTL_S"])
    plan = plan_from_route(r, r.route.min_amount_out, {s: q.price_usd for s, q in quoted.prices.items()})
    firm = FirmQuote(
        token_in=r.token_in,
        token_out=r.token_out,
        exact_side="in" if exact is None else "out",
        amount_in=r.amount_in,
        amount_out=r.route.amount_out,
        amount_out_wanted=None if exact is None else exact.amount_out_wanted,
        min_amount_out=r.route.min_amount_out,
        max_amount_in=None if exact is None else exact.max_amount_in,
        strategy=r.route.strategy.value,
        slippage_bps=r.slippage_bps,
        legs=plan.legs,
        quoted_at=now.timestamp(),
        expires_at=expires.timestamp(),
    )
    return sign_quote(firm, _quote_key()), expires


def _usd_prices() -> dict[str, Decimal] | None:
    """Current USD prices, pool-implied ones from the pools as stored now; None if unavailable."""
    try:
        return {s: q.price_usd for s, q in get_services().quotes.prices(load_pools(db.session)).items()}
    except PriceUnavailableError:
        return None


# --- public ----------------------------------------------------------------------------------------


@operations.get(
    "/health",
    operation_id="health",
    summary="Database, Redis, queue and Jupiter status (503 when degraded)",
    tag="system",
    response=HealthResponse,
    errors=(),
    also=((503, "Degraded: a dependency does not answer"),),
)
def health() -> tuple[HealthResponse, int]:
    """Database, Redis, queue and Jupiter status; 503 when a dependency is down."""
    svc = get_services()
    ok = True
    try:
        db.session.execute(sa.text("SELECT 1"))
        database = DatabaseCheck(ok=True, backend=db.engine.dialect.name)
    except sa.exc.SQLAlchemyError as exc:
        ok = False
        database = DatabaseCheck(ok=False, error=type(exc).__name__)
    if svc.redis is not None:
        try:
            svc.redis.ping()
            redis = RedisCheck(ok=True)
        except Exception as exc:  # any client error means Redis is down for us
            ok = False
            redis = RedisCheck(ok=False, error=type(exc).__name__)
    else:
        redis = RedisCheck(ok=None, detail="not configured: jobs run in-process")
    try:
        queue = QueueCheck(
            depth=svc.executor.queue_depth(),
            ordersWaiting=svc.dispatcher.orders_waiting(),
            dispatched=DispatchStats.model_validate(svc.dispatcher.stats()),
            executor="rq" if svc.redis is not None else "in-process",
        )
    except Exception as exc:  # the queue lives in Redis, already reported above
        queue = QueueCheck(depth=None, error=type(exc).__name__)
    jupiter = svc.quotes.jupiter
    state = jupiter.status().state.value if jupiter is not None else "disabled"
    checks = HealthChecks(database=database, redis=redis, queue=queue, jupiter=JupiterCheck(state=state))
    body = HealthResponse(status="ok" if ok else "degraded", checks=checks, time=iso(utcnow()))
    return body, 200 if ok else 503


@operations.get(
    "/openapi.json", operation_id="openapi", summary="This document", tag="system", response=None, errors=()
)
def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this API."""
    return openapi_document()


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``/api``, generated from the operations declared below."""
    return operations.document()


@operations.get(
    "/tokens",
    operation_id="listTokens",
    summary="Supported tokens with mints and decimals",
    tag="market",
    query=NoQuery,
    response=TokensResponse,
)
def tokens() -> TokensResponse:
    """The supported tokens with their mints and decimals."""
    return TokensResponse.of(TOKENS.values())


@operations.get(
    "/quote",
    operation_id="quote",
    summary="Quote every venue side by side and the chosen route, with its optimality certificate",
    tag="market",
    query=QuoteQuery,
    response=QuoteResponse,
    errors=(400, 422, 503),
)
def quote(q: QuoteQuery) -> QuoteResponse:
    """Every venue's quote side by side and the chosen route, as a firm quote (quoteId, expiresAt).

    With amountOut instead of amountIn: the least input that buys it, and maxAmountIn.
    """
    token_in, token_out = _pair(q.tokenIn, q.tokenOut)
    _one_side(q.amountIn, q.amountOut)
    strategy = parse_strategy(q.routingStrategy)
    exact: ExactOutRoute | None = None
    if q.amountOut is not None:
        amount_out = _units(token_out, q.amountOut, "amountOut")
        quoted, exact = _quote_exact_out(token_in, token_out, amount_out, strategy, q.slippageBps)
    else:
        amount_in = _units(token_in, q.amountIn, "amountIn")
        quoted = _quote(token_in, token_out, amount_in, strategy, q.slippageBps)
    now = utcnow()
    quote_id, expires = _firm_quote(quoted, exact, now)
    return QuoteResponse.of(
        quoted,
        now,
        amount_out_wanted=None if exact is None else exact.amount_out_wanted,
        max_amount_in=None if exact is None else exact.max_amount_in,
        quote_id=quote_id,
        expires_at=expires,
    )


@operations.get(
    "/prices",
    operation_id="listPrices",
    summary="USD price of every token with its source and the sources' health",
    tag="market",
    query=NoQuery,
    response=PricesResponse,
    errors=(400, 503),
)
def prices() -> PricesResponse:
    """USD price of every token, its source and the sources' health."""
    quotes = get_services().quotes
    found = quotes.prices(load_pools(db.session))  # pool-implied prices read the pools as stored now
    return PricesResponse.of(found, quotes.price_service.source_status(), quotes.clock())


@operations.get(
    "/liquidity-pools",
    operation_id="listLiquidityPools",
    summary="AMM pools: reserves, fee, spot price and USD depth",
    tag="market",
    query=PoolsQuery,
    response=PoolsResponse,
)
def liquidity_pools(q: PoolsQuery) -> PoolsResponse:
    """AMM pools with reserves, spot price and USD depth; filters dex, tokenA, tokenB."""
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
    return PoolsResponse.of(rows, _usd_prices())


@operations.get(
    "/otc-pools",
    operation_id="listOtcPools",
    summary="OTC desks: spread curve, size limits and inventory refilled to now",
    tag="market",
    query=NoQuery,
    response=OtcPoolsResponse,
)
def otc_pools() -> OtcPoolsResponse:
    """OTC desks with their terms and inventory refilled to now."""
    scale = Decimal(current_app.config["OTC_SETTLEMENT_SCALE"])
    now = get_services().quotes.clock()
    rows = analytics.otc_desks(db.session)
    return OtcPoolsResponse.of([(row, otc_engine.refilled(desk_from_row(row, scale), now)) for row in rows])


@operations.get(
    "/trades",
    operation_id="listTrades",
    summary="Executed legs (fills), newest first; no account is shown",
    tag="market",
    query=TradesQuery,
    response=TradesPage,
)
def trades(q: TradesQuery) -> TradesPage:
    """Executed legs, newest first, with the total matching the filters."""
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
    return TradesPage.page([FillOut.of(f) for f in page.rows], page.total, q.limit, q.offset)


@operations.get(
    "/analytics/summary",
    operation_id="analyticsSummary",
    summary="Volume by venue and strategy, savings vs the best single venue and Jupiter, impact, latency",
    tag="analytics",
    query=AnalyticsQuery,
    response=AnalyticsSummary,
)
def analytics_summary(q: AnalyticsQuery) -> AnalyticsSummary:
    """Volume, savings, impact, latency and order outcomes over an optional window."""
    return AnalyticsSummary.of(analytics.summary(db.session, _window(q)))


# --- charts: public, read-only series for the dashboard, analytics and pools pages ----------------


@operations.get(
    "/analytics/timeseries",
    operation_id="analyticsTimeseries",
    summary="Orders, outcomes, trades, volume and savings per minute, hour or day (empty buckets as zeros)",
    tag="analytics",
    query=TimeseriesQuery,
    response=TimeseriesResponse,
)
def analytics_timeseries(q: TimeseriesQuery) -> TimeseriesResponse:
    """Orders, trades, volume and savings per minute, hour or day bucket (empty buckets as zeros)."""
    series = analytics.timeseries(db.session, analytics.Bucket(q.bucket), _window(q), now=utcnow())
    return TimeseriesResponse.of(series)


@operations.get(
    "/analytics/price-history",
    operation_id="analyticsPriceHistory",
    summary="Each traded token's USD price per minute, hour or day, from the trades (non-empty buckets)",
    tag="analytics",
    query=PriceHistoryQuery,
    response=PriceHistoryResponse,
)
def analytics_price_history(q: PriceHistoryQuery) -> PriceHistoryResponse:
    """Each token's USD price per bucket from the trades, until stored price history exists."""
    history = analytics.price_history(db.session, analytics.Bucket(q.bucket), _window(q), now=utcnow())
    return PriceHistoryResponse.of(history)


@operations.get(
    "/analytics/impact",
    operation_id="analyticsImpact",
    summary="The latest trades' USD notional and price impact, newest first",
    tag="analytics",
    query=RecentTradesQuery,
    response=ImpactResponse,
)
def analytics_impact(q: RecentTradesQuery) -> ImpactResponse:
    """The latest trades' notional and price impact (a size-versus-impact scatter)."""
    window = _window(q)
    return ImpactResponse.of(analytics.recent_trades(db.session, window, q.limit), window, q.limit)


@operations.get(
    "/analytics/latency",
    operation_id="analyticsLatency",
    summary="Histogram and nearest-rank percentiles of submit-to-confirmed latency",
    tag="analytics",
    query=AnalyticsQuery,
    response=LatencyResponse,
)
def analytics_latency(q: AnalyticsQuery) -> LatencyResponse:
    """Histogram and percentiles of submit-to-confirmed latency."""
    return LatencyResponse.of(analytics.latency_distribution(db.session, _window(q)))


@operations.get(
    "/analytics/slippage",
    operation_id="analyticsSlippage",
    summary="Quoted versus filled output of the latest trades (realised slippage) and its aggregate",
    tag="analytics",
    query=RecentTradesQuery,
    response=SlippageResponse,
)
def analytics_slippage(q: RecentTradesQuery) -> SlippageResponse:
    """Quoted versus filled output of the latest trades (realised slippage) and its aggregate."""
    return SlippageResponse.of(analytics.slippage(db.session, _window(q), q.limit), q.limit)


@operations.get(
    "/analytics/breakdown",
    operation_id="analyticsBreakdown",
    summary="Volume and savings per venue and per strategy",
    tag="analytics",
    query=AnalyticsQuery,
    response=BreakdownResponse,
)
def analytics_breakdown(q: AnalyticsQuery) -> BreakdownResponse:
    """Volume and savings per venue and per strategy."""
    return BreakdownResponse.of(analytics.breakdown(db.session, _window(q)))


@operations.get(
    "/liquidity-curves",
    operation_id="liquidityCurves",
    summary="Output and price impact of each pool, desk and cached Jupiter curve of a pair at log-spaced"
    " sizes",
    tag="market",
    query=LiquidityCurvesQuery,
    response=LiquidityCurvesResponse,
    errors=(400, 503),
)
def liquidity_curves(q: LiquidityCurvesQuery) -> LiquidityCurvesResponse:
    """Output and price impact of each pool, desk and cached Jupiter curve of a pair at log-spaced sizes."""
    token_in, token_out = _pair(q.tokenIn, q.tokenOut)
    lo = None if q.minAmountIn is None else _units(token_in, q.minAmountIn, "minAmountIn")
    hi = None if q.maxAmountIn is None else _units(token_in, q.maxAmountIn, "maxAmountIn")
    curves = get_services().quotes.liquidity_curves(token_in, token_out, q.points, lo, hi)
    return LiquidityCurvesResponse.of(curves, utcnow())


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


def _replay(order: Order) -> tuple[OrderAccepted, int, dict[str, str]]:
    """The earlier answer for a repeated Idempotency-Key (its request was checked to be the same)."""
    return OrderAccepted.of(order), 200, {"Idempotent-Replayed": "true"}


Accepted = tuple[OrderAccepted, int] | tuple[OrderAccepted, int, dict[str, str]]


def _idempotent(account_id: int, fields: Mapping[str, Any]) -> tuple[str | None, str, Accepted | None]:
    """The request's Idempotency-Key, the digest of the ``fields`` that define its order, and the
    earlier answer when this key already placed this order (OrderConflictError: another order)."""
    key = _idempotency_key()
    digest = request_hash(fields)
    existing = None if key is None else replayed_order(db.session, account_id, key, digest)
    return key, digest, None if existing is None else _replay(existing)


def _answer(order: Order, created: bool, *, dispatch: bool) -> Accepted:
    """202 for a new order (handed to the market path when ``dispatch``: the dispatcher batches new
    orders into jobs.execute_orders), or the first answer for a replayed Idempotency-Key."""
    if not created:
        return _replay(order)
    if dispatch:
        get_services().dispatcher.submit(order.id)
    return OrderAccepted.of(order), 202


def _refuse_when_backlogged() -> None:
    """503 with Retry-After when more orders wait than ORDER_QUEUE_LIMIT: latency stays bounded."""
    limit = current_app.config["ORDER_QUEUE_LIMIT"]
    if limit <= 0:
        return
    depth = get_services().dispatcher.backlog()
    if depth >= limit:
        raise ApiError(
            503,
            "queue_full",
            f"{depth} orders are waiting to execute (limit {limit}); retry in a few seconds",
            None,
            retry_after_s=2,
        )


def _refuse_when_halted() -> None:
    """503 ``trading_halted`` while the operator halted trading (the flag is read at most once a second)."""
    halt = trading_halt(db.session)
    if halt.halted:
        why = f": {halt.reason}" if halt.reason else ""
        raise TradingHaltedError(
            f"trading is halted by the operator{why}; new orders are refused until it is lifted "
            "(quotes, reads and cancels still work)",
            details={"reason": halt.reason, "since": iso(halt.updated_at) or ""},
        )


def _check_risk(
    account_id: int,
    quoted: Quote,
    amount_in: int,
    amount_out: int,
    impact_bps: Decimal | None,
    body: ExecuteOrderRequest,
    *,
    hold_units: int | None,
    balance_field: str = "amountIn",
) -> None:
    """422 ``risk_limit`` naming the limit (``field``) when the order would break one of the account's
    limits (risk.check_order). Its notional is pnl.trade_value_usd of ``amount_in`` and ``amount_out`` at
    the quote's USD prices; ``impact_bps``, the price impact of its route now."""
    prices = {s: q.price_usd for s, q in quoted.prices.items()}
    r = quoted.result
    notional = trade_value_usd(r.token_in, amount_in, r.token_out, amount_out, prices)
    limits, today = order_risk_state(db.session, account_id, utcnow().date())
    refusal = check_order(limits, OrderRisk(notional, impact_bps, body.acceptHighImpact), today)
    if refusal is None:
        return
    # An order the balance cannot cover is refused for that first, as create_order would: the one
    # extra query is paid on this refusal's path only.
    available = db.session.execute(
        sa.select(Balance.amount - Balance.reserved).where(
            Balance.account_id == account_id, Balance.token == r.token_in
        )
    ).scalar_one_or_none()
    db.session.rollback()  # nothing held, nothing written
    if hold_units is not None and (available or 0) < hold_units:
        raise InsufficientBalanceError(
            f"balance too small: {format_amount(r.token_in, available or 0)} {r.token_in} available, "
            f"order needs {format_amount(r.token_in, hold_units)}"
            + (" (maxAmountIn)" if balance_field == "amountOut" else ""),
            field=balance_field,
        )
    raise RiskLimitError(refusal.message, field=refusal.limit, details=refusal.details)


@operations.post(
    "/orders/execute",
    operation_id="executeOrder",
    summary="Submit a market order (paper trading); it executes in the background",
    tag="orders",
    auth=_account_id,
    body=ExecuteOrderRequest,
    response=OrderAccepted,
    errors=(400, 401, 409, 415, 422, 503),
    status=202,
    headers=(IDEMPOTENCY_HEADER,),
    also=((200, "A replay of an earlier request with the same Idempotency-Key: the first answer"),),
    replayable=True,
)
def execute_order(account_id: int, body: ExecuteOrderRequest) -> Accepted:
    """Accept an order (202) or replay the one with this Idempotency-Key (200)."""
    token_in, token_out = _pair(body.tokenIn, body.tokenOut)
    if body.orderType in ("limit", "stop_loss", "take_profit"):
        return _accept_resting(account_id, body, token_in, token_out)
    if body.orderType == "twap":
        return _accept_twap(account_id, body, token_in, token_out)
    if body.amountOut is not None:
        return _accept_exact_out(account_id, body, token_in, token_out)
    if body.quoteId is not None:
        return _accept_firm_quote(account_id, body, token_in, token_out)
    return _accept_market(account_id, body, token_in, token_out)


_PRICE_TEXT = re.compile(PRICE_PATTERN)  # ASCII only: Decimal takes "0_1", "١" too
MAX_PRICE = Decimal(10) ** 20


def _refuse(field: str, message: str) -> ApiError:
    """An order whose fields are well formed but do not make an order of its type (every type's)."""
    return ApiError(422, "invalid_order", message, field)


def _price(value: object, field: str) -> Decimal:
    """A limit or trigger price: a positive decimal (tokenOut per tokenIn, token units)."""
    text = format(value, "f") if isinstance(value, Decimal | int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _PRICE_TEXT.fullmatch(text):
        raise _refuse(field, f'{field} must be a positive decimal such as "152.5", got {value!r}')
    price = Decimal(text)
    if not 0 < price < MAX_PRICE:
        raise _refuse(field, f"{field} must be greater than 0 and below 1e20, got {text}")
    return price


def _expiry(body: ExecuteOrderRequest) -> datetime | None:
    """expiresAt or expiresInS (not both), in the future; None: good until cancelled."""
    if body.expiresAt is not None and body.expiresInS is not None:
        raise _refuse("expiresInS", "give expiresAt or expiresInS, not both")
    now = utcnow()
    if body.expiresInS is not None:
        return now + timedelta(seconds=body.expiresInS)
    if body.expiresAt is not None and body.expiresAt <= now:
        raise _refuse("expiresAt", f"expiresAt {iso(body.expiresAt)} is not in the future")
    return body.expiresAt


def _accept_resting(account_id: int, body: ExecuteOrderRequest, token_in: str, token_out: str) -> Accepted:
    """A limit, stop-loss or take-profit order: it rests ``open`` (input held) until its price comes.

    limit: ``limitPrice`` required, ``minAmountOut`` = ceil(amountIn × limitPrice); stop_loss and
    take_profit: ``triggerPrice`` required (its minimum comes from the route when it triggers,
    less ``slippageBps``). An order with an ``ocoGroup`` holds only what the group's hold lacks.
    """
    kind = body.orderType
    price_field, other = ("limitPrice", "triggerPrice") if kind == "limit" else ("triggerPrice", "limitPrice")
    for name in ("amountOut", "quoteId", "minAmountOut", other, "slices", "intervalS"):
        if getattr(body, name) is not None:
            raise _refuse(name, f"{name} does not apply to a {kind} order")
    if body.amountIn is None:
        raise _refuse("amountIn", f"amountIn is required for a {kind} order")
    raw_price = getattr(body, price_field)
    if raw_price is None:
        raise _refuse(price_field, f"{price_field} is required for a {kind} order")
    price = _price(raw_price, price_field)
    amount_in = _units(token_in, body.amountIn, "amountIn")
    strategy = parse_strategy(body.routingStrategy)
    expires_at = _expiry(body)
    key, digest, earlier = _idempotent(
        account_id,
        {
            "orderType": kind,
            "tokenIn": token_in,
            "tokenOut": token_out,
            "amountIn": amount_in,
            "strategy": strategy.value,
            "slippageBps": body.slippageBps,
            price_field: str(price),
            # expiresInS is relative: a replay's own clock would differ, so the request's field is hashed
            "expiresAt": None if body.expiresAt is None else iso(body.expiresAt),
            "expiresInS": body.expiresInS,
            "ocoGroup": body.ocoGroup,
        },
    )
    if earlier is not None:
        return earlier
    _refuse_when_halted()
    quoted = _quote(token_in, token_out, amount_in, strategy, body.slippageBps)  # the pair routes
    route = quoted.result.route
    # Checked on the route now: the notional at today's prices, the impact of the same size now.
    _check_risk(
        account_id,
        quoted,
        amount_in,
        route.amount_out,
        route.price_impact_bps,
        body,
        hold_units=None if body.ocoGroup is not None else amount_in,  # a group shares one hold
    )
    if kind == "limit":
        minimum = limit_min_amount_out(token_in, token_out, amount_in, price)
        if minimum > MAX_DB_AMOUNT:
            raise _refuse("limitPrice", f"limitPrice {price} asks for more {token_out} than any supply")
        least = format_amount(token_out, minimum)
        message = f"open: waiting until the best route pays at least {least} {token_out}"
    else:
        minimum = route.min_amount_out  # replaced by the route's at the trigger
        sign = "<=" if kind == "stop_loss" else ">="
        message = f"open: waiting until the reference price {sign} {price} {token_out} per {token_in}"
    columns = {
        "limit_price" if kind == "limit" else "trigger_price": price,
        "expires_at": expires_at,
        "oco_group": body.ocoGroup,
    }
    hold_units = None
    if body.ocoGroup is not None:
        try:
            hold_units = oco_hold(
                db.session, account_id, token_in, body.ocoGroup, amount_in
            )  # locks the group
        except ValidationError as exc:
            db.session.rollback()
            raise _refuse("ocoGroup", exc.message) from exc
    order, created = create_order(
        db.session,
        account_id,
        token_in=token_in,
        token_out=token_out,
        amount_in=amount_in,
        strategy=strategy.value,
        slippage_bps=body.slippageBps,
        quoted_amount_out=route.amount_out,
        min_amount_out=minimum,
        route=None,
        idempotency_key=key,
        request_digest=digest,
        order_type=kind,
        status=OrderStatus.OPEN,
        message=message,
        columns=columns,
        hold_units=hold_units,
    )
    return _answer(order, created, dispatch=False)


# Fields that mean nothing for a TWAP order: refused rather than ignored.
_NOT_FOR_TWAP = (
    ("amountOut", "a TWAP sells an exact amountIn"),
    ("limitPrice", "each slice is a market order"),
    ("triggerPrice", "a TWAP starts at once"),
    ("quoteId", "each slice is quoted when it is due"),
    ("minAmountOut", "each slice's minimum is its own fresh quote less slippageBps"),
    ("expiresAt", "a TWAP ends with its last slice"),
    ("expiresInS", "a TWAP ends with its last slice"),
    ("ocoGroup", "a TWAP cannot be one-cancels-other"),
)


def _accept_twap(account_id: int, body: ExecuteOrderRequest, token_in: str, token_out: str) -> Accepted:
    """A TWAP parent (``working``, input held) whose slices run as child market orders."""
    for name, why in _NOT_FOR_TWAP:
        if getattr(body, name) is not None:
            raise _refuse(name, f"{name} does not apply to a twap order: {why}")
    if body.amountIn is None:
        raise _refuse("amountIn", "amountIn is required for a twap order")
    if body.slices is None:
        raise _refuse("slices", f"slices ({twap.MIN_SLICES}-{twap.MAX_SLICES}) is required for a twap order")
    if body.intervalS is None:
        raise _refuse("intervalS", "intervalS (seconds between slices, > 0) is required for a twap order")
    amount_in = _units(token_in, body.amountIn, "amountIn")
    interval_s = float(body.intervalS)
    try:
        twap.check_schedule(amount_in, body.slices, interval_s)
    except ValidationError as exc:
        raise _refuse(exc.field or "slices", exc.message) from exc
    strategy = parse_strategy(body.routingStrategy)
    key, digest, earlier = _idempotent(
        account_id,
        {
            "orderType": "twap",
            "tokenIn": token_in,
            "tokenOut": token_out,
            "amountIn": amount_in,
            "strategy": strategy.value,
            "slippageBps": body.slippageBps,
            "slices": body.slices,
            "intervalS": interval_s,
            "onChildFailure": body.onChildFailure,
        },
    )
    if earlier is not None:
        return earlier
    _refuse_when_backlogged()
    _refuse_when_halted()
    # Every slice must route now (the remainder makes the last one larger): what the slices would
    # pay at today's prices is the parent's quote, and their minimums its minimum.
    quoted = min_out = 0
    impacts: list[Decimal] = []
    for index in sorted({0, body.slices - 1}):
        size = twap.slice_amount(amount_in, body.slices, index)
        count = 1 if index == body.slices - 1 else body.slices - 1
        slice_quote = _quote(token_in, token_out, size, strategy, body.slippageBps)
        route = slice_quote.result.route
        quoted, min_out = quoted + count * route.amount_out, min_out + count * route.min_amount_out
        if route.price_impact_bps is not None:
            impacts.append(route.price_impact_bps)
    # The whole order's notional; the impact of its largest slice (each slice is one market order).
    _check_risk(
        account_id, slice_quote, amount_in, quoted, max(impacts, default=None), body, hold_units=amount_in
    )
    order, created = create_order(
        db.session,
        account_id,
        token_in=token_in,
        token_out=token_out,
        amount_in=amount_in,
        strategy=strategy.value,
        slippage_bps=body.slippageBps,
        quoted_amount_out=quoted,
        min_amount_out=min_out,
        route=None,
        idempotency_key=key,
        request_digest=digest,
        order_type="twap",
        status=OrderStatus.WORKING,
        message=f"TWAP of {body.slices} slices, one every {interval_s:g} s (onChildFailure "
        f"{body.onChildFailure})",
        columns={
            "slices": body.slices,
            "interval_s": interval_s,
            "on_child_failure": body.onChildFailure,
            "next_run_at": utcnow(),
        },
    )
    if not created:
        return _replay(order)
    try:  # the first slice now; each slice job schedules the next
        get_services().executor.enqueue("jobs.run_twap_slice", order.id, 0, job_id=f"twap-{order.id}-0")
    except Exception:  # stored and held: recovery sends the overdue slice
        log.exception("could not enqueue the first slice of TWAP order %s; recovery will", order.id)
    return OrderAccepted.of(order), 202


def _accept_exact_out(account_id: int, body: ExecuteOrderRequest, token_in: str, token_out: str) -> Accepted:
    """A market order for an exact amount of tokenOut, holding maxAmountIn.

    The order's amount_in is maxAmountIn (the least input now plus slippageBps, rounded up), its
    minimum the wanted amount. At execution the router finds the least input on the venues then;
    settlement spends that and releases the rest of the hold in the same transaction.
    """
    if body.quoteId is not None:
        return _accept_firm_quote(account_id, body, token_in, token_out)
    _one_side(body.amountIn, body.amountOut)
    if body.minAmountOut is not None:
        raise ValidationError(
            "an exact-out order receives at least its amountOut: leave minAmountOut out", field="minAmountOut"
        )
    amount_out = _units(token_out, body.amountOut, "amountOut")
    strategy = parse_strategy(body.routingStrategy)
    key, digest, earlier = _idempotent(
        account_id,
        {
            "tokenIn": token_in,
            "tokenOut": token_out,
            "amountOut": amount_out,
            "strategy": strategy.value,
            "slippageBps": body.slippageBps,
        },
    )
    if earlier is not None:
        return earlier
    _refuse_when_backlogged()
    _refuse_when_halted()
    quoted, exact = _quote_exact_out(token_in, token_out, amount_out, strategy, body.slippageBps)
    route = exact.result.route
    max_in = exact.max_amount_in
    _check_risk(
        account_id,
        quoted,
        exact.amount_in,
        amount_out,
        route.price_impact_bps,
        body,
        hold_units=max_in,
        balance_field="amountOut",
    )
    if max_in > MAX_DB_AMOUNT:
        raise ValidationError(f"amountOut needs more {token_in} than any supply", field="amountOut")
    try:
        order, created = create_order(
            db.session,
            account_id,
            token_in=token_in,
            token_out=token_out,
            amount_in=max_in,
            strategy=strategy.value,
            slippage_bps=body.slippageBps,
            quoted_amount_out=exact.result.route.amount_out,
            min_amount_out=amount_out,
            route=None,
            idempotency_key=key,
            request_digest=digest,
            message=f"order received: buy {format_amount(token_out, amount_out)} {token_out} for at most "
            f"{format_amount(token_in, max_in)} {token_in}",
            columns={"exact_side": "out", "amount_out_wanted": amount_out},
        )
    except InsufficientBalanceError as exc:
        raise InsufficientBalanceError(f"{exc.message} (maxAmountIn)", field="amountOut") from exc
    return _answer(order, created, dispatch=True)


def _contradiction(name: str, given: object, quoted: object) -> ApiError:
    return ApiError(
        422,
        "quote_mismatch",
        f"{name} {given} contradicts the quote's {quoted}: leave it out or re-quote",
        name,
    )


def _check_body_matches(body: ExecuteOrderRequest, firm: FirmQuote, token_in: str, token_out: str) -> None:
    """Fields given with a quoteId must say what the quote says (absent ones take the quote's)."""
    given = body.model_fields_set
    if (token_in, token_out) != (firm.token_in, firm.token_out):
        raise _contradiction("tokenIn", f"{token_in}->{token_out}", f"{firm.token_in}->{firm.token_out}")
    if body.amountIn is not None and _units(token_in, body.amountIn, "amountIn") != firm.amount_in:
        raise _contradiction("amountIn", body.amountIn, format_amount(token_in, firm.amount_in))
    if body.amountOut is not None and (
        firm.amount_out_wanted is None
        or _units(token_out, body.amountOut, "amountOut") != firm.amount_out_wanted
    ):
        wanted = (
            "exact amountIn"
            if firm.amount_out_wanted is None
            else format_amount(token_out, firm.amount_out_wanted)
        )
        raise _contradiction("amountOut", body.amountOut, wanted)
    if "routingStrategy" in given and parse_strategy(body.routingStrategy).value != firm.strategy:
        raise _contradiction("routingStrategy", body.routingStrategy, firm.strategy)
    if "slippageBps" in given and body.slippageBps != firm.slippage_bps:
        raise _contradiction("slippageBps", body.slippageBps, firm.slippage_bps)
    if body.minAmountOut is not None and (
        _units(token_out, body.minAmountOut, "minAmountOut") != firm.min_amount_out
    ):
        raise _contradiction("minAmountOut", body.minAmountOut, format_amount(token_out, firm.min_amount_out))


def _accept_firm_quote(account_id: int, body: ExecuteOrderRequest, token_in: str, token_out: str) -> Accepted:
    """A market order executing the route of a firm quote from ``GET /api/quote``.

    The quoteId is verified (its HMAC), must not have expired, and fields given with it must agree;
    the order holds the quote's amountIn and stores its legs (route ``firm_quote``). At execution
    the quoted legs run if the venues still pay the quote's minAmountOut, else ``price_moved``.
    """
    assert body.quoteId is not None
    firm = verify_quote(body.quoteId, _quote_key())
    now = time.time()
    if now > firm.expires_at:
        expired_at = iso(datetime.fromtimestamp(firm.expires_at, UTC))
        now_iso = iso(datetime.fromtimestamp(now, UTC))
        raise QuoteExpiredError(
            f"the quote expired at {expired_at}, {now - firm.expires_at:.1f} s before now ({now_iso}); "
            "ask GET /api/quote for a new one",
            field="quoteId",
            details={"expiredAt": expired_at, "now": now_iso},
        )
    _check_body_matches(body, firm, token_in, token_out)
    key, digest, earlier = _idempotent(
        account_id, {"quoteId": body.quoteId, "tokenIn": token_in, "tokenOut": token_out}
    )
    if earlier is not None:
        return earlier
    _refuse_when_backlogged()
    _refuse_when_halted()
    # The quote's route as the venues price it now: the notional's prices and the impact checked.
    now_quoted = _quote(token_in, token_out, firm.amount_in, firm.strategy, firm.slippage_bps)
    impact = now_quoted.result.route.price_impact_bps
    _check_risk(
        account_id, now_quoted, firm.amount_in, firm.amount_out, impact, body, hold_units=firm.amount_in
    )
    stored = {
        "firm_quote": {
            "legs": [
                {f: getattr(leg, f) for f in leg.__dataclass_fields__} | {"path": list(leg.path)}
                for leg in firm.legs
            ],
            "amount_out": firm.amount_out,
            "min_amount_out": firm.min_amount_out,
            "quoted_at": firm.quoted_at,
            "expires_at": firm.expires_at,
        }
    }
    order, created = create_order(
        db.session,
        account_id,
        token_in=token_in,
        token_out=token_out,
        amount_in=firm.amount_in,
        strategy=firm.strategy,
        slippage_bps=firm.slippage_bps,
        quoted_amount_out=firm.amount_out,
        min_amount_out=firm.min_amount_out,
        route=stored,
        idempotency_key=key,
        request_digest=digest,
        message=f"order received: firm quote for {format_amount(token_in, firm.amount_in)} {token_in}, "
        f"at least {format_amount(token_out, firm.min_amount_out)} {token_out}",
        columns={"exact_side": firm.exact_side, "amount_out_wanted": firm.amount_out_wanted},
    )
    return _answer(order, created, dispatch=True)


def _accept_market(account_id: int, body: ExecuteOrderRequest, token_in: str, token_out: str) -> Accepted:
    """A market order: fill-or-kill against minAmountOut, executed in the background."""
    if body.amountIn is None:
        raise ValidationError("amountIn or amountOut is required", field="amountIn")
    amount_in = _units(token_in, body.amountIn, "amountIn")
    strategy = parse_strategy(body.routingStrategy)
    min_out = None if body.minAmountOut is None else _units(token_out, body.minAmountOut, "minAmountOut")
    key, digest, earlier = _idempotent(
        account_id,
        {
            "tokenIn": token_in,
            "tokenOut": token_out,
            "amountIn": amount_in,
            "strategy": strategy.value,
            "slippageBps": body.slippageBps,
            "minAmountOut": min_out,
        },
    )
    if earlier is not None:
        return earlier
    _refuse_when_backlogged()
    _refuse_when_halted()
    quoted = _quote(token_in, token_out, amount_in, strategy, body.slippageBps)
    route = quoted.result.route
    _check_risk(
        account_id, quoted, amount_in, route.amount_out, route.price_impact_bps, body, hold_units=amount_in
    )
    if min_out is not None and min_out > route.amount_out:
        best = format_amount(token_out, route.amount_out)
        raise MinAmountOutUnreachableError(
            f"minAmountOut {format_amount(token_out, min_out)} {token_out} is more than the best route pays "
            f"now: {best} {token_out} for {format_amount(token_in, amount_in)} {token_in} "
            f"({strategy.value}); nothing was held",
            field="minAmountOut",
            details={"bestAmountOut": best, "minAmountOut": format_amount(token_out, min_out)},
        )
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
    return _answer(order, created, dispatch=True)


@operations.get(
    "/orders",
    operation_id="listOrders",
    summary="The account's orders: open and working ones first, then newest first",
    tag="orders",
    auth=_account,
    query=OrdersQuery,
    response=OrdersPage,
    errors=(400, 401),
)
def list_orders(account: Account, q: OrdersQuery) -> OrdersPage:
    """The account's orders (resting ones first, then newest first), with the total matching the filters."""
    page = analytics.orders_page(
        db.session,
        account.id,
        status=q.status,
        strategy=None if q.routingStrategy is None else parse_strategy(q.routingStrategy).value,
        token_in=_optional_symbol(q.tokenIn, "tokenIn"),
        token_out=_optional_symbol(q.tokenOut, "tokenOut"),
        order_type=q.orderType,
        window=_window(q),
        limit=q.limit,
        offset=q.offset,
    )
    return OrdersPage.page([OrderSummary.of(o) for o in page.rows], page.total, q.limit, q.offset)


@operations.get(
    "/orders/<order_id>",
    operation_id="getOrder",
    summary="One order with its legs, lifecycle events and route certificate",
    tag="orders",
    auth=_account,
    query=NoQuery,
    response=OrderDetail,
    errors=(400, 401, 404),
    path_params=(ORDER_ID_PARAM,),
)
def get_order(account: Account, order_id: str) -> OrderDetail:
    """One of the account's orders with its legs, events and certificate."""
    order = db.session.get(Order, order_id) if ORDER_ID.fullmatch(order_id) else None
    if order is None or order.account_id != account.id:
        raise ApiError(404, "not_found", f"no order {order_id[:64]!r} for this account", "orderId")
    trade = db.session.execute(sa.select(Trade).where(Trade.order_id == order.id)).scalar_one_or_none()
    children: list[Order] = []
    if order.order_type == "twap":
        children = list(
            db.session.execute(
                sa.select(Order).where(Order.parent_id == order.id).order_by(Order.slice_index)
            ).scalars()
        )
    return OrderDetail.of_order(order, trade, children, _watched_price(order))


def _watched_price(order: Order) -> Decimal | None:
    """What an open resting order's trigger compares now (tokenOut per tokenIn), for its page."""
    if order.status != OrderStatus.OPEN:
        return None
    quotes = get_services().quotes
    try:
        if order.order_type == "limit":
            route = quotes.quote_units(
                order.token_in, order.token_out, order.amount_in, order.strategy
            ).result
            return price_of(order.token_in, order.token_out, order.amount_in, route.route.amount_out)
        prices = quotes.usd_prices((order.token_in, order.token_out), load_pools(db.session))
    except SolrouteError:
        return None
    sell, buy = prices.get(order.token_in), prices.get(order.token_out)
    return sell / buy if sell and buy else None


@operations.post(
    "/orders/<order_id>/cancel",
    operation_id="cancelOrder",
    summary="Cancel an open, working or not yet executing order; its held input is released",
    tag="orders",
    auth=_account,
    response=OrderSummary,
    errors=(400, 401, 404, 409),
    path_params=(ORDER_ID_PARAM,),
)
def cancel(account: Account, order_id: str) -> OrderSummary:
    """Cancel one of the account's orders (idempotent: a cancelled order is answered as it is).

    open / working / pending (no worker has it yet) → cancelled, held input released; an OCO
    order cancels its group; executing → 409 ``order_executing``; ended otherwise → 409 ``order_final``.
    """
    if not ORDER_ID.fullmatch(order_id):
        raise ApiError(404, "not_found", f"no order {order_id[:64]!r} for this account", "orderId")
    result = cancel_order(db.session, order_id, account.id)
    if result.order is None:
        raise ApiError(404, "not_found", f"no order {order_id[:64]!r} for this account", "orderId")
    if result.outcome == "executing":
        raise ApiError(
            409,
            "order_executing",
            f"order {order_id} is executing (status {result.order.status}): it can no longer be cancelled",
            "orderId",
        )
    if result.outcome == "slice":
        raise ApiError(
            409,
            "order_is_slice",
            f"order {order_id} is slice {result.order.slice_index} of TWAP order {result.order.parent_id}: "
            "cancel the TWAP order, which cancels its pending slices",
            "orderId",
        )
    if result.outcome == "final":
        raise ApiError(409, "order_final", f"order {order_id} already ended {result.order.status}", "orderId")
    for stored in result.stored:
        live_updates.publish_events(stored)
    return OrderSummary.of(result.order)


@operations.get(
    "/accounts/me",
    operation_id="getAccount",
    summary="The account and its paper balances",
    tag="accounts",
    auth=_account,
    query=NoQuery,
    response=AccountResponse,
    errors=(400, 401),
)
def account_me(account: Account) -> AccountResponse:
    """The account and its paper balances."""
    return AccountResponse.of(account)


# Operations declared in their own modules on this blueprint (arbitrage; backtests; bots;
# portfolio, limits and the trading halt): imported here, once this module's names exist, so their
# routes are in place before the app registers the blueprint and importing views.api gives the
# whole API.
from views import arbitrage as arbitrage  # noqa: E402
from views import backtests as backtests  # noqa: E402
from views import bots as bots  # noqa: E402
from views import portfolio as portfolio  # noqa: E402
