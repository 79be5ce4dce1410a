"""The order lifecycle through the HTTP API with the in-process executor, on each database."""

from __future__ import annotations

import time
from typing import Any

import pytest

FINAL = ("confirmed", "failed")


def wait_final(client: Any, order_id: str, key: str, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/api/orders/{order_id}", headers={"X-API-Key": key}).get_json()
        if body["status"] in FINAL:
            return body
        time.sleep(0.02)
    pytest.fail(f"order {order_id} not final after {timeout_s} s")


def test_a_market_order_goes_from_pending_to_confirmed(client: Any, api_key: str) -> None:
    r = client.post(
        "/api/orders/execute",
        json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "12.5"},
        headers={"X-API-Key": api_key},
    )
    assert r.status_code == 202, r.get_json()
    order = wait_final(client, r.get_json()["orderId"], api_key)
    assert order["status"] == "confirmed", order
    assert [e["status"] for e in order["events"]] == [
        "pending",
        "quoting",
        "routing",
        "building",
        "submitted",
        "confirmed",
    ]
    assert order["legs"] and all(leg["paper"] for leg in order["legs"])
    assert sum(int(leg["amountIn"].replace(".", "")) for leg in order["legs"] if leg["hop"] == 0) > 0
