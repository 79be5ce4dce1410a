"""Arbitrage detection benchmark: ``routing_engine.arbitrage`` on the default and on generated markets.

Run from the repository root::

    .venv/bin/python bench/arbitrage.py            # default market, 100, 300 and 1,000 pools
    .venv/bin/python bench/arbitrage.py --quick    # default market, 100 and 300 pools, one round

Markets:

* ``default``: the 12 default pools and 2 desks at the seed prices (fairly priced: nothing to find);
* ``default +6%``: the same with Raydium SOL/USDC moved 6 % (one-directional flow, unarbitraged);
* ``N pools``: N random pools over T tokens (SOL, USDC and USDT at their seed prices with the two
  default desks, the rest generated tokens priced $0.01-$1,000 log-uniform, 6 or 9 decimals), each
  seeded at the reference prices with $50k-$5M a side and a fee of 1-100 bps; 10 % of them
  mispriced by 1-8 %.

Timed in the same run, on the same market: ``pruned`` (the search: token loops whose best
zero-size marginal-price product is at most 1 dropped whole, venue loops walked best-first and cut
at 1, only survivors sized) and ``naive`` (every venue loop of two and three hops sized from every
start token: the baseline). Both must report the same opportunities (checked). Printed: ms (best
and median of the rounds), loops examined and sizings, opportunities, the ratio, and the load
average (other processes share these cores).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import otc_engine  # noqa: E402
from amm.pools import Pool, default_pools  # noqa: E402
from bench.report import Table, render_text  # noqa: E402
from routing_engine import ArbitrageSearch, Market, search_opportunities  # noqa: E402
from tokens import get_token  # noqa: E402
from venue_state import seed_prices  # noqa: E402

NOW = 1_800_000_000.0
TOKENS_FOR = {100: 20, 300: 30, 1_000: 50}
MISPRICED = 0.10
FEES = (1, 5, 25, 30, 100)


@dataclass(frozen=True)
class Case:
    name: str
    market: Market
    decimals: Mapping[str, int]
    tokens: int


@dataclass(frozen=True)
class Timing:
    case: Case
    pruned_ms: list[float]
    naive_ms: list[float]
    pruned: ArbitrageSearch
    naive: ArbitrageSearch


def default_cases() -> list[Case]:
    prices = seed_prices()
    pools = default_pools(prices)
    desks = otc_engine.default_desks(prices, NOW)
    moved = tuple(
        replace(p, reserve_b=p.reserve_b * 106 // 100) if p.pool_id == "raydium-sol-usdc" else p
        for p in pools
    )
    tokens = len({t for p in pools for t in (p.token_a, p.token_b)})
    return [
        Case("default", Market(pools, desks, prices, NOW), {}, tokens),
        Case("default +6%", Market(moved, desks, prices, NOW), {}, tokens),
    ]


def generated_case(n_pools: int, seed: int) -> Case:
    """``n_pools`` random pools over ``TOKENS_FOR[n_pools]`` tokens (see the module docstring)."""
    rng = random.Random(seed)
    base = seed_prices()
    prices: dict[str, Decimal] = {s: base[s] for s in ("SOL", "USDC", "USDT")}
    decimals = {s: get_token(s).decimals for s in prices}
    for i in range(TOKENS_FOR[n_pools] - len(prices)):
        symbol = f"T{i:02d}"
        prices[symbol] = Decimal(str(round(10 ** rng.uniform(-2, 3), 6)))
        decimals[symbol] = rng.choice((6, 9))
    symbols = sorted(prices)
    pools = []
    for i in range(n_pools):
        a, b = rng.sample(symbols, 2)
        depth = Decimal(round(10 ** rng.uniform(math.log10(50_000), math.log10(5_000_000))))
        skew = (
            Decimal(str(1 + rng.choice((-1, 1)) * rng.uniform(0.01, 0.08))) if rng.random() < MISPRICED else 1
        )
        reserve_a = int(depth / prices[a] * 10 ** decimals[a])
        reserve_b = int(depth * skew / prices[b] * 10 ** decimals[b])
        pools.append(Pool(f"pool-{i}", "Generated", a, b, reserve_a, reserve_b, rng.choice(FEES)))
    desks = otc_engine.default_desks(base, NOW)
    return Case(f"{n_pools:,} pools", Market(tuple(pools), desks, prices, NOW), decimals, len(symbols))


def timed(fn: Callable[[], ArbitrageSearch], rounds: int) -> tuple[list[float], ArbitrageSearch]:
    times: list[float] = []
    result: ArbitrageSearch | None = None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    assert result is not None
    return times, result


def measure(case: Case, rounds: int, naive_rounds: int) -> Timing:
    def run(prune: bool) -> ArbitrageSearch:
        return search_opportunities(case.market, limit=10**9, prune=prune, decimals=case.decimals)

    pruned_ms, pruned = timed(lambda: run(True), rounds)
    naive_ms, naive = timed(lambda: run(False), naive_rounds)
    assert pruned.opportunities == naive.opportunities, f"{case.name}: the pruned search lost an opportunity"
    return Timing(case, pruned_ms, naive_ms, pruned, naive)


def table(timings: Sequence[Timing]) -> Table:
    rows = []
    for t in timings:
        best_usd = t.pruned.opportunities[0].profit_usd if t.pruned.opportunities else Decimal(0)
        rows.append(
            (
                t.case.name,
                f"{len(t.case.market.pools):,}",
                str(t.case.tokens),
                f"{min(t.pruned_ms):,.2f}",
                f"{statistics.median(t.pruned_ms):,.2f}",
                f"{t.pruned.checked:,}",
                f"{t.pruned.examined:,}",
                f"{t.pruned.sized:,}",
                f"{min(t.naive_ms):,.2f}",
                f"{t.naive.examined:,}",
                f"{t.naive.sized:,}",
                f"{min(t.naive_ms) / min(t.pruned_ms):,.1f}x",
                f"{len(t.pruned.opportunities):,}",
                f"{best_usd:,.2f}",
            )
        )
    return Table(
        "1. Detection time: pruned search vs naive (every loop sized), same market, same result",
        (
            "market",
            "pools",
            "tokens",
            "pruned best ms",
            "pruned median ms",
            "products",
            "examined",
            "sized",
            "naive best ms",
            "naive loops",
            "naive sized",
            "naive/pruned",
            "opportunities",
            "best USD",
        ),
        "lrrrrrrrrrrrrr",
        rows,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="default, 100 and 300 pools; one round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--naive-rounds", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = (100, 300) if args.quick else (100, 300, 1_000)
    rounds = 1 if args.quick else args.rounds
    command = "bench/arbitrage.py" + (" --quick" if args.quick else "")
    load = os.getloadavg()
    print(f"{command} on Python {platform.python_version()}, {os.cpu_count()} cores, load {load[0]:.2f}")
    cases = default_cases() + [generated_case(n, seed=n) for n in sizes]
    timings = []
    for case in cases:
        print(f"  {case.name} ...", file=sys.stderr, flush=True)
        timings.append(measure(case, rounds, args.naive_rounds))
    print()
    print(render_text(table(timings)))
    print()
    print(
        "products: zero-size marginal-price products compared with 1 (token loops, then venue loops "
        "best-first); examined: venue loops left to size; sized: optimal-size searches (one per start "
        "token with a USD price). The naive search sizes every loop."
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
