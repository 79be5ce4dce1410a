"""An independent reference solver for the optimal split, and random routing instances.

Written from the venues' raw parameters (pool reserves and fee, the desk's own DeskCurve,
Jupiter's quote), NOT from routing_engine's curve classes, and solved by scipy's SLSQP:

    maximise Σ_direct f_i(x_i) + Σ_paths Σ_k h_k(z_k)
    s.t.     Σ x_i + Σ_paths Σ_j y_j = A                   (the whole order is used)
             Σ_j g_j(y_j) = Σ_k z_k   for each two-hop path (what hop 1 pays, hop 2 takes)
             0 ≤ x ≤ cap

Desk minimum sizes make the feasible set non-convex; the reference enumerates every desk
on/off combination (desks on get [min, max] bounds) and keeps the best. Variables are scaled
to fractions of A and the objective to fractions of A·(top marginal price) so SLSQP converges.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from scipy.optimize import minimize

import otc_engine
from amm.pools import Pool
from routing_engine import AggregatorQuote, Market
from tokens import get_token

BPS = 10_000
PRICES = {
    "SOL": Decimal(150),
    "USDC": Decimal(1),
    "USDT": Decimal(1),
    "RAY": Decimal(2),
    "JUP": Decimal("0.8"),
    "BONK": Decimal("0.00002"),
}
NOW = 1_800_000_000.0


@dataclass(frozen=True)
class _Fn:
    """A venue's continuous output with its bounds, in raw base units."""

    f: Callable[[float], float]
    lo: float
    hi: float
    min_size: float  # > 0 only for desks: feasible set {0} ∪ [min_size, hi]


def _cp(pool: Pool, token_in: str) -> _Fn:
    r_in, r_out = pool.reserves(token_in)
    g = (BPS - pool.fee_bps) / BPS
    return _Fn(lambda x: g * x * r_out / (r_in + g * x), 0.0, float("inf"), 0.0)


def _desk(desk: otc_engine.Desk, token_in: str, token_out: str) -> _Fn | None:
    mid = PRICES[desk.base] / PRICES[desk.quote]
    params = otc_engine.curve(desk, token_in, token_out, mid, NOW)
    if params is None:
        return None
    u, v, p = float(params.u), float(params.v), params.exponent
    return _Fn(lambda x: u * x - v * x ** (p + 1), 0.0, float(params.max_in), float(params.min_in))


def _jupiter(q: AggregatorQuote) -> _Fn:
    a, o = float(q.in_amount), float(q.out_amount)
    i = max(float(q.price_impact_pct), 1e-7)
    return _Fn(lambda x: o * x / (a * (1 - i) + i * x), 0.0, a, 0.0)


def _venues(market: Market, token_in: str, token_out: str, with_jupiter: bool) -> list[_Fn]:
    fns = [_cp(p, token_in) for p in market.pools if p.has(token_in) and p.has(token_out)]
    for desk in market.desks:
        if {desk.base, desk.quote} == {token_in, token_out}:
            fn = _desk(desk, token_in, token_out)
            if fn is not None:
                fns.append(fn)
    if with_jupiter and market.aggregator is not None:
        fns.append(_jupiter(market.aggregator))
    return fns


def reference_optimum(
    market: Market, token_in: str, token_out: str, amount_in: int, via: Sequence[str] = ()
) -> float:
    """Best continuous total output (token_out base units) by SLSQP over every desk on/off choice."""
    direct = _venues(market, token_in, token_out, with_jupiter=True)
    paths = [
        (_venues(market, token_in, x, with_jupiter=False), _venues(market, x, token_out, with_jupiter=False))
        for x in via
    ]
    paths = [(a, b) for a, b in paths if a and b]
    all_fns = direct + [fn for a, b in paths for fn in (*a, *b)]
    desks = [k for k, fn in enumerate(all_fns) if fn.min_size > 0]
    best = 0.0
    for switches in itertools.product((False, True), repeat=len(desks)):
        state = dict(zip(desks, switches, strict=True))
        value = _solve_convex(direct, paths, float(amount_in), state)
        best = max(best, value)
    return best


