"""Per-venue rate limits: one limit shared by every process (Redis) or kept in one process.

Both limiters implement GCRA (the generic cell rate algorithm) with a burst of one: a venue with
a limit of r per second admits a call every 1/r seconds. A caller willing to wait reserves the
next free slot and sleeps until it, so concurrent callers get distinct slots in turn. ``admit``
waits at most ``max_wait_s`` and returns 0.0 once admitted, else the seconds until the next slot;
``acquire`` says the same as a bool. A venue without a configured limit is always admitted.

Jupiter's calls (quotes' background curves and execution alike) pass one of these inside
``JupiterClient``, under the venue name ``"jupiter"``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = ["LocalRateLimiter", "RateLimiter", "RedisRateLimiter"]


class RateLimiter(Protocol):
    @property
    def limits(self) -> Mapping[str, float]: ...

    def admit(self, venue: str, max_wait_s: float) -> float: ...

    def acquire(self, venue: str, max_wait_s: float) -> bool: ...


class LocalRateLimiter:
    """GCRA in one process (the in-process executor's threads share it)."""

    def __init__(
        self,
        limits: Mapping[str, float],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = {k.lower(): v for k, v in limits.items() if v > 0}
        self._tat: dict[str, float] = {}  # per venue: theoretical arrival time of the next call
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def admit(self, venue: str, max_wait_s: float) -> float:
        """Take a slot for ``venue``, waiting up to ``max_wait_s``: 0.0, else seconds to the next slot."""
        venue = venue.lower()
        if venue not in self.limits:
            return 0.0
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(venue, now), now)
            wait_s = tat - now
            if wait_s > max_wait_s:
                return wait_s
            self._tat[venue] = tat + 1.0 / self.limits[venue]
        if wait_s > 0:
            self._sleep(wait_s)
        return 0.0

    def acquire(self, venue: str, max_wait_s: float) -> bool:
        """Take a slot for ``venue``, waiting up to ``max_wait_s``; False if none was free in time."""
        return self.admit(venue, max_wait_s) == 0.0


# KEYS[1]: the venue's key. ARGV[1]: interval, ARGV[2]: longest wait, both in microseconds.
# Returns {1, wait} when a slot ``wait`` microseconds from now is reserved, {0, wait} when none is
# free within the longest wait (nothing reserved).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return {0, wait} end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return {1, wait}
"""


class RedisRateLimiter:
    """GCRA in Redis: every web process and worker shares each venue's limit."""

    def __init__(
        self, redis_client: object, limits: Mapping[str, float], prefix: str = "solroute:ratelimit:"
    ) -> None:
        self.limits = {k.lower(): v for k, v in limits.items() if v > 0}
        self._redis = redis_client
        self._script = redis_client.register_script(_GCRA)  # type: ignore[attr-defined]
        self._prefix = prefix

    def admit(self, venue: str, max_wait_s: float) -> float:
        """Take a slot for ``venue``, waiting up to ``max_wait_s``: 0.0, else seconds to the next slot."""
        venue = venue.lower()
        if venue not in self.limits:
            return 0.0
        interval_us = int(1_000_000 / self.limits[venue])
        max_wait_us = int(max_wait_s * 1_000_000) if math.isfinite(max_wait_s) else 2**52
        admitted, wait_us = self._script(keys=[self._prefix + venue], args=[interval_us, max_wait_us])
        wait_s = int(wait_us) / 1_000_000
        if not int(admitted):
            return wait_s
        if wait_s > 0:
            time.sleep(wait_s)
        return 0.0

    def acquire(self, venue: str, max_wait_s: float) -> bool:
        """Take a slot for ``venue``, waiting up to ``max_wait_s``; False if none was free in time."""
        return self.admit(venue, max_wait_s) == 0.0
