"""The JSON of Solroute, REST and Socket.IO alike: each shape declared once, as a pydantic model.

A response model is both the contract (``/api/openapi.json`` is generated from it and the tests
hold real responses to it) and the builder: ``QuoteResponse.of(quote, quoted_at)`` makes the body
of ``GET /api/quote``, ``.to_json()`` gives it as JSON-ready values. Amounts are exact decimal strings
in token units ("1234.5", never an exponent); timestamps ISO 8601 UTC with a Z.

Builders use ``_Out.make``, not validation: the values come from our own domain objects, not
from a client; validating them again would cost time on the hot paths (a quote, an order) and
would also change them (a float field turns an int ``1`` into ``1.0``), while the served bytes
must stay as they are. ``make`` checks the field names; the tests validate every real response
strictly against these same models, and a value of the wrong type makes pydantic's serializer
warn (an error under pytest). Figures: ``bench/payloads.py``.

Socket.IO payloads (``order_update``, ``trade_executed``, ``pool_update``, ``price_update``) are
declared and built here too, so jobs and views share one shape and jobs never import the views.

One module a part: ``common`` (formatting, the ``_Out`` base, shared field types, the error body),
``system``, ``market``, ``orders``, ``analytics``, ``curves`` (liquidity curves), ``arbitrage``,
``backtests`` (runs, datasets, candles and their events) and ``events`` (the Socket.IO bodies and
their plain-JSON functions). Import from ``payloads`` itself.
"""

from __future__ import annotations

from payloads.analytics import (
    AnalyticsSummary,
    BreakdownResponse,
    ImpactResponse,
    LatencyResponse,
    PriceHistoryResponse,
    SlippageResponse,
    TimeseriesResponse,
)
from payloads.arbitrage import ArbitrageLegOut, OpportunitiesResponse, OpportunityOut
from payloads.backtests import (
    BacktestAccepted,
    BacktestDetail,
    BacktestProgress,
    BacktestsPage,
    BacktestSummary,
    BacktestTradeOut,
    BacktestTradesPage,
    CandlesResponse,
    CompareResponse,
    DatasetProgress,
    DatasetsResponse,
    DeletedResponse,
    GenerateAccepted,
    backtest_progress_json,
    dataset_progress_json,
)
from payloads.bots import (
    BotActionEvent,
    BotActionOut,
    BotDeleted,
    BotDetail,
    BotOut,
    BotsResponse,
    bot_action_json,
)
from payloads.common import (
    PRICE_DIGITS,
    ErrorResponse,
    OrderStatusName,
    Window,
    amount_str,
    decimal_str,
    epoch_iso,
    error_schema,
    iso,
    ratio_str,
    spot_price_str,
)
from payloads.common import _Out as _Out  # bench/payloads.py swaps payloads._Out.make
from payloads.curves import LiquidityCurvesResponse
from payloads.events import (
    DeskUpdate,
    OrderUpdate,
    PoolUpdate,
    PriceUpdate,
    TradeExecuted,
    desk_update_json,
    order_payload,
    pool_update_json,
    price_update_json,
    trade_executed_json,
)
from payloads.market import (
    OtcPoolsResponse,
    PoolsResponse,
    PricesResponse,
    QuoteResponse,
    RouteLegOut,
    TokensResponse,
    VenueQuoteOut,
)
from payloads.orders import (
    AccountResponse,
    FillOut,
    OrderAccepted,
    OrderDetail,
    OrdersPage,
    OrderSummary,
    TradesPage,
)
from payloads.portfolio import (
    HoldingOut,
    LimitOut,
    LimitsResponse,
    PortfolioResponse,
    PortfolioTotals,
    TradingHaltResponse,
    ValuePointOut,
)
from payloads.system import (
    DatabaseCheck,
    DispatchStats,
    HealthChecks,
    HealthResponse,
    JupiterCheck,
    QueueCheck,
    RedisCheck,
)

__all__ = [
    "PRICE_DIGITS",
    "AccountResponse",
    "AnalyticsSummary",
    "ArbitrageLegOut",
    "BacktestAccepted",
    "BacktestDetail",
    "BacktestProgress",
    "BacktestSummary",
    "BacktestTradeOut",
    "BacktestTradesPage",
    "BacktestsPage",
    "BotActionEvent",
    "BotActionOut",
    "BotDeleted",
    "BotDetail",
    "BotOut",
    "BotsResponse",
    "BreakdownResponse",
    "CandlesResponse",
    "CompareResponse",
    "DatabaseCheck",
    "DatasetProgress",
    "DatasetsResponse",
    "DeletedResponse",
    "DeskUpdate",
    "DispatchStats",
    "ErrorResponse",
    "FillOut",
    "GenerateAccepted",
    "HealthChecks",
    "HealthResponse",
    "HoldingOut",
    "ImpactResponse",
    "JupiterCheck",
    "LatencyResponse",
    "LimitOut",
    "LimitsResponse",
    "LiquidityCurvesResponse",
    "OpportunitiesResponse",
    "OpportunityOut",
    "OrderAccepted",
    "OrderDetail",
    "OrderStatusName",
    "OrderSummary",
    "OrderUpdate",
    "OrdersPage",
    "OtcPoolsResponse",
    "PoolUpdate",
    "PoolsResponse",
    "PortfolioResponse",
    "PortfolioTotals",
    "PriceHistoryResponse",
    "PriceUpdate",
    "PricesResponse",
    "QueueCheck",
    "QuoteResponse",
    "RedisCheck",
    "RouteLegOut",
    "SlippageResponse",
    "TimeseriesResponse",
    "TokensResponse",
    "TradeExecuted",
    "TradesPage",
    "TradingHaltResponse",
    "ValuePointOut",
    "VenueQuoteOut",
    "Window",
    "amount_str",
    "backtest_progress_json",
    "bot_action_json",
    "dataset_progress_json",
    "decimal_str",
    "desk_update_json",
    "epoch_iso",
    "error_schema",
    "iso",
    "order_payload",
    "pool_update_json",
    "price_update_json",
    "ratio_str",
    "spot_price_str",
    "trade_executed_json",
]
