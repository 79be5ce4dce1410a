"""Orders and trades: an order's summary and detail, its legs, the accepted answer, the account."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field

from execution_plan import price_of
from payloads.common import (
    PHASES,
    Amount,
    DecimalText,
    Kind,
    OrderStatusName,
    Timestamp,
    _Out,
    amount_str,
    decimal_str,
    epoch_iso,
    iso,
)

if TYPE_CHECKING:
    from models import Account, Fill, Order, OrderEvent, Trade


class FillOut(_Out):
    """One executed leg."""

    id: int
    orderId: str
    legIndex: int
    venue: str
    venueId: str
    kind: Kind
    hop: int
    path: list[str]
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    quotedAmountOut: Amount
    price: DecimalText = Field(description="tokenOut per tokenIn, token units")
    fee: Amount = Field(description="Fee kept by the venue, in tokenIn")
    feeBps: DecimalText
    paper: bool
    executedAt: Timestamp

    @classmethod
    def of(cls, fill: Fill) -> Self:
        """One executed leg (no account: this is public in ``GET /api/trades``)."""
        return cls.make(
            id=fill.id,
            orderId=fill.order_id,
            legIndex=fill.leg_index,
            venue=fill.venue,
            venueId=fill.venue_id,
            kind=fill.kind,
            hop=fill.hop,
            path=fill.path.split(">"),
            tokenIn=fill.token_in,
            tokenOut=fill.token_out,
            amountIn=amount_str(fill.token_in, fill.amount_in),
            amountOut=amount_str(fill.token_out, fill.amount_out),
            quotedAmountOut=amount_str(fill.token_out, fill.quoted_amount_out),
            price=decimal_str(fill.price),
            fee=amount_str(fill.token_in, fill.fee),
            feeBps=decimal_str(fill.fee_bps, 4),
            paper=fill.is_paper,
            executedAt=iso(fill.created_at),
        )


class PlannedLegOut(_Out):
    """A leg as routed, before it executed."""

    venue: str
    venueId: str
    kind: Kind
    hop: int
    path: list[str]
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    planned: Literal[True]
    paper: bool

    @classmethod
    def of(cls, leg: Mapping[str, Any]) -> Self:
        """A leg of the plan stored on the order (``order.route["plan"]["legs"]``)."""
        return cls.make(
            venue=leg["venue"],
            venueId=leg["venue_id"],
            kind=leg["kind"],
            hop=leg["hop"],
            path=list(leg["path"]),
            tokenIn=leg["token_in"],
            tokenOut=leg["token_out"],
            amountIn=amount_str(leg["token_in"], leg["amount_in"]),
            amountOut=amount_str(leg["token_out"], leg["amount_out"]),
            planned=True,
            paper=True,
        )


def _planned_legs(order: Order) -> list[PlannedLegOut]:
    """The legs of the order's plan once routed (amounts as planned), else nothing."""
    plan = (order.route or {}).get("plan")
    return [PlannedLegOut.of(leg) for leg in plan.get("legs", [])] if plan else []


def _order_legs(order: Order) -> list[FillOut | PlannedLegOut]:
    """Executed fills once confirmed, else the planned legs once routed, else nothing."""
    if order.status == "confirmed" and order.fills:  # no fills query for a live order
        return [FillOut.of(f) for f in order.fills]
    return list(_planned_legs(order))


class OrderError(_Out):
    code: str
    message: str | None


class OrderPhases(_Out):
    quoting: Timestamp | None
    routing: Timestamp | None
    building: Timestamp | None
    submitted: Timestamp | None
    confirmed: Timestamp | None
    failed: Timestamp | None
    cancelled: Timestamp | None
    expired: Timestamp | None


