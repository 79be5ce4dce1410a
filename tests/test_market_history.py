"""Market history on SQLite and PostgreSQL: the live recorder (what it writes, how trades coalesce,
retention), the batched writer (COPY on PostgreSQL) read back exactly, and candles against a
hand-computed case. The recorder's tick is called directly, as the maintenance loop calls it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

import market_history
from background import record_history
from backtesting.model import DeskState, Frame, PoolState
from models import AmmPool, OTCPool, PoolSnapshot, PriceHistory, db, utcnow
from payloads import CandlesResponse
from price_feeds import PriceQuote
from tests.test_api import assert_error, auth, check
from tests.waiting import wait_until
from tokens import TOKENS
from venue_state import load_desks, load_pools


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(
            db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()
        )


def snapshots(app: Flask) -> int:
    with app.app_context():
        return int(
            db.session.execute(
                sa.select(sa.func.count(sa.distinct(PoolSnapshot.t))).where(PoolSnapshot.dataset == "live")
            ).scalar_one()
        )


def trade(client: Any, key: str) -> None:
    r = client.post(
        "/api/orders/execute",
        json={"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "50"},
        headers=auth(key),
    )
    assert r.status_code == 202, r.get_json()
    order_id = r.get_json()["orderId"]
    wait_until(
        lambda: client.get(f"/api/orders/{order_id}", headers=auth(key)).get_json()["status"] == "confirmed",
        "the order to confirm",
    )


def test_the_recorder_writes_every_price_pool_and_desk(app: Flask) -> None:
    written = record_history(app)
    pools, desks = count(app, AmmPool), count(app, OTCPool)
    assert written == len(TOKENS) + pools + desks
    assert count(app, PriceHistory, PriceHistory.dataset == "live") == len(TOKENS)
    assert count(app, PoolSnapshot, PoolSnapshot.kind == "amm") == pools
    with app.app_context():
        pool = db.session.execute(sa.select(AmmPool).order_by(AmmPool.id).limit(1)).scalar_one()
        row = db.session.execute(sa.select(PoolSnapshot).where(PoolSnapshot.venue_id == pool.id)).scalar_one()
        assert (row.reserve_a, row.reserve_b, row.fee_bps) == (pool.reserve_a, pool.reserve_b, pool.fee_bps)
        desk = db.session.execute(
            sa.select(PoolSnapshot).where(PoolSnapshot.kind == "otc").limit(1)
        ).scalar_one()
        assert desk.mid is not None and desk.mid > 0 and desk.inventory_base is not None
        prices = db.session.execute(sa.select(PriceHistory)).scalars().all()
        assert all(
            p.price > 0 and p.source and abs(p.price_usd - float(p.price)) < 1e-9 * p.price_usd
            for p in prices
        )
        assert len({p.t for p in prices} | {desk.t}) == 1  # one instant: one frame


def test_trades_coalesce_into_one_snapshot_per_gap(app: Flask, client: Any, api_key: str) -> None:
    app.config.update(HISTORY_INTERVAL_S=3600, HISTORY_MIN_GAP_S=0)
    assert record_history(app)
    assert record_history(app) == 0  # nothing traded, the interval has not passed: not due
    for _ in range(3):
        trade(client, api_key)
    assert record_history(app)  # three trades since the last snapshot: one snapshot
    assert record_history(app) == 0
    assert snapshots(app) == 2
    app.config["HISTORY_MIN_GAP_S"] = 3600  # within the gap, a trade waits for the next one due
    trade(client, api_key)
    assert record_history(app) == 0
    assert snapshots(app) == 2


def test_retention_deletes_old_live_rows_in_batches_and_keeps_datasets(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(market_history, "DELETE_BATCH", 3)
    old = utcnow() - timedelta(days=31)
    with app.app_context():
        writer = market_history.FrameWriter(db.session, "kept")
        writer.add(Frame(t=old.timestamp(), prices={"SOL": Decimal("100")}))
        writer.close()
        pools, desks = load_pools(db.session), load_desks(db.session)
        prices = {s: PriceQuote(s, Decimal(1), "test", old.timestamp()) for s in ("SOL", "USDC")}
        for minutes in range(4):  # four old live snapshots: many batches of 3 rows
            market_history.record_live(db.session, old + timedelta(minutes=minutes), prices, pools, desks)
        db.session.commit()
    assert live_entry(app)["frames"] == 4
    record_history(app)
    assert (
        count(app, PriceHistory, PriceHistory.dataset == "live", PriceHistory.t < old + timedelta(days=1))
        == 0
    )
    assert (
        count(app, PoolSnapshot, PoolSnapshot.dataset == "live", PoolSnapshot.t < old + timedelta(days=1))
        == 0
    )
    assert count(app, PriceHistory, PriceHistory.dataset == "live") == len(TOKENS)  # today's snapshot
    assert count(app, PriceHistory, PriceHistory.dataset == "kept") == 1
    entry = live_entry(app)  # the catalogue follows: one snapshot left, starting now
    assert entry["frames"] == 1 and entry["start"] == entry["end"]
    assert entry["rows"] == count(app, PriceHistory, PriceHistory.dataset == "live") + count(
        app, PoolSnapshot, PoolSnapshot.dataset == "live"
    )


def live_entry(app: Flask) -> dict[str, Any]:
    with app.app_context():
        found = {d.name: d for d in market_history.datasets(db.session)}
        d = found["live"]
        return {"frames": d.frames, "rows": d.rows, "start": d.start, "end": d.end, "status": d.status}


def test_the_catalogue_lists_datasets_without_reading_the_history(
    app: Flask, client: Any, api_key: str
) -> None:
    from backtesting.model import SyntheticConfig

    record_history(app)
    with app.app_context():
        config = SyntheticConfig(start=datetime(2026, 6, 1, tzinfo=UTC).timestamp(), steps=30, step_s=120)
        rows = market_history.generate_dataset(db.session, "cat", config)
        # the history's rows are not what the list reads: remove them and the list stays
        db.session.execute(sa.delete(PriceHistory).where(PriceHistory.dataset == "cat"))
        db.session.commit()
    body = client.get("/api/backtest/datasets", headers=auth(api_key)).get_json()["datasets"]
    cat = next(d for d in body if d["name"] == "cat")
    assert (cat["source"], cat["status"], cat["frames"], cat["rows"]) == ("synthetic", "ready", 30, rows)
    assert (cat["start"], cat["end"]) == ("2026-06-01T00:00:00Z", "2026-06-01T00:58:00Z")
    live = next(d for d in body if d["name"] == "live")
    assert (live["source"], live["status"], live["frames"]) == ("live", "ready", 1)
    with app.app_context():
        market_history.delete_dataset(db.session, "cat")
        db.session.commit()
    assert [
        d["name"] for d in client.get("/api/backtest/datasets", headers=auth(api_key)).get_json()["datasets"]
    ] == ["live"]


def test_frames_written_in_batches_read_back_exactly(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(market_history, "COPY_BATCH", 7)
    monkeypatch.setattr(market_history, "INSERT_BATCH", 7)
    t0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    frames = [
        Frame(
            t=t0 + 60 * i,
            prices={"SOL": Decimal("150.123456789012345") + i, "BONK": Decimal("0.0000213") * (i + 1)},
            pools=(PoolState("p1", "Orca", "SOL", "USDC", 10**12 + i, 15 * 10**10 - i, 30),),
            desks=(DeskState("wintermute-sol-usdc", "SOL", "USDC", Decimal("150.5"), 10**12, 2 * 10**11),),
        )
        for i in range(10)
    ]
    with app.app_context():
        rows = market_history.write_frames(db.session, "exact", iter(frames), total=10)
        db.session.commit()
        assert rows == 10 * 4
        back = list(
            market_history.stream_frames(
                db.session,
                "exact",
                datetime.fromtimestamp(t0, UTC),
                datetime.fromtimestamp(t0 + 540, UTC),
                chunk_s=150,  # several chunks, boundaries on frames
            )
        )
    assert back == frames


def _hand_case(app: Flask) -> None:
    base = datetime(2026, 5, 1, tzinfo=UTC)
    samples = [
        (0, "10"),
        (60, "12"),
        (120, "9"),
        (299, "11"),
        (300, "20"),
        (720, "15"),
        (840, "16"),
        (900, "99"),
    ]
    with app.app_context():
        writer = market_history.FrameWriter(db.session, "hand")
        for offset, price in samples:
            writer.add(
                Frame(t=(base + timedelta(seconds=offset)).timestamp(), prices={"SOL": Decimal(price)})
            )
            writer.add(
                Frame(
                    t=(base + timedelta(seconds=offset, milliseconds=1)).timestamp(),
                    prices={"JUP": Decimal(1)},
                )
            )
        other = market_history.FrameWriter(db.session, "other")
        other.add(Frame(t=base.timestamp(), prices={"SOL": Decimal("1000")}))
        writer.close()
        other.close()
        db.session.commit()


def test_candles_match_a_hand_computed_case(app: Flask, client: Any) -> None:
    _hand_case(app)
    r = client.get(
        "/api/prices/history?token=SOL&dataset=hand&interval=5m&from=2026-05-01T00:00:00Z&to=2026-05-01T00:15:00Z"
    )
    assert r.status_code == 200, r.get_json()
    body = check(CandlesResponse, r)
    assert [(c["t"], c["open"], c["high"], c["low"], c["close"], c["samples"]) for c in body["candles"]] == [
        ("2026-05-01T00:00:00Z", 10.0, 12.0, 9.0, 11.0, 4),
        ("2026-05-01T00:05:00Z", 20.0, 20.0, 20.0, 20.0, 1),
        ("2026-05-01T00:10:00Z", 15.0, 16.0, 15.0, 16.0, 2),
    ]
    hourly = check(
        CandlesResponse,
        client.get("/api/prices/history?token=sol&dataset=hand&interval=1h&from=2026-05-01&to=2026-05-02"),
    )
    assert [(c["open"], c["high"], c["low"], c["close"], c["samples"]) for c in hourly["candles"]] == [
        (10.0, 99.0, 9.0, 99.0, 8)
    ]


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ("token=SOL&interval=1m&from=2026-01-01&to=2026-03-01", 422, "too_many_buckets", "interval"),
        ("token=SOL&interval=7m", 400, "invalid_input", "interval"),
        ("token=DOGE", 400, "unknown_token", "token"),
        ("interval=1h", 400, "invalid_input", "token"),
        ("token=SOL&from=2026-02-01&to=2026-01-01", 400, "invalid_input", "to"),
        ("token=SOL&dataset=Not%20A%20Name", 400, "invalid_input", "dataset"),
        ("token=SOL&from=yesterday", 400, "invalid_input", "from"),
    ],
)
def test_bad_candle_requests_are_refused_naming_the_field(
    client: Any, query: str, status: int, code: str, field: str
) -> None:
    assert_error(client.get(f"/api/prices/history?{query}"), status, code, field)
