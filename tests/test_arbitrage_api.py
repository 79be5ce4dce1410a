"""GET /api/arbitrage/opportunities, black-box on both databases: shape, ranking, filters, bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from models import AmmPool, db
from payloads import OpportunitiesResponse
from tests.test_api import assert_error, check
from tokens import get_token

URL = "/api/arbitrage/opportunities"


def misprice(app: Flask, pool_id: str, factor: Decimal) -> None:
    """Move one stored pool's price of token_a by ``factor`` (token_b reserve scaled), as flow would."""
    with app.app_context():
        pool = db.session.execute(sa.select(AmmPool).where(AmmPool.id == pool_id)).scalar_one()
        pool.reserve_b = int(pool.reserve_b * factor)
        db.session.commit()


def units(symbol: str, text: str) -> int:
    return int(Decimal(text) * get_token(symbol).unit)


def test_a_fairly_priced_market_lists_no_opportunity(client: Any) -> None:
    body = check(OpportunitiesResponse, client.get(URL))
    assert body["opportunities"] == [] and body["total"] == 0
    assert body["minProfitUsd"] == "0"


def test_a_mispriced_pool_shows_ranked_opportunities_whose_legs_add_up(app: Flask, client: Any) -> None:
    misprice(app, "raydium-sol-usdc", Decimal("1.06"))  # SOL 6 % dearer on one pool than on the rest
    body = check(OpportunitiesResponse, client.get(URL))
    found = body["opportunities"]
    assert found and body["total"] == len(found) <= 50
    profits = [Decimal(o["profitUsd"]) for o in found]
    assert profits == sorted(profits, reverse=True) and profits[-1] > 0
    assert {o["kind"] for o in found} == {"cross_venue", "cycle"}
    assert any(leg["kind"] == "otc" for o in found for leg in o["legs"])
    # Desks quote around the reference price, which here the pools imply: others are off it too.
    assert any(leg["venueId"] == "raydium-sol-usdc" for leg in found[0]["legs"])
    for o in found:
        start = o["startToken"]
        assert o["path"][0] == o["path"][-1] == start
        assert len(o["legs"]) == len(o["path"]) - 1 == (2 if o["kind"] == "cross_venue" else 3)
        assert units(start, o["amountOut"]) - units(start, o["amountIn"]) == units(start, o["profit"]) > 0
        assert o["legs"][0]["amountIn"] == o["amountIn"] and o["legs"][-1]["amountOut"] == o["amountOut"]
        for hop, (leg, nxt) in enumerate(zip(o["legs"], o["legs"][1:], strict=False), start=1):
            assert leg["hop"] == hop and leg["amountOut"] == nxt["amountIn"]
            assert leg["tokenOut"] == nxt["tokenIn"] == o["path"][hop]

    top_two = check(OpportunitiesResponse, client.get(f"{URL}?limit=2"))["opportunities"]
    assert top_two == found[:2]
    floor = found[2]["profitUsd"]
    above = check(OpportunitiesResponse, client.get(f"{URL}?minProfitUsd={floor}"))
    assert above["minProfitUsd"] == floor
    assert all(Decimal(o["profitUsd"]) >= Decimal(floor) for o in above["opportunities"])
    assert above["opportunities"][:3] == found[:3]
    none = check(OpportunitiesResponse, client.get(f"{URL}?minProfitUsd=1000000000"))
    assert none["opportunities"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("minProfitUsd=abc", "minProfitUsd"),
        ("minProfitUsd=-1", "minProfitUsd"),
        ("minProfitUsd=1_0", "minProfitUsd"),
        ("minProfitUsd=1e3", "minProfitUsd"),
        ("minProfitUsd=%D9%A1", "minProfitUsd"),  # an Arabic-Indic one: Decimal() would read it
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("limit=1&limit=2", "limit"),
        ("min=1", "min"),
    ],
)
def test_a_bad_query_is_refused_naming_its_parameter(client: Any, query: str, field: str) -> None:
    assert_error(client.get(f"{URL}?{query}"), 400, "invalid_input", field)