def _summary_fields(order: Order) -> dict[str, Any]:
    """An order's own fields (no legs or events), as ``OrderSummary`` and its subclasses hold them."""
    return {
        "orderId": order.id,
        "status": order.status,
        "tokenIn": order.token_in,
        "tokenOut": order.token_out,
        "amountIn": amount_str(order.token_in, order.amount_in),
        "amountOut": amount_str(order.token_out, order.amount_out),
        "quotedAmountOut": amount_str(order.token_out, order.quoted_amount_out),
        "minAmountOut": amount_str(order.token_out, order.min_amount_out),
        "orderType": order.order_type,
        "routingStrategy": order.strategy,
        "slippageBps": order.slippage_bps,
        "attempts": order.attempts,
        "error": None
        if order.error_code is None
        else OrderError.make(code=order.error_code, message=order.error_message),
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "phases": OrderPhases.make(**{p: iso(getattr(order, f"{p}_at")) for p in PHASES}),
        "paper": True,
        "exactSide": order.exact_side,
        "amountOutWanted": amount_str(order.token_out, order.amount_out_wanted),
        "limitPrice": decimal_str(order.limit_price),
        "triggerPrice": decimal_str(order.trigger_price),
        "expiresAt": iso(order.expires_at),
        "triggeredAt": iso(order.triggered_at),
        "ocoGroup": order.oco_group,
        "parentId": order.parent_id,
        "slices": order.slices,
        "intervalS": order.interval_s,
        "sliceIndex": order.slice_index,
        "slicesSent": order.slices_sent or 0,
        "nextSliceAt": iso(order.next_run_at) if order.order_type == "twap" else None,
        "onChildFailure": order.on_child_failure,
        "filledAmountIn": amount_str(order.token_in, order.filled_amount_in or 0),
        "filledAmountOut": amount_str(order.token_out, order.filled_amount_out or 0),
        "averagePrice": None
        if not order.filled_amount_in or not order.filled_amount_out
        else decimal_str(
            price_of(order.token_in, order.token_out, order.filled_amount_in, order.filled_amount_out)
        ),
    }


class OrderSummary(_Out):
    orderId: str
    status: OrderStatusName
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount | None
    quotedAmountOut: Amount
    minAmountOut: Amount
    orderType: str
    routingStrategy: str
    slippageBps: int
    attempts: int
    error: OrderError | None
    createdAt: Timestamp
    updatedAt: Timestamp
    phases: OrderPhases
    paper: bool
    exactSide: Literal["in", "out"] = Field(
        description="Which amount is exact: amountIn (in) or amountOut (out)"
    )
    amountOutWanted: Amount | None = Field(description="exact out: the tokenOut the trader wants")
    limitPrice: DecimalText | None = Field(description="limit: least tokenOut per one tokenIn")
    triggerPrice: DecimalText | None = Field(description="stop_loss / take_profit: trigger price")
    expiresAt: Timestamp | None
    triggeredAt: Timestamp | None = Field(description="When a resting order's price came")
    ocoGroup: str | None
    parentId: str | None = Field(description="A TWAP slice's parent order")
    slices: int | None
    intervalS: float | None
    sliceIndex: int | None = Field(description="A TWAP slice's index (0-based)")
    slicesSent: int = Field(description="TWAP: slices started so far")
    nextSliceAt: Timestamp | None
    onChildFailure: str | None
    filledAmountIn: Amount = Field(description="tokenIn actually spent (TWAP: over its slices)")
    filledAmountOut: Amount = Field(description="tokenOut actually received (TWAP: over its slices)")
    averagePrice: DecimalText | None = Field(description="filledAmountOut per filledAmountIn, token units")

    @classmethod
    def of(cls, order: Order) -> Self:
        """An order's own fields (no legs or events)."""
        return cls.make(**_summary_fields(order))


class _Page(_Out):
    """One page of a list endpoint: the items (the model's first field), the total and the paging."""

    @classmethod
    def page(cls, items: Sequence[_Out], total: int, limit: int, offset: int) -> Self:
        fields: dict[str, Any] = {next(iter(cls.model_fields)): list(items)}
        return cls.make(**fields, total=total, limit=limit, offset=offset)


class OrdersPage(_Page):
    orders: list[OrderSummary]
    total: int
    limit: int
    offset: int


