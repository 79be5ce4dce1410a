"""A local HTTP stand-in for Jupiter's swap quote API, so no test ever touches the internet.

It mirrors ``GET https://api.jup.ag/swap/v1/quote`` as Jupiter serves it:

- success bodies with Jupiter's field names and JSON types: amounts are decimal strings of base
  units, ``priceImpactPct`` is a decimal-string fraction ("0.0012" is 0.12 %), ``slippageBps``,
  ``percent`` and ``bps`` are JSON integers, ``platformFee`` is null, ``contextSlot`` rises per
  request and ``timeTaken`` is in seconds. ``routePlan`` steps come in both forms seen in the
  wild: legacy (``percent`` set, with ``feeAmount``/``feeMint``) and newer (``percent`` null,
  ``bps`` set, fee fields absent);
- 400 bodies ``{"error": text, "errorCode": CODE}``, including Jupiter's own refusal of
  inputMint == outputMint (CIRCULAR_ARBITRAGE_IS_DISABLED) and of unparseable parameters;
- on demand: 429 with ``Retry-After`` (seconds or HTTP-date) or other rate-limit headers, 5xx
  with a gateway's HTML page, slow answers, and garbage bodies.

Pricing (the ``ok`` behaviour) is one constant-product pool per pair, so ``outAmount`` and
``priceImpactPct`` move with the amount the way a router's fitted curve expects. With fee
``f`` (bps, taken from the input), ``a = amount * (1 - f)``, input reserve ``R_in`` and output
reserve ``R_out``:

    outAmount      = floor(R_out * a / (R_in + a))
    priceImpactPct = a / (R_in + a)
    so outAmount  ~= a * price * (1 - priceImpactPct),  price = R_out / R_in

For any pair without its own pool (``set_pool``) the reserves are ``R_in = depth_in`` and
``R_out = depth_in * price``, price in output base units per input base unit (default 0.15:
150 USDC per SOL in 6- and 9-decimal base units). ExactOut inverts the same formulas, rounding
the input up.

Usage::

    with JupiterDouble() as jupiter:
        client = JupiterClient(jupiter.base_url, api_key="k")
        jupiter.error(400, "NO_ROUTES_FOUND", times=1)  # the next request only
        jupiter.server_error(503)  # every request from now on
        jupiter.requests[-1].headers["x-api-key"]
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal, Self
from urllib.parse import parse_qs, urlsplit

from tests.waiting import WAIT_S
from tokens import TOKENS

__all__ = [
    "EXAMPLE_QUOTE",
    "Behaviour",
    "Error",
    "Held",
    "JupiterDouble",
    "Ok",
    "RateLimited",
    "Raw",
    "RecordedRequest",
    "Slow",
    "closed_port_url",
    "http_date",
]

SOL_MINT = TOKENS["SOL"].mint
USDC_MINT = TOKENS["USDC"].mint
USDT_MINT = TOKENS["USDT"].mint

# The documented shape of a real answer (1 SOL -> USDC through one Raydium pool).
EXAMPLE_QUOTE: dict[str, object] = {
    "inputMint": SOL_MINT,
    "inAmount": "1000000000",
    "outputMint": USDC_MINT,
    "outAmount": "150123456",
    "otherAmountThreshold": "149372839",
    "swapMode": "ExactIn",
    "slippageBps": 50,
    "platformFee": None,
    "priceImpactPct": "0.0012",
    "routePlan": [
        {
            "swapInfo": {
                "ammKey": "58oQChx4yWmvKdwLLZzBi4ChoCc2fqCUWBkwMihLYQo2",
                "label": "Raydium",
                "inputMint": SOL_MINT,
                "outputMint": USDC_MINT,
                "inAmount": "1000000000",
                "outAmount": "150123456",
                "feeAmount": "25000",
                "feeMint": SOL_MINT,
            },
            "percent": 100,
            "bps": 10000,
        }
    ],
    "contextSlot": 299283763,
    "timeTaken": 0.0127,
}

Route = Literal["direct", "split", "two_hop"]
_DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "direct": ("Raydium",),
    "split": ("Raydium CLMM", "Whirlpool"),
    "two_hop": ("Whirlpool", "Meteora DLMM"),
}
_DEFAULT_ERROR_TEXT = {
    "NO_ROUTES_FOUND": "No routes found",
    "COULD_NOT_FIND_ANY_ROUTE": "Could not find any route",
    "ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT": "Route plan does not consume all the amount",
    "TOKEN_NOT_TRADABLE": "The token is not tradable",
    "CIRCULAR_ARBITRAGE_IS_DISABLED": "Circular arbitrage is disabled",
}
_GATEWAY_PAGE = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)
_MINT_RE = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_U64_MAX = 2**64 - 1
_FIRST_SLOT = 299_283_763


# --------------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Ok:
    """Price the trade with the pool model; ``None`` fields take the double's defaults."""

    route: Route = "direct"
    price: Decimal | None = None
    depth_in: int | None = None
    fee_bps: int | None = None
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Error:
    """Answer ``{"error": message, "errorCode": error_code}`` (code omitted when None)."""

    status: int = 400
    error_code: str | None = "NO_ROUTES_FOUND"
    message: str | None = None


