"""The Socket.IO events (``order_update``, ``trade_executed``, ``pool_update``, ``price_update``),
and their bodies as plain JSON for jobs, ``live_updates`` and ``background``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field

from models import Fill
from payloads.common import (
    Amount,
    DecimalText,
    OrderStatusName,
    Timestamp,
    _Out,
    decimal_str,
    iso,
    spot_price_str,
)
from payloads.market import PricesResponse, _prices_fields
from payloads.orders import FillOut, OrderSummary, PlannedLegOut, _planned_legs, _summary_fields
from tokens import format_amount

if TYPE_CHECKING:
    import otc_engine
    from amm import Pool
    from models import Order
    from price_feeds import PriceQuote, SourceStatus
    from trade_logger import RecordedTrade, StoredEvent


class PriceUpdate(PricesResponse):
    """The ``price_update`` event: ``GET /api/prices``'s body, plus when it was taken."""

    timestamp: Timestamp

    @classmethod
    def of(cls, quotes: Mapping[str, PriceQuote], statuses: Sequence[SourceStatus], now: float) -> Self:
        fields = _prices_fields(quotes, statuses, now)
        return cls.make(**fields, timestamp=fields["asOf"])


class PoolUpdate(_Out):
    """The ``pool_update`` event for an AMM pool a trade moved: reserves and spot price."""

    id: str
    venue: str
    kind: Literal["amm"]
    tokenA: str
    tokenB: str
    reserveA: Amount
    reserveB: Amount
    price: DecimalText

    @classmethod
    def of(cls, pool: Pool) -> Self:
        return cls.make(
            id=pool.pool_id,
            venue=pool.venue,
            kind="amm",
            tokenA=pool.token_a,
            tokenB=pool.token_b,
            reserveA=format_amount(pool.token_a, pool.reserve_a),
            reserveB=format_amount(pool.token_b, pool.reserve_b),
            price=spot_price_str(pool.token_a, pool.token_b, pool.reserve_a, pool.reserve_b),
        )


class DeskUpdate(_Out):
    """The ``pool_update`` event for an OTC desk a trade used: its inventory."""

    id: str
    venue: str
    kind: Literal["otc"]
    tokenA: str
    tokenB: str
    inventoryBase: Amount
    inventoryQuote: Amount

    @classmethod
    def of(cls, desk: otc_engine.Desk) -> Self:
        return cls.make(
            id=desk.desk_id,
            venue=desk.name,
            kind="otc",
            tokenA=desk.base,
            tokenB=desk.quote,
            inventoryBase=format_amount(desk.base, desk.inventory_base),
            inventoryQuote=format_amount(desk.quote, desk.inventory_quote),
        )


class OrderUpdate(OrderSummary):
    """The ``order_update`` event: the order, the step it reached, and its legs once it has any.

    ``seq`` (the event's id) grows with every step of an order: a client keeps the highest it has
    seen and drops anything older, so a snapshot and a room update can never run backwards.
    """

    status: OrderStatusName
    message: str
    timestamp: Timestamp
    seq: int | None
    legs: list[FillOut | PlannedLegOut] = Field(
        default_factory=list, description="Fills once confirmed; planned legs once routed (absent before)"
    )

    @classmethod
    def of_step(
        cls,
        order: Order,
        event: StoredEvent | None = None,
        *,
        seq: int | None = None,
        fills: Sequence[Mapping[str, Any]] | None = None,
    ) -> Self:
        """The update for one committed step (``event``), or the order's state now."""
        fields = _summary_fields(order)
        status = event.status if event is not None else order.status
        fields["status"] = status
        fields["message"] = (
            event.message if event is not None else (order.error_message or _last_message(order))
        )
        fields["timestamp"] = iso(event.at if event is not None else order.updated_at)
        fields["seq"] = event.seq if event is not None else seq
        if status == "confirmed":
            # A job passes the fills it just wrote (rows with their ids): no query per update.
            rows = order.fills if fills is None else [Fill(**f) for f in fills]
            fields["legs"] = [FillOut.of(f) for f in rows]
        elif status in ("routing", "building", "submitted", "failed"):
            legs = _planned_legs(order)
            if legs:
                fields["legs"] = legs
        return cls.make(**fields)


def _last_message(order: Order) -> str:
    return order.events[-1].message if order.events else order.status


class TradeExecuted(_Out):
    """The ``trade_executed`` event: one settled order, for the public trades feed."""

    orderId: str
    tradeId: int
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    routingStrategy: str
    venues: list[str] = Field(description="Venues of the legs, sorted, each once")
    notionalUsd: float
    savingsUsd: float
    priceImpactBps: str | None
    latencyMs: float
    executedAt: Timestamp
    paper: bool

    @classmethod
    def of(cls, recorded: RecordedTrade) -> Self:
        order, trade = recorded.order, recorded.trade
        impact = trade["price_impact_bps"]
        return cls.make(
            orderId=order.id,
            tradeId=trade["id"],
            tokenIn=order.token_in,
            tokenOut=order.token_out,
            amountIn=format_amount(order.token_in, int(trade["amount_in"])),  # spent: exact out holds more
            amountOut=format_amount(order.token_out, recorded.amount_out),
            routingStrategy=order.strategy,
            venues=sorted({leg.planned.venue for leg in recorded.legs}),
            notionalUsd=round(trade["notional_usd"], 2),
            savingsUsd=round(trade["savings_usd"], 6),
            priceImpactBps=decimal_str(impact, 4),
            latencyMs=round(trade["latency_ms"], 3),
            executedAt=iso(trade["executed_at"]),
            paper=True,
        )


# --- Socket.IO payloads as plain JSON (what jobs, live_updates and background call) ---------------


def order_payload(
    order: Order,
    event: StoredEvent | None = None,
    *,
    seq: int | None = None,
    fills: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``order_update`` body for one committed step (``event``), or the order's state now."""
    return OrderUpdate.of_step(order, event, seq=seq, fills=fills).to_json()


def trade_executed_json(recorded: RecordedTrade) -> dict[str, Any]:
    """The ``trade_executed`` body for one settled order."""
    return TradeExecuted.of(recorded).to_json()


def pool_update_json(pool: Pool) -> dict[str, Any]:
    """The ``pool_update`` body for an AMM pool a trade moved: reserves and spot price."""
    return PoolUpdate.of(pool).to_json()


def desk_update_json(desk: otc_engine.Desk) -> dict[str, Any]:
    """The ``pool_update`` body for an OTC desk a trade used: its inventory."""
    return DeskUpdate.of(desk).to_json()


def price_update_json(
    quotes: Mapping[str, PriceQuote], statuses: Sequence[SourceStatus], now: float
) -> dict[str, Any]:
    """The ``price_update`` body: ``GET /api/prices``'s, plus the time it was taken."""
    return PriceUpdate.of(quotes, statuses, now).to_json()
