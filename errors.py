"""One error hierarchy for Solroute; views map these to HTTP in one place.

Subclasses also inherit ``ValueError`` or ``LookupError`` where that is what they are,
so plain-Python callers can catch them idiomatically.
"""

from __future__ import annotations


class SolrouteError(Exception):
    """Root of every error Solroute raises on purpose."""

    code = "solroute_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(SolrouteError, ValueError):
    """Input that can never be valid (bad amount, unknown strategy, ...)."""

    code = "invalid_input"


class UnknownTokenError(SolrouteError, LookupError):
    """A token symbol or mint that the registry does not know."""

    code = "unknown_token"


class AmountPrecisionError(ValidationError):
    """An amount with more decimal places than its token has."""

    code = "too_precise"


class InsufficientLiquidityError(SolrouteError, ValueError):
    """A trade that a venue cannot fill (over its reserves, limits or inventory)."""

    code = "insufficient_liquidity"


class NoRouteError(SolrouteError, LookupError):
    """No venue or path can fill the requested trade."""

    code = "no_route"


class VenueUnavailableError(SolrouteError):
    """A venue that cannot quote right now (offline, circuit open, rate limited)."""

    code = "venue_unavailable"


class PriceUnavailableError(SolrouteError, LookupError):
    """No price source could price a token."""

    code = "price_unavailable"


class SlippageExceededError(SolrouteError):
    """Execution would pay out less than the order's minimum: nothing moves."""

    code = "slippage_exceeded"


class InsufficientBalanceError(SolrouteError, ValueError):
    """The account does not hold (or no longer holds) what the order spends."""

    code = "insufficient_balance"


class OrderConflictError(SolrouteError):
    """The Idempotency-Key was used before with a different request."""

    code = "idempotency_conflict"


class TransientError(SolrouteError):
    """A fault worth retrying (timeouts, lock contention); never a business rejection."""

    code = "transient"
