"""One error hierarchy for Solroute; views map these to HTTP in one place.

Subclasses also inherit ``ValueError`` or ``LookupError`` where that is what they are,
so plain-Python callers can catch them idiomatically.
"""

from __future__ import annotations

from collections.abc import Mapping


class SolrouteError(Exception):
    """Root of every error Solroute raises on purpose.

    ``details``: the figures behind the message as strings (amounts in token units, times in ISO
    8601), for clients to read without parsing the message; the API sends them as ``details``.
    """

    code = "solroute_error"

    def __init__(
        self, message: str, *, field: str | None = None, details: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = dict(details) if details else None


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


class MinAmountOutUnreachableError(SolrouteError):
    """A minAmountOut that the best route now cannot pay: refused before anything is held."""

    code = "min_amount_out_unreachable"


class InvalidQuoteError(ValidationError):
    """A quoteId that this server did not sign (tampered, truncated or from another secret)."""

    code = "invalid_quote"


class QuoteExpiredError(SolrouteError):
    """A firm quote used after its expiresAt."""

    code = "quote_expired"


class PriceMovedError(SolrouteError):
    """A firm quote's route no longer pays its minAmountOut on the venues now."""

    code = "price_moved"


class RiskLimitError(SolrouteError):
    """An order that would break one of the account's risk limits (``field``: the limit's name)."""

    code = "risk_limit"


class TradingHaltedError(SolrouteError):
    """New orders are refused while the operator has halted trading."""

    code = "trading_halted"


class TransientError(SolrouteError):
    """A fault worth retrying (timeouts, lock contention); never a business rejection."""

    code = "transient"


# --- outside APIs (Jupiter, price sources) ---


class JupiterError(SolrouteError):
    """Root of every error the Jupiter client raises."""

    is_transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        is_transient: bool | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.error_code = error_code
        if is_transient is not None:
            self.is_transient = is_transient


class JupiterNoRouteError(JupiterError, NoRouteError):
    """Jupiter answered 400: it found no route that fills the trade."""


class JupiterTokenNotTradableError(JupiterError, ValidationError):
    """Jupiter answered 400 TOKEN_NOT_TRADABLE: one of the mints cannot be traded."""


class JupiterBadRequestError(JupiterError, ValidationError):
    """Jupiter answered 400 for any other reason (circular trade, unknown code, odd body)."""


class JupiterUnavailableError(JupiterError, VenueUnavailableError):
    """Jupiter cannot quote right now: connection error, 5xx or an unexpected status."""

    is_transient = True


class JupiterTimeoutError(JupiterUnavailableError):
    """Jupiter did not connect or answer within ``timeout_s``."""


class JupiterBadResponseError(JupiterUnavailableError):
    """Jupiter answered 200 with a body that is not a well-formed quote."""


class JupiterCircuitOpenError(JupiterUnavailableError):
    """The circuit breaker is open; raised without any network call."""


class JupiterRateLimitedError(JupiterError, VenueUnavailableError):
    """Jupiter (429) or the client-side limiter refused the call; retry after ``retry_after_s``."""

    is_transient = True

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float,
        status: int | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message, status=status, error_code=error_code)
        self.retry_after_s = retry_after_s


class PriceSourceError(SolrouteError):
    """A price source failed or throttled us; PriceService falls through to the next source."""

    code = "price_source_error"

    def __init__(
        self,
        message: str,
        *,
        source: str,
        is_throttled: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.is_throttled = is_throttled
        self.retry_after_s = retry_after_s