def _solve_convex(
    direct: list[_Fn], paths: list[tuple[list[_Fn], list[_Fn]]], amount: float, desk_on: dict[int, bool]
) -> float:
    fns = direct + [fn for a, b in paths for fn in (*a, *b)]
    bounds = []
    for k, fn in enumerate(fns):
        if k in desk_on:
            lo, hi = (fn.min_size, fn.hi) if desk_on[k] else (0.0, 0.0)
        else:
            lo, hi = fn.lo, fn.hi
        bounds.append((lo / amount, min(hi, amount * 50) / amount))
    # Output scale: the best marginal price among the first-hop venues, near x = 0.
    scale = amount * max(
        fn.f(amount * 1e-9) / (amount * 1e-9) for fn in direct + [f for first, _ in paths for f in first]
    )
    n_direct = len(direct)
    first_hop_idx: list[list[int]] = []
    second_hop_idx: list[list[int]] = []
    k = n_direct
    for a, b in paths:
        first_hop_idx.append(list(range(k, k + len(a))))
        k += len(a)
        second_hop_idx.append(list(range(k, k + len(b))))
        k += len(b)
    second = {i for idx in second_hop_idx for i in idx}
    inputs_idx = [i for i in range(len(fns)) if i not in second]

    def objective(z: np.ndarray) -> float:
        total = sum(fns[i].f(z[i] * amount) for i in range(n_direct))
        total += sum(fns[i].f(z[i] * amount) for idx in second_hop_idx for i in idx)
        return -total / scale

    constraints: list[dict[str, Any]] = [
        {"type": "eq", "fun": lambda z: float(sum(z[i] for i in inputs_idx) - 1.0)}
    ]
    for idx1, idx2 in zip(first_hop_idx, second_hop_idx, strict=True):
        constraints.append(
            {
                "type": "eq",
                "fun": lambda z, idx1=idx1, idx2=idx2: float(
                    sum(fns[i].f(z[i] * amount) for i in idx1) / amount - sum(z[j] for j in idx2)
                ),
            }
        )
    lo_sum = sum(bounds[i][0] for i in inputs_idx)
    if lo_sum > 1.0 + 1e-12 or sum(bounds[i][1] for i in inputs_idx) < 1.0 - 1e-12:
        return 0.0
    x0 = np.array([max(lo, min(hi, 1.0 / len(inputs_idx))) for lo, hi in bounds])
    best = 0.0
    for start in (x0, np.array([(lo + hi) / 2 if hi < 10 else lo for lo, hi in bounds])):
        result = minimize(
            objective,
            start,
            method="SLSQP",
            bounds=bounds,
            constraints=constraints,
            options={"ftol": 1e-16, "maxiter": 2000},
        )
        z = np.clip(result.x, [b[0] for b in bounds], [b[1] for b in bounds])
        # Only trust feasible answers (the reference must not overstate what is reachable).
        if abs(sum(z[i] for i in inputs_idx) - 1.0) > 1e-9:
            continue
        if any(abs(c["fun"](z)) > 1e-9 for c in constraints[1:]):
            continue
        best = max(best, -objective(z) * scale)
    return best


# --- random instances ---------------------------------------------------------------------

VENUE_NAMES = ("Raydium", "Orca", "Meteora")


def random_market(rng: random.Random, n_venues: int, *, two_hop: bool = False) -> tuple[Market, int]:
    """A SOL→USDC market of ``n_venues`` direct venues (pools, maybe desks, Jupiter): (market, depth).

    depth is the total SOL the direct pools hold, the yardstick for order sizes.
    """
    n_desks = rng.choice((0, 0, 1, 2)) if n_venues >= 4 else 0
    has_jupiter = n_venues >= 3 and rng.random() < 0.5
    n_pools = max(1, n_venues - n_desks - int(has_jupiter))
    pools = []
    for i in range(n_pools):
        sol = rng.randint(2_000, 2_000_000) * 10**9
        price = 150 * (1 + rng.uniform(-0.004, 0.004))
        fee = rng.choice((1, 4, 5, 20, 25, 30, 100))
        pools.append(Pool(f"p{i}", VENUE_NAMES[i % 3], "SOL", "USDC", sol, int(sol * price / 1000), fee))
    depth = sum(p.reserve_a for p in pools)
    desks = []
    for i in range(n_desks):
        min_sol = rng.choice((0, 10, 100))
        max_sol = rng.choice((1_000, 5_000, 20_000))
        inventory = rng.randint(500, 30_000)
        desks.append(
            otc_engine.Desk(
                desk_id=f"d{i}",
                name=f"Desk {i}",
                base="SOL",
                quote="USDC",
                base_spread_bps=Decimal(rng.choice((5, 15, 25, 35))),
                size_spread_bps=Decimal(rng.choice((10, 40, 80))),
                curve=rng.choice(list(otc_engine.SpreadCurve)),
                min_size=max(min_sol, 1) * 10**9,
                max_size=max_sol * 10**9,
                inventory_base=inventory * 10**9,
                inventory_quote=inventory * 150 * 10**6,
                target_base=inventory * 10**9,
                target_quote=inventory * 150 * 10**6,
                refill_base_per_s=10**9,
                refill_quote_per_s=150 * 10**6,
                settlement_delay_s=Decimal(30),
                updated_at=NOW,
            )
        )
    aggregator = None
    if has_jupiter:
        a = rng.randint(1, 50_000) * 10**9
        impact = Decimal(rng.randint(1, 300)) / BPS
        aggregator = AggregatorQuote(
            "SOL", "USDC", a, int(a * 150 * (1 - impact) * (1 - Decimal("0.0005")) / 1000), impact
        )
    if two_hop:
        for i in range(rng.randint(1, 3)):
            sol = rng.randint(2_000, 500_000) * 10**9
            pools.append(Pool(f"h1-{i}", VENUE_NAMES[i % 3], "SOL", "USDT", sol, int(sol * 150 / 1000), 25))
        for i in range(rng.randint(1, 3)):
            usd = rng.randint(100_000, 50_000_000) * 10**6
            pools.append(Pool(f"h2-{i}", VENUE_NAMES[i % 3], "USDT", "USDC", usd, usd, rng.choice((1, 4, 5))))
    return Market(tuple(pools), tuple(desks), PRICES, NOW, aggregator=aggregator), depth