class OrderEventOut(_Out):
    status: str
    message: str
    timestamp: Timestamp

    @classmethod
    def of(cls, e: OrderEvent) -> Self:
        return cls.make(status=e.status, message=e.message, timestamp=iso(e.created_at))


class OrderRouteOut(_Out):
    optimalityGapBps: DecimalText | None
    priceImpactBps: DecimalText | None
    savingsVsBestSingleBps: DecimalText | None
    bestSingleVenue: str | None
    bestSingleAmountOut: Amount | None
    jupiterAmountOut: Amount | None
    settleAt: Timestamp | None = Field(
        default=None, description="When an OTC leg settles (the order waits until then); null without one"
    )

    @classmethod
    def of(cls, plan: Mapping[str, Any], token_out: str, settle_at: float | None = None) -> Self:
        """The certificate of the plan stored on an order (``settle_at``: its OTC settlement, epoch s)."""
        return cls.make(
            optimalityGapBps=decimal_str(plan.get("optimality_gap_bps"), 6),
            priceImpactBps=decimal_str(plan.get("price_impact_bps"), 4),
            savingsVsBestSingleBps=decimal_str(plan.get("savings_vs_best_single_bps"), 4),
            bestSingleVenue=plan.get("best_single_venue"),
            bestSingleAmountOut=amount_str(token_out, plan.get("best_single_amount_out")),
            jupiterAmountOut=amount_str(token_out, plan.get("jupiter_amount_out")),
            settleAt=epoch_iso(settle_at) if plan.get("settlement_delay_s") else None,
        )


class OrderTradeOut(_Out):
    tradeId: int
    price: DecimalText
    latencyMs: float
    notionalUsd: float
    savingsUsd: float
    executedAt: Timestamp

    @classmethod
    def of(cls, trade: Trade) -> Self:
        return cls.make(
            tradeId=trade.id,
            price=decimal_str(trade.price),
            latencyMs=round(trade.latency_ms, 3),
            notionalUsd=round(trade.notional_usd, 2),
            savingsUsd=round(trade.savings_usd, 6),
            executedAt=iso(trade.executed_at),
        )


class TwapChildOut(_Out):
    """One slice of a TWAP order: its child market order."""

    orderId: str
    sliceIndex: int = Field(description="0-based")
    status: OrderStatusName
    amountIn: Amount
    amountOut: Amount | None = Field(description="tokenOut received, once confirmed")
    price: DecimalText | None = Field(description="tokenOut per tokenIn, token units, once confirmed")
    referencePrice: DecimalText | None = Field(
        description="the reference mid (tokenOut per tokenIn) the slice was routed at, once routed"
    )
    executedAt: Timestamp | None
    error: OrderError | None

    @classmethod
    def of(cls, child: Order) -> Self:
        filled = child.status == "confirmed" and child.amount_out is not None
        prices = ((child.route or {}).get("plan") or {}).get("usd_prices") or {}
        price_in, price_out = (Decimal(prices.get(t) or 0) for t in (child.token_in, child.token_out))
        reference = price_in / price_out if price_in > 0 and price_out > 0 else None
        return cls.make(
            orderId=child.id,
            sliceIndex=child.slice_index or 0,
            status=child.status,
            amountIn=amount_str(child.token_in, child.amount_in),
            amountOut=amount_str(child.token_out, child.amount_out),
            price=decimal_str(price_of(child.token_in, child.token_out, child.amount_in, child.amount_out))
            if filled and child.amount_out is not None
            else None,
            referencePrice=decimal_str(reference),
            executedAt=iso(child.confirmed_at) if filled else None,
            error=None
            if child.error_code is None
            else OrderError.make(code=child.error_code, message=child.error_message),
        )


