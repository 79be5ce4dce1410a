"""The OpenAPI document: valid OpenAPI 3.1, generated from the request models, covering every route,
and true: real responses of every endpoint (successes and errors) validate against it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from payloads import error_schema
from tests.waiting import wait_until
from views.api import openapi_document, operations
from views.schemas import REQUEST_MODELS, ExecuteOrderRequest

OPERATIONS = operations.declared  # every operation, as declared at its view


def _jsonschema() -> Any:
    return pytest.importorskip("jsonschema", reason="jsonschema is a dev requirement")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def _documented_status(operation: dict[str, Any], status: int) -> dict[str, Any]:
    responses = operation["responses"]
    assert str(status) in responses, f"status {status} is not documented for {operation['operationId']}"
    return responses[str(status)]


class DocumentValidator:
    """Validates a real response against the schema the document gives for its path, method and status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.jsonschema = _jsonschema()
        self.document = document
        self.seen: set[tuple[str, str, int]] = set()

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node and len(node) == 1:
            pointer = node["$ref"].removeprefix("#/").split("/")
            target: Any = self.document
            for part in pointer:
                target = target[part]
            node = target
        return node

    def operation(self, method: str, path: str) -> dict[str, Any]:
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if re.match(pattern, path) and method in item:
                return item[method]  # type: ignore[no-any-return]
        pytest.fail(f"{method.upper()} {path} is not in the document")

    def check(self, method: str, url: str, response: Any) -> Any:
        """Assert the response matches the document; returns its JSON."""
        path = url.split("?", 1)[0]
        operation = self.operation(method, path)
        documented = self._resolve(_documented_status(operation, response.status_code))
        schema = documented["content"]["application/json"]["schema"]
        body = response.get_json()
        validator = self.jsonschema.Draft202012Validator(
            {"$ref": schema["$ref"], "components": self.document["components"]}
            if "$ref" in schema
            else schema
        )
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, (
            f"{method.upper()} {url} {response.status_code}: {errors[0].message} at {list(errors[0].path)}"
        )
        for name in documented.get("headers", {}):
            assert name in response.headers, f"documented header {name} missing"
        self.seen.add((method, operation["operationId"], response.status_code))
        return body


def test_the_document_is_served_publicly_and_is_valid_openapi_3_1(
    client: Any, document: dict[str, Any]
) -> None:
    validator = pytest.importorskip(
        "openapi_spec_validator", reason="openapi-spec-validator is a dev requirement"
    )
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.get_json() == document
    assert document["openapi"] == "3.1.0"
    validator.validate(document)
    for schema in document["components"]["schemas"].values():
        _jsonschema().Draft202012Validator.check_schema(schema)


