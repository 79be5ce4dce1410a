"""``GET /api/arbitrage/opportunities``: public, like the pools; a thin view over routing_engine.arbitrage.

Declared on the ``api`` blueprint (views/api.py imports this module at its end, so the route
exists before the blueprint is registered, and the OpenAPI document lists it).
"""

from __future__ import annotations

from decimal import Decimal

from payloads import OpportunitiesResponse
from routing_engine import Market, find_opportunities
from services import get_services
from tokens import TOKENS
from views.api import operations
from views.schemas import ArbitrageQuery

__all__ = ["arbitrage_opportunities"]


@operations.get(
    "/arbitrage/opportunities",
    operation_id="listArbitrageOpportunities",
    summary="Cross-venue and 2-3 hop cycle arbitrage on the current pools and desks, best USD profit first",
    tag="market",
    query=ArbitrageQuery,
    response=OpportunitiesResponse,
    errors=(400, 503),
)
def arbitrage_opportunities(q: ArbitrageQuery) -> OpportunitiesResponse:
    """Opportunities on the venue snapshot quotes use, each at its optimal size, with legs."""
    min_profit_usd = Decimal(q.minProfitUsd) if q.minProfitUsd is not None else Decimal(0)
    quotes = get_services().quotes
    pools, desks = quotes.venues()  # the shared snapshot (SnapshotCache in the web app)
    usd_prices = quotes.usd_prices(tuple(TOKENS), pools)
    now = quotes.clock()
    found = find_opportunities(
        Market(pools, desks, usd_prices, now), min_profit_usd=min_profit_usd, limit=q.limit
    )
    return OpportunitiesResponse.of(found, min_profit_usd, now)
