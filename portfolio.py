"""Positions and their reads: the rollup every P&L figure comes from (reads never grow with history).

``record_moves`` is called inside the one write path's transaction (trade_logger's settlement and
venue_state.deposit) to move positions at average cost (pnl.py) and the account's daily figures
(``daily_risk``: executed notional and realised P&L per UTC day, for the risk limits). Rows are
locked after the balances they follow, in (account, token) order, so writers never deadlock.

Reads: ``holdings`` (one row per token held), ``today`` (one row), ``value_history`` (the
account's ledger entries summed per bucket in SQL, valued at each bucket's prices: the one
place that decides where a value series comes from: the recorded reference prices of market
history where a bucket has them, else the prices of its trades).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

import analytics
import market_history
from analytics import _EpochSeconds  # the one SQL spelling of "seconds since 1970"
from models import DailyRisk, DbSession, LedgerEntry, Position
from pnl import Holding, bought, sold, usd
from risk import Today
from tokens import get_token

__all__ = ["Move", "ValuePoint", "holdings", "record_moves", "today", "value_history"]

_POSITIONS: sa.Table = Position.__table__
_DAYS: sa.Table = DailyRisk.__table__
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Move:
    """One change of a position: ``units`` received (> 0) or given (< 0), worth ``value_usd``.

    A trade is two moves of one value (pnl.trade_value_usd); a deposit one move at its reference price.
    ``notional_usd``: what this move adds to the account's executed notional today (a trade's
    value on one of its two moves; 0 for deposits).
    """

    account_id: int
    token: str
    units: int
    value_usd: Decimal
    notional_usd: Decimal = Decimal(0)


def _insert_ignoring_existing(session: DbSession, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.connection().execute(insert(table).on_conflict_do_nothing(), list(rows))


def _locked(
    session: DbSession, table: sa.Table, keys: Sequence[tuple[Any, Any]], columns: tuple[str, str]
) -> dict[tuple[Any, Any], Any]:
    """The existing rows with these two-column keys, locked in key order."""
    a, b = (table.c[name] for name in columns)
    statement = sa.select(table).where(sa.tuple_(a, b).in_(sorted(keys))).order_by(a, b).with_for_update()
    rows = session.connection().execute(statement)
    return {(row._mapping[columns[0]], row._mapping[columns[1]]): row for row in rows}


def record_moves(session: DbSession, moves: Sequence[Move], stamp: datetime) -> None:
    """Apply ``moves`` (in order) to the positions and today's figures, in the caller's transaction."""
    if not moves:
        return
    keys = sorted({(m.account_id, m.token) for m in moves})
    found = _locked(session, _POSITIONS, keys, ("account_id", "token"))
    missing = [k for k in keys if k not in found]
    if missing:
        _insert_ignoring_existing(
            session,
            _POSITIONS,
            [
                {
                    "account_id": a,
                    "token": t,
                    "quantity": 0,
                    "cost_usd": Decimal(0),
                    "realised_pnl_usd": Decimal(0),
                    "updated_at": stamp,
                }
                for a, t in missing
            ],
        )
        found |= _locked(session, _POSITIONS, missing, ("account_id", "token"))
    held = {
        k: Holding(int(row.quantity), Decimal(row.cost_usd), Decimal(row.realised_pnl_usd))
        for k, row in found.items()
    }
    realised: dict[int, Decimal] = defaultdict(Decimal)
    notional: dict[int, Decimal] = defaultdict(Decimal)
    trades: dict[int, int] = defaultdict(int)
    for m in moves:
        key = (m.account_id, m.token)
        if m.units >= 0:
            held[key] = bought(held[key], m.units, m.value_usd)
        else:
            held[key], gain = sold(held[key], -m.units, m.value_usd)
            realised[m.account_id] += gain
        if m.notional_usd:
            notional[m.account_id] += m.notional_usd
            trades[m.account_id] += 1
    session.connection().execute(
        _POSITIONS.update()
        .where(
            _POSITIONS.c.account_id == sa.bindparam("k_account"),
            _POSITIONS.c.token == sa.bindparam("k_token"),
        )
        .values(
            quantity=sa.bindparam("quantity"),
            cost_usd=sa.bindparam("cost_usd", type_=_POSITIONS.c.cost_usd.type),
            realised_pnl_usd=sa.bindparam("realised_pnl_usd", type_=_POSITIONS.c.realised_pnl_usd.type),
            updated_at=sa.bindparam("updated_at", type_=_POSITIONS.c.updated_at.type),
        ),
        [
            {
                "k_account": a,
                "k_token": t,
                "quantity": h.quantity,
                "cost_usd": h.cost_usd,
                "realised_pnl_usd": h.realised_pnl_usd,
                "updated_at": stamp,
            }
            for (a, t), h in sorted(held.items())
        ],
    )
    accounts = sorted(set(realised) | set(notional))
    if accounts:
        _record_days(session, accounts, realised, notional, trades, stamp)


def _record_days(
    session: DbSession,
    accounts: Sequence[int],
    realised: Mapping[int, Decimal],
    notional: Mapping[int, Decimal],
    trades: Mapping[int, int],
    stamp: datetime,
) -> None:
    day = stamp.date()
    keys = [(a, day) for a in accounts]
    found = _locked(session, _DAYS, keys, ("account_id", "day"))
    missing = [k for k in keys if k not in found]
    if missing:
        _insert_ignoring_existing(
            session,
            _DAYS,
            [
                {
                    "account_id": a,
                    "day": d,
                    "notional_usd": Decimal(0),
                    "realised_pnl_usd": Decimal(0),
                    "trades": 0,
                    "updated_at": stamp,
                }
                for a, d in missing
            ],
        )
        found |= _locked(session, _DAYS, missing, ("account_id", "day"))
    session.connection().execute(
        _DAYS.update()
        .where(_DAYS.c.account_id == sa.bindparam("k_account"), _DAYS.c.day == sa.bindparam("k_day"))
        .values(
            notional_usd=sa.bindparam("notional_usd", type_=_DAYS.c.notional_usd.type),
            realised_pnl_usd=sa.bindparam("realised_pnl_usd", type_=_DAYS.c.realised_pnl_usd.type),
            trades=sa.bindparam("trades"),
            updated_at=sa.bindparam("updated_at", type_=_DAYS.c.updated_at.type),
        ),
        [
            {
                "k_account": a,
                "k_day": d,
                "notional_usd": usd(Decimal(found[(a, d)].notional_usd) + notional.get(a, Decimal(0))),
                "realised_pnl_usd": usd(
                    Decimal(found[(a, d)].realised_pnl_usd) + realised.get(a, Decimal(0))
                ),
                "trades": int(found[(a, d)].trades) + trades.get(a, 0),
                "updated_at": stamp,
            }
            for a, d in sorted(found)
        ],
    )


# --- reads --------------------------------------------------------------------------------------


def holdings(session: DbSession, account_id: int) -> dict[str, Holding]:
    """The account's positions by token (one row per token it ever held)."""
    rows = session.execute(sa.select(Position).where(Position.account_id == account_id)).scalars()
    return {p.token: Holding(p.quantity, p.cost_usd, p.realised_pnl_usd) for p in rows}


