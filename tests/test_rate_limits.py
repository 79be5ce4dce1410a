"""Per-venue rate limits: GCRA with a burst of one, in one process and shared through Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from rate_limits import LocalRateLimiter, RedisRateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_venue_without_a_limit_is_always_admitted() -> None:
    limiter = LocalRateLimiter({"jupiter": 1.0})
    assert all(limiter.acquire("Orca", 0.0) for _ in range(100))


def test_one_call_per_interval_and_no_burst() -> None:
    t = FakeTime()
    limiter = LocalRateLimiter({"Jupiter": 0.5}, clock=t.clock, sleep=t.sleep)
    assert limiter.acquire("jupiter", 0.0) is True
    assert limiter.acquire("JUPITER", 0.0) is False  # the next slot is 2 s away
    t.now += 1.0
    assert limiter.acquire("jupiter", 0.5) is False  # 1 s away, only 0.5 s allowed
    assert limiter.acquire("jupiter", 1.0) is True
    assert t.slept == [pytest.approx(1.0)]
    t.now += 10.0  # idle time does not bank a burst
    assert limiter.acquire("jupiter", 0.0) is True
    assert limiter.acquire("jupiter", 0.0) is False


@pytest.fixture
def redis_client(redis_url: str, redis_namespace: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_the_redis_limit_is_shared_by_every_process(redis_client: redis.Redis, redis_namespace: str) -> None:
    prefix = f"{redis_namespace}:ratelimit:"
    a = RedisRateLimiter(redis_client, {"jupiter": 2.0}, prefix=prefix)
    b = RedisRateLimiter(redis_client, {"jupiter": 2.0}, prefix=prefix)
    assert a.acquire("jupiter", 0.0) is True
    assert b.acquire("jupiter", 0.0) is False  # a's call used the shared slot
    started = time.monotonic()
    assert b.acquire("jupiter", 2.0) is True
    assert time.monotonic() - started >= 0.3  # it waited for the next slot (0.5 s after a's)
    assert RedisRateLimiter(redis_client, {}, prefix=prefix).acquire("jupiter", 0.0) is True


def test_admit_says_how_long_until_the_next_slot_and_waiters_take_slots_in_turn() -> None:
    t = FakeTime()
    limiter = LocalRateLimiter({"jupiter": 2.0}, clock=t.clock, sleep=t.sleep)
    assert limiter.admit("jupiter", 0.0) == 0.0
    assert limiter.admit("jupiter", 0.2) == pytest.approx(0.5)  # refused: nothing reserved
    assert limiter.admit("jupiter", 1.0) == 0.0  # reserved the slot 0.5 s away and slept until it
    assert t.slept == [pytest.approx(0.5)]
    assert limiter.admit("jupiter", 0.0) == pytest.approx(0.5)


def test_redis_admit_reserves_the_next_slot_for_a_caller_that_waits(
    redis_client: redis.Redis, redis_namespace: str
) -> None:
    limiter = RedisRateLimiter(redis_client, {"jupiter": 4.0}, prefix=f"{redis_namespace}:ratelimit:")
    assert limiter.admit("jupiter", 0.0) == 0.0
    assert 0.0 < limiter.admit("jupiter", 0.0) <= 0.25  # refused, with the time to the next slot
    started = time.monotonic()
    assert limiter.admit("jupiter", 1.0) == 0.0
    assert limiter.admit("jupiter", 1.0) == 0.0  # the slot after the one the previous call reserved
    assert time.monotonic() - started >= 0.4
