"""Tests for tokens: the registry of real mainnet mints, lookup, and exact human ↔ base-unit conversion.

Conversion must be exact both ways: an amount with more decimal places than its token has is
refused (AmountPrecisionError), never rounded; an exact amount is never refused however it is
written (trailing zeros, exponent notation).
"""

from __future__ import annotations

import dataclasses
import decimal
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from errors import AmountPrecisionError, SolrouteError, UnknownTokenError, ValidationError
from tokens import (
    TOKENS,
    U64_MAX,
    Token,
    format_amount,
    from_base_units,
    get_token,
    parse_amount,
    to_base_units,
)

REGISTRY = [
    ("SOL", "So11111111111111111111111111111111111111112", 9),
    ("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6),
    ("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6),
    ("RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", 6),
    ("JUP", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", 6),
    ("BONK", "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", 5),
]

SOL = TOKENS["SOL"]
USDC = TOKENS["USDC"]
BONK = TOKENS["BONK"]

tokens_st = st.sampled_from(list(TOKENS.values()))


# --- registry -------------------------------------------------------------------------------


def test_the_registry_holds_exactly_the_six_tokens() -> None:
    assert set(TOKENS) == {symbol for symbol, _, _ in REGISTRY}
    assert len({token.mint for token in TOKENS.values()}) == len(REGISTRY)


@pytest.mark.parametrize(("symbol", "mint", "decimals"), REGISTRY)
def test_each_token_has_its_mainnet_mint_and_decimals(symbol: str, mint: str, decimals: int) -> None:
    token = TOKENS[symbol]
    assert (token.symbol, token.mint, token.decimals) == (symbol, mint, decimals)
    assert token.unit == 10**decimals
    assert token.name


@pytest.mark.parametrize(("symbol", "mint", "decimals"), REGISTRY)
def test_a_token_is_found_by_symbol_in_any_case_and_by_mint(symbol: str, mint: str, decimals: int) -> None:
    token = TOKENS[symbol]
    for key in (symbol, symbol.lower(), symbol.title(), f"  {symbol.lower()} ", mint, f" {mint}\n"):
        assert get_token(key) is token, key


@pytest.mark.parametrize(("symbol", "mint", "decimals"), REGISTRY)
def test_a_mint_is_matched_exactly_because_base58_is_case_sensitive(
    symbol: str, mint: str, decimals: int
) -> None:
    for wrong in (mint.lower(), mint.upper(), mint[:-1]):
        if wrong != mint:
            with pytest.raises(UnknownTokenError):
                get_token(wrong)


@pytest.mark.parametrize(
    "key", ["DOGE", "SOLX", "", "   ", "So1111111111111111111111111111111111111111", None, 42, b"SOL"]
)
def test_an_unknown_token_is_an_unknown_token_error_naming_it(key: object) -> None:
    with pytest.raises(UnknownTokenError) as caught:
        get_token(key)  # type: ignore[arg-type]
    assert repr(key) in str(caught.value)
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, SolrouteError)


def test_a_token_is_a_frozen_value() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SOL.decimals = 6  # type: ignore[misc]


# --- human → base units ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "amount", "expected"),
    [
        ("SOL", Decimal("10.5"), 10_500_000_000),
        ("SOL", "10.5", 10_500_000_000),
        ("SOL", "0.000000001", 1),
        ("SOL", 3, 3_000_000_000),
        ("SOL", 0.1, 100_000_000),  # a float counts as its shortest repr, "0.1"
        ("USDC", "1.5", 1_500_000),
        # 9 places written, but the value is exactly 1.5: an exact amount must not be refused.
        ("USDC", "1.500000000", 1_500_000),
        ("USDC", Decimal("1.500000000"), 1_500_000),
        ("USDC", "1e3", 1_000_000_000),
        ("USDC", "1.5E+2", 150_000_000),
        ("USDC", "0", 0),
        ("USDC", "123456789.123456", 123_456_789_123_456),
        ("BONK", "0.00001", 1),
        ("BONK", 1, 100_000),
        ("BONK", "12345678901234.56789", 1_234_567_890_123_456_789),
    ],
)
def test_to_base_units_is_exact(symbol: str, amount: object, expected: int) -> None:
    result = to_base_units(TOKENS[symbol], amount)
    assert type(result) is int
    assert result == expected


@pytest.mark.parametrize(
    ("symbol", "amount"),
    [
        ("USDC", "1.0000001"),
        ("USDC", Decimal("0.0000005")),
        ("USDC", 1e-7),
        ("SOL", "0.0000000001"),
        ("SOL", "10.5000000001"),
        ("BONK", "0.000001"),
        ("BONK", "1.123456"),
    ],
)
def test_too_many_decimals_is_a_precision_error_naming_the_field(symbol: str, amount: object) -> None:
    with pytest.raises(AmountPrecisionError) as caught:
        to_base_units(TOKENS[symbol], amount, field="amount_in")
    assert caught.value.field == "amount_in"
    message = str(caught.value)
    assert "amount_in" in message and symbol in message and str(TOKENS[symbol].decimals) in message
    assert isinstance(caught.value, ValidationError)


@pytest.mark.parametrize(
    ("symbol", "amount"),
    [
        ("SOL", "1.000000000000000000000000000001"),  # to_base_units returns 1_000_000_000
        ("USDC", "1.0000000000000000000000000000009"),  # returns 1_000_000
        ("SOL", "1e-2000000"),  # underflows to 0 and returns 0
    ],
)
def test_a_too_precise_amount_with_many_digits_is_still_refused(symbol: str, amount: str) -> None:
    with pytest.raises(AmountPrecisionError):
        to_base_units(TOKENS[symbol], amount)


def test_an_absurdly_large_amount_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        to_base_units(SOL, "1e1000000")


INVALID = [
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    float("nan"),
    float("inf"),
    float("-inf"),
    Decimal("NaN"),
    Decimal("Infinity"),
    "",
    "   ",
    "abc",
    "1.2.3",
    "1,5",
    "0x10",
    "10 SOL",
    # Only the API's pattern (tokens.AMOUNT_PATTERN): Decimal itself reads these as numbers.
    "0_01",
    "\u0661",  # Arabic-Indic one
    "\uff11",  # full-width one
    " 10.5 ",
    "10.5\n",
    "$5",
    True,
    False,
    None,
    [1],
    {"amount": 1},
    b"1",
    object(),
]


@pytest.mark.parametrize("value", INVALID, ids=repr)
def test_a_value_that_is_not_a_finite_number_is_a_validation_error(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        to_base_units(USDC, value, field="amount_in")
    assert not isinstance(caught.value, AmountPrecisionError)
    assert caught.value.field == "amount_in"
    assert "amount_in" in str(caught.value)


@pytest.mark.parametrize("value", INVALID, ids=repr)
def test_parse_amount_refuses_the_same_values(value: object) -> None:
    with pytest.raises(ValidationError):
        parse_amount(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.50", Decimal("1.50")), (2, Decimal(2)), (0.1, Decimal("0.1")), (Decimal("-3.25"), Decimal("-3.25"))],
)
def test_parse_amount_keeps_the_exact_value(value: object, expected: Decimal) -> None:
    parsed = parse_amount(value)
    assert isinstance(parsed, Decimal) and parsed == expected


# --- base units → human ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "base_units", "expected"),
    [
        ("USDC", 1_500_000, Decimal("1.5")),
        ("SOL", 1, Decimal("0.000000001")),
        ("SOL", 10_500_000_000, Decimal("10.5")),
        ("BONK", 123, Decimal("0.00123")),
        ("USDT", 0, Decimal(0)),
    ],
)
def test_from_base_units_is_exact(symbol: str, base_units: int, expected: Decimal) -> None:
    assert from_base_units(TOKENS[symbol], base_units) == expected


@pytest.mark.parametrize("bad", [True, 1.0, "1", Decimal(1), None], ids=repr)
def test_from_base_units_refuses_anything_but_an_int(bad: object) -> None:
    with pytest.raises(ValidationError, match=type(bad).__name__):
        from_base_units(USDC, bad)  # type: ignore[arg-type]


@settings(max_examples=300)
@given(token=tokens_st, base_units=st.integers(min_value=-U64_MAX, max_value=U64_MAX))
def test_base_units_round_trip_through_human_amounts(token: Token, base_units: int) -> None:
    assert to_base_units(token, from_base_units(token, base_units)) == base_units
    assert to_base_units(token, str(from_base_units(token, base_units))) == base_units


@pytest.mark.parametrize("base_units", [10**30 + 1, 10**28 + 1, -(10**40) - 7])
def test_from_base_units_is_exact_beyond_28_digits_and_to_base_units_refuses_beyond_u64(
    base_units: int,
) -> None:
    human = from_base_units(SOL, base_units)
    assert human.scaleb(9, context=decimal.Context(prec=100)) == base_units  # exact: the last unit survives
    with pytest.raises(ValidationError, match="too large"):
        to_base_units(SOL, human)


def test_the_largest_u64_amount_converts_and_one_more_unit_does_not() -> None:
    assert to_base_units(USDC, from_base_units(USDC, U64_MAX)) == U64_MAX
    with pytest.raises(ValidationError, match="too large"):
        to_base_units(USDC, from_base_units(USDC, U64_MAX + 1))


@settings(max_examples=300)
@given(token=tokens_st, data=st.data())
def test_a_human_amount_with_at_most_the_tokens_decimals_round_trips(
    token: Token, data: st.DataObject
) -> None:
    human = data.draw(
        st.decimals(
            min_value=-from_base_units(token, U64_MAX),  # SPL amounts are u64 base units
            max_value=from_base_units(token, U64_MAX),
            places=token.decimals,
            allow_nan=False,
            allow_infinity=False,
        )
    )
    base_units = to_base_units(token, human)
    assert from_base_units(token, base_units) == human
    assert to_base_units(token, str(human)) == base_units


@settings(max_examples=300)
@given(token=tokens_st, base_units=st.integers(-(10**20), 10**20), extra=st.integers(1, 9))
def test_one_digit_more_than_the_token_allows_is_always_refused(
    token: Token, base_units: int, extra: int
) -> None:
    # base_units + extra/10 of a base unit: exactly one decimal place too many, never rounded.
    human = from_base_units(token, base_units * 10 + extra).scaleb(-1)
    with pytest.raises(AmountPrecisionError):
        to_base_units(token, human)


@pytest.mark.parametrize(
    ("symbol", "base_units", "expected"),
    [
        ("USDC", 1_500_000, "1.5"),
        ("USDC", 1, "0.000001"),
        ("SOL", 1_000 * 10**9, "1000"),
        ("SOL", 0, "0"),
        ("BONK", -250_000, "-2.5"),
        ("SOL", 2**64 - 1, "18446744073.709551615"),
    ],
)
def test_format_amount_is_exact_text_without_exponent_or_trailing_zeros(
    symbol: str, base_units: int, expected: str
) -> None:
    assert format_amount(symbol, base_units) == expected
