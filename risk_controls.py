"""Risk limits and the trading halt as stored: the reads the order intake makes, and their writes.

Limits: an account's ``risk_limits`` row (a null column: the default from the settings
``RISK_*``), combined into ``risk.Limits``; ``set_limits`` writes them (the owner only lower, the
operator anything). The halt: the ``trading_halt`` row of ``system_flags``, read at most once
per ``HALT_CACHE_S`` per app (a per-process memory: another process sees a change within that
time); ``set_trading_halt`` writes it and forgets the memory at once.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import scoped_session

from errors import ValidationError
from models import Account, DailyRisk, DbSession, RiskLimit, SystemFlag, utcnow
from risk import LIMIT_NAMES, Limits, Today

__all__ = [
    "HALT_CACHE_S",
    "HALT_FLAG",
    "Halt",
    "account_limits",
    "default_limits",
    "order_risk_state",
    "set_limits",
    "set_trading_halt",
    "trading_halt",
]

HALT_FLAG = "trading_halt"
HALT_CACHE_S = 1.0


@dataclass(frozen=True)
class Halt:
    """Whether new orders are refused, why, and who said so when."""

    halted: bool = False
    reason: str = ""
    updated_at: datetime | None = None
    updated_by: str | None = None


class _HaltMemory:
    """The flag as last read, for HALT_CACHE_S: the intake of an order costs no query for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: Halt | None = None
        self.until = 0.0
        self.generation = 0  # bumped by every write here: a read begun before it must not be kept


def _memory() -> _HaltMemory:
    memory = current_app.extensions.get("solroute_halt")
    if memory is None:
        memory = current_app.extensions.setdefault("solroute_halt", _HaltMemory())
    assert isinstance(memory, _HaltMemory)
    return memory


def _read_halt(session: DbSession) -> Halt:
    row = session.get(SystemFlag, HALT_FLAG)
    if row is None:
        return Halt()
    value: Mapping[str, Any] = row.value if isinstance(row.value, Mapping) else {}
    return Halt(bool(value.get("halted")), str(value.get("reason") or ""), row.updated_at, row.updated_by)


def trading_halt(session: DbSession) -> Halt:
    """The halt as stored at most HALT_CACHE_S ago (this app's memory)."""
    memory = _memory()
    now = time.monotonic()
    value = memory.value
    if value is not None and now < memory.until:
        return value
    generation = memory.generation
    value = _read_halt(session)
    with memory.lock:
        if memory.generation == generation:  # else a write here overtook this read: keep the write's
            memory.value, memory.until = value, now + HALT_CACHE_S
    return value


def set_trading_halt(session: DbSession, *, halted: bool, reason: str, by: str) -> Halt:
    """Halt or resume trading (committed); the new state."""
    reason = reason.strip()
    if len(reason) > 500:
        raise ValidationError("reason must be at most 500 characters", field="reason")
    now = utcnow()
    row = session.get(SystemFlag, HALT_FLAG, with_for_update=True)
    if row is None:
        row = SystemFlag(name=HALT_FLAG)
        session.add(row)
    row.value = {"halted": halted, "reason": reason}
    row.updated_at, row.updated_by = now, by[:64]
    session.commit()
    halt = Halt(halted, reason, now, by[:64])
    memory = _memory()
    with memory.lock:
        memory.generation += 1
        memory.value, memory.until = halt, time.monotonic() + HALT_CACHE_S
    return halt


# --- limits -------------------------------------------------------------------------------------

_COLUMNS = tuple(LIMIT_NAMES)  # max_order_usd, max_impact_bps, daily_notional_usd, daily_loss_usd


def default_limits() -> Limits:
    """The settings' limits: RISK_MAX_ORDER_USD, RISK_MAX_IMPACT_BPS, RISK_DAILY_NOTIONAL_USD and
    RISK_DAILY_LOSS_USD (None: no limit)."""
    config = current_app.config
    return Limits(
        max_order_usd=config.get("RISK_MAX_ORDER_USD"),
        max_impact_bps=config.get("RISK_MAX_IMPACT_BPS"),
        daily_notional_usd=config.get("RISK_DAILY_NOTIONAL_USD"),
        daily_loss_usd=config.get("RISK_DAILY_LOSS_USD"),
    )


