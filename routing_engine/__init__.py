"""Pure routing: venues behind one interface, two-hop paths, the optimal split and strategies.

Imports only the standard library, ``amm``, ``otc_engine``, ``tokens`` and ``errors``.
"""

from routing_engine.paths import LatencyConfig, Market, TwoHop, direct_venues, two_hop_paths
from routing_engine.router import find_route
from routing_engine.routes import Leg, Route, RouterConfig, RouteResult, SplitPlan, VenueQuote
from routing_engine.splitting import optimal_split
from routing_engine.strategies import Strategy, parse_strategy
from routing_engine.venues import AggregatorQuote, VenueKind

__all__ = [
    "AggregatorQuote",
    "LatencyConfig",
    "Leg",
    "Market",
    "Route",
    "RouteResult",
    "RouterConfig",
    "SplitPlan",
    "Strategy",
    "TwoHop",
    "VenueKind",
    "VenueQuote",
    "direct_venues",
    "find_route",
    "optimal_split",
    "parse_strategy",
    "two_hop_paths",
]
