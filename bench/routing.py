"""Routing benchmark: find_route latency, OPTIMAL_SPLIT's gain over simpler routes, and its optimality gap.

Run from the repository root::

    .venv/bin/python bench/routing.py              # full run (30-60 s on the 2-core box)
    .venv/bin/python bench/routing.py --quick      # smoke test: fewer instances and repetitions
    .venv/bin/python bench/routing.py --markdown   # the same tables as Markdown, for README.md

Instances are the SOL→USDC markets of ``tests.reference_solver.random_market`` (12, 100 and 1,000
direct venues: pools, sometimes OTC desks and a Jupiter quote; no two-hop paths), with orders of
0.1%, 1% and 10% of the pools' total SOL depth. Four sections:

1. Latency, three figures per venue count: the OPTIMAL_SPLIT route itself (``optimal_split``: the
   split, exact integer legs and the dual bound; the targets apply to this) and the full quote
   (``find_route(..., Strategy.OPTIMAL_SPLIT)``, which also quotes every venue on its own for the
   side-by-side table and the saving versus the best single venue), and a baseline timed the
   same way, each figure as a ratio to it: ``vectorised_split``, the continuous optimum in numpy
   (closed form over the constant-product curves, Newton with desks; no integer legs, desk
   minimums or certificate). Each is timed with
   ``time.perf_counter_ns`` with gc off. Every call gets a freshly built ``Market`` (built outside
   the timer), as a live router gets a new snapshot per quote, so no cache keyed on the snapshot
   object can flatter the figures. p99 is the nearest-rank percentile (an observed call).
2. Gain: OPTIMAL_SPLIT's output over BEST_PRICE's and over a greedy split in 5% chunks, in bps of
   the other route's output: (ours − theirs) / theirs × 10⁴.
3. Gap: (reference − ours) / reference × 10⁴ against the SLSQP reference solver, as a signed max
   (negative: we beat SLSQP); at 1,000 venues SLSQP is too slow, so the route's own certificate
   ``optimality_gap_bps`` (distance to the dual upper bound) is reported instead.
4. The default venues (``amm.default_pools`` and ``otc_engine.default_desks`` at the reference
   prices, no Jupiter): the full quote of the common direct pair SOL→USDC (whose intermediates
   USDT, RAY and BONK the path search walks) and of pairs that need two and three hops.

Sections 2 and 3 measure the solver, so they route with ``min_gain_bps_per_leg=0`` (every leg
that adds anything is kept); the timings use the router's default settings, as a quote does.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# The reference solver's small SLSQP problems gain nothing from BLAS threads, and on a busy 2-core
# box OpenBLAS's spinning workers made it 20× slower (0.8 s → 17 s per order, measured). One
# thread, set before numpy loads; the router uses no numpy and the baseline's element-wise numpy no BLAS.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

import otc_engine  # noqa: E402
from amm.pools import default_pools  # noqa: E402
from bench.report import Table, render_markdown, render_text, verdict  # noqa: E402
from errors import NoRouteError  # noqa: E402
from routing_engine import (  # noqa: E402
    Market,
    RouterConfig,
    RouteResult,
    SplitPlan,
    Strategy,
    direct_venues,
    find_route,
)
from routing_engine import optimal_split as split_only  # noqa: E402
from routing_engine.curves import CPCurve, PolyCurve  # noqa: E402
from routing_engine.venues import Venue  # noqa: E402
from stats import percentile  # noqa: E402
from tests.reference_solver import NOW, PRICES, random_market, reference_optimum  # noqa: E402

__all__ = ["greedy_split_out", "main"]

TOKEN_IN, TOKEN_OUT = "SOL", "USDC"
SLIPPAGE_BPS = 50
BPS = 10_000
VENUE_COUNTS = (12, 100, 1_000)
# (label, divisor): the order is depth // divisor, exact in base units.
ORDER_SIZES = (("0.1%", 1_000), ("1%", 100), ("10%", 10))
GREEDY_CHUNKS = 20  # 5% each
MEDIAN_TARGET_US = {12: 50, 1_000: 500}  # issue 16, section 4
BASELINE = "baseline: vectorised continuous split (numpy)"
GAP_TARGET_BPS = Decimal("0.01")
EXACT = RouterConfig(min_gain_bps_per_leg=Decimal(0))  # sections 2 and 3: the solver's own split
# Section 4: (token_in, token_out, amount in human units) on the default venues.
DEFAULT_PAIRS = (
    ("SOL", "USDC", 1),
    ("SOL", "USDC", 100),
    ("SOL", "USDC", 1_000),
    ("RAY", "USDC", 2_500),
    ("RAY", "JUP", 2_500),
    ("BONK", "JUP", 1_000_000_000),
)
DEFAULT_PAIR_CALLS = {False: 200, True: 20}  # per pair; True: --quick


@dataclass(frozen=True)
class Plan:
    """How much work one venue count gets: random instances (seeds 0..n-1), timed passes, SLSQP checks."""

    instances: int
    timed_passes: int  # each pass times every (instance, order size) once
    reference_instances: int  # 0: report the certificate instead of SLSQP


# Tuned on the 2-core dev box (30-60 s in all, most of it SLSQP at 100 venues, 0.3-3 s per
# order): ≥ 300 timed calls at 12 and 100 venues, ≥ 60 at 1,000, over 16 instances so p99 sees
# the slow ones (OTC desks' minimum sizes cost branch-and-bound nodes).
FULL_PLAN = {12: Plan(16, 50, 16), 100: Plan(16, 15, 8), 1_000: Plan(16, 5, 0)}
QUICK_PLAN = {12: Plan(2, 10, 2), 100: Plan(2, 5, 1), 1_000: Plan(1, 3, 0)}


def build_market(seed: int, n_venues: int) -> tuple[Market, int]:
    """The benchmark instance for ``seed``: a fresh ``Market`` and its depth in SOL base units."""
    return random_market(random.Random(seed), n_venues)


def order_amounts(depth: int) -> list[tuple[str, int]]:
    """Every benchmark order size for a market of ``depth`` base units, with its label."""
    return [(label, depth // divisor) for label, divisor in ORDER_SIZES]


def full_quote(market: Market, amount_in: int) -> RouteResult:
    """The full OPTIMAL_SPLIT quote for SOL→USDC: every venue's own quote plus the route."""
    return find_route(market, TOKEN_IN, TOKEN_OUT, amount_in, Strategy.OPTIMAL_SPLIT, SLIPPAGE_BPS)


