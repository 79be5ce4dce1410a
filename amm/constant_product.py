"""Constant-product (x·y = k) swap maths in integer base units.

Fee model (Uniswap v2 style): the fee is taken from the input and stays in the pool, so
with g = (10_000 − fee_bps) / 10_000 and reserves (x, y):

    amount_out(a) = floor(a·g·y / (x + a·g))              exact input
    amount_in(b)  = ceil(x·b / (g·(y − b)))               exact output

Both round against the trader, so k = x·y never decreases across a swap
((x + a)·(y − out) ≥ x·y; the property tests check it). Prices are Decimal ratios of
*base units* (out per in); callers scale by token decimals for human prices.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from errors import InsufficientLiquidityError, ValidationError

__all__ = [
    "BPS",
    "amount_in_for_out",
    "amount_out_for_in",
    "amount_out_unchecked",
    "marginal_price_after",
    "price_impact_bps",
    "spot_price",
]

BPS = 10_000
_PRECISION = 60  # digits: exact enough for reserves up to 10^30 base units


def _check_pool(reserve_in: int, reserve_out: int, fee_bps: int) -> None:
    for name, value in (("reserve_in", reserve_in), ("reserve_out", reserve_out)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(f"{name} must be a positive integer, got {value!r}", field=name)
    if isinstance(fee_bps, bool) or not isinstance(fee_bps, int) or not 0 <= fee_bps < BPS:
        raise ValidationError(f"fee_bps must be an integer in [0, 10000), got {fee_bps!r}", field="fee_bps")


def _check_amount(amount: int, field: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationError(f"{field} must be an integer number of base units, got {amount!r}", field=field)
    if amount <= 0:
        raise ValidationError(f"{field} must be positive, got {amount}", field=field)


def amount_out_for_in(reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int) -> int:
    """Output for an exact input: floor(a·g·y / (x + a·g)) in base units (may be 0 for dust)."""
    _check_pool(reserve_in, reserve_out, fee_bps)
    _check_amount(amount_in, "amount_in")
    return amount_out_unchecked(reserve_in, reserve_out, amount_in, fee_bps)


def amount_out_unchecked(reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int) -> int:
    """``amount_out_for_in`` without argument checks, for callers whose ints are already validated."""
    in_after_fee = amount_in * (BPS - fee_bps)
    return (in_after_fee * reserve_out) // (reserve_in * BPS + in_after_fee)


def amount_in_for_out(reserve_in: int, reserve_out: int, amount_out: int, fee_bps: int) -> int:
    """Smallest input that yields at least ``amount_out``: ceil(x·b·10⁴ / ((y − b)·(10⁴ − fee)))."""
    _check_pool(reserve_in, reserve_out, fee_bps)
    _check_amount(amount_out, "amount_out")
    if amount_out >= reserve_out:
        raise InsufficientLiquidityError(
            f"amount_out {amount_out} is not below the pool's reserve {reserve_out}",
            field="amount_out",
        )
    numerator = reserve_in * amount_out * BPS
    denominator = (reserve_out - amount_out) * (BPS - fee_bps)
    return -(-numerator // denominator)


def spot_price(reserve_in: int, reserve_out: int) -> Decimal:
    """Mid price y/x in out-base-units per in-base-unit, before fees."""
    _check_pool(reserve_in, reserve_out, 0)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(reserve_out) / Decimal(reserve_in)


def marginal_price_after(reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int) -> Decimal:
    """Marginal output per unit input after swapping ``amount_in``: g·x·y / (x + g·a)², in base units.

    This is d(out)/d(in) of the continuous curve, fee included; at a = 0 it is g·y/x.
    """
    _check_pool(reserve_in, reserve_out, fee_bps)
    if isinstance(amount_in, bool) or not isinstance(amount_in, int) or amount_in < 0:
        raise ValidationError(
            f"amount_in must be a non-negative integer, got {amount_in!r}", field="amount_in"
        )
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        g = Decimal(BPS - fee_bps) / BPS
        denominator = Decimal(reserve_in) + g * amount_in
        return g * reserve_in * reserve_out / (denominator * denominator)


def price_impact_bps(reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int) -> Decimal:
    """Price impact of a swap in bps, fee excluded: 1 − (out / (a·g)) / (y/x).

    Measures only the move along the curve caused by the trade's size (Uniswap's definition);
    the fee is reported separately. Uses the actual integer output, so rounding counts as impact.
    """
    out = amount_out_for_in(reserve_in, reserve_out, amount_in, fee_bps)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        g = Decimal(BPS - fee_bps) / BPS
        fee_free_value = g * amount_in * Decimal(reserve_out) / Decimal(reserve_in)
        return (1 - Decimal(out) / fee_free_value) * BPS
