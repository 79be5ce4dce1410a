"""Storage: the database models and nothing else (logic lives in trade_logger.py and the core).

Amounts are integer base units in ``BigInteger`` columns (SPL amounts are u64; the API refuses
anything above 2^63 - 1, far beyond any token's supply). Prices, spreads and other ratios are
exact decimals stored as text (``ExactDecimal``) because SQLite has no exact numeric type. Floats
appear only in columns named ``*_usd`` or ``value`` that feed charts and statistics. Every
timestamp is timezone-aware UTC (``UTCDateTime`` re-attaches the zone SQLite drops).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, scoped_session

__all__ = [
    "BACKTEST_FINAL",
    "FINAL_STATUSES",
    "NOT_EXECUTABLE",
    "RESTING_STATUSES",
    "Account",
    "AccountKind",
    "AmmPool",
    "Backtest",
    "BacktestStatus",
    "BacktestTrade",
    "Balance",
    "Bot",
    "BotAction",
    "BotKind",
    "BotState",
    "DailyRisk",
    "DbSession",
    "Fill",
    "LedgerEntry",
    "MarketDataset",
    "OTCPool",
    "Order",
    "OrderEvent",
    "OrderStatus",
    "OrderType",
    "PoolSnapshot",
    "Position",
    "PriceHistory",
    "RiskLimit",
    "SystemFlag",
    "Token",
    "Trade",
    "db",
    "utcnow",
]

# Named constraints so Alembic can alter them (and batch mode can rebuild SQLite tables).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# A plain Session or Flask-SQLAlchemy's scoped ``db.session``: the write path accepts either.
DbSession = Session | scoped_session[Any]


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored as its exact text (SQLite has no exact numeric type; we want one schema)."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise TypeError(f"ExactDecimal needs a finite Decimal, got {value!r}")
        return str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise TypeError(f"naive datetime {value!r}: use models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# expire_on_commit=False: jobs read an order after committing its step without a refresh query.
# Every write that depends on current state re-reads its rows under a lock (populate_existing).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    QUOTING = "quoting"
    ROUTING = "routing"
    BUILDING = "building"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    OPEN = "open"  # a limit, stop-loss or take-profit order resting until its price comes (input held)
    WORKING = "working"  # a TWAP parent whose slices run as child market orders
    CANCELLED = "cancelled"
    EXPIRED = "expired"


FINAL_STATUSES = frozenset(
    {OrderStatus.CONFIRMED, OrderStatus.FAILED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
)
# Not final, but not for the market path either: resting orders wait for a price, a TWAP parent for
# its slices. Execution jobs and stale-order recovery leave them alone.
RESTING_STATUSES = frozenset({OrderStatus.OPEN, OrderStatus.WORKING})
NOT_EXECUTABLE = FINAL_STATUSES | RESTING_STATUSES  # what the market path skips


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TWAP = "twap"


class AccountKind(enum.StrEnum):
    TRADER = "trader"
    POOL = "pool"  # one per AMM pool: the other side of its swaps
    DESK = "desk"  # one per OTC desk
    COUNTERPARTY = "counterparty"  # Jupiter paper fills
    TREASURY = "treasury"  # the source of paper deposits
    OPERATOR = "operator"  # runs the desk: the trading halt, any account's risk limits (no balances)


class Token(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "tokens"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    mint: Mapped[str] = mapped_column(String(64), unique=True)
    decimals: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))


class AmmPool(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "amm_pools"
    __table_args__ = (
        CheckConstraint("reserve_a > 0 AND reserve_b > 0", name="positive_reserves"),
        Index("ix_amm_pools_pair", "token_a", "token_b"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    venue: Mapped[str] = mapped_column(String(32), index=True)
    token_a: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"))
    token_b: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"))
    reserve_a: Mapped[int] = mapped_column(BigInteger)
    reserve_b: Mapped[int] = mapped_column(BigInteger)
    fee_bps: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OTCPool(db.Model):  # type: ignore[name-defined,misc]
    """An OTC desk: pair, spread curve, size limits and inventory (refilled over time)."""

    __tablename__ = "otc_pools"
    __table_args__ = (
        CheckConstraint("inventory_base >= 0 AND inventory_quote >= 0", name="inventory_non_negative"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    base: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"))
    quote: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"))
    base_spread_bps: Mapped[Decimal] = mapped_column(ExactDecimal)
    size_spread_bps: Mapped[Decimal] = mapped_column(ExactDecimal)
    curve: Mapped[str] = mapped_column(String(16))
    min_size: Mapped[int] = mapped_column(BigInteger)
    max_size: Mapped[int] = mapped_column(BigInteger)
    inventory_base: Mapped[int] = mapped_column(BigInteger)
    inventory_quote: Mapped[int] = mapped_column(BigInteger)
    target_base: Mapped[int] = mapped_column(BigInteger)
    target_quote: Mapped[int] = mapped_column(BigInteger)
    refill_base_per_s: Mapped[int] = mapped_column(BigInteger)
    refill_quote_per_s: Mapped[int] = mapped_column(BigInteger)
    settlement_delay_s: Mapped[Decimal] = mapped_column(ExactDecimal)
    noise_bps: Mapped[Decimal] = mapped_column(ExactDecimal)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    # Seconds since the epoch, exactly as otc_engine.Desk keeps it (refill is linear in time).
    inventory_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Account(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default=AccountKind.TRADER)
    # sha256 of the key: keys are 256-bit random, so a slow hash adds nothing but latency.
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    api_key_prefix: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    balances: Mapped[list[Balance]] = relationship(back_populates="account", lazy="select")


class Balance(db.Model):  # type: ignore[name-defined,misc]
    """A paper balance; ``reserved`` is held by open orders and cannot be spent twice."""

    __tablename__ = "balances"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= amount", name="reserved_within_amount"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    token: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[Account] = relationship(back_populates="balances")


class Order(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "orders"
    # Every index is written twice per order (the insert, then the update that settles it, which
    # changes the indexed status): only what the queries use. Listing and filtering are per
    # account (account_id, created_at); analytics by time (created_at); recovery by status.
    __table_args__ = (
        UniqueConstraint("account_id", "idempotency_key", name="uq_orders_account_idempotency_key"),
        Index("ix_orders_account_created", "account_id", "created_at"),
        Index("ix_orders_status_updated", "status", "updated_at"),
        Index("ix_orders_parent_id", "parent_id"),
        Index("ix_orders_oco_group", "oco_group"),
        CheckConstraint("amount_in > 0", name="positive_amount_in"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    token_in: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"))
    token_out: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"))
    amount_in: Mapped[int] = mapped_column(BigInteger)
    order_type: Mapped[str] = mapped_column(String(16), default="market")
    strategy: Mapped[str] = mapped_column(String(32))
    slippage_bps: Mapped[int] = mapped_column(Integer)
    quoted_amount_out: Mapped[int] = mapped_column(BigInteger)
    min_amount_out: Mapped[int] = mapped_column(BigInteger)
    amount_out: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The route as planned at submission and as executed (legs, gap, savings): JSON for display.
    route: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    quoting_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    routing_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    building_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Orders beyond market (see README "Order types"). ``exact_side`` "out": the trader wants
    # ``amount_out_wanted`` of token_out and ``amount_in`` is the most they pay (maxAmountIn, held).
    exact_side: Mapped[str] = mapped_column(String(3), default="in", server_default="in")
    amount_out_wanted: Mapped[int | None] = mapped_column(BigInteger)
    # limit: the least token_out per one token_in (human units); stop/take-profit: the trigger.
    limit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    trigger_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # One-cancels-other: the orders of a group share one hold; the first to trigger cancels the rest.
    oco_group: Mapped[str | None] = mapped_column(String(64))
    # TWAP: the parent holds the whole input; each child (a market order of one slice) takes its
    # slice's share of that hold. ``slices_sent`` children exist; the next is due at next_run_at.
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"))
    slices: Mapped[int | None] = mapped_column(Integer)
    interval_s: Mapped[float | None] = mapped_column(Float)
    slice_index: Mapped[int | None] = mapped_column(Integer)
    slices_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    on_child_failure: Mapped[str | None] = mapped_column(String(8))
    # What actually traded: a TWAP's children summed; an exact-out order's input spent.
    filled_amount_in: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    filled_amount_out: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", order_by="OrderEvent.id", lazy="select"
    )
    fills: Mapped[list[Fill]] = relationship(back_populates="order", order_by="Fill.leg_index", lazy="select")

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_resting(self) -> bool:
        return self.status in RESTING_STATUSES


class OrderEvent(db.Model):  # type: ignore[name-defined,misc]
    """One lifecycle transition of an order: the timeline the order page shows."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")


