"""Tests for the Jupiter client, run against the local double only (never the internet)."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from errors import NoRouteError, SolrouteError, ValidationError, VenueUnavailableError
from jupiter_api import (
    DEFAULT_BASE_URL,
    DEFAULT_RETRY_AFTER_S,
    BreakerState,
    JupiterBadRequestError,
    JupiterBadResponseError,
    JupiterCircuitOpenError,
    JupiterClient,
    JupiterError,
    JupiterNoRouteError,
    JupiterQuote,
    JupiterRateLimitedError,
    JupiterTimeoutError,
    JupiterTokenNotTradableError,
    JupiterUnavailableError,
)
from rate_limits import LocalRateLimiter
from tests.jupiter_double import (
    EXAMPLE_QUOTE,
    SOL_MINT,
    USDC_MINT,
    USDT_MINT,
    JupiterDouble,
    Ok,
    closed_port_url,
    http_date,
)
from tests.waiting import WAIT_S

ONE_SOL = 10**9
MakeClient = Callable[..., JupiterClient]


class FakeClock:
    """A monotonic clock the test moves by hand; ``sleep`` records and advances it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests honours proxy variables even for 127.0.0.1; the double must be reached directly.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def jupiter() -> Iterator[JupiterDouble]:
    with JupiterDouble() as double:
        yield double


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(jupiter: JupiterDouble, clock: FakeClock) -> Iterator[MakeClient]:
    """Build clients on the double with a fake clock and no limiter unless overridden."""
    clients: list[JupiterClient] = []

    def make(**overrides: Any) -> JupiterClient:
        options: dict[str, Any] = {
            "base_url": jupiter.base_url,
            "max_requests_per_s": None,
            "timeout_s": WAIT_S,  # a loaded machine's answer from the double may take seconds
            "clock": clock,
            "sleep": clock.sleep,
        }
        options.update(overrides)
        client = JupiterClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> JupiterClient:
    return make_client()


# --------------------------------------------------------------------------- success


def test_quote_parses_string_amounts_into_ints(jupiter: JupiterDouble, client: JupiterClient) -> None:
    quote = client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    expected = jupiter.quote_body(SOL_MINT, USDC_MINT, ONE_SOL)
    assert quote.in_amount == ONE_SOL
    assert quote.out_amount == int(str(expected["outAmount"]))
    assert quote.other_amount_threshold == quote.out_amount * 9_950 // 10_000
    assert (quote.input_mint, quote.output_mint) == (SOL_MINT, USDC_MINT)
    assert (quote.swap_mode, quote.slippage_bps) == ("ExactIn", 50)
    assert quote.price_impact_pct == Decimal(str(expected["priceImpactPct"]))
    assert isinstance(quote.context_slot, int)
    assert isinstance(quote.time_taken_s, float)
    (step,) = quote.route_plan
    assert (step.percent, step.bps) == (100, 10_000)
    assert step.swap_info.fee_amount == ONE_SOL * 25 // 10_000
    assert step.swap_info.fee_mint == SOL_MINT
    assert quote.labels == ("Raydium",)


def test_split_route_has_an_absent_fee_and_a_null_percent(
    jupiter: JupiterDouble, client: JupiterClient
) -> None:
    jupiter.ok(route="split")

    quote = client.quote(SOL_MINT, USDC_MINT, 5 * ONE_SOL)

    first, second = quote.route_plan
    assert (first.percent, first.bps) == (70, 7_000)
    assert (second.percent, second.bps) == (None, 3_000)
    assert first.swap_info.fee_amount is not None
    assert second.swap_info.fee_amount is None
    assert second.swap_info.fee_mint is None
    assert first.swap_info.in_amount + second.swap_info.in_amount == quote.in_amount
    assert first.swap_info.out_amount + second.swap_info.out_amount == quote.out_amount
    assert quote.labels == ("Raydium CLMM", "Whirlpool")


def test_two_hop_route_goes_through_an_intermediate_token(
    jupiter: JupiterDouble, client: JupiterClient
) -> None:
    jupiter.ok(route="two_hop")

    quote = client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    first, second = quote.route_plan
    assert first.swap_info.output_mint == second.swap_info.input_mint == USDT_MINT
    assert second.swap_info.output_mint == USDC_MINT
    assert quote.labels == ("Whirlpool", "Meteora DLMM")


