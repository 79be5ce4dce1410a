"""Every venue that can fill one hop, behind one interface.

A venue is directional (it sells ``token_in`` for ``token_out``) and offers:
- ``quote(amount_in) -> int``: the exact integer output, rounded against the trader;
- ``curve(forced_on)``: the continuous model the split solver optimises over;
- ``check(amount_in)``: why it cannot take that amount, or None.

Jupiter enters through ``AggregatorVenue``: its quote for amount a gives outAmount o and
priceImpactPct i, and we fit the constant-product curve through that point whose price
impact at a is i (no fee term; fees are inside o):

    R_in = a·(1 − i)/i,  R_out = o/i   ⇒   out(x) = o·x / (a·(1 − i) + i·x)

so out(a) = o exactly, the marginal price at 0 is o / (a·(1 − i)), and smaller amounts get
proportionally better prices, as on a real curve. Amounts above a are not offered (the fit
says nothing there). Legs on this curve are estimates; the executor re-quotes Jupiter.
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from typing import Protocol

import otc_engine
from amm.constant_product import BPS, amount_out_unchecked
from amm.pools import Pool
from errors import InsufficientLiquidityError, ValidationError
from routing_engine.curves import CPCurve, PolyCurve
from tokens import format_amount

__all__ = [
    "AggregatorQuote",
    "AggregatorVenue",
    "AmmVenue",
    "OtcVenue",
    "Venue",
    "VenueKind",
]

_MIN_IMPACT = Decimal("1e-7")  # a 0-impact aggregator quote is fitted as 0.001 bps, not a flat line


class VenueKind(enum.StrEnum):
    """What sort of venue fills a leg."""

    AMM = "amm"
    OTC = "otc"
    AGGREGATOR = "aggregator"


class Venue(Protocol):
    """One directional venue for one hop."""

    @property
    def venue_id(self) -> str: ...
    @property
    def venue(self) -> str: ...
    @property
    def kind(self) -> VenueKind: ...
    @property
    def token_in(self) -> str: ...
    @property
    def token_out(self) -> str: ...
    @property
    def latency_ms(self) -> int: ...
    @property
    def min_in(self) -> int: ...
    @property
    def max_in(self) -> int | None: ...
    @property
    def is_estimate(self) -> bool: ...

    def check(self, amount_in: int) -> str | None:
        """Why the venue cannot take ``amount_in`` (None if it can)."""
        ...

    def quote(self, amount_in: int) -> int:
        """Exact integer output for ``amount_in``; raises InsufficientLiquidityError if it cannot."""
        ...

    def curve(self, forced_on: bool = False) -> CPCurve | PolyCurve:
        """Continuous model of the output; ``forced_on`` sets the lower bound to ``min_in``."""
        ...

    def marginal0(self) -> Decimal:
        """Output per unit input for an infinitesimal order, fees included (base units)."""
        ...

    def fee_bps(self, amount_in: int) -> Decimal | None:
        """Fee or spread charged on ``amount_in`` in bps (None when folded into the price)."""
        ...

    def depth_out(self) -> int:
        """How much ``token_out`` the venue can pay out, in base units (its liquidity)."""
        ...


_CONTEXT = Context(prec=40)  # one shared context: cheaper than entering localcontext() per quote


def _impact_bps(amount_in: int, amount_out: int, marginal0: Decimal) -> Decimal:
    """1 − (out / in) / marginal0, in bps: how far the fill is from the venue's own best price."""
    ratio = _CONTEXT.divide(Decimal(amount_out), _CONTEXT.multiply(Decimal(amount_in), marginal0))
    return _CONTEXT.multiply(_CONTEXT.subtract(Decimal(1), ratio), Decimal(BPS))


def price_impact_bps(venue: Venue, amount_in: int, amount_out: int) -> Decimal:
    """Size-driven price impact of a fill on ``venue`` (fee and base spread excluded)."""
    return _impact_bps(amount_in, amount_out, venue.marginal0())


@functools.lru_cache(maxsize=4096)
def _cp_curve(reserve_in: int, reserve_out: int, fee_bps: int) -> CPCurve:
    """A pool's curve depends only on its reserves and fee: quotes between trades share it."""
    return CPCurve(float(reserve_in), float(reserve_out), (BPS - fee_bps) / BPS)