class Trade(db.Model):  # type: ignore[name-defined,misc]
    """One executed order: what the trader paid and received, and what routing saved."""

    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    token_in: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"))
    token_out: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"))
    strategy: Mapped[str] = mapped_column(String(32), index=True)
    amount_in: Mapped[int] = mapped_column(BigInteger)
    amount_out: Mapped[int] = mapped_column(BigInteger)
    quoted_amount_out: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)  # token_out per token_in, human units
    best_single_venue: Mapped[str | None] = mapped_column(String(64))
    best_single_amount_out: Mapped[int | None] = mapped_column(BigInteger)
    jupiter_amount_out: Mapped[int | None] = mapped_column(BigInteger)
    price_impact_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    optimality_gap_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    notional_usd: Mapped[float] = mapped_column(Float)  # statistics only
    savings_usd: Mapped[float] = mapped_column(Float)  # vs the best single venue; statistics only
    latency_ms: Mapped[float] = mapped_column(Float)  # submit (order created) to confirmed
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Fill(db.Model):  # type: ignore[name-defined,misc]
    """One executed leg of a trade."""

    __tablename__ = "fills"
    __table_args__ = (Index("ix_fills_venue_created", "venue", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trade_id: Mapped[int] = mapped_column(ForeignKey("trades.id"), index=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    leg_index: Mapped[int] = mapped_column(Integer)
    venue_id: Mapped[str] = mapped_column(String(64))
    venue: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    hop: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(64))
    token_in: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"), index=True)
    token_out: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"), index=True)
    amount_in: Mapped[int] = mapped_column(BigInteger)
    amount_out: Mapped[int] = mapped_column(BigInteger)
    quoted_amount_out: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)  # token_out per token_in, human units
    fee: Mapped[int] = mapped_column(BigInteger)  # in token_in base units
    fee_bps: Mapped[Decimal] = mapped_column(ExactDecimal)
    is_paper: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    order: Mapped[Order] = relationship(back_populates="fills")


class LedgerEntry(db.Model):  # type: ignore[name-defined,misc]
    """Double entry: for each trade or deposit, the entries of each token sum to zero."""

    __tablename__ = "ledger_entries"
    # (account_id, created_at): an account's value history sums its entries per bucket of a window.
    __table_args__ = (
        Index("ix_ledger_account_token", "account_id", "token"),
        Index("ix_ledger_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    token: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: + credit, - debit
    trade_id: Mapped[int | None] = mapped_column(ForeignKey("trades.id"), index=True)
    # Groups the entries of one posting (a trade or a deposit); each group sums to zero per token.
    journal: Mapped[str] = mapped_column(String(48), index=True)
    memo: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- market history and backtests (README "Backtesting") ------------------------------------------

# A row id that outgrows 2^31 on PostgreSQL (millions of history rows a day are possible); SQLite's
# INTEGER PRIMARY KEY is already 64-bit and only autoincrements under that exact type name.
BigId = BigInteger().with_variant(Integer, "sqlite")


class PriceHistory(db.Model):  # type: ignore[name-defined,misc]
    """A reference price of a token from one source at one instant, recorded live or synthetic.

    ``dataset`` is "live" for what the recorder saw, a name for generated data. ``price`` is exact
    (replays use it); ``price_usd`` is the same as a float, for candles and charts in SQL."""

    __tablename__ = "price_history"
    __table_args__ = (
        Index("ix_price_history_dataset_token_t", "dataset", "token", "t"),
        # Rows arrive in time order: a BRIN index on PostgreSQL is tiny and serves retention's scan.
        Index("ix_price_history_t", "t", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(32))
    token: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    t: Mapped[datetime] = mapped_column(UTCDateTime)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)
    price_usd: Mapped[float] = mapped_column(Float)


class PoolSnapshot(db.Model):  # type: ignore[name-defined,misc]
    """One venue's state at an instant: an AMM pool's reserves, or a desk's mid and inventory."""

    __tablename__ = "pool_snapshots"
    __table_args__ = (
        Index("ix_pool_snapshots_dataset_t", "dataset", "t"),
        Index("ix_pool_snapshots_t", "t", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(32))
    t: Mapped[datetime] = mapped_column(UTCDateTime)
    venue_id: Mapped[str] = mapped_column(String(64))
    venue: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # "amm" or "otc"
    token_a: Mapped[str] = mapped_column(String(16))
    token_b: Mapped[str] = mapped_column(String(16))
    reserve_a: Mapped[int | None] = mapped_column(BigInteger)
    reserve_b: Mapped[int | None] = mapped_column(BigInteger)
    fee_bps: Mapped[int | None] = mapped_column(Integer)
    mid: Mapped[Decimal | None] = mapped_column(ExactDecimal)  # a desk's quote per base, human units
    inventory_base: Mapped[int | None] = mapped_column(BigInteger)
    inventory_quote: Mapped[int | None] = mapped_column(BigInteger)


class MarketDataset(db.Model):  # type: ignore[name-defined,misc]
    """The catalogue of datasets: what each holds, kept current by its writers (the generator, the
    live recorder and retention), so listing datasets reads one row each, never the history."""

    __tablename__ = "market_datasets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # "live" or "synthetic"
    status: Mapped[str] = mapped_column(String(16))  # "generating", "ready" or "failed"
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    frames: Mapped[int] = mapped_column(Integer, default=0)  # instants stored
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a generated one's parameters
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BacktestStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


BACKTEST_FINAL = frozenset({BacktestStatus.COMPLETED, BacktestStatus.FAILED, BacktestStatus.CANCELLED})


class Backtest(db.Model):  # type: ignore[name-defined,misc]
    """One backtest run: its plan, where it is, and (once done) its metrics and series."""

    __tablename__ = "backtests"
    __table_args__ = (Index("ix_backtests_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(64))
    plan_kind: Mapped[str] = mapped_column(String(32))
    strategy: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # the request as given (amounts as text)
    dataset: Mapped[str] = mapped_column(String(32))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=BacktestStatus.PENDING)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    error_message: Mapped[str | None] = mapped_column(Text)
    # Statistics (floats by the rule: they feed charts and comparisons, never money).
    total_return: Mapped[float | None] = mapped_column(Float)
    sharpe_ratio: Mapped[float | None] = mapped_column(Float)
    sortino_ratio: Mapped[float | None] = mapped_column(Float)
    max_drawdown: Mapped[float | None] = mapped_column(Float)
    win_rate: Mapped[float | None] = mapped_column(Float)
    profit_factor: Mapped[float | None] = mapped_column(Float)
    total_cost_bps: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    equity: Mapped[list[Any] | None] = mapped_column(JSON)  # [[epoch s, value_usd], ...] downsampled
    drawdown: Mapped[list[Any] | None] = mapped_column(JSON)
    trade_count: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_final(self) -> bool:
        return self.status in BACKTEST_FINAL


class BacktestTrade(db.Model):  # type: ignore[name-defined,misc]
    """One simulated trade of a backtest (deleted with it)."""

    __tablename__ = "backtest_trades"
    __table_args__ = (UniqueConstraint("backtest_id", "seq", name="uq_backtest_trades_backtest_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    backtest_id: Mapped[str] = mapped_column(ForeignKey("backtests.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    t: Mapped[datetime] = mapped_column(UTCDateTime)
    token_in: Mapped[str] = mapped_column(String(16))
    token_out: Mapped[str] = mapped_column(String(16))
    amount_in: Mapped[int] = mapped_column(BigInteger)
    amount_out: Mapped[int] = mapped_column(BigInteger)
    execution_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    reference_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    cost_bps: Mapped[Decimal] = mapped_column(ExactDecimal)
    legs: Mapped[list[Any]] = mapped_column(JSON)
    balances: Mapped[dict[str, Any]] = mapped_column(JSON)  # token -> base units as text
    value_usd: Mapped[float] = mapped_column(Float)


# --- portfolio, risk limits and the trading halt (README "Portfolio, risk limits and the trading halt")


class Position(db.Model):  # type: ignore[name-defined,misc]
    """An account's holding of one token at average cost: what reads of P&L use, never the trades.

    Written with the balance in the same transaction (trade_logger.settle_orders, venue_state.deposit).
    ``cost_usd`` is the cost basis of ``quantity`` (USD, 8 decimal places); ``realised_pnl_usd`` the
    running sum of proceeds less the cost removed by sales.
    """

    __tablename__ = "positions"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    token: Mapped[str] = mapped_column(ForeignKey("tokens.symbol"), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    realised_pnl_usd: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyRisk(db.Model):  # type: ignore[name-defined,misc]
    """Per account and UTC day: executed notional and realised P&L (USD), for the daily risk limits.

    One row per account and day, updated in the settling transaction: the limits read one row.
    """

    __tablename__ = "daily_risk"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    notional_usd: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    realised_pnl_usd: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    trades: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiskLimit(db.Model):  # type: ignore[name-defined,misc]
    """An account's own risk limits; a null column takes the default from the settings (RISK_*)."""

    __tablename__ = "risk_limits"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    max_order_usd: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    max_impact_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    daily_notional_usd: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    daily_loss_usd: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class SystemFlag(db.Model):  # type: ignore[name-defined,misc]
    """A switch of the whole system (``trading_halt``: ``{"halted": bool, "reason": str}``)."""

    __tablename__ = "system_flags"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


# --- paper trading bots (README "Bots")


class BotKind(enum.StrEnum):
    ARBITRAGE = "arbitrage"
    REBALANCE = "rebalance"
    FLOW = "flow"
    DCA = "dca"


class BotState(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    ERROR = "error"


class Bot(db.Model):  # type: ignore[name-defined,misc]
    """A paper trading bot: its own account, its type's config, its state and its run lease.

    ``lease_owner``/``lease_until`` are the single-runner lock: a runner takes the bot with a
    compare-and-set UPDATE (``WHERE lease_until IS NULL OR lease_until < now``), on both databases.
    """

    __tablename__ = "bots"
    __table_args__ = (Index("ix_bots_state_next_run_at", "state", "next_run_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default=BotState.STOPPED)
    state_reason: Mapped[str | None] = mapped_column(Text)
    interval_s: Mapped[float] = mapped_column(Float)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BotAction(db.Model):  # type: ignore[name-defined,misc]
    """One thing a bot did or decided: an order, a skip, an error, a start or a stop."""

    __tablename__ = "bot_actions"
    # A bot's newest actions: one backward scan of (bot_id, id), however many it has.
    __table_args__ = (Index("ix_bot_actions_bot_id_id", "bot_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[str] = mapped_column(ForeignKey("bots.id"))
    t: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    order_id: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
