"""The web process's background work: price_update with sources, and metrics samples."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from background import publish_prices
from live_updates import socketio
from models import SystemMetrics, db
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


def test_record_metrics_appends_one_point_per_series(app: Any) -> None:
    import jobs

    with app.app_context():
        jobs.record_metrics()
        jobs.record_metrics()
        rows = db.session.execute(
            sa.select(SystemMetrics.name, sa.func.count()).group_by(SystemMetrics.name)
        ).all()
    assert dict(rows) == {"queue_depth": 2, "open_orders": 2, "confirmed_orders": 2, "amm_pools": 2}