@dataclass(frozen=True)
class RateLimited:
    """Answer 429, with ``Retry-After`` when given and any extra headers."""

    retry_after: str | None = "2"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Raw:
    """Answer exactly these bytes with this status (garbage 200s, HTML error pages)."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class Slow:
    """Wait ``delay_s`` before answering as ``then`` does (the wait ends early on close)."""

    delay_s: float
    then: Behaviour = field(default_factory=Ok)


@dataclass(frozen=True)
class Held:
    """Answer as ``then`` does once the test calls ``JupiterDouble.release`` (or on close): the test,
    not the clock, decides how long the request is in flight."""

    then: Behaviour = field(default_factory=Ok)


Behaviour = Ok | Error | RateLimited | Raw | Slow | Held


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the double received it; header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Queued:
    behaviour: Behaviour
    remaining: int


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------- the double


class JupiterDouble:
    """A Jupiter ``/quote`` server on 127.0.0.1 (random port) in a daemon thread."""

    def __init__(
        self,
        *,
        price: Decimal | str | int = Decimal("0.15"),
        depth_in: int = 10**13,
        fee_bps: int = 25,
        base_path: str = "/swap/v1",
    ) -> None:
        self.price = Decimal(price)
        self.depth_in = depth_in
        self.fee_bps = fee_bps
        self.base_path = base_path.rstrip("/")
        self._pools: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        self._lock = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._queue: deque[_Queued] = deque()
        self._default: Behaviour = Ok()
        self._slot = _FIRST_SLOT
        self._stopping = threading.Event()
        self._released = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> Self:
        """Bind a free local port and serve in a daemon thread."""
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name="jupiter-double",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake slow answers and release the socket."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """Base URL to give the client, e.g. ``http://127.0.0.1:PORT/swap/v1``."""
        if self._server is None:
            raise RuntimeError("JupiterDouble is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.base_path}"

    # -- what it has seen

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout_s: float = WAIT_S) -> list[RecordedRequest]:
        """Block until at least ``count`` requests have arrived; raise TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout_s):
                raise TimeoutError(f"{len(self._requests)} of {count} requests in {timeout_s}s")
            return list(self._requests)

    # -- how it answers

    def respond(self, behaviour: Behaviour, *, times: int | None = None) -> None:
        """Answer the next ``times`` requests so (after earlier queued ones), or all when None."""
        with self._lock:
            if times is None:
                self._default = behaviour
            elif times > 0:
                self._queue.append(_Queued(behaviour, times))

    def ok(
        self,
        *,
        route: Route = "direct",
        price: Decimal | str | None = None,
        depth_in: int | None = None,
        fee_bps: int | None = None,
        labels: tuple[str, ...] | None = None,
        times: int | None = None,
    ) -> None:
        """Quote from the pool model; route "direct", "split" (70/30) or "two_hop"."""
        self.respond(
            Ok(route, None if price is None else Decimal(price), depth_in, fee_bps, labels),
            times=times,
        )

    def error(
        self,
        status: int = 400,
        error_code: str | None = "NO_ROUTES_FOUND",
        message: str | None = None,
        *,
        times: int | None = None,
    ) -> None:
        """Answer with Jupiter's error body."""
        self.respond(Error(status, error_code, message), times=times)

    def rate_limited(
        self,
        retry_after: str | None = "2",
        *,
        headers: dict[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer 429 Too Many Requests."""
        self.respond(RateLimited(retry_after, tuple((headers or {}).items())), times=times)

    def slow(self, delay_s: float, *, then: Behaviour | None = None, times: int | None = None) -> None:
        """Wait ``delay_s`` seconds, then answer as ``then`` (default: ok)."""
        self.respond(Slow(delay_s, Ok() if then is None else then), times=times)

    def hold(self, *, then: Behaviour | None = None, times: int | None = None) -> None:
        """Keep requests waiting until ``release()``, then answer as ``then`` (default: ok)."""
        self._released.clear()
        self.respond(Held(Ok() if then is None else then), times=times)

    def release(self) -> None:
        """Let every held request (and any later one) answer."""
        self._released.set()

    def malformed(
        self,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "application/json",
        times: int | None = None,
    ) -> None:
        """Answer exactly ``body`` (not JSON, wrong shape, or any raw text)."""
        self.respond(Raw(body, status, content_type), times=times)

    def server_error(
        self, status: int = 503, *, body: bytes = _GATEWAY_PAGE, times: int | None = None
    ) -> None:
        """Answer a 5xx with a gateway's HTML page."""
        self.respond(Raw(body, status, "text/html"), times=times)

    def set_pool(self, mint_a: str, mint_b: str, reserve_a: int, reserve_b: int) -> None:
        """Give one pair its own constant-product reserves (base units), used both ways."""
        with self._lock:
            self._pools[(mint_a, mint_b)] = (Decimal(reserve_a), Decimal(reserve_b))
            self._pools[(mint_b, mint_a)] = (Decimal(reserve_b), Decimal(reserve_a))

    def reset(self) -> None:
        """Forget recorded requests and queued behaviours; answer ok again."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._default = Ok()

    # -- the model

    def quote_body(
        self,
        input_mint: str,
        output_mint: str,
        amount: int,
        *,
        swap_mode: str = "ExactIn",
        slippage_bps: int = 50,
        ok: Ok | None = None,
    ) -> dict[str, object]:
        """The success body the double would send; ValueError when the pool cannot fill it."""
        reply_or_body = self._priced(
            ok or Ok(), input_mint, output_mint, amount, swap_mode, slippage_bps, None
        )
        if isinstance(reply_or_body, _Reply):
            raise ValueError(reply_or_body.body.decode())
        return reply_or_body

    def _reserves(self, ok: Ok, input_mint: str, output_mint: str) -> tuple[Decimal, Decimal]:
        if ok.price is None and ok.depth_in is None:
            with self._lock:
                pool = self._pools.get((input_mint, output_mint))
            if pool is not None:
                return pool
        depth = Decimal(self.depth_in if ok.depth_in is None else ok.depth_in)
        return depth, depth * (self.price if ok.price is None else ok.price)

    def _priced(
        self,
        ok: Ok,
        input_mint: str,
        output_mint: str,
        amount: int,
        swap_mode: str,
        slippage_bps: int,
        started: float | None,
    ) -> dict[str, object] | _Reply:
        fee_bps = self.fee_bps if ok.fee_bps is None else ok.fee_bps
        r_in, r_out = self._reserves(ok, input_mint, output_mint)
        with localcontext() as ctx:
            ctx.prec = 60
            if swap_mode == "ExactIn":
                in_amount = amount
                fee = in_amount * fee_bps // 10_000
                net = in_amount - fee
                out_amount = int((r_out * net / (r_in + net)).to_integral_value(ROUND_FLOOR))
                threshold = out_amount * (10_000 - slippage_bps) // 10_000
            else:
                out_amount = amount
                if out_amount >= r_out:
                    return _error_reply(400, "COULD_NOT_FIND_ANY_ROUTE", None)
                net = int((r_in * out_amount / (r_out - out_amount)).to_integral_value(ROUND_CEILING))
                in_amount = -(-net * 10_000 // (10_000 - fee_bps))
                fee = in_amount - net
                threshold = -(-in_amount * (10_000 + slippage_bps) // 10_000)
            impact = Decimal(net) / (r_in + net)
        if out_amount <= 0 or in_amount > _U64_MAX:
            return _error_reply(400, "COULD_NOT_FIND_ANY_ROUTE", None)
        with self._lock:
            self._slot += 1
            slot = self._slot
        return {
            "inputMint": input_mint,
            "inAmount": str(in_amount),
            "outputMint": output_mint,
            "outAmount": str(out_amount),
            "otherAmountThreshold": str(threshold),
            "swapMode": swap_mode,
            "slippageBps": slippage_bps,
            "platformFee": None,
            "priceImpactPct": _decimal_text(impact),
            "routePlan": _route_plan(ok, input_mint, output_mint, in_amount, out_amount, fee),
            "contextSlot": slot,
            "timeTaken": 0.0127 if started is None else round(time.perf_counter() - started, 6),
        }

    # -- serving (called on the server's handler threads)

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            if not self._queue:
                return self._default
            head = self._queue[0]
            head.remaining -= 1
            if head.remaining <= 0:
                self._queue.popleft()
            return head.behaviour

    def _serve(self, handler: _Handler) -> None:
        started = time.perf_counter()
        split = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self._requests.append(RecordedRequest(handler.command, split.path, query, headers))
            self._lock.notify_all()
        behaviour = self._next_behaviour()
        while isinstance(behaviour, Slow | Held):
            if isinstance(behaviour, Held):
                while not self._released.wait(0.01):
                    if self._stopping.is_set():
                        return  # shutting down: drop the connection unanswered
            elif self._stopping.wait(behaviour.delay_s):
                return
            behaviour = behaviour.then
        _send(handler, self._reply(behaviour, handler.command, split.path, query, started))

    def _reply(
        self, behaviour: Behaviour, method: str, path: str, query: dict[str, str], started: float
    ) -> _Reply:
        if isinstance(behaviour, Error):
            return _error_reply(behaviour.status, behaviour.error_code, behaviour.message)
        if isinstance(behaviour, RateLimited):
            headers = behaviour.headers
            if behaviour.retry_after is not None:
                headers = (("Retry-After", behaviour.retry_after), *headers)
            return _Reply(429, _json({"error": "Rate limit exceeded"}), headers=headers)
        if isinstance(behaviour, Raw):
            return _Reply(behaviour.status, behaviour.body, behaviour.content_type)
        assert isinstance(behaviour, Ok)
        if path != f"{self.base_path}/quote":
            return _Reply(404, b"Not Found", "text/plain")
        if method != "GET":
            return _Reply(405, b"Method Not Allowed", "text/plain")
        return self._quote_reply(behaviour, query, started)

    def _quote_reply(self, ok: Ok, query: dict[str, str], started: float) -> _Reply:
        for name in ("inputMint", "outputMint", "amount"):
            if name not in query:
                return _error_reply(400, None, f"Missing required query parameter: {name}")
        for name in ("inputMint", "outputMint"):
            if not _MINT_RE.fullmatch(query[name]):
                return _error_reply(
                    400, None, f"Query parameter {name} cannot be parsed: Invalid Base58 string"
                )
        amount = _u64(query["amount"])
        slippage_bps = _u64(query.get("slippageBps", "50"))
        swap_mode = query.get("swapMode", "ExactIn")
        if amount is None:
            return _error_reply(400, None, "Query parameter amount cannot be parsed")
        if slippage_bps is None or slippage_bps > 10_000:
            return _error_reply(400, None, "Query parameter slippageBps cannot be parsed")
        if swap_mode not in ("ExactIn", "ExactOut"):
            return _error_reply(400, None, f"Query parameter swapMode is invalid: {swap_mode}")
        if query["inputMint"] == query["outputMint"]:
            return _error_reply(400, "CIRCULAR_ARBITRAGE_IS_DISABLED", None)
        if query.get("onlyDirectRoutes") == "true":
            ok = Ok("direct", ok.price, ok.depth_in, ok.fee_bps, ok.labels)
        priced = self._priced(
            ok,
            query["inputMint"],
            query["outputMint"],
            amount,
            swap_mode,
            slippage_bps,
            started,
        )
        return priced if isinstance(priced, _Reply) else _Reply(200, _json(priced))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, double: JupiterDouble) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.double = double

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that timed out and hung up is expected here, not a failure of the double.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "jupiter-double/1.0"
    timeout = 10  # seconds a silent client may hold a handler thread

    def do_GET(self) -> None:
        self.server.double._serve(self)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


# --------------------------------------------------------------------------- helpers


def closed_port_url() -> str:
    """A base URL on a local port that nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/swap/v1"


def http_date(epoch_s: float) -> str:
    """Format an epoch time as an HTTP-date (e.g. for ``rate_limited(retry_after=...)``)."""
    return formatdate(epoch_s, usegmt=True)


def _route_plan(
    ok: Ok, input_mint: str, output_mint: str, in_amount: int, out_amount: int, fee: int
) -> list[dict[str, object]]:
    labels = ok.labels or _DEFAULT_LABELS[ok.route]
    if ok.route == "direct":
        return [_step(labels[0], input_mint, output_mint, in_amount, out_amount, fee, 100, 10_000)]
    if ok.route == "split":
        first_in, first_out, first_fee = (x * 7_000 // 10_000 for x in (in_amount, out_amount, fee))
        return [
            _step(labels[0], input_mint, output_mint, first_in, first_out, first_fee, 70, 7_000),
            _step(
                labels[-1],
                input_mint,
                output_mint,
                in_amount - first_in,
                out_amount - first_out,
                None,
                None,
                3_000,
            ),
        ]
    # two_hop: the intermediate amount is nominal (taken 1:1 with the output amount).
    middle = next(m for m in (USDC_MINT, USDT_MINT, SOL_MINT) if m not in (input_mint, output_mint))
    return [
        _step(labels[0], input_mint, middle, in_amount, out_amount, fee, 100, 10_000),
        _step(labels[-1], middle, output_mint, out_amount, out_amount, None, None, 10_000),
    ]


def _step(
    label: str,
    input_mint: str,
    output_mint: str,
    in_amount: int,
    out_amount: int,
    fee: int | None,
    percent: int | None,
    bps: int,
) -> dict[str, object]:
    info: dict[str, object] = {
        "ammKey": _fake_address(label, input_mint, output_mint),
        "label": label,
        "inputMint": input_mint,
        "outputMint": output_mint,
        "inAmount": str(in_amount),
        "outAmount": str(out_amount),
    }
    if fee is not None:  # newer responses may omit both fee fields
        info["feeAmount"] = str(fee)
        info["feeMint"] = input_mint
    return {"swapInfo": info, "percent": percent, "bps": bps}


def _fake_address(*parts: str) -> str:
    """A stable base58 string shaped like a Solana address."""
    number = int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest(), "big")
    digits = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(_B58[rest])
    return "".join(reversed(digits))


def _decimal_text(value: Decimal) -> str:
    return format(value.quantize(Decimal("1e-18"), ROUND_FLOOR).normalize(), "f")


def _u64(text: str) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= _U64_MAX else None


def _error_reply(status: int, error_code: str | None, message: str | None) -> _Reply:
    text = message or _DEFAULT_ERROR_TEXT.get(error_code or "", f"Error {status}")
    body: dict[str, object] = {"error": text}
    if error_code is not None:
        body["errorCode"] = error_code
    return _Reply(status, _json(body))


def _json(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _send(handler: BaseHTTPRequestHandler, reply: _Reply) -> None:
    handler.send_response(reply.status)
    handler.send_header("Content-Type", reply.content_type)
    handler.send_header("Content-Length", str(len(reply.body)))
    for name, value in reply.headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(reply.body)