def today(session: DbSession, account_id: int, day: date) -> Today:
    """The account's executed notional and realised P&L of ``day`` (UTC)."""
    row = session.get(DailyRisk, (account_id, day))
    if row is None:
        return Today()
    return Today(notional_usd=row.notional_usd, realised_pnl_usd=row.realised_pnl_usd)


@dataclass(frozen=True)
class ValuePoint:
    """The account's holdings at the end of the bucket starting ``at``, valued at that bucket's prices."""

    at: datetime
    value_usd: float


def value_history(
    session: DbSession,
    account_id: int,
    quantities: Mapping[str, int],
    prices_now: Mapping[str, Decimal],
    bucket: analytics.Bucket,
    *,
    buckets: int,
    now: datetime,
) -> list[ValuePoint]:
    """The account's value over the last ``buckets`` buckets (the last one holds ``now``).

    Quantities walk back from today's (``quantities``) by the account's ledger entries summed per
    token and bucket in SQL (index (account_id, created_at)); each bucket is valued at the last
    reference price recorded in it (``market_history.candles`` of the live dataset), else the
    average price of its trades (``analytics.price_history``), a token's last earlier price carried
    forward, and ``prices_now`` before its first and in the current bucket. A float series: a chart.
    """
    step = timedelta(seconds=bucket.seconds)
    last = bucket.floor(now)
    first = last - (buckets - 1) * step
    slot = _EpochSeconds(LedgerEntry.created_at) // bucket.seconds
    flows = session.execute(
        sa.select(LedgerEntry.token, slot.label("slot"), sa.func.sum(LedgerEntry.amount))
        .where(LedgerEntry.account_id == account_id, LedgerEntry.created_at >= first)
        .group_by(LedgerEntry.token, slot)
    ).all()
    first_slot = int((first - _EPOCH).total_seconds()) // bucket.seconds
    after: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # bucket index → flows in it
    for token, index, total in flows:
        after[int(index) - first_slot][str(token)] += int(total or 0)
    history = analytics.price_history(session, bucket, analytics.Window(first, now), now=now)
    priced: dict[str, dict[int, float]] = {
        t.token: {int((p.start - first) / step): p.price_usd for p in t.points} for t in history.tokens
    }
    held = {t: q for t, q in quantities.items()}
    # The recorded reference prices (market history, dataset "live") where there are any: a
    # bucket's last recorded price beats the average price of the trades in it.
    for token in sorted({t for t, q in held.items() if q} | {t for flows in after.values() for t in flows}):
        for candle in market_history.candles(session, "live", token, first, now + step, bucket.seconds):
            priced.setdefault(token, {})[int((candle.start - first) / step)] = candle.close
    points: list[ValuePoint] = []
    for index in range(buckets - 1, -1, -1):  # newest first: undo each later bucket's flows
        value = 0.0
        for token, units in held.items():
            if units <= 0:
                continue
            price = _price_at(priced.get(token, {}), index, buckets - 1, prices_now.get(token))
            value += float(Decimal(units).scaleb(-get_token(token).decimals)) * price
        points.append(ValuePoint(first + index * step, round(value, 2)))
        for token, units in after.get(index, {}).items():
            held[token] = held.get(token, 0) - units
    points.reverse()
    return points


def _price_at(points: Mapping[int, float], index: int, newest: int, now: Decimal | None) -> float:
    if index == newest and now is not None:
        return float(now)
    earlier = [i for i in points if i <= index]
    if earlier:
        return points[max(earlier)]
    return float(now) if now is not None else 0.0
