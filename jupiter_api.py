"""Jupiter swap API client: typed quotes, timeouts, Jupiter's rate limit, 429 handling and a
circuit breaker.

One call to ``JupiterClient.quote`` is at most one ``GET {base}/quote``. Jupiter's free tiers
allow about 0.5-1 request per second (shared by every endpoint), so callers should keep a
background-refreshed curve per pair and ask afresh only when executing; when Jupiter is down
the breaker makes each call cost nothing. Every call passes the one rate limiter the client is
given (the app's ``RateLimiter``, shared by every process through Redis) as ``RATE_LIMIT_KEY``.
Errors are typed so callers can tell a business answer (no route, untradable token) from the
venue being unavailable (``is_transient``); they live in errors.py with the rest of the
hierarchy and are re-exported here.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final

import requests
import urllib3.exceptions

from errors import (
    JupiterBadRequestError,
    JupiterBadResponseError,
    JupiterCircuitOpenError,
    JupiterError,
    JupiterNoRouteError,
    JupiterRateLimitedError,
    JupiterTimeoutError,
    JupiterTokenNotTradableError,
    JupiterUnavailableError,
    ValidationError,
)
from http_session import SessionOwner, http_date, retry_after_s
from rate_limits import LocalRateLimiter, RateLimiter

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_RETRY_AFTER_S",
    "RATE_LIMIT_KEY",
    "BreakerState",
    "JupiterBadRequestError",
    "JupiterBadResponseError",
    "JupiterCircuitOpenError",
    "JupiterClient",
    "JupiterError",
    "JupiterNoRouteError",
    "JupiterQuote",
    "JupiterRateLimitedError",
    "JupiterStatus",
    "JupiterTimeoutError",
    "JupiterTokenNotTradableError",
    "JupiterUnavailableError",
    "RoutePlanStep",
    "SwapInfo",
]

DEFAULT_BASE_URL: Final = "https://api.jup.ag/swap/v1"
# Jupiter's name in a RateLimiter's limits (config VENUE_RATE_LIMITS).
RATE_LIMIT_KEY: Final = "jupiter"
# Used when a 429 carries no header saying how long to back off.
DEFAULT_RETRY_AFTER_S: Final = 1.0
# A Retry-After longer than this is treated as a server mistake rather than obeyed for hours.
_MAX_RETRY_AFTER_S: Final = 300.0
_SWAP_MODES: Final = ("ExactIn", "ExactOut")
_U64_MAX: Final = 2**64 - 1
_MAX_BPS: Final = 10_000
# Solana addresses are 32 bytes in base58: 32 to 44 characters of this alphabet.
_MINT_RE: Final = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
_DIGITS_RE: Final = re.compile(r"[0-9]+")
_SECONDS_RE: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NO_ROUTE_CODES: Final = frozenset(
    {"NO_ROUTES_FOUND", "COULD_NOT_FIND_ANY_ROUTE", "ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT"}
)
_TOKEN_NOT_TRADABLE_CODE: Final = "TOKEN_NOT_TRADABLE"
_BODY_EXCERPT_CHARS: Final = 200


# --------------------------------------------------------------------------- quote values


@dataclass(frozen=True, slots=True)
class SwapInfo:
    """One AMM hop of a Jupiter route; amounts in integer base units."""

    amm_key: str
    label: str
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    fee_amount: int | None
    fee_mint: str | None


@dataclass(frozen=True, slots=True)
class RoutePlanStep:
    """A route step: its hop and its share of the flow (``percent`` legacy, ``bps`` newer)."""

    swap_info: SwapInfo
    percent: int | None
    bps: int | None


@dataclass(frozen=True, slots=True)
class JupiterQuote:
    """A parsed ``/quote`` answer; amounts in integer base units, impact as a fraction."""

    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    other_amount_threshold: int
    swap_mode: str
    slippage_bps: int
    price_impact_pct: Decimal  # a fraction, as Jupiter sends it: Decimal("0.0012") is 0.12 %
    route_plan: tuple[RoutePlanStep, ...]
    context_slot: int | None
    time_taken_s: float | None

    @property
    def labels(self) -> tuple[str, ...]:
        """Venue labels of the route plan in order, each once."""
        return tuple(dict.fromkeys(step.swap_info.label for step in self.route_plan))

    @classmethod
    def from_json(cls, data: object) -> JupiterQuote:
        """Validate a decoded ``/quote`` body strictly; raises JupiterBadResponseError."""
        body = _object(data, "quote")
        swap_mode = _string(body, "swapMode", "")
        if swap_mode not in _SWAP_MODES:
            raise JupiterBadResponseError(f"Jupiter quote has unknown swapMode {swap_mode!r}")
        plan = body.get("routePlan")
        if not isinstance(plan, list) or not plan:
            raise JupiterBadResponseError(f"Jupiter quote routePlan must be a non-empty list, got {plan!r}")
        return cls(
            input_mint=_string(body, "inputMint", ""),
            output_mint=_string(body, "outputMint", ""),
            in_amount=_amount(body, "inAmount", ""),
            out_amount=_amount(body, "outAmount", ""),
            other_amount_threshold=_amount(body, "otherAmountThreshold", ""),
            swap_mode=swap_mode,
            slippage_bps=_bps(body, "slippageBps", ""),
            price_impact_pct=_decimal(body, "priceImpactPct", ""),
            route_plan=tuple(_route_step(step, f"routePlan[{i}].") for i, step in enumerate(plan)),
            context_slot=_optional_int(body, "contextSlot", ""),
            time_taken_s=_optional_seconds(body, "timeTaken", ""),
        )


def _route_step(data: object, path: str) -> RoutePlanStep:
    step = _object(data, path.rstrip("."))
    info = _object(step.get("swapInfo"), f"{path}swapInfo")
    info_path = f"{path}swapInfo."
    percent = _optional_int(step, "percent", path)
    if percent is not None and percent > 100:
        raise JupiterBadResponseError(f"Jupiter quote {path}percent is over 100: {percent}")
    return RoutePlanStep(
        swap_info=SwapInfo(
            amm_key=_string(info, "ammKey", info_path),
            label=_string(info, "label", info_path),
            input_mint=_string(info, "inputMint", info_path),
            output_mint=_string(info, "outputMint", info_path),
            in_amount=_amount(info, "inAmount", info_path),
            out_amount=_amount(info, "outAmount", info_path),
            fee_amount=_optional_amount(info, "feeAmount", info_path),
            fee_mint=_optional_string(info, "feeMint", info_path),
        ),
        percent=percent,
        bps=_optional_bps(step, "bps", path),
    )


def _object(data: object, path: str) -> Mapping[str, object]:
    if not isinstance(data, dict):
        raise JupiterBadResponseError(f"Jupiter {path} must be a JSON object, got {type(data).__name__}")
    return data


def _required(obj: Mapping[str, object], key: str, path: str) -> object:
    if key not in obj or obj[key] is None:
        raise JupiterBadResponseError(f"Jupiter quote is missing {path}{key}")
    return obj[key]


def _string(obj: Mapping[str, object], key: str, path: str) -> str:
    value = _required(obj, key, path)
    if not isinstance(value, str) or not value:
        raise JupiterBadResponseError(f"Jupiter quote {path}{key} must be a non-empty string, got {value!r}")
    return value


def _optional_string(obj: Mapping[str, object], key: str, path: str) -> str | None:
    return None if obj.get(key) is None else _string(obj, key, path)


def _amount(obj: Mapping[str, object], key: str, path: str) -> int:
    value = _required(obj, key, path)
    # Jupiter sends u64 amounts as decimal strings; a plain JSON integer is accepted too.
    if isinstance(value, int) and not isinstance(value, bool):
        amount = value
    elif isinstance(value, str) and _DIGITS_RE.fullmatch(value):
        try:
            amount = int(value)
        except ValueError as exc:  # over Python's int-from-str digit limit
            raise JupiterBadResponseError(f"Jupiter quote {path}{key} is too long") from exc
    else:
        raise JupiterBadResponseError(
            f"Jupiter quote {path}{key} must be a non-negative integer string, got {value!r}"
        )
    if not 0 <= amount <= _U64_MAX:
        raise JupiterBadResponseError(f"Jupiter quote {path}{key} is out of range: {amount}")
    return amount


def _optional_amount(obj: Mapping[str, object], key: str, path: str) -> int | None:
    return None if obj.get(key) is None else _amount(obj, key, path)


def _optional_int(obj: Mapping[str, object], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise JupiterBadResponseError(
            f"Jupiter quote {path}{key} must be a non-negative integer, got {value!r}"
        )
    return value


def _bps(obj: Mapping[str, object], key: str, path: str) -> int:
    value = _optional_bps(obj, key, path)
    if value is None:
        raise JupiterBadResponseError(f"Jupiter quote is missing {path}{key}")
    return value


def _optional_bps(obj: Mapping[str, object], key: str, path: str) -> int | None:
    value = _optional_int(obj, key, path)
    if value is not None and value > _MAX_BPS:
        raise JupiterBadResponseError(f"Jupiter quote {path}{key} is over 10000: {value}")
    return value


def _decimal(obj: Mapping[str, object], key: str, path: str) -> Decimal:
    value = _required(obj, key, path)
    try:
        if isinstance(value, str):
            number = Decimal(value.strip())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = Decimal(repr(value))
        else:
            raise JupiterBadResponseError(
                f"Jupiter quote {path}{key} must be a decimal string, got {value!r}"
            )
    except InvalidOperation as exc:
        raise JupiterBadResponseError(f"Jupiter quote {path}{key} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise JupiterBadResponseError(f"Jupiter quote {path}{key} is not finite: {value!r}")
    return number


def _optional_seconds(obj: Mapping[str, object], key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise JupiterBadResponseError(
            f"Jupiter quote {path}{key} must be a non-negative number, got {value!r}"
        )
    return float(value)


# --------------------------------------------------------------------------- client


class BreakerState(StrEnum):
    """Circuit breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class JupiterStatus:
    """A snapshot of the client's breaker; ``open_until`` is a value of the client's clock."""

    state: BreakerState
    consecutive_failures: int
    open_until: float | None
    last_error: str | None  # latest outage or 429 message; kept after recovery, for diagnosis
    is_available: bool  # False while open, or half-open with the one trial call in flight