def account_limits(session: DbSession, account_id: int) -> tuple[Limits, Limits]:
    """(the account's effective limits, its own: None where the default applies)."""
    row = session.get(RiskLimit, account_id)
    own = Limits(*(None if row is None else getattr(row, c) for c in _COLUMNS))
    defaults = default_limits()
    effective = replace(defaults, **{c: getattr(own, c) for c in _COLUMNS if getattr(own, c) is not None})
    return effective, own


def set_limits(
    session: DbSession, account_id: int, wanted: Mapping[str, Decimal | None], *, by: str, is_operator: bool
) -> tuple[Limits, Limits]:
    """Set the limits named in ``wanted`` (None: back to the default); the owner may only lower them.

    An owner's new value must not be above the effective limit now (a default of "no limit"
    allows any); only the operator may raise a limit or give one back to the default.
    Committed; returns ``account_limits`` after.
    """
    effective, _ = account_limits(session, account_id)
    for column, value in wanted.items():
        name = LIMIT_NAMES[column]
        if value is not None and value < 0:
            raise ValidationError(f"{name} must be zero or more, got {value}", field=name)
        if is_operator:
            continue
        current = getattr(effective, column)
        if value is None and current is not None:
            raise ValidationError(
                f"{name}: only the operator can remove a limit (it is {current:f})", field=name
            )
        if value is not None and current is not None and value > current:
            raise ValidationError(
                f"{name} {value:f} is above the current limit {current:f}: an account can only lower "
                "its limits (the operator can raise them)",
                field=name,
            )
    row = session.get(RiskLimit, account_id, with_for_update=True)
    if row is None:
        row = RiskLimit(account_id=account_id)
        session.add(row)
    for column, value in wanted.items():
        setattr(row, column, value)
    row.updated_at, row.updated_by = utcnow(), by[:64]
    session.commit()
    return account_limits(session, account_id)


_RISK_STATE = (
    sa.select(*(getattr(RiskLimit, c) for c in _COLUMNS), DailyRisk.notional_usd, DailyRisk.realised_pnl_usd)
    .select_from(Account)
    .outerjoin(RiskLimit, RiskLimit.account_id == Account.id)
    .outerjoin(
        DailyRisk,
        sa.and_(DailyRisk.account_id == Account.id, DailyRisk.day == sa.bindparam("day", type_=sa.Date)),
    )
    .where(Account.id == sa.bindparam("account_id", type_=sa.Integer))
)


@functools.cache
def _risk_state_sql(dialect: sa.Dialect) -> str:
    return str(_RISK_STATE.compile(dialect=dialect))


def _decimal(text: object) -> Decimal | None:
    return None if text is None else Decimal(str(text))


def _in_transaction(session: DbSession) -> bool:
    real = session() if isinstance(session, scoped_session) else session
    return real.in_transaction()


def order_risk_state(session: DbSession, account_id: int, day: date) -> tuple[Limits, Today]:
    """The account's effective limits and its figures of ``day``, read in one statement.

    On the intake of every order: on PostgreSQL, when the session has no transaction open, the
    read runs on a connection in autocommit (one round trip, and the session stays out of a
    transaction, so create_order keeps its one-statement path: trade_logger._create_on_postgres).
    """
    params = {"account_id": account_id, "day": day}
    bind = session.get_bind()
    if bind.dialect.name == "postgresql" and isinstance(bind, sa.Engine) and not _in_transaction(session):
        # The driver's SQL, compiled once: SQLAlchemy's statement execution costs more than the read.
        with bind.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.autocommit = True  # psycopg2 sends nothing for this: it only stops sending BEGIN
            try:
                found = conn.exec_driver_sql(_risk_state_sql(bind.dialect), params).first()
            finally:
                if not raw.closed:
                    raw.autocommit = False
    else:
        found = session.execute(_RISK_STATE, params).first()
    if found is None:
        return default_limits(), Today()
    row = [_decimal(v) for v in found]  # ExactDecimal's text (the driver's SQL skips the type)
    own = Limits(*row[: len(_COLUMNS)])
    defaults = default_limits()
    effective = replace(defaults, **{c: getattr(own, c) for c in _COLUMNS if getattr(own, c) is not None})
    notional, realised = row[len(_COLUMNS) :]
    return effective, Today(notional or Decimal(0), realised or Decimal(0))
