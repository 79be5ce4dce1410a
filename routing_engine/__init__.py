"""Pure routing: venues behind one interface, paths of up to three hops, the optimal split,
strategies, exact-out and arbitrage detection.

Imports only the standard library, ``amm``, ``otc_engine``, ``tokens`` and ``errors``.
"""

from routing_engine.arbitrage import (
    ArbitrageLeg,
    ArbitrageSearch,
    Opportunity,
    find_opportunities,
    search_opportunities,
)
from routing_engine.depth import DEFAULT_DECADES, VenueCurve, default_size_range, log_sizes, venue_curves
from routing_engine.exact_out import ExactOutRoute, find_route_exact_out, max_amount_in_for
from routing_engine.paths import (
    LatencyConfig,
    Market,
    PathSearch,
    TwoHop,
    direct_venues,
    route_paths,
    two_hop_paths,
)
from routing_engine.router import find_route, quote_venue
from routing_engine.routes import Leg, Outlier, Route, RouterConfig, RouteResult, SplitPlan, VenueQuote
from routing_engine.splitting import optimal_split
from routing_engine.strategies import Strategy, parse_strategy
from routing_engine.venues import AggregatorQuote, VenueKind

__all__ = [
    "DEFAULT_DECADES",
    "AggregatorQuote",
    "ArbitrageLeg",
    "ArbitrageSearch",
    "ExactOutRoute",
    "LatencyConfig",
    "Leg",
    "Market",
    "Opportunity",
    "Outlier",
    "PathSearch",
    "Route",
    "RouteResult",
    "RouterConfig",
    "SplitPlan",
    "Strategy",
    "TwoHop",
    "VenueCurve",
    "VenueKind",
    "VenueQuote",
    "default_size_range",
    "direct_venues",
    "find_opportunities",
    "find_route",
    "find_route_exact_out",
    "log_sizes",
    "max_amount_in_for",
    "optimal_split",
    "parse_strategy",
    "quote_venue",
    "route_paths",
    "search_opportunities",
    "two_hop_paths",
    "venue_curves",
]
