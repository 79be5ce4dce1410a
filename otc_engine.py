"""Simulated OTC desks: two-sided quotes around a reference mid, with size limits and inventory.

Pure: standard library, ``errors`` and ``tokens`` only. No clock reads (``now`` is passed in as
epoch seconds), no sleeping, no floats in the pricing path, and randomness only from an injected
``random.Random``.

Spread curve
------------
A desk on BASE/QUOTE has a base spread ``b`` (bps), a size spread ``c`` (bps, the extra spread at
the desk's maximum size) and a curve exponent ``p`` (``SpreadCurve.LINEAR`` p=1,
``SpreadCurve.QUADRATIC`` p=2). For an order of size ``s`` (BASE base units) with share
``q = s / max_size``::

    spread_bps = b + c * q**p

The spread is a haircut on what the trader receives. With ``mid_price`` the human QUOTE per
1 BASE, the rate in base units is ``r = mid_price * 10**dec_quote / 10**dec_base``:

* selling BASE (token_in = BASE):  s = a,      out = floor(a * r * (1 - spread_bps / 10**4))
* buying BASE (token_in = QUOTE):  s = a / r,  out = floor((a / r) * (1 - spread_bps / 10**4))

In both directions, with R = r (sell) or 1/r (buy) and S = max_size (sell) or max_size * r (buy,
the maximum size in QUOTE base units), the output before the floor is the polynomial::

    out(a) = u * a - v * a**(p + 1),   u = R * (1 - b / 10**4),   v = R * (c / 10**4) / S**p

Its slope ``u - (p+1) v a**p`` is at least ``R (1 - (b + (p+1) c) / 10**4)`` on ``[0, S]``, so a
desk requires ``b + (p+1) c < 10**4`` and ``out`` is then strictly increasing up to max size.

Every quote is computed with exact rationals (``fractions.Fraction`` built from the ``Decimal``
inputs) and floored once, so the trader receives exactly the floor of the real value: rounding
always favours the desk, by less than one base unit. ``curve()`` hands the router ``u`` and ``v``
as ``Decimal`` rounded (u up, v down) finely enough that ``floor(u*a - v*a**(p+1))``, evaluated
exactly, equals the quoted ``amount_out`` for every input in ``[min_in, max_in]``.

Inventory refills linearly toward a target (``refilled``), so a desk emptied by fills quotes
again later; it never quotes more than it holds.

Default desks (``DEFAULT_DESK_SPECS``) use the QUADRATIC curve: small orders pay little more
than the base spread while orders near the maximum pay the full size spread, which is how desks
price the risk of warehousing a large block.
"""

from __future__ import annotations

import enum
import functools
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction

from errors import (
    InsufficientLiquidityError,
    PriceUnavailableError,
    SolrouteError,
    ValidationError,
)
from tokens import Token, get_token, to_base_units

__all__ = [
    "DEFAULT_DESK_SPECS",
    "Desk",
    "DeskCurve",
    "DeskSpec",
    "OtcQuote",
    "Rejection",
    "SpreadCurve",
    "curve",
    "default_desks",
    "fill",
    "jittered_mid",
    "make_desk",
    "quote",
    "refilled",
]

_BPS = 10_000
# Digits for the Decimal figures reported to callers (spread, price, jittered mid).
_PRECISION = 50
# Digits kept from rng.random() so a jittered mid stays a short, exact Decimal.
_NOISE_QUANTUM = Decimal("1e-12")
_SECONDS_PER_HOUR = 3600


class SpreadCurve(enum.Enum):
    """How the size spread grows with the order's share of the desk maximum."""

    LINEAR = "linear"
    QUADRATIC = "quadratic"

    @property
    def exponent(self) -> int:
        """The exponent p in spread_bps = b + c * q**p."""
        return 1 if self is SpreadCurve.LINEAR else 2


class Rejection(enum.Enum):
    """Why a desk declines to quote an order."""

    PAIR_UNSUPPORTED = "pair_unsupported"
    BELOW_MINIMUM = "below_minimum"
    ABOVE_MAXIMUM = "above_maximum"
    INVENTORY_SHORT = "inventory_short"

    @property
    def message(self) -> str:
        """A human sentence describing the reason in general terms."""
        return _REJECTION_MESSAGES[self]


