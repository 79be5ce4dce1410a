"""The one write path for orders and executed trades, and the analytics read from them.

``record_trade`` is the only code that moves tokens: in one database transaction it locks the
order, the pools, desks and balances it touches (always in the same order: order, pools, desks,
balances, so two workers never deadlock), re-prices every leg against the locked state, enforces
the order's ``min_amount_out`` and then writes reserves, inventories, balances, ledger entries,
the trade, its fills and the order's final state together. Anything that goes wrong raises and
the transaction rolls back: nothing is half-written.

The lifecycle writes (``create_order``, ``advance``, ``fail_order``) are here too, so every
change of an order's state goes through this module.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

import sqlalchemy as sa

import otc_engine
from errors import InsufficientLiquidityError, SolrouteError, ValidationError
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
from routing_engine import RouteResult
from tokens import format_amount, from_base_units, get_token
from venue_state import JUPITER_ACCOUNT, TREASURY_ACCOUNT, desk_from_row, pool_from_row

__all__ = [
    "ExecutionPlan",
    "InsufficientBalanceError",
    "OrderConflictError",
    "PlannedLeg",
    "RecordedTrade",
    "SlippageExceededError",
    "Step",
    "StoredEvent",
    "advance",
    "create_order",
    "fail_order",
    "plan_from_route",
    "record_trade",
    "replayed_order",
]

PHASE_COLUMNS = {
    OrderStatus.QUOTING: "quoting_at",
    OrderStatus.ROUTING: "routing_at",
    OrderStatus.BUILDING: "building_at",
    OrderStatus.SUBMITTED: "submitted_at",
    OrderStatus.CONFIRMED: "confirmed_at",
    OrderStatus.FAILED: "failed_at",
}


class SlippageExceededError(SolrouteError):
    """Execution would pay out less than the order's minimum: nothing moves."""

    code = "slippage_exceeded"


class InsufficientBalanceError(SolrouteError, ValueError):
    code = "insufficient_balance"


class OrderConflictError(SolrouteError):
    """The Idempotency-Key was used before with a different request."""

    code = "idempotency_conflict"


# --- plans: what the job decided, as plain JSON-able values ----------------------------------


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
        data = asdict(self)
        data["legs"] = [asdict(leg) | {"path": list(leg.path)} for leg in self.legs]
        data["usd_prices"] = dict(self.usd_prices)
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExecutionPlan:
        legs = tuple(PlannedLeg(**(dict(leg) | {"path": tuple(leg["path"])})) for leg in data["legs"])
        return cls(**(dict(data) | {"legs": legs}))


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


def _stored(events: Sequence[OrderEvent]) -> list[StoredEvent]:
    return [StoredEvent(e.id, e.status, e.message, e.created_at) for e in events]


def _record_steps(
    session: DbSession,
    order: Order,
    steps: Sequence[Step],
    attempt: int | None,
    route: Mapping[str, Any] | None,
) -> list[OrderEvent]:
    """Store an attempt's steps as events, with the attempt number and route when given."""
    events = [_event(session, order, s.status, s.message, s.at) for s in steps]
    if attempt is not None:
        order.attempts = attempt
    if route is not None:
        order.route = dict(route)
    return events


