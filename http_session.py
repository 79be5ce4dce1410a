"""A ``requests.Session`` that is closed by whoever created it (shared by the outside-API clients)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import requests

__all__ = ["SessionOwner"]


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