def route_only(market: Market, amount_in: int) -> SplitPlan:
    """The OPTIMAL_SPLIT route alone (what execution re-runs)."""
    return split_only(market, TOKEN_IN, TOKEN_OUT, amount_in)


def vectorised_split(market: Market, amount_in: int) -> float:
    """Baseline: the continuous optimum of the same split, vectorised with numpy; its output in float.

    The venues and their curves are built from the snapshot as the router builds them (inside the
    timer, as ours are). Constant-product curves (pools, the aggregator's virtual pool) in closed
    form: in μ = λ^(-1/2) each best response is linear between two breakpoints, so sorting the
    breakpoints and taking prefix sums gives Σx(μ) on every segment and μ* on the one where it
    reaches the order. Desks' curves (x(λ) in closed form too) join through a vectorised Newton
    in μ from there. It does less than the route: no desk minimums (no branch and bound), no
    exact integer legs, no dust or min-gain rules and no certificate; it is the floor of what a
    vectorised solver costs, not a substitute for the route.
    """
    venues = direct_venues(market, TOKEN_IN, TOKEN_OUT)
    curves = [v.curve() for v in venues]
    cp = [c for c in curves if isinstance(c, CPCurve)]
    desks = [c for c in curves if isinstance(c, PolyCurve) and c.cap > 0.0]
    r_in = np.array([c.r_in for c in cp])
    r_out = np.array([c.r_out for c in cp])
    g = np.array([c.g for c in cp])
    cap = np.array([c.cap for c in cp])
    k = np.sqrt(g * r_in * r_out)
    amount = float(amount_in)
    # Breakpoints in μ where each curve starts (and stops at its cap); slope k/g in between.
    starts, ends = r_in / k, (r_in + g * cap) / k
    events_mu = np.concatenate((starts, ends))
    order = np.argsort(events_mu, kind="stable")
    slope = np.concatenate((k / g, -k / g))[order]
    offset = np.concatenate((r_in / g, -r_in / g))[order]
    capped = np.concatenate((np.zeros_like(cap), np.where(np.isfinite(cap), cap, 0.0)))[order]
    mu_sorted = events_mu[order]
    a_sum, b_sum = np.cumsum(slope), np.cumsum(offset)
    c_sum = np.cumsum(np.where(np.isfinite(capped), capped, 0.0))
    totals = a_sum * mu_sorted - b_sum + c_sum  # Σx just after each breakpoint
    j = int(np.searchsorted(totals, amount)) - 1
    j = min(max(j, 0), len(totals) - 1)
    mu = (amount + b_sum[j] - c_sum[j]) / a_sum[j] if a_sum[j] > 0 else float(mu_sorted[j])
    if desks:
        return mu_refined_with_desks(mu, (k, r_in, r_out, g, cap), desks, amount)
    x = np.clip((k * mu - r_in) / g, 0.0, cap)
    return float((g * x * r_out / (r_in + g * x)).sum())


