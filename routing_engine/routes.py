"""What the router returns: venue quotes, legs, routes, and the router's settings (plain values)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal

from errors import ValidationError
from routing_engine.strategies import Strategy
from routing_engine.venues import Venue, VenueKind
from tokens import get_token

__all__ = [
    "DEFAULT_CONFIG",
    "LeafKey",
    "Leg",
    "Outlier",
    "Route",
    "RouteResult",
    "RouterConfig",
    "SplitPlan",
    "VenueQuote",
    "leaf_key",
    "new_leg",
    "new_venue_quote",
    "validate_order",
]


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """Tunables of the split."""

    # A leg is dust when it is worth less than ``min_leg_usd`` at the reference price (too small to be
    # worth a transaction), or, optionally, less than ``min_leg_fraction`` of what its hop carries.
    min_leg_usd: Decimal = Decimal("1")
    min_leg_fraction: Decimal = Decimal(0)
    # A venue whose own mid (fee taken out) is more than this far from the reference mid is not
    # routed and is listed as rejected (0: never reject).
    outlier_bps: Decimal = Decimal(2_000)
    # An extra leg of a split is kept only if it adds at least this much output (see splitting).
    min_gain_bps_per_leg: Decimal = Decimal("0.5")
    min_gain_max_legs: int = 12  # splits with more first-hop legs are not checked (see splitting)
    two_hop: bool = True  # paths through intermediate tokens at all
    max_hops: int = 3  # 2: two-hop paths only; 3: also A→X→Y→B (see paths.route_paths)
    max_three_hop_paths: int = 16  # the deepest ones; the rest are not searched
    min_path_depth_ratio: Decimal = Decimal("0.01")  # a three-hop path that can pay less than this
    # share of the order's USD value is not searched
    max_nodes: int = 64  # branch-and-bound nodes over desk minimums before settling for a looser bound


DEFAULT_CONFIG = RouterConfig()


@dataclass(frozen=True, slots=True)
class Outlier:
    """Why a venue was rejected as an outlier: its own mid against the reference mid.

    Prices are human units of the venue's token_out per token_in; ``price`` is the venue's price
    for an infinitesimal order with its fee (or desk base spread) taken back out, so neither its
    curve nor its fee explains the deviation.
    """

    price: Decimal
    reference: Decimal
    deviation_bps: Decimal  # (price / reference − 1) × 10⁴, 2 places


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """One venue's (or one multi-hop path's) quote for the whole order.

    ``price_impact_bps``: fees included, against the reference mid (None without one): the one
    definition of price impact. ``curve_impact_bps``: against the venue's own best price, so
    size-driven only (fees and base spread excluded).
    """

    venue_id: str
    venue: str
    kind: VenueKind
    path: tuple[str, ...]
    amount_in: int
    amount_out: int
    price_impact_bps: Decimal | None
    fee_bps: Decimal | None
    available: bool
    reason: str | None
    latency_ms: int
    depth_out: int
    is_estimate: bool
    curve_impact_bps: Decimal | None = None
    outlier: Outlier | None = None  # set when the venue was rejected as an outlier (not routed)


@dataclass(frozen=True, slots=True)
class Leg:
    """One venue's part of a route: hop 0 is the first (or only) hop, hop 1 the second, hop 2 the third.

    ``path`` is the path the leg is on; a first-hop leg that feeds both a two-hop path and
    three-hop paths through the same intermediate carries the two-hop one.
    """

    venue_id: str
    venue: str
    kind: VenueKind
    token_in: str
    token_out: str
    amount_in: int
    amount_out: int
    hop: int
    path: tuple[str, ...]
    is_estimate: bool
    latency_ms: int


def _slot_setters() -> tuple[Callable[[Leg, object], None], ...]:
    names = tuple(f.name for f in fields(Leg))
    expected = (
        "venue_id", "venue", "kind", "token_in", "token_out", "amount_in", "amount_out", "hop", "path",
        "is_estimate", "latency_ms",
    )  # fmt: skip
    if names != expected:  # new_leg below sets exactly these, in this order
        raise RuntimeError(f"Leg's fields changed to {names}: update new_leg")
    return tuple(Leg.__dict__[name].__set__ for name in names)


(
    _set_venue_id, _set_venue, _set_kind, _set_token_in, _set_token_out, _set_amount_in, _set_amount_out,
    _set_hop, _set_path, _set_is_estimate, _set_latency_ms,
) = _slot_setters()  # fmt: skip
_new_object = object.__new__


def new_leg(
    venue_id: str,
    venue: str,
    kind: VenueKind,
    token_in: str,
    token_out: str,
    amount_in: int,
    amount_out: int,
    hop: int,
    path: tuple[str, ...],
    is_estimate: bool,
    latency_ms: int,
) -> Leg:
    """``Leg(...)`` at half the cost: the same frozen value, its slots filled directly.

    A frozen dataclass's ``__init__`` goes through ``object.__setattr__`` once per field, and a
    1,000-venue split builds ~1,000 legs: that was 1.7 ms of a 5.8 ms route (measured).
    """
    leg: Leg = _new_object(Leg)
    _set_venue_id(leg, venue_id)
    _set_venue(leg, venue)
    _set_kind(leg, kind)
    _set_token_in(leg, token_in)
    _set_token_out(leg, token_out)
    _set_amount_in(leg, amount_in)
    _set_amount_out(leg, amount_out)
    _set_hop(leg, hop)
    _set_path(leg, path)
    _set_is_estimate(leg, is_estimate)
    _set_latency_ms(leg, latency_ms)
    return leg


_VENUE_QUOTE_FIELDS = (
    "venue_id", "venue", "kind", "path", "amount_in", "amount_out", "price_impact_bps", "fee_bps",
    "available", "reason", "latency_ms", "depth_out", "is_estimate", "curve_impact_bps", "outlier",
)  # fmt: skip
if tuple(f.name for f in fields(VenueQuote)) != _VENUE_QUOTE_FIELDS:  # new_venue_quote sets exactly these
    raise RuntimeError("VenueQuote's fields changed: update new_venue_quote")
(
    _set_q_venue_id, _set_q_venue, _set_q_kind, _set_q_path, _set_q_amount_in, _set_q_amount_out,
    _set_q_price_impact_bps, _set_q_fee_bps, _set_q_available, _set_q_reason, _set_q_latency_ms,
    _set_q_depth_out, _set_q_is_estimate, _set_q_curve_impact_bps, _set_q_outlier,
) = (VenueQuote.__dict__[name].__set__ for name in _VENUE_QUOTE_FIELDS)  # fmt: skip


def new_venue_quote(
    venue_id: str,
    venue: str,
    kind: VenueKind,
    path: tuple[str, ...],
    amount_in: int,
    amount_out: int,
    price_impact_bps: Decimal | None,
    fee_bps: Decimal | None,
    available: bool,
    reason: str | None,
    latency_ms: int,
    depth_out: int,
    is_estimate: bool,
    curve_impact_bps: Decimal | None = None,
    outlier: Outlier | None = None,
) -> VenueQuote:
    """``VenueQuote(...)`` with its slots filled directly (see ``new_leg``): a row per venue per quote."""
    quote: VenueQuote = _new_object(VenueQuote)
    _set_q_venue_id(quote, venue_id)
    _set_q_venue(quote, venue)
    _set_q_kind(quote, kind)
    _set_q_path(quote, path)
    _set_q_amount_in(quote, amount_in)
    _set_q_amount_out(quote, amount_out)
    _set_q_price_impact_bps(quote, price_impact_bps)
    _set_q_fee_bps(quote, fee_bps)
    _set_q_available(quote, available)
    _set_q_reason(quote, reason)
    _set_q_latency_ms(quote, latency_ms)
    _set_q_depth_out(quote, depth_out)
    _set_q_is_estimate(quote, is_estimate)
    _set_q_curve_impact_bps(quote, curve_impact_bps)
    _set_q_outlier(quote, outlier)
    return quote


@dataclass(frozen=True, slots=True)
class Route:
    """The chosen route and its figures."""

    strategy: Strategy
    legs: tuple[Leg, ...]
    amount_in: int
    amount_out: int
    min_amount_out: int
    price_impact_bps: Decimal | None
    savings_vs_best_single_bps: Decimal | None
    optimality_gap_bps: Decimal | None
    upper_bound_out: int | None
    expected_latency_ms: int
    bound_note: str | None = None  # how the bound was relaxed, when it was (see splitting.plan_split)


@dataclass(frozen=True, slots=True)
class RouteResult:
    """Everything a quote shows: every venue's quote and the chosen route."""

    token_in: str
    token_out: str
    amount_in: int
    slippage_bps: int
    reference_price: Decimal | None
    quotes: tuple[VenueQuote, ...]
    best_single: VenueQuote | None
    route: Route


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """The OPTIMAL_SPLIT route on its own: exact legs, their output and the bound on any split."""

    legs: tuple[Leg, ...]
    amount_out: int
    upper_bound_out: int | None
    bound_note: str | None = None  # how the bound was relaxed, when it was (see splitting.plan_split)


LeafKey = tuple[int, str, str]


def leaf_key(hop: int, venue: Venue | Leg) -> LeafKey:
    """Identifies one venue at one hop in one direction (legs and venues map to the same key)."""
    return (hop, venue.venue_id, venue.token_in)


def validate_order(token_in: str, token_out: str, amount_in: int, slippage_bps: int) -> None:
    """Refuse an order that can never be valid, naming the field (tokenOut, amountIn, slippageBps)."""
    get_token(token_in)
    get_token(token_out)
    if token_in == token_out:
        raise ValidationError(f"tokenIn and tokenOut are both {token_in}", field="tokenOut")
    if isinstance(amount_in, bool) or not isinstance(amount_in, int) or amount_in <= 0:
        raise ValidationError(
            f"amountIn must be a positive number of base units, got {amount_in!r}", field="amountIn"
        )
    if isinstance(slippage_bps, bool) or not isinstance(slippage_bps, int) or not 0 <= slippage_bps <= 5_000:
        raise ValidationError(
            f"slippageBps must be an integer from 0 to 5000, got {slippage_bps!r}",
            field="slippageBps",
        )
