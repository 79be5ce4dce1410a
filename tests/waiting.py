"""Waiting in tests: on a condition, with a generous deadline, never on a window of the clock.

The suite must pass while another process saturates every core, where anything may take many
times its usual time. So a test waits for the state it needs (``wait_until``, ``wait_final``),
up to ``WAIT_S``, and when that never comes fails with a message naming what it waited for and
what it last saw. A test that asserts something did *not* happen asserts it after a positive sign
that the system has moved past the point where it would have, not after a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

__all__ = ["FINAL", "WAIT_S", "wait_final", "wait_until"]

T = TypeVar("T")

# Long enough for a saturated 2-core machine; a test that passes only waits as long as it must.
WAIT_S = 120.0
FINAL = ("confirmed", "failed")


def wait_until(
    check: Callable[[], T], what: str, timeout_s: float = WAIT_S, *, interval_s: float = 0.02
) -> T:
    """Call ``check`` until it returns something truthy and return that; AssertionError naming
    ``what`` and the last value after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {value!r})")
        time.sleep(interval_s)


def wait_final(
    client: Any, order_id: str, key: str | dict[str, str], *, timeout_s: float = WAIT_S
) -> dict[str, Any]:
    """``GET /api/orders/<order_id>`` until the order is confirmed or failed, and its detail then.

    ``client`` is a Flask test client or the base URL of a running server; ``key`` an API key or
    the request's headers. On timeout the AssertionError gives the order's status and events.
    """
    headers = {"X-API-Key": key} if isinstance(key, str) else key
    last: dict[str, Any] = {}

    def read() -> dict[str, Any]:
        if isinstance(client, str):
            response = requests.get(f"{client}/api/orders/{order_id}", headers=headers, timeout=WAIT_S)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
        else:
            response = client.get(f"/api/orders/{order_id}", headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)
            body = response.get_json()
        return body

    def final() -> dict[str, Any] | None:
        last.clear()
        last.update(read())
        return last if last["status"] in FINAL else None

    try:
        return dict(wait_until(final, f"order {order_id} to be final", timeout_s, interval_s=0.05))
    except AssertionError:
        events = [e["status"] for e in last.get("events", [])]
        raise AssertionError(
            f"order {order_id} not final after {timeout_s} s: it is {last.get('status')!r} after {events}"
        ) from None