class AmmVenue:
    """A constant-product pool, traded in one direction."""

    kind = VenueKind.AMM
    is_estimate = False
    min_in = 1
    max_in = None

    def __init__(self, pool: Pool, token_in: str, latency_ms: int) -> None:
        self.pool = pool
        self.token_in = token_in
        # pool.other() and pool.reserves() inlined: a 1,000-pool market builds 1,000 venues per quote.
        if token_in == pool.token_a:
            self.token_out, self.reserve_in, self.reserve_out = pool.token_b, pool.reserve_a, pool.reserve_b
        elif token_in == pool.token_b:
            self.token_out, self.reserve_in, self.reserve_out = pool.token_a, pool.reserve_b, pool.reserve_a
        else:
            pool.other(token_in)  # raises, naming the pool and the token
        self.venue_id = pool.pool_id
        self.venue = pool.venue
        self.latency_ms = latency_ms
        self._marginal0: Decimal | None = None
        self._last: tuple[int, int] = (-1, 0)

    def check(self, amount_in: int) -> str | None:
        """Pools take any positive amount that buys at least one base unit."""
        if amount_in <= 0:
            return "amount must be positive"
        if self.quote_unchecked(amount_in) <= 0:
            return "amount too small: it buys nothing"
        return None

    def quote_unchecked(self, amount_in: int) -> int:
        """x·y = k output without the dust check (the pool's ints were validated when it was built)."""
        if self._last[0] != amount_in:  # check() then quote() ask about the same amount
            out = amount_out_unchecked(self.reserve_in, self.reserve_out, amount_in, self.pool.fee_bps)
            self._last = (amount_in, out)
        return self._last[1]

    def quote(self, amount_in: int) -> int:
        """Exact constant-product output."""
        out = self.quote_unchecked(amount_in)
        if out <= 0:
            raise InsufficientLiquidityError(
                f"{format_amount(self.token_in, amount_in)} {self.token_in} buys nothing on {self.venue_id}"
            )
        return out

    def curve(self, forced_on: bool = False) -> CPCurve:
        """f(x) = g·x·R_out/(R_in + g·x)."""
        return _cp_curve(self.reserve_in, self.reserve_out, self.pool.fee_bps)

    def marginal0(self) -> Decimal:
        """g·R_out/R_in."""
        if self._marginal0 is None:
            numerator = Decimal((BPS - self.pool.fee_bps) * self.reserve_out)
            self._marginal0 = _CONTEXT.divide(numerator, Decimal(BPS * self.reserve_in))
        return self._marginal0

    def fee_bps(self, amount_in: int) -> Decimal:
        """The pool's fee."""
        return Decimal(self.pool.fee_bps)

    def depth_out(self) -> int:
        """The pool's reserve of token_out."""
        return self.reserve_out


class OtcVenue:
    """An OTC desk quoting around a reference mid, traded in one direction."""

    kind = VenueKind.OTC
    is_estimate = False

    def __init__(
        self,
        desk: otc_engine.Desk,
        token_in: str,
        token_out: str,
        mid_price: Decimal,
        now: float,
        latency_ms: int,
    ) -> None:
        self.desk = desk  # quote() and curve() apply refills up to `now` themselves
        self.token_in = token_in
        self.token_out = token_out
        self.venue_id = desk.desk_id
        self.venue = desk.name
        self.mid_price = mid_price
        self.now = now
        self.params = otc_engine.curve(self.desk, token_in, token_out, mid_price, now)
        self._quotes: dict[int, otc_engine.OtcQuote] = {}
        self._curves: dict[bool, PolyCurve] = {}
        self._poly = _integer_polynomial(self.params) if self.params else None
        self.settlement_delay_s = self.desk.settlement_delay_s
        self.latency_ms = latency_ms + int(self.settlement_delay_s * 1000)
        self.min_in = self.params.min_in if self.params else 0
        self.max_in = self.params.max_in if self.params else 0

    def _quote(self, amount_in: int) -> otc_engine.OtcQuote:
        # check(), quote() and fee_bps() ask about the same amounts: price each exactly once.
        cached = self._quotes.get(amount_in)
        if cached is None:
            cached = otc_engine.quote(
                self.desk, self.token_in, self.token_out, amount_in, self.mid_price, self.now
            )
            self._quotes[amount_in] = cached
        return cached

    def _fillable(self, amount_in: int) -> bool:
        return self.params is not None and self.params.min_in <= amount_in <= self.params.max_in

    def check(self, amount_in: int) -> str | None:
        """The desk's own reason (below minimum, above maximum, inventory short), if any."""
        if self._fillable(amount_in):
            return None
        q = self._quote(amount_in)
        return None if q.available else (q.message or str(q.reason))

    def quote(self, amount_in: int) -> int:
        """Exact desk output (mid ∓ size-dependent spread, floored).

        Inside [min_in, max_in] this is floor(u·a − v·a^(p+1)) in integer arithmetic, which
        otc_engine guarantees equals its own quote; elsewhere the desk says why it refuses.
        """
        if self._poly is not None and self._fillable(amount_in):
            fu, fv, exponent, scale = self._poly
            out: int = (fu * amount_in - fv * amount_in ** (exponent + 1)) // scale
            return out
        q = self._quote(amount_in)
        if not q.available:
            raise InsufficientLiquidityError(f"{self.venue}: {q.message}")
        return q.amount_out

    def curve(self, forced_on: bool = False) -> PolyCurve:
        """f(x) = u·x − v·x^(p+1) on [0 or min_in, max_in]."""
        # Every branch-and-bound node asks again; the curve is fixed for this snapshot.
        cached = self._curves.get(forced_on)
        if cached is not None:
            return cached
        if self.params is None:
            curve = PolyCurve(0.0, 0.0, 1, cap=0.0)
        else:
            p = self.params
            curve = PolyCurve(
                float(p.u),
                float(p.v),
                p.exponent,
                cap=float(p.max_in),
                lo=float(p.min_in) if forced_on else 0.0,
            )
        self._curves[forced_on] = curve
        return curve

    def marginal0(self) -> Decimal:
        """u: the price after the base spread, before the size term."""
        return self.params.u if self.params else Decimal(0)

    def fee_bps(self, amount_in: int) -> Decimal:
        """The spread the desk charges at this size."""
        return self._quote(amount_in).spread_bps

    def depth_out(self) -> int:
        """Most the desk can pay out now: limited by inventory and its maximum size."""
        if self.params is None:
            return 0
        return self.quote(self.params.max_in)  # exact integer maths: equals the desk's own quote


