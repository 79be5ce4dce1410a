"""TEMPORARY stub of the synthetic market generator (helper A writes the real one; the lead drops
this file at merge). GBM on each token's USD price; pools and desks rebuilt at those prices."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from decimal import Decimal

import otc_engine
from amm.pools import default_pools
from backtesting.model import DeskState, Frame, PoolState, SyntheticConfig

START_PRICES = {"SOL": 150.0, "JUP": 0.9, "RAY": 2.0, "BONK": 0.00002, "USDC": 1.0, "USDT": 1.0}
YEAR_S = 365 * 24 * 3600


def generate(config: SyntheticConfig) -> Iterator[Frame]:
    """Frames of a GBM market, one every ``step_s`` from ``start`` (the same seed, the same frames)."""
    rng = random.Random(config.seed)
    prices = {s: START_PRICES.get(s, 1.0) for s in (*config.tokens, "USDC", "USDT")}
    dt = config.step_s / YEAR_S
    for i in range(config.steps):
        t = config.start + i * config.step_s
        if i:
            for token in config.tokens:
                sigma = config.volatility.get(token, 0.8)
                mu = config.drift.get(token, 0.0)
                prices[token] *= math.exp(
                    (mu - sigma * sigma / 2) * dt + sigma * math.sqrt(dt) * rng.gauss(0, 1)
                )
        usd = {s: Decimal(repr(p)) for s, p in prices.items()}
        pools = tuple(
            PoolState(p.pool_id, p.venue, p.token_a, p.token_b, p.reserve_a, p.reserve_b, p.fee_bps)
            for p in default_pools(usd)
        )
        desks = tuple(
            DeskState(
                d.desk_id, d.base, d.quote, usd[d.base] / usd[d.quote], d.inventory_base, d.inventory_quote
            )
            for d in otc_engine.default_desks(usd, t)
        )
        yield Frame(t=t, prices=usd, pools=pools, desks=desks)
