"""Amounts and token symbols accept exactly what the OpenAPI document says (issue 17, finding 7).

Python's ``Decimal`` reads more than a JSON API should: ``"0_01"`` is 1 (PEP 515), ``"١"`` and
``"１"`` are 1, surrounding whitespace is trimmed. The API reads an amount only if it matches the
pattern served in ``/api/openapi.json``, and then to the value ``Decimal`` gives the ASCII text.
The pattern is taken from the served document, not from our constant, so the test also holds
the document to the code. Black-box tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from errors import AmountPrecisionError, ValidationError
from tokens import AMOUNT_PATTERN, parse_amount, to_base_units
from tokens import TOKENS as REGISTRY

SOL = REGISTRY["SOL"]
ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.01"}
# Decimal reads each of these as a number; the documented pattern does not.
NOT_THE_PATTERN = ["0_01", "1_000", "\u0661", "\uff11", "1\u0660", " 1", "1 ", "1\n", "\t1", "1\u00a0", "+ 1"]


def served_schemas(client: Any) -> dict[str, Any]:
    document = client.get("/api/openapi.json").get_json()
    return document["components"]["schemas"]  # type: ignore[no-any-return]


def amount_pattern_of(client: Any) -> str:
    """The string pattern of ExecuteOrderRequest.amountIn in the served document."""
    prop = served_schemas(client)["ExecuteOrderRequest"]["properties"]["amountIn"]
    patterns = {
        branch["pattern"]
        for option in prop.get("anyOf", [prop])
        for branch in option.get("anyOf", [option])
        if branch.get("type") == "string"
    }
    assert len(patterns) == 1, prop
    return patterns.pop()


def ecma_matches(pattern: str, text: str) -> bool:
    """JSON Schema (ECMA-262) ``pattern`` semantics for an anchored pattern: ``$`` is the very end."""
    return re.fullmatch(pattern, text) is not None


# --- the pure parser against the pattern -------------------------------------------------------------

amount_texts = st.one_of(
    st.from_regex(AMOUNT_PATTERN, fullmatch=True),
    st.text(alphabet="0123456789._eE+- \n\u0661\uff11\u00a0", max_size=12),
    st.text(max_size=12),
)


@settings(max_examples=600, deadline=None)
@given(amount_texts)
def test_parse_amount_takes_what_the_pattern_takes_and_reads_it_as_decimal(text: str) -> None:
    if ecma_matches(AMOUNT_PATTERN, text):
        try:
            expected = Decimal(text.encode("ascii").decode("ascii"))
        except ArithmeticError:  # an exponent beyond Decimal's context ("1e2000000000000000000")
            with pytest.raises(ValidationError):
                parse_amount(text)
            return
        assert parse_amount(text) == expected
    else:
        with pytest.raises(ValidationError) as caught:
            parse_amount(text, field="amountIn")
        assert caught.value.field == "amountIn"


@pytest.mark.parametrize("text", NOT_THE_PATTERN, ids=repr)
def test_decimal_reads_these_but_the_api_does_not(text: str) -> None:
    with contextlib.suppress(ArithmeticError):  # a few (the NBSP) even Decimal refuses
        Decimal(text)
    with pytest.raises(ValidationError) as caught:
        to_base_units(SOL, text, field="amountIn")
    assert not isinstance(caught.value, AmountPrecisionError)
    assert caught.value.field == "amountIn"


# --- the API, black box on both databases ----------------------------------------------------------


def test_the_served_amount_pattern_is_the_one_the_code_holds_amounts_to(client: Any) -> None:
    assert amount_pattern_of(client) == AMOUNT_PATTERN
    document = client.get("/api/openapi.json").get_json()
    parameters = {p["name"]: p for p in document["paths"]["/api/quote"]["get"]["parameters"]}
    for name in ("amountIn", "amountOut"):
        assert parameters[name]["schema"]["pattern"] == AMOUNT_PATTERN


@pytest.mark.parametrize("text", NOT_THE_PATTERN, ids=repr)
def test_an_order_amount_outside_the_pattern_is_a_400_naming_the_field_and_writes_nothing(
    client: Any, api_key: str, text: str
) -> None:
    from models import Order, db

    for field in ("amountIn", "minAmountOut"):
        response = client.post(
            "/api/orders/execute", json={**ORDER, field: text}, headers={"X-API-Key": api_key}
        )
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.get_json()["error"]["field"] == field
    with client.application.app_context():
        assert db.session.query(Order).count() == 0


@pytest.mark.parametrize("text", NOT_THE_PATTERN, ids=repr)
def test_a_quote_amount_outside_the_pattern_is_a_400_naming_the_field(client: Any, text: str) -> None:
    for field in ("amountIn", "amountOut"):
        response = client.get("/api/quote", query_string={"tokenIn": "SOL", "tokenOut": "USDC", field: text})
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.get_json()["error"]["field"] == field


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=amount_texts)
def test_the_api_refuses_every_quote_amount_the_served_pattern_refuses(client: Any, text: str) -> None:
    assume("\x00" not in text)  # NUL is refused before the schema (views.operations.query_args)
    pattern = amount_pattern_of(client)
    response = client.get("/api/quote", query_string={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": text})
    body = response.get_json()
    if not ecma_matches(pattern, text):
        assert response.status_code == 400, (text, body)
        assert body["error"]["field"] == "amountIn"
    elif response.status_code != 200:  # zero, too many decimals, too large: other refusals, same field
        assert response.status_code in (400, 422), (text, body)
        assert "ASCII" not in body["error"]["message"], (text, body)
    else:
        assert Decimal(body["amountIn"]) == Decimal(text), (text, body)


# --- token symbols -------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["sol", "Sol", "SOL", SOL.mint])
def test_a_symbol_in_any_case_or_the_exact_mint_is_accepted(client: Any, token: str) -> None:
    response = client.get("/api/quote", query_string={"tokenIn": token, "tokenOut": "USDC", "amountIn": "1"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["tokenIn"] == "SOL"


@pytest.mark.parametrize("token", ["SOL\n", " SOL", "SOL ", "\tsol", "S\u041eL", "\uff33OL", SOL.mint + "\n"])
def test_a_symbol_with_whitespace_or_non_ascii_letters_is_a_400_naming_the_field(
    client: Any, api_key: str, token: str
) -> None:
    response = client.get("/api/quote", query_string={"tokenIn": token, "tokenOut": "USDC", "amountIn": "1"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == "tokenIn"
    response = client.post(
        "/api/orders/execute", json={**ORDER, "tokenOut": token}, headers={"X-API-Key": api_key}
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == "tokenOut"


def test_the_served_symbol_schema_says_ascii_letters_and_digits(client: Any) -> None:
    token_in = served_schemas(client)["ExecuteOrderRequest"]["properties"]["tokenIn"]
    assert token_in["pattern"] == "^[A-Za-z0-9]{1,64}$"
    assert "case-insensitive" in token_in["description"]
