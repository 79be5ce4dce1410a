"""PURE: firm quotes as stateless signed tokens, so the hot quote path writes nothing.

``GET /api/quote`` answers with a ``quoteId``: everything the quote promised (pair, amounts, which
side is exact, strategy, slippage, minAmountOut, the route's legs and the expiry), serialised as
compact JSON, deflated, base64url-encoded and signed with HMAC-SHA256 under the app's SECRET_KEY:

    quoteId = "q1." + b64url(zlib(json)) + "." + b64url(HMAC-SHA256(key, "q1." + b64url(...)))

``POST /api/orders/execute`` with that id verifies the signature (constant-time) and the expiry
and executes the quoted legs. Nothing is stored per quote: any web process with the same secret
can verify any quote, a quote cannot be altered without the key, and an expired quote is refused
with its figures. The key is derived from SECRET_KEY for this purpose only (``quote_key``), so a
quote signature can never stand in for a session cookie's or the other way round.

A quote can be executed more than once until it expires (each execution is an order with its
own hold, and an Idempotency-Key makes a retry safe); the price check at execution is what
protects the trader, not single use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from dataclasses import dataclass
from typing import Any

from errors import InvalidQuoteError
from execution_plan import PlannedLeg

__all__ = ["FirmQuote", "quote_key", "sign_quote", "verify_quote"]

_VERSION = "q1"
_MAX_JSON = 1 << 20  # a forged token cannot make us inflate more than this


@dataclass(frozen=True)
class FirmQuote:
    """What a quote promised: executing it runs ``legs`` if they still pay ``min_amount_out``."""

    token_in: str
    token_out: str
    exact_side: str  # "in": amount_in was given; "out": amount_out_wanted was
    amount_in: int  # the route's input (exact out: the least input found)
    amount_out: int  # what the route paid when quoted
    amount_out_wanted: int | None  # exact out only
    min_amount_out: int
    max_amount_in: int | None  # exact out only: amount_in plus slippage, rounded up
    strategy: str
    slippage_bps: int
    legs: tuple[PlannedLeg, ...]
    quoted_at: float  # epoch seconds
    expires_at: float


def quote_key(secret_key: str | bytes) -> bytes:
    """The HMAC key of firm quotes, derived from the app's SECRET_KEY (never the secret itself)."""
    secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(secret, b"solroute firm quotes v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _leg_row(leg: PlannedLeg) -> list[Any]:
    return [
        leg.venue_id,
        leg.venue,
        leg.kind,
        leg.token_in,
        leg.token_out,
        str(leg.amount_in),
        str(leg.amount_out),
        leg.hop,
        list(leg.path),
        leg.fee_bps,
    ]


def _leg_of(row: list[Any]) -> PlannedLeg:
    venue_id, venue, kind, token_in, token_out, amount_in, amount_out, hop, path, fee_bps = row
    return PlannedLeg(
        str(venue_id),
        str(venue),
        str(kind),
        str(token_in),
        str(token_out),
        int(amount_in),
        int(amount_out),
        int(hop),
        tuple(str(t) for t in path),
        None if fee_bps is None else str(fee_bps),
    )


def sign_quote(quote: FirmQuote, key: bytes) -> str:
    """The quoteId of ``quote`` under ``key`` (see ``quote_key``)."""
    body = {
        "i": quote.token_in,
        "o": quote.token_out,
        "x": quote.exact_side,
        "a": str(quote.amount_in),
        "b": str(quote.amount_out),
        "w": None if quote.amount_out_wanted is None else str(quote.amount_out_wanted),
        "m": str(quote.min_amount_out),
        "M": None if quote.max_amount_in is None else str(quote.max_amount_in),
        "s": quote.strategy,
        "p": quote.slippage_bps,
        "l": [_leg_row(leg) for leg in quote.legs],
        "t": quote.quoted_at,
        "e": quote.expires_at,
    }
    payload = _b64(zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 9))
    signed = f"{_VERSION}.{payload}"
    return f"{signed}.{_b64(hmac.new(key, signed.encode('ascii'), hashlib.sha256).digest())}"


def verify_quote(quote_id: str, key: bytes) -> FirmQuote:
    """The quote a quoteId carries, if this key signed it; InvalidQuoteError (field quoteId) if not.

    The expiry is the caller's to check (it has the clock): ``FirmQuote.expires_at``.
    """
    parts = quote_id.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise InvalidQuoteError("quoteId is not a quote of this server", field="quoteId")
    signed = f"{parts[0]}.{parts[1]}"
    try:
        signature = _unb64(parts[2])
        expected = hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise InvalidQuoteError("quoteId is not a quote of this server", field="quoteId") from exc
    if not hmac.compare_digest(signature, expected):
        raise InvalidQuoteError(
            "quoteId's signature does not match: it was altered or not issued by this server",
            field="quoteId",
        )
    try:  # signed by us, so well-formed unless the format changed under the same version
        inflater = zlib.decompressobj()
        text = inflater.decompress(_unb64(parts[1]), _MAX_JSON)
        body = json.loads(text)
        return FirmQuote(
            token_in=str(body["i"]),
            token_out=str(body["o"]),
            exact_side=str(body["x"]),
            amount_in=int(body["a"]),
            amount_out=int(body["b"]),
            amount_out_wanted=None if body["w"] is None else int(body["w"]),
            min_amount_out=int(body["m"]),
            max_amount_in=None if body["M"] is None else int(body["M"]),
            strategy=str(body["s"]),
            slippage_bps=int(body["p"]),
            legs=tuple(_leg_of(row) for row in body["l"]),
            quoted_at=float(body["t"]),
            expires_at=float(body["e"]),
        )
    except (zlib.error, binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidQuoteError("quoteId could not be read", field="quoteId") from exc
