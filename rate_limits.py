"""Per-venue rate limits at execution: one limit shared by every worker (Redis) or one process.

Both limiters implement GCRA (the generic cell rate algorithm) with a burst of one: a venue with
a limit of r per second admits a call every 1/r seconds. ``acquire`` waits at most ``max_wait_s``
for a slot and says whether it got one; a venue without a configured limit is always admitted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = ["LocalRateLimiter", "RateLimiter", "RedisRateLimiter"]


class RateLimiter(Protocol):
    @property
    def limits(self) -> Mapping[str, float]: ...

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
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def _try(self, venue: str) -> float:
        """0 if admitted now, else the seconds until the next slot."""
        interval = 1.0 / self.limits[venue]
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(venue, now), now)  # theoretical arrival time of the next call
            if tat > now:
                return tat - now
            self._tat[venue] = tat + interval
            return 0.0

    def acquire(self, venue: str, max_wait_s: float) -> bool:
        """Take a slot for ``venue``, waiting up to ``max_wait_s``."""
        venue = venue.lower()
        if venue not in self.limits:
            return True
        deadline = self._clock() + max_wait_s
        while True:
            wait = self._try(venue)
            if wait == 0.0:
                return True
            if self._clock() + wait > deadline:
                return False
            self._sleep(wait)


# KEYS[1]: the venue's key. ARGV[1]: interval in microseconds. Returns microseconds to wait (0: admitted).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat > now then return tat - now end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(interval / 1000) + 1000)
return 0
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

    def acquire(self, venue: str, max_wait_s: float) -> bool:
        """Take a slot for ``venue``, waiting up to ``max_wait_s``."""
        venue = venue.lower()
        if venue not in self.limits:
            return True
        interval_us = int(1_000_000 / self.limits[venue])
        deadline = time.monotonic() + max_wait_s
        while True:
            wait = int(self._script(keys=[self._prefix + venue], args=[interval_us])) / 1_000_000
            if wait == 0:
                return True
            if time.monotonic() + wait > deadline:
                return False
            time.sleep(wait)
