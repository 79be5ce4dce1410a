"""The web quotes' venue snapshot: fresh within its TTL, refreshed behind the caller's back up to
twice that, read by the caller beyond (never an old snapshot for an occasional request)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services import SnapshotCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Reads:
    """The database read stand-in: returns ("pools", n) for the n-th read, or raises when told."""

    def __init__(self) -> None:
        self.count = 0
        self.fail = False

    def __call__(self) -> Any:
        if self.fail:
            raise RuntimeError("database down")
        self.count += 1
        return (("pools", self.count), ())


class Background:
    """Runs refreshes when the test says so, as the app's thread would later."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def __call__(self, job: Callable[[], None]) -> None:
        self.jobs.append(job)

    def run(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()


@pytest.fixture
def parts() -> tuple[SnapshotCache, Clock, Reads, Background]:
    clock, reads, background = Clock(), Reads(), Background()
    return SnapshotCache(reads, 0.1, run_read=background, clock=clock), clock, reads, background


def test_the_first_call_reads_and_calls_within_the_ttl_share_that_read(parts: Any) -> None:
    cache, clock, reads, background = parts
    assert cache()[0] == ("pools", 1)
    clock.now += 0.099
    assert cache()[0] == ("pools", 1)
    assert reads.count == 1 and background.jobs == []


def test_a_due_snapshot_is_served_while_one_background_read_replaces_it(parts: Any) -> None:
    cache, clock, reads, background = parts
    cache()
    clock.now += 0.15
    assert cache()[0] == ("pools", 1)  # served at once, not waited for
    assert cache()[0] == ("pools", 1)
    assert len(background.jobs) == 1 and reads.count == 1  # one refresh, however many callers
    background.run()
    assert cache()[0] == ("pools", 2)
    assert background.jobs == []


def test_a_snapshot_older_than_twice_the_ttl_is_read_by_the_caller(parts: Any) -> None:
    cache, clock, reads, background = parts
    cache()
    clock.now += 0.25
    assert cache()[0] == ("pools", 2)
    assert background.jobs == [] and reads.count == 2


def test_a_failed_background_read_keeps_the_snapshot_and_the_next_call_tries_again(parts: Any) -> None:
    cache, clock, reads, background = parts
    cache()
    clock.now += 0.15
    reads.fail = True
    cache()
    background.run()  # logs the failure; nothing raised to anyone
    reads.fail = False
    assert cache()[0] == ("pools", 1)
    assert len(background.jobs) == 1  # a new refresh was started
    background.run()
    assert cache()[0] == ("pools", 2)
