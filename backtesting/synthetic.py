"""Synthetic market history: GBM reference prices, pools kept near them by arbitrage, desks quoting.

PURE and seeded: ``generate(config)`` draws every random number from one ``random.Random(seed)``,
so the same config yields the same frames, bit for bit.

Per step of ``dt = step_s / 31,536,000`` years, for each token listed in ``config.tokens``::

    S ← S · exp((μ − σ²/2)·dt + σ·√dt·Z),   Z ~ N(0, 1)           (geometric Brownian motion)

USDC and USDT (and any token not listed) keep their initial price. Reference prices are quantized
to 12 significant digits.

Pools start as ``amm.pools.default_pools`` at the initial prices. Each step, with q = reserve_b /
reserve_a the pool's price of token_a in token_b base units, r the reference ratio and g = 1 − fee:

1. noise (uninformed flow): q_n = q · exp(N(0, pool_noise_bps / 10⁴));
2. arbitrage (``backtesting.arbitrage.arb_target``): outside the fee band [g·r, r/g] arbitrageurs
   close ``arb_fraction`` φ of the gap to it, in log price; inside it they do not trade;
3. one integer swap (``backtesting.arbitrage.swap_toward``) takes the pool from q to the target:
   the closed-form constant-product trade executed with ``amm``'s exact formula (fee kept by the
   pool, output floored), so k never decreases. Noise and arbitrage net into that one swap.

Desks (``otc_engine.default_desks`` ids) quote a mid of the reference ± their ``noise_bps``; with
``desk_flow_probability`` per step another client takes up to 10 % of one inventory, which then
refills at the desk's rate (``refill_*_per_s``) up to its target.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import fields
from decimal import Decimal

import otc_engine
from amm.constant_product import BPS
from amm.pools import Pool, default_pools
from backtesting.arbitrage import arb_target, swap_toward
from backtesting.model import DeskState, Frame, PoolState, SyntheticConfig
from errors import ValidationError
from tokens import get_token

__all__ = ["DEFAULT_PRICES", "SECONDS_PER_YEAR", "generate", "initial_frame", "quantize_price"]

SECONDS_PER_YEAR = 365 * 86_400
DEFAULT_VOLATILITY = 0.8
# The live static seed prices (price_feeds.DEFAULT_STATIC_USD_PRICES), repeated here because the
# pure core may not import the price-feed adapters.
DEFAULT_PRICES: Mapping[str, Decimal] = {
    "SOL": Decimal("150"),
    "USDC": Decimal("1"),
    "USDT": Decimal("1"),
    "RAY": Decimal("2"),
    "JUP": Decimal("0.80"),
    "BONK": Decimal("0.000020"),
}
_STABLE = frozenset({"USDC", "USDT"})


def quantize_price(value: float) -> Decimal:
    """A float price as a Decimal of 12 significant digits (exactly what the frames carry)."""
    return Decimal(f"{value:.12g}")


_POOL_FIELDS = ("pool_id", "venue", "token_a", "token_b", "reserve_a", "reserve_b", "fee_bps")
if tuple(f.name for f in fields(PoolState)) != _POOL_FIELDS:  # _pool_state sets exactly these
    raise RuntimeError("PoolState's fields changed: update backtesting.synthetic._pool_state")
_POOL_SETTERS = tuple(PoolState.__dict__[name].__set__ for name in _POOL_FIELDS)
_new = object.__new__


def _pool_state(pool_id: str, venue: str, a: str, b: str, ra: int, rb: int, fee: int) -> PoolState:
    """``PoolState(...)`` at half the cost: the same frozen value, its slots set directly
    (a frozen dataclass's ``__init__`` pays ``object.__setattr__`` per field; 12 pools a frame)."""
    state: PoolState = _new(PoolState)
    set_id, set_venue, set_a, set_b, set_ra, set_rb, set_fee = _POOL_SETTERS
    set_id(state, pool_id)
    set_venue(state, venue)
    set_a(state, a)
    set_b(state, b)
    set_ra(state, ra)
    set_rb(state, rb)
    set_fee(state, fee)
    return state


def initial_frame(prices: Mapping[str, Decimal], t: float) -> Frame:
    """The market at ``t`` as the live defaults build it: default pools and desks at ``prices``."""
    pools = default_pools(prices)
    desks = otc_engine.default_desks(prices, t)
    return Frame(
        t,
        dict(prices),
        tuple(
            _pool_state(p.pool_id, p.venue, p.token_a, p.token_b, p.reserve_a, p.reserve_b, p.fee_bps)
            for p in pools
        ),
        tuple(
            DeskState(
                d.desk_id,
                d.base,
                d.quote,
                prices[d.base] / prices[d.quote],
                d.inventory_base,
                d.inventory_quote,
            )
            for d in desks
        ),
    )


def _check(config: SyntheticConfig) -> dict[str, Decimal]:
    if isinstance(config.steps, bool) or not isinstance(config.steps, int) or config.steps < 0:
        raise ValidationError(f"steps must be a non-negative integer, got {config.steps!r}", field="steps")
    if isinstance(config.step_s, bool) or not isinstance(config.step_s, int) or config.step_s <= 0:
        raise ValidationError(f"step_s must be a positive integer, got {config.step_s!r}", field="step_s")
    if not 0.0 <= config.arb_fraction <= 1.0:
        raise ValidationError(
            f"arb_fraction must be in [0, 1], got {config.arb_fraction}", field="arb_fraction"
        )
    if not 0.0 <= config.pool_noise_bps < BPS:
        raise ValidationError(
            f"pool_noise_bps must be in [0, 10000), got {config.pool_noise_bps}", field="pool_noise_bps"
        )
    if not 0.0 <= config.desk_flow_probability <= 1.0:
        raise ValidationError(
            f"desk_flow_probability must be in [0, 1], got {config.desk_flow_probability}",
            field="desk_flow_probability",
        )
    for token in config.tokens:
        if get_token(token).symbol != token:
            raise ValidationError(f"token {token!r} must be a canonical symbol", field="tokens")
        vol = config.volatility.get(token, DEFAULT_VOLATILITY)
        if not (math.isfinite(vol) and vol >= 0) or not math.isfinite(config.drift.get(token, 0.0)):
            raise ValidationError(
                f"volatility and drift of {token} must be finite, volatility ≥ 0", field="volatility"
            )
    prices = dict(DEFAULT_PRICES) | dict(config.initial_prices)
    for token, price in prices.items():
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise ValidationError(
                f"initial price of {token} must be a positive Decimal, got {price!r}", field="initial_prices"
            )
    return prices


class _PoolRow:
    """One pool's moving state in the generator (mutable, for speed; frames get PoolState copies)."""

    __slots__ = (
        "fee_bps",
        "g",
        "ia",
        "ib",
        "pool_id",
        "reserve_a",
        "reserve_b",
        "token_a",
        "token_b",
        "venue",
    )

    def __init__(self, pool: Pool, ia: int, ib: int) -> None:
        self.pool_id, self.venue, self.token_a, self.token_b = (
            pool.pool_id,
            pool.venue,
            pool.token_a,
            pool.token_b,
        )
        self.reserve_a, self.reserve_b, self.fee_bps = pool.reserve_a, pool.reserve_b, pool.fee_bps
        self.g = (BPS - pool.fee_bps) / BPS
        self.ia, self.ib = ia, ib


class _DeskRow:
    """One desk's moving inventories in the generator."""

    __slots__ = ("desk", "ib", "inventory_base", "inventory_quote", "iq", "noise")

    def __init__(self, desk: otc_engine.Desk, ib: int, iq: int) -> None:
        self.desk, self.ib, self.iq = desk, ib, iq
        self.inventory_base, self.inventory_quote = desk.inventory_base, desk.inventory_quote
        self.noise = float(desk.noise_bps) / BPS


def generate(config: SyntheticConfig) -> Iterator[Frame]:
    """One Frame per step, lazily: t = start + i·step_s for i in [0, steps)."""
    initial = _check(config)
    return _frames(config, initial)


def _frames(config: SyntheticConfig, initial: dict[str, Decimal]) -> Iterator[Frame]:
    rng = random.Random(config.seed)
    gauss, uniform = rng.gauss, rng.random
    dt = config.step_s / SECONDS_PER_YEAR
    symbols = tuple(initial)
    index = {s: i for i, s in enumerate(symbols)}
    units = [float(get_token(s).unit) for s in symbols]
    log_price = [math.log(float(initial[s])) for s in symbols]
    moving = []  # (index, drift per step, volatility per step)
    for token in config.tokens:
        if token in _STABLE and token not in config.volatility:
            continue  # stablecoins stay at 1 unless given a volatility
        sigma = config.volatility.get(token, DEFAULT_VOLATILITY)
        mu = config.drift.get(token, 0.0)
        moving.append((index[token], (mu - sigma * sigma / 2) * dt, sigma * math.sqrt(dt)))
    decimals = dict(initial)
    floats = [float(initial[s]) for s in symbols]

    rows = [_PoolRow(p, index[p.token_a], index[p.token_b]) for p in default_pools(initial)]
    noise = config.pool_noise_bps / BPS
    phi = config.arb_fraction
    desk_rows = [
        _DeskRow(d, index[d.base], index[d.quote]) for d in otc_engine.default_desks(initial, config.start)
    ]
    flow = config.desk_flow_probability
    step_s = config.step_s
    for i in range(config.steps):
        t = config.start + i * step_s
        if i:
            for k, mu_dt, sigma_dt in moving:
                log_price[k] += mu_dt + sigma_dt * gauss(0.0, 1.0)
                decimals[symbols[k]] = price = quantize_price(math.exp(log_price[k]))
                floats[k] = float(price)
        pool_states = []
        for row in rows:
            ra, rb = row.reserve_a, row.reserve_b
            if i:
                q = rb / ra
                r = floats[row.ia] * units[row.ib] / (floats[row.ib] * units[row.ia])
                qn = q * math.exp(gauss(0.0, noise)) if noise else q
                target = arb_target(qn, r, row.g, phi)
                ra, rb = swap_toward(ra, rb, row.fee_bps, qn if target is None else target)
                row.reserve_a, row.reserve_b = ra, rb
            pool_states.append(
                _pool_state(row.pool_id, row.venue, row.token_a, row.token_b, ra, rb, row.fee_bps)
            )
        desk_states = []
        for drow in desk_rows:
            desk = drow.desk
            if i:
                inventory_base = min(desk.target_base, drow.inventory_base + desk.refill_base_per_s * step_s)
                inventory_quote = min(
                    desk.target_quote, drow.inventory_quote + desk.refill_quote_per_s * step_s
                )
                if flow and uniform() < flow:
                    share = uniform() * 0.1
                    if uniform() < 0.5:
                        inventory_base -= int(inventory_base * share)
                    else:
                        inventory_quote -= int(inventory_quote * share)
                drow.inventory_base, drow.inventory_quote = inventory_base, inventory_quote
            mid = floats[drow.ib] / floats[drow.iq]
            if drow.noise:
                mid *= 1.0 + drow.noise * (2.0 * uniform() - 1.0)
            desk_states.append(
                DeskState(
                    desk.desk_id,
                    desk.base,
                    desk.quote,
                    quantize_price(mid),
                    drow.inventory_base,
                    drow.inventory_quote,
                )
            )
        yield Frame(t, dict(decimals), tuple(pool_states), tuple(desk_states))
