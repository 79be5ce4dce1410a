"""The one write path for orders and executed trades, and the analytics read from them.

``settle_orders`` is the only code that moves tokens: in one database transaction it locks the
orders, the pools, desks and balances they touch (always in the same order: orders, pools, desks,
balances, each by id, so two workers never deadlock), re-prices every leg against the locked
state, enforces each order's ``min_amount_out`` (an order that no longer meets it fails alone,
its hold released) and then writes reserves, inventories, balances, ledger entries, the trades,
their fills and the orders' final states together. Anything else that goes wrong raises and the
transaction rolls back: nothing is half-written.

The lifecycle writes (``create_order``, ``advance``, ``fail_order``) are here too, so every
change of an order's state goes through this module.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm.attributes import set_committed_value

import otc_engine
from amm import Pool
from errors import (
    InsufficientBalanceError,
    InsufficientLiquidityError,
    OrderConflictError,
    SlippageExceededError,
    ValidationError,
)
from execution_plan import ExecutedLeg, ExecutionPlan, price_of, settle_plan
from models import (
    FINAL_STATUSES,
    Account,
    AccountKind,
    AmmPool,
    Balance,
    DbSession,
    Fill,
    LedgerEntry,
    Order,
    OrderEvent,
    OrderStatus,
    OTCPool,
    Trade,
    utcnow,
)
from tokens import format_amount, get_token
from venue_state import JUPITER_ACCOUNT, TREASURY_ACCOUNT, desk_from_row, pool_from_row

__all__ = [
    "ClaimedOrder",
    "FailedOrder",
    "RecordedTrade",
    "Refusal",
    "SettledBatch",
    "Settlement",
    "Step",
    "StoredEvent",
    "advance",
    "claim_stale_orders",
    "create_order",
    "fail_order",
    "replayed_order",
    "request_hash",
    "settle_orders",
]

PHASE_COLUMNS = {
    OrderStatus.QUOTING: "quoting_at",
    OrderStatus.ROUTING: "routing_at",
    OrderStatus.BUILDING: "building_at",
    OrderStatus.SUBMITTED: "submitted_at",
    OrderStatus.CONFIRMED: "confirmed_at",
    OrderStatus.FAILED: "failed_at",
}


# --- the order lifecycle ------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A lifecycle transition as it happened; stored (as an OrderEvent) by whichever write ends it."""

    status: OrderStatus
    message: str
    at: datetime = field(default_factory=lambda: utcnow())


@dataclass(frozen=True)
class StoredEvent:
    """An OrderEvent as committed: ``seq`` (its id) orders an order's updates for clients."""

    seq: int
    status: str
    message: str
    at: datetime


