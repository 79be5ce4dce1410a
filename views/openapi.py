"""The OpenAPI 3.1 document of ``/api``, generated from the pydantic models in ``views.schemas``.

The query models that validate requests become each operation's ``parameters``, the body model
its ``requestBody``, and the response models (which the tests hold real responses to) its
``responses``: the document cannot describe an API other than the one that runs.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from views.schemas import (
    REQUEST_MODELS,
    RESPONSE_MODELS,
    AccountResponse,
    AnalyticsQuery,
    AnalyticsSummary,
    BreakdownResponse,
    ErrorResponse,
    ExecuteOrderRequest,
    HealthResponse,
    ImpactResponse,
    LatencyResponse,
    LiquidityCurvesQuery,
    LiquidityCurvesResponse,
    OrderAccepted,
    OrderDetail,
    OrdersPage,
    OrdersQuery,
    OtcPoolsResponse,
    PoolsQuery,
    PoolsResponse,
    PricesResponse,
    QuoteQuery,
    QuoteResponse,
    RecentTradesQuery,
    SlippageResponse,
    TimeseriesQuery,
    TimeseriesResponse,
    TokensResponse,
    TradesPage,
    TradesQuery,
)

__all__ = ["ERROR_RESPONSES", "OPERATIONS", "Operation", "openapi_document"]

REF = "#/components/schemas/{model}"
API_KEY_SCHEME = "ApiKeyAuth"

# Error responses by status: the description of when each happens.
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Invalid input: the error names the field, parameter or header at fault"),
    401: ("Unauthorized", "Missing or invalid X-API-Key"),
    404: ("NotFound", "No such resource for this account"),
    409: ("Conflict", "The Idempotency-Key was used before for a different request"),
    415: ("UnsupportedMediaType", "The body is not application/json"),
    422: ("Unprocessable", "Valid input that cannot be done: insufficient balance, no route"),
    503: (
        "ServiceUnavailable",
        "A dependency (the database, prices, a venue) cannot answer right now, or too many orders wait"
        " to execute; retry later (after Retry-After seconds when the header is set)",
    ),
}


@dataclass(frozen=True)
class Operation:
    """One documented endpoint."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    response: type[BaseModel] | None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = (400,)
    auth: bool = False
    status: int = 200
    also: tuple[tuple[int, str], ...] = ()  # more statuses answering with the response model
    replayable: bool = False  # Idempotency-Key: a 200 replay carries Idempotent-Replayed
    path_params: tuple[dict[str, Any], ...] = ()
    headers: tuple[dict[str, Any], ...] = ()


IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the same key with the same body answers 200 with the first "
    "order (header Idempotent-Replayed: true) and executes once; with a different body, 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
ORDER_ID_PARAM = {
    "name": "orderId",
    "in": "path",
    "required": True,
    "description": "The orderId returned by POST /api/orders/execute",
    "schema": {"type": "string", "maxLength": 64},
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/api/health",
        "health",
        "Database, Redis, queue and Jupiter status (503 when degraded)",
        "system",
        HealthResponse,
        errors=(),
        also=((503, "Degraded: a dependency does not answer"),),
    ),
    Operation("get", "/api/openapi.json", "openapi", "This document", "system", None, errors=()),
    Operation(
        "get",
        "/api/tokens",
        "listTokens",
        "Supported tokens with mints and decimals",
        "market",
        TokensResponse,
    ),
    Operation(
        "get",
        "/api/quote",
        "quote",
        "Quote every venue side by side and the chosen route, with its optimality certificate",
        "market",
        QuoteResponse,
        query=QuoteQuery,
        errors=(400, 422, 503),
    ),
    Operation(
        "get",
        "/api/prices",
        "listPrices",
        "USD price of every token with its source and the sources' health",
        "market",
        PricesResponse,
        errors=(400, 503),
    ),
    Operation(
        "get",
        "/api/liquidity-pools",
        "listLiquidityPools",
        "AMM pools: reserves, fee, spot price and USD depth",
        "market",
        PoolsResponse,
        query=PoolsQuery,
    ),
    Operation(
        "get",
        "/api/otc-pools",
        "listOtcPools",
        "OTC desks: spread curve, size limits and inventory refilled to now",
        "market",
        OtcPoolsResponse,
    ),
    Operation(
        "get",
        "/api/trades",
        "listTrades",
        "Executed legs (fills), newest first; no account is shown",
        "market",
        TradesPage,
        query=TradesQuery,
    ),
    Operation(
        "get",
        "/api/analytics/summary",
        "analyticsSummary",
        "Volume by venue and strategy, savings vs the best single venue and Jupiter, impact, latency",
        "analytics",
        AnalyticsSummary,
        query=AnalyticsQuery,
    ),
    Operation(
        "get",
        "/api/analytics/timeseries",
        "analyticsTimeseries",
        "Orders, outcomes, trades, volume and savings per minute, hour or day (empty buckets as zeros)",
        "analytics",
        TimeseriesResponse,
        query=TimeseriesQuery,
    ),
    Operation(
        "get",
        "/api/analytics/impact",
        "analyticsImpact",
        "The latest trades' USD notional and price impact, newest first",
        "analytics",
        ImpactResponse,
        query=RecentTradesQuery,
    ),
    Operation(
        "get",
        "/api/analytics/latency",
        "analyticsLatency",
        "Histogram and nearest-rank percentiles of submit-to-confirmed latency",
        "analytics",
        LatencyResponse,
        query=AnalyticsQuery,
    ),
    Operation(
        "get",
        "/api/analytics/slippage",
        "analyticsSlippage",
        "Quoted versus filled output of the latest trades (realised slippage) and its aggregate",
        "analytics",
        SlippageResponse,
        query=RecentTradesQuery,
    ),
    Operation(
        "get",
        "/api/analytics/breakdown",
        "analyticsBreakdown",
        "Volume and savings per venue and per strategy",
        "analytics",
        BreakdownResponse,
        query=AnalyticsQuery,
    ),
    Operation(
        "get",
        "/api/liquidity-curves",
        "liquidityCurves",
        "Output and price impact of each pool, desk and cached Jupiter curve of a pair at log-spaced sizes",
        "market",
        LiquidityCurvesResponse,
        query=LiquidityCurvesQuery,
        errors=(400, 503),
    ),
    Operation(
        "post",
        "/api/orders/execute",
        "executeOrder",
        "Submit a market order (paper trading); it executes in the background",
        "orders",
        OrderAccepted,
        body=ExecuteOrderRequest,
        errors=(400, 401, 409, 415, 422, 503),
        auth=True,
        status=202,
        headers=(IDEMPOTENCY_HEADER,),
        also=((200, "A replay of an earlier request with the same Idempotency-Key: the first answer"),),
        replayable=True,
    ),
    Operation(
        "get",
        "/api/orders",
        "listOrders",
        "The account's orders, newest first",
        "orders",
        OrdersPage,
        query=OrdersQuery,
        errors=(400, 401),
        auth=True,
    ),
    Operation(
        "get",
        "/api/orders/{orderId}",
        "getOrder",
        "One order with its legs, lifecycle events and route certificate",
        "orders",
        OrderDetail,
        errors=(400, 401, 404),
        auth=True,
        path_params=(ORDER_ID_PARAM,),
    ),
    Operation(
        "get",
        "/api/accounts/me",
        "getAccount",
        "The account and its paper balances",
        "accounts",
        AccountResponse,
        errors=(400, 401),
        auth=True,
    ),
)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop the null branch of an optional's schema."""
    schema = {k: v for k, v in schema.items() if k != "title"}
    branches = schema.get("anyOf")
    if branches is not None:
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1:
            del schema["anyOf"]
            schema = {**kept[0], **schema}
        else:
            schema["anyOf"] = kept
    if schema.get("default", 0) is None:
        del schema["default"]
    return schema


