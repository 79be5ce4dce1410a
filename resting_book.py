"""The open orders as the watcher's order book, kept between ticks and refreshed by what changed.

A tick used to read every open order (10,000 rows: one query, but tens of milliseconds of rows
turned into values and sorted) although between two ticks a handful change. ``RestingBook`` keeps
the book in the watching process and asks the database only for the orders whose ``updated_at``
moved since its last read began (on the ``(status, updated_at)`` index), then patches the
touched pairs (``OrderBook.updated``).

Every change of an order's status stamps ``updated_at`` with the writer's clock (trade_logger's
``_event`` and the bulk updates), but a transaction stamped before a read can commit after it. So
each refresh looks back ``overlap_s`` (10 s: far longer than any order transaction) before the
previous read began, and the whole book is read again every ``full_reload_s``. A stale entry
costs at most a wasted check: ``trigger_orders`` locks the row and acts only on an order still
``open``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

import order_book
from models import DbSession, Order, OrderStatus, utcnow

__all__ = ["RestingBook", "open_order_book", "resting_order"]

_COLUMNS = (
    Order.id,
    Order.account_id,
    Order.token_in,
    Order.token_out,
    Order.order_type,
    Order.amount_in,
    Order.limit_price,
    Order.trigger_price,
    Order.min_amount_out,
    Order.expires_at,
    Order.oco_group,
    Order.strategy,
    Order.slippage_bps,
)
_ALL_STATUSES = tuple(s.value for s in OrderStatus)


def resting_order(row: Any) -> order_book.RestingOrder | None:
    """An open order's row (the columns above) as the book's plain value; None if not resting."""
    kind = order_book.RestingType(row.order_type)
    price = row.limit_price if kind is order_book.RestingType.LIMIT else row.trigger_price
    if price is None:
        return None  # not a resting order's row (cannot happen through the API)
    return order_book.RestingOrder(
        row.id,
        row.account_id,
        row.token_in,
        row.token_out,
        kind,
        row.amount_in,
        price,
        row.min_amount_out,
        None if row.expires_at is None else row.expires_at.timestamp(),
        row.oco_group,
        row.strategy,
        row.slippage_bps,
    )


def _values(rows: Sequence[Any]) -> list[order_book.RestingOrder]:
    return [o for o in map(resting_order, rows) if o is not None]


def open_order_book(session: DbSession) -> order_book.OrderBook:
    """Every open order as a book: ONE query, columns only (no ORM objects)."""
    rows = session.execute(sa.select(*_COLUMNS).where(Order.status == OrderStatus.OPEN.value)).all()
    return order_book.OrderBook.of(_values(rows))


class RestingBook:
    """The watcher's book between ticks (one per process; ticks may come from any thread)."""

    def __init__(self, full_reload_s: float = 60.0, overlap_s: float = 10.0) -> None:
        self.full_reload_s = full_reload_s
        self.overlap_s = overlap_s
        self._lock = threading.Lock()
        self._book: order_book.OrderBook | None = None
        self._read_at: datetime | None = None  # when the last read began (the writers' clock)
        self._loaded_at = 0.0
        self.reloads = 0  # full reads, for tests and logs
        self.refreshes = 0  # incremental reads

    def book(self, session: DbSession, now: float) -> order_book.OrderBook:
        """The open orders now: the kept book patched with what changed, or read whole."""
        with self._lock:
            started = utcnow()
            if self._book is None or self._read_at is None or now - self._loaded_at >= self.full_reload_s:
                self._book, self._read_at = open_order_book(session), started
                self._loaded_at = now
                self.reloads += 1
                return self._book
            since = self._read_at - timedelta(seconds=self.overlap_s)
            rows = session.execute(
                sa.select(*_COLUMNS, Order.status).where(
                    Order.status.in_(_ALL_STATUSES), Order.updated_at > since
                )
            ).all()
            self._read_at = started
            self.refreshes += 1
            if rows:
                is_open = OrderStatus.OPEN.value
                upserts = _values([r for r in rows if r.status == is_open])
                removed = [r.id for r in rows if r.status != is_open]
                self._book = self._book.updated(upserts, removed)
            return self._book
