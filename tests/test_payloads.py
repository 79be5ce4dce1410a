"""payloads: models made from our own values keep the declared keys, in the declared order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payloads import RouteLegOut, VenueQuoteOut, Window

QUOTE: dict[str, Any] = {
    "venue": "Orca",
    "venueId": "orca-sol-usdc",
    "kind": "amm",
    "path": ["SOL", "USDC"],
    "amountOut": "12.5",
    "priceImpactBps": "1.2345",
    "curveImpactBps": "0.5000",
    "feeBps": "25.0000",
    "available": True,
    "reason": None,
    "rejected": None,
    "outlier": None,
    "isEstimate": False,
    "latencyMs": 400,
}


def test_a_made_model_dumps_its_values_unchanged_in_the_declared_order() -> None:
    shuffled = dict(reversed(list(QUOTE.items())))
    body = VenueQuoteOut.make(**shuffled).to_json()
    assert json.dumps(body) == json.dumps(QUOTE)
    VenueQuoteOut.model_validate(body, strict=True)


def test_a_field_left_out_is_absent_not_null() -> None:
    leg = {
        "venue": "Orca",
        "venueId": "orca-sol-usdc",
        "kind": "amm",
        "hop": 1,
        "path": ["SOL", "USDC"],
        "tokenIn": "SOL",
        "tokenOut": "USDC",
        "amountIn": "1",
        "amountOut": "2",
        "isEstimate": False,
        "paper": False,
    }
    second_hop = RouteLegOut.make(**leg)
    assert "share" not in second_hop.to_json() and second_hop.share is None
    assert RouteLegOut.make(**leg, share="0.5").to_json()["share"] == "0.5"


def test_an_alias_is_the_json_key() -> None:
    assert Window.make(from_=None, to="2026-01-01T00:00:00Z").to_json() == {
        "from": None,
        "to": "2026-01-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**QUOTE, "extra": 1}, "unknown ['extra']"),
        ({k: v for k, v in QUOTE.items() if k != "venue"}, "missing ['venue']"),
    ],
)
def test_an_unknown_or_missing_field_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        VenueQuoteOut.make(**values)