def _parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    """One query parameter per field of ``model`` (by its alias: ``from``, not ``from_``)."""
    schema = model.model_json_schema(by_alias=True, ref_template=REF)
    components.update(schema.get("$defs", {}))
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        param_schema = _without_null(prop)
        description = param_schema.pop("description", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if description:
            param["description"] = description
        param["schema"] = param_schema
        params.append(param)
    return params


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _operation(
    op: Operation, refs: Mapping[Any, dict[str, Any]], components: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    params = [*op.path_params, *op.headers]
    if op.query is not None:
        params += _parameters(op.query, components)
    if params:
        body["parameters"] = params
    if op.body is not None:
        body["requestBody"] = {"required": True, "content": _json(refs[op.body])}
    ok = refs[op.response] if op.response is not None else {"type": "object"}
    responses: dict[str, Any] = {
        str(op.status): {"description": "Accepted" if op.status == 202 else "OK", "content": _json(ok)}
    }
    for status, description in op.also:
        responses[str(status)] = {"description": description, "content": _json(ok)}
        if op.replayable and status == 200:
            responses[str(status)]["headers"] = {
                "Idempotent-Replayed": {
                    "description": "Always true on a replay",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            }
    for status in (*op.errors, *((401,) if op.auth and 401 not in op.errors else ())):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    body["responses"] = dict(sorted(responses.items()))
    if op.auth:
        body["security"] = [{API_KEY_SCHEME: []}]
    return body


def _build() -> dict[str, Any]:
    models = [(m, "validation") for m in (*REQUEST_MODELS, *RESPONSE_MODELS) if m not in _QUERY_MODELS]
    mapping, definitions = models_json_schema(models, ref_template=REF)  # type: ignore[arg-type]
    refs = {model: ref for (model, _mode), ref in mapping.items()}
    components: dict[str, Any] = dict(definitions.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs, components)
    error_ref = refs[ErrorResponse]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Solroute API",
            "version": "0.1.0",
            "summary": "Smart order routing for Solana tokens across AMM pools, OTC desks and Jupiter",
            "description": "Amounts are exact decimal strings in token units (numbers are accepted on "
            'input and read exactly). Every failure is {"error": {"code", "message", "field"}} '
            "with a 4xx status (503 when a dependency is down). Trading is paper trading.",
        },
        "tags": [{"name": t} for t in ("market", "orders", "accounts", "analytics", "system")],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "responses": {
                name: {"description": description, "content": _json(error_ref)}
                for name, description in ERROR_RESPONSES.values()
            },
            "securitySchemes": {
                API_KEY_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "Create one with `flask accounts create NAME` (a web session works too)",
                }
            },
        },
    }


_QUERY_MODELS = frozenset(op.query for op in OPERATIONS if op.query is not None)


@functools.cache
def _document() -> dict[str, Any]:
    return _build()


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh copy of the one built at first use)."""
    return copy.deepcopy(_document())