@functools.lru_cache(maxsize=1024)
def _integer_polynomial(params: otc_engine.DeskCurve) -> tuple[int, int, int, int]:
    """(fu, fv, p, D) with u·a − v·a^(p+1) = (fu·a − fv·a^(p+1)) / D exactly (u, v are finite Decimals)."""
    u_sign, u_digits, u_exp = params.u.as_tuple()
    v_sign, v_digits, v_exp = params.v.as_tuple()
    assert isinstance(u_exp, int) and isinstance(v_exp, int) and not u_sign and not v_sign
    e = min(u_exp, v_exp, 0)
    fu = int("".join(map(str, u_digits))) * 10 ** (u_exp - e)
    fv = int("".join(map(str, v_digits))) * 10 ** (v_exp - e)
    return fu, fv, params.exponent, 10**-e


@dataclass(frozen=True, slots=True)
class AggregatorQuote:
    """The parts of an aggregator (Jupiter) quote the router uses; plain data, no HTTP."""

    token_in: str
    token_out: str
    in_amount: int
    out_amount: int
    price_impact_pct: Decimal
    labels: tuple[str, ...] = ()
    venue: str = "Jupiter"

    def __post_init__(self) -> None:
        if self.in_amount <= 0 or self.out_amount <= 0:
            raise ValidationError(
                f"aggregator quote needs positive amounts, got in={self.in_amount} out={self.out_amount}"
            )


class AggregatorVenue:
    """Jupiter, through the constant-product curve fitted to its quote (see module docstring)."""

    kind = VenueKind.AGGREGATOR
    is_estimate = True
    min_in = 1

    def __init__(self, quote: AggregatorQuote, latency_ms: int) -> None:
        self.aggregator_quote = quote
        self.token_in = quote.token_in
        self.token_out = quote.token_out
        self.venue_id = quote.venue.lower()
        self.venue = quote.venue
        self.latency_ms = latency_ms
        self.max_in = quote.in_amount
        self._impact = min(max(quote.price_impact_pct, _MIN_IMPACT), Decimal("0.5"))
        # i = n/d exactly (a finite Decimal), so the fitted curve's floor is integer arithmetic.
        n, d = self._impact.as_integer_ratio()
        self._numerator_per_unit = quote.out_amount * d  # out(x) = o·d·x / (a·(d − n) + n·x)
        self._denominator_base = quote.in_amount * (d - n)
        self._impact_n = n
        self._curve: CPCurve | None = None

    def check(self, amount_in: int) -> str | None:
        """Only amounts up to the quoted size are offered."""
        if amount_in <= 0:
            return "amount must be positive"
        if amount_in > self.max_in:
            return f"above the quoted size of {format_amount(self.token_in, self.max_in)} {self.token_in}"
        if self.quote_unchecked(amount_in) <= 0:
            return "amount too small: it buys nothing"
        return None

    def quote_unchecked(self, amount_in: int) -> int:
        """floor(o·x / (a·(1 − i) + i·x)), exactly (o at x = a), in integers: rounds for the venue."""
        denominator = self._denominator_base + self._impact_n * amount_in
        out: int = self._numerator_per_unit * amount_in // denominator
        return out

    def quote(self, amount_in: int) -> int:
        """Estimated output on the fitted curve."""
        reason = self.check(amount_in)
        if reason is not None:
            raise InsufficientLiquidityError(f"{self.venue}: {reason}")
        return self.quote_unchecked(amount_in)

    def curve(self, forced_on: bool = False) -> CPCurve:
        """Virtual pool R_in = a(1 − i)/i, R_out = o/i, no fee, capped at a."""
        if self._curve is None:  # every branch-and-bound node asks again: build it once
            a = float(self.aggregator_quote.in_amount)
            o = float(self.aggregator_quote.out_amount)
            i = float(self._impact)
            self._curve = CPCurve(a * (1 - i) / i, o / i, 1.0, cap=a)
        return self._curve

    def marginal0(self) -> Decimal:
        """o / (a·(1 − i))."""
        with localcontext() as ctx:
            ctx.prec = 40
            return Decimal(self.aggregator_quote.out_amount) / (
                self.aggregator_quote.in_amount * (1 - self._impact)
            )

    def fee_bps(self, amount_in: int) -> None:
        """Jupiter's venue fees are inside its outAmount."""
        return None

    def depth_out(self) -> int:
        """The fitted virtual reserve of token_out."""
        return math.floor(self.aggregator_quote.out_amount / self._impact)
