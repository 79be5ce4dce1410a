"""What the outside-API clients share: a ``requests.Session`` closed by whoever created it, and
the reading of HTTP dates and ``Retry-After`` headers."""

from __future__ import annotations

import math
import re
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Final, Self

import requests

__all__ = ["SessionOwner", "http_date", "retry_after_s"]

_SECONDS_RE: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def http_date(value: str | None) -> float | None:
    """An HTTP-date (``Date``, ``Retry-After``) as epoch seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None when absent or unreadable.

    The header is delay-seconds or an HTTP-date (RFC 9110 section 10.2.3); a date is measured
    from ``now`` (epoch seconds: ours, or better the server's ``Date``) and one in the past means 0.
    """
    if value is None:
        return None
    text = value.strip()
    if _SECONDS_RE.fullmatch(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    moment = http_date(text)
    return None if moment is None else max(0.0, moment - now)


class SessionOwner:
    """Uses the given session, or creates one and closes it on ``close()`` / leaving a ``with``."""

    def __init__(self, session: requests.Session | None) -> None:
        self._owns_session = session is None
        self._session = requests.Session() if session is None else session

    def close(self) -> None:
        """Close the HTTP session if this object created it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