def test_exact_out_fixes_the_output_amount(client: JupiterClient) -> None:
    out_amount = 150 * 10**6

    quote = client.quote(SOL_MINT, USDC_MINT, out_amount, swap_mode="ExactOut")

    assert quote.swap_mode == "ExactOut"
    assert quote.out_amount == out_amount
    assert ONE_SOL < quote.in_amount < ONE_SOL * 101 // 100  # fee and impact cost a little
    assert quote.other_amount_threshold == -(-quote.in_amount * 10_050 // 10_000)


def test_request_carries_every_parameter_and_the_api_key(
    jupiter: JupiterDouble, make_client: MakeClient
) -> None:
    client = make_client(api_key="secret-key")

    client.quote(
        SOL_MINT,
        USDC_MINT,
        ONE_SOL,
        slippage_bps=75,
        swap_mode="ExactIn",
        only_direct_routes=True,
        restrict_intermediate_tokens=False,
        max_accounts=40,
    )

    (request,) = jupiter.requests
    assert request.method == "GET"
    assert request.path == "/swap/v1/quote"
    assert request.query == {
        "inputMint": SOL_MINT,
        "outputMint": USDC_MINT,
        "amount": "1000000000",
        "slippageBps": "75",
        "swapMode": "ExactIn",
        "onlyDirectRoutes": "true",
        "restrictIntermediateTokens": "false",
        "maxAccounts": "40",
    }
    assert request.headers["x-api-key"] == "secret-key"


def test_defaults_send_no_max_accounts_and_no_api_key(jupiter: JupiterDouble, client: JupiterClient) -> None:
    client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    (request,) = jupiter.requests
    assert "maxAccounts" not in request.query
    assert request.query["onlyDirectRoutes"] == "false"
    assert request.query["restrictIntermediateTokens"] == "true"
    assert "x-api-key" not in request.headers


def test_default_base_url_is_jupiters_current_swap_api() -> None:
    assert DEFAULT_BASE_URL == "https://api.jup.ag/swap/v1"


# --------------------------------------------------------------------------- from_json


def test_from_json_parses_the_documented_example() -> None:
    quote = JupiterQuote.from_json(copy.deepcopy(EXAMPLE_QUOTE))

    assert quote.in_amount == 1_000_000_000
    assert quote.out_amount == 150_123_456
    assert quote.other_amount_threshold == 149_372_839
    assert quote.price_impact_pct == Decimal("0.0012")
    assert quote.context_slot == 299_283_763
    assert quote.time_taken_s == pytest.approx(0.0127)
    assert quote.route_plan[0].swap_info.fee_amount == 25_000
    assert quote.labels == ("Raydium",)


def test_from_json_tolerates_optional_fields_and_unknown_keys() -> None:
    body = copy.deepcopy(EXAMPLE_QUOTE)
    del body["contextSlot"], body["timeTaken"]
    body["platformFee"] = {"amount": "1000", "feeBps": 10}
    body["someNewField"] = [1, 2, 3]
    step = body["routePlan"][0]  # type: ignore[index]
    del step["percent"], step["swapInfo"]["feeAmount"], step["swapInfo"]["feeMint"]

    quote = JupiterQuote.from_json(body)

    assert quote.context_slot is None
    assert quote.time_taken_s is None
    assert quote.route_plan[0].percent is None
    assert quote.route_plan[0].swap_info.fee_amount is None
    assert quote.route_plan[0].swap_info.fee_mint is None


def test_labels_keep_route_order_without_duplicates() -> None:
    body = copy.deepcopy(EXAMPLE_QUOTE)
    hop = body["routePlan"][0]  # type: ignore[index]
    body["routePlan"] = [
        _relabel(hop, "Whirlpool"),
        _relabel(hop, "Raydium"),
        _relabel(hop, "Whirlpool"),
    ]

    assert JupiterQuote.from_json(body).labels == ("Whirlpool", "Raydium")


def _relabel(step: dict[str, Any], label: str) -> dict[str, Any]:
    step = copy.deepcopy(step)
    step["swapInfo"]["label"] = label
    return step


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A mutation setting a dotted path (list indexes as digits); the value _DELETE removes it."""

    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return mutate


_DELETE = object()

BAD_BODIES = {
    "missing outAmount": _set("outAmount", _DELETE),
    "null outAmount": _set("outAmount", None),
    "non-numeric amount": _set("outAmount", "12abc"),
    "negative amount": _set("inAmount", "-1"),
    "decimal amount": _set("inAmount", "1.5"),
    "float amount": _set("inAmount", 1.5),
    "empty amount": _set("otherAmountThreshold", ""),
    "non-ascii digits": _set("inAmount", "１２"),
    "amount over u64": _set("outAmount", str(2**64)),
    "boolean amount": _set("outAmount", True),
    "string slippageBps": _set("slippageBps", "50"),
    "unknown swapMode": _set("swapMode", "Both"),
    "non-numeric priceImpactPct": _set("priceImpactPct", "abc"),
    "NaN priceImpactPct": _set("priceImpactPct", "NaN"),
    "missing routePlan": _set("routePlan", _DELETE),
    "empty routePlan": _set("routePlan", []),
    "routePlan not a list": _set("routePlan", {}),
    "missing swapInfo": _set("routePlan.0.swapInfo", _DELETE),
    "missing ammKey": _set("routePlan.0.swapInfo.ammKey", _DELETE),
    "bad feeAmount": _set("routePlan.0.swapInfo.feeAmount", "x"),
    "string percent": _set("routePlan.0.percent", "100"),
    "bps over 10000": _set("routePlan.0.bps", 20_000),
    "negative contextSlot": _set("contextSlot", -1),
    "string timeTaken": _set("timeTaken", "fast"),
    "numeric inputMint": _set("inputMint", 5),
}


@pytest.mark.parametrize("mutate", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_from_json_rejects_malformed_quotes(mutate: Callable[[dict[str, Any]], None]) -> None:
    body = copy.deepcopy(EXAMPLE_QUOTE)
    mutate(body)

    with pytest.raises(JupiterBadResponseError):
        JupiterQuote.from_json(body)


@pytest.mark.parametrize("data", [None, [], "quote", 42])
def test_from_json_rejects_a_body_that_is_not_an_object(data: object) -> None:
    with pytest.raises(JupiterBadResponseError, match="JSON object"):
        JupiterQuote.from_json(data)


def test_from_json_names_the_bad_field_and_value() -> None:
    body = copy.deepcopy(EXAMPLE_QUOTE)
    _set("routePlan.0.swapInfo.outAmount", "12abc")(body)

    with pytest.raises(JupiterBadResponseError, match=r"routePlan\[0\]\.swapInfo\.outAmount.*12abc"):
        JupiterQuote.from_json(body)


# --------------------------------------------------------------------------- 400 answers


@pytest.mark.parametrize(
    ("error_code", "error_type", "domain_type"),
    [
        ("NO_ROUTES_FOUND", JupiterNoRouteError, NoRouteError),
        ("COULD_NOT_FIND_ANY_ROUTE", JupiterNoRouteError, NoRouteError),
        ("ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT", JupiterNoRouteError, NoRouteError),
        ("TOKEN_NOT_TRADABLE", JupiterTokenNotTradableError, ValidationError),
        ("CIRCULAR_ARBITRAGE_IS_DISABLED", JupiterBadRequestError, ValidationError),
        ("SOME_FUTURE_CODE", JupiterBadRequestError, ValidationError),
        (None, JupiterBadRequestError, ValidationError),
    ],
)
def test_400_error_codes_map_to_typed_errors(
    jupiter: JupiterDouble,
    client: JupiterClient,
    error_code: str | None,
    error_type: type[JupiterError],
    domain_type: type[SolrouteError],
) -> None:
    jupiter.error(400, error_code, "Jupiter says no")

    with pytest.raises(error_type) as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    error = caught.value
    assert isinstance(error, domain_type)
    assert not isinstance(error, VenueUnavailableError)
    assert (error.status, error.error_code, error.is_transient) == (400, error_code, False)
    assert "Jupiter says no" in error.message
    assert error_code is None or error_code in error.message


def test_double_refuses_a_circular_trade_like_jupiter(client: JupiterClient) -> None:
    with pytest.raises(JupiterBadRequestError) as caught:
        client.quote(SOL_MINT, SOL_MINT, ONE_SOL)

    assert caught.value.error_code == "CIRCULAR_ARBITRAGE_IS_DISABLED"


def test_400_with_a_non_json_body_is_a_bad_request(jupiter: JupiterDouble, client: JupiterClient) -> None:
    jupiter.malformed(b"<html>400 Bad Request</html>", status=400, content_type="text/html")

    with pytest.raises(JupiterBadRequestError, match="400 Bad Request") as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert (caught.value.status, caught.value.error_code) == (400, None)


def test_a_business_400_resets_the_failure_count(jupiter: JupiterDouble, make_client: MakeClient) -> None:
    client = make_client(failure_threshold=3)
    jupiter.server_error(503, times=2)
    jupiter.error(400, "NO_ROUTES_FOUND", times=1)
    jupiter.server_error(503, times=2)
    outcomes = [JupiterUnavailableError] * 2 + [JupiterNoRouteError] + [JupiterUnavailableError] * 2

    for outcome in outcomes:
        with pytest.raises(outcome):
            client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    status = client.status()
    assert (status.state, status.consecutive_failures) == (BreakerState.CLOSED, 2)


# --------------------------------------------------------------------------- other statuses


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_a_transient_unavailability(
    jupiter: JupiterDouble, client: JupiterClient, status: int
) -> None:
    jupiter.server_error(status)

    with pytest.raises(JupiterUnavailableError, match=str(status)) as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert type(caught.value) is JupiterUnavailableError
    assert (caught.value.status, caught.value.is_transient) == (status, True)


def test_a_rejected_api_key_is_unavailable_but_not_transient(
    jupiter: JupiterDouble, client: JupiterClient
) -> None:
    jupiter.error(401, None, "Invalid API key")

    with pytest.raises(JupiterUnavailableError, match="Invalid API key") as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert (caught.value.status, caught.value.is_transient) == (401, False)
    assert client.status().consecutive_failures == 1


# --------------------------------------------------------------------------- 429


def test_429_with_retry_after_seconds_then_fails_fast_locally(
    jupiter: JupiterDouble, client: JupiterClient, clock: FakeClock
) -> None:
    jupiter.rate_limited(retry_after="2", times=1)

    with pytest.raises(JupiterRateLimitedError) as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert (caught.value.status, caught.value.retry_after_s) == (429, 2.0)
    assert caught.value.is_transient

    clock.advance(1.5)
    with pytest.raises(JupiterRateLimitedError) as local:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert clock.sleeps == []  # refused at once: no wait on the client's (only) sleep
    assert local.value.status is None  # refused here, not by Jupiter
    assert local.value.retry_after_s == pytest.approx(0.5)
    assert len(jupiter.requests) == 1

    clock.advance(0.5)
    assert client.quote(SOL_MINT, USDC_MINT, ONE_SOL).out_amount > 0
    assert len(jupiter.requests) == 2


def test_429_with_an_http_date_retry_after(jupiter: JupiterDouble, client: JupiterClient) -> None:
    # The client measures the date against the server's Date header; both have 1 s resolution.
    jupiter.rate_limited(retry_after=http_date(time.time() + 3), times=1)

    with pytest.raises(JupiterRateLimitedError) as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert 2.0 <= caught.value.retry_after_s <= 3.0
    with pytest.raises(JupiterRateLimitedError):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert len(jupiter.requests) == 1


@pytest.mark.parametrize(
    ("retry_after", "headers", "low", "high"),
    [
        (None, {"X-RateLimit-Reset": "5"}, 5.0, 5.0),
        (None, {"RateLimit-Reset": "4"}, 4.0, 4.0),
        (None, {"X-RateLimit-Reset": "EPOCH+7"}, 6.0, 7.0),
        (None, {}, DEFAULT_RETRY_AFTER_S, DEFAULT_RETRY_AFTER_S),
        ("soon", {}, DEFAULT_RETRY_AFTER_S, DEFAULT_RETRY_AFTER_S),
        ("0", {}, 0.0, 0.0),
        ("PAST", {}, 0.0, 0.0),
        ("999999", {}, 300.0, 300.0),
    ],
    ids=["x-reset-delta", "ietf-reset", "x-reset-epoch", "none", "garbage", "zero", "past", "huge"],
)
def test_429_back_off_comes_from_the_headers(
    jupiter: JupiterDouble,
    client: JupiterClient,
    retry_after: str | None,
    headers: dict[str, str],
    low: float,
    high: float,
) -> None:
    epoch = int(time.time())
    headers = {k: v.replace("EPOCH+7", str(epoch + 7)) for k, v in headers.items()}
    if retry_after == "PAST":
        retry_after = http_date(epoch - 60)
    jupiter.rate_limited(retry_after=retry_after, headers=headers, times=1)

    with pytest.raises(JupiterRateLimitedError) as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert low <= caught.value.retry_after_s <= high


def test_429_does_not_count_as_a_breaker_failure(jupiter: JupiterDouble, make_client: MakeClient) -> None:
    client = make_client(failure_threshold=1)
    jupiter.rate_limited(retry_after="1")

    with pytest.raises(JupiterRateLimitedError):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    status = client.status()
    assert (status.state, status.consecutive_failures, status.is_available) == ("closed", 0, True)
    assert status.last_error is not None and "429" in status.last_error


# --------------------------------------------------------------------------- transport failures


def test_slow_answer_times_out(jupiter: JupiterDouble, make_client: MakeClient) -> None:
    client = make_client(timeout_s=0.2)
    jupiter.slow(WAIT_S)  # answering only when the double closes: far beyond any machine's delay

    started = time.perf_counter()
    with pytest.raises(JupiterTimeoutError, match=r"0\.2s") as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert time.perf_counter() - started < WAIT_S / 2
    assert isinstance(caught.value, VenueUnavailableError)
    assert isinstance(caught.value.__cause__, requests.Timeout)
    assert caught.value.is_transient


def test_refused_connection_fails_fast_as_unavailable(make_client: MakeClient) -> None:
    client = make_client(base_url=closed_port_url(), timeout_s=WAIT_S)

    started = time.perf_counter()
    with pytest.raises(JupiterUnavailableError) as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert time.perf_counter() - started < WAIT_S / 2  # refused at once, not waited out
    assert not isinstance(caught.value, JupiterTimeoutError)
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert caught.value.status is None
    assert client.status().consecutive_failures == 1


MALFORMED_200 = {
    "not JSON": b"this is not json",
    "empty body": b"",
    "truncated JSON": b'{"inputMint": "So1111',
    "JSON array": b"[]",
    "missing outAmount": "outAmount",
    "non-numeric amount": "inAmount",
}


@pytest.mark.parametrize("body", MALFORMED_200.values(), ids=MALFORMED_200.keys())
def test_malformed_200_is_a_bad_response(
    jupiter: JupiterDouble, client: JupiterClient, body: bytes | str
) -> None:
    if isinstance(body, str):  # a valid quote with this field broken
        quote = jupiter.quote_body(SOL_MINT, USDC_MINT, ONE_SOL)
        if body == "outAmount":
            del quote[body]
        else:
            quote[body] = "1e9"
        body = json.dumps(quote).encode()
    jupiter.malformed(body)

    with pytest.raises(JupiterBadResponseError) as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert (caught.value.status, caught.value.is_transient) == (200, True)
    assert client.status().consecutive_failures == 1


def test_a_quote_for_another_trade_is_a_bad_response(jupiter: JupiterDouble, client: JupiterClient) -> None:
    other = jupiter.quote_body(SOL_MINT, USDC_MINT, 2 * ONE_SOL)
    jupiter.malformed(json.dumps(other).encode())

    with pytest.raises(JupiterBadResponseError, match="does not match"):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)


# --------------------------------------------------------------------------- circuit breaker


def test_breaker_opens_after_threshold_and_then_fails_fast_without_requests(
    jupiter: JupiterDouble, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client(failure_threshold=3, cooldown_s=30.0)
    jupiter.server_error(503)
    for _ in range(3):
        with pytest.raises(JupiterUnavailableError):
            client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    status = client.status()
    assert status.state is BreakerState.OPEN
    assert (status.consecutive_failures, status.open_until) == (3, clock.now + 30.0)
    assert not status.is_available
    assert status.last_error is not None and "503" in status.last_error

    with pytest.raises(JupiterCircuitOpenError) as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert clock.sleeps == []  # no wait, and (below) no request: refused by the open breaker alone
    assert caught.value.is_transient and isinstance(caught.value, VenueUnavailableError)
    assert len(jupiter.requests) == 3


def test_breaker_half_opens_after_cooldown_and_closes_on_success(
    jupiter: JupiterDouble, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client(failure_threshold=2, cooldown_s=30.0)
    jupiter.server_error(503, times=2)
    for _ in range(2):
        with pytest.raises(JupiterUnavailableError):
            client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    clock.advance(29.9)
    with pytest.raises(JupiterCircuitOpenError):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    clock.advance(0.1)
    assert client.status().state is BreakerState.HALF_OPEN
    assert client.status().is_available

    assert client.quote(SOL_MINT, USDC_MINT, ONE_SOL).out_amount > 0

    status = client.status()
    assert (status.state, status.consecutive_failures, status.open_until) == ("closed", 0, None)
    assert len(jupiter.requests) == 3


def test_failed_trial_reopens_the_breaker_for_another_cooldown(
    jupiter: JupiterDouble, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client(failure_threshold=2, cooldown_s=30.0)
    jupiter.server_error(503)
    for _ in range(2):
        with pytest.raises(JupiterUnavailableError):
            client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    clock.advance(30.0)

    with pytest.raises(JupiterUnavailableError) as trial:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert not isinstance(trial.value, JupiterCircuitOpenError)

    status = client.status()
    assert (status.state, status.open_until) == (BreakerState.OPEN, clock.now + 30.0)
    with pytest.raises(JupiterCircuitOpenError):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert len(jupiter.requests) == 3


def test_half_open_lets_only_one_trial_through_at_a_time(
    jupiter: JupiterDouble, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client(failure_threshold=1, cooldown_s=10.0)
    jupiter.server_error(503, times=1)
    with pytest.raises(JupiterUnavailableError):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    clock.advance(10.0)
    jupiter.hold(times=1)  # the trial stays in flight until released
    outcomes: list[JupiterQuote | Exception] = []

    def run_trial() -> None:
        try:
            outcomes.append(client.quote(SOL_MINT, USDC_MINT, ONE_SOL))
        except JupiterError as exc:
            outcomes.append(exc)

    trial = threading.Thread(target=run_trial)

    trial.start()
    jupiter.wait_for_requests(2)
    with pytest.raises(JupiterCircuitOpenError):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert not client.status().is_available
    jupiter.release()
    trial.join(timeout=WAIT_S)

    (outcome,) = outcomes
    assert isinstance(outcome, JupiterQuote)
    assert client.status().state is BreakerState.CLOSED
    assert len(jupiter.requests) == 2


FAILURES = ["server_error", "malformed", "timeout", "refused"]


@pytest.mark.parametrize("failure", FAILURES)
def test_every_kind_of_outage_counts_toward_the_breaker(
    jupiter: JupiterDouble, make_client: MakeClient, failure: str
) -> None:
    base_url = closed_port_url() if failure == "refused" else jupiter.base_url
    client = make_client(base_url=base_url, failure_threshold=2, timeout_s=0.2)
    if failure == "server_error":
        jupiter.server_error(500)
    elif failure == "malformed":
        jupiter.malformed(b"<html>oops</html>")
    elif failure == "timeout":
        jupiter.slow(0.4)

    for _ in range(2):
        with pytest.raises(JupiterUnavailableError):
            client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert client.status().state is BreakerState.OPEN
    with pytest.raises(JupiterCircuitOpenError):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)


def test_initial_status_is_closed_and_available(client: JupiterClient) -> None:
    status = client.status()

    assert status.state == "closed"
    assert (status.consecutive_failures, status.open_until, status.last_error) == (0, None, None)
    assert status.is_available


# --------------------------------------------------------------------------- client-side limiter


def test_limiter_sleeps_until_the_next_slot_within_max_wait(
    jupiter: JupiterDouble, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client(max_requests_per_s=1.0, max_wait_s=1.0)

    client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    clock.advance(5.0)
    client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert clock.sleeps == [1.0]
    assert len(jupiter.requests) == 3


def test_limiter_refuses_locally_when_the_wait_exceeds_max_wait(
    jupiter: JupiterDouble, make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client(max_requests_per_s=0.5, max_wait_s=1.0, failure_threshold=1)
    client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    with pytest.raises(JupiterRateLimitedError) as caught:
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert caught.value.retry_after_s == pytest.approx(2.0)
    assert caught.value.status is None
    assert clock.sleeps == []
    assert len(jupiter.requests) == 1
    assert client.status().state is BreakerState.CLOSED  # not a breaker failure
    clock.advance(2.0)
    client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert len(jupiter.requests) == 2


@pytest.mark.parametrize("rate", [None, 0])
def test_limiter_can_be_disabled(
    jupiter: JupiterDouble, make_client: MakeClient, clock: FakeClock, rate: float | None
) -> None:
    client = make_client(max_requests_per_s=rate, max_wait_s=0.0)

    for _ in range(5):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)

    assert clock.sleeps == []
    assert len(jupiter.requests) == 5


def test_limiter_gives_concurrent_callers_distinct_slots(
    jupiter: JupiterDouble, make_client: MakeClient
) -> None:
    sleeps: list[float] = []
    client = make_client(max_requests_per_s=10.0, max_wait_s=1.0, clock=lambda: 50.0, sleep=sleeps.append)
    threads = [threading.Thread(target=client.quote, args=(SOL_MINT, USDC_MINT, ONE_SOL)) for _ in range(5)]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_S)

    assert sorted(sleeps) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert len(jupiter.requests) == 5


def test_clients_given_one_rate_limiter_share_one_budget(
    jupiter: JupiterDouble, make_client: MakeClient, clock: FakeClock
) -> None:
    shared = LocalRateLimiter({"jupiter": 0.5}, clock=clock, sleep=clock.sleep)
    web = make_client(rate_limiter=shared, max_wait_s=0.0)
    worker = make_client(rate_limiter=shared, max_wait_s=0.0)

    web.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    with pytest.raises(JupiterRateLimitedError) as caught:
        worker.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert caught.value.retry_after_s == pytest.approx(2.0)
    worker.quote(SOL_MINT, USDC_MINT, ONE_SOL, max_wait_s=2.0)  # this call may wait for the slot

    assert clock.sleeps == [pytest.approx(2.0)]
    assert len(jupiter.requests) == 2


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": "1000"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 2**64}, "amount"),
        ({"slippage_bps": -1}, "slippage_bps"),
        ({"slippage_bps": 10_001}, "slippage_bps"),
        ({"swap_mode": "exactIn"}, "swap_mode"),
        ({"input_mint": "SOL"}, "input_mint"),
        ({"output_mint": ""}, "output_mint"),
        ({"max_accounts": 0}, "max_accounts"),
        ({"only_direct_routes": "yes"}, "only_direct_routes"),
    ],
)
def test_quote_arguments_are_validated_before_any_request(
    jupiter: JupiterDouble, client: JupiterClient, overrides: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {
        "input_mint": SOL_MINT,
        "output_mint": USDC_MINT,
        "amount": ONE_SOL,
    }
    arguments.update(overrides)

    with pytest.raises(ValidationError) as caught:
        client.quote(**arguments)

    assert caught.value.field == field
    assert jupiter.requests == []


def test_amount_at_the_u64_limit_is_accepted_locally(jupiter: JupiterDouble, client: JupiterClient) -> None:
    with pytest.raises(JupiterError):  # the pool cannot fill it, but the request is made
        client.quote(SOL_MINT, USDC_MINT, 2**64 - 1, swap_mode="ExactOut")
    assert len(jupiter.requests) == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"base_url": "api.jup.ag/swap/v1"}, "base_url"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": float("nan")}, "timeout_s"),
        ({"max_requests_per_s": -1.0}, "max_requests_per_s"),
        ({"max_wait_s": -0.1}, "max_wait_s"),
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"cooldown_s": float("inf")}, "cooldown_s"),
    ],
)
def test_client_settings_are_validated(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        JupiterClient(**overrides)

    assert caught.value.field == field


# --------------------------------------------------------------------------- error types


@pytest.mark.parametrize(
    ("error_type", "bases", "is_transient", "code"),
    [
        (JupiterNoRouteError, (NoRouteError, LookupError), False, "no_route"),
        (JupiterTokenNotTradableError, (ValidationError, ValueError), False, "invalid_input"),
        (JupiterBadRequestError, (ValidationError, ValueError), False, "invalid_input"),
        (JupiterUnavailableError, (VenueUnavailableError,), True, "venue_unavailable"),
        (JupiterTimeoutError, (JupiterUnavailableError,), True, "venue_unavailable"),
        (JupiterBadResponseError, (JupiterUnavailableError,), True, "venue_unavailable"),
        (JupiterCircuitOpenError, (JupiterUnavailableError,), True, "venue_unavailable"),
    ],
)
def test_error_types_fit_the_solroute_hierarchy(
    error_type: type[JupiterError],
    bases: tuple[type[Exception], ...],
    is_transient: bool,
    code: str,
) -> None:
    error = error_type("boom", status=418, error_code="TEAPOT")

    assert isinstance(error, JupiterError) and isinstance(error, SolrouteError)
    assert all(isinstance(error, base) for base in bases)
    assert (error.status, error.error_code, error.is_transient) == (418, "TEAPOT", is_transient)
    assert error.code == code  # what views/errors.py maps to HTTP


def test_rate_limited_error_carries_its_back_off() -> None:
    error = JupiterRateLimitedError("slow down", retry_after_s=2.5, status=429)

    assert isinstance(error, VenueUnavailableError)
    assert not isinstance(error, JupiterUnavailableError)
    assert (error.retry_after_s, error.is_transient, error.code) == (2.5, True, "venue_unavailable")


# --------------------------------------------------------------------------- sessions


def test_client_closes_only_the_session_it_created(jupiter: JupiterDouble) -> None:
    with requests.Session() as session:
        with JupiterClient(jupiter.base_url, max_requests_per_s=None, session=session) as client:
            client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
        assert session.get(f"{jupiter.base_url}/quote", timeout=2).status_code == 400

    with JupiterClient(jupiter.base_url, max_requests_per_s=None) as own:
        assert own.quote(SOL_MINT, USDC_MINT, ONE_SOL).out_amount > 0


# --------------------------------------------------------------------------- the double itself


def test_double_prices_along_a_constant_product_curve(jupiter: JupiterDouble) -> None:
    price = Decimal("0.15")
    previous_impact = Decimal(0)
    for amount in (10**6, ONE_SOL, 100 * ONE_SOL, 10_000 * ONE_SOL):
        body = jupiter.quote_body(SOL_MINT, USDC_MINT, amount)
        impact = Decimal(str(body["priceImpactPct"]))
        net_in = amount - amount * 25 // 10_000
        # outAmount ~= amount in after fee * price * (1 - priceImpactPct), floored.
        assert abs(int(str(body["outAmount"])) - net_in * price * (1 - impact)) <= 1
        assert impact > previous_impact
        previous_impact = impact


def test_double_queues_behaviours_before_the_default(jupiter: JupiterDouble, client: JupiterClient) -> None:
    jupiter.error(400, "TOKEN_NOT_TRADABLE", times=1)
    jupiter.server_error(502, times=2)

    with pytest.raises(JupiterTokenNotTradableError):
        client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    for _ in range(2):
        with pytest.raises(JupiterUnavailableError):
            client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert client.quote(SOL_MINT, USDC_MINT, ONE_SOL).out_amount > 0


def test_double_pools_price_both_directions(jupiter: JupiterDouble, client: JupiterClient) -> None:
    jupiter.set_pool(SOL_MINT, USDC_MINT, 10_000 * ONE_SOL, 1_500_000 * 10**6)

    sell = client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    buy = client.quote(USDC_MINT, SOL_MINT, 150 * 10**6)

    assert 149 * 10**6 < sell.out_amount < 150 * 10**6
    assert 99 * ONE_SOL // 100 < buy.out_amount < ONE_SOL


def test_double_honours_only_direct_routes(jupiter: JupiterDouble, client: JupiterClient) -> None:
    jupiter.ok(route="two_hop")

    quote = client.quote(SOL_MINT, USDC_MINT, ONE_SOL, only_direct_routes=True)

    assert len(quote.route_plan) == 1


def test_double_quote_body_matches_what_it_serves(jupiter: JupiterDouble, client: JupiterClient) -> None:
    jupiter.ok(route="split")

    served = client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    modelled = JupiterQuote.from_json(jupiter.quote_body(SOL_MINT, USDC_MINT, ONE_SOL, ok=Ok(route="split")))

    assert served.route_plan == modelled.route_plan
    assert served.out_amount == modelled.out_amount