class JupiterClient(SessionOwner):
    """Thread-safe client for Jupiter's ``GET /quote`` with a rate limiter and a circuit breaker.

    ``rate_limiter`` admits every call (as ``RATE_LIMIT_KEY``), waiting up to ``max_wait_s``
    (or the call's own ``max_wait_s``) for a slot; pass the app's shared one so that Jupiter's
    budget is counted once across every process. Without it the client limits itself to
    ``max_requests_per_s`` (None or 0: no limit) with a ``LocalRateLimiter`` on its clock.
    A 429's back-off and the breaker are the client's own: they come from Jupiter's answers.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        timeout_s: float = 2.0,
        rate_limiter: RateLimiter | None = None,
        max_requests_per_s: float | None = 1.0,
        max_wait_s: float = 1.0,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValidationError(f"base_url must be an http(s) URL, got {base_url!r}", field="base_url")
        _check_positive("timeout_s", timeout_s)
        if max_requests_per_s is not None:
            _check_non_negative("max_requests_per_s", max_requests_per_s)
        _check_non_negative("max_wait_s", max_wait_s)
        _check_non_negative("cooldown_s", cooldown_s)
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int):
            raise ValidationError("failure_threshold must be an int", field="failure_threshold")
        if failure_threshold < 1:
            raise ValidationError(
                f"failure_threshold must be at least 1, got {failure_threshold}",
                field="failure_threshold",
            )
        self.base_url = base_url.rstrip("/")
        self._quote_url = f"{self.base_url}/quote"
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._timeout_s = float(timeout_s)
        if rate_limiter is None and max_requests_per_s:
            rate_limiter = LocalRateLimiter({RATE_LIMIT_KEY: max_requests_per_s}, clock=clock, sleep=sleep)
        self._rate_limiter = rate_limiter  # None: no limit of ours (429 windows are still honoured)
        self._max_wait_s = float(max_wait_s)
        self._failure_threshold = failure_threshold
        self._cooldown_s = float(cooldown_s)
        super().__init__(session)
        self._clock = clock
        self._sleep = sleep
        # Everything below is guarded by _lock, which is never held during I/O or sleeps.
        self._lock = threading.Lock()
        self._blocked_until = -math.inf  # end of the latest server 429 window
        self._failures = 0
        self._open_until: float | None = None  # None: closed; past: half-open; future: open
        self._trial_in_flight = False
        self._last_error: str | None = None

    # -- lifecycle

    # -- public API

    def status(self) -> JupiterStatus:
        """Snapshot of the circuit breaker."""
        with self._lock:
            state = self._state_at(self._clock())
            return JupiterStatus(
                state=state,
                consecutive_failures=self._failures,
                open_until=self._open_until,
                last_error=self._last_error,
                is_available=state is BreakerState.CLOSED
                or (state is BreakerState.HALF_OPEN and not self._trial_in_flight),
            )

    def quote(
        self,
        input_mint: str,
        output_mint: str,
        amount: int,
        *,
        slippage_bps: int = 50,
        swap_mode: str = "ExactIn",
        only_direct_routes: bool = False,
        restrict_intermediate_tokens: bool = True,
        max_accounts: int | None = None,
        max_wait_s: float | None = None,
    ) -> JupiterQuote:
        """Ask Jupiter for a quote; ``amount`` is in base units of the input (ExactIn) or output.

        ``max_wait_s`` bounds the wait for a rate-limit slot (default: the client's).
        """
        if max_wait_s is None:
            max_wait_s = self._max_wait_s
        _check_non_negative("max_wait_s", max_wait_s)
        params = _quote_params(
            input_mint,
            output_mint,
            amount,
            slippage_bps=slippage_bps,
            swap_mode=swap_mode,
            only_direct_routes=only_direct_routes,
            restrict_intermediate_tokens=restrict_intermediate_tokens,
            max_accounts=max_accounts,
        )
        is_trial = self._admit(max_wait_s)
        try:
            result = self._fetch(params)
            _check_matches_request(result, input_mint, output_mint, amount, swap_mode)
        except JupiterRateLimitedError as exc:
            self._on_rate_limited(exc, is_trial)
            raise
        except JupiterUnavailableError as exc:
            self._on_failure(exc, is_trial)
            raise
        except JupiterError:
            self._on_service_up(is_trial)  # a business 400: Jupiter itself is working
            raise
        except BaseException:
            self._release_trial(is_trial)
            raise
        self._on_service_up(is_trial)
        return result

    # -- limiter and breaker (state under _lock)

    def _state_at(self, now: float) -> BreakerState:
        if self._open_until is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now < self._open_until else BreakerState.HALF_OPEN

    def _admit(self, max_wait_s: float) -> bool:
        """Pass the breaker, any 429 window and the rate limiter (waiting up to ``max_wait_s`` for a
        slot); True for a half-open trial."""
        with self._lock:
            now = self._clock()
            state = self._state_at(now)
            if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._trial_in_flight):
                retry_s = max(0.0, (self._open_until or now) - now)
                raise JupiterCircuitOpenError(
                    f"Jupiter circuit breaker is {state} after {self._failures} consecutive "
                    f"failures (last: {self._last_error}); retry in {retry_s:.3f}s"
                )
            if now < self._blocked_until:
                retry_s = self._blocked_until - now
                raise JupiterRateLimitedError(
                    f"Jupiter rate limit (HTTP 429) still in force for {retry_s:.3f}s",
                    retry_after_s=retry_s,
                )
            is_trial = state is BreakerState.HALF_OPEN
            if is_trial:
                self._trial_in_flight = True
        if self._rate_limiter is None:
            return is_trial
        try:
            wait_s = self._rate_limiter.admit(RATE_LIMIT_KEY, max_wait_s)  # may sleep: not under _lock
        except BaseException:
            self._release_trial(is_trial)
            raise
        if wait_s > 0:
            self._release_trial(is_trial)
            raise JupiterRateLimitedError(
                f"Jupiter rate limit: next slot in {wait_s:.3f}s, over max_wait_s={max_wait_s}",
                retry_after_s=wait_s,
            )
        return is_trial

    def _on_service_up(self, is_trial: bool) -> None:
        with self._lock:
            self._failures = 0
            self._open_until = None
            if is_trial:
                self._trial_in_flight = False

    def _on_failure(self, exc: JupiterUnavailableError, is_trial: bool) -> None:
        with self._lock:
            self._failures += 1
            self._last_error = exc.message
            if is_trial:
                self._trial_in_flight = False
            # Only a closed breaker trips on the count; a failed trial re-opens at once.
            if is_trial or (self._open_until is None and self._failures >= self._failure_threshold):
                self._open_until = self._clock() + self._cooldown_s

    def _on_rate_limited(self, exc: JupiterRateLimitedError, is_trial: bool) -> None:
        with self._lock:
            self._last_error = exc.message
            self._blocked_until = max(self._blocked_until, self._clock() + exc.retry_after_s)
            if is_trial:
                self._trial_in_flight = False  # still half-open: the next call is the trial

    def _release_trial(self, is_trial: bool) -> None:
        if is_trial:
            with self._lock:
                self._trial_in_flight = False

    # -- I/O

    def _fetch(self, params: dict[str, str]) -> JupiterQuote:
        url = self._quote_url
        try:
            with self._session.get(
                url, params=params, headers=self._headers, timeout=self._timeout_s
            ) as response:
                status = response.status_code
                body = response.content
                headers = response.headers
        except requests.RequestException as exc:
            if _is_timeout(exc):
                raise JupiterTimeoutError(
                    f"Jupiter GET {url} timed out after {self._timeout_s}s: {_excerpt(str(exc))}"
                ) from exc
            raise JupiterUnavailableError(
                f"Jupiter GET {url} failed: {type(exc).__name__}: {_excerpt(str(exc))}"
            ) from exc
        if status == 200:
            return _parse_quote(body)
        error_text, error_code = _error_fields(body)
        detail = f"HTTP {status}" + (f" {error_code}" if error_code else "") + f": {error_text}"
        if status == 429:
            back_off_s = _back_off_s(headers)
            raise JupiterRateLimitedError(
                f"Jupiter rate limited the request ({detail}); retry after {back_off_s:.3f}s",
                retry_after_s=back_off_s,
                status=status,
                error_code=error_code,
            )
        if status == 400:
            if error_code in _NO_ROUTE_CODES:
                raise JupiterNoRouteError(
                    f"Jupiter found no route ({detail})", status=status, error_code=error_code
                )
            if error_code == _TOKEN_NOT_TRADABLE_CODE:
                raise JupiterTokenNotTradableError(
                    f"Jupiter cannot trade the token ({detail})",
                    status=status,
                    error_code=error_code,
                )
            raise JupiterBadRequestError(
                f"Jupiter rejected the request ({detail})", status=status, error_code=error_code
            )
        # 5xx and 408 may pass; other statuses (401, 403, 404...) mean a wrong key or base URL.
        raise JupiterUnavailableError(
            f"Jupiter GET {url} answered {detail}",
            status=status,
            error_code=error_code,
            is_transient=status >= 500 or status == 408,
        )


def _quote_params(
    input_mint: str,
    output_mint: str,
    amount: int,
    *,
    slippage_bps: int,
    swap_mode: str,
    only_direct_routes: bool,
    restrict_intermediate_tokens: bool,
    max_accounts: int | None,
) -> dict[str, str]:
    """Validate quote arguments locally and build the query string parameters."""
    for field, mint in (("input_mint", input_mint), ("output_mint", output_mint)):
        if not isinstance(mint, str) or not _MINT_RE.fullmatch(mint):
            raise ValidationError(f"{field} is not a base58 mint address: {mint!r}", field=field)
    _check_int_range("amount", amount, 1, _U64_MAX)
    _check_int_range("slippage_bps", slippage_bps, 0, _MAX_BPS)
    if swap_mode not in _SWAP_MODES:
        raise ValidationError(f"swap_mode must be ExactIn or ExactOut, got {swap_mode!r}", field="swap_mode")
    for field, flag in (
        ("only_direct_routes", only_direct_routes),
        ("restrict_intermediate_tokens", restrict_intermediate_tokens),
    ):
        if not isinstance(flag, bool):
            raise ValidationError(f"{field} must be a bool, got {flag!r}", field=field)
    params = {
        "inputMint": input_mint,
        "outputMint": output_mint,
        "amount": str(amount),
        "slippageBps": str(slippage_bps),
        "swapMode": swap_mode,
        "onlyDirectRoutes": "true" if only_direct_routes else "false",
        "restrictIntermediateTokens": "true" if restrict_intermediate_tokens else "false",
    }
    if max_accounts is not None:
        _check_int_range("max_accounts", max_accounts, 1, 256)
        params["maxAccounts"] = str(max_accounts)
    return params


def _check_int_range(field: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an int, got {value!r}", field=field)
    if not low <= value <= high:
        raise ValidationError(f"{field} must be in {low}..{high}, got {value}", field=field)


def _check_positive(field: str, value: object) -> None:
    _check_non_negative(field, value)
    if value == 0:
        raise ValidationError(f"{field} must be positive, got {value!r}", field=field)


def _check_non_negative(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValidationError(f"{field} must be a finite non-negative number, got {value!r}", field=field)


def _check_matches_request(
    result: JupiterQuote, input_mint: str, output_mint: str, amount: int, swap_mode: str
) -> None:
    """Reject a well-formed quote for a different trade than the one asked for."""
    fixed_amount = result.in_amount if swap_mode == "ExactIn" else result.out_amount
    expected = (input_mint, output_mint, swap_mode, amount)
    got = (result.input_mint, result.output_mint, result.swap_mode, fixed_amount)
    if got != expected:
        raise JupiterBadResponseError(
            f"Jupiter quote does not match the request: asked {expected}, got {got}", status=200
        )


def _parse_quote(body: bytes) -> JupiterQuote:
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise JupiterBadResponseError(
            f"Jupiter answered HTTP 200 with a body that is not JSON: {_excerpt(body)}",
            status=200,
        ) from exc
    try:
        return JupiterQuote.from_json(data)
    except JupiterBadResponseError as exc:
        raise JupiterBadResponseError(
            f"Jupiter answered HTTP 200 with a malformed quote: {exc.message}", status=200
        ) from exc


def _error_fields(body: bytes) -> tuple[str, str | None]:
    """Read ``{"error": text, "errorCode": CODE}``; else an excerpt of the raw body."""
    try:
        data = json.loads(body)
    except ValueError:
        return _excerpt(body) or "(empty body)", None
    if not isinstance(data, dict):
        return _excerpt(body), None
    error = data.get("error")
    code = data.get("errorCode")
    text = error if isinstance(error, str) else _excerpt(body)
    return text, code if isinstance(code, str) and code else None


def _excerpt(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= _BODY_EXCERPT_CHARS else text[:_BODY_EXCERPT_CHARS] + "..."


def _is_timeout(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    # A read timeout while the body streams in surfaces as ConnectionError(ReadTimeoutError).
    return bool(exc.args) and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError)


def _back_off_s(headers: Mapping[str, str]) -> float:
    """Seconds to back off after a 429: Retry-After, then RateLimit-Reset headers, else default."""
    reference = _server_now(headers)
    delay = retry_after_s(headers.get("Retry-After"), reference)
    for name in ("RateLimit-Reset", "X-RateLimit-Reset"):
        if delay is None:
            delay = _delay_from_reset(headers.get(name), reference)
    if delay is None:
        delay = DEFAULT_RETRY_AFTER_S
    return min(max(delay, 0.0), _MAX_RETRY_AFTER_S)


def _server_now(headers: Mapping[str, str]) -> float:
    """The server's clock (its Date header) as epoch seconds, so our clock skew does not matter."""
    parsed = http_date(headers.get("Date"))
    return parsed if parsed is not None else time.time()


def _delay_from_reset(value: str | None, server_now: float) -> float | None:
    """RateLimit-Reset styles differ: delta seconds, or epoch seconds / milliseconds."""
    if value is None or not _SECONDS_RE.fullmatch(value.strip()):
        return None
    number = float(value)
    if number > 1e12:  # epoch milliseconds
        return number / 1000.0 - server_now
    if number > 1e9:  # epoch seconds
        return number - server_now
    return number
