"""Local HTTP stand-ins for CoinGecko, Kraken and Binance price APIs, plus a fake clock.

Each double is a real HTTP server on 127.0.0.1 (ephemeral port) in a background thread,
answering in the real API's JSON shape, recording every request, and switchable at runtime
between behaviours (``Behaviour``): healthy, throttled in that API's own style, server error,
slow, malformed. Use as context managers so sockets and threads are closed::

    with CoinGeckoDouble() as coingecko:
        source = CoinGeckoSource(coingecko.url)
        coingecko.behaviour = Behaviour.THROTTLED
"""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlsplit

from price_feeds import DEFAULT_BINANCE_SYMBOLS, DEFAULT_COINGECKO_IDS

__all__ = [
    "BINANCE_PRICES",
    "COINGECKO_CHANGES",
    "COINGECKO_PRICES",
    "KRAKEN_LISTINGS",
    "KRAKEN_OPENS",
    "KRAKEN_PRICES",
    "Behaviour",
    "BinanceDouble",
    "CoinGeckoDouble",
    "FakeClock",
    "KrakenDouble",
    "RecordedRequest",
    "Reply",
]

# Slightly different per API so a test can tell which source answered from the price alone.
COINGECKO_PRICES: Mapping[str, Decimal] = {
    "SOL": Decimal("142.31"),
    "USDC": Decimal("1.0001"),
    "USDT": Decimal("0.9998"),
    "RAY": Decimal("2.15"),
    "JUP": Decimal("0.85"),
    "BONK": Decimal("0.00002134"),
}
COINGECKO_CHANGES: Mapping[str, Decimal] = {
    "SOL": Decimal("-1.23"),
    "USDC": Decimal("0.01"),
    "USDT": Decimal("-0.02"),
    "RAY": Decimal("3.5"),
    "JUP": Decimal("-4.25"),
    "BONK": Decimal("12.5"),
}
KRAKEN_PRICES: Mapping[str, Decimal] = {
    "SOL": Decimal("142.05"),
    "USDC": Decimal("1.0000"),
    "USDT": Decimal("0.99990"),
    "RAY": Decimal("2.140"),
    "JUP": Decimal("0.8480"),
    "BONK": Decimal("0.00002120"),
    "BTC": Decimal("91234.5"),
}
KRAKEN_OPENS: Mapping[str, Decimal] = {
    "SOL": Decimal("140.00"),
    "USDC": Decimal("1.0000"),
    "USDT": Decimal("1.00000"),
    "RAY": Decimal("2.000"),
    "JUP": Decimal("0.8000"),
    "BONK": Decimal("0.00002000"),
    "BTC": Decimal("90000.0"),
}
# symbol -> (key Kraken uses in the Ticker result, altname also accepted in requests).
# Legacy assets keep X/Z-prefixed keys: a request for XBTUSD is answered as XXBTZUSD.
KRAKEN_LISTINGS: Mapping[str, tuple[str, str]] = {
    "SOL": ("SOLUSD", "SOLUSD"),
    "USDC": ("USDCUSD", "USDCUSD"),
    "USDT": ("USDTZUSD", "USDTUSD"),
    "RAY": ("RAYUSD", "RAYUSD"),
    "JUP": ("JUPUSD", "JUPUSD"),
    "BONK": ("BONKUSD", "BONKUSD"),
    "BTC": ("XXBTZUSD", "XBTUSD"),
}
BINANCE_PRICES: Mapping[str, Decimal] = {
    "SOL": Decimal("142.10"),
    "USDC": Decimal("1.0002"),
    "RAY": Decimal("2.148"),
    "JUP": Decimal("0.8490"),
    "BONK": Decimal("0.00002130"),
}

PriceValue = Decimal | str | int | None


