"""The order lifecycle through the HTTP API with the in-process executor, on each database."""

from __future__ import annotations

from typing import Any

from tests.waiting import wait_final


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