def mu_refined_with_desks(
    mu: float, pools: tuple[np.ndarray, ...], desks: Sequence[PolyCurve], amount: float
) -> float:
    """``vectorised_split`` with desks: Newton in μ over pools and desks together; the output."""
    k, r_in, r_out, g, cap = pools
    with np.errstate(divide="ignore", invalid="ignore"):  # a desk with v = 0 or x = 0: masked below
        u = np.array([c.u for c in desks])
        v = np.array([c.v for c in desks])
        p = np.array([float(c.exponent) for c in desks])
        desk_cap = np.array([c.cap for c in desks])
        for _ in range(20):
            lam = mu**-2
            x_cp = np.clip((k * mu - r_in) / g, 0.0, cap)
            base = np.maximum(u - lam, 0.0) / ((p + 1.0) * v)
            x_desk = np.minimum(np.where(p == 1.0, base, np.sqrt(base)), desk_cap)
            residual = x_cp.sum() + x_desk.sum() - amount
            if abs(residual) <= amount * 1e-11:
                break
            inside = (x_cp > 0.0) & (x_cp < cap)
            d_cp = float((k / g)[inside].sum())
            # dx/dμ of a desk = dx/dλ · (−2 μ⁻³)
            live = (x_desk > 0.0) & (x_desk < desk_cap)
            dx_dlam = np.where(p == 1.0, -1.0 / (2.0 * v), -1.0 / (6.0 * v * np.maximum(x_desk, 1e-300)))
            d_desk = float((dx_dlam[live] * (-2.0 / mu**3)).sum())
            mu -= residual / (d_cp + d_desk)
        desk_out = float((u * x_desk - v * x_desk ** (p + 1.0)).sum())
    x = np.clip((k * mu - r_in) / g, 0.0, cap)
    return float((g * x * r_out / (r_in + g * x)).sum()) + desk_out


MEASURED: dict[str, Callable[[Market, int], object]] = {
    "route (optimal_split)": route_only,
    "full quote (find_route)": full_quote,
    "baseline: vectorised continuous split (numpy)": vectorised_split,
}


def greedy_split_out(venues: Sequence[Venue], amount_in: int, chunks: int = GREEDY_CHUNKS) -> int:
    """Output of the greedy split: each chunk in turn goes where it adds the most exact output.

    The order is cut into ``chunks`` equal chunks (the last takes the remainder, so they sum to
    ``amount_in``); a venue whose ``check`` refuses its holding plus the chunk is skipped. The
    output is Σ venue.quote(final holding).
    """
    size = amount_in // chunks
    sizes = [size] * (chunks - 1) + [amount_in - size * (chunks - 1)]
    held = [0] * len(venues)
    held_out = [0] * len(venues)
    for chunk in sizes:
        if chunk == 0:
            continue
        best: tuple[int, int, int] | None = None  # (gain, venue index, output at the new holding)
        for i, venue in enumerate(venues):
            new_holding = held[i] + chunk
            if venue.check(new_holding) is not None:
                continue
            out = venue.quote(new_holding)
            if best is None or out - held_out[i] > best[0]:
                best = (out - held_out[i], i, out)
        if best is None:
            raise RuntimeError(f"greedy split: no venue takes a chunk of {chunk} units")
        _, i, out = best
        held[i] += chunk
        held_out[i] = out
    return sum(held_out)