# --- paths of up to three hops: the true flow problem -------------------------------------------


def _simple_paths(market: Market, token_in: str, token_out: str, max_hops: int) -> list[tuple[str, ...]]:
    """Every token path from token_in to token_out of at most ``max_hops`` hops, no token twice."""
    neighbours: dict[str, set[str]] = {}
    for a, b in [(p.token_a, p.token_b) for p in market.pools] + [(d.base, d.quote) for d in market.desks]:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    found: list[tuple[str, ...]] = []

    def walk(path: tuple[str, ...]) -> None:
        if path[-1] == token_out:
            found.append(path)
            return
        if len(path) > max_hops:
            return
        for nxt in sorted(neighbours.get(path[-1], set()) - set(path)):
            walk((*path, nxt))

    walk((token_in,))
    return found


def _path_pairs(market: Market, token_in: str, token_out: str, max_hops: int) -> list[tuple[str, str]]:
    paths = _simple_paths(market, token_in, token_out, max_hops)
    return sorted({(p[i], p[i + 1]) for p in paths for i in range(len(p) - 1)})


def is_acyclic(market: Market, token_in: str, token_out: str, max_hops: int = 3) -> bool:
    """True when no pair is traded both ways on the paths (what ``reference_flow_optimum`` needs)."""
    pairs = _path_pairs(market, token_in, token_out, max_hops)
    return not any((b, a) in pairs for a, b in pairs)


def reference_flow_optimum(
    market: Market,
    token_in: str,
    token_out: str,
    amount_in: int,
    max_hops: int = 3,
    *,
    both_ways: bool = False,
) -> float:
    """Best continuous output over every path of up to ``max_hops`` hops, pools shared between paths.

    The true flow problem, by SLSQP over every desk on/off choice: one flow variable per venue and
    direction on any such path (a pool on several paths is ONE variable, so paths that share it
    share its curve), with each intermediate token conserved:

        maximise Σ_{venues v into token_out} f_v(x_v)
        s.t.     Σ_{v out of token_in} x_v = A;   Σ_{v into n} f_v(x_v) = Σ_{v out of n} x_v (n ≠ in, out)

    The venues on these paths must not form a cycle (a pair traded both ways): the instances are
    built so, and it is checked, unless ``both_ways``: then a pool traded both ways is two
    independent variables, a relaxation, exact only where no cycle pays (pools at one price,
    fees > 0: a round trip only loses). Variables are scaled to token_in-equivalents at PRICES.
    """
    pairs = _path_pairs(market, token_in, token_out, max_hops)
    if not both_ways:
        assert not any((b, a) in pairs for a, b in pairs), f"the paths trade a pair both ways: {pairs}"
    edges: list[tuple[str, str, _Fn]] = []
    for a, b in pairs:
        with_jupiter = (a, b) == (token_in, token_out)
        edges += [(a, b, fn) for fn in _venues(market, a, b, with_jupiter=with_jupiter)]
    if not edges:
        return 0.0
    unit_in = 10 ** _decimals(token_in)

    def scale(token: str) -> float:
        """Base units of ``token`` worth one base unit of token_in at PRICES."""
        return float(PRICES[token_in] / PRICES[token]) * 10 ** _decimals(token) / unit_in

    amount = float(amount_in)
    out_scale = amount * scale(token_out)
    nodes = sorted({t for a, b, _ in edges for t in (a, b)} - {token_in, token_out})
    desks = [k for k, (_, _, fn) in enumerate(edges) if fn.min_size > 0]
    best = 0.0
    for switches in itertools.product((False, True), repeat=len(desks)):
        state = dict(zip(desks, switches, strict=True))
        bounds = []
        for k, (a, _, fn) in enumerate(edges):
            lo, hi = (fn.lo, fn.hi)
            if k in state:
                lo, hi = (fn.min_size, fn.hi) if state[k] else (0.0, 0.0)
            s = amount * scale(a)  # variable k is x_k / s
            bounds.append((lo / s, max(lo, min(hi, s * 50)) / s))

        def flow(z: np.ndarray, k: int) -> float:
            a, _, fn = edges[k]
            return fn.f(z[k] * amount * scale(a))

        def objective(z: np.ndarray) -> float:
            return -sum(flow(z, k) for k, (_, b, _) in enumerate(edges) if b == token_out) / out_scale

        outs = [k for k, (a, _, _) in enumerate(edges) if a == token_in]
        constraints: list[dict[str, Any]] = [
            {"type": "eq", "fun": lambda z, outs=outs: float(sum(z[k] for k in outs) - 1.0)}
        ]
        for node in nodes:
            into = [k for k, (_, b, _) in enumerate(edges) if b == node]
            away = [k for k, (a, _, _) in enumerate(edges) if a == node]
            node_scale = amount * scale(node)
            constraints.append(
                {
                    "type": "eq",
                    "fun": lambda z, into=into, away=away, node_scale=node_scale: float(
                        sum(flow(z, k) for k in into) / node_scale - sum(z[k] for k in away)
                    ),
                }
            )
        if sum(bounds[k][0] for k in outs) > 1.0 + 1e-12 or sum(bounds[k][1] for k in outs) < 1.0 - 1e-12:
            continue
        starts = [np.array([max(lo, min(hi, 1.0 / len(outs))) for lo, hi in bounds])]
        starts.append(np.array([(lo + hi) / 2 if hi < 10 else lo for lo, hi in bounds]))
        for start in starts:
            result = minimize(
                objective,
                start,
                method="SLSQP",
                bounds=bounds,
                constraints=constraints,
                options={"ftol": 1e-16, "maxiter": 3000},
            )
            z = np.clip(result.x, [b[0] for b in bounds], [b[1] for b in bounds])
            if any(abs(c["fun"](z)) > 1e-9 for c in constraints):
                continue  # only feasible answers: the reference must not overstate what is reachable
            best = max(best, -objective(z) * out_scale)
    return best


