"""The account's portfolio and risk limits, and the operator's trading halt (on the ``api`` blueprint).

Operator endpoints take an operator's ``X-API-Key`` (``flask accounts create-operator NAME``);
a trader's key is refused with 403. The halt's state is public (``GET /api/trading-halt``) and
every page shows it (a context processor feeds templates/base.html's banner).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import request

import analytics
import live_updates
import portfolio
from errors import PriceUnavailableError
from models import Account, AccountKind, Balance, db, utcnow
from payloads import LimitsResponse, PortfolioResponse, TradingHaltResponse
from risk import LIMIT_NAMES
from risk_controls import Halt, account_limits, default_limits, set_limits, set_trading_halt, trading_halt
from services import get_services
from venue_state import hash_api_key, load_pools
from views.api import _account, api, operations
from views.errors import ApiError
from views.schemas import LimitsRequest, NoQuery, PortfolioQuery, TradingHaltRequest

__all__ = ["operator_account"]

HISTORY_BUCKETS = {"hour": 48, "day": 30}
ACCOUNT_ID_PARAM = {
    "name": "accountId",
    "in": "path",
    "required": True,
    "description": "The account whose limits the operator sets",
    "schema": {"type": "integer"},
}


def operator_account() -> Account:
    """The operator calling (``X-API-Key`` of an operator account): 401 without a key, 403 for another's."""
    key = (request.headers.get("X-API-Key") or "").strip()
    if not key:
        raise ApiError(401, "unauthorized", "send an operator's API key in the X-API-Key header", "X-API-Key")
    account: Account | None = db.session.execute(
        sa.select(Account).where(Account.api_key_hash == hash_api_key(key))
    ).scalar_one_or_none()
    if account is None:
        raise ApiError(401, "unauthorized", "the X-API-Key is not valid", "X-API-Key")
    if account.kind != AccountKind.OPERATOR:
        raise ApiError(403, "forbidden", "only an operator may do this", "X-API-Key")
    return account


def _halt_body(halt: Halt) -> TradingHaltResponse:
    return TradingHaltResponse.of(halt.halted, halt.reason, halt.updated_at, halt.updated_by)


@operations.get(
    "/accounts/me/portfolio",
    operation_id="getPortfolio",
    summary="Balances valued in USD, average cost, realised and unrealised P&L, and a value history",
    tag="accounts",
    auth=_account,
    query=PortfolioQuery,
    response=PortfolioResponse,
    errors=(400, 401),
)
def get_portfolio(account: Account, q: PortfolioQuery) -> PortfolioResponse:
    """The account's holdings at the reference prices now, with their P&L and value history."""
    rows = db.session.execute(
        sa.select(Balance.token, Balance.amount, Balance.reserved).where(Balance.account_id == account.id)
    ).all()
    balances = {str(t): (int(a), int(r)) for t, a, r in rows}
    try:
        found = get_services().quotes.prices(load_pools(db.session))
    except PriceUnavailableError:
        found = {}
    prices = {s: (p.price_usd, p.source) for s, p in found.items()}
    now = utcnow()
    history = portfolio.value_history(
        db.session,
        account.id,
        {t: a for t, (a, _) in balances.items()},
        {s: p for s, (p, _) in prices.items()},
        analytics.Bucket(q.bucket),
        buckets=HISTORY_BUCKETS[q.bucket],
        now=now,
    )
    return PortfolioResponse.of(
        account.id,
        balances,
        portfolio.holdings(db.session, account.id),
        prices,
        portfolio.today(db.session, account.id, now.date()),
        q.bucket,
        history,
        now,
    )


def _limits_body(account_id: int) -> LimitsResponse:
    effective, own = account_limits(db.session, account_id)
    today = portfolio.today(db.session, account_id, utcnow().date())
    return LimitsResponse.of(account_id, effective, own, default_limits(), today)


def _wanted(body: LimitsRequest) -> dict[str, Decimal | None]:
    by_name = {name: column for column, name in LIMIT_NAMES.items()}
    values: dict[str, Any] = body.model_dump()
    return {
        by_name[name]: None if values[name] is None else Decimal(values[name])
        for name in body.model_fields_set
    }


@operations.get(
    "/accounts/me/limits",
    operation_id="getLimits",
    summary="The account's risk limits (its own, the defaults, the ones in force) and today's figures",
    tag="accounts",
    auth=_account,
    query=NoQuery,
    response=LimitsResponse,
    errors=(400, 401),
)
def get_limits(account: Account) -> LimitsResponse:
    """The limits in force, the account's own and the defaults, with today's notional and realised P&L."""
    return _limits_body(account.id)


@operations.put(
    "/accounts/me/limits",
    operation_id="setLimits",
    summary="Lower the account's own risk limits (only the operator can raise or remove one)",
    tag="accounts",
    auth=_account,
    body=LimitsRequest,
    response=LimitsResponse,
    errors=(400, 401, 415),
)
def put_limits(account: Account, body: LimitsRequest) -> LimitsResponse:
    """Set the limits given in the body; each must not be above the one in force."""
    set_limits(db.session, account.id, _wanted(body), by=account.name, is_operator=False)
    return _limits_body(account.id)


@operations.put(
    "/admin/accounts/<int:account_id>/limits",
    operation_id="setAccountLimits",
    summary="Operator: set any account's risk limits (null: back to the default)",
    tag="system",
    auth=operator_account,
    body=LimitsRequest,
    response=LimitsResponse,
    errors=(400, 401, 403, 404, 415),
    path_params=(ACCOUNT_ID_PARAM,),
)
def put_account_limits(operator: Account, body: LimitsRequest, account_id: int) -> LimitsResponse:
    """Set a trader's limits (raise, lower or give back to the default)."""
    target = db.session.get(Account, account_id)
    if target is None or target.kind != AccountKind.TRADER:
        raise ApiError(404, "not_found", f"no trader account {account_id}", "accountId")
    set_limits(db.session, account_id, _wanted(body), by=operator.name, is_operator=True)
    return _limits_body(account_id)


@operations.get(
    "/trading-halt",
    operation_id="getTradingHalt",
    summary="Whether the operator has halted trading, why, since when",
    tag="system",
    query=NoQuery,
    response=TradingHaltResponse,
)
def get_trading_halt() -> TradingHaltResponse:
    """The trading halt as it stands (read at most once a second)."""
    return _halt_body(trading_halt(db.session))


@operations.post(
    "/admin/trading-halt",
    operation_id="setTradingHalt",
    summary="Operator: halt or resume trading (new orders 503 trading_halted; quotes, reads, cancels work)",
    tag="system",
    auth=operator_account,
    body=TradingHaltRequest,
    response=TradingHaltResponse,
    errors=(400, 401, 403, 415),
)
def post_trading_halt(operator: Account, body: TradingHaltRequest) -> TradingHaltResponse:
    """Halt (``halted: true``) or resume trading; every client hears ``trading_halt`` on Socket.IO."""
    halt = set_trading_halt(db.session, halted=body.halted, reason=body.reason, by=operator.name)
    out = _halt_body(halt)
    publish_halt(out)
    return out


def publish_halt(out: TradingHaltResponse) -> None:
    """The ``trading_halt`` event, to every connection (they all join the ``prices`` room)."""
    live_updates.publish("trading_halt", out.to_json(), "prices")


@api.app_context_processor
def _halt_banner() -> dict[str, Any]:
    """``trading_halt`` for templates/base.html's banner (None when the database cannot say)."""
    try:
        return {"trading_halt": trading_halt(db.session)}
    except sa.exc.SQLAlchemyError:
        return {"trading_halt": None}