def gain_bps(ours: int, theirs: int) -> float:
    """(ours − theirs) / theirs × 10⁴, from exact integers."""
    return (ours - theirs) * BPS / theirs


# --- measurements -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Timed OPTIMAL_SPLIT calls for one venue count."""

    n_venues: int
    what: str
    cases: int
    samples_ns: list[int]


@dataclass
class Quality:
    """Gains and gaps for one venue count, per order-size label."""

    n_venues: int
    instances: int
    vs_best_price: dict[str, list[float]] = field(default_factory=dict)
    vs_greedy: dict[str, list[float]] = field(default_factory=dict)
    reference_gaps: list[float] = field(default_factory=list)  # signed, bps
    certificate_gaps: list[Decimal | None] = field(default_factory=list)


def measure_latency(n_venues: int, plan: Plan, what: str) -> Latency:
    """Time every (instance, order size) ``plan.timed_passes`` times, after one warm-up pass."""
    cases = [
        (seed, amount)
        for seed in range(plan.instances)
        for _, amount in order_amounts(build_market(seed, n_venues)[1])
    ]
    call = MEASURED[what]
    for seed, amount in cases:  # warm-up: first-call costs (imports, Decimal contexts, caches)
        call(build_market(seed, n_venues)[0], amount)
    samples: list[int] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(plan.timed_passes):
            for seed, amount in cases:
                market, _ = build_market(seed, n_venues)
                start = time.perf_counter_ns()
                call(market, amount)
                samples.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return Latency(n_venues, what, len(cases), samples)


def measure_quality(n_venues: int, plan: Plan) -> Quality:
    """Gains over BEST_PRICE and greedy on every instance; gaps to SLSQP on the first few."""
    quality = Quality(n_venues, plan.instances)
    for seed in range(plan.instances):
        market, depth = build_market(seed, n_venues)
        venues = direct_venues(market, TOKEN_IN, TOKEN_OUT)
        for label, amount in order_amounts(depth):
            route = find_route(
                market, TOKEN_IN, TOKEN_OUT, amount, Strategy.OPTIMAL_SPLIT, SLIPPAGE_BPS, EXACT
            ).route
            best_price = find_route(market, TOKEN_IN, TOKEN_OUT, amount, Strategy.BEST_PRICE, SLIPPAGE_BPS)
            greedy = greedy_split_out(venues, amount)
            quality.vs_best_price.setdefault(label, []).append(
                gain_bps(route.amount_out, best_price.route.amount_out)
            )
            quality.vs_greedy.setdefault(label, []).append(gain_bps(route.amount_out, greedy))
            quality.certificate_gaps.append(route.optimality_gap_bps)
            if seed < plan.reference_instances:
                reference = reference_optimum(market, TOKEN_IN, TOKEN_OUT, amount)
                quality.reference_gaps.append((reference - route.amount_out) / reference * BPS)
    return quality


def default_market() -> Market:
    """The default pools and desks at the reference prices, no Jupiter quote (a fresh snapshot)."""
    return Market(default_pools(PRICES), otc_engine.default_desks(PRICES, NOW), PRICES, NOW)


@dataclass(frozen=True)
class PairTiming:
    """Section 4: full quotes of one pair and size on the default venues."""

    token_in: str
    token_out: str
    amount: int
    hops: int  # the longest path the route uses (0: no route)
    samples_ns: list[int]


def measure_default_pairs(is_quick: bool) -> list[PairTiming]:
    """Time ``find_route`` (default settings) on each of ``DEFAULT_PAIRS`` (no route: 0 hops)."""
    calls = DEFAULT_PAIR_CALLS[is_quick]
    timings = []
    for token_in, token_out, human in DEFAULT_PAIRS:
        decimals = {"SOL": 9, "RAY": 6, "BONK": 5}[token_in]
        amount = human * 10**decimals
        try:
            route = find_route(default_market(), token_in, token_out, amount).route
            hops = max(leg.hop for leg in route.legs) + 1
        except NoRouteError:
            hops = 0
        samples: list[int] = []
        gc.collect()
        gc.disable()
        try:
            for _ in range(calls):
                market = default_market()
                start = time.perf_counter_ns()
                with contextlib.suppress(NoRouteError):
                    find_route(market, token_in, token_out, amount)
                samples.append(time.perf_counter_ns() - start)
        finally:
            gc.enable()
        timings.append(PairTiming(token_in, token_out, human, hops, samples))
    return timings