def _record_steps(
    order: Order,
    steps: Sequence[Step],
    attempt: int | None,
    route: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """An attempt's steps as event rows (applied to the order), with the attempt number and route."""
    events = [_event(order, s.status, s.message, s.at) for s in steps]
    if attempt is not None:
        order.attempts = attempt
    if route is not None:
        order.route = dict(route)
    return events


def request_hash(payload: Mapping[str, Any]) -> str:
    """A stable digest of an order request, to tell a replay from a different reuse of a key."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _event(order: Order, status: OrderStatus, message: str, at: datetime) -> dict[str, Any]:
    """Move ``order`` to ``status`` at ``at``; the OrderEvent row to insert for it."""
    order.status = status
    order.updated_at = at
    column = PHASE_COLUMNS.get(status)
    if column is not None:
        setattr(order, column, at)
    return {"order_id": order.id, "status": status.value, "message": message, "created_at": at}


def _insert_events(session: DbSession, rows: Sequence[Mapping[str, Any]]) -> list[StoredEvent]:
    """Insert event rows in one statement; their ids (``seq``) come back in the rows' order."""
    if not rows:
        return []
    ids = _insert_returning_ids(session, OrderEvent, rows)
    return [
        StoredEvent(seq, row["status"], row["message"], row["created_at"])
        for seq, row in zip(ids, rows, strict=True)
    ]


def replayed_order(
    session: DbSession, account_id: int, idempotency_key: str, request_digest: str
) -> Order | None:
    """The account's earlier order under this Idempotency-Key, or None.

    Raises OrderConflictError when that order was a different request (``request_digest``).
    """
    existing: Order | None = session.execute(
        sa.select(Order).where(Order.account_id == account_id, Order.idempotency_key == idempotency_key)
    ).scalar_one_or_none()
    if existing is not None and existing.request_hash != request_digest:
        raise OrderConflictError(
            "this Idempotency-Key was already used for a different order request", field="Idempotency-Key"
        )
    return existing


_BALANCES: sa.Table = Balance.__table__
_ORDERS: sa.Table = Order.__table__
_EVENTS: sa.Table = OrderEvent.__table__
_HOLD = (
    sa.update(_BALANCES)
    .where(
        _BALANCES.c.account_id == sa.bindparam("hold_account"),
        _BALANCES.c.token == sa.bindparam("hold_token"),
        _BALANCES.c.amount - _BALANCES.c.reserved >= sa.bindparam("hold_units"),
    )
    .values(reserved=_BALANCES.c.reserved + sa.bindparam("hold_units"), updated_at=sa.bindparam("hold_at"))
)


_ORDER_COLUMNS = (
    "id",
    "account_id",
    "token_in",
    "token_out",
    "amount_in",
    "order_type",
    "strategy",
    "slippage_bps",
    "quoted_amount_out",
    "min_amount_out",
    "status",
    "idempotency_key",
    "request_hash",
    "attempts",
    "route",
    "created_at",
    "updated_at",
)


def _create_in_one_statement() -> sa.Insert:
    """PostgreSQL: hold the input, insert the order and its ``pending`` event in one statement.

    ``WITH hold AS (UPDATE balances ... RETURNING), new_order AS (INSERT ... SELECT ... FROM hold
    RETURNING id) INSERT INTO order_events ... SELECT ... FROM new_order RETURNING order_id``: no
    row comes back when the balance cannot cover the order, and nothing is written then. One
    round trip instead of three: this runs once per submission.
    """
    hold = _HOLD.returning(_BALANCES.c.account_id).cte("hold")
    order_values = sa.select(
        *(sa.bindparam(f"order_{name}", type_=_ORDERS.c[name].type) for name in _ORDER_COLUMNS)
    ).select_from(hold)
    new_order = (
        sa.insert(_ORDERS)
        .from_select(list(_ORDER_COLUMNS), order_values)
        .returning(_ORDERS.c.id)
        .cte("new_order")
    )
    event_values = sa.select(
        new_order.c.id,
        sa.bindparam("event_status", type_=_EVENTS.c.status.type),
        sa.bindparam("event_message", type_=_EVENTS.c.message.type),
        sa.bindparam("event_at", type_=_EVENTS.c.created_at.type),
    )
    return (
        sa.insert(_EVENTS)
        .from_select(["order_id", "status", "message", "created_at"], event_values)
        .returning(_EVENTS.c.order_id)
    )


_CREATE = _create_in_one_statement()


def _in_transaction(session: DbSession) -> bool:
    real = session() if isinstance(session, scoped_session) else session
    return real.in_transaction()


@functools.cache
def _create_sql(dialect: sa.Dialect) -> str:
    return str(_CREATE.compile(dialect=dialect))


def _create_on_postgres(session: DbSession, bind: sa.Engine | sa.Connection, params: dict[str, Any]) -> int:
    """Run ``_CREATE``; the number of orders it inserted (1, or 0 when the balance is short).

    Submission's hot path: the statement is compiled once and sent as the driver's SQL, on a
    connection of its own in autocommit unless the session has a transaction open (then it joins
    it). The statement is atomic on its own: psycopg2 would send BEGIN before it and COMMIT after
    it, two more round trips (each a wake-up of both processes) for nothing. SQLAlchemy's
    statement execution and session bookkeeping cost twice the rest of placing the order (440
    against 230 µs of CPU, measured), so the binds are converted here: the route as JSON text,
    and ``status`` as its value; datetimes are ``utcnow()``'s, aware and UTC.
    """
    params["order_status"] = OrderStatus(params["order_status"]).value
    if params["order_route"] is not None:
        params["order_route"] = json.dumps(params["order_route"])
    sql = _create_sql(bind.dialect)
    if _in_transaction(session) or not isinstance(bind, sa.Engine):  # after the key lookup, say
        return len(session.connection().exec_driver_sql(sql, params).all())
    with bind.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.autocommit = True  # psycopg2 sends nothing for this: it only stops sending BEGIN
        try:
            return len(conn.exec_driver_sql(sql, params).all())
        finally:
            if not raw.closed:  # a connection that died is discarded: leave its error to the caller
                raw.autocommit = False


def create_order(
    session: DbSession,
    account_id: int,
    *,
    token_in: str,
    token_out: str,
    amount_in: int,
    strategy: str,
    slippage_bps: int,
    quoted_amount_out: int,
    min_amount_out: int,
    route: Mapping[str, Any] | None,
    idempotency_key: str | None,
    request_digest: str,
) -> tuple[Order, bool]:
    """Insert a pending order and hold its input on the balance; returns (order, created).

    With an Idempotency-Key already used by this account, returns the earlier order instead
    (``created`` False), or raises OrderConflictError if that order was a different request.
    """
    if idempotency_key is not None:
        existing = replayed_order(session, account_id, idempotency_key, request_digest)
        if existing is not None:
            return existing, False
    try:
        now = utcnow()
        values: dict[str, Any] = dict(
            id=uuid.uuid4().hex,
            account_id=account_id,
            token_in=token_in,
            token_out=token_out,
            amount_in=amount_in,
            order_type="market",
            strategy=strategy,
            slippage_bps=slippage_bps,
            quoted_amount_out=quoted_amount_out,
            min_amount_out=min_amount_out,
            status=OrderStatus.PENDING,
            idempotency_key=idempotency_key,
            request_hash=request_digest,
            attempts=0,
            route=dict(route) if route is not None else None,
            created_at=now,
            updated_at=now,
        )
        order = Order(**values)  # the caller's copy of what is written (not in the session)
        event = _event(order, OrderStatus.PENDING, "order received", now)
        hold = {"hold_account": account_id, "hold_token": token_in, "hold_units": amount_in, "hold_at": now}
        # A guarded UPDATE holds the input: atomic under concurrency on both databases. Core, not
        # the ORM's bulk-DML path, which costs more than the statements (on PostgreSQL, the
        # driver's SQL: see _create_on_postgres).
        bind = session.get_bind()
        if bind.dialect.name == "postgresql":
            params = hold | {f"order_{name}": values[name] for name in _ORDER_COLUMNS}
            params |= {"event_status": event["status"], "event_message": event["message"], "event_at": now}
            held = _create_on_postgres(session, bind, params)
        else:
            conn = session.connection()
            held = conn.execute(_HOLD, hold).rowcount
            if held == 1:
                conn.execute(_ORDERS.insert(), values)
                conn.execute(_EVENTS.insert(), event)
        if held != 1:
            available = (
                session.execute(
                    sa.select(Balance.amount - Balance.reserved).where(
                        Balance.account_id == account_id, Balance.token == token_in
                    )
                ).scalar_one_or_none()
                or 0
            )
            raise InsufficientBalanceError(
                f"balance too small: {format_amount(token_in, available)} {token_in} available, "
                f"order needs {format_amount(token_in, amount_in)}",
                field="amountIn",
            )
        if _in_transaction(session):
            session.commit()
    except sa.exc.IntegrityError:
        # A concurrent request with the same Idempotency-Key won the insert: answer with its order.
        session.rollback()
        existing = (
            None
            if idempotency_key is None
            else replayed_order(session, account_id, idempotency_key, request_digest)
        )
        if existing is None:
            raise
        return existing, False
    except BaseException:
        session.rollback()
        raise
    return order, True


def advance(
    session: DbSession,
    order_id: str,
    steps: Sequence[Step],
    *,
    attempt: int | None = None,
    route: Mapping[str, Any] | None = None,
) -> tuple[Order, list[StoredEvent]] | None:
    """Record lifecycle steps of a live order in one commit; None if the order is final or gone."""
    try:
        order = session.get(Order, order_id, with_for_update=True, populate_existing=True)
        if order is None or order.status in FINAL_STATUSES:
            session.rollback()
            return None
        events = _record_steps(order, steps, attempt, route)
        stored = _insert_events(session, events)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return order, stored


def fail_order(
    session: DbSession,
    order_id: str,
    code: str,
    message: str,
    *,
    steps: Sequence[Step] = (),
    attempt: int | None = None,
    route: Mapping[str, Any] | None = None,
) -> tuple[Order, list[StoredEvent]] | None:
    """Mark a live order failed (after ``steps``) and release its held input; None if already final.

    ``route``, when given, is the route it attempted: kept on the order so its page can show it."""
    try:
        order = session.get(Order, order_id, with_for_update=True, populate_existing=True)
        if order is None or order.status in FINAL_STATUSES:
            session.rollback()
            return None
        events = _record_steps(order, steps, attempt, route)
        balance = session.execute(
            sa.select(Balance)
            .where(Balance.account_id == order.account_id, Balance.token == order.token_in)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        # Never below zero: a hold written off meanwhile (an adjusted balance) has nothing to release.
        balance.reserved -= min(balance.reserved, order.amount_in)
        balance.updated_at = utcnow()
        order.error_code = code
        order.error_message = message
        events.append(_event(order, OrderStatus.FAILED, message, utcnow()))
        stored = _insert_events(session, events)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return order, stored


@dataclass(frozen=True)
class ClaimedOrder:
    """An unfinished order that recovery took over: its status then, and the attempts it had used."""

    order_id: str
    status: str
    attempts: int


def claim_stale_orders(
    session: DbSession, *, stale_after_s: float, now_s: float, limit: int = 500
) -> list[ClaimedOrder]:
    """Take over orders left unfinished longer than ``stale_after_s``, oldest first, one commit each.

    An order waiting for its OTC settlement is not stuck, and a row another transaction holds is
    being worked on: both are skipped, never waited for. Each claim is a compare-and-set on
    ``updated_at`` that also counts an attempt, so two recoverers never both take an order and an
    order that kills every worker runs out of attempts.
    """
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    rows = session.execute(
        sa.select(Order.id, Order.status, Order.attempts, Order.route)
        .where(Order.status.not_in([s.value for s in FINAL_STATUSES]), Order.updated_at < cutoff)
        .order_by(Order.created_at)
        .limit(limit)
    ).all()
    claimed: list[ClaimedOrder] = []
    for order_id, status, attempts, route in rows:
        settle_at = (route or {}).get("settle_at")
        if status == OrderStatus.SUBMITTED and settle_at and now_s < settle_at + stale_after_s:
            continue
        live = session.execute(
            sa.select(Order.id)
            .where(Order.id == order_id, Order.updated_at < cutoff)
            .with_for_update(skip_locked=True)
        ).first()
        if live is None:
            session.rollback()
            continue
        result = session.execute(
            sa.update(Order)
            .where(Order.id == order_id, Order.updated_at < cutoff)
            .values(updated_at=utcnow(), attempts=Order.attempts + 1)
        )
        count = result.rowcount if isinstance(result, sa.CursorResult) else 0
        session.commit()
        if count:
            claimed.append(ClaimedOrder(order_id, status, attempts))
    return claimed


# --- executing a trade --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """A routed order to settle now: its plan, and the steps its attempt took to get there."""

    order_id: str
    plan: ExecutionPlan
    steps: Sequence[Step] = ()
    attempt: int | None = None
    route: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Refusal:
    """An order to fail in the settling transaction: a business rejection found while routing."""

    order_id: str
    code: str
    message: str
    steps: Sequence[Step] = ()
    attempt: int | None = None
    route: Mapping[str, Any] | None = None  # the route it attempted, when it got that far


@dataclass(frozen=True)
class RecordedTrade:
    """A settled order, as committed: for the job to publish."""

    order: Order
    trade: Mapping[str, Any]  # the trades row, with its id
    fills: tuple[Mapping[str, Any], ...]  # the fills rows, with their ids
    legs: tuple[ExecutedLeg, ...]
    message: str
    events: tuple[StoredEvent, ...]

    @property
    def order_id(self) -> str:
        return self.order.id

    @property
    def amount_out(self) -> int:
        return int(self.trade["amount_out"])


@dataclass(frozen=True)
class FailedOrder:
    """An order a settlement failed (its hold released), as committed."""

    order: Order
    code: str
    message: str
    events: tuple[StoredEvent, ...]


@dataclass(frozen=True)
class SettledBatch:
    """What one settling transaction changed, for the job to publish after commit."""

    trades: tuple[RecordedTrade, ...] = ()
    failed: tuple[FailedOrder, ...] = ()
    already_final: tuple[str, ...] = ()  # orders some earlier job finished: nothing done
    pools: tuple[Pool, ...] = ()  # every pool the batch moved, as it is now
    desks: tuple[otc_engine.Desk, ...] = ()  # every desk it traded with, as it is now


def settle_orders(
    session: DbSession,
    settlements: Sequence[Settlement],
    refusals: Sequence[Refusal] = (),
    *,
    now: float,
) -> SettledBatch:
    """Settle routed orders (and fail refused ones) in one transaction: all of it moves, or nothing.

    Each settlement is re-priced, in the given order, against the locked current state as the
    earlier ones left it. One whose legs now pay less than its minimum (SlippageExceededError), a
    desk that can no longer fill (InsufficientLiquidityError) or a held input that is gone
    (InsufficientBalanceError) fails that order alone, in the same transaction, with its hold
    released. Anything else raises and the whole transaction rolls back.
    """
    try:
        result = _settle(session, settlements, refusals, now)
        session.commit()
        return result
    except BaseException:
        session.rollback()
        raise


def _settle(
    session: DbSession, settlements: Sequence[Settlement], refusals: Sequence[Refusal], now: float
) -> SettledBatch:
    order_ids = sorted({s.order_id for s in settlements} | {r.order_id for r in refusals})
    orders: dict[str, Order] = _locked_by_id(session, Order, order_ids)
    live = {oid: o for oid, o in orders.items() if o.status not in FINAL_STATUSES}
    todo = [s for s in settlements if s.order_id in live]
    for s in todo:
        if sum(leg.amount_in for leg in s.plan.legs if leg.hop == 0) != live[s.order_id].amount_in:
            raise ValidationError(
                f"order {s.order_id}: the plan's first-hop legs do not add up to its amount", field="legs"
            )
    batch = _Batch(session, live, todo, [r for r in refusals if r.order_id in live], now)
    for s in todo:
        batch.settle(s)
    for r in refusals:
        if r.order_id in live:
            batch.fail(live[r.order_id], r.code, r.message, r.steps, r.attempt, r.route)
    return batch.write(already_final=tuple(oid for oid in order_ids if oid not in live))


@dataclass
class _Outcome:
    """One order's outcome in a batch, before it is written: its event rows, and a trade's rows."""

    order: Order
    events: list[dict[str, Any]]
    code: str = ""  # a failure's
    message: str = ""
    trade: dict[str, Any] | None = None  # a settled order's trade row, its legs and its message
    executed: tuple[ExecutedLeg, ...] = ()


class _Batch:
    """A settling transaction: the rows it locked, the venues as its trades leave them, and the
    outcomes it will write. Locks are taken in one global order (orders, pools, desks, balances,
    each by id), so two workers never deadlock."""

    def __init__(
        self,
        session: DbSession,
        live: Mapping[str, Order],
        todo: Sequence[Settlement],
        refusals: Sequence[Refusal],
        now: float,
    ) -> None:
        self.session, self.now, self.stamp = session, now, utcnow()
        legs = [leg for s in todo for leg in s.plan.legs]
        self.pool_rows: dict[str, AmmPool] = _locked_by_id(
            session, AmmPool, sorted({leg.venue_id for leg in legs if leg.kind == "amm"})
        )
        self.desk_rows: dict[str, OTCPool] = _locked_by_id(
            session, OTCPool, sorted({leg.venue_id for leg in legs if leg.kind == "otc"})
        )
        settled = [live[s.order_id] for s in todo]
        wanted = {(o.account_id, o.token_in) for o in settled} | {
            (o.account_id, o.token_out) for o in settled
        }
        wanted |= {(live[r.order_id].account_id, live[r.order_id].token_in) for r in refusals}
        self.balances = _locked_balances(session, wanted)
        self.pools = {pid: pool_from_row(row) for pid, row in self.pool_rows.items()}
        self.desks = {
            did: otc_engine.refilled(desk_from_row(row), now) for did, row in self.desk_rows.items()
        }
        # Inventory a desk regained since its last trade came from outside: the ledger must say so.
        self.refills = {
            did: (
                self.desks[did].inventory_base - row.inventory_base,
                self.desks[did].inventory_quote - row.inventory_quote,
            )
            for did, row in self.desk_rows.items()
        }
        self.live = live
        self.trades: list[_Outcome] = []
        self.failures: list[_Outcome] = []
        self.changed: set[tuple[int, str]] = set()  # balances to write back
        self.created: set[tuple[int, str]] = set()  # balances to insert
        self.refilled_by: dict[str, str] = {}  # desk id → the first order that traded with it

    def fail(
        self,
        order: Order,
        code: str,
        message: str,
        steps: Sequence[Step],
        attempt: int | None,
        route: Mapping[str, Any] | None = None,
    ) -> None:
        """Fail ``order`` after ``steps``, releasing its held input (``route``: the one it attempted)."""
        events = _record_steps(order, steps, attempt, route)
        balance = self.balances.get((order.account_id, order.token_in))
        if balance is not None:  # never below zero: a hold written off meanwhile has nothing to release
            balance.reserved -= min(balance.reserved, order.amount_in)
            balance.updated_at = self.stamp
            self.changed.add((order.account_id, order.token_in))
        order.error_code, order.error_message = code, message
        events.append(_event(order, OrderStatus.FAILED, message, self.stamp))
        self.failures.append(_Outcome(order, events, code, message))

    def settle(self, s: Settlement) -> None:
        """Reprice ``s`` on the venues as the batch's earlier trades left them; trade it, or fail it."""
        order = self.live[s.order_id]
        try:
            repriced = settle_plan(
                s.plan,
                order.token_out,
                order.min_amount_out,
                order.slippage_bps,
                self.pools,
                self.desks,
                self.now,
            )
            sell = self.balances.get((order.account_id, order.token_in))
            if sell is None or sell.reserved < order.amount_in or sell.amount < order.amount_in:
                raise InsufficientBalanceError("the order's held balance is gone", field="amountIn")
        except (SlippageExceededError, InsufficientLiquidityError, InsufficientBalanceError) as exc:
            self.fail(order, exc.code, exc.message, s.steps, s.attempt, s.route)
            return
        self.pools, self.desks = repriced.pools, repriced.desks
        total_out = repriced.amount_out
        sell.amount -= order.amount_in
        sell.reserved -= order.amount_in
        sell.updated_at = self.stamp
        buy_key = (order.account_id, order.token_out)
        buy = self.balances.get(buy_key)
        if buy is None:  # not in the session: inserted with the others' updates, in write()
            buy = Balance(account_id=order.account_id, token=order.token_out, amount=0, reserved=0)
            self.balances[buy_key] = buy
            self.created.add(buy_key)
        buy.amount += total_out
        buy.updated_at = self.stamp
        self.changed |= {(order.account_id, order.token_in), buy_key}
        for e in repriced.legs:
            if e.planned.kind == "otc":
                self.refilled_by.setdefault(e.planned.venue_id, order.id)
        trade = _trade_row(order, s.plan, total_out, s.plan.decimal_prices(), self.stamp)
        order.amount_out = total_out
        venues = ", ".join(
            f"{e.planned.venue} {format_amount(e.planned.token_in, e.amount_in)} {e.planned.token_in}"
            for e in repriced.legs
        )
        message = (
            f"filled {format_amount(order.token_out, total_out)} {order.token_out} via {venues} (paper fills)"
        )
        events = _record_steps(order, s.steps, s.attempt, s.route)
        events.append(_event(order, OrderStatus.CONFIRMED, message, self.stamp))
        self.trades.append(_Outcome(order, events, message=message, trade=trade, executed=repriced.legs))

    def write(self, already_final: tuple[str, ...]) -> SettledBatch:
        """Write every outcome, each table in one statement (trades first: fills and ledger entries
        point at them); what was written, for the job to publish."""
        session, stamp = self.session, self.stamp
        trade_rows = [t.trade for t in self.trades if t.trade is not None]
        trade_ids = _insert_returning_ids(session, Trade, trade_rows)
        counterparties = _Counterparties(session)
        fills: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        trade_of: dict[str, int] = {}
        for t, trade, trade_id in zip(self.trades, trade_rows, trade_ids, strict=True):
            trade["id"] = trade_of[t.order.id] = trade_id
            fills.extend(_fill_rows(t.order, trade_id, t.executed, stamp))
            entries.extend(
                _ledger_rows(
                    t.order, trade_id, t.executed, self.pool_rows, self.desk_rows, counterparties, stamp
                )
            )
        for did, order_id in self.refilled_by.items():
            entries.extend(
                _refill_rows(
                    self.desk_rows[did],
                    self.refills[did],
                    trade_of[order_id],
                    order_id,
                    counterparties,
                    stamp,
                )
            )
        fill_ids = _insert_returning_ids(session, Fill, fills)
        for row, fill_id in zip(fills, fill_ids, strict=True):
            row["id"] = fill_id
        if entries:
            session.connection().execute(LedgerEntry.__table__.insert(), entries)
        outcomes = self.trades + self.failures
        stored = _insert_events(session, [row for o in outcomes for row in o.events])

        moved_pools = sorted(
            {e.planned.venue_id for t in self.trades for e in t.executed if e.planned.kind == "amm"}
        )
        for pid in moved_pools:
            row, pool = self.pool_rows[pid], self.pools[pid]
            row.reserve_a, row.reserve_b, row.updated_at = pool.reserve_a, pool.reserve_b, stamp
        # A desk no trade used keeps its row: its refill accrues from the same instant next time.
        traded_desks = sorted(self.refilled_by)
        for did in traded_desks:
            row, desk = self.desk_rows[did], self.desks[did]
            row.inventory_base, row.inventory_quote = desk.inventory_base, desk.inventory_quote
            row.inventory_at, row.updated_at = desk.updated_at, stamp
        _write_back(
            session,
            orders=[o.order for o in outcomes],
            balances=[self.balances[key] for key in sorted(self.changed - self.created)],
            new_balances=[self.balances[key] for key in sorted(self.created)],
            pools=[self.pool_rows[pid] for pid in moved_pools],
            desks=[self.desk_rows[did] for did in traded_desks],
        )

        by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in fills:
            by_order[row["order_id"]].append(row)
        events_of: list[tuple[StoredEvent, ...]] = []  # per outcome: the stored events come back in order
        cursor = 0
        for o in outcomes:
            events_of.append(tuple(stored[cursor : cursor + len(o.events)]))
            cursor += len(o.events)
        recorded = tuple(
            RecordedTrade(t.order, trade, tuple(by_order[t.order.id]), t.executed, t.message, events)
            for t, trade, events in zip(self.trades, trade_rows, events_of, strict=False)
        )
        failed = tuple(
            FailedOrder(f.order, f.code, f.message, events)
            for f, events in zip(self.failures, events_of[len(self.trades) :], strict=True)
        )
        return SettledBatch(
            trades=recorded,
            failed=failed,
            already_final=already_final,
            pools=tuple(self.pools[pid] for pid in moved_pools),
            desks=tuple(self.desks[did] for did in traded_desks),
        )


# What a settlement changes, per table: the key, then the columns written back.
_WRITE_BACK: dict[Any, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Order: (
        ("id",),
        (
            "status",
            "amount_out",
            "error_code",
            "error_message",
            "attempts",
            "route",
            "updated_at",
            *sorted(set(PHASE_COLUMNS.values())),
        ),
    ),
    Balance: (("account_id", "token"), ("amount", "reserved", "updated_at")),
    AmmPool: (("id",), ("reserve_a", "reserve_b", "updated_at")),
    OTCPool: (("id",), ("inventory_base", "inventory_quote", "inventory_at", "updated_at")),
}


def _update_statement(model: Any) -> sa.Update:
    keys, columns = _WRITE_BACK[model]
    table: sa.Table = model.__table__
    return (
        table.update()
        .where(*(table.c[k] == sa.bindparam(f"k_{k}") for k in keys))
        .values({c: sa.bindparam(f"v_{c}") for c in columns})
    )


_UPDATES = {model: _update_statement(model) for model in _WRITE_BACK}


def _write_back(
    session: DbSession,
    *,
    orders: Sequence[Order],
    balances: Sequence[Balance],
    new_balances: Sequence[Balance],
    pools: Sequence[AmmPool],
    desks: Sequence[OTCPool],
) -> None:
    """Write the rows a settlement changed with one statement per table, then mark their ORM
    objects as stored so that the session does not write them again. The session's flush sent one
    UPDATE per run of rows with the same changed columns: for balances, about one per account."""
    conn = session.connection()
    if new_balances:
        _, columns = _WRITE_BACK[Balance]
        conn.execute(
            Balance.__table__.insert(),
            [
                {"account_id": b.account_id, "token": b.token, **{c: getattr(b, c) for c in columns}}
                for b in new_balances
            ],
        )
    for model, rows in ((Order, orders), (Balance, balances), (AmmPool, pools), (OTCPool, desks)):
        if not rows:
            continue
        keys, columns = _WRITE_BACK[model]
        conn.execute(
            _UPDATES[model],
            [
                {**{f"k_{k}": getattr(r, k) for k in keys}, **{f"v_{c}": getattr(r, c) for c in columns}}
                for r in rows
            ],
        )
        for r in rows:
            for c in columns:
                set_committed_value(r, c, getattr(r, c))


def _trade_row(
    order: Order, plan: ExecutionPlan, total_out: int, prices: Mapping[str, Decimal], stamp: datetime
) -> dict[str, Any]:
    price_in = float(prices.get(order.token_in, 0))
    price_out = float(prices.get(order.token_out, 0))
    out_scale = 10 ** -get_token(order.token_out).decimals
    best_single = plan.best_single_amount_out
    return dict(
        order_id=order.id,
        account_id=order.account_id,
        token_in=order.token_in,
        token_out=order.token_out,
        strategy=order.strategy,
        amount_in=order.amount_in,
        amount_out=total_out,
        quoted_amount_out=order.quoted_amount_out,
        price=price_of(order.token_in, order.token_out, order.amount_in, total_out),
        best_single_venue=plan.best_single_venue,
        best_single_amount_out=best_single,
        jupiter_amount_out=plan.jupiter_amount_out,
        price_impact_bps=None if plan.price_impact_bps is None else Decimal(plan.price_impact_bps),
        optimality_gap_bps=None if plan.optimality_gap_bps is None else Decimal(plan.optimality_gap_bps),
        notional_usd=order.amount_in * 10 ** -get_token(order.token_in).decimals * price_in,
        savings_usd=0.0 if best_single is None else (total_out - best_single) * out_scale * price_out,
        latency_ms=(stamp - order.created_at).total_seconds() * 1000.0,
        executed_at=stamp,
    )


def _fill_rows(
    order: Order, trade_id: int, executed: Sequence[ExecutedLeg], stamp: datetime
) -> list[dict[str, Any]]:
    return [
        dict(
            trade_id=trade_id,
            order_id=order.id,
            leg_index=index,
            venue_id=e.planned.venue_id,
            venue=e.planned.venue,
            kind=e.planned.kind,
            hop=e.planned.hop,
            path=">".join(e.planned.path),
            token_in=e.planned.token_in,
            token_out=e.planned.token_out,
            amount_in=e.amount_in,
            amount_out=e.amount_out,
            quoted_amount_out=e.planned.amount_out,
            price=price_of(e.planned.token_in, e.planned.token_out, e.amount_in, e.amount_out),
            fee=e.fee,
            fee_bps=e.fee_bps,
            is_paper=True,
            created_at=stamp,
        )
        for index, e in enumerate(executed)
    ]


def _ledger_rows(
    order: Order,
    trade_id: int,
    executed: Sequence[ExecutedLeg],
    pool_rows: Mapping[str, AmmPool],
    desk_rows: Mapping[str, OTCPool],
    counterparties: _Counterparties,
    stamp: datetime,
) -> list[dict[str, Any]]:
    """The trade's double entry: the trader against each venue's account, per token summing to zero."""
    journal = f"trade-{order.id}"
    total_out = sum(e.amount_out for e in executed if e.planned.token_out == order.token_out)
    common = {"trade_id": trade_id, "journal": journal, "created_at": stamp}
    entries = [
        dict(
            account_id=order.account_id, token=order.token_in, amount=-order.amount_in, memo="sold", **common
        ),
        dict(account_id=order.account_id, token=order.token_out, amount=total_out, memo="bought", **common),
    ]
    for e in executed:
        leg = e.planned
        if leg.kind == "amm":
            account_id = pool_rows[leg.venue_id].account_id
        elif leg.kind == "otc":
            account_id = desk_rows[leg.venue_id].account_id
        else:
            account_id = counterparties.jupiter()
        memo = f"{leg.venue} {leg.token_in}->{leg.token_out}"
        entries.append(
            dict(account_id=account_id, token=leg.token_in, amount=e.amount_in, memo=memo, **common)
        )
        entries.append(
            dict(account_id=account_id, token=leg.token_out, amount=-e.amount_out, memo=memo, **common)
        )
    return entries


def _insert_returning_ids(session: DbSession, model: Any, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert ``rows`` in one statement; their new ids, in the rows' order."""
    if not rows:
        return []
    table: sa.Table = model.__table__
    # Core on the session's connection: the ORM's bulk insert would autoflush and cost more than
    # the statement (the ORM changes are flushed once, at the end of the settlement).
    statement = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    return list(session.connection().execute(statement, list(rows)).scalars().all())


def _locked_by_id(session: DbSession, model: Any, ids: Sequence[str]) -> dict[str, Any]:
    """The rows with these ids, locked in id order (one global order: workers never deadlock)."""
    if not ids:
        return {}
    rows = session.execute(
        sa.select(model)
        .where(model.id.in_(ids))
        .order_by(model.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalars()
    return {row.id: row for row in rows}


class _Counterparties:
    """The treasury's and Jupiter's ledger accounts, looked up once per transaction when needed."""

    def __init__(self, session: DbSession) -> None:
        self._session = session
        self._ids: dict[str, int] = {}

    def _id(self, name: str, kind: AccountKind) -> int:
        if name not in self._ids:
            self._ids[name] = self._session.execute(
                sa.select(Account.id).where(Account.name == name, Account.kind == kind)
            ).scalar_one()
        return self._ids[name]

    def jupiter(self) -> int:
        return self._id(JUPITER_ACCOUNT, AccountKind.COUNTERPARTY)

    def treasury(self) -> int:
        return self._id(TREASURY_ACCOUNT, AccountKind.TREASURY)


def _locked_balances(session: DbSession, wanted: set[tuple[int, str]]) -> dict[tuple[int, str], Balance]:
    """The balances (account, token) in ``wanted`` that exist, locked in (account, token) order."""
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(Balance)
        .where(sa.tuple_(Balance.account_id, Balance.token).in_(sorted(wanted)))
        .order_by(Balance.account_id, Balance.token)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalars()
    return {(b.account_id, b.token): b for b in rows}


def _refill_rows(
    row: OTCPool,
    delta: tuple[int, int],
    trade_id: int,
    order_id: str,
    counterparties: _Counterparties,
    stamp: datetime,
) -> list[dict[str, Any]]:
    """Ledger entries for a desk's refill (treasury to desk), posted with the first trade that used
    the desk since; per token they sum to zero."""
    entries: list[dict[str, Any]] = []
    journal = f"refill-{order_id}"
    for token, units in ((row.base, delta[0]), (row.quote, delta[1])):
        if units:
            common = {
                "token": token,
                "trade_id": trade_id,
                "journal": journal,
                "memo": f"{row.name} inventory refill",
                "created_at": stamp,
            }
            entries.append({"account_id": row.account_id, "amount": units, **common})
            entries.append({"account_id": counterparties.treasury(), "amount": -units, **common})
    return entries
