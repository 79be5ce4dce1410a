"""Background work: price_update with sources, and the maintenance pass (one process per interval)."""

from __future__ import annotations

from typing import Any

from app import create_app
from background import maintain, publish_prices
from live_updates import socketio
from services import get_services
from tests.conftest import base_overrides
from tokens import TOKENS


def test_price_update_reaches_the_public_room_with_a_source_per_token(app: Any) -> None:
    client = socketio.test_client(app)
    assert client.is_connected()
    client.get_received()
    publish_prices(app)
    events = [e for e in client.get_received() if e["name"] == "price_update"]
    assert len(events) == 1
    body = events[0]["args"][0]
    assert set(body["prices"]) == set(TOKENS)
    # Offline: SOL is implied by our pools, the stablecoins too; nothing claims to be CoinGecko.
    assert {p["source"] for p in body["prices"].values()} <= {"pools", "static"}
    assert body["prices"]["USDC"]["priceUsd"]
    assert [s["name"] for s in body["sources"]] == ["pools", "static"]
    client.disconnect()


def test_a_client_that_unsubscribes_from_prices_gets_none(app: Any) -> None:
    client = socketio.test_client(app)
    assert client.emit("unsubscribe", {"room": "prices"}, callback=True) == {"ok": True, "room": "prices"}
    assert client.emit("subscribe", {"room": "nope"}, callback=True)["error"]["field"] == "room"
    client.get_received()
    publish_prices(app)
    assert [e for e in client.get_received() if e["name"] == "price_update"] == []
    client.disconnect()


def test_maintenance_recovers_stale_orders_each_pass_without_redis(app: Any) -> None:
    assert maintain(app) == {"requeued": 0, "failed": 0}
    assert maintain(app) == {"requeued": 0, "failed": 0}  # no lock without Redis: one process


def test_maintenance_takes_one_turn_per_interval_across_processes(
    database_url: str, redis_url: str, redis_namespace: str
) -> None:
    # Two RQ workers' apps (maintenance runs in workers when there is Redis).
    settings = {"REDIS_URL": redis_url, "REDIS_NAMESPACE": redis_namespace, "RECOVERY_INTERVAL_S": 600}
    apps = [create_app(base_overrides(database_url, **settings), role="worker") for _ in range(2)]
    try:
        assert maintain(apps[0]) == {"requeued": 0, "failed": 0}
        assert maintain(apps[1]) is None  # the other worker took this interval's turn
        assert maintain(apps[0]) is None
    finally:
        for each in apps:
            get_services(each).shutdown()