class OrderDetail(OrderSummary):
    """``GET /api/orders/{orderId}``: the order, its legs, its events and the route's certificate."""

    legs: list[FillOut | PlannedLegOut]
    events: list[OrderEventOut]
    route: OrderRouteOut | None
    trade: OrderTradeOut | None
    children: list[TwapChildOut] = Field(
        description="TWAP: its slices sent so far, by sliceIndex (empty for other orders)"
    )
    currentPrice: DecimalText | None = Field(
        default=None,
        description="An open resting order: the price its trigger watches now, tokenOut per tokenIn "
        "(limit: the best route's for the whole amount; stop / take profit: the reference mid)",
    )
    distanceBps: DecimalText | None = Field(
        default=None,
        description="An open resting order: (limitPrice or triggerPrice − currentPrice) / currentPrice in "
        "bps; a limit or take-profit fills at ≤ 0, a stop-loss at ≥ 0",
    )

    @classmethod
    def of_order(
        cls,
        order: Order,
        trade: Trade | None,
        children: Sequence[Order] = (),
        current_price: Decimal | None = None,
    ) -> Self:
        plan = (order.route or {}).get("plan") or {}
        watched = order.limit_price if order.order_type == "limit" else order.trigger_price
        distance = None
        if current_price is not None and current_price > 0 and watched is not None:
            distance = (watched - current_price) / current_price * 10_000
        return cls.make(
            **_summary_fields(order),
            legs=_order_legs(order),
            events=[OrderEventOut.of(e) for e in order.events],
            route=OrderRouteOut.of(plan, order.token_out, (order.route or {}).get("settle_at"))
            if plan
            else None,
            trade=None if trade is None else OrderTradeOut.of(trade),
            children=[TwapChildOut.of(c) for c in children],
            currentPrice=decimal_str(current_price, 12) if current_price is not None else None,
            distanceBps=decimal_str(distance, 2),
        )


class OrderLinks(_Out):
    order: str


class SocketAuth(_Out):
    apiKey: str


class SocketSubscribeData(_Out):
    orderId: str


class SocketSubscribe(_Out):
    event: str
    data: SocketSubscribeData


class SocketHelp(_Out):
    path: str
    auth: SocketAuth
    subscribe: SocketSubscribe
    event: str


class OrderAccepted(_Out):
    """``POST /api/orders/execute``: 202 when accepted, 200 (Idempotent-Replayed: true) on a replay."""

    orderId: str
    status: OrderStatusName
    quotedAmountOut: Amount
    minAmountOut: Amount
    paper: bool
    links: OrderLinks
    socket: SocketHelp

    @classmethod
    def of(cls, order: Order) -> Self:
        """The answer to ``POST /api/orders/execute`` (first time or replayed)."""
        return cls.make(
            orderId=order.id,
            status=order.status,
            quotedAmountOut=amount_str(order.token_out, order.quoted_amount_out),
            minAmountOut=amount_str(order.token_out, order.min_amount_out),
            paper=True,
            links=OrderLinks.make(order=f"/api/orders/{order.id}"),
            socket=SocketHelp.make(
                path="/socket.io",
                auth=SocketAuth.make(apiKey="<your X-API-Key>"),
                subscribe=SocketSubscribe.make(
                    event="subscribe_order", data=SocketSubscribeData.make(orderId=order.id)
                ),
                event="order_update",
            ),
        )


class BalanceOut(_Out):
    token: str
    amount: Amount
    reserved: Amount = Field(description="Held by open orders")
    available: Amount


class AccountResponse(_Out):
    """``GET /api/accounts/me``."""

    accountId: int
    name: str
    apiKeyPrefix: str | None
    createdAt: Timestamp
    balances: list[BalanceOut]
    paper: bool

    @classmethod
    def of(cls, account: Account) -> Self:
        """The account and its balances by token."""
        return cls.make(
            accountId=account.id,
            name=account.name,
            apiKeyPrefix=account.api_key_prefix,
            createdAt=iso(account.created_at),
            balances=[
                BalanceOut.make(
                    token=b.token,
                    amount=amount_str(b.token, b.amount),
                    reserved=amount_str(b.token, b.reserved),
                    available=amount_str(b.token, b.amount - b.reserved),
                )
                for b in sorted(account.balances, key=lambda b: b.token)
            ],
            paper=True,
        )


class TradesPage(_Page):
    """``GET /api/trades``: executed legs, newest first (no account is exposed)."""

    trades: list[FillOut]
    total: int
    limit: int
    offset: int