def request_hash(payload: Mapping[str, Any]) -> str:
    """A stable digest of an order request, to tell a replay from a different reuse of a key."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _event(session: DbSession, order: Order, status: OrderStatus, message: str, at: datetime) -> OrderEvent:
    order.status = status
    order.updated_at = at
    column = PHASE_COLUMNS.get(status)
    if column is not None:
        setattr(order, column, at)
    event = OrderEvent(order_id=order.id, status=status, message=message, created_at=at)
    session.add(event)
    return event


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


def create_order(
    session: DbSession,
    account: Account,
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
        existing = replayed_order(session, account.id, idempotency_key, request_digest)
        if existing is not None:
            return existing, False
    try:
        now = utcnow()
        # One guarded UPDATE holds the input: atomic under concurrency on both databases.
        held = session.execute(
            sa.update(Balance)
            .where(
                Balance.account_id == account.id,
                Balance.token == token_in,
                Balance.amount - Balance.reserved >= amount_in,
            )
            .values(reserved=Balance.reserved + amount_in, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not isinstance(held, sa.CursorResult) or held.rowcount != 1:
            available = (
                session.execute(
                    sa.select(Balance.amount - Balance.reserved).where(
                        Balance.account_id == account.id, Balance.token == token_in
                    )
                ).scalar_one_or_none()
                or 0
            )
            raise InsufficientBalanceError(
                f"balance too small: {format_amount(token_in, available)} {token_in} available, "
                f"order needs {format_amount(token_in, amount_in)}",
                field="amountIn",
            )
        order = Order(
            id=uuid.uuid4().hex,
            account_id=account.id,
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
        session.add(order)
        session.flush()
        _event(session, order, OrderStatus.PENDING, "order received", now)
        session.commit()
    except sa.exc.IntegrityError:
        # A concurrent request with the same Idempotency-Key won the insert: answer with its order.
        session.rollback()
        existing = (
            None
            if idempotency_key is None
            else replayed_order(session, account.id, idempotency_key, request_digest)
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
        events = _record_steps(session, order, steps, attempt, route)
        session.flush()
        stored = _stored(events)
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
) -> tuple[Order, list[StoredEvent]] | None:
    """Mark a live order failed (after ``steps``) and release its held input; None if already final."""
    try:
        order = session.get(Order, order_id, with_for_update=True, populate_existing=True)
        if order is None or order.status in FINAL_STATUSES:
            session.rollback()
            return None
        events = _record_steps(session, order, steps, attempt, None)
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
        events.append(_event(session, order, OrderStatus.FAILED, message, utcnow()))
        session.flush()
        stored = _stored(events)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return order, stored


# --- executing a trade --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutedLeg:
    planned: PlannedLeg
    amount_in: int
    amount_out: int
    fee: int
    fee_bps: Decimal


@dataclass(frozen=True)
class RecordedTrade:
    """What a settled order changed: for the job to publish after commit."""

    order_id: str
    account_id: int
    trade_id: int
    amount_out: int
    legs: tuple[ExecutedLeg, ...]
    pools: tuple[Mapping[str, Any], ...]  # pool states after the trade
    desks: tuple[Mapping[str, Any], ...]
    already_final: bool = False
    message: str = ""
    events: tuple[StoredEvent, ...] = ()


def _price(token_in: str, token_out: str, amount_in: int, amount_out: int) -> Decimal:
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


def record_trade(
    session: DbSession,
    order_id: str,
    plan: ExecutionPlan,
    *,
    now: float,
    steps: Sequence[Step] = (),
    attempt: int | None = None,
    route: Mapping[str, Any] | None = None,
) -> RecordedTrade:
    """Settle a routed order: everything moves in one transaction, or nothing does.

    Raises SlippageExceededError when the legs, re-priced against the locked current state, pay
    out less than the order's minimum, InsufficientLiquidityError when a desk can no longer fill,
    InsufficientBalanceError when the held input is gone. The caller fails the order then.
    """
    try:
        result = _record(session, order_id, plan, now, steps, attempt, route)
        session.commit()
        return result
    except BaseException:
        session.rollback()
        raise


def _record(
    session: DbSession,
    order_id: str,
    plan: ExecutionPlan,
    now: float,
    steps: Sequence[Step],
    attempt: int | None,
    route: Mapping[str, Any] | None,
) -> RecordedTrade:
    order = session.get(Order, order_id, with_for_update=True, populate_existing=True)
    if order is None:
        raise ValidationError(f"no order {order_id}", field="orderId")
    if order.status in FINAL_STATUSES:
        trade_id = session.execute(sa.select(Trade.id).where(Trade.order_id == order_id)).scalar()
        return RecordedTrade(
            order_id, order.account_id, trade_id or 0, order.amount_out or 0, (), (), (), already_final=True
        )
    if sum(leg.amount_in for leg in plan.legs if leg.hop == 0) != order.amount_in:
        raise ValidationError("the plan's first-hop legs do not add up to the order's amount", field="legs")

    pool_ids = sorted({leg.venue_id for leg in plan.legs if leg.kind == "amm"})
    desk_ids = sorted({leg.venue_id for leg in plan.legs if leg.kind == "otc"})
    pool_rows: dict[str, AmmPool] = _locked_by_id(session, AmmPool, pool_ids)
    desk_rows: dict[str, OTCPool] = _locked_by_id(session, OTCPool, desk_ids)
    missing = (set(pool_ids) - set(pool_rows)) | (set(desk_ids) - set(desk_rows))
    if missing:
        raise InsufficientLiquidityError(f"venue {sorted(missing)[0]} no longer exists", field="legs")
    balances = {
        b.token: b
        for b in session.execute(
            sa.select(Balance)
            .where(
                Balance.account_id == order.account_id,
                Balance.token.in_(sorted({order.token_in, order.token_out})),
            )
            .order_by(Balance.token)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    }

    pools = {pid: pool_from_row(row) for pid, row in pool_rows.items()}
    desks = {did: otc_engine.refilled(desk_from_row(row), now) for did, row in desk_rows.items()}
    # Inventory a desk regained since its last trade came from outside: the ledger must say so.
    refills = {
        did: (
            desks[did].inventory_base - row.inventory_base,
            desks[did].inventory_quote - row.inventory_quote,
        )
        for did, row in desk_rows.items()
    }
    prices = {s: Decimal(p) for s, p in plan.usd_prices.items()}

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
            if leg.token_out != order.token_out:
                produced[leg.token_out] += out
    if any(produced.values()):
        raise ValidationError("the plan leaves intermediate tokens unspent", field="legs")
    total_out = sum(e.amount_out for e in executed if e.planned.token_out == order.token_out)
    if total_out < order.min_amount_out:
        raise SlippageExceededError(
            f"market moved: the route now pays {format_amount(order.token_out, total_out)} {order.token_out},"
            f" below the minimum of {format_amount(order.token_out, order.min_amount_out)} {order.token_out} "
            f"({order.slippage_bps} bps slippage tolerance); nothing was traded",
            field="slippageBps",
        )

    sell = balances.get(order.token_in)
    if sell is None or sell.reserved < order.amount_in or sell.amount < order.amount_in:
        raise InsufficientBalanceError("the order's held balance is gone", field="amountIn")
    stamp = utcnow()
    sell.amount -= order.amount_in
    sell.reserved -= order.amount_in
    sell.updated_at = stamp
    buy = balances.get(order.token_out)
    if buy is None:
        buy = Balance(account_id=order.account_id, token=order.token_out, amount=0, reserved=0)
        session.add(buy)
    buy.amount += total_out
    buy.updated_at = stamp

    for pid, pool in pools.items():
        row = pool_rows[pid]
        row.reserve_a, row.reserve_b, row.updated_at = pool.reserve_a, pool.reserve_b, stamp
    for did, desk in desks.items():
        row = desk_rows[did]
        row.inventory_base, row.inventory_quote = desk.inventory_base, desk.inventory_quote
        row.inventory_at, row.updated_at = desk.updated_at, stamp

    latency_ms = (stamp - order.created_at).total_seconds() * 1000.0
    price_in = float(prices.get(order.token_in, 0))
    price_out = float(prices.get(order.token_out, 0))
    out_scale = 10 ** -get_token(order.token_out).decimals
    best_single = plan.best_single_amount_out
    trade = Trade(
        order_id=order.id,
        account_id=order.account_id,
        token_in=order.token_in,
        token_out=order.token_out,
        strategy=order.strategy,
        amount_in=order.amount_in,
        amount_out=total_out,
        quoted_amount_out=order.quoted_amount_out,
        price=_price(order.token_in, order.token_out, order.amount_in, total_out),
        best_single_venue=plan.best_single_venue,
        best_single_amount_out=best_single,
        jupiter_amount_out=plan.jupiter_amount_out,
        price_impact_bps=None if plan.price_impact_bps is None else Decimal(plan.price_impact_bps),
        optimality_gap_bps=None if plan.optimality_gap_bps is None else Decimal(plan.optimality_gap_bps),
        notional_usd=order.amount_in * 10 ** -get_token(order.token_in).decimals * price_in,
        savings_usd=0.0 if best_single is None else (total_out - best_single) * out_scale * price_out,
        latency_ms=latency_ms,
        executed_at=stamp,
    )
    session.add(trade)
    session.flush()

    accounts = _venue_accounts(session, pool_rows, desk_rows, executed)
    journal = f"trade-{order.id}"
    entries: list[dict[str, Any]] = [
        dict(
            account_id=order.account_id,
            token=order.token_in,
            amount=-order.amount_in,
            trade_id=trade.id,
            journal=journal,
            memo="sold",
            created_at=stamp,
        ),
        dict(
            account_id=order.account_id,
            token=order.token_out,
            amount=total_out,
            trade_id=trade.id,
            journal=journal,
            memo="bought",
            created_at=stamp,
        ),
    ]
    fills: list[dict[str, Any]] = []
    for index, e in enumerate(executed):
        leg = e.planned
        account_id = accounts[leg.venue_id] if leg.kind in ("amm", "otc") else accounts[JUPITER_ACCOUNT]
        memo = f"{leg.venue} {leg.token_in}->{leg.token_out}"
        entries.append(
            dict(
                account_id=account_id,
                token=leg.token_in,
                amount=e.amount_in,
                trade_id=trade.id,
                journal=journal,
                memo=memo,
                created_at=stamp,
            )
        )
        entries.append(
            dict(
                account_id=account_id,
                token=leg.token_out,
                amount=-e.amount_out,
                trade_id=trade.id,
                journal=journal,
                memo=memo,
                created_at=stamp,
            )
        )
        fills.append(
            dict(
                trade_id=trade.id,
                order_id=order.id,
                leg_index=index,
                venue_id=leg.venue_id,
                venue=leg.venue,
                kind=leg.kind,
                hop=leg.hop,
                path=">".join(leg.path),
                token_in=leg.token_in,
                token_out=leg.token_out,
                amount_in=e.amount_in,
                amount_out=e.amount_out,
                quoted_amount_out=leg.amount_out,
                price=_price(leg.token_in, leg.token_out, e.amount_in, e.amount_out),
                fee=e.fee,
                fee_bps=e.fee_bps,
                is_paper=True,
                created_at=stamp,
            )
        )
    # Bulk inserts: one executemany each (the ORM would send one INSERT ... RETURNING per row).
    entries.extend(_refill_entries(session, desk_rows, refills, trade.id, order.id, stamp))
    session.execute(sa.insert(LedgerEntry), entries)
    session.execute(sa.insert(Fill), fills)

    order.amount_out = total_out
    venues = ", ".join(
        f"{e.planned.venue} {format_amount(e.planned.token_in, e.amount_in)}" for e in executed
    )
    message = (
        f"filled {format_amount(order.token_out, total_out)} {order.token_out} via {venues} (paper fills)"
    )
    events = _record_steps(session, order, steps, attempt, route)
    events.append(_event(session, order, OrderStatus.CONFIRMED, message, stamp))
    session.flush()
    return RecordedTrade(
        events=tuple(_stored(events)),
        message=message,
        order_id=order.id,
        account_id=order.account_id,
        trade_id=trade.id,
        amount_out=total_out,
        legs=tuple(executed),
        pools=tuple(
            {
                "id": p.pool_id,
                "venue": p.venue,
                "tokenA": p.token_a,
                "tokenB": p.token_b,
                "reserveA": p.reserve_a,
                "reserveB": p.reserve_b,
            }
            for p in pools.values()
        ),
        desks=tuple(
            {
                "id": d.desk_id,
                "name": d.name,
                "base": d.base,
                "quote": d.quote,
                "inventoryBase": d.inventory_base,
                "inventoryQuote": d.inventory_quote,
            }
            for d in desks.values()
        ),
    )


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


def _execute_leg(
    leg: PlannedLeg,
    amount_in: int,
    pools: dict[str, Any],
    desks: dict[str, otc_engine.Desk],
    prices: Mapping[str, Decimal],
    now: float,
) -> tuple[int, int, Decimal]:
    """Apply one leg to the (locked) venue state in place; returns (amount_out, fee, fee_bps)."""
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


def _venue_accounts(
    session: DbSession,
    pool_rows: Mapping[str, AmmPool],
    desk_rows: Mapping[str, OTCPool],
    executed: Sequence[ExecutedLeg],
) -> dict[str, int]:
    """The ledger account of each venue a trade used (the Jupiter counterparty only if needed)."""
    accounts: dict[str, int] = {pid: row.account_id for pid, row in pool_rows.items()}
    accounts.update({did: row.account_id for did, row in desk_rows.items()})
    if any(e.planned.kind == "aggregator" for e in executed):
        accounts[JUPITER_ACCOUNT] = session.execute(
            sa.select(Account.id).where(
                Account.name == JUPITER_ACCOUNT, Account.kind == AccountKind.COUNTERPARTY
            )
        ).scalar_one()
    return accounts


def _refill_entries(
    session: DbSession,
    desk_rows: Mapping[str, OTCPool],
    refills: Mapping[str, tuple[int, int]],
    trade_id: int,
    order_id: str,
    stamp: datetime,
) -> list[dict[str, Any]]:
    """Ledger entries for desks' refills (treasury to desk); per token they sum to zero."""
    moved = {did: delta for did, delta in refills.items() if any(delta)}
    if not moved:
        return []
    treasury = session.execute(
        sa.select(Account.id).where(Account.name == TREASURY_ACCOUNT, Account.kind == AccountKind.TREASURY)
    ).scalar_one()
    entries: list[dict[str, Any]] = []
    for did, (base, quote) in moved.items():
        row = desk_rows[did]
        journal = f"refill-{order_id}"  # one per trade: each desk's entries sum to zero within it
        for token, units in ((row.base, base), (row.quote, quote)):
            if units:
                memo = f"{row.name} inventory refill"
                common = {
                    "token": token,
                    "trade_id": trade_id,
                    "journal": journal,
                    "memo": memo,
                    "created_at": stamp,
                }
                entries.append({"account_id": row.account_id, "amount": units, **common})
                entries.append({"account_id": treasury, "amount": -units, **common})
    return entries