class Behaviour(enum.Enum):
    """How a double answers; each API renders these in its own real style."""

    OK = "ok"
    THROTTLED = "throttled"  # CoinGecko HTTP 429; Kraken EGeneral:Too many requests; Binance 429
    THROTTLED_IN_BODY = "throttled_in_body"  # CoinGecko 200 + status 429; Kraken EAPI:Rate limit
    BANNED = "banned"  # Binance 418 (kept hammering after 429s)
    RESTRICTED = "restricted"  # Binance 451 (restricted location)
    SERVER_ERROR = "server_error"  # 502 with an HTML error page
    SLOW = "slow"  # a correct answer after ``slow_s`` seconds
    MALFORMED = "malformed"  # 200 with a truncated JSON body


@dataclass(frozen=True)
class RecordedRequest:
    """One request a double received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased

    def param(self, name: str) -> str | None:
        """First value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Reply:
    """A canned HTTP answer."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = field(default=(("Content-Type", "application/json"),))

    @classmethod
    def json_text(cls, status: int, text: str, *extra_headers: tuple[str, str]) -> Reply:
        """A JSON reply from already-rendered JSON text."""
        return cls(status, text.encode(), (("Content-Type", "application/json"), *extra_headers))


def _render(value: object) -> str:
    """JSON text with Decimals as bare numbers (str(Decimal), so NaN stays NaN)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_render(v) for v in value) + "]"
    return json.dumps(value)


_HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads are joined by server_close(), so nothing outlives the double.
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that time out and hang up are expected here; stay quiet about them."""


class _ApiDouble:
    """Server lifecycle, request recording and behaviour switching shared by the doubles."""

    base_path = ""

    def __init__(
        self,
        *,
        behaviour: Behaviour = Behaviour.OK,
        slow_s: float = 1.0,
        retry_after_s: int | None = None,
    ) -> None:
        self.behaviour = behaviour
        self.slow_s = slow_s
        self.retry_after_s = retry_after_s
        self.override: Reply | None = None
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Self:
        """Bind 127.0.0.1 on an ephemeral port and serve in a background thread."""
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake slow handlers, stop serving, close the socket and join every thread."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("double is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL to hand to the source (includes the API's path prefix)."""
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    # -- recording ------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """How many requests were received."""
        with self._lock:
            return len(self._requests)

    def clear_requests(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self._requests.clear()

    def respond_with(self, status: int, body: str, *headers: tuple[str, str]) -> None:
        """Answer every request with this JSON text until ``override`` is reset to None."""
        self.override = Reply.json_text(status, body, *headers)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _answer(self, request: RecordedRequest) -> Reply:
        if self.override is not None:
            return self.override
        behaviour = self.behaviour
        if behaviour is Behaviour.SLOW:
            self._stopping.wait(self.slow_s)
            behaviour = Behaviour.OK
        if behaviour is Behaviour.SERVER_ERROR:
            return Reply(502, _HTML_502, (("Content-Type", "text/html"),))
        if behaviour is Behaviour.MALFORMED:
            return Reply.json_text(200, '{"result": {"SOL')
        if not request.path.startswith(self.base_path + "/"):
            return Reply.json_text(404, '{"error": "Not found"}')
        return self.answer(request, behaviour)

    def _retry_after_headers(self) -> tuple[tuple[str, str], ...]:
        if self.retry_after_s is None:
            return ()
        return (("Retry-After", str(self.retry_after_s)),)

    def answer(self, request: RecordedRequest, behaviour: Behaviour) -> Reply:
        """The API-specific answer for OK and the API's own error behaviours."""
        raise NotImplementedError


def _make_handler(double: _ApiDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so server_close() never waits on idle keep-alives.
        protocol_version = "HTTP/1.0"
        server_version = "PriceDouble/1.0"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            request = RecordedRequest(
                method="GET",
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
            )
            double._record(request)
            reply = double._answer(request)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test); nothing to tell it

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class CoinGeckoDouble(_ApiDouble):
    """CoinGecko v3 ``/simple/price``: ``{"solana": {"usd": 142.31, "usd_24h_change": -1.23}}``."""

    base_path = "/api/v3"

    def __init__(
        self,
        prices: Mapping[str, PriceValue] = COINGECKO_PRICES,
        *,
        changes_24h_pct: Mapping[str, PriceValue] = COINGECKO_CHANGES,
        ids: Mapping[str, str] = DEFAULT_COINGECKO_IDS,
        behaviour: Behaviour = Behaviour.OK,
        slow_s: float = 1.0,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(behaviour=behaviour, slow_s=slow_s, retry_after_s=retry_after_s)
        self.prices: dict[str, PriceValue] = dict(prices)
        self.changes_24h_pct: dict[str, PriceValue] = dict(changes_24h_pct)
        self.ids = dict(ids)

    def answer(self, request: RecordedRequest, behaviour: Behaviour) -> Reply:
        """CoinGecko's answer: unknown ids are silently omitted, throttling has two styles."""
        throttle_body = (
            '{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit. '
            "Please visit https://www.coingecko.com/en/api/pricing to subscribe to our API "
            'plans for higher rate limits."}}'
        )
        if behaviour is Behaviour.THROTTLED:
            return Reply.json_text(429, throttle_body, *self._retry_after_headers())
        if behaviour is Behaviour.THROTTLED_IN_BODY:
            return Reply.json_text(200, throttle_body)
        if request.path != f"{self.base_path}/simple/price":
            return Reply.json_text(
                404, '{"error":"Incorrect path. Please check https://www.coingecko.com/api/"}'
            )
        ids = [i for i in (request.param("ids") or "").split(",") if i]
        if not ids:
            return Reply.json_text(422, '{"error":"Missing parameter ids"}')
        include_change = request.param("include_24hr_change") == "true"
        symbol_by_id = {coin_id: symbol for symbol, coin_id in self.ids.items()}
        body: dict[str, object] = {}
        for coin_id in ids:
            symbol = symbol_by_id.get(coin_id)
            if symbol is None or symbol not in self.prices:
                continue
            entry: dict[str, object] = {"usd": self.prices[symbol]}
            if include_change:
                entry["usd_24h_change"] = self.changes_24h_pct.get(symbol)
            body[coin_id] = entry
        return Reply.json_text(200, _render(body))


class KrakenDouble(_ApiDouble):
    """Kraken ``/0/public/Ticker``: errors inside HTTP 200, prices as strings in arrays."""

    base_path = "/0/public"

    def __init__(
        self,
        prices: Mapping[str, PriceValue] = KRAKEN_PRICES,
        *,
        opens: Mapping[str, PriceValue] = KRAKEN_OPENS,
        listings: Mapping[str, tuple[str, str]] = KRAKEN_LISTINGS,
        behaviour: Behaviour = Behaviour.OK,
        slow_s: float = 1.0,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(behaviour=behaviour, slow_s=slow_s, retry_after_s=retry_after_s)
        self.prices: dict[str, PriceValue] = dict(prices)
        self.opens: dict[str, PriceValue] = dict(opens)
        self.listings = dict(listings)

    def answer(self, request: RecordedRequest, behaviour: Behaviour) -> Reply:
        """Kraken's answer: an unknown pair anywhere in the list fails the whole request."""
        if behaviour is Behaviour.THROTTLED:
            return Reply.json_text(200, '{"error":["EGeneral:Too many requests"]}')
        if behaviour is Behaviour.THROTTLED_IN_BODY:
            return Reply.json_text(200, '{"error":["EAPI:Rate limit exceeded"]}')
        if request.path != f"{self.base_path}/Ticker":
            return Reply.json_text(404, '{"error":["EGeneral:Unknown method"]}')
        pairs = [p for p in (request.param("pair") or "").split(",") if p]
        listed: dict[str, tuple[str, str]] = {}
        for symbol, (key, altname) in self.listings.items():
            if symbol in self.prices:
                listed[key] = (symbol, key)
                listed[altname] = (symbol, key)
        if not pairs or any(pair.upper() not in listed for pair in pairs):
            return Reply.json_text(200, '{"error":["EQuery:Unknown asset pair"]}')
        result: dict[str, object] = {}
        for pair in pairs:
            symbol, key = listed[pair.upper()]
            result[key] = self._ticker(symbol)
        return Reply.json_text(200, json.dumps({"error": [], "result": result}))

    def _ticker(self, symbol: str) -> dict[str, object]:
        last = _text(self.prices[symbol])
        opening = _text(self.opens.get(symbol, self.prices[symbol]))
        return {
            "a": [last, "1", "1.000"],
            "b": [last, "2", "2.000"],
            "c": [last, "0.50000000"],
            "v": ["1000.00000000", "25000.00000000"],
            "p": [last, last],
            "t": [120, 3400],
            "l": [last, last],
            "h": [last, last],
            "o": opening,
        }


def _text(value: PriceValue) -> str | None:
    """Kraken/Binance style: numbers travel as strings."""
    return None if value is None else str(value)


class BinanceDouble(_ApiDouble):
    """Binance ``/api/v3/ticker/price?symbols=[...]``: ``[{"symbol":..,"price":"142.1"}]``."""

    base_path = "/api/v3"

    def __init__(
        self,
        prices: Mapping[str, PriceValue] = BINANCE_PRICES,
        *,
        symbols: Mapping[str, str] = DEFAULT_BINANCE_SYMBOLS,
        behaviour: Behaviour = Behaviour.OK,
        slow_s: float = 1.0,
        retry_after_s: int | None = 30,
    ) -> None:
        super().__init__(behaviour=behaviour, slow_s=slow_s, retry_after_s=retry_after_s)
        self.prices: dict[str, PriceValue] = dict(prices)
        self.symbols = dict(symbols)

    def answer(self, request: RecordedRequest, behaviour: Behaviour) -> Reply:
        """Binance's answer: 429/418 with Retry-After, 451 by region, -1121 for unknown symbols."""
        if behaviour is Behaviour.THROTTLED:
            return Reply.json_text(
                429,
                '{"code":-1003,"msg":"Too many requests; current limit of IP(127.0.0.1) is 6000 '
                "requests per minute. Please use WebSocket Streams for live updates to avoid "
                'polling the API."}',
                *self._retry_after_headers(),
            )
        if behaviour is Behaviour.BANNED:
            return Reply.json_text(
                418,
                '{"code":-1003,"msg":"Way too many requests; IP(127.0.0.1) banned until 1763700000000. '
                'Please use WebSocket Streams for live updates to avoid bans."}',
                *self._retry_after_headers(),
            )
        if behaviour is Behaviour.RESTRICTED:
            return Reply.json_text(
                451,
                '{"code":0,"msg":"Service unavailable from a restricted location according to '
                "'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer "
                'service if you believe you received this message in error."}',
            )
        if request.path != f"{self.base_path}/ticker/price":
            return Reply.json_text(404, '{"code":-1000,"msg":"Not found"}')
        by_pair = {pair: symbol for symbol, pair in self.symbols.items() if symbol in self.prices}
        single = request.param("symbol")
        if single is not None:
            if single not in by_pair:
                return Reply.json_text(400, '{"code":-1121,"msg":"Invalid symbol."}')
            return Reply.json_text(200, json.dumps(self._ticker(single, by_pair[single])))
        try:
            pairs = json.loads(request.param("symbols") or "")
        except ValueError:
            return Reply.json_text(
                400, '{"code":-1100,"msg":"Illegal characters found in parameter \'symbols\'."}'
            )
        if not isinstance(pairs, list) or any(pair not in by_pair for pair in pairs):
            return Reply.json_text(400, '{"code":-1121,"msg":"Invalid symbol."}')
        return Reply.json_text(200, json.dumps([self._ticker(p, by_pair[p]) for p in pairs]))

    def _ticker(self, pair: str, symbol: str) -> dict[str, object]:
        value = self.prices[symbol]
        if isinstance(value, Decimal) and value.is_finite():
            price: str | None = f"{value:.8f}"
        else:
            price = _text(value)
        return {"symbol": pair, "price": price}


class FakeClock:
    """An injectable ``time.time`` stand-in that moves only when told to."""

    def __init__(self, start: float = 1_763_700_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds
