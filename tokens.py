"""Token registry and exact conversion between human amounts and integer base units.

Pure: standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from errors import AmountPrecisionError, UnknownTokenError, ValidationError

__all__ = [
    "AMOUNT_PATTERN",
    "TOKENS",
    "U64_MAX",
    "Token",
    "format_amount",
    "from_base_units",
    "get_token",
    "parse_amount",
    "to_base_units",
]


@dataclass(frozen=True, slots=True)
class Token:
    """A fungible SPL token: ``decimals`` base units make one whole token."""

    symbol: str
    mint: str
    decimals: int
    name: str

    @property
    def unit(self) -> int:
        """Base units in one whole token (10**decimals)."""
        return int(10**self.decimals)


# Real mainnet mints. SOL is the wrapped-SOL mint, which is what every venue trades.
TOKENS: dict[str, Token] = {
    t.symbol: t
    for t in (
        Token("SOL", "So11111111111111111111111111111111111111112", 9, "Wrapped SOL"),
        Token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6, "USD Coin"),
        Token("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6, "Tether USD"),
        Token("RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", 6, "Raydium"),
        Token("JUP", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", 6, "Jupiter"),
        Token("BONK", "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", 5, "Bonk"),
    )
}
_BY_MINT: dict[str, Token] = {t.mint: t for t in TOKENS.values()}


def get_token(symbol_or_mint: str) -> Token:
    """Look a token up by symbol (case-insensitive) or by exact mint address."""
    if not isinstance(symbol_or_mint, str) or not symbol_or_mint.strip():
        raise UnknownTokenError(f"unknown token {symbol_or_mint!r}")
    key = symbol_or_mint.strip()
    token = TOKENS.get(key.upper()) or _BY_MINT.get(key)
    if token is None:
        raise UnknownTokenError(f"unknown token {symbol_or_mint!r}")
    return token


# The one declaration of an amount written as text (the API's OpenAPI pattern is this string):
# an optional sign, ASCII digits with at most one dot, an optional exponent. Nothing else: Decimal
# alone would also read "0_01" as 1 (PEP 515 underscores), Unicode digits ("١", "１") and
# surrounding whitespace. Valid in both Python and ECMA-262 (JSON Schema) regex syntax.
AMOUNT_PATTERN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_AMOUNT_TEXT = re.compile(AMOUNT_PATTERN)


def parse_amount(value: object, *, field: str = "amount") -> Decimal:
    """Parse a human amount (str, int or Decimal; floats only via their repr) into a finite Decimal."""
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a number, got a boolean", field=field)
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        # repr() gives the shortest string that round-trips, so 0.1 means "0.1", not 0.1000000000000000055...
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        if not _AMOUNT_TEXT.fullmatch(value):  # fullmatch: "$" alone would let "1\n" through
            raise ValidationError(
                f'{field} must be a decimal number in ASCII digits such as "12.5" or "1e3", got {value!r}',
                field=field,
            )
        try:
            amount = Decimal(value)
        except InvalidOperation as exc:  # not expected once the pattern matched; kept as a guard
            raise ValidationError(f"{field} is not a number: {value!r}", field=field) from exc
    else:
        raise ValidationError(f"{field} must be a number, got {type(value).__name__}", field=field)
    if not amount.is_finite():
        raise ValidationError(f"{field} must be finite, got {value!r}", field=field)
    return amount


U64_MAX = 2**64 - 1  # SPL token amounts are u64 base units


def to_base_units(token: Token, amount: object, *, field: str = "amount") -> int:
    """Convert a human amount to integer base units exactly; more decimals than the token has is an error.

    Works on the Decimal's own digits with integer arithmetic, so no context precision can round
    it; anything beyond u64 base units is refused as too large.
    """
    human = parse_amount(amount, field=field)
    sign, digits, exponent = human.as_tuple()
    assert isinstance(exponent, int)  # parse_amount refuses NaN and infinities
    mantissa = int("".join(map(str, digits)))
    shift = exponent + token.decimals
    if mantissa == 0:
        units = 0
    elif shift >= 0:
        if len(digits) + shift > len(str(U64_MAX)):  # also spares computing 10**shift for "1e1000000"
            raise ValidationError(f"{field} {human} {token.symbol} is too large", field=field)
        units = mantissa * 10**shift
    else:
        # A non-zero mantissa with more fractional digits than it has digits cannot be whole.
        units, remainder = divmod(mantissa, 10**-shift) if -shift <= len(digits) else (0, mantissa)
        if remainder:
            raise AmountPrecisionError(
                f"{field} {human} has more than {token.decimals} decimal places for {token.symbol}",
                field=field,
            )
    if units > U64_MAX:
        raise ValidationError(f"{field} {human} {token.symbol} is too large", field=field)
    return -units if sign else units


def format_amount(symbol: str, base_units: int) -> str:
    """Base units as exact token-unit text: "1234.5", "0.000001", "1000" (no exponent, no trailing zeros)."""
    text = f"{from_base_units(get_token(symbol), base_units):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def from_base_units(token: Token, base_units: int) -> Decimal:
    """Convert integer base units to an exact human Decimal (e.g. 1_500_000 USDC units -> 1.500000)."""
    if isinstance(base_units, bool) or not isinstance(base_units, int):
        raise ValidationError(f"base units must be an int, got {type(base_units).__name__}")
    sign, digits, exponent = Decimal(base_units).as_tuple()
    assert isinstance(exponent, int)
    return Decimal((sign, digits, exponent - token.decimals))  # exact: no context rounding
