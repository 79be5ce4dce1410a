"""The one write path for orders and executed trades, and the analytics read from them.

``settle_orders`` is the only code that moves tokens: in one database transaction it locks the
orders, the pools, desks and balances they touch (always in the same order: orders, pools, desks,
balances, each by id, so two workers never deadlock), re-prices every leg against the locked
state, enforces each order's ``min_amount_out`` (an order that no longer meets it fails alone,
its hold released) and then writes reserves, inventories, balances, ledger entries, the trades,
their fills and the orders' final states together. Anything else that goes wrong raises and the
transaction rolls back: nothing is half-written.

The lifecycle writes (``create_order``, ``advance``, ``fail_order``, and a TWAP's
``start_twap_slice``) are here too, so every change of an order's state goes through this module;
a TWAP slice that settles or fails moves its parent on in the same transaction.
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
from decimal import Decimal, localcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm.attributes import set_committed_value

import otc_engine
import twap
from amm import Pool
from errors import (
    InsufficientBalanceError,
    InsufficientLiquidityError,
    OrderConflictError,
    PriceMovedError,
    SlippageExceededError,
    ValidationError,
)
from execution_plan import ExecutedLeg, ExecutionPlan, minimum_source, price_of, settle_plan
from models import (
    FINAL_STATUSES,
    NOT_EXECUTABLE,
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
from pnl import trade_value_usd
from portfolio import Move, record_moves
from tokens import format_amount, get_token
from venue_state import JUPITER_ACCOUNT, TREASURY_ACCOUNT, desk_from_row, pool_from_row

__all__ = [
    "CancelResult",
    "ClaimedOrder",
    "FailedOrder",
    "ParentChange",
    "RecordedTrade",
    "Refusal",
    "RestingChanges",
    "SettledBatch",
    "Settlement",
    "Step",
    "StoredEvent",
    "TriggerRequest",
    "advance",
    "cancel_order",
    "claim_stale_orders",
    "create_order",
    "fail_order",
    "oco_hold",
    "replayed_order",
    "request_hash",
    "settle_orders",
    "start_twap_slice",
    "trigger_orders",
    "twap_slices_due",
]

PHASE_COLUMNS = {
    OrderStatus.QUOTING: "quoting_at",
    OrderStatus.ROUTING: "routing_at",
    OrderStatus.BUILDING: "building_at",
    OrderStatus.SUBMITTED: "submitted_at",
    OrderStatus.CONFIRMED: "confirmed_at",
    OrderStatus.FAILED: "failed_at",
    OrderStatus.CANCELLED: "cancelled_at",
    OrderStatus.EXPIRED: "expired_at",
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


# The columns of orders beyond market, with their value for a plain market order.
_ORDER_TYPE_DEFAULTS: dict[str, Any] = {
    "exact_side": "in",
    "amount_out_wanted": None,
    "limit_price": None,
    "trigger_price": None,
    "expires_at": None,
    "oco_group": None,
    "parent_id": None,
    "slices": None,
    "interval_s": None,
    "slice_index": None,
    "slices_sent": 0,
    "next_run_at": None,
    "on_child_failure": None,
    "filled_amount_in": 0,
    "filled_amount_out": 0,
}
_ORDER_TYPE_COLUMNS = tuple(_ORDER_TYPE_DEFAULTS)

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
    *_ORDER_TYPE_COLUMNS,
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
    for name in ("order_limit_price", "order_trigger_price"):  # ExactDecimal's text
        if params[name] is not None:
            params[name] = str(params[name])
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
    order_type: str = "market",
    status: OrderStatus = OrderStatus.PENDING,
    message: str = "order received",
    columns: Mapping[str, Any] | None = None,
    hold_units: int | None = None,
) -> tuple[Order, bool]:
    """Insert an order and hold its input on the balance; returns (order, created).

    A market order starts ``pending``; a resting one (limit, stop, take-profit) ``open`` and a
    TWAP parent ``working``, with the columns of its type in ``columns`` (see
    ``_ORDER_TYPE_DEFAULTS``). With an Idempotency-Key already used by this account, returns the
    earlier order instead (``created`` False), or raises OrderConflictError if that order was a
    different request. ``hold_units`` (default ``amount_in``) is what is newly held: an order
    joining an OCO group holds only what the group's hold lacks (``oco_hold``).
    """
    unknown = set(columns or {}) - set(_ORDER_TYPE_COLUMNS)
    if unknown:
        raise ValueError(f"create_order: not an order-type column: {sorted(unknown)}")
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
            order_type=order_type,
            strategy=strategy,
            slippage_bps=slippage_bps,
            quoted_amount_out=quoted_amount_out,
            min_amount_out=min_amount_out,
            status=status,
            idempotency_key=idempotency_key,
            request_hash=request_digest,
            attempts=0,
            route=dict(route) if route is not None else None,
            created_at=now,
            updated_at=now,
            **(_ORDER_TYPE_DEFAULTS | dict(columns or {})),
        )
        order = Order(**values)  # the caller's copy of what is written (not in the session)
        event = _event(order, status, message, now)
        held_units = amount_in if hold_units is None else hold_units
        hold = {"hold_account": account_id, "hold_token": token_in, "hold_units": held_units, "hold_at": now}
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
                f"order needs {format_amount(token_in, held_units)}",
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
    """Record lifecycle steps of a live order in one commit; None if it is final, resting or gone."""
    try:
        order = session.get(Order, order_id, with_for_update=True, populate_existing=True)
        if order is None or order.status in NOT_EXECUTABLE:
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
    parent_changes: list[ParentChange] | None = None,
    route: Mapping[str, Any] | None = None,
) -> tuple[Order, list[StoredEvent]] | None:
    """Mark a live order failed (after ``steps``) and release its held input; None if already final.

    ``route``, when given, is the route it attempted: kept on the order so its page can show it.
    A TWAP slice's parent is updated in the same transaction (see ``_twap_progress``); what it
    stored is appended to ``parent_changes`` when given, for the caller to publish.

    A triggered limit order refused because the price moved back (``slippage_exceeded``) is not
    failed: it goes back to ``open`` with its input still held, and waits for its limit again.
    """
    try:
        locked = _locked_orders(session, [order_id])  # with a slice's parent, in id order
        order = locked.get(order_id)
        if order is None or order.status in FINAL_STATUSES:
            session.rollback()
            return None
        events = _record_steps(order, steps, attempt, route)
        if _reopens(order, code):
            events.append(_event(order, OrderStatus.OPEN, _reopened_message(message), utcnow()))
            stored = _insert_events(session, events)
            session.commit()
            return order, stored
        balance = session.execute(
            sa.select(Balance)
            .where(Balance.account_id == order.account_id, Balance.token == order.token_in)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        # Never below zero: a hold written off meanwhile (an adjusted balance) has nothing to release.
        # A TWAP parent holds only what no slice has taken yet; each slice releases its own.
        held = (
            twap.unsent_amount(order.amount_in, order.slices or 1, order.slices_sent)
            if order.order_type == "twap"
            else order.amount_in
        )
        balance.reserved -= min(balance.reserved, held)
        balance.updated_at = utcnow()
        order.error_code = code
        order.error_message = message
        stamp = utcnow()
        events.append(_event(order, OrderStatus.FAILED, message, stamp))
        parent = locked.get(order.parent_id) if order.parent_id else None
        parent_rows: list[dict[str, Any]] = []
        if parent is not None:
            parent_rows, release = _twap_progress(session, parent, [order], stamp)
            balance.reserved -= min(balance.reserved, release)
        stored = _insert_events(session, [*events, *parent_rows])
        session.commit()
        if parent is not None and parent_changes is not None:
            parent_changes.append(ParentChange(parent, tuple(stored[len(events) :])))
        stored = stored[: len(events)]
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

    An order waiting for its OTC settlement is not stuck, a resting order (open, or a working TWAP
    parent) waits by design, and a row another transaction holds is being worked on: all are
    skipped, never waited for. Each claim is a compare-and-set on
    ``updated_at`` that also counts an attempt, so two recoverers never both take an order and an
    order that kills every worker runs out of attempts.
    """
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    rows = session.execute(
        sa.select(Order.id, Order.status, Order.attempts, Order.route)
        .where(
            Order.status.not_in([s.value for s in NOT_EXECUTABLE]),
            Order.updated_at < cutoff,
        )
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


# --- TWAP: a parent order and its slices -----------------------------------------------------------


@dataclass(frozen=True)
class ParentChange:
    """A TWAP parent as one of its slices moved it on, with the events it stored: for publishing."""

    order: Order
    events: tuple[StoredEvent, ...]


def _locked_orders(session: DbSession, order_ids: Sequence[str]) -> dict[str, Order]:
    """These orders and the TWAP parents of those that are slices, locked in id order (the global
    order of order locks) by one statement."""
    if not order_ids:
        return {}
    query = sa.select(Order).order_by(Order.id).with_for_update().execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        # parent_id never changes once written, so reading it unlocked in the same statement is safe;
        # ``= ANY(array)`` keeps the primary-key index (an IN over a subquery would scan the table).
        wanted = sa.text(
            "orders.id = ANY(CAST(:locked_ids AS VARCHAR[]) || ARRAY(SELECT p.parent_id FROM orders p"
            " WHERE p.id = ANY(CAST(:locked_ids AS VARCHAR[])) AND p.parent_id IS NOT NULL))"
        ).bindparams(locked_ids=list(order_ids))
        return {o.id: o for o in session.execute(query.where(wanted)).scalars()}
    # SQLite: each transaction holds the database's write lock from its start (BEGIN IMMEDIATE).
    parents = session.execute(
        sa.select(Order.parent_id).where(Order.id.in_(order_ids), Order.parent_id.is_not(None))
    ).scalars()
    ids = set(order_ids) | {p for p in parents if p is not None}
    return {o.id: o for o in session.execute(query.where(Order.id.in_(sorted(ids)))).scalars()}


def _note(order: Order, message: str, at: datetime) -> dict[str, Any]:
    """An event row for ``order`` that records progress without changing its status."""
    order.updated_at = at
    return {
        "order_id": order.id,
        "status": OrderStatus(order.status).value,
        "message": message,
        "created_at": at,
    }


def _slice_name(parent: Order, child: Order) -> str:
    return f"slice {(child.slice_index or 0) + 1}/{parent.slices}"


def _twap_progress(
    session: DbSession, parent: Order, ended: Sequence[Order], stamp: datetime
) -> tuple[list[dict[str, Any]], int]:
    """Move a TWAP parent (locked) on by slices that end in the caller's transaction: their fills
    add to its filled amounts; a failed slice stops it (``onChildFailure`` stop: it fails, no more
    slices) or is passed over (continue); once every slice has ended it is ``confirmed`` (something
    filled) or ``failed``. Returns the parent's event rows and the units of its own hold to release
    (the input no slice has taken: only when it stops early)."""
    rows: list[dict[str, Any]] = []
    for child in sorted(ended, key=lambda c: c.slice_index or 0):
        name = _slice_name(parent, child)
        if child.status == OrderStatus.CONFIRMED:
            parent.filled_amount_in += child.amount_in
            parent.filled_amount_out += child.amount_out or 0
            rows.append(
                _note(
                    parent,
                    f"{name} filled: {format_amount(child.token_in, child.amount_in)} {child.token_in} for "
                    f"{format_amount(child.token_out, child.amount_out or 0)} {child.token_out} "
                    f"(order {child.id})",
                    stamp,
                )
            )
        else:
            rows.append(
                _note(parent, f"{name} {child.status} ({child.error_code}): {child.error_message}", stamp)
            )
    if parent.status != OrderStatus.WORKING:  # cancelled or stopped: late slices only add their fills
        return rows, 0
    slices = parent.slices or 0
    failed_now = [c for c in ended if c.status != OrderStatus.CONFIRMED]
    if failed_now and parent.on_child_failure != "continue":
        release = twap.unsent_amount(parent.amount_in, slices, parent.slices_sent)
        first = min(failed_now, key=lambda c: c.slice_index or 0)
        message = (
            f"{_slice_name(parent, first)} failed ({first.error_code}) and onChildFailure is stop: no more "
            f"slices; filled {_filled(parent)}; released {format_amount(parent.token_in, release)} "
            f"{parent.token_in} never sent"
        )
        parent.error_code, parent.error_message, parent.next_run_at = "slice_failed", message, None
        parent.amount_out = parent.filled_amount_out
        rows.append(_event(parent, OrderStatus.FAILED, message, stamp))
        return rows, release
    if parent.slices_sent < slices:
        return rows, 0
    mine = {c.id: c for c in ended}
    with session.no_autoflush:  # the slices' outcomes are written after this, in one statement
        children = session.execute(
            sa.select(Order.id, Order.slice_index, Order.status).where(Order.parent_id == parent.id)
        ).all()
    states = {
        int(index or 0): (mine[cid].status if cid in mine else status) for cid, index, status in children
    }
    if len(states) < slices or any(s not in FINAL_STATUSES for s in states.values()):
        return rows, 0
    missed = sorted(i + 1 for i, s in states.items() if s != OrderStatus.CONFIRMED)
    parent.next_run_at = None
    parent.amount_out = parent.filled_amount_out
    if parent.filled_amount_in == 0:
        message = f"every one of the {slices} slices failed; nothing was traded"
        parent.error_code, parent.error_message = "slices_failed", message
        rows.append(_event(parent, OrderStatus.FAILED, message, stamp))
        return rows, 0
    message = f"all {slices} slices done: filled {_filled(parent)}"
    if missed:
        message += (
            f"; slice(s) {', '.join(map(str, missed))} failed and were passed over (onChildFailure continue)"
        )
    rows.append(_event(parent, OrderStatus.CONFIRMED, message, stamp))
    return rows, 0


def _filled(parent: Order) -> str:
    """What a TWAP parent traded so far, in token units, with its average price."""
    sold, got = parent.filled_amount_in, parent.filled_amount_out
    text = (
        f"{format_amount(parent.token_in, sold)} of {format_amount(parent.token_in, parent.amount_in)} "
        f"{parent.token_in} for {format_amount(parent.token_out, got)} {parent.token_out}"
    )
    if sold and got:
        with localcontext() as ctx:
            ctx.prec = 10  # significant digits, enough for a message
            average = +price_of(parent.token_in, parent.token_out, sold, got)
        text += f" (average {average.normalize():f} {parent.token_out} per {parent.token_in})"
    return text


@dataclass(frozen=True)
class SliceStarted:
    """What ``start_twap_slice`` committed: the parent and the slice's child order, with their events."""

    parent: ParentChange
    child: Order
    child_events: tuple[StoredEvent, ...]

    @property
    def is_pending(self) -> bool:
        """True if the child waits for the market path (False: it failed at its quote)."""
        return self.child.status == OrderStatus.PENDING


def start_twap_slice(
    session: DbSession,
    parent_id: str,
    index: int,
    *,
    quoted_amount_out: int,
    min_amount_out: int,
    refusal: tuple[str, str] | None = None,
) -> SliceStarted | None:
    """Send slice ``index`` of a working TWAP parent as a child market order, in one transaction.

    Under the parent's row lock: nothing happens (None) unless the parent is still ``working``
    and exactly ``index`` slices went out before (a duplicate, late or cancelled slice job does
    nothing). The child is a ``pending`` market order of the slice's amount with the parent's
    strategy and slippage, and no hold of its own: the parent's hold carries it (the parent then
    holds ``twap.unsent_amount``). ``refusal`` (code, message): the slice could not even be quoted;
    the child is stored ``failed`` at once, its share released, and the parent moves on as for any
    failed slice. The parent counts the slice sent and notes when the next one is due.
    """
    try:
        parent = session.get(Order, parent_id, with_for_update=True, populate_existing=True)
        if parent is None or parent.status != OrderStatus.WORKING or parent.slices_sent != index:
            session.rollback()
            return None
        slices, interval_s = parent.slices or 0, parent.interval_s or 0.0
        amount = twap.slice_amount(parent.amount_in, slices, index)
        now = utcnow()
        values: dict[str, Any] = dict(
            id=uuid.uuid4().hex,
            account_id=parent.account_id,
            token_in=parent.token_in,
            token_out=parent.token_out,
            amount_in=amount,
            order_type="market",
            strategy=parent.strategy,
            slippage_bps=parent.slippage_bps,
            quoted_amount_out=quoted_amount_out,
            min_amount_out=min_amount_out,
            status=OrderStatus.PENDING,
            idempotency_key=None,
            request_hash=request_hash({"twapParent": parent_id, "slice": index}),
            attempts=0,
            route=None,
            created_at=now,
            updated_at=now,
            **(_ORDER_TYPE_DEFAULTS | {"parent_id": parent_id, "slice_index": index}),
        )
        child = Order(**values)
        name = _slice_name(parent, child)
        child_rows = [_event(child, OrderStatus.PENDING, f"{name} of TWAP order {parent_id}", now)]
        release = 0
        if refusal is not None:
            child.error_code, child.error_message = refusal
            values.update(error_code=refusal[0], error_message=refusal[1])
            child_rows.append(_event(child, OrderStatus.FAILED, refusal[1], now))
            release = amount
        values.update(status=child.status, failed_at=child.failed_at, updated_at=now)
        session.connection().execute(_ORDERS.insert(), values)
        parent.slices_sent = index + 1
        parent.next_run_at = (
            twap.slice_due(parent.created_at, interval_s, index + 1) if index + 1 < slices else None
        )
        parent_rows = [
            _note(
                parent,
                f"{name} sent: order {child.id} sells "
                f"{format_amount(parent.token_in, amount)} {parent.token_in}",
                now,
            )
        ]
        if refusal is not None:
            more, release_parent = _twap_progress(session, parent, [child], now)
            parent_rows += more
            release += release_parent
        if release:
            balance = session.execute(
                sa.select(Balance)
                .where(Balance.account_id == parent.account_id, Balance.token == parent.token_in)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).scalar_one()
            balance.reserved -= min(balance.reserved, release)
            balance.updated_at = now
        stored = _insert_events(session, [*child_rows, *parent_rows])
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return SliceStarted(
        ParentChange(parent, tuple(stored[len(child_rows) :])), child, tuple(stored[: len(child_rows)])
    )


def twap_slices_due(session: DbSession, *, before: datetime, limit: int = 500) -> list[tuple[str, int]]:
    """Working TWAP parents whose next slice was due before ``before``: (parent id, slice index).

    What recovery re-queues when a restart lost the scheduled job: the slice job's compare-and-set
    on ``slices_sent`` makes a duplicate of a job that still exists harmless.
    """
    rows = session.execute(
        sa.select(Order.id, Order.slices_sent)
        .where(
            Order.status == OrderStatus.WORKING.value,
            Order.order_type == "twap",
            Order.next_run_at < before,
            Order.slices_sent < Order.slices,
        )
        .order_by(Order.next_run_at)
        .limit(limit)
    ).all()
    session.rollback()
    return [(str(oid), int(sent)) for oid, sent in rows]


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
    parents: tuple[ParentChange, ...] = ()  # TWAP parents whose slices ended here


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
    locked = _locked_orders(session, order_ids)  # TWAP slices' parents too, all in id order
    orders: dict[str, Order] = {oid: locked[oid] for oid in order_ids if oid in locked}
    # A resting order is not for the market path: left as it is, like a final one.
    live = {oid: o for oid, o in orders.items() if o.status not in NOT_EXECUTABLE}
    todo = [s for s in settlements if s.order_id in live]
    for s in todo:
        if not _spends_its_hold(live[s.order_id], s.plan):
            raise ValidationError(
                f"order {s.order_id}: the plan's first-hop legs do not add up to its amount", field="legs"
            )
    batch = _Batch(session, live, todo, [r for r in refusals if r.order_id in live], now)
    for s in todo:
        batch.settle(s)
    for r in refusals:
        if r.order_id in live:
            batch.fail(live[r.order_id], r.code, r.message, r.steps, r.attempt, r.route)
    batch.progress_parents(locked)
    return batch.write(already_final=tuple(oid for oid in order_ids if oid not in live))


def _first_hop_input(plan: ExecutionPlan) -> int:
    return sum(leg.amount_in for leg in plan.legs if leg.hop == 0)


def _spends_its_hold(order: Order, plan: ExecutionPlan) -> bool:
    """An exact-in order spends exactly its amount; an exact-out one at most its hold (maxAmountIn)."""
    spent = _first_hop_input(plan)
    if order.exact_side == "out":
        return 0 < spent <= order.amount_in
    return spent == order.amount_in


def _is_firm_quote(order: Order) -> bool:
    return isinstance(order.route, dict) and "firm_quote" in order.route


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
        self.parent_rows: list[tuple[Order, list[dict[str, Any]]]] = []  # TWAP parents' events
        self.moves: list[Move] = []  # the settled trades' position changes (portfolio.record_moves)

    def progress_parents(self, locked: Mapping[str, Order]) -> None:
        """Move each TWAP parent on by its slices that ended in this batch (locked with them)."""
        ended: dict[str, list[Order]] = defaultdict(list)
        for outcome in (*self.trades, *self.failures):
            if outcome.order.parent_id is not None and outcome.order.parent_id in locked:
                ended[outcome.order.parent_id].append(outcome.order)
        for parent_id in sorted(ended):
            parent = locked[parent_id]
            rows, release = _twap_progress(self.session, parent, ended[parent_id], self.stamp)
            balance = self.balances.get((parent.account_id, parent.token_in))
            if release and balance is not None:
                balance.reserved -= min(balance.reserved, release)
                balance.updated_at = self.stamp
                self.changed.add((parent.account_id, parent.token_in))
            self.parent_rows.append((parent, rows))

    def fail(
        self,
        order: Order,
        code: str,
        message: str,
        steps: Sequence[Step],
        attempt: int | None,
        route: Mapping[str, Any] | None = None,
    ) -> None:
        """Fail ``order`` after ``steps``, releasing its held input (``route``: the one it attempted;
        a triggered limit order the price left behind goes back to ``open`` instead, its input
        still held)."""
        events = _record_steps(order, steps, attempt, route)
        if _reopens(order, code):
            events.append(_event(order, OrderStatus.OPEN, _reopened_message(message), self.stamp))
            self.failures.append(_Outcome(order, events, code, message))
            return
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
        is_firm = _is_firm_quote(order)
        try:
            repriced = settle_plan(
                s.plan,
                order.token_out,
                order.min_amount_out,
                order.slippage_bps,
                self.pools,
                self.desks,
                self.now,
                tolerance=minimum_source(
                    order.token_out,
                    order.min_amount_out,
                    order.quoted_amount_out,
                    order.slippage_bps,
                    exact_side=order.exact_side,
                    is_firm_quote=is_firm,
                ),
            )
            sell = self.balances.get((order.account_id, order.token_in))
            if sell is None or sell.reserved < order.amount_in or sell.amount < order.amount_in:
                raise InsufficientBalanceError("the order's held balance is gone", field="amountIn")
        except (SlippageExceededError, InsufficientLiquidityError, InsufficientBalanceError) as exc:
            # A firm quote's route that no longer pays its minimum: the price moved since the quote.
            code = PriceMovedError.code if is_firm and isinstance(exc, SlippageExceededError) else exc.code
            self.fail(order, code, exc.message, s.steps, s.attempt, s.route)
            return
        self.pools, self.desks = repriced.pools, repriced.desks
        total_out = repriced.amount_out
        # Exact in: the whole hold is spent. Exact out: the plan's input is spent and the rest of the
        # hold (maxAmountIn) released, in this same transaction.
        spent = _first_hop_input(s.plan)
        sell.amount -= spent
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
        prices = s.plan.decimal_prices()  # the USD prices the plan was routed with
        trade = _trade_row(order, s.plan, spent, total_out, prices, self.stamp)
        value = trade_value_usd(order.token_in, spent, order.token_out, total_out, prices)
        self.moves += [
            Move(order.account_id, order.token_in, -spent, value, notional_usd=value),
            Move(order.account_id, order.token_out, total_out, value),
        ]
        order.amount_out = total_out
        order.filled_amount_in, order.filled_amount_out = spent, total_out
        venues = ", ".join(
            f"{e.planned.venue} {format_amount(e.planned.token_in, e.amount_in)} {e.planned.token_in}"
            for e in repriced.legs
        )
        message = (
            f"filled {format_amount(order.token_out, total_out)} {order.token_out} via {venues} (paper fills)"
        )
        if spent < order.amount_in:
            message += (
                f"; spent {format_amount(order.token_in, spent)} {order.token_in}, released "
                f"{format_amount(order.token_in, order.amount_in - spent)} of the hold"
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
        parent_events = [row for _, rows in self.parent_rows for row in rows]
        stored = _insert_events(session, [row for o in outcomes for row in o.events] + parent_events)
        parents_stored, stored = (
            stored[len(stored) - len(parent_events) :],
            stored[: len(stored) - len(parent_events)],
        )
        parent_changes = []
        for parent, rows in self.parent_rows:
            parent_changes.append(ParentChange(parent, tuple(parents_stored[: len(rows)])))
            parents_stored = parents_stored[len(rows) :]

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
        record_moves(session, self.moves, stamp)  # positions and today's figures: after the balances

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
            parents=tuple(parent_changes),
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
            "filled_amount_in",
            "filled_amount_out",
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
    order: Order,
    plan: ExecutionPlan,
    spent: int,
    total_out: int,
    prices: Mapping[str, Decimal],
    stamp: datetime,
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
        amount_in=spent,
        amount_out=total_out,
        quoted_amount_out=order.quoted_amount_out,
        price=price_of(order.token_in, order.token_out, spent, total_out),
        best_single_venue=plan.best_single_venue,
        best_single_amount_out=best_single,
        jupiter_amount_out=plan.jupiter_amount_out,
        price_impact_bps=None if plan.price_impact_bps is None else Decimal(plan.price_impact_bps),
        optimality_gap_bps=None if plan.optimality_gap_bps is None else Decimal(plan.optimality_gap_bps),
        notional_usd=spent * 10 ** -get_token(order.token_in).decimals * price_in,
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
    spent = sum(e.amount_in for e in executed if e.planned.hop == 0)  # exact out: less than the hold
    common = {"trade_id": trade_id, "journal": journal, "created_at": stamp}
    entries = [
        dict(account_id=order.account_id, token=order.token_in, amount=-spent, memo="sold", **common),
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


# --- resting orders: trigger, expire, cancel -------------------------------------------------------
#
# An OCO group (one account, one ``oco_group``, one token_in) holds the largest amount of its open
# orders once, not their sum: every write below computes, per hold, what its orders held before
# and after the change (``_holds``) and releases the difference. An order outside a group is a
# group of one. A triggered order (now ``pending``) holds its own amount, like a market order.


def _reopens(order: Order, code: str) -> bool:
    """A triggered limit order refused for the price goes back to ``open`` rather than failing."""
    return (
        order.order_type == "limit" and order.triggered_at is not None and code == SlippageExceededError.code
    )


def _reopened_message(message: str) -> str:
    return f"price moved back ({message}); open again, input still held, waiting for the limit"


def _hold_key(order: Order) -> tuple[Any, ...]:
    if order.oco_group is None:
        return ("order", order.id)
    return ("oco", order.account_id, order.token_in, order.oco_group)


def _holds(orders: Sequence[Order]) -> dict[tuple[Any, ...], tuple[int, str, int]]:
    """What each hold of ``orders`` holds now: (account, token, units); open orders of a group
    share the largest amount, a live triggered or market order holds its own."""
    held: dict[tuple[Any, ...], tuple[int, str, int]] = {}
    for o in orders:
        key = _hold_key(o)
        account, token, units = held.get(key, (o.account_id, o.token_in, 0))
        if o.status == OrderStatus.OPEN:
            held[key] = (account, token, max(units, o.amount_in))
        elif o.status not in NOT_EXECUTABLE:
            held[key] = (account, token, units + o.amount_in)
        else:
            held[key] = (account, token, units)
    return held


def _release(
    session: DbSession, before: Mapping[tuple[Any, ...], tuple[int, str, int]], orders: Sequence[Order]
) -> None:
    """Release what the holds of ``orders`` no longer need (balances locked after the orders)."""
    after = _holds(orders)
    freed: dict[tuple[int, str], int] = defaultdict(int)
    for key, (account, token, units) in before.items():
        freed[(account, token)] += units - after.get(key, (account, token, 0))[2]
    wanted = {k for k, units in freed.items() if units}
    balances = _locked_balances(session, wanted)
    stamp = utcnow()
    for k in sorted(wanted):
        balance = balances.get(k)
        if balance is None:
            continue
        # Never below zero: a hold written off meanwhile (an adjusted balance) has nothing to release.
        balance.reserved -= max(0, min(balance.reserved, freed[k]))
        balance.updated_at = stamp


def _locked_with_groups(session: DbSession, order_ids: Sequence[str]) -> dict[str, Order]:
    """These orders, the open orders of their OCO groups and a TWAP parent's children, locked in
    id order (one global order: orders before balances, each by id)."""
    rows = session.execute(
        sa.select(Order.id, Order.account_id, Order.oco_group).where(Order.id.in_(list(order_ids)))
    ).all()
    ids = {r.id for r in rows}
    groups = {(r.account_id, r.oco_group) for r in rows if r.oco_group is not None}
    if groups:
        ids |= set(
            session.execute(
                sa.select(Order.id).where(
                    sa.tuple_(Order.account_id, Order.oco_group).in_(sorted(groups)),
                    Order.status == OrderStatus.OPEN.value,
                )
            ).scalars()
        )
    children = session.execute(sa.select(Order.id).where(Order.parent_id.in_(list(order_ids)))).scalars()
    ids |= set(children)
    return _locked_by_id(session, Order, sorted(ids))


@dataclass(frozen=True)
class TriggerRequest:
    """An open order whose price came (order_book.Trigger), as the watcher saw it."""

    order_id: str
    message: str
    min_amount_out: int | None = None  # stop / take profit: the route now less slippageBps
    quoted_amount_out: int | None = None


@dataclass(frozen=True)
class RestingChanges:
    """What one trigger-and-expire transaction committed: orders to dispatch, updates to publish."""

    triggered: tuple[str, ...] = ()
    expired: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()  # OCO siblings of triggered orders
    stored: tuple[tuple[Order, list[StoredEvent]], ...] = ()


def trigger_orders(
    session: DbSession, triggers: Sequence[TriggerRequest], expired_ids: Sequence[str] = ()
) -> RestingChanges:
    """Trigger and expire resting orders in one transaction.

    Each trigger is a compare-and-set under the order's row lock: ``open`` → ``pending`` with
    ``triggered_at`` and its event, or nothing if the order is no longer open (another watcher
    took it, or it was cancelled): two watchers never both trigger an order. The open siblings
    of a triggered OCO order are cancelled in the same transaction. An expired order (open, past
    ``expires_at``) becomes ``expired``. Holds no longer needed are released.
    """
    try:
        now = utcnow()
        wanted = [t.order_id for t in triggers] + [i for i in expired_ids]
        orders = _locked_with_groups(session, wanted)
        rows = list(orders.values())
        before = _holds(rows)
        events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        triggered: list[str] = []
        cancelled: list[str] = []
        expired: list[str] = []
        for order_id in expired_ids:
            order = orders.get(order_id)
            if order is None or order.status != OrderStatus.OPEN or order.expires_at is None:
                continue
            if order.expires_at > now:
                continue
            message = f"expired at {order.expires_at.isoformat()}; input released"
            events[order.id].append(_event(order, OrderStatus.EXPIRED, message, now))
            expired.append(order.id)
        for t in triggers:
            order = orders.get(t.order_id)
            if order is None or order.status != OrderStatus.OPEN:
                continue  # the compare-and-set: somebody else moved it first
            order.triggered_at = now
            if t.min_amount_out is not None:
                order.min_amount_out = t.min_amount_out
            if t.quoted_amount_out is not None:
                order.quoted_amount_out = t.quoted_amount_out
            events[order.id].append(_event(order, OrderStatus.PENDING, t.message, now))
            triggered.append(order.id)
            for sibling in _open_oco_siblings(order, rows):
                note = f"cancelled: one-cancels-other, {order.id} of group {order.oco_group!r} triggered"
                events[sibling.id].append(_event(sibling, OrderStatus.CANCELLED, note, now))
                cancelled.append(sibling.id)
        _release(session, before, rows)
        changed = [orders[i] for i in events]
        stored = _insert_events(session, [row for o in changed for row in events[o.id]])
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return RestingChanges(
        tuple(triggered), tuple(expired), tuple(cancelled), _stored_by_order(changed, events, stored)
    )


def _open_oco_siblings(order: Order, rows: Sequence[Order]) -> list[Order]:
    """The other open orders of ``order``'s one-cancels-other group among ``rows`` (none without one)."""
    if order.oco_group is None:
        return []
    return [
        o
        for o in rows
        if o.id != order.id
        and o.status == OrderStatus.OPEN
        and o.account_id == order.account_id
        and o.oco_group == order.oco_group
    ]


def _stored_by_order(
    changed: Sequence[Order], events: Mapping[str, Sequence[dict[str, Any]]], stored: Sequence[StoredEvent]
) -> tuple[tuple[Order, list[StoredEvent]], ...]:
    """Each changed order with its stored events: ``stored`` came back in the order the rows of
    ``events`` were inserted (changed order by changed order)."""
    by_order: dict[str, list[StoredEvent]] = defaultdict(list)
    flat = [o for o in changed for _ in events[o.id]]
    for o, event in zip(flat, stored, strict=True):
        by_order[o.id].append(event)
    return tuple((o, by_order[o.id]) for o in changed)


@dataclass(frozen=True)
class CancelResult:
    """``outcome``: cancelled (now), already_cancelled, executing (409), final (409), slice (409: a
    TWAP's child is cancelled through its parent), missing."""

    outcome: str
    order: Order | None
    stored: tuple[tuple[Order, list[StoredEvent]], ...] = ()


_EXECUTING = frozenset(
    {OrderStatus.QUOTING, OrderStatus.ROUTING, OrderStatus.BUILDING, OrderStatus.SUBMITTED}
)


def cancel_order(session: DbSession, order_id: str, account_id: int) -> CancelResult:
    """Cancel one of the account's orders in one transaction, under its row lock.

    ``open`` / ``working`` / ``pending`` (not yet taken by a worker) → ``cancelled`` at once, its
    hold released; an OCO order cancels its whole group's open orders (the group shares one hold:
    cancelling one is cancelling the position); a TWAP parent releases what its children did not
    take (``amount_in`` minus theirs) and cancels its children still ``pending``. An order already
    executing (quoting … submitted) or final otherwise is left as it is; a cancelled one is
    answered as it is (cancel is idempotent). A worker that then settles the order finds it final
    and trades nothing: settlement locks the orders first.
    """
    try:
        orders = _locked_with_groups(session, [order_id])
        order = orders.get(order_id)
        if order is None or order.account_id != account_id:
            session.rollback()
            return CancelResult("missing", None)
        if order.status == OrderStatus.CANCELLED:
            session.rollback()
            return CancelResult("already_cancelled", order)
        if order.status in _EXECUTING:
            session.rollback()
            return CancelResult("executing", order)
        if order.status in FINAL_STATUSES:
            session.rollback()
            return CancelResult("final", order)
        if order.parent_id is not None:
            # A slice cancelled alone would leave its parent waiting for it for ever (the parent
            # moves on when its slices end): the trader cancels the TWAP, which cancels its slices.
            session.rollback()
            return CancelResult("slice", order)
        rows = list(orders.values())
        children = [o for o in rows if o.parent_id == order.id]
        before = _holds([o for o in rows if o.parent_id != order.id])
        now = utcnow()
        events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if order.status == OrderStatus.WORKING:
            taken = sum(c.amount_in for c in children)
            # A TWAP parent holds what its children have not taken yet.
            before[_hold_key(order)] = (order.account_id, order.token_in, max(0, order.amount_in - taken))
            message = f"cancelled by the trader; {len(children)} slice(s) sent keep their fills"
        else:
            message = "cancelled by the trader; input released"
        events[order.id].append(_event(order, OrderStatus.CANCELLED, message, now))
        for sibling in _open_oco_siblings(order, rows):
            note = f"cancelled: one-cancels-other, order {order.id} of group {order.oco_group!r} cancelled"
            events[sibling.id].append(_event(sibling, OrderStatus.CANCELLED, note, now))
        for child in children:
            if child.status == OrderStatus.PENDING:
                before[_hold_key(child)] = (child.account_id, child.token_in, child.amount_in)
                note = f"cancelled with its parent {order.id}; input released"
                events[child.id].append(_event(child, OrderStatus.CANCELLED, note, now))
        _release(session, before, rows)
        changed = [orders[i] for i in events]
        stored = _insert_events(session, [row for o in changed for row in events[o.id]])
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return CancelResult("cancelled", order, _stored_by_order(changed, events, stored))


def oco_hold(session: DbSession, account_id: int, token_in: str, oco_group: str, amount_in: int) -> int:
    """What a new order of an OCO group must newly hold: what it needs beyond the group's hold.

    Locks the group's open orders (so a concurrent trigger or cancel of the group waits, or is
    seen). Raises ValidationError when the group already ended (an order of it triggered or was
    cancelled) or sells another token. Call inside the transaction that creates the order.

    A brand-new group has no row to lock: two of its first orders arriving together would each
    see an empty group and each hold its whole amount. On PostgreSQL a transaction-scoped advisory
    lock on (account, group) serialises the intakes of one group first (only intakes take it, so it
    adds no lock cycle with the watcher or cancel, which lock orders then balances); SQLite runs
    one writer at a time already.
    """
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"oco:{account_id}:{oco_group}".encode()).digest()
        session.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"),
            {"key": int.from_bytes(digest[:8], "big", signed=True)},
        )
    members = (
        session.execute(
            sa.select(Order)
            .where(Order.account_id == account_id, Order.oco_group == oco_group)
            .order_by(Order.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    if any(m.token_in != token_in for m in members):
        raise ValidationError(
            f"ocoGroup {oco_group!r} sells {members[0].token_in}: the orders of a group sell one token",
            field="ocoGroup",
        )
    if any(m.status not in (OrderStatus.OPEN, OrderStatus.EXPIRED) for m in members):
        raise ValidationError(
            f"ocoGroup {oco_group!r} has ended (an order of it triggered or was cancelled): use a new group",
            field="ocoGroup",
        )
    held = max((m.amount_in for m in members if m.status == OrderStatus.OPEN), default=0)
    return max(0, amount_in - held)