def pairs_table(timings: Sequence[PairTiming]) -> Table:
    """Section 4: the default venues, full quote per pair."""
    rows = []
    for t in timings:
        rows.append(
            (
                f"{t.token_in}→{t.token_out}",
                f"{t.amount:,}",
                str(t.hops) if t.hops else "no route",
                f"{len(t.samples_ns):,}",
                f"{statistics.median(t.samples_ns) / 1_000:,.1f}",
                f"{(percentile(sorted(t.samples_ns), 0.99) or 0) / 1_000:,.1f}",
            )
        )
    return Table(
        "4. Default venues: full quote (find_route, default settings), µs per call (fresh market per call)",
        ("pair", "amount in", "hops used", "calls", "median µs", "p99 µs"),
        "lrrrrr",
        rows,
    )


# --- tables -----------------------------------------------------------------------------------


def venues_label(n_venues: int) -> str:
    """1,000 rather than 1000."""
    return f"{n_venues:,}"


def latency_table(latencies: Sequence[Latency]) -> Table:
    """Section 1: median and p99 µs per call against the median targets."""
    rows = []
    baseline_us = {
        lat.n_venues: statistics.median(lat.samples_ns) / 1_000 for lat in latencies if lat.what == BASELINE
    }
    for lat in latencies:
        median_us = statistics.median(lat.samples_ns) / 1_000
        ratio = median_us / baseline_us[lat.n_venues] if lat.n_venues in baseline_us else None
        p99_us = percentile(sorted(lat.samples_ns), 0.99) / 1_000
        target = MEDIAN_TARGET_US.get(lat.n_venues) if lat.what.startswith("route") else None
        rows.append(
            (
                venues_label(lat.n_venues),
                lat.what,
                f"{lat.cases // len(ORDER_SIZES)} × {len(ORDER_SIZES)}",
                f"{len(lat.samples_ns):,}",
                f"{median_us:,.1f}",
                f"{p99_us:,.1f}",
                f"{ratio:,.2f}" if ratio is not None else "—",
                f"≤ {target:,} µs" if target is not None else "—",
                verdict(median_us <= target) if target is not None else "—",
            )
        )
    return Table(
        "1. Latency of an OPTIMAL_SPLIT route, µs per call "
        "(fresh market per call, built outside the timer; gc off; p99 by nearest rank)",
        (
            "venues",
            "measured",
            "instances × sizes",
            "calls",
            "median µs",
            "p99 µs",
            "median ÷ baseline",
            "target (median)",
            "result",
        ),
        "rlrrrrrll",
        rows,
    )


def gain_table(qualities: Sequence[Quality]) -> Table:
    """Section 2: mean and min gain of OPTIMAL_SPLIT over BEST_PRICE and greedy, per order size."""
    rows = []
    for q in qualities:
        for label, _ in ORDER_SIZES:
            best, greedy = q.vs_best_price[label], q.vs_greedy[label]
            rows.append(
                (
                    venues_label(q.n_venues),
                    label,
                    str(q.instances),
                    f"{statistics.fmean(best):+,.3f}",
                    f"{min(best):+,.3f}",
                    f"{statistics.fmean(greedy):+,.3f}",
                    f"{min(greedy):+,.3f}",
                )
            )
    return Table(
        "2. Output gain of OPTIMAL_SPLIT in bps: (ours − theirs) / theirs × 10⁴, mean and min over instances",
        (
            "venues",
            "order (of depth)",
            "instances",
            "vs BEST_PRICE mean",
            "vs BEST_PRICE min",
            "vs greedy 5% mean",
            "vs greedy 5% min",
        ),
        "rrrrrrr",
        rows,
    )


def _certificate_cell(gaps: Sequence[Decimal | None]) -> tuple[str, bool]:
    if any(gap is None for gap in gaps):
        return f"missing on {sum(gap is None for gap in gaps)}", False
    worst = max(gap for gap in gaps if gap is not None)
    return f"{worst:f}", worst <= GAP_TARGET_BPS