def _decimals(symbol: str) -> int:
    return get_token(symbol).decimals


# Pairs of a three-hop market: always these, plus at most one of the two chords (so that no pair is
# traded both ways on the paths between any two of RAY, SOL, USDC, JUP).
THREE_HOP_PAIRS = (("RAY", "SOL"), ("SOL", "USDC"), ("SOL", "USDT"), ("USDT", "USDC"), ("JUP", "USDC"))
THREE_HOP_CHORDS = ((), (("RAY", "USDC"),), (("SOL", "JUP"),))


def random_three_hop_market(rng: random.Random) -> Market:
    """Pools on RAY/SOL, SOL/USDC, SOL/USDT, USDT/USDC, JUP/USDC (1–3 each, maybe a chord) and maybe
    an OTC desk on SOL/USDC: every pair of RAY, SOL, USDC, JUP, USDT is routable in ≤ 3 hops."""
    pairs = THREE_HOP_PAIRS + rng.choice(THREE_HOP_CHORDS)
    pools = []
    for a, b in pairs:
        for i in range(rng.randint(1, 3)):
            usd = rng.randint(50_000, 20_000_000)
            drift = 1 + rng.uniform(-0.004, 0.004)
            reserve_a = int(Decimal(usd) / PRICES[a] * 10 ** _decimals(a))
            reserve_b = int(Decimal(usd) * Decimal(drift) / PRICES[b] * 10 ** _decimals(b))
            stable = {a, b} == {"USDT", "USDC"}
            fee = rng.choice((1, 4, 5, 20, 25, 30) if stable else (20, 25, 30, 100))
            pools.append(Pool(f"{a}-{b}-{i}", VENUE_NAMES[i % 3], a, b, reserve_a, reserve_b, fee))
    desks = []
    if rng.random() < 0.4:
        inventory = rng.randint(500, 30_000)
        desks.append(
            otc_engine.Desk(
                desk_id="d0",
                name="Desk 0",
                base="SOL",
                quote="USDC",
                base_spread_bps=Decimal(rng.choice((5, 15, 25))),
                size_spread_bps=Decimal(rng.choice((10, 40, 80))),
                curve=rng.choice(list(otc_engine.SpreadCurve)),
                min_size=rng.choice((1, 10, 100)) * 10**9,
                max_size=rng.choice((1_000, 5_000)) * 10**9,
                inventory_base=inventory * 10**9,
                inventory_quote=inventory * 150 * 10**6,
                target_base=inventory * 10**9,
                target_quote=inventory * 150 * 10**6,
                refill_base_per_s=10**9,
                refill_quote_per_s=150 * 10**6,
                settlement_delay_s=Decimal(30),
                updated_at=NOW,
            )
        )
    return Market(tuple(pools), tuple(desks), PRICES, NOW)
