"""Constant-product pools as frozen values, and the default pool set.

A ``Pool`` never mutates: ``swap`` returns the new pool with the output. Reserves are int
base units; ``fee_bps`` is an integer number of basis points taken from the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from amm.constant_product import (
    amount_in_for_out,
    amount_out_for_in,
    marginal_price_after,
    price_impact_bps,
    spot_price,
)
from errors import InsufficientLiquidityError, ValidationError
from tokens import get_token

__all__ = ["DEFAULT_POOL_SPECS", "Pool", "PoolSpec", "default_pools", "make_pool"]


@dataclass(frozen=True, slots=True)
class Pool:
    """A constant-product pool on one venue for the pair token_a/token_b."""

    pool_id: str
    venue: str
    token_a: str
    token_b: str
    reserve_a: int
    reserve_b: int
    fee_bps: int

    def __post_init__(self) -> None:
        if self.token_a == self.token_b:
            raise ValidationError(f"pool {self.pool_id} pairs {self.token_a} with itself")
        for name in ("reserve_a", "reserve_b"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValidationError(f"pool {self.pool_id}: {name} must be a positive int, got {value!r}")
        if (
            isinstance(self.fee_bps, bool)
            or not isinstance(self.fee_bps, int)
            or not 0 <= self.fee_bps < 10_000
        ):
            raise ValidationError(f"pool {self.pool_id}: fee_bps out of range: {self.fee_bps}")

    @property
    def pair(self) -> str:
        """The pair as 'A/B'."""
        return f"{self.token_a}/{self.token_b}"

    def has(self, token: str) -> bool:
        """True if the pool trades ``token``."""
        return token in (self.token_a, self.token_b)

    def other(self, token: str) -> str:
        """The token on the other side of ``token``."""
        if token == self.token_a:
            return self.token_b
        if token == self.token_b:
            return self.token_a
        raise ValidationError(f"pool {self.pool_id} ({self.pair}) does not trade {token}", field="token_in")

    def reserves(self, token_in: str) -> tuple[int, int]:
        """(reserve_in, reserve_out) for a swap that sells ``token_in``."""
        if token_in == self.token_a:
            return self.reserve_a, self.reserve_b
        if token_in == self.token_b:
            return self.reserve_b, self.reserve_a
        raise ValidationError(
            f"pool {self.pool_id} ({self.pair}) does not trade {token_in}", field="token_in"
        )

    def amount_out(self, token_in: str, amount_in: int) -> int:
        """Exact-input quote in base units."""
        reserve_in, reserve_out = self.reserves(token_in)
        return amount_out_for_in(reserve_in, reserve_out, amount_in, self.fee_bps)

    def amount_in(self, token_in: str, amount_out: int) -> int:
        """Exact-output quote: the input needed for ``amount_out``."""
        reserve_in, reserve_out = self.reserves(token_in)
        return amount_in_for_out(reserve_in, reserve_out, amount_out, self.fee_bps)

    def swap(self, token_in: str, amount_in: int) -> tuple[Pool, int]:
        """Swap an exact input; returns (new pool, amount out). Dust that would pay nothing is refused."""
        reserve_in, reserve_out = self.reserves(token_in)
        out = amount_out_for_in(reserve_in, reserve_out, amount_in, self.fee_bps)
        if out <= 0:
            raise InsufficientLiquidityError(
                f"{amount_in} base units of {token_in} buy nothing from pool {self.pool_id}",
                field="amount_in",
            )
        if token_in == self.token_a:
            return replace(self, reserve_a=self.reserve_a + amount_in, reserve_b=self.reserve_b - out), out
        return replace(self, reserve_b=self.reserve_b + amount_in, reserve_a=self.reserve_a - out), out

    def spot_price(self, token_in: str) -> Decimal:
        """Mid price in human units: how many token_out one whole token_in is worth, before fees."""
        reserve_in, reserve_out = self.reserves(token_in)
        scale = Decimal(10) ** (get_token(token_in).decimals - get_token(self.other(token_in)).decimals)
        with localcontext() as ctx:
            ctx.prec = 60
            return spot_price(reserve_in, reserve_out) * scale

    def marginal_price_after(self, token_in: str, amount_in: int) -> Decimal:
        """Marginal human price (token_out per token_in, fee included) after swapping ``amount_in``."""
        reserve_in, reserve_out = self.reserves(token_in)
        scale = Decimal(10) ** (get_token(token_in).decimals - get_token(self.other(token_in)).decimals)
        with localcontext() as ctx:
            ctx.prec = 60
            return marginal_price_after(reserve_in, reserve_out, amount_in, self.fee_bps) * scale

    def price_impact_bps(self, token_in: str, amount_in: int) -> Decimal:
        """Size-driven price impact of a swap in bps (fee excluded)."""
        reserve_in, reserve_out = self.reserves(token_in)
        return price_impact_bps(reserve_in, reserve_out, amount_in, self.fee_bps)


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """Configuration of one default pool: depth is the USD value of EACH side at seeding."""

    venue: str
    token_a: str
    token_b: str
    depth_usd: Decimal
    fee_bps: int


# Meteora is deepest on stables; fees differ by venue (Raydium 25, Orca 30, Meteora 20 bps on
# volatile pairs; 1–5 bps on the stable pair). RAY/SOL, JUP/USDC and BONK/SOL exist on one venue
# each, so RAY→USDC and BONK→USDC need two hops.
DEFAULT_POOL_SPECS: tuple[PoolSpec, ...] = (
    PoolSpec("Raydium", "SOL", "USDC", Decimal(12_000_000), 25),
    PoolSpec("Raydium", "SOL", "USDT", Decimal(4_000_000), 25),
    PoolSpec("Raydium", "USDC", "USDT", Decimal(6_000_000), 5),
    PoolSpec("Raydium", "RAY", "SOL", Decimal(3_000_000), 25),
    PoolSpec("Orca", "SOL", "USDC", Decimal(9_000_000), 30),
    PoolSpec("Orca", "SOL", "USDT", Decimal(3_000_000), 30),
    PoolSpec("Orca", "USDC", "USDT", Decimal(8_000_000), 4),
    PoolSpec("Orca", "JUP", "USDC", Decimal(2_500_000), 30),
    PoolSpec("Meteora", "SOL", "USDC", Decimal(6_000_000), 20),
    PoolSpec("Meteora", "SOL", "USDT", Decimal(2_000_000), 20),
    PoolSpec("Meteora", "USDC", "USDT", Decimal(25_000_000), 1),
    PoolSpec("Meteora", "BONK", "SOL", Decimal(1_500_000), 20),
)


def make_pool(spec: PoolSpec, usd_prices: Mapping[str, Decimal]) -> Pool:
    """Seed a pool at the reference prices: each side holds ``depth_usd`` of value (floored to base units)."""
    for token in (spec.token_a, spec.token_b):
        price = usd_prices.get(token)
        if price is None or price <= 0:
            raise ValidationError(
                f"no positive USD price for {token} to seed {spec.venue} {spec.token_a}/{spec.token_b}"
            )
    with localcontext() as ctx:
        ctx.prec = 60
        reserve_a = int(spec.depth_usd / usd_prices[spec.token_a] * get_token(spec.token_a).unit)
        reserve_b = int(spec.depth_usd / usd_prices[spec.token_b] * get_token(spec.token_b).unit)
    pool_id = f"{spec.venue.lower()}-{spec.token_a.lower()}-{spec.token_b.lower()}"
    return Pool(pool_id, spec.venue, spec.token_a, spec.token_b, reserve_a, reserve_b, spec.fee_bps)


def default_pools(
    usd_prices: Mapping[str, Decimal], specs: Iterable[PoolSpec] = DEFAULT_POOL_SPECS
) -> tuple[Pool, ...]:
    """The default pool set, every pool initialised at the given reference USD prices."""
    return tuple(make_pool(spec, usd_prices) for spec in specs)