_REJECTION_MESSAGES: dict[Rejection, str] = {
    Rejection.PAIR_UNSUPPORTED: "the desk does not trade this pair",
    Rejection.BELOW_MINIMUM: "the order is smaller than the desk's minimum size",
    Rejection.ABOVE_MAXIMUM: "the order is larger than the desk's maximum size",
    Rejection.INVENTORY_SHORT: "the desk does not hold enough of the token to pay out",
}


@dataclass(frozen=True, slots=True)
class Desk:
    """One OTC desk on BASE/QUOTE; sizes and inventories in integer base units."""

    desk_id: str
    name: str
    base: str
    quote: str
    base_spread_bps: Decimal
    size_spread_bps: Decimal
    curve: SpreadCurve
    min_size: int
    max_size: int
    inventory_base: int
    inventory_quote: int
    target_base: int
    target_quote: int
    refill_base_per_s: int
    refill_quote_per_s: int
    settlement_delay_s: Decimal
    updated_at: float
    noise_bps: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for name in ("desk_id", "name"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(f"desk {name} must be a non-empty string", field=name)
        for name in ("base", "quote"):
            symbol = getattr(self, name)
            try:
                token = get_token(symbol)
            except SolrouteError as exc:
                raise ValidationError(f"desk {name} {symbol!r} is not a known token", field=name) from exc
            if token.symbol != symbol:
                raise ValidationError(
                    f"desk {name} must be the canonical symbol {token.symbol!r}, got {symbol!r}",
                    field=name,
                )
        if self.base == self.quote:
            raise ValidationError(f"desk base and quote are both {self.base}", field="quote")
        if not isinstance(self.curve, SpreadCurve):
            raise ValidationError(f"desk curve must be a SpreadCurve, got {self.curve!r}", field="curve")
        for name in ("base_spread_bps", "size_spread_bps", "settlement_delay_s", "noise_bps"):
            _check_decimal(getattr(self, name), name, allow_zero=True)
        if self.noise_bps >= _BPS:
            raise ValidationError(f"noise_bps {self.noise_bps} must be below {_BPS}", field="noise_bps")
        # Keeps the marginal output u - (p+1) v a^p positive up to max size (see module docstring).
        worst_bps = self.base_spread_bps + (self.curve.exponent + 1) * self.size_spread_bps
        if worst_bps >= _BPS:
            raise ValidationError(
                f"base_spread_bps + {self.curve.exponent + 1} * size_spread_bps = {worst_bps} "
                f"must be below {_BPS}",
                field="size_spread_bps",
            )
        for name in (
            "min_size",
            "max_size",
            "target_quote",
            "refill_base_per_s",
            "refill_quote_per_s",
        ):
            _check_int(getattr(self, name), name, minimum=1)
        for name in ("inventory_base", "inventory_quote", "target_base"):
            _check_int(getattr(self, name), name, minimum=0)
        if self.min_size > self.max_size:
            raise ValidationError(
                f"min_size {self.min_size} exceeds max_size {self.max_size}", field="min_size"
            )
        # A desk that can never hold its own minimum size in BASE could never fill a buy of BASE.
        if self.target_base < self.min_size:
            raise ValidationError(
                f"target_base {self.target_base} is below min_size {self.min_size}",
                field="target_base",
            )
        _check_time(self.updated_at, "updated_at")


@dataclass(frozen=True)
class OtcQuote:
    """A desk's answer to one order: a firm price, or a reason it cannot fill."""

    desk_id: str
    venue: str
    token_in: str
    token_out: str
    amount_in: int
    amount_out: int
    available: bool
    reason: Rejection | None
    message: str | None
    spread_bps: Decimal
    price: Decimal
    size_base: int
    settlement_delay_s: Decimal


@dataclass(frozen=True)
class DeskCurve:
    """A desk direction for the router: out(a) = u*a - v*a**(exponent+1), min_in <= a <= max_in."""

    u: Decimal
    v: Decimal
    exponent: int
    min_in: int
    max_in: int
    settlement_delay_s: Decimal


@dataclass(frozen=True)
class DeskSpec:
    """Human-unit recipe for a desk; ``make_desk`` turns it into base units at given USD prices."""

    desk_id: str
    name: str
    base: str
    quote: str
    base_spread_bps: Decimal
    size_spread_bps: Decimal
    curve: SpreadCurve
    min_size_human: Decimal
    max_size_human: Decimal
    inventory_base_human: Decimal
    refill_fraction_per_hour: Decimal
    settlement_delay_s: Decimal
    noise_bps: Decimal = Decimal(0)


DEFAULT_DESK_SPECS: tuple[DeskSpec, ...] = (
    DeskSpec(
        desk_id="otc-a-sol-usdc",
        name="OTC Desk A (SOL/USDC)",
        base="SOL",
        quote="USDC",
        base_spread_bps=Decimal(25),
        size_spread_bps=Decimal(40),
        curve=SpreadCurve.QUADRATIC,
        min_size_human=Decimal(100),
        max_size_human=Decimal(5_000),
        inventory_base_human=Decimal(20_000),
        refill_fraction_per_hour=Decimal("0.5"),
        settlement_delay_s=Decimal(30),
        noise_bps=Decimal(2),
    ),
    DeskSpec(
        desk_id="otc-b-sol-usdt",
        name="OTC Desk B (SOL/USDT)",
        base="SOL",
        quote="USDT",
        base_spread_bps=Decimal(35),
        size_spread_bps=Decimal(40),
        curve=SpreadCurve.QUADRATIC,
        min_size_human=Decimal(250),
        max_size_human=Decimal(2_500),
        inventory_base_human=Decimal(10_000),
        refill_fraction_per_hour=Decimal("0.5"),
        settlement_delay_s=Decimal(45),
        noise_bps=Decimal(3),
    ),
)


# --- validation helpers ---------------------------------------------------------------------


def _check_int(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an int, got {type(value).__name__}", field=name)
    if value < minimum:
        raise ValidationError(f"{name} must be at least {minimum}, got {value}", field=name)
    return value


def _check_decimal(value: object, name: str, *, allow_zero: bool) -> Decimal:
    if not isinstance(value, Decimal):
        raise ValidationError(f"{name} must be a Decimal, got {type(value).__name__}", field=name)
    if not value.is_finite():
        raise ValidationError(f"{name} must be finite, got {value}", field=name)
    if value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValidationError(f"{name} must be {kind}, got {value}", field=name)
    return value


def _check_time(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{name} must be finite epoch seconds, got {value!r}", field=name)
    return value


def _check_amount_in(amount_in: object) -> int:
    if isinstance(amount_in, bool) or not isinstance(amount_in, int):
        raise ValidationError(
            f"amount_in must be an int of base units, got {type(amount_in).__name__}",
            field="amount_in",
        )
    if amount_in <= 0:
        raise ValidationError(f"amount_in must be positive, got {amount_in}", field="amount_in")
    return amount_in


# --- exact arithmetic -----------------------------------------------------------------------


def _ratio_to_decimal(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator (denominator > 0) to _PRECISION significant digits (reported figures only).

    Decimal division rounds the exact quotient once, so any representation of the same
    rational (reduced or not) gives the same Decimal: callers skip Fraction's gcd work.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(numerator) / Decimal(denominator)


def _decimal_places(value: Fraction, places: int, *, round_up: bool) -> Decimal:
    """Fraction -> Decimal with ``places`` decimal places, rounded up or down, built exactly."""
    scaled = value * 10**places
    digits = math.ceil(scaled) if round_up else math.floor(scaled)
    while places > 0 and digits % 10 == 0:
        digits //= 10
        places -= 1
    return Decimal(f"{digits}E{-places}")  # the string constructor is exact, unlike arithmetic


def _places_for_precision(value: Fraction) -> int:
    """Decimal places that give ``value`` about _PRECISION significant digits."""
    if value == 0:
        return 0
    return max(0, _PRECISION + len(str(value.denominator)) - len(str(value.numerator)))


def _human(token: Token, units: int) -> str:
    """Base units as a readable human amount, e.g. 5_000_000_000_000 lamports -> '5,000'."""
    with localcontext() as ctx:
        ctx.prec = max(_PRECISION, len(str(units)))  # normalize() rounds to the context
        return f"{Decimal(units).scaleb(-token.decimals).normalize():,f}"


@dataclass(frozen=True, slots=True)
class _Side:
    """One direction of a desk at one mid, in exact rationals.

    The integer fields restate the same rationals over common denominators, so that quoting
    is integer arithmetic (Fraction normalises by a gcd at every step, which dominated a quote):
    size = a·size_num / size_den, spread_bps = (spread_base + spread_coef·(a·size_num)^p) /
    spread_den, and the output before the floor u·a − v·a^(p+1) = (out_u·a − out_v·a^(p+1)) / out_den.
    """

    is_sell_base: bool
    token_in: Token
    token_out: Token
    rate: Fraction  # R: output units per input unit before the spread
    size_per_in: Fraction  # BASE base units of size per input unit: 1 (sell) or 1/r (buy)
    u: Fraction
    v: Fraction
    exponent: int
    size_num: int
    size_den: int
    spread_base: int
    spread_coef: int
    spread_den: int
    out_u: int
    out_v: int
    out_den: int


def _side(desk: Desk, token_in: str, token_out: str, mid_price: Decimal) -> _Side | None:
    """Resolve a direction, or None when (token_in, token_out) is not the desk's pair."""
    if not isinstance(token_in, str) or not isinstance(token_out, str):
        return None
    pair = (token_in.strip().upper(), token_out.strip().upper())
    if pair == (desk.base.upper(), desk.quote.upper()):
        is_sell_base = True
    elif pair == (desk.quote.upper(), desk.base.upper()):
        is_sell_base = False
    else:
        return None
    return _side_of(
        desk.base,
        desk.quote,
        desk.curve,
        desk.max_size,
        desk.base_spread_bps,
        desk.size_spread_bps,
        is_sell_base,
        mid_price,
    )


@functools.lru_cache(maxsize=1024)
def _side_of(
    base_symbol: str,
    quote_symbol: str,
    spread_curve: SpreadCurve,
    max_size: int,
    base_spread_bps: Decimal,
    size_spread_bps: Decimal,
    is_sell_base: bool,
    mid_price: Decimal,
) -> _Side:
    """The exact rationals of one direction: they depend only on the desk's terms and the mid."""
    base, quote_token = get_token(base_symbol), get_token(quote_symbol)
    r = Fraction(mid_price) * quote_token.unit / base.unit
    rate = r if is_sell_base else 1 / r
    max_in = Fraction(max_size) if is_sell_base else max_size * r
    p = spread_curve.exponent
    b, c = Fraction(base_spread_bps), Fraction(size_spread_bps)
    u = rate * (1 - b / _BPS)
    v = rate * (c / _BPS) / max_in**p
    size_per_in = Fraction(1) if is_sell_base else 1 / r
    # spread_bps = b + c·(size / max_size)^p with size = a·sn/sd: over (bd·cd·(sd·max_size)^p).
    sn, sd = size_per_in.numerator, size_per_in.denominator
    full = (sd * max_size) ** p
    return _Side(
        is_sell_base=is_sell_base,
        token_in=base if is_sell_base else quote_token,
        token_out=quote_token if is_sell_base else base,
        rate=rate,
        size_per_in=size_per_in,
        u=u,
        v=v,
        exponent=p,
        size_num=sn,
        size_den=sd,
        spread_base=b.numerator * c.denominator * full,
        spread_coef=c.numerator * b.denominator,
        spread_den=b.denominator * c.denominator * full,
        out_u=u.numerator * v.denominator,
        out_v=v.numerator * u.denominator,
        out_den=u.denominator * v.denominator,
    )


def _spread_bps(side: _Side, scaled_size: int) -> Decimal:
    """spread_bps = b + c * (size / max_size)**p for size = scaled_size / size_den, to _PRECISION digits."""
    numerator = side.spread_base + side.spread_coef * scaled_size**side.exponent
    return _ratio_to_decimal(numerator, side.spread_den)


def _floor_out(side: _Side, amount_in: int) -> int:
    """floor(a * R * (1 - spread_bps / 10**4)) = floor(u*a - v*a**(p+1)), exactly, in integers.

    With size = a·size_per_in and max_in = max_size / size_per_in, the spread's size term
    R·c/10⁴·(size/max_size)^p·a equals v·a^(p+1), so this is the desk's exact output.
    """
    numerator: int = side.out_u * amount_in - side.out_v * amount_in ** (side.exponent + 1)
    return numerator // side.out_den


def _check_mid(mid_price: object) -> Decimal:
    return _check_decimal(mid_price, "mid_price", allow_zero=False)


# --- public API -----------------------------------------------------------------------------


def _inventories_at(desk: Desk, now: float) -> tuple[int, int]:
    """(base, quote) inventory at ``now``: each below target refilled linearly, capped at the target."""
    _check_time(now, "now")
    if desk.inventory_base >= desk.target_base and desk.inventory_quote >= desk.target_quote:
        return desk.inventory_base, desk.inventory_quote  # full: nothing to refill (the usual case)
    # Fraction(float) is exact, so the elapsed time carries no rounding. A clock that runs
    # backwards refills nothing.
    elapsed = max(Fraction(0), Fraction(now) - Fraction(desk.updated_at))

    def _refill(inventory: int, target: int, rate: int) -> int:
        if inventory >= target or not elapsed:
            return inventory  # above target: the surplus is kept, never drained
        return min(target, inventory + math.floor(rate * elapsed))

    return (
        _refill(desk.inventory_base, desk.target_base, desk.refill_base_per_s),
        _refill(desk.inventory_quote, desk.target_quote, desk.refill_quote_per_s),
    )


def refilled(desk: Desk, now: float) -> Desk:
    """The desk at ``now``: each inventory below target refilled linearly, capped at the target.

    updated_at never moves back (a clock that ran backwards would otherwise count time twice).
    Pricing reads ``_inventories_at`` instead, so quoting never rebuilds (and re-validates) a desk.
    """
    inventory_base, inventory_quote = _inventories_at(desk, now)
    if now <= desk.updated_at:
        return desk
    return replace(desk, inventory_base=inventory_base, inventory_quote=inventory_quote, updated_at=now)


def quote(
    desk: Desk,
    token_in: str,
    token_out: str,
    amount_in: int,
    mid_price: Decimal,
    now: float,
) -> OtcQuote:
    """Quote ``amount_in`` base units of token_in at ``mid_price``; a refusal carries a reason."""
    _check_amount_in(amount_in)
    _check_mid(mid_price)
    inventory_base, inventory_quote = _inventories_at(desk, now)
    side = _side(desk, token_in, token_out, mid_price)

    def _unavailable(reason: Rejection, message: str, spread: Decimal, size: int) -> OtcQuote:
        return OtcQuote(
            desk_id=desk.desk_id,
            venue=desk.name,
            token_in=side.token_in.symbol if side else token_in,
            token_out=side.token_out.symbol if side else token_out,
            amount_in=amount_in,
            amount_out=0,
            available=False,
            reason=reason,
            message=message,
            spread_bps=spread,
            price=Decimal(0),
            size_base=size,
            settlement_delay_s=desk.settlement_delay_s,
        )

    if side is None:
        return _unavailable(
            Rejection.PAIR_UNSUPPORTED,
            f"{desk.name} trades only {desk.base}/{desk.quote}, not {token_in} -> {token_out}",
            _ratio_to_decimal(0, 1),
            0,
        )
    base = side.token_in if side.is_sell_base else side.token_out
    scaled_size = amount_in * side.size_num  # size = scaled_size / size_den BASE base units
    size_base = scaled_size // side.size_den
    if scaled_size < desk.min_size * side.size_den:
        return _unavailable(
            Rejection.BELOW_MINIMUM,
            f"{_human(base, size_base)} {base.symbol} is below the desk minimum of "
            f"{_human(base, desk.min_size)} {base.symbol}",
            _spread_bps(side, scaled_size),
            size_base,
        )
    if scaled_size > desk.max_size * side.size_den:
        return _unavailable(
            Rejection.ABOVE_MAXIMUM,
            f"{_human(base, -(-scaled_size // side.size_den))} {base.symbol} is above the desk maximum of "
            f"{_human(base, desk.max_size)} {base.symbol}",
            _spread_bps(side, scaled_size),
            size_base,
        )
    amount_out = _floor_out(side, amount_in)
    held = inventory_quote if side.is_sell_base else inventory_base
    out_symbol = side.token_out.symbol
    if amount_out > held:
        return _unavailable(
            Rejection.INVENTORY_SHORT,
            f"the desk holds only {_human(side.token_out, held)} {out_symbol}, short of the "
            f"{_human(side.token_out, amount_out)} {out_symbol} this order pays out",
            _spread_bps(side, scaled_size),
            size_base,
        )
    return OtcQuote(
        desk_id=desk.desk_id,
        venue=desk.name,
        token_in=side.token_in.symbol,
        token_out=out_symbol,
        amount_in=amount_in,
        amount_out=amount_out,
        available=True,
        reason=None,
        message=None,
        spread_bps=_spread_bps(side, scaled_size),
        # (amount_out / out unit) / (amount_in / in unit), in human units of token_out per token_in
        price=_ratio_to_decimal(amount_out * side.token_in.unit, side.token_out.unit * amount_in),
        size_base=size_base,
        settlement_delay_s=desk.settlement_delay_s,
    )


def curve(desk: Desk, token_in: str, token_out: str, mid_price: Decimal, now: float) -> DeskCurve | None:
    """The desk's fillable input range and output polynomial for one direction, or None if none."""
    _check_mid(mid_price)
    inventory_base, inventory_quote = _inventories_at(desk, now)
    # The curve depends on the desk's terms and inventory, not on the clock: memoise on those.
    return _curve(_Terms.of(desk), inventory_base, inventory_quote, token_in, token_out, mid_price)


@dataclass(frozen=True, slots=True)
class _Terms:
    """What a desk's curve depends on besides inventory (hashable, cheap to build)."""

    desk: Desk  # compared by the fields below only
    key: tuple[object, ...]

    @classmethod
    def of(cls, desk: Desk) -> _Terms:
        key = (
            desk.desk_id,
            desk.base,
            desk.quote,
            desk.base_spread_bps,
            desk.size_spread_bps,
            desk.curve,
            desk.min_size,
            desk.max_size,
            desk.settlement_delay_s,
        )
        return cls(desk, key)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Terms) and self.key == other.key


@functools.lru_cache(maxsize=1024)
def _curve(
    terms: _Terms,
    inventory_base: int,
    inventory_quote: int,
    token_in: str,
    token_out: str,
    mid_price: Decimal,
) -> DeskCurve | None:
    desk = terms.desk
    side = _side(desk, token_in, token_out, mid_price)
    if side is None:
        return None
    # size = a * size_per_in, so min_size <= size <= max_size bounds a by ceil / floor.
    min_in = max(1, math.ceil(desk.min_size / side.size_per_in))
    max_in = math.floor(desk.max_size / side.size_per_in)
    held = inventory_quote if side.is_sell_base else inventory_base

    def _fits(a: int) -> bool:
        return _floor_out(side, a) <= held

    if min_in > max_in or not _fits(min_in):
        return None
    # out is increasing on [0, max size] (see module docstring): find the last input that fits.
    if not _fits(max_in):
        max_in = _last_fitting(_fits, min_in, max_in, _float_estimate(side, desk.curve.exponent, held + 1))
    # u*a - v*a**(p+1) has denominator dividing L, so out(a) lies on the grid (1/L)Z. Rounding u up
    # and v down by less than 1/(2 L A) and 1/(2 L A**(p+1)) moves out(a) up by less than 1/L for
    # every a <= A: never across the next integer, so the floor is unchanged.
    p = desk.curve.exponent
    grid = math.lcm(side.u.denominator, side.v.denominator)
    u_places = max(len(str(2 * grid * max_in)), _places_for_precision(side.u))
    v_places = max(len(str(2 * grid * max_in ** (p + 1))), _places_for_precision(side.v))
    return DeskCurve(
        u=_decimal_places(side.u, u_places, round_up=True),
        v=_decimal_places(side.v, v_places, round_up=False),
        exponent=p,
        min_in=min_in,
        max_in=max_in,
        settlement_delay_s=desk.settlement_delay_s,
    )


def _float_estimate(side: _Side, exponent: int, target: int) -> int:
    """Where u·a − v·a^(p+1) reaches ``target``, by float Newton: only a starting point for exact checks."""
    u, v = float(side.u), float(side.v)
    a = target / u
    for _ in range(60):
        f = u * a - v * a ** (exponent + 1) - target
        slope = u - (exponent + 1) * v * a**exponent
        if slope <= 0.0:
            break
        step = f / slope
        a -= step
        if abs(step) < 0.5:
            break
    return int(a) if a == a and a > 0 else 0  # NaN-safe


def _last_fitting(fits: Callable[[int], bool], lo: int, hi: int, guess: int) -> int:
    """Largest a in [lo, hi) with fits(a), given fits(lo) and not fits(hi); exact, guess-accelerated."""
    if lo < guess < hi:
        # Gallop from the guess: float error is a few units at most, so this takes a few exact checks.
        step = 1
        if fits(guess):
            lo = guess
            while lo + step < hi and fits(lo + step):
                lo += step
                step *= 2
            hi = min(hi, lo + step)
        else:
            hi = guess
            while hi - step > lo and not fits(hi - step):
                hi -= step
                step *= 2
            lo = max(lo, hi - step)
    while hi - lo > 1:  # invariant: lo fits, hi does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def fill(desk: Desk, token_in: str, amount_in: int, amount_out: int, now: float) -> Desk:
    """Settle a trade: refill, then pay out ``amount_out`` and take in ``amount_in``."""
    _check_amount_in(amount_in)
    _check_int(amount_out, "amount_out", minimum=0)
    desk = refilled(desk, now)
    symbol = token_in.strip().upper() if isinstance(token_in, str) else ""
    if symbol == desk.base.upper():
        if amount_out > desk.inventory_quote:
            raise InsufficientLiquidityError(
                f"{desk.name} holds {desk.inventory_quote} {desk.quote} base units, "
                f"cannot pay out {amount_out}",
                field="amount_out",
            )
        return replace(
            desk,
            inventory_base=desk.inventory_base + amount_in,
            inventory_quote=desk.inventory_quote - amount_out,
        )
    if symbol == desk.quote.upper():
        if amount_out > desk.inventory_base:
            raise InsufficientLiquidityError(
                f"{desk.name} holds {desk.inventory_base} {desk.base} base units, "
                f"cannot pay out {amount_out}",
                field="amount_out",
            )
        return replace(
            desk,
            inventory_base=desk.inventory_base - amount_out,
            inventory_quote=desk.inventory_quote + amount_in,
        )
    raise ValidationError(
        f"{desk.name} trades only {desk.base}/{desk.quote}, not {token_in!r}", field="token_in"
    )


def jittered_mid(desk: Desk, mid_price: Decimal, rng: random.Random | None) -> Decimal:
    """The mid moved by a uniform draw in [-noise_bps, +noise_bps) given an rng, else unchanged."""
    _check_mid(mid_price)
    if rng is None or desk.noise_bps == 0:
        return mid_price
    # Decimal(float) is exact; keeping 12 places makes the jittered mid a short exact Decimal.
    draw = Decimal(rng.random()).quantize(_NOISE_QUANTUM, rounding=ROUND_FLOOR)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        offset_bps = desk.noise_bps * (2 * draw - 1)
        return mid_price * (1 + offset_bps / _BPS)


def make_desk(spec: DeskSpec, usd_prices: Mapping[str, Decimal], now: float) -> Desk:
    """Build a full desk from a spec: quote inventory worth the base inventory at ``usd_prices``."""
    base, quote_token = get_token(spec.base), get_token(spec.quote)
    prices: dict[str, Decimal] = {}
    for token in (base, quote_token):
        price = usd_prices.get(token.symbol)
        if price is None:
            raise PriceUnavailableError(f"no USD price for {token.symbol}", field="usd_prices")
        prices[token.symbol] = _check_decimal(price, f"USD price of {token.symbol}", allow_zero=False)
    fraction = _check_decimal(spec.refill_fraction_per_hour, "refill_fraction_per_hour", allow_zero=False)
    inventory_base = to_base_units(base, spec.inventory_base_human, field="inventory_base_human")
    inventory_quote = math.floor(
        Fraction(inventory_base, base.unit)
        * Fraction(prices[base.symbol])
        / Fraction(prices[quote_token.symbol])
        * quote_token.unit
    )

    def _rate(target: int) -> int:
        return max(1, math.floor(target * Fraction(fraction) / _SECONDS_PER_HOUR))

    return Desk(
        desk_id=spec.desk_id,
        name=spec.name,
        base=base.symbol,
        quote=quote_token.symbol,
        base_spread_bps=spec.base_spread_bps,
        size_spread_bps=spec.size_spread_bps,
        curve=spec.curve,
        min_size=to_base_units(base, spec.min_size_human, field="min_size_human"),
        max_size=to_base_units(base, spec.max_size_human, field="max_size_human"),
        inventory_base=inventory_base,
        inventory_quote=inventory_quote,
        target_base=inventory_base,
        target_quote=inventory_quote,
        refill_base_per_s=_rate(inventory_base),
        refill_quote_per_s=_rate(inventory_quote),
        settlement_delay_s=spec.settlement_delay_s,
        updated_at=now,
        noise_bps=spec.noise_bps,
    )


def default_desks(usd_prices: Mapping[str, Decimal], now: float) -> tuple[Desk, ...]:
    """The built-in desks (``DEFAULT_DESK_SPECS``), full at ``now``."""
    return tuple(make_desk(spec, usd_prices, now) for spec in DEFAULT_DESK_SPECS)
