"""The chart endpoints as a black box, on SQLite and PostgreSQL: time series, impact scatter, latency,
realised slippage, volume and savings breakdown, and liquidity curves.

Trades come from orders really executed through the API (in-process executor). Every figure is
checked against a value computed here, independently, from the stored rows (nearest-rank
percentiles, buckets by truncating timestamps, slippage as exact fractions) or, for the curves,
from direct calls of the pure pool and desk maths.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

import otc_engine
from amm.constant_product import amount_out_for_in, price_impact_bps
from models import AmmPool, Fill, Order, OTCPool, Trade, db
from payloads import (
    AnalyticsSummary,
    BreakdownResponse,
    ImpactResponse,
    LatencyResponse,
    LiquidityCurvesResponse,
    PoolsResponse,
    PriceHistoryResponse,
    PricesResponse,
    QuoteResponse,
    SlippageResponse,
    TimeseriesResponse,
)
from services import get_services
from tests.conftest import build_app
from tests.direct_orders import write_and_dispatch
from tests.test_api import assert_error, check, execute, submit, wait_final
from tests.waiting import WAIT_S
from tokens import format_amount, get_token, to_base_units
from venue_state import desk_from_row, load_pools

CHARTS = (
    ("/api/analytics/timeseries", TimeseriesResponse),
    ("/api/analytics/price-history", PriceHistoryResponse),
    ("/api/analytics/impact", ImpactResponse),
    ("/api/analytics/latency", LatencyResponse),
    ("/api/analytics/slippage", SlippageResponse),
    ("/api/analytics/breakdown", BreakdownResponse),
)


# --- helpers -------------------------------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def units(symbol: str, text: str) -> int:
    return to_base_units(get_token(symbol), text)


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


def expected_slippage(quoted: int, filled: int) -> Decimal:
    """(quoted − filled) / quoted in bps to 0.0001, half-even: exact rational arithmetic."""
    tenths_of_a_thousandth = round(Fraction(quoted - filled, quoted) * 10**4 * 10**4)
    return Decimal(tenths_of_a_thousandth).scaleb(-4)


def significant_digits(text: str) -> int:
    """How many significant digits a plain decimal string carries."""
    digits = text.lstrip("-").replace(".", "").lstrip("0")
    return len(digits.rstrip("0")) if "." in text else len(digits.rstrip("0") or "0")


def rounded(value: Decimal) -> Decimal:
    """The exact value rounded half-even to 12 significant digits (an independent spelling)."""
    return Context(prec=12).plus(value)


def stored(app: Flask) -> tuple[list[Order], list[Trade], list[Fill]]:
    with app.app_context():
        orders = list(db.session.execute(sa.select(Order)).scalars())
        trades = list(db.session.execute(sa.select(Trade)).scalars())
        fills = list(db.session.execute(sa.select(Fill).order_by(Fill.trade_id, Fill.leg_index)).scalars())
    return orders, trades, fills


def leg_shares(trades: list[Trade], fills: list[Fill]) -> list[tuple[Fill, Trade, float]]:
    """Each leg's share of its trade: first hop by input; a later hop by its input over all later legs'
    input of its token, times the share of the trade the legs producing that token carry (any hop)."""
    by_id = {t.id: t for t in trades}
    legs: dict[int, list[Fill]] = defaultdict(list)
    for f in fills:
        legs[f.trade_id].append(f)
    shares = []
    for trade_id, trade_legs in legs.items():
        trade = by_id[trade_id]

        def share_of(f: Fill, trade_legs: list[Fill] = trade_legs, trade: Trade = trade) -> float:
            if f.hop == 0:
                return f.amount_in / trade.amount_in
            reached = sum(share_of(g) for g in trade_legs if g.token_out == f.token_in)
            fed = sum(g.amount_in for g in trade_legs if g.hop > 0 and g.token_in == f.token_in)
            return f.amount_in / fed * reached

        shares.extend((f, trade, share_of(f)) for f in trade_legs)
    return shares


# --- an empty database ---------------------------------------------------------------------------


def test_every_chart_is_well_formed_and_empty_on_an_empty_database(client: Any) -> None:
    for path, model in CHARTS:
        r = client.get(path)
        assert r.status_code == 200, (path, r.get_json())
        check(model, r)
    series = client.get("/api/analytics/timeseries").get_json()
    assert (series["bucket"], series["buckets"], series["truncated"], series["window"]["from"]) == (
        "hour",
        [],
        False,
        None,
    )
    assert client.get("/api/analytics/impact").get_json() == {
        "window": {"from": None, "to": None},
        "total": 0,
        "limit": 200,
        "trades": [],
    }
    latency = client.get("/api/analytics/latency").get_json()
    assert latency["count"] == 0 and latency["buckets"] == []
    assert {k: v for k, v in latency.items() if k.endswith("Ms")} == dict.fromkeys(
        ("minMs", "maxMs", "meanMs", "p50Ms", "p90Ms", "p95Ms", "p99Ms")
    )
    slippage = client.get("/api/analytics/slippage").get_json()
    assert (slippage["total"], slippage["trades"]) == (0, [])
    assert slippage["aggregate"] == {
        "trades": 0,
        **dict.fromkeys(("avgBps", "weightedBps", "minBps", "maxBps", "p50Bps", "p95Bps")),
        "worse": 0,
        "equal": 0,
        "better": 0,
    }
    breakdown = client.get("/api/analytics/breakdown").get_json()
    assert (breakdown["byVenue"], breakdown["byStrategy"]) == ([], [])


def test_a_time_series_with_a_start_lists_every_bucket_even_when_empty(client: Any) -> None:
    start = datetime.now(UTC) - timedelta(hours=3, minutes=10)
    body = check(TimeseriesResponse, client.get(f"/api/analytics/timeseries?from={stamp(start)}"))
    end = at(body["window"]["to"])
    first = start.replace(minute=0, second=0, microsecond=0)
    last = (end - timedelta(microseconds=1)).replace(minute=0, second=0, microsecond=0)
    expected = [first + timedelta(hours=i) for i in range((last - first) // timedelta(hours=1) + 1)]
    assert len(expected) in (4, 5)
    assert [at(b["start"]) for b in body["buckets"]] == expected
    assert all(
        (b["orders"], b["trades"], b["volumeUsd"], b["successRate"], b["savingsVsJupiterUsd"])
        == (0, 0, 0, None, None)
        for b in body["buckets"]
    )
    day = check(
        TimeseriesResponse, client.get("/api/analytics/timeseries?bucket=day&from=2026-01-01&to=2026-01-04")
    )
    assert [b["start"] for b in day["buckets"]] == [f"2026-01-0{d}T00:00:00Z" for d in (1, 2, 3)]
    assert day["window"] == {"from": "2026-01-01T00:00:00Z", "to": "2026-01-04T00:00:00Z"}


@pytest.mark.parametrize(
    ("query", "buckets"),
    [
        ("bucket=day&from=0001-01-01&to=0001-01-03", 2),
        ("bucket=minute&from=0001-01-01T00:00:00&to=0001-01-01T00:10:00", 10),
        ("bucket=minute&from=9999-12-31T00:00:00&to=9999-12-31T23:59:59.999999", 1_440),
        ("bucket=hour&from=2026-01-01T10:30:00%2B14:00&to=2025-12-31T22:00:00Z", 2),
        ("bucket=day&from=2026-01-01&to=2026-01-01", 0),
        ("bucket=minute&to=0001-01-01T00:00:00.000001", 0),
    ],
)
def test_a_window_at_the_ends_of_time_is_answered_not_a_500(client: Any, query: str, buckets: int) -> None:
    body = check(TimeseriesResponse, client.get(f"/api/analytics/timeseries?{query}"))
    assert len(body["buckets"]) == buckets


def test_a_window_ending_at_the_last_instant_keeps_the_last_2000_buckets(
    client: Any, traded: list[dict[str, Any]]
) -> None:
    body = check(
        TimeseriesResponse, client.get("/api/analytics/timeseries?bucket=day&to=9999-12-31T23:59:59.999999")
    )
    assert body["truncated"] is True and len(body["buckets"]) == 2_000
    assert body["buckets"][-1]["start"] == "9999-12-31T00:00:00Z"
    assert sum(b["orders"] for b in body["buckets"]) == 0


# --- charts over executed trades ----------------------------------------------------------------------


@pytest.fixture
def traded(app: Flask, client: Any, api_key: str) -> list[dict[str, Any]]:
    """Four confirmed orders (a split, a two-hop path, a single venue, an OTC leg) and one failed."""
    orders = [
        execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "50"}),
        execute(client, api_key, {"tokenIn": "RAY", "tokenOut": "USDC", "amountIn": "1000"}),
        execute(
            client,
            api_key,
            {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "2000", "routingStrategy": "BEST_PRICE"},
        ),
        execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "300"}),
    ]
    assert any(leg["kind"] == "otc" for leg in orders[3]["legs"])
    assert any(leg["hop"] == 1 for leg in orders[1]["legs"])
    # Accepted before the market moved (the API refuses an unreachable minimum at submission).
    failed = wait_final(
        client,
        write_and_dispatch(
            app,
            token_in="SOL",
            token_out="USDC",
            amount_in=10**9,
            min_amount_out=1_000_000 * 10**6,
        ),
        api_key,
    )
    assert failed["status"] == "failed"
    return orders


@pytest.mark.parametrize(
    ("bucket", "truncate"),
    [
        ("minute", lambda t: t.replace(second=0, microsecond=0)),
        ("hour", lambda t: t.replace(minute=0, second=0, microsecond=0)),
        ("day", lambda t: t.replace(hour=0, minute=0, second=0, microsecond=0)),
    ],
)
def test_the_time_series_counts_every_order_and_trade_in_its_bucket(
    app: Flask, client: Any, traded: list[dict[str, Any]], bucket: str, truncate: Any
) -> None:
    orders, trades, _ = stored(app)
    expected: dict[datetime, dict[str, Any]] = defaultdict(
        lambda: {"orders": 0, "confirmed": 0, "failed": 0, "trades": 0, "volumeUsd": 0.0, "savings": 0.0}
    )
    for o in orders:
        row = expected[truncate(o.created_at)]
        row["orders"] += 1
        row["confirmed"] += o.status == "confirmed"
        row["failed"] += o.status == "failed"
    for t in trades:
        row = expected[truncate(t.executed_at)]
        row["trades"] += 1
        row["volumeUsd"] += t.notional_usd
        row["savings"] += t.savings_usd

    body = check(TimeseriesResponse, client.get(f"/api/analytics/timeseries?bucket={bucket}"))
    assert body["bucket"] == bucket and body["truncated"] is False
    starts = [at(b["start"]) for b in body["buckets"]]
    assert starts[0] == min(expected) and starts[-1] <= truncate(datetime.now(UTC))
    step = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}[bucket]
    assert all(b - a == step for a, b in itertools.pairwise(starts)), "buckets must be contiguous"
    for b in body["buckets"]:
        want = expected.get(at(b["start"]))
        if want is None:
            assert (b["orders"], b["trades"], b["volumeUsd"]) == (0, 0, 0)
            continue
        assert (b["orders"], b["confirmed"], b["failed"], b["trades"]) == (
            want["orders"],
            want["confirmed"],
            want["failed"],
            want["trades"],
        )
        assert b["volumeUsd"] == pytest.approx(want["volumeUsd"], abs=1e-6)
        assert b["savingsVsBestSingleUsd"] == pytest.approx(want["savings"], abs=1e-6)
        final = want["confirmed"] + want["failed"]
        assert b["successRate"] == (pytest.approx(want["confirmed"] / final) if final else None)
        assert (b["jupiterTrades"], b["savingsVsJupiterUsd"]) == (0, None)  # Jupiter is offline in tests
    assert sum(b["orders"] for b in body["buckets"]) == len(orders) == 5
    assert sum(b["trades"] for b in body["buckets"]) == len(trades) == 4
    assert sum(b["volumeUsd"] for b in body["buckets"]) == pytest.approx(
        check(AnalyticsSummary, client.get("/api/analytics/summary"))["notionalUsd"]
    )


def test_the_time_series_window_limits_what_it_counts(
    app: Flask, client: Any, traded: list[dict[str, Any]]
) -> None:
    _, trades, _ = stored(app)
    newest = max(trades, key=lambda t: (t.executed_at, t.id))
    since = traded[3]["trade"]["executedAt"]
    body = check(TimeseriesResponse, client.get(f"/api/analytics/timeseries?bucket=minute&from={since}"))
    assert body["window"]["from"] == since
    assert sum(b["trades"] for b in body["buckets"]) == sum(1 for t in trades if t.executed_at >= at(since))
    assert newest.order_id == traded[3]["orderId"]
    until = traded[1]["trade"]["executedAt"]
    earlier = check(TimeseriesResponse, client.get(f"/api/analytics/timeseries?bucket=minute&to={until}"))
    assert earlier["window"]["to"] == until
    assert sum(b["trades"] for b in earlier["buckets"]) == 1


def test_without_a_start_the_series_keeps_the_last_2000_buckets(
    client: Any, traded: list[dict[str, Any]]
) -> None:
    end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2_100)
    body = check(TimeseriesResponse, client.get(f"/api/analytics/timeseries?bucket=minute&to={stamp(end)}"))
    assert body["truncated"] is True and len(body["buckets"]) == 2_000
    assert at(body["buckets"][0]["start"]) == end - timedelta(minutes=2_000)
    assert body["window"]["from"] == body["buckets"][0]["start"]
    assert sum(b["orders"] for b in body["buckets"]) == 0  # every order is older than the buckets kept
    start = stamp(end - timedelta(minutes=2_001))
    assert_error(
        client.get(f"/api/analytics/timeseries?bucket=minute&from={start}&to={stamp(end)}"),
        400,
        "invalid_input",
        "from",
    )
    start = stamp(end - timedelta(minutes=2_000))
    url = f"/api/analytics/timeseries?bucket=minute&from={start}&to={stamp(end)}"
    kept = check(TimeseriesResponse, client.get(url))
    assert len(kept["buckets"]) == 2_000 and kept["truncated"] is False


def test_the_impact_scatter_lists_the_latest_trades_with_their_stored_figures(
    app: Flask, client: Any, traded: list[dict[str, Any]]
) -> None:
    _, trades, fills = stored(app)
    newest_first = sorted(trades, key=lambda t: (t.executed_at, t.id), reverse=True)
    body = check(ImpactResponse, client.get("/api/analytics/impact"))
    assert (body["total"], body["limit"]) == (4, 200)
    assert [p["orderId"] for p in body["trades"]] == [t.order_id for t in newest_first]
    for point, trade in zip(body["trades"], newest_first, strict=True):
        legs = [f for f in fills if f.trade_id == trade.id]
        assert point["venues"] == list(dict.fromkeys(f.venue for f in legs))
        assert point["kinds"] == list(dict.fromkeys(f.kind for f in legs))
        assert point["legs"] == len(legs)
        assert Decimal(point["priceImpactBps"]) == trade.price_impact_bps
        assert point["notionalUsd"] == pytest.approx(trade.notional_usd, abs=1e-6)
        assert point["savingsUsd"] == pytest.approx(trade.savings_usd, abs=1e-6)
        assert (point["amountIn"], point["amountOut"]) == (
            format_amount(trade.token_in, trade.amount_in),
            format_amount(trade.token_out, trade.amount_out),
        )
        assert (point["strategy"], point["executedAt"]) == (trade.strategy, stamp_z(trade.executed_at))
    two_hop = next(p for p in body["trades"] if p["orderId"] == traded[1]["orderId"])
    assert len(two_hop["venues"]) >= 2  # RAY → SOL → USDC crosses two venues
    latest = check(ImpactResponse, client.get("/api/analytics/impact?limit=2"))
    assert [p["orderId"] for p in latest["trades"]] == [t.order_id for t in newest_first[:2]]
    assert latest["total"] == 4
    future = stamp(datetime.now(UTC) + timedelta(hours=1))
    assert check(ImpactResponse, client.get(f"/api/analytics/impact?from={future}"))["trades"] == []


def stamp_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_the_latency_histogram_and_percentiles_match_the_trades(
    app: Flask, client: Any, traded: list[dict[str, Any]]
) -> None:
    _, trades, _ = stored(app)
    latencies = [t.latency_ms for t in trades]
    body = check(LatencyResponse, client.get("/api/analytics/latency"))
    assert body["count"] == len(latencies) == 4
    assert body["percentileMethod"] == "nearest-rank"
    for key, q in (("p50Ms", 0.5), ("p90Ms", 0.9), ("p95Ms", 0.95), ("p99Ms", 0.99)):
        assert body[key] == pytest.approx(nearest_rank(latencies, q), abs=1e-3), key
    assert body["p50Ms"] == pytest.approx(sorted(latencies)[1], abs=1e-3)  # rank ceil(0.5 × 4) = 2
    assert body["minMs"] == pytest.approx(min(latencies), abs=1e-3)
    assert body["maxMs"] == pytest.approx(max(latencies), abs=1e-3)
    assert body["meanMs"] == pytest.approx(sum(latencies) / 4, abs=1e-3)

    buckets = body["buckets"]
    assert sum(b["count"] for b in buckets) == 4
    assert buckets[0]["count"] > 0 and buckets[-1]["count"] > 0  # trimmed to the non-empty range
    for a, b in itertools.pairwise(buckets):
        assert a["hiMs"] == b["loMs"]
    for b in buckets:
        inside = [ms for ms in latencies if b["loMs"] <= ms and (b["hiMs"] is None or ms < b["hiMs"])]
        assert b["count"] == len(inside), b
    summary = check(AnalyticsSummary, client.get("/api/analytics/summary"))
    assert (summary["latency"]["p95Ms"], summary["latency"]["p99Ms"]) == (body["p95Ms"], body["p99Ms"])
    future = stamp(datetime.now(UTC) + timedelta(hours=1))
    assert check(LatencyResponse, client.get(f"/api/analytics/latency?from={future}"))["count"] == 0


def test_percentiles_are_by_nearest_rank_over_a_dozen_trades(app: Flask, client: Any, api_key: str) -> None:
    for i in range(12):
        pair = ("SOL", "USDC") if i % 2 else ("USDC", "SOL")
        amount = "0.5" if pair[0] == "SOL" else "75"
        execute(client, api_key, {"tokenIn": pair[0], "tokenOut": pair[1], "amountIn": amount})
    _, trades, _ = stored(app)
    latencies = sorted(t.latency_ms for t in trades)
    assert len(latencies) == 12
    body = check(LatencyResponse, client.get("/api/analytics/latency"))
    # Ranks ceil(q × 12): p50 → 6th, p90 → 11th, p95 and p99 → 12th.
    expected = {"p50Ms": latencies[5], "p90Ms": latencies[10], "p95Ms": latencies[11], "p99Ms": latencies[11]}
    for key, value in expected.items():
        assert body[key] == pytest.approx(value, abs=1e-3), key
        assert body[key] == pytest.approx(nearest_rank(latencies, float(key[1:3]) / 100), abs=1e-3)
    assert sum(b["count"] for b in body["buckets"]) == 12
    # A window holding only the later half of the trades.
    newest_first = sorted(trades, key=lambda t: (t.executed_at, t.id), reverse=True)
    since = stamp_z(newest_first[5].executed_at)
    later = check(LatencyResponse, client.get(f"/api/analytics/latency?from={since}"))
    half = sorted(t.latency_ms for t in newest_first[:6])
    assert later["count"] == 6 and later["window"]["from"] == since
    assert later["p50Ms"] == pytest.approx(half[2], abs=1e-3)
    assert later["p90Ms"] == pytest.approx(half[5], abs=1e-3)


def test_the_breakdown_gives_volume_and_savings_per_venue_and_strategy(
    app: Flask, client: Any, traded: list[dict[str, Any]]
) -> None:
    _, trades, fills = stored(app)
    body = check(BreakdownResponse, client.get("/api/analytics/breakdown"))
    volume: dict[str, float] = defaultdict(float)
    savings: dict[str, float] = defaultdict(float)
    venue_fills: dict[str, int] = defaultdict(int)
    venue_trades: dict[str, set[int]] = defaultdict(set)
    for f, trade, share in leg_shares(trades, fills):
        volume[f.venue] += trade.notional_usd * share
        savings[f.venue] += trade.savings_usd * share
        venue_fills[f.venue] += 1
        venue_trades[f.venue].add(trade.id)
    by_venue = {v["venue"]: v for v in body["byVenue"]}
    assert set(by_venue) == set(volume)
    for venue, row in by_venue.items():
        assert row["volumeUsd"] == pytest.approx(volume[venue], abs=1e-6), venue
        assert row["savingsUsd"] == pytest.approx(savings[venue], abs=1e-6), venue
        assert (row["fills"], row["trades"]) == (venue_fills[venue], len(venue_trades[venue]))
    kinds = {f.venue: f.kind for f in fills}
    assert {v: row["kind"] for v, row in by_venue.items()} == kinds
    assert [v["volumeUsd"] for v in body["byVenue"]] == sorted(
        (v["volumeUsd"] for v in body["byVenue"]), reverse=True
    )
    summary = check(AnalyticsSummary, client.get("/api/analytics/summary"))
    assert {v["venue"]: v["volumeUsd"] for v in summary["volumeByVenue"]} == {
        v: row["volumeUsd"] for v, row in by_venue.items()
    }

    by_strategy = {s["strategy"]: s for s in body["byStrategy"]}
    assert set(by_strategy) == {"OPTIMAL_SPLIT", "BEST_PRICE"}
    for strategy, row in by_strategy.items():
        mine = [t for t in trades if t.strategy == strategy]
        assert row["trades"] == len(mine)
        assert row["volumeUsd"] == pytest.approx(sum(t.notional_usd for t in mine), abs=1e-6)
        assert row["savingsUsd"] == pytest.approx(sum(t.savings_usd for t in mine), abs=1e-6)
        bps = [(t.amount_out - t.best_single_amount_out) / t.best_single_amount_out * 1e4 for t in mine]
        assert row["avgSavingsBps"] == pytest.approx(sum(bps) / len(bps), abs=1e-4)
        impacts = [float(t.price_impact_bps) for t in mine]
        assert row["avgPriceImpactBps"] == pytest.approx(sum(impacts) / len(impacts), abs=1e-4)
        assert row["avgLatencyMs"] == pytest.approx(sum(t.latency_ms for t in mine) / len(mine), abs=1e-3)
        assert (row["jupiterTrades"], row["savingsVsJupiterUsd"]) == (0, None)
    assert by_strategy["OPTIMAL_SPLIT"]["savingsUsd"] >= 0  # a split never does worse than one venue


# --- realised slippage ------------------------------------------------------------------------------

RELEASE = threading.Event()


def hold_the_worker() -> None:
    """A job that occupies the only executor thread until the test sets RELEASE."""
    RELEASE.wait(10 * WAIT_S)  # a bound only so that a broken test cannot hang the suite


@pytest.fixture
def one_worker(database_url: str) -> Iterator[tuple[Flask, str]]:
    """The app with a single executor thread: jobs run one after another in submission order."""
    app, key = build_app(database_url, INPROCESS_WORKERS=1)
    yield app, key
    RELEASE.set()
    get_services(app).shutdown()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_realised_slippage_is_the_exact_gap_between_quote_and_fill(one_worker: tuple[Flask, str]) -> None:
    app, key = one_worker
    client = app.test_client()
    RELEASE.clear()
    get_services(app).executor.enqueue("tests.test_charts_api.hold_the_worker")
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "200", "slippageBps": 500}
    # Both orders are quoted on the same pools; the second fills after the first has moved them.
    first, second = submit(client, key, body), submit(client, key, {**body, "amountIn": "150"})
    RELEASE.set()
    for order in (first, second):
        assert wait_final(client, order["orderId"], key)["status"] == "confirmed"

    _, trades, _ = stored(app)
    by_order = {t.order_id: t for t in trades}
    expected = {t.order_id: expected_slippage(t.quoted_amount_out, t.amount_out) for t in trades}
    assert expected[second["orderId"]] > 0, "the second fill must be worse than its quote"
    assert by_order[second["orderId"]].quoted_amount_out == units("USDC", second["quotedAmountOut"])

    r = check(SlippageResponse, client.get("/api/analytics/slippage"))
    assert (r["total"], len(r["trades"])) == (2, 2)
    for row in r["trades"]:
        trade = by_order[row["orderId"]]
        assert Decimal(row["slippageBps"]) == expected[row["orderId"]]
        assert row["slippageBps"] == f"{expected[row['orderId']]:f}"
        assert units("USDC", row["quotedAmountOut"]) == trade.quoted_amount_out
        assert units("USDC", row["amountOut"]) == trade.amount_out
        assert row["notionalUsd"] == pytest.approx(trade.notional_usd, abs=1e-6)
    assert [row["orderId"] for row in r["trades"]] == [second["orderId"], first["orderId"]]

    values = sorted(float(v) for v in expected.values())
    weights = {t.order_id: t.notional_usd for t in trades}
    aggregate = r["aggregate"]
    assert aggregate["trades"] == 2
    assert aggregate["avgBps"] == pytest.approx(sum(values) / 2, abs=1e-4)
    assert aggregate["weightedBps"] == pytest.approx(
        sum(float(expected[o]) * w for o, w in weights.items()) / sum(weights.values()), abs=1e-4
    )
    assert (aggregate["minBps"], aggregate["maxBps"]) == (
        pytest.approx(values[0], abs=1e-4),
        pytest.approx(values[-1], abs=1e-4),
    )
    assert aggregate["p50Bps"] == pytest.approx(nearest_rank(values, 0.5), abs=1e-4)
    assert aggregate["p95Bps"] == pytest.approx(nearest_rank(values, 0.95), abs=1e-4)
    signs = [v > 0 for v in values], [v == 0 for v in values], [v < 0 for v in values]
    assert (aggregate["worse"], aggregate["equal"], aggregate["better"]) == tuple(sum(s) for s in signs)

    newest = check(SlippageResponse, client.get("/api/analytics/slippage?limit=1"))
    assert [row["orderId"] for row in newest["trades"]] == [second["orderId"]]
    assert newest["aggregate"] == aggregate  # the aggregate covers the whole window, not the page


def test_a_fill_at_its_quote_has_zero_slippage(client: Any, api_key: str) -> None:
    order = execute(client, api_key, {"tokenIn": "USDC", "tokenOut": "USDT", "amountIn": "500"})
    r = check(SlippageResponse, client.get("/api/analytics/slippage"))
    assert [t["orderId"] for t in r["trades"]] == [order["orderId"]]
    row = r["trades"][0]
    assert (row["quotedAmountOut"], row["amountOut"]) == (order["quotedAmountOut"], order["amountOut"])
    # Nothing traded between the quote and the fill: the fill is the quote.
    assert row["quotedAmountOut"] == row["amountOut"] and row["slippageBps"] == "0.0000"
    assert (r["aggregate"]["worse"], r["aggregate"]["equal"], r["aggregate"]["better"]) == (0, 1, 0)
    assert (r["aggregate"]["avgBps"], r["aggregate"]["maxBps"]) == (0, 0)


@pytest.mark.parametrize(
    ("quoted", "filled", "expected"),
    [
        (10_000, 9_999, "1.0000"),
        (3, 2, "3333.3333"),
        (3, 4, "-3333.3333"),
        (7, 7, "0.0000"),
        (800_000, 799_999, "0.0125"),  # exactly 0.0125: nothing to round
        (1_600_000, 1_599_999, "0.0062"),  # 0.00625: a tie, to the even 0.0062
        (40_000_000, 39_999_997, "0.0008"),  # 0.00075: a tie, to the even 0.0008
        (40_000_000, 40_000_003, "-0.0008"),  # filled above the quote
        (3_000_000, 2_999_999, "0.0033"),  # 0.00333…: not a tie
    ],
)
def test_realised_slippage_rounds_exactly_half_even(quoted: int, filled: int, expected: str) -> None:
    from analytics import realised_slippage_bps

    assert f"{realised_slippage_bps(quoted, filled):f}" == expected
    assert expected_slippage(quoted, filled) == Decimal(expected)


# --- liquidity curves ------------------------------------------------------------------------------


def curves(client: Any, query: str) -> dict[str, Any]:
    return check(LiquidityCurvesResponse, client.get(f"/api/liquidity-curves?{query}"))


def test_curves_are_the_exact_pool_and_desk_maths_on_the_current_state(
    app: Flask, client: Any, api_key: str
) -> None:
    execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "400"})  # move the pools
    time.sleep(0.25)  # past the web quotes' venue snapshot (VENUE_CACHE_S)
    pools = {
        p["id"]: p for p in client.get("/api/liquidity-pools?tokenA=SOL&tokenB=USDC").get_json()["pools"]
    }
    check(PricesResponse, client.get("/api/prices"))
    # The desk prices from the exact USD prices; the API shows them rounded to 12 significant digits.
    with app.app_context():
        usd = get_services(app).quotes.prices(load_pools(db.session))
    mid = Context(prec=40).divide(usd["SOL"].price_usd, usd["USDC"].price_usd)
    with app.app_context():
        desk_row = db.session.get(OTCPool, "otc-a-sol-usdc")
        desk = desk_from_row(desk_row, Decimal(app.config["OTC_SETTLEMENT_SCALE"]))

    body = curves(client, "tokenIn=SOL&tokenOut=USDC&points=24")
    assert (body["tokenIn"], body["tokenOut"]) == ("SOL", "USDC")
    assert Decimal(body["referencePrice"]) == rounded(mid)  # a price: 12 significant digits
    sizes = [units("SOL", s) for s in body["sizes"]]
    assert len(sizes) == 24 and sizes == sorted(set(sizes))
    # Default range: the largest of a quarter of each pool's SOL reserve and the desk's maximum
    # (3 significant digits), down 5 decades.
    hi = max(max(units("SOL", p["reserveA"]) // 4 for p in pools.values()), units("SOL", "5000"))
    hi = round(hi, 3 - len(str(hi)))  # to 3 significant digits
    assert (sizes[0], sizes[-1]) == (hi // 10**5, hi)
    ratios = [b / a for a, b in itertools.pairwise(sizes)]
    assert max(ratios) / min(ratios) < 1.02, "sizes are evenly spaced in log"

    venues = {v["venueId"]: v for v in body["venues"]}
    assert set(venues) == set(pools) | {"otc-a-sol-usdc", "jupiter"}
    for pool_id, pool in pools.items():
        venue = venues[pool_id]
        assert (venue["kind"], venue["available"], venue["reason"], venue["maxAmountIn"]) == (
            "amm",
            True,
            None,
            None,
        )
        assert venue["depthOut"] == pool["reserveB"]
        reserve_in, reserve_out = units("SOL", pool["reserveA"]), units("USDC", pool["reserveB"])
        outs, impacts = [], []
        for size, point in zip(sizes, venue["points"], strict=True):
            assert units("SOL", point["amountIn"]) == size
            out = amount_out_for_in(reserve_in, reserve_out, size, pool["feeBps"])
            assert units("USDC", point["amountOut"]) == out, (pool_id, size)
            # The pool's own size-driven impact is curveImpactBps; priceImpactBps (the one definition)
            # is fees included, against the reference mid.
            impact = Decimal(point["curveImpactBps"])
            assert abs(impact - price_impact_bps(reserve_in, reserve_out, size, pool["feeBps"])) <= Decimal(
                "0.005"
            )
            against_mid = (1 - Decimal(out) / (size * mid / 1_000)) * 10_000
            assert abs(Decimal(point["priceImpactBps"]) - against_mid) <= Decimal("0.005")
            assert Decimal(point["feeBps"]) == pool["feeBps"]
            exact = Context(prec=60).divide(Decimal(point["amountOut"]), Decimal(point["amountIn"]))
            assert Decimal(point["price"]) == rounded(exact)
            outs.append(out)
            impacts.append(impact)
        assert outs == sorted(outs), "output is non-decreasing in size"
        assert impacts == sorted(impacts), "a pool's impact is non-decreasing in size"
        assert impacts[-1] > 1_000  # the largest size moves the pool: the curve bends

    otc = venues["otc-a-sol-usdc"]
    assert (otc["kind"], otc["available"], otc["minAmountIn"], otc["maxAmountIn"]) == (
        "otc",
        True,
        "100",
        "5000",
    )
    now = time.time()
    available_outs = []
    for size, point in zip(sizes, otc["points"], strict=True):
        q = otc_engine.quote(desk, "SOL", "USDC", size, mid, now)
        assert point["available"] == q.available, size
        if q.available:
            assert units("USDC", point["amountOut"]) == q.amount_out
            assert Decimal(point["feeBps"]) == q.spread_bps.quantize(Decimal("0.0001"))
            available_outs.append(q.amount_out)
        else:
            assert (point["amountOut"], point["priceImpactBps"], point["price"]) == (None, None, None)
            assert point["reason"]
    assert available_outs == sorted(available_outs) and len(available_outs) >= 2
    assert not otc["points"][0]["available"]  # below the desk's minimum of 100 SOL

    jupiter = venues["jupiter"]
    assert (jupiter["kind"], jupiter["available"], jupiter["isEstimate"]) == ("aggregator", False, True)
    assert jupiter["reason"] == "disabled (offline mode)"
    assert len(jupiter["points"]) == 24 and not any(p["available"] for p in jupiter["points"])


def test_a_curve_point_is_the_venue_row_of_a_quote_of_that_size(client: Any) -> None:
    body = curves(client, "tokenIn=SOL&tokenOut=USDC&points=5&minAmountIn=1&maxAmountIn=1000")
    assert body["sizes"] == ["1", "5.62", "31.6", "178", "1000"]
    for index, size in enumerate(body["sizes"]):
        quote = check(QuoteResponse, client.get(f"/api/quote?tokenIn=SOL&tokenOut=USDC&amountIn={size}"))
        rows = {q["venueId"]: q for q in quote["quotes"] if q["path"] == ["SOL", "USDC"]}
        assert set(rows) == {v["venueId"] for v in body["venues"]}
        for venue in body["venues"]:
            point, row = venue["points"][index], rows[venue["venueId"]]
            assert (point["amountOut"], point["priceImpactBps"], point["available"], point["reason"]) == (
                row["amountOut"],
                row["priceImpactBps"],
                row["available"],
                row["reason"],
            ), (venue["venueId"], size)


def test_curves_in_the_other_direction_and_on_a_single_pool_pair(client: Any) -> None:
    pools = {p["id"]: p for p in client.get("/api/liquidity-pools").get_json()["pools"]}
    for query, pool_ids in (
        ("tokenIn=USDC&tokenOut=SOL&points=12", ("meteora-sol-usdc", "orca-sol-usdc", "raydium-sol-usdc")),
        ("tokenIn=JUP&tokenOut=USDC&points=8", ("orca-jup-usdc",)),
    ):
        body = curves(client, query)
        token_in, token_out = body["tokenIn"], body["tokenOut"]
        sizes = [units(token_in, s) for s in body["sizes"]]
        venues = {v["venueId"]: v for v in body["venues"]}
        assert set(pool_ids) <= set(venues)
        for pool_id in pool_ids:
            pool = pools[pool_id]
            side_in = "A" if pool["tokenA"] == token_in else "B"
            side_out = "B" if side_in == "A" else "A"
            reserve_in = units(token_in, pool[f"reserve{side_in}"])
            reserve_out = units(token_out, pool[f"reserve{side_out}"])
            outs = [units(token_out, p["amountOut"]) for p in venues[pool_id]["points"]]
            assert outs == [amount_out_for_in(reserve_in, reserve_out, s, pool["feeBps"]) for s in sizes]
            impacts = [Decimal(p["priceImpactBps"]) for p in venues[pool_id]["points"]]
            assert outs == sorted(outs) and impacts == sorted(impacts)
    jup = curves(client, "tokenIn=JUP&tokenOut=USDC")
    assert len(jup["sizes"]) == 24 and [v["kind"] for v in jup["venues"]] == ["amm", "aggregator"]


def test_a_narrow_range_in_base_units_yields_fewer_distinct_sizes(client: Any) -> None:
    body = curves(client, "tokenIn=USDC&tokenOut=USDT&minAmountIn=0.000001&maxAmountIn=0.000004&points=10")
    assert body["sizes"] == ["0.000001", "0.000002", "0.000003", "0.000004"]
    assert all(len(v["points"]) == 4 for v in body["venues"])


# --- bad input: every parameter ------------------------------------------------------------------------

BAD_CHART_QUERIES: list[tuple[str, str, str, str]] = [
    ("timeseries", "bucket=week", "invalid_input", "bucket"),
    ("timeseries", "bucket=HOUR", "invalid_input", "bucket"),
    ("timeseries", "bucket=", "invalid_input", "bucket"),
    ("timeseries", "bucket=hour&bucket=day", "invalid_input", "bucket"),
    ("timeseries", "from=yesterday", "invalid_input", "from"),
    ("timeseries", "to=2026-13-01", "invalid_input", "to"),
    ("timeseries", "from=2026-06-01&to=2026-01-01", "invalid_input", "to"),
    ("timeseries", "bucket=minute&from=2020-01-01", "invalid_input", "from"),
    ("timeseries", "bucket=day&from=1900-01-01&to=2026-01-01", "invalid_input", "from"),
    ("timeseries", "limit=5", "invalid_input", "limit"),
    ("timeseries", "bucket=mi%00nute", "invalid_input", "bucket"),
    ("impact", "limit=0", "invalid_input", "limit"),
    ("impact", "limit=1001", "invalid_input", "limit"),
    ("impact", "limit=ten", "invalid_input", "limit"),
    ("impact", "limit=1.5", "invalid_input", "limit"),
    ("impact", "limit=1&limit=2", "invalid_input", "limit"),
    ("impact", "from=never", "invalid_input", "from"),
    ("impact", "from=2026-06-01&to=2026-01-01", "invalid_input", "to"),
    ("impact", "offset=1", "invalid_input", "offset"),
    ("latency", "from=soon", "invalid_input", "from"),
    ("latency", "to=9999-12-31T23:00:00-05:00", "invalid_input", "to"),
    ("latency", "from=2026-06-01&to=2026-01-01", "invalid_input", "to"),
    ("latency", "bins=10", "invalid_input", "bins"),
    ("slippage", "limit=-1", "invalid_input", "limit"),
    ("slippage", "limit=99999999999999999999", "invalid_input", "limit"),
    ("slippage", "to=x", "invalid_input", "to"),
    ("slippage", "tokenIn=SOL", "invalid_input", "tokenIn"),
    ("breakdown", "from=x", "invalid_input", "from"),
    ("breakdown", "to=2026-01-01&from=2026-02-01", "invalid_input", "to"),
    ("breakdown", "venue=Orca", "invalid_input", "venue"),
]


@pytest.mark.parametrize(
    ("endpoint", "query", "code", "field"),
    BAD_CHART_QUERIES,
    ids=[f"{c[0]}: {c[1]}" for c in BAD_CHART_QUERIES],
)
def test_a_bad_chart_query_names_its_parameter(
    client: Any, endpoint: str, query: str, code: str, field: str
) -> None:
    assert_error(client.get(f"/api/analytics/{endpoint}?{query}"), 400, code, field)


PAIR = "tokenIn=SOL&tokenOut=USDC"
BAD_CURVE_QUERIES: list[tuple[str, str, str, str]] = [
    ("missing tokenIn", "tokenOut=USDC", "invalid_input", "tokenIn"),
    ("missing tokenOut", "tokenIn=SOL", "invalid_input", "tokenOut"),
    ("unknown tokenIn", "tokenIn=DOGE&tokenOut=USDC", "unknown_token", "tokenIn"),
    ("unknown tokenOut", "tokenIn=SOL&tokenOut=DOGE", "unknown_token", "tokenOut"),
    ("same token", "tokenIn=SOL&tokenOut=sol", "invalid_input", "tokenOut"),
    ("no direct venue", "tokenIn=RAY&tokenOut=USDC", "invalid_input", "tokenOut"),
    ("no venue at all", "tokenIn=RAY&tokenOut=JUP", "invalid_input", "tokenOut"),
    ("repeated tokenIn", "tokenIn=SOL&tokenIn=RAY&tokenOut=USDC", "invalid_input", "tokenIn"),
    ("NUL in tokenOut", "tokenIn=SOL&tokenOut=US%00DC", "invalid_input", "tokenOut"),
    ("one point", f"{PAIR}&points=1", "invalid_input", "points"),
    ("65 points", f"{PAIR}&points=65", "invalid_input", "points"),
    ("points not a number", f"{PAIR}&points=many", "invalid_input", "points"),
    ("zero minAmountIn", f"{PAIR}&minAmountIn=0", "invalid_input", "minAmountIn"),
    ("negative minAmountIn", f"{PAIR}&minAmountIn=-1", "invalid_input", "minAmountIn"),
    ("non-numeric minAmountIn", f"{PAIR}&minAmountIn=abc", "invalid_input", "minAmountIn"),
    ("too precise minAmountIn", f"{PAIR}&minAmountIn=0.0000000001", "too_precise", "minAmountIn"),
    ("minAmountIn above the default range", f"{PAIR}&minAmountIn=1000000", "invalid_input", "minAmountIn"),
    ("zero maxAmountIn", f"{PAIR}&maxAmountIn=0", "invalid_input", "maxAmountIn"),
    ("NaN maxAmountIn", f"{PAIR}&maxAmountIn=NaN", "invalid_input", "maxAmountIn"),
    ("huge maxAmountIn", f"{PAIR}&maxAmountIn=1e30", "invalid_input", "maxAmountIn"),
    (
        "too precise maxAmountIn",
        "tokenIn=USDC&tokenOut=SOL&maxAmountIn=1.0000001",
        "too_precise",
        "maxAmountIn",
    ),
    ("max below min", f"{PAIR}&minAmountIn=10&maxAmountIn=1", "invalid_input", "maxAmountIn"),
    ("max equal to min", f"{PAIR}&minAmountIn=10&maxAmountIn=10", "invalid_input", "maxAmountIn"),
    ("unknown parameter", f"{PAIR}&amountIn=1", "invalid_input", "amountIn"),
]


@pytest.mark.parametrize(
    ("query", "code", "field"), [c[1:] for c in BAD_CURVE_QUERIES], ids=[c[0] for c in BAD_CURVE_QUERIES]
)
def test_a_bad_curves_query_names_its_parameter(client: Any, query: str, code: str, field: str) -> None:
    assert_error(client.get(f"/api/liquidity-curves?{query}"), 400, code, field)


# --- latency by venue kind -----------------------------------------------------------------------

KIND_RANK = {"amm": 0, "aggregator": 1, "otc": 2}


def test_latency_is_split_by_the_slowest_venue_kind_of_each_trade(
    app: Flask, client: Any, traded: list[dict[str, Any]]
) -> None:
    # Known latencies, and one leg of the two-hop trade relabelled an aggregator leg, so that every
    # kind has trades: the read must pick each trade's slowest kind and rank within it.
    with app.app_context():
        trades = list(db.session.execute(sa.select(Trade).order_by(Trade.id)).scalars())
        for trade, ms in zip(trades, (120.5, 40_000.0, 80.25, 31_000.0), strict=True):
            trade.latency_ms = ms
        two_hop = db.session.execute(
            sa.select(Fill).where(Fill.trade_id == trades[1].id, Fill.kind == "amm").limit(1)
        ).scalar_one()
        two_hop.kind = "aggregator"
        db.session.commit()
    _, trades, fills = stored(app)
    kind_of: dict[int, str] = {}
    for f in fills:
        if f.trade_id not in kind_of or KIND_RANK[f.kind] > KIND_RANK[kind_of[f.trade_id]]:
            kind_of[f.trade_id] = f.kind
    expected: dict[str, list[float]] = defaultdict(list)
    for t in trades:
        expected[kind_of[t.id]].append(t.latency_ms)
    assert set(expected) == {"amm", "aggregator", "otc"}, kind_of

    body = check(LatencyResponse, client.get("/api/analytics/latency"))
    summary = check(AnalyticsSummary, client.get("/api/analytics/summary"))
    assert summary["latency"]["byKind"] == body["byKind"]
    assert [k["kind"] for k in body["byKind"]] == ["amm", "aggregator", "otc"]
    for row in body["byKind"]:
        values = expected[row["kind"]]
        assert row["count"] == len(values)
        for key, q in (("p50Ms", 0.5), ("p95Ms", 0.95), ("p99Ms", 0.99)):
            assert row[key] == pytest.approx(nearest_rank(values, q), abs=1e-3), (row, key)
        assert row["maxMs"] == pytest.approx(max(values), abs=1e-3)
        assert row["meanMs"] == pytest.approx(sum(values) / len(values), abs=1e-3)
    amm = body["byKind"][0]
    assert amm["p95Ms"] < 1_000 < body["p95Ms"], "the OTC settlement no longer sets the AMM figure"
    future = stamp(datetime.now(UTC) + timedelta(hours=1))
    assert check(LatencyResponse, client.get(f"/api/analytics/latency?from={future}"))["byKind"] == []


# --- price history from trades -------------------------------------------------------------------


def test_price_history_gives_each_token_s_usd_price_per_bucket_from_the_trades(
    app: Flask, client: Any, traded: list[dict[str, Any]]
) -> None:
    _, trades, _ = stored(app)
    body = check(PriceHistoryResponse, client.get("/api/analytics/price-history?bucket=hour"))
    assert (body["bucket"], body["source"]) == ("hour", "trades")
    tokens = {t["token"]: t for t in body["tokens"]}
    assert set(tokens) == {t.token_in for t in trades} | {t.token_out for t in trades}
    for symbol, history in tokens.items():
        sold = [t for t in trades if t.token_in == symbol]
        basis = "sold" if sold else "bought"
        assert history["basis"] == basis
        used = sold or [t for t in trades if t.token_out == symbol]
        by_hour: dict[datetime, list[Trade]] = defaultdict(list)
        for t in used:
            by_hour[t.executed_at.replace(minute=0, second=0, microsecond=0)].append(t)
        assert [p["start"] for p in history["points"]] == [stamp_z(h) for h in sorted(by_hour)]
        for point, hour in zip(history["points"], sorted(by_hour), strict=True):
            group = by_hour[hour]
            units_sum = sum(t.amount_in if basis == "sold" else t.amount_out for t in group)
            price = sum(t.notional_usd for t in group) / (units_sum / 10 ** get_token(symbol).decimals)
            assert point["trades"] == len(group)
            assert float(point["priceUsd"]) == pytest.approx(price, rel=1e-9)
            assert significant_digits(point["priceUsd"]) <= 12
        assert history["changePct"] is None or len(history["points"]) > 1
    sol = tokens["SOL"]
    assert sol["basis"] == "sold" and 1 < float(sol["points"][0]["priceUsd"]) < 10_000
    future = stamp(datetime.now(UTC) + timedelta(hours=1))
    later = check(PriceHistoryResponse, client.get(f"/api/analytics/price-history?from={future}"))
    assert later["tokens"] == []


def test_price_history_refuses_a_window_of_more_than_2000_buckets(client: Any) -> None:
    since = stamp(datetime.now(UTC) - timedelta(days=3))
    assert_error(
        client.get(f"/api/analytics/price-history?bucket=minute&from={since}"), 400, "invalid_input", "from"
    )
    assert client.get(f"/api/analytics/price-history?bucket=hour&from={since}").status_code == 200


# --- prices rounded to 12 significant digits, amounts exact ------------------------------------------


def test_prices_are_rounded_to_12_significant_digits_in_every_payload_and_amounts_stay_exact(
    app: Flask, client: Any, api_key: str
) -> None:
    # BONK's price has many leading zeros and a long tail: the case that produced 38-digit prices.
    order = execute(client, api_key, {"tokenIn": "SOL", "tokenOut": "BONK", "amountIn": "1.234567891"})
    execute(client, api_key, {"tokenIn": "BONK", "tokenOut": "SOL", "amountIn": "12345678.12345"})
    time.sleep(0.25)  # past the web quotes' venue snapshot (VENUE_CACHE_S)

    pools = check(PoolsResponse, client.get("/api/liquidity-pools"))["pools"]
    with app.app_context():
        rows = {p.id: p for p in db.session.execute(sa.select(AmmPool)).scalars()}
    for pool in pools:
        row = rows[pool["id"]]
        assert units(pool["tokenA"], pool["reserveA"]) == row.reserve_a  # amounts: exact
        assert units(pool["tokenB"], pool["reserveB"]) == row.reserve_b
        exact = Context(prec=60).divide(Decimal(pool["reserveB"]), Decimal(pool["reserveA"]))
        assert Decimal(pool["price"]) == rounded(exact), pool
        assert significant_digits(pool["price"]) <= 12

    quote = check(QuoteResponse, client.get("/api/quote?tokenIn=BONK&tokenOut=USDC&amountIn=1234567.89012"))
    prices = check(PricesResponse, client.get("/api/prices"))["prices"]
    texts = [quote["referencePrice"], *(p["priceUsd"] for p in quote["prices"].values())]
    texts += [p["priceUsd"] for p in prices.values()]
    detail = client.get(f"/api/orders/{order['orderId']}", headers={"X-API-Key": api_key}).get_json()
    texts += [detail["trade"]["price"], *(leg["price"] for leg in detail["legs"])]
    curves = check(LiquidityCurvesResponse, client.get("/api/liquidity-curves?tokenIn=SOL&tokenOut=BONK"))
    texts += [curves["referencePrice"]]
    texts += [p["price"] for v in curves["venues"] for p in v["points"] if p["price"] is not None]
    for text in texts:
        assert text is not None and significant_digits(text) <= 12, text
    assert any(significant_digits(t) == 12 for t in texts), "nothing needed rounding: a weak test"
    # A fill's price is its exact ratio, rounded; its amounts stay exact.
    for leg in detail["legs"]:
        exact = Context(prec=60).divide(Decimal(leg["amountOut"]), Decimal(leg["amountIn"]))
        assert Decimal(leg["price"]) == rounded(exact), leg
    assert detail["amountIn"] == "1.234567891"


def test_the_openapi_document_states_the_precision_of_prices(client: Any) -> None:
    document = client.get("/api/openapi.json").get_json()
    text = str(document)
    assert "12 significant digits" in text
