"""Firm quotes: a quoteId from GET /api/quote executes its quoted route, or fails with the figures
(expired, tampered, contradicted, price moved), on both databases."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from execution_plan import PlannedLeg
from firm_quotes import FirmQuote, quote_key, sign_quote, verify_quote
from tests.stack import Stack, book_problems, kill_process_group, running_stack, stack_env
from tests.test_exact_out import balances, units
from tests.waiting import WAIT_S, wait_final

SOL_USDC = {"tokenIn": "SOL", "tokenOut": "USDC"}


def get_quote(client: Any, **params: Any) -> dict[str, Any]:
    r = client.get("/api/quote", query_string={**SOL_USDC, **params})
    assert r.status_code == 200, r.get_json()
    body: dict[str, Any] = r.get_json()
    return body


def submit(client: Any, key: str, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
    headers = {"X-API-Key": key}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return client.post("/api/orders/execute", json=body, headers=headers)


def orders_total(client: Any, key: str) -> int:
    return int(client.get("/api/orders", headers={"X-API-Key": key}).get_json()["total"])


# --- the token on its own ----------------------------------------------------------------------


def a_quote(**changes: Any) -> FirmQuote:
    leg = PlannedLeg("p1", "Orca", "amm", "SOL", "USDC", 10**9, 149 * 10**6, 0, ("SOL", "USDC"), "25")
    values: dict[str, Any] = dict(
        token_in="SOL",
        token_out="USDC",
        exact_side="in",
        amount_in=10**9,
        amount_out=149 * 10**6,
        amount_out_wanted=None,
        min_amount_out=148 * 10**6,
        max_amount_in=None,
        strategy="OPTIMAL_SPLIT",
        slippage_bps=50,
        legs=(leg,),
        quoted_at=1_800_000_000.0,
        expires_at=1_800_000_015.0,
    )
    return FirmQuote(**(values | changes))


def test_a_signed_quote_reads_back_exactly() -> None:
    key = quote_key("secret")
    for quote in (
        a_quote(),
        a_quote(exact_side="out", amount_out_wanted=149 * 10**6, max_amount_in=10**9 + 1),
    ):
        assert verify_quote(sign_quote(quote, key), key) == quote


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


@pytest.mark.parametrize("tamper", ["payload", "signature", "other key", "garbage", "version"])
def test_a_quote_altered_or_not_ours_is_refused(tamper: str) -> None:
    key = quote_key("secret")
    token = sign_quote(a_quote(), key)
    version, payload, signature = token.split(".")
    if tamper == "payload":  # e.g. a better minimum written into the quote
        body = base64.urlsafe_b64encode(b"x" + base64.urlsafe_b64decode(payload + "==")).decode().rstrip("=")
        token = f"{version}.{body}.{signature}"
    elif tamper == "signature":
        token = f"{version}.{payload}.{_flip(signature, 3)}"
    elif tamper == "other key":
        token = sign_quote(a_quote(), quote_key("another secret"))
    elif tamper == "garbage":
        token = "not-a-quote"
    else:
        token = f"q9.{payload}.{signature}"
    with pytest.raises(ValueError) as caught:
        verify_quote(token, key)
    assert getattr(caught.value, "field", None) == "quoteId"


# --- through the API -----------------------------------------------------------------------------


def test_a_quote_is_firm_for_quote_ttl_s(app: Any, client: Any) -> None:
    body = get_quote(client, amountIn="3")
    from datetime import datetime

    quoted = datetime.fromisoformat(body["quotedAt"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert (expires - quoted).total_seconds() == app.config["QUOTE_TTL_S"] == 15
    firm = verify_quote(body["quoteId"], quote_key(app.config["SECRET_KEY"]))
    assert firm.amount_in == units("SOL", "3")
    assert firm.min_amount_out == units("USDC", body["route"]["minAmountOut"])
    assert [(leg.venue_id, leg.amount_in) for leg in firm.legs] == [
        (leg["venueId"], units(leg["tokenIn"], leg["amountIn"])) for leg in body["route"]["legs"]
    ]


def test_a_firm_quote_executes_its_quoted_route(client: Any, api_key: str) -> None:
    body = get_quote(client, amountIn="25")
    before = balances(client, api_key)
    r = submit(client, api_key, {**SOL_USDC, "quoteId": body["quoteId"]})
    assert r.status_code == 202, r.get_json()
    order = wait_final(client, r.get_json()["orderId"], api_key)
    assert order["status"] == "confirmed", order
    assert order["amountIn"] == "25" and order["minAmountOut"] == body["route"]["minAmountOut"]
    quoted_legs = sorted((leg["venueId"], leg["amountIn"]) for leg in body["route"]["legs"])
    assert sorted((leg["venueId"], leg["amountIn"]) for leg in order["legs"]) == quoted_legs
    received = units("USDC", order["amountOut"])
    assert received == units("USDC", body["route"]["amountOut"])  # nothing moved in between
    after = balances(client, api_key)
    assert after["SOL"]["amount"] == before["SOL"]["amount"] - units("SOL", "25")
    assert after["USDC"]["amount"] == before["USDC"]["amount"] + received
    assert after["SOL"]["reserved"] == before["SOL"]["reserved"]


def test_an_exact_out_firm_quote_buys_at_least_its_amount(client: Any, api_key: str) -> None:
    body = get_quote(client, amountOut="2000")
    r = submit(client, api_key, {**SOL_USDC, "amountOut": "2000", "quoteId": body["quoteId"]})
    assert r.status_code == 202, r.get_json()
    order = wait_final(client, r.get_json()["orderId"], api_key)
    assert order["status"] == "confirmed", order
    assert order["exactSide"] == "out" and units("USDC", order["amountOut"]) >= units("USDC", "2000")
    assert order["amountIn"] == body["amountIn"] == order["filledAmountIn"]


def test_the_same_idempotency_key_replays_the_firm_order(client: Any, api_key: str) -> None:
    body = {**SOL_USDC, "quoteId": get_quote(client, amountIn="1")["quoteId"]}
    first = submit(client, api_key, body, "firm-1")
    again = submit(client, api_key, body, "firm-1")
    assert first.status_code == 202 and again.status_code == 200
    assert again.get_json()["orderId"] == first.get_json()["orderId"]


def test_an_expired_quote_is_refused_with_its_figures(app: Any, client: Any, api_key: str) -> None:
    app.config["QUOTE_TTL_S"] = -1.0  # a quote that expired a second before it was made
    quote_id = get_quote(client, amountIn="1")["quoteId"]
    total, before = orders_total(client, api_key), balances(client, api_key)
    r = submit(client, api_key, {**SOL_USDC, "quoteId": quote_id})
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "quote_expired" and error["field"] == "quoteId"
    assert (
        set(error["details"]) == {"expiredAt", "now"}
        and error["details"]["expiredAt"] < error["details"]["now"]
    )
    assert error["details"]["expiredAt"] in error["message"]
    assert orders_total(client, api_key) == total and balances(client, api_key) == before


@pytest.mark.parametrize("how", ["flipped", "truncated", "other secret", "unknown"])
def test_a_tampered_or_unknown_quote_id_is_refused(app: Any, client: Any, api_key: str, how: str) -> None:
    quote_id = get_quote(client, amountIn="1")["quoteId"]
    if how == "flipped":
        quote_id = _flip(quote_id, len(quote_id) // 2)
    elif how == "truncated":
        quote_id = quote_id[:-5]
    elif how == "other secret":
        app.config["SECRET_KEY"] = "rotated-secret"
    else:
        quote_id = "q1.abc.def"
    total = orders_total(client, api_key)
    r = submit(client, api_key, {**SOL_USDC, "quoteId": quote_id})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] == "invalid_quote" and r.get_json()["error"]["field"] == "quoteId"
    assert orders_total(client, api_key) == total


@pytest.mark.parametrize(("extra", "field"), [
    ({"amountIn": "2"}, "amountIn"),
    ({"amountOut": "150"}, "amountOut"),
    ({"slippageBps": 10}, "slippageBps"),
    ({"routingStrategy": "BEST_PRICE"}, "routingStrategy"),
    ({"minAmountOut": "1"}, "minAmountOut"),
    ({"tokenOut": "USDT"}, "tokenIn"),
])  # fmt: skip
def test_body_fields_that_contradict_the_quote_are_refused(
    client: Any, api_key: str, extra: dict[str, Any], field: str
) -> None:
    quote_id = get_quote(client, amountIn="1")["quoteId"]
    r = submit(client, api_key, {**SOL_USDC, "quoteId": quote_id, **extra})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] == "quote_mismatch" and r.get_json()["error"]["field"] == field


def test_fields_that_agree_with_the_quote_are_accepted(client: Any, api_key: str) -> None:
    body = get_quote(client, amountIn="1", slippageBps=30)
    r = submit(
        client,
        api_key,
        {
            **SOL_USDC,
            "quoteId": body["quoteId"],
            "amountIn": "1",
            "slippageBps": 30,
            "routingStrategy": "optimal_split",
        },
    )
    assert r.status_code == 202, r.get_json()


def test_a_firm_quote_fails_with_price_moved_when_the_pools_moved(client: Any, api_key: str) -> None:
    # No slippage: the quote's minimum is its output. Executing the quote once trades against exactly
    # its pools, so a second execution of the same quote finds them moved (a quote is not
    # single-use: the price check at execution is what protects the trader).
    quoted = get_quote(client, amountIn="10", slippageBps=0)
    body = {**SOL_USDC, "quoteId": quoted["quoteId"]}
    first = wait_final(client, submit(client, api_key, body).get_json()["orderId"], api_key)
    assert first["status"] == "confirmed" and first["amountOut"] == quoted["route"]["amountOut"], first
    before = balances(client, api_key)
    r = submit(client, api_key, body)
    assert r.status_code == 202, r.get_json()
    order = wait_final(client, r.get_json()["orderId"], api_key)
    assert order["status"] == "failed" and order["error"]["code"] == "price_moved", order
    message = order["error"]["message"]
    assert f"quoted {quoted['route']['amountOut']} USDC" in message, message
    assert f"minAmountOut of {quoted['route']['minAmountOut']} USDC" in message, message
    assert "bps below the quote at submission" in message and "nothing was traded" in message, message
    assert balances(client, api_key) == before  # the hold released, nothing traded


# --- with RQ workers ------------------------------------------------------------------------------


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Stack]:
    """The processes of one test (gunicorn and an RQ worker); their logs are printed if it fails."""
    runner = running_stack(request, tmp_path / "logs")
    started = next(runner)
    try:
        yield started
    finally:
        next(runner, None)
        for proc in started.procs:
            if proc.popen.poll() is not None:
                kill_process_group(proc)


def test_exact_out_and_firm_quote_orders_execute_on_rq_workers_and_the_books_reconcile(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    from tests.test_workers import seed_database

    db = seed_database(pg_database, {})
    # Quotes read the venues afresh (VENUE_CACHE_S=0): a zero-slippage quote from a snapshot taken
    # before the previous order settled would not be payable even once.
    env = stack_env(db.url, redis_url, redis_namespace, VENUE_CACHE_S="0")
    base = stack.start_server(env)
    stack.start_worker(env)
    headers = {"X-API-Key": db.keys["demo"]}

    def post(body: dict[str, Any]) -> str:
        r = requests.post(
            f"{base}/api/orders/execute", json={**SOL_USDC, **body}, headers=headers, timeout=WAIT_S
        )
        assert r.status_code == 202, r.text
        return str(r.json()["orderId"])

    def quoted(**params: Any) -> dict[str, Any]:
        r = requests.get(f"{base}/api/quote", params={**SOL_USDC, **params}, timeout=WAIT_S)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    exact = wait_final(base, post({"amountOut": "2500", "slippageBps": 100}), headers)
    assert exact["status"] == "confirmed", exact
    assert units("USDC", exact["amountOut"]) >= units("USDC", "2500")
    assert units("SOL", exact["filledAmountIn"]) < units("SOL", exact["amountIn"])

    firm = wait_final(base, post({"quoteId": quoted(amountIn="12")["quoteId"]}), headers)
    assert firm["status"] == "confirmed" and firm["amountIn"] == "12", firm

    # No slippage: the first execution of the quote moves exactly its pools, so the second, of the
    # same quote, no longer gets its minimum (a quote is not single-use; the price check protects).
    stale = quoted(amountIn="5", slippageBps=0)
    assert wait_final(base, post({"quoteId": stale["quoteId"]}), headers)["status"] == "confirmed"
    moved = wait_final(base, post({"quoteId": stale["quoteId"]}), headers)
    assert moved["status"] == "failed" and moved["error"]["code"] == "price_moved", moved

    refused = requests.post(
        f"{base}/api/orders/execute",
        json={**SOL_USDC, "amountIn": "1", "minAmountOut": "1000"},
        headers=headers,
        timeout=WAIT_S,
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "min_amount_out_unreachable"
    assert book_problems(db.url, db.seed) == []