def test_every_api_route_is_documented_and_every_documented_path_exists(
    app: Flask, document: dict[str, Any]
) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "{" + _camel(m.group(1)) + "}", rule.rule)
            routes |= {(m.lower(), path) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == routes


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def test_parameters_and_body_come_from_the_request_models(document: dict[str, Any]) -> None:
    for op in OPERATIONS:
        operation = document["paths"][op.path][op.method]
        query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        if op.query is None:
            assert query == []
            continue
        fields = {(f.alias or name): f.is_required() for name, f in op.query.model_fields.items()}
        assert {p["name"]: p["required"] for p in query} == fields, op.path
        assert all(p["schema"].get("type") or p["schema"].get("anyOf") for p in query)
    bodies = {op.body for op in OPERATIONS if op.body}
    assert ExecuteOrderRequest in bodies
    assert {op.query for op in OPERATIONS if op.query} | bodies == set(REQUEST_MODELS)

    execute = document["paths"]["/api/orders/execute"]["post"]
    body = execute["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ExecuteOrderRequest"}
    component = document["components"]["schemas"]["ExecuteOrderRequest"]
    generated = ExecuteOrderRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    assert component == generated
    assert component["additionalProperties"] is False
    assert set(component["required"]) == {"tokenIn", "tokenOut"}  # amountIn or amountOut (exact out)
    assert [p["name"] for p in execute["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
    assert set(execute["responses"]) >= {"200", "202", "400", "401", "409", "415", "422"}
    assert "Idempotent-Replayed" in execute["responses"]["200"]["headers"]


def test_the_error_schema_is_the_documented_error_response(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["ErrorResponse"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert schemas["ErrorDetail"] == error_schema()["$defs"]["ErrorDetail"]
    assert set(schemas["ErrorDetail"]["required"]) == {"code", "message", "field"}
    for name, response in document["components"]["responses"].items():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }, name


def test_only_orders_and_the_account_need_a_key_as_documented(client: Any, document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["ApiKeyAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    secured = {(op.method, op.path) for op in OPERATIONS if op.auth}
    assert secured == {
        ("post", "/api/orders/execute"),
        ("get", "/api/orders"),
        ("get", "/api/orders/{orderId}"),
        ("post", "/api/orders/{orderId}/cancel"),
        ("get", "/api/accounts/me"),
        ("get", "/api/backtest/datasets"),
        ("post", "/api/backtest/generate-data"),
        ("post", "/api/backtest/run"),
        ("get", "/api/backtest"),
        ("get", "/api/backtest/{backtestId}"),
        ("get", "/api/backtest/{backtestId}/trades"),
        ("post", "/api/backtest/compare"),
        ("post", "/api/backtest/{backtestId}/cancel"),
        ("delete", "/api/backtest/{backtestId}"),
        ("get", "/api/accounts/me/portfolio"),
        ("get", "/api/accounts/me/limits"),
        ("put", "/api/accounts/me/limits"),
        ("put", "/api/admin/accounts/{accountId}/limits"),  # an operator's key
        ("post", "/api/admin/trading-halt"),  # an operator's key
        ("get", "/api/bots"),  # the bots: an operator's key
        ("post", "/api/bots"),
        ("get", "/api/bots/{botId}"),
        ("post", "/api/bots/{botId}/start"),
        ("post", "/api/bots/{botId}/stop"),
        ("delete", "/api/bots/{botId}"),
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            is_secured = (method, path) in secured
            assert ("security" in operation) == is_secured, (method, path)
            assert ("401" in operation["responses"]) == is_secured, (method, path)
            if is_secured:
                url = (
                    path.replace("{orderId}", "0" * 32)
                    .replace("{backtestId}", "0" * 24)
                    .replace("{accountId}", "1")
                    .replace("{botId}", "0" * 32)
                )
                r = client.open(url, method=method.upper(), json={})
                assert r.status_code == 401, (method, path)


def _operator_key(app: Any) -> str:
    from models import db
    from venue_state import create_operator_account

    with app.app_context():
        _, key = create_operator_account(db.session, "doc-ops")
        db.session.commit()
    return key


def test_real_responses_of_every_endpoint_match_the_document(
    client: Any, api_key: str, document: dict[str, Any]
) -> None:
    doc = DocumentValidator(document)
    key = {"X-API-Key": api_key}

    def get(url: str, status: int, headers: dict[str, str] | None = None) -> Any:
        r = client.get(url, headers=headers or {})
        assert r.status_code == status, (url, r.get_json())
        return doc.check("get", url, r)

    def post(body: Any, status: int, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        r = client.post("/api/orders/execute", json=body, headers={**key, **(headers or {})}, **kwargs)
        assert r.status_code == status, r.get_json()
        return doc.check("post", "/api/orders/execute", r)

    order = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "300", "slippageBps": 100}
    accepted = post(order, 202, {"Idempotency-Key": "doc-1"})
    replay = client.post("/api/orders/execute", json=order, headers={**key, "Idempotency-Key": "doc-1"})
    doc.check("post", "/api/orders/execute", replay)
    post({**order, "amountIn": "1"}, 409, {"Idempotency-Key": "doc-1"})
    post({**order, "amountIn": "x"}, 400)
    post({**order, "amountIn": "5000"}, 422)
    r = client.post("/api/orders/execute", data="amountIn=1", headers={**key, "Content-Type": "text/plain"})
    doc.check("post", "/api/orders/execute", r)
    r = client.post("/api/orders/execute", json=order)
    doc.check("post", "/api/orders/execute", r)

    order_url = f"/api/orders/{accepted['orderId']}"
    detail = wait_until(
        lambda: (d := get(order_url, 200, key))["status"] in ("confirmed", "failed") and d,
        "the order to finish",
    )
    assert detail["status"] == "confirmed" and detail["trade"] is not None

    get("/api/health", 200)
    get("/api/openapi.json", 200)
    get("/api/tokens", 200)
    get("/api/quote?tokenIn=RAY&tokenOut=USDC&amountIn=25", 200)
    get("/api/quote?tokenIn=RAY&tokenOut=JUP&amountIn=25", 200)  # three hops: RAY→SOL→USDC→JUP
    get("/api/quote?tokenIn=BONK&tokenOut=SOL&amountIn=0.00001", 422)  # too small for any venue
    get("/api/quote?tokenIn=SOL&tokenOut=USDC&amountIn=0.0000000001", 400)
    get("/api/prices", 200)
    get("/api/prices?x=1", 400)
    get("/api/liquidity-pools?tokenA=SOL", 200)
    get("/api/liquidity-pools?dex=Uniswap", 400)
    get("/api/otc-pools", 200)
    get("/api/trades?limit=2", 200)
    get("/api/trades?from=never", 400)
    get("/api/analytics/summary", 200)
    get("/api/analytics/summary?from=2026-01-01&to=2025-01-01", 400)
    get("/api/analytics/timeseries?bucket=minute", 200)
    get("/api/analytics/timeseries?bucket=week", 400)
    get("/api/analytics/price-history?bucket=hour", 200)
    get("/api/analytics/price-history?bucket=week", 400)
    get("/api/analytics/impact?limit=5", 200)
    get("/api/analytics/impact?limit=0", 400)
    get("/api/analytics/latency", 200)
    get("/api/analytics/latency?from=never", 400)
    get("/api/analytics/slippage?limit=5", 200)
    get("/api/analytics/slippage?limit=5000", 400)
    get("/api/analytics/breakdown", 200)
    get("/api/analytics/breakdown?venue=Orca", 400)
    get("/api/liquidity-curves?tokenIn=SOL&tokenOut=USDC&points=8", 200)
    get("/api/liquidity-curves?tokenIn=SOL&tokenOut=USDC&points=65", 400)
    get("/api/liquidity-curves?tokenIn=RAY&tokenOut=USDC", 400)
    get("/api/arbitrage/opportunities?limit=5", 200)  # the order above moved the pools off each other
    get("/api/arbitrage/opportunities?minProfitUsd=-1", 400)
    get("/api/orders?limit=5", 200, key)
    get("/api/orders?limit=0", 400, key)
    get("/api/orders", 401)
    get("/api/orders/" + "0" * 32, 404, key)
    get("/api/accounts/me", 200, key)
    get("/api/accounts/me", 401, {"X-API-Key": "nope"})

    def cancel(order_id: str, status: int) -> Any:
        r = client.post(f"/api/orders/{order_id}/cancel", headers=key)
        assert r.status_code == status, r.get_json()
        return doc.check("post", f"/api/orders/{order_id}/cancel", r)

    get("/api/accounts/me/portfolio?bucket=day", 200, key)
    get("/api/accounts/me/portfolio?bucket=week", 400, key)
    get("/api/accounts/me/limits", 200, key)
    get("/api/trading-halt", 200)

    def put(url: str, body: Any, status: int, headers: dict[str, str]) -> Any:
        r = client.put(url, json=body, headers=headers)
        assert r.status_code == status, r.get_json()
        return doc.check("put", url, r)

    put("/api/accounts/me/limits", {"maxOrderUsd": "500000"}, 200, key)
    put("/api/accounts/me/limits", {"maxOrderUsd": "x"}, 400, key)
    operator = {"X-API-Key": _operator_key(client.application)}
    account_id = get("/api/accounts/me", 200, key)["accountId"]
    put(f"/api/admin/accounts/{account_id}/limits", {"maxOrderUsd": None}, 200, operator)
    put(f"/api/admin/accounts/{account_id}/limits", {"maxOrderUsd": "1"}, 403, key)
    put("/api/admin/accounts/999999/limits", {"maxOrderUsd": "1"}, 404, operator)
    post({**order, "amountIn": "1", "acceptHighImpact": True}, 202)
    put(f"/api/admin/accounts/{account_id}/limits", {"maxOrderUsd": "1"}, 200, operator)
    post({**order, "amountIn": "1"}, 422)  # risk_limit maxOrderUsd

    def halt(body: Any, status: int, headers: dict[str, str]) -> Any:
        r = client.post("/api/admin/trading-halt", json=body, headers=headers)
        assert r.status_code == status, r.get_json()
        return doc.check("post", "/api/admin/trading-halt", r)

    halt({"halted": True, "reason": "doc"}, 200, operator)
    halt({"halted": True}, 403, key)
    post({**order, "amountIn": "1"}, 503)  # trading_halted
    halt({"halted": False}, 200, operator)
    put(f"/api/admin/accounts/{account_id}/limits", {"maxOrderUsd": None}, 200, operator)

    cancel(accepted["orderId"], 409)  # confirmed: order_final
    resting = post({**order, "amountIn": "1", "orderType": "limit", "limitPrice": "1000"}, 202)
    post({**order, "orderType": "limit"}, 422)  # no limitPrice
    cancel(resting["orderId"], 200)
    cancel("0" * 32, 404)

    # Market history and backtests: a small generated dataset, one run, and each operation's errors.
    get("/api/prices/history?token=SOL&interval=1h", 200)
    get("/api/prices/history?token=SOL&interval=1m&from=2026-01-01&to=2026-03-01", 422)
    get("/api/prices/history?token=SOL&interval=2m", 400)

    def send(method: str, url: str, status: int, body: Any = None) -> Any:
        r = client.open(url, method=method.upper(), json=body, headers=key)
        assert r.status_code == status, (url, r.get_json())
        return doc.check(method, url, r)

    generation = {"dataset": "doc", "days": 0.25, "stepS": 600, "start": "2026-01-01T00:00:00Z"}
    send("post", "/api/backtest/generate-data", 202, generation)
    send("post", "/api/backtest/generate-data", 400, {**generation, "dataset": "live"})
    wait_until(
        lambda: any(
            d["name"] == "doc" and d["status"] == "ready" and d["frames"] == 36
            for d in get("/api/backtest/datasets", 200, key)["datasets"]
        ),
        "the dataset to be generated",
    )
    get("/api/backtest/datasets?x=1", 400, key)
    dca = {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "10", "everyS": 3600}
    plan = {"dataset": "doc", "planKind": "dca", "params": dca, "initial": {"USDC": "1000"}}
    run = send("post", "/api/backtest/run", 202, plan)
    send("post", "/api/backtest/run", 400, {**plan, "dataset": "none"})
    url = f"/api/backtest/{run['backtestId']}"
    wait_until(lambda: get(url, 200, key)["status"] == "completed", "the backtest to complete")
    get("/api/backtest/" + "0" * 24, 404, key)
    get(f"{url}/trades?limit=2", 200, key)
    get(f"{url}/trades?limit=0", 400, key)
    get("/api/backtest?limit=5", 200, key)
    get("/api/backtest?limit=0", 400, key)
    send("post", "/api/backtest/compare", 200, {"ids": [run["backtestId"]]})
    send("post", "/api/backtest/compare", 404, {"ids": ["0" * 24]})
    send("post", f"{url}/cancel", 409)
    send("post", "/api/backtest/" + "0" * 24 + "/cancel", 404)
    send("delete", url, 200)
    send("delete", url, 404)

    def bot_call(method: str, url: str, status: int, headers: dict[str, str], body: Any = None) -> Any:
        r = client.open(url, method=method.upper(), json=body, headers=headers)
        assert r.status_code == status, r.get_json()
        return doc.check(method, url, r)

    bot = bot_call("post", "/api/bots", 201, operator, {"kind": "flow", "name": "doc", "start": False})
    bot_call("post", "/api/bots", 400, operator, {"kind": "flow", "name": "doc", "config": {"size": "x"}})
    bot_call("post", "/api/bots", 403, key, {"kind": "flow", "name": "doc"})
    bot_call("get", "/api/bots", 200, operator)
    bot_call("get", f"/api/bots/{bot['id']}", 200, operator)
    bot_call("get", "/api/bots/" + "0" * 32, 404, operator)
    bot_call("post", f"/api/bots/{bot['id']}/start", 200, operator)
    bot_call("post", f"/api/bots/{bot['id']}/stop", 200, operator)
    bot_call("delete", f"/api/bots/{bot['id']}", 200, operator)
    bot_call("delete", f"/api/bots/{bot['id']}", 404, operator)

    operations = {op.operation_id for op in OPERATIONS}
    assert {op for _, op, _ in doc.seen} == operations
