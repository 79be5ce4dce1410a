"""Resting-order benchmark: the cost of one watcher tick over 10,000 open orders.

Run from the repository root::

    .venv/bin/python bench/resting_orders.py             # about a minute on the 2-core box
    .venv/bin/python bench/resting_orders.py --quick     # 1,000 orders, one round

The book: ``--orders`` open orders (default 10,000) over six pairs, half limit, a quarter each
stop-loss and take-profit; ``--near`` of them (default 5%) priced within ±0.5% of the market
(some of those trigger), the rest 2% to 30% away on the side where they wait, as resting orders
mostly are; amounts from $10 to $100,000 (log-uniform); a third with an expiry, 1% of them past.
The market: the default pools and desks at the seed prices (no Jupiter: the watcher never asks it).

Timed in the same run, on the same book and market (ms per tick, best and median of rounds):

* ``book``: ``OrderBook.of`` (group by pair and type, sort by price), done once per tick;
* ``evaluate``: ``order_book.evaluate``: bisects, and a real route quote only for the limits at or
  below the best path's marginal price;
* ``naive``: ``order_book.evaluate_naive``: every order on its own, a route quote per limit order
  (the baseline).

Both must find the same orders (checked), and the run prints the route quotes each made, the
ratio and the load average (other processes share these cores).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import otc_engine  # noqa: E402
from amm.pools import default_pools  # noqa: E402
from errors import SolrouteError  # noqa: E402
from order_book import (  # noqa: E402
    OrderBook,
    RestingOrder,
    RestingType,
    Snapshot,
    evaluate,
    evaluate_naive,
    limit_min_amount_out,
)
from routing_engine import Market, find_route  # noqa: E402
from tokens import get_token  # noqa: E402
from venue_state import seed_prices  # noqa: E402

PAIRS = (("SOL", "USDC"), ("USDC", "SOL"), ("JUP", "USDC"), ("RAY", "SOL"), ("BONK", "SOL"), ("SOL", "USDT"))
NOW = 1_800_000_000.0


def market() -> Market:
    prices = seed_prices()
    return Market(default_pools(prices), otc_engine.default_desks(prices, NOW), prices, NOW)


def quote_on(m: Market):  # type: ignore[no-untyped-def]
    def quote(token_in: str, token_out: str, amount_in: int, strategy: str) -> int | None:
        try:
            return find_route(m, token_in, token_out, amount_in, strategy).route.amount_out
        except SolrouteError:
            return None

    return quote


def book_orders(m: Market, count: int, near: float, rng: random.Random) -> list[RestingOrder]:
    prices = m.usd_prices
    orders = []
    for n in range(count):
        token_in, token_out = rng.choice(PAIRS)
        kind = rng.choices(list(RestingType), weights=(2, 1, 1))[0]
        usd = Decimal(str(round(10 ** rng.uniform(1, 5), 2)))
        amount_in = max(1, int(usd / prices[token_in] * get_token(token_in).unit))
        mid = m.mid_price(token_in, token_out)
        assert mid is not None
        if rng.random() < near:
            ratio = 1 + rng.uniform(-0.005, 0.005)
        else:  # waiting on its own side: a limit or take-profit above, a stop below
            away = rng.uniform(0.02, 0.30)
            ratio = 1 - away if kind is RestingType.STOP_LOSS else 1 + away
        price = (mid * Decimal(str(ratio))).quantize(Decimal(1).scaleb(mid.adjusted() - 8))
        minimum = (
            limit_min_amount_out(token_in, token_out, amount_in, price) if kind is RestingType.LIMIT else 0
        )
        expires_at = None
        if rng.random() < 1 / 3:
            expires_at = NOW - 1 if rng.random() < 0.01 else NOW + rng.uniform(60, 86_400)
        orders.append(
            RestingOrder(
                f"o{n:06d}", n % 97, token_in, token_out, kind, amount_in, price, minimum, expires_at
            )
        )
    return orders


def timed(fn, rounds: int) -> tuple[list[float], object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--near", type=float, default=0.05, help="share of orders within ±0.5%% of the price")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--naive-rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--database",
        action="store_true",
        help="also time reading the book from PostgreSQL: a full read against the kept book's refresh",
    )
    args = parser.parse_args()
    if args.quick:
        args.orders, args.rounds, args.naive_rounds = 1_000, 1, 1

    m = market()
    orders = book_orders(m, args.orders, args.near, random.Random(13))
    snapshot = Snapshot(m, NOW, quote_on(m))
    evaluate(OrderBook.of(orders[:50]), snapshot)  # warm the route caches both paths share

    book_ms, book = timed(lambda: OrderBook.of(orders), args.rounds)
    assert isinstance(book, OrderBook)
    eval_ms, fast = timed(lambda: evaluate(book, snapshot), args.rounds)
    naive_ms, slow = timed(lambda: evaluate_naive(orders, snapshot), args.naive_rounds)
    # The next tick, nothing having moved: the first tick's triggered and expired orders have left
    # the book (executed, expired), the rest still wait. What the watcher pays every second.
    gone = {t.order.order_id for t in fast.triggered} | {o.order_id for o in fast.expired}  # type: ignore[attr-defined]
    waiting = [o for o in orders if o.order_id not in gone]
    rest = OrderBook.of(waiting)
    steady_ms, steady = timed(lambda: evaluate(rest, snapshot), args.rounds)
    steady_naive_ms, steady_slow = timed(lambda: evaluate_naive(waiting, snapshot), args.naive_rounds)

    def ids(e) -> tuple[set[str], set[str]]:  # type: ignore[no-untyped-def]
        return {t.order.order_id for t in e.triggered}, {o.order_id for o in e.expired}

    assert ids(fast) == ids(slow), "evaluate and the naive check disagree"
    assert ids(steady) == ids(steady_slow), "evaluate and the naive check disagree on the next tick"
    kinds = {k: sum(o.order_type is k for o in orders) for k in RestingType}
    print(
        f"resting orders per tick: {args.orders:,} orders over {len(PAIRS)} pairs "
        f"({', '.join(f'{v:,} {k.value}' for k, v in kinds.items())}), {args.near:.0%} near the price"
    )
    print(f"triggered {len(fast.triggered)}, expired {len(fast.expired)}")  # type: ignore[attr-defined]
    print()
    header = f"{'step':<16}  {'best ms':>9}  {'median ms':>9}  {'route quotes':>12}  {'bounded':>7}"
    print(header)
    print(f"{'-' * 16}  {'-' * 9}  {'-' * 9}  {'-' * 12}  {'-' * 7}")
    for name, times, result in (
        ("book", book_ms, None),
        ("evaluate", eval_ms, fast),
        ("naive", naive_ms, slow),
        ("next evaluate", steady_ms, steady),
        ("next naive", steady_naive_ms, steady_slow),
    ):
        quotes = result.quotes if result is not None else 0  # type: ignore[attr-defined]
        bounded = result.bounded if result is not None else 0  # type: ignore[attr-defined]
        print(
            f"{name:<16}  {min(times):>9.2f}  {statistics.median(times):>9.2f}  {quotes:>12,}  {bounded:>7,}"
        )
    print()
    tick = min(book_ms) + min(eval_ms)
    print(
        f"first tick (book + evaluate, {len(fast.triggered)} triggered): {tick:.2f} ms; "  # type: ignore[attr-defined]
        f"naive / evaluate: {min(naive_ms) / min(eval_ms):.0f}x"
    )
    print(
        f"next tick (evaluate, nothing triggers): {min(steady_ms):.2f} ms; "
        f"naive / evaluate: {min(steady_naive_ms) / min(steady_ms):.0f}x"
    )
    if args.database:
        print()
        database_reads(orders, args.rounds)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


def database_reads(orders: list[RestingOrder], rounds: int) -> None:
    """The book's reads on a fresh PostgreSQL database holding ``orders`` as open rows: a full read
    (``open_order_book``, what every tick did before) against ``RestingBook``'s refresh with nothing
    changed and with 20 orders changed (10 cancelled, 10 placed) since the last tick."""
    from datetime import timedelta

    import sqlalchemy as sa

    from app import create_app
    from models import Order, OrderStatus, db, utcnow
    from resting_book import RestingBook, open_order_book
    from services import get_services
    from tests.conftest import base_overrides, create_pg_database, drop_pg_database, migrate_database
    from venue_state import create_account, seed_database

    name, url = create_pg_database("solroute_bench")
    try:
        migrate_database(url)
        app = create_app(base_overrides(url), role="worker")
        try:
            with app.app_context():
                seed_database(db.session, demo_account=None)
                account_ids = [create_account(db.session, f"bench-{i}")[0].id for i in range(4)]
                now = utcnow() - timedelta(hours=1)  # resting orders were placed a while ago

                def row(o: RestingOrder, n: int) -> dict[str, object]:
                    limit = o.order_type is RestingType.LIMIT
                    return {
                        "id": f"{o.order_id}-{n}",
                        "account_id": account_ids[n % len(account_ids)],
                        "token_in": o.token_in,
                        "token_out": o.token_out,
                        "amount_in": o.amount_in,
                        "order_type": o.order_type.value,
                        "strategy": "OPTIMAL_SPLIT",
                        "slippage_bps": 50,
                        "quoted_amount_out": 0,
                        "min_amount_out": o.min_amount_out,
                        "status": OrderStatus.OPEN.value,
                        "request_hash": "bench",
                        "attempts": 0,
                        "limit_price": o.price if limit else None,
                        "trigger_price": None if limit else o.price,
                        "created_at": now,
                        "updated_at": now,
                    }

                table = Order.__table__
                db.session.execute(sa.insert(table), [row(o, n) for n, o in enumerate(orders)])
                db.session.commit()
                kept = RestingBook(full_reload_s=1e12)
                kept.book(db.session, 0.0)
                db.session.rollback()

                def full() -> object:
                    book = open_order_book(db.session)
                    db.session.rollback()
                    return book

                def refresh() -> object:
                    book = kept.book(db.session, 0.0)
                    db.session.rollback()
                    return book

                full_ms, _ = timed(full, rounds)
                idle_ms, _ = timed(refresh, rounds)
                changed_ms: list[float] = []
                for r in range(rounds):
                    later = utcnow()
                    ids = [f"{o.order_id}-{n}" for n, o in enumerate(orders[r * 10 : r * 10 + 10])]
                    db.session.execute(
                        sa.update(table)
                        .where(table.c.id.in_(ids))
                        .values(status=OrderStatus.CANCELLED.value, updated_at=later)
                    )
                    fresh = [
                        row(o, 10**6 + r * 10 + n) | {"created_at": later, "updated_at": later}
                        for n, o in enumerate(orders[-10 - r * 10 :][:10])
                    ]
                    db.session.execute(sa.insert(table), fresh)
                    db.session.commit()
                    times, _ = timed(refresh, 1)
                    changed_ms += times
                print(f"reading the book of {len(orders):,} open orders from PostgreSQL (ms per tick):")
                for label, times in (
                    ("full read (open_order_book, before)", full_ms),
                    ("kept book, nothing changed", idle_ms),
                    ("kept book, 20 orders changed", changed_ms),
                ):
                    print(f"  {label:<38} best {min(times):8.2f}  median {statistics.median(times):8.2f}")
                print(f"  full read / refresh (20 changed): {min(full_ms) / min(changed_ms):.0f}x")
                db.session.remove()
                db.engine.dispose()
        finally:
            get_services(app).shutdown()
    finally:
        drop_pg_database(name)


if __name__ == "__main__":
    main()
