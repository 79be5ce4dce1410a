"""The JSON API (``/api``): thin views over quoting, the order write path and the read models."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request, session

from errors import SolrouteError, ValidationError
from models import Account, Order, Trade, db, utcnow
from routing_engine import parse_strategy
from tokens import TOKENS, get_token, to_base_units
from trade_logger import create_order, request_hash
from venue_state import hash_api_key
from views.errors import ApiError
from views.schemas import ExecuteOrderRequest, OrdersQuery, QuoteQuery
from views.serialize import amount_str, iso, order_detail, order_summary, quote_json

__all__ = ["api", "current_account", "services", "symbol"]

api = Blueprint("api", __name__, url_prefix="/api")

MAX_DB_AMOUNT = 2**63 - 1  # amounts are BIGINT columns
IDEMPOTENCY_KEY_MAX = 255


def services() -> Any:
    return current_app.extensions["solroute"]


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
    elif isinstance(session.get("account_id"), int):
        account = db.session.get(Account, session["account_id"])
    if account is None and required:
        raise ApiError(
            401,
            "unauthorized",
            "send an API key in the X-API-Key header (create one with `flask accounts create NAME`)",
            "X-API-Key",
        )
    return account


def _args(model: type[Any]) -> Any:
    """Validate the query string against ``model`` (repeated keys are refused)."""
    data: dict[str, str] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise ValidationError(f"{key} is given {len(values)} times", field=key)
        data[key] = values[0]
    return model.model_validate(data)


def _json_body() -> Any:
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the order as application/json, not {request.mimetype or 'no content type'}",
            "Content-Type",
        )
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw, parse_float=Decimal)  # numbers stay exact
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}", None) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_input", "the body must be a JSON object", None)
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


def _pair(token_in: str, token_out: str) -> tuple[str, str]:
    sell, buy = symbol(token_in, "tokenIn"), symbol(token_out, "tokenOut")
    if sell == buy:
        raise ValidationError(f"tokenIn and tokenOut are both {sell}", field="tokenOut")
    return sell, buy


@api.get("/health")
def health() -> tuple[Response, int]:
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
            "executor": "rq" if svc.redis is not None else "in-process",
        }
    except Exception as exc:  # the queue lives in Redis, already reported above
        checks["queue"] = {"depth": None, "error": type(exc).__name__}
    status = services().quotes.jupiter.status() if services().quotes.jupiter else None
    checks["jupiter"] = {"state": status.state.value if status else "disabled"}
    body = {"status": "ok" if ok else "degraded", "checks": checks, "time": iso(utcnow())}
    return jsonify(body), 200 if ok else 503


@api.get("/tokens")
def tokens() -> Response:
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
    q = _args(QuoteQuery)
    token_in, token_out = _pair(q.tokenIn, q.tokenOut)
    amount_in = _units(token_in, q.amountIn, "amountIn")
    strategy = parse_strategy(q.routingStrategy)
    result = services().quotes.quote_units(token_in, token_out, amount_in, strategy, q.slippageBps)
    return jsonify(quote_json(result, utcnow()))


def _socket_help(order_id: str) -> dict[str, Any]:
    return {
        "path": "/socket.io",
        "auth": {"apiKey": "<your X-API-Key>"},
        "subscribe": {"event": "subscribe_order", "data": {"orderId": order_id}},
        "event": "order_update",
    }


@api.post("/orders/execute")
def execute_order() -> tuple[Response, int]:
    account = current_account()
    assert account is not None
    body = ExecuteOrderRequest.model_validate(_json_body())
    token_in, token_out = _pair(body.tokenIn, body.tokenOut)
    amount_in = _units(token_in, body.amountIn, "amountIn")
    strategy = parse_strategy(body.routingStrategy)
    min_out = None if body.minAmountOut is None else _units(token_out, body.minAmountOut, "minAmountOut")
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        key = key.strip()
        if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
            raise ValidationError(
                f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters",
                field="Idempotency-Key",
            )
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
    if key is not None:
        existing = db.session.execute(
            sa.select(Order).where(Order.account_id == account.id, Order.idempotency_key == key)
        ).scalar_one_or_none()
        if existing is not None:
            return _replay(existing, digest)
    quoted = services().quotes.quote_units(token_in, token_out, amount_in, strategy, body.slippageBps)
    route = quoted.result.route
    order, created = create_order(
        db.session,
        account,
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
        return _replay(order, digest)
    order_id = order.id
    try:
        services().executor.enqueue("jobs.execute_order", order_id, 1, job_id=f"order-{order_id}-1")
    except Exception:  # the order is stored: the recovery step will queue it when the queue is back
        current_app.logger.exception("could not enqueue order %s; recovery will pick it up", order_id)
    return jsonify(
        {
            "orderId": order_id,
            "status": "pending",
            "quotedAmountOut": amount_str(token_out, order.quoted_amount_out),
            "minAmountOut": amount_str(token_out, order.min_amount_out),
            "paper": True,
            "links": {"order": f"/api/orders/{order_id}"},
            "socket": _socket_help(order_id),
        }
    ), 202


def _replay(order: Order, digest: str) -> tuple[Response, int]:
    from trade_logger import OrderConflictError

    if order.request_hash != digest:
        raise OrderConflictError(
            "this Idempotency-Key was already used for a different order request", field="Idempotency-Key"
        )
    response = jsonify(
        {
            "orderId": order.id,
            "status": order.status,
            "quotedAmountOut": amount_str(order.token_out, order.quoted_amount_out),
            "minAmountOut": amount_str(order.token_out, order.min_amount_out),
            "paper": True,
            "links": {"order": f"/api/orders/{order.id}"},
            "socket": _socket_help(order.id),
        }
    )
    response.headers["Idempotent-Replayed"] = "true"
    return response, 200


@api.get("/orders")
def list_orders() -> Response:
    account = current_account()
    assert account is not None
    q = _args(OrdersQuery)
    where = [Order.account_id == account.id]
    if q.status:
        where.append(Order.status == q.status)
    if q.routingStrategy:
        where.append(Order.strategy == parse_strategy(q.routingStrategy).value)
    if q.tokenIn:
        where.append(Order.token_in == symbol(q.tokenIn, "tokenIn"))
    if q.tokenOut:
        where.append(Order.token_out == symbol(q.tokenOut, "tokenOut"))
    if q.from_:
        where.append(Order.created_at >= q.from_)
    if q.to:
        where.append(Order.created_at < q.to)
    total = db.session.execute(sa.select(sa.func.count()).select_from(Order).where(*where)).scalar_one()
    rows = (
        db.session.execute(
            sa.select(Order)
            .where(*where)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(q.limit)
            .offset(q.offset)
        )
        .scalars()
        .all()
    )
    return jsonify(
        {"orders": [order_summary(o) for o in rows], "total": total, "limit": q.limit, "offset": q.offset}
    )


@api.get("/orders/<order_id>")
def get_order(order_id: str) -> Response:
    account = current_account()
    assert account is not None
    order = db.session.get(Order, order_id) if len(order_id) <= 64 else None
    if order is None or order.account_id != account.id:
        raise ApiError(404, "not_found", f"no order {order_id} for this account", "orderId")
    trade = db.session.execute(sa.select(Trade).where(Trade.order_id == order.id)).scalar_one_or_none()
    return jsonify(order_detail(order, trade))


@api.get("/accounts/me")
def account_me() -> Response:
    account = current_account()
    assert account is not None
    return jsonify(
        {
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
    )