def gap_table(qualities: Sequence[Quality]) -> Table:
    """Section 3: signed max gap to SLSQP, or the certificate where SLSQP is too slow; then overall."""
    target = f"≤ {GAP_TARGET_BPS} bps"
    rows = []
    for q in qualities:
        if q.reference_gaps:
            worst = max(q.reference_gaps)
            cell, is_met = f"{worst:+.2e}", worst <= GAP_TARGET_BPS
            measure, cases = "vs SLSQP, signed max", len(q.reference_gaps)
        else:
            (cell, is_met), measure, cases = (
                _certificate_cell(q.certificate_gaps),
                "certificate, max",
                len(q.certificate_gaps),
            )
        rows.append((venues_label(q.n_venues), measure, str(cases), cell, target, verdict(is_met)))
    every = [gap for q in qualities for gap in q.certificate_gaps]
    cell, is_met = _certificate_cell(every)
    rows.append(("all", "certificate, max", str(len(every)), cell, target, verdict(is_met)))
    return Table(
        "3. Optimality gap in bps: vs SLSQP = (reference − ours) / reference × 10⁴ (negative: we beat "
        "SLSQP); certificate = route.optimality_gap_bps (to the dual upper bound)",
        ("venues", "measure", "orders", "max gap bps", "target", "result"),
        "rlrrll",
        rows,
    )


# --- entry point ------------------------------------------------------------------------------


def header(started_at: datetime, load_1min: float, is_quick: bool, is_markdown: bool) -> list[str]:
    """Date, Python version, command, machine and what was measured (code in backticks for Markdown)."""

    def code(text: str) -> str:
        return f"`{text}`" if is_markdown else text

    when = started_at.strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join(sys.orig_argv)
    mode = " (--quick: smoke-test sizes, figures are rough)" if is_quick else ""
    plan = QUICK_PLAN if is_quick else FULL_PLAN
    seeds = ", ".join(
        f"{venues_label(n)}: " + (f"seeds 0–{p.instances - 1}" if p.instances > 1 else "seed 0")
        for n, p in plan.items()
    )
    sizes = ", ".join(label for label, _ in ORDER_SIZES)
    return [
        f"Solroute routing benchmark{mode} · {when} · Python {platform.python_version()} · "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, load {load_1min:.1f} at start · "
        f"command: {code(command)}",
        f"{TOKEN_IN}→{TOKEN_OUT} markets from {code('tests.reference_solver.random_market')} ({seeds}); "
        f"direct venues only; orders of {sizes} of the pools' SOL depth.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer instances and repetitions (smoke test)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)
    plan = QUICK_PLAN if args.quick else FULL_PLAN

    started_at = datetime.now(UTC)
    load_1min = os.getloadavg()[0]  # other work on the box skews the timings: say how busy it was
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    latencies = []
    for n_venues in VENUE_COUNTS:
        progress(f"timing {n_venues} venues")
        for what in MEASURED:
            latencies.append(measure_latency(n_venues, plan[n_venues], what))
    qualities = []
    for n_venues in VENUE_COUNTS:
        progress(f"gains and gaps at {n_venues} venues")
        qualities.append(measure_quality(n_venues, plan[n_venues]))
    progress("default venues")
    pair_timings = measure_default_pairs(args.quick)
    progress("done")
    elapsed_s = time.perf_counter() - started

    tables = [latency_table(latencies), gain_table(qualities), gap_table(qualities)]
    tables.append(pairs_table(pair_timings))
    footer = (
        f"PASS/MISS: the figure against its target (— : no target). Ran in {elapsed_s:.1f} s; "
        f"load average {load_1min:.1f} at start, {os.getloadavg()[0]:.1f} at the end "
        f"({os.cpu_count()} CPUs)."
    )
    if args.markdown:
        lines = header(started_at, load_1min, args.quick, is_markdown=True)
        print("\n\n".join([*lines, *map(render_markdown, tables), footer]))
    else:
        print("\n".join(header(started_at, load_1min, args.quick, is_markdown=False)))
        print()
        print("\n\n".join([*map(render_text, tables), footer]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
