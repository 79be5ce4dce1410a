"""Reference USD prices per token from a chain of sources, each answer tagged with its source.

The chain built by ``default_price_service`` is CoinGecko ``simple/price`` -> Kraken ``Ticker``
-> Binance ``ticker/price`` -> prices implied by our own AMM pools -> static defaults. Every
source implements ``PriceSource``; ``PriceService`` asks them in order for the symbols still
missing, caches answers per (source, symbol) and backs off from sources that fail or throttle us.

Money is ``Decimal`` throughout: JSON numbers are parsed with ``parse_float=Decimal`` and the
exchanges' string prices with ``Decimal(str)``; a price that is not positive and finite is
dropped, so that symbol falls through to the next source.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, Self

import requests

from errors import PriceSourceError, PriceUnavailableError, UnknownTokenError, ValidationError
from http_session import SessionOwner, retry_after_s
from tokens import get_token, parse_amount

__all__ = [
    "BINANCE_URL",
    "COINGECKO_URL",
    "DEFAULT_BINANCE_SYMBOLS",
    "DEFAULT_COINGECKO_IDS",
    "DEFAULT_KRAKEN_PAIRS",
    "DEFAULT_POOL_ANCHORS",
    "DEFAULT_STATIC_USD_PRICES",
    "KRAKEN_URL",
    "BinanceSource",
    "CoinGeckoSource",
    "KrakenSource",
    "PoolImpliedSource",
    "PoolLike",
    "PriceQuote",
    "PriceService",
    "PriceSource",
    "PriceSourceError",
    "SourceStatus",
    "StaticSource",
    "default_price_service",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

COINGECKO_URL = "https://api.coingecko.com/api/v3"
KRAKEN_URL = "https://api.kraken.com/0/public"
BINANCE_URL = "https://api.binance.com/api/v3"

DEFAULT_COINGECKO_IDS: Mapping[str, str] = MappingProxyType(
    {
        "SOL": "solana",
        "USDC": "usd-coin",
        "USDT": "tether",
        "RAY": "raydium",
        "JUP": "jupiter-exchange-solana",
        "BONK": "bonk",
    }
)
# Kraken pair names as we request them; the Ticker result may key them differently
# (legacy X/Z-prefixed names such as XXBTZUSD), which KrakenSource maps back.
DEFAULT_KRAKEN_PAIRS: Mapping[str, str] = MappingProxyType(
    {
        "SOL": "SOLUSD",
        "USDC": "USDCUSD",
        "USDT": "USDTZUSD",
        "RAY": "RAYUSD",
        "JUP": "JUPUSD",
        "BONK": "BONKUSD",
    }
)
# USDT-quoted pairs, read as USD (see BinanceSource). USDT itself is deliberately absent:
# a USDT-quoted venue cannot tell us USDT's own USD price, so it falls to later sources.
DEFAULT_BINANCE_SYMBOLS: Mapping[str, str] = MappingProxyType(
    {
        "SOL": "SOLUSDT",
        "USDC": "USDCUSDT",
        "RAY": "RAYUSDT",
        "JUP": "JUPUSDT",
        "BONK": "BONKUSDT",
    }
)
DEFAULT_POOL_ANCHORS: Mapping[str, Decimal] = MappingProxyType({"USDC": Decimal(1), "USDT": Decimal(1)})
DEFAULT_STATIC_USD_PRICES: Mapping[str, Decimal] = MappingProxyType(
    {
        "SOL": Decimal("150"),
        "USDC": Decimal("1"),
        "USDT": Decimal("1"),
        "RAY": Decimal("2"),
        "JUP": Decimal("0.80"),
        "BONK": Decimal("0.000020"),
    }
)

# Significant digits for price ratios (mid prices, pool-implied prices): decimal128's 34.
_PRICE_PRECISION = 34
_KRAKEN_THROTTLE_MARKERS = ("Too many requests", "Rate limit exceeded", "EService:Throttled")
_KRAKEN_FIATS = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF")
_KRAKEN_ASSET_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}


# ---------------------------------------------------------------------------------------------
# Values and errors


def _finite_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a Decimal, int, numeric string or float (via repr), else None."""
    try:
        return parse_amount(value)
    except ValidationError:
        return None


def _positive_price(value: object) -> Decimal | None:
    """The value as a positive finite Decimal, or None when it is no usable price."""
    number = _finite_decimal(value)
    return number if number is not None and number > 0 else None


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """One token's USD price as one source reported it at ``fetched_at`` (epoch seconds)."""

    symbol: str
    price_usd: Decimal
    source: str
    fetched_at: float
    change_24h_pct: Decimal | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.price_usd, Decimal) or _positive_price(self.price_usd) is None:
            raise ValidationError(
                f"price of {self.symbol} from {self.source} must be a positive finite Decimal, "
                f"got {self.price_usd!r}",
                field="price_usd",
            )
        if self.change_24h_pct is not None and (
            not isinstance(self.change_24h_pct, Decimal) or not self.change_24h_pct.is_finite()
        ):
            raise ValidationError(
                f"24h change of {self.symbol} must be a finite Decimal or None, got {self.change_24h_pct!r}",
                field="change_24h_pct",
            )

    def age_s(self, now: float) -> float:
        """Seconds since the source answered (0 if ``now`` is earlier, e.g. clock skew)."""
        return max(0.0, now - self.fetched_at)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One source's health for the UI's indicators; ``retry_at`` is set while it is skipped."""

    name: str
    healthy: bool
    last_error: str | None
    last_success_at: float | None
    retry_at: float | None
    is_throttled: bool = False


class PriceSource(Protocol):
    """One place prices come from: answers a subset of symbols or raises PriceSourceError."""

    @property
    def name(self) -> str:
        """Short stable name shown to users as the quote's source."""
        ...

    def fetch(self, symbols: Sequence[str]) -> dict[str, PriceQuote]:
        """Quotes for those of ``symbols`` this source can price; raises PriceSourceError."""
        ...


class PoolLike(Protocol):
    """What PoolImpliedSource needs of a pool: symbols and integer base-unit reserves."""

    @property
    def token_a(self) -> str:
        """Symbol of side A."""
        ...

    @property
    def token_b(self) -> str:
        """Symbol of side B."""
        ...

    @property
    def reserve_a(self) -> int:
        """Reserve of side A in base units."""
        ...

    @property
    def reserve_b(self) -> int:
        """Reserve of side B in base units."""
        ...


# ---------------------------------------------------------------------------------------------
# HTTP plumbing shared by the three exchange sources


@dataclass(frozen=True, slots=True)
class _Reply:
    """An HTTP answer read in full: status, headers we care about, raw body."""

    status: int
    retry_after: str | None
    body: bytes

    @property
    def is_ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


def _loads(body: bytes) -> Any:
    """Parse JSON with every number that has a fraction (and NaN/Infinity) as Decimal."""
    return json.loads(body, parse_float=Decimal, parse_constant=Decimal)


def _try_loads(body: bytes) -> Any:
    """Parsed JSON, or None when the body is not JSON (error pages, empty bodies)."""
    try:
        return _loads(body)
    except (ValueError, RecursionError):
        return None


def _body_hint(body: bytes) -> str:
    """A short human hint from an error body: the API's own message if it has one."""
    data = _try_loads(body)
    if isinstance(data, dict):
        status = data.get("status")
        if isinstance(status, dict) and "error_message" in status:
            return str(status["error_message"])[:200]
        for key in ("msg", "error", "message"):
            if key in data:
                return str(data[key])[:200]
    return body[:120].decode("utf-8", "replace").strip()


class _HttpSource(SessionOwner):
    """Session ownership, one GET with a timeout, and error wrapping for the exchange sources."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        session: requests.Session | None,
        clock: Clock,
    ) -> None:
        if not timeout_s > 0:
            raise ValidationError(f"timeout_s must be positive, got {timeout_s!r}", field="timeout_s")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._clock = clock
        super().__init__(session)

    def _error(
        self, message: str, *, is_throttled: bool = False, retry_after_s: float | None = None
    ) -> PriceSourceError:
        return PriceSourceError(
            f"{self.name}: {message}",
            source=self.name,
            is_throttled=is_throttled,
            retry_after_s=retry_after_s,
        )

    def _get(self, path: str, params: Mapping[str, str], headers: Mapping[str, str] | None = None) -> _Reply:
        url = f"{self.base_url}{path}"
        try:
            response = self._session.get(
                url, params=dict(params), headers=dict(headers or {}), timeout=self.timeout_s
            )
            with response:
                return _Reply(response.status_code, response.headers.get("Retry-After"), response.content)
        except requests.Timeout as exc:
            raise self._error(f"no answer within {self.timeout_s} s from {url}") from exc
        except requests.RequestException as exc:
            raise self._error(f"request to {url} failed: {exc}") from exc

    def _json(self, reply: _Reply) -> Any:
        try:
            return _loads(reply.body)
        except (ValueError, RecursionError) as exc:
            raise self._error(f"malformed JSON body (HTTP {reply.status}): {exc}") from exc

    def _quote(self, symbol: str, raw_price: object, change: Decimal | None, now: float) -> PriceQuote | None:
        price = _positive_price(raw_price)
        if price is None:
            logger.warning("%s: rejected price %r for %s", self.name, raw_price, symbol)
            return None
        return PriceQuote(symbol, price, self.name, now, change)


def _wanted(symbols: Sequence[str], table: Mapping[str, str]) -> dict[str, str]:
    """The requested symbols this source knows, mapped to the source's own names."""
    return {symbol: table[symbol] for symbol in symbols if symbol in table}


# ---------------------------------------------------------------------------------------------
# The sources


class CoinGeckoSource(_HttpSource):
    """CoinGecko ``simple/price`` in USD with 24h change; detects both throttling styles."""

    name = "coingecko"

    def __init__(
        self,
        base_url: str = COINGECKO_URL,
        *,
        api_key: str | None = None,
        ids: Mapping[str, str] = DEFAULT_COINGECKO_IDS,
        timeout_s: float = 2.0,
        session: requests.Session | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(base_url, timeout_s=timeout_s, session=session, clock=clock)
        self.api_key = api_key
        self.ids: Mapping[str, str] = MappingProxyType(dict(ids))

    def fetch(self, symbols: Sequence[str]) -> dict[str, PriceQuote]:
        """GET simple/price for the known ids; raises PriceSourceError on failure or 429."""
        wanted = _wanted(symbols, self.ids)
        if not wanted:
            return {}
        params = {
            "ids": ",".join(dict.fromkeys(wanted.values())),
            "vs_currencies": "usd",
            "include_24hr_change": "true",
        }
        headers = {"x-cg-demo-api-key": self.api_key} if self.api_key else None
        reply = self._get("/simple/price", params, headers)
        body = _try_loads(reply.body)
        # CoinGecko throttles with HTTP 429 or with {"status": {"error_code": 429}}, even in a 200.
        status = body.get("status") if isinstance(body, dict) else None
        error_code = status.get("error_code") if isinstance(status, dict) else None
        if reply.status == 429 or str(error_code) == "429":
            raise self._error(
                f"rate limited (HTTP {reply.status}): {_body_hint(reply.body)}",
                is_throttled=True,
                retry_after_s=retry_after_s(reply.retry_after, self._clock()),
            )
        if not reply.is_ok:
            raise self._error(f"HTTP {reply.status}: {_body_hint(reply.body)}")
        data = body if body is not None else self._json(reply)
        if error_code is not None:
            raise self._error(f"error {error_code}: {_body_hint(reply.body)}")
        if not isinstance(data, dict):
            raise self._error(f"expected a JSON object, got {type(data).__name__}")
        now = self._clock()
        quotes: dict[str, PriceQuote] = {}
        for symbol, coin_id in wanted.items():
            entry = data.get(coin_id)
            if not isinstance(entry, dict):
                continue  # CoinGecko silently omits ids it does not know
            quote = self._quote(symbol, entry.get("usd"), _finite_decimal(entry.get("usd_24h_change")), now)
            if quote is not None:
                quotes[symbol] = quote
        return quotes


def _kraken_canonical(pair: str) -> str:
    """Kraken pair name without legacy X/Z asset prefixes and aliases: XXBTZUSD -> BTCUSD."""
    name = pair.upper().replace("/", "")
    for fiat in _KRAKEN_FIATS:
        if name.endswith("Z" + fiat) and len(name) >= 8:
            base = name[:-4]
            if len(base) == 4 and base.startswith("X"):
                base = base[1:]  # XXBT -> XBT, XETH -> ETH; USDT stays USDT
            break
        if name.endswith(fiat) and len(name) > len(fiat):
            base = name[: -len(fiat)]
            break
    else:
        return name
    return _KRAKEN_ASSET_ALIASES.get(base, base) + fiat


def _kraken_entries(wanted: Mapping[str, str], result: Mapping[str, Any]) -> dict[str, Any]:
    """Match Ticker result entries to symbols: exact key first, then the canonical alt-name."""
    by_canonical: dict[str, Any] = {}
    for key, entry in result.items():
        by_canonical.setdefault(_kraken_canonical(str(key)), entry)
    entries: dict[str, Any] = {}
    for symbol, pair in wanted.items():
        entry = result.get(pair)
        if entry is None:
            entry = by_canonical.get(_kraken_canonical(pair))
        if entry is not None:
            entries[symbol] = entry
    return entries


def _first(value: object) -> object:
    """First element of a Kraken array field, or the value itself if it is a scalar."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


class KrakenSource(_HttpSource):
    """Kraken public ``Ticker``: last trade ``c[0]``, change since today's open ``o``."""

    name = "kraken"

    def __init__(
        self,
        base_url: str = KRAKEN_URL,
        *,
        pairs: Mapping[str, str] = DEFAULT_KRAKEN_PAIRS,
        timeout_s: float = 2.0,
        session: requests.Session | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(base_url, timeout_s=timeout_s, session=session, clock=clock)
        self.pairs: Mapping[str, str] = MappingProxyType(dict(pairs))

    def fetch(self, symbols: Sequence[str]) -> dict[str, PriceQuote]:
        """GET Ticker for the known pairs; Kraken's in-body error list becomes PriceSourceError."""
        wanted = _wanted(symbols, self.pairs)
        if not wanted:
            return {}
        reply = self._get("/Ticker", {"pair": ",".join(dict.fromkeys(wanted.values()))})
        if reply.status == 429:
            raise self._error(
                "rate limited (HTTP 429)",
                is_throttled=True,
                retry_after_s=retry_after_s(reply.retry_after, self._clock()),
            )
        if not reply.is_ok:
            raise self._error(f"HTTP {reply.status}: {_body_hint(reply.body)}")
        data = self._json(reply)
        if not isinstance(data, dict):
            raise self._error(f"expected a JSON object, got {type(data).__name__}")
        errors = data.get("error", [])
        if not isinstance(errors, list):
            raise self._error(f"malformed error field {errors!r}")
        # Entries are "<E|W>Category:Message"; W entries are warnings and do not fail the call.
        failures = [str(e) for e in errors if not str(e).startswith("W")]
        if failures:
            is_throttled = any(m in e for e in failures for m in _KRAKEN_THROTTLE_MARKERS)
            raise self._error("; ".join(failures), is_throttled=is_throttled)
        result = data.get("result")
        if not isinstance(result, dict):
            raise self._error("answer has no result object")
        now = self._clock()
        quotes: dict[str, PriceQuote] = {}
        for symbol, entry in _kraken_entries(wanted, result).items():
            if not isinstance(entry, dict):
                continue
            last = _first(entry.get("c"))
            quote = self._quote(symbol, last, _change_pct(last, _first(entry.get("o"))), now)
            if quote is not None:
                quotes[symbol] = quote
        return quotes


def _change_pct(last: object, opening: object) -> Decimal | None:
    """Percentage change (last - open) / open * 100, or None without a usable open."""
    last_price, open_price = _positive_price(last), _positive_price(opening)
    if last_price is None or open_price is None:
        return None
    with localcontext(prec=_PRICE_PRECISION):
        return (last_price - open_price) / open_price * 100


class BinanceSource(_HttpSource):
    """Binance ``ticker/price`` for USDT-quoted pairs, taking 1 USDT as 1 USD.

    The USDT-as-USD reading is off by USDT's depeg (normally well under 0.1%); it is the
    third source in the chain, behind two that quote USD directly. USDT itself is not priced
    here by default: the later sources (pools anchor, static) own that assumption.
    """

    name = "binance"

    def __init__(
        self,
        base_url: str = BINANCE_URL,
        *,
        symbols: Mapping[str, str] = DEFAULT_BINANCE_SYMBOLS,
        timeout_s: float = 2.0,
        session: requests.Session | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(base_url, timeout_s=timeout_s, session=session, clock=clock)
        self.symbols: Mapping[str, str] = MappingProxyType(dict(symbols))

    def fetch(self, symbols: Sequence[str]) -> dict[str, PriceQuote]:
        """GET ticker/price?symbols=[...]; 429/418 are throttling, 451 a regional block."""
        wanted = _wanted(symbols, self.symbols)
        if not wanted:
            return {}
        pairs = list(dict.fromkeys(wanted.values()))
        reply = self._get("/ticker/price", {"symbols": json.dumps(pairs, separators=(",", ":"))})
        if reply.status in (429, 418):
            what = "rate limited" if reply.status == 429 else "IP banned for ignoring 429s"
            raise self._error(
                f"{what} (HTTP {reply.status}): {_body_hint(reply.body)}",
                is_throttled=True,
                retry_after_s=retry_after_s(reply.retry_after, self._clock()),
            )
        if reply.status == 451:
            raise self._error(f"unavailable from this region (HTTP 451): {_body_hint(reply.body)}")
        if not reply.is_ok:
            raise self._error(f"HTTP {reply.status}: {_body_hint(reply.body)}")
        data = self._json(reply)
        if isinstance(data, dict):
            data = [data]  # a single-symbol answer is a bare object
        if not isinstance(data, list):
            raise self._error(f"expected a JSON array, got {type(data).__name__}")
        by_pair = {
            item["symbol"]: item.get("price")
            for item in data
            if isinstance(item, dict) and isinstance(item.get("symbol"), str)
        }
        now = self._clock()
        quotes: dict[str, PriceQuote] = {}
        for symbol, pair in wanted.items():
            if pair in by_pair:
                quote = self._quote(symbol, by_pair[pair], None, now)
                if quote is not None:
                    quotes[symbol] = quote
        return quotes


class PoolImpliedSource:
    """Prices implied by our own constant-product pools, walked outward from USD anchors.

    The pools come with each ask (``fetch(symbols, pools=...)``, which ``PriceService.get_prices``
    passes on), so callers that hold different venue snapshots never see each other's; a
    ``pools_provider`` is read when an ask brings none (no provider: no pools, the anchors only).

    Spot price of A in B (human units) = (reserve_b / 10**dec_b) / (reserve_a / 10**dec_a).
    Breadth-first from the anchors: each round prices every unpriced token that shares a pool
    with a token priced in an earlier round, as the average over those pools weighted by the
    USD value of the already-priced side (deep pools dominate shallow ones). Anchors are
    reported as this source's answer when asked for, at their anchor price.
    """

    name = "pools"
    cache_ttl_s = 0.0  # computed from our own pools on every ask: cheap, and must follow every trade

    def __init__(
        self,
        pools_provider: Callable[[], Iterable[PoolLike]] | None = None,
        *,
        anchors: Mapping[str, Decimal] = DEFAULT_POOL_ANCHORS,
        clock: Clock = time.time,
    ) -> None:
        for symbol, price in anchors.items():
            if not isinstance(price, Decimal) or _positive_price(price) is None:
                raise ValidationError(
                    f"anchor price of {symbol} must be a positive finite Decimal, got {price!r}",
                    field="anchors",
                )
        self._pools_provider = pools_provider
        self.anchors: Mapping[str, Decimal] = MappingProxyType(dict(anchors))
        self._clock = clock

    def implied_prices(self, pools: Iterable[PoolLike] | None = None) -> dict[str, Decimal]:
        """USD price of every token reachable from an anchor through non-empty ``pools``."""
        if pools is None:
            pools = self._provided_pools()
        edges = [edge for pool in pools if (edge := _pool_edge(pool)) is not None]
        priced: dict[str, Decimal] = dict(self.anchors)
        with localcontext(prec=_PRICE_PRECISION):
            while True:
                sums: dict[str, tuple[Decimal, Decimal]] = {}
                for (a, human_a), (b, human_b) in edges:
                    for known, known_amount, other, other_amount in (
                        (a, human_a, b, human_b),
                        (b, human_b, a, human_a),
                    ):
                        if known in priced and other not in priced:
                            weight = priced[known] * known_amount  # USD depth of the priced side
                            price = weight / other_amount
                            total, weights = sums.get(other, (Decimal(0), Decimal(0)))
                            sums[other] = (total + price * weight, weights + weight)
                if not sums:
                    return priced
                for token, (total, weights) in sums.items():
                    priced[token] = total / weights

    def fetch(self, symbols: Sequence[str], pools: Iterable[PoolLike] | None = None) -> dict[str, PriceQuote]:
        """Pool-implied quotes for the requested symbols reachable from an anchor through ``pools``."""
        if not symbols:
            return {}
        prices = self.implied_prices(pools)
        now = self._clock()
        return {
            symbol: PriceQuote(symbol, prices[symbol], self.name, now)
            for symbol in symbols
            if symbol in prices
        }

    def _provided_pools(self) -> list[PoolLike]:
        if self._pools_provider is None:
            return []
        try:
            return list(self._pools_provider())
        except Exception as exc:  # foreign code (DB, cache): any failure makes this source fail
            raise PriceSourceError(f"pools: provider failed: {exc}", source=self.name) from exc


def _pool_edge(pool: PoolLike) -> tuple[tuple[str, Decimal], tuple[str, Decimal]] | None:
    """((symbol_a, human reserve_a), (symbol_b, human reserve_b)), or None for unusable pools."""
    reserves = (pool.reserve_a, pool.reserve_b)
    if any(isinstance(r, bool) or not isinstance(r, int) or r <= 0 for r in reserves):
        return None  # empty (or nonsensical) pools say nothing about price
    try:
        token_a, token_b = get_token(pool.token_a), get_token(pool.token_b)
    except UnknownTokenError:
        logger.warning("pools: skipping pool %s/%s with an unknown token", pool.token_a, pool.token_b)
        return None
    if token_a.symbol == token_b.symbol:
        return None
    return (
        (token_a.symbol, Decimal(pool.reserve_a).scaleb(-token_a.decimals)),
        (token_b.symbol, Decimal(pool.reserve_b).scaleb(-token_b.decimals)),
    )


class StaticSource:
    """Fixed fallback prices: last in the chain so known tokens always get some price."""

    name = "static"

    def __init__(
        self,
        prices: Mapping[str, Decimal] = DEFAULT_STATIC_USD_PRICES,
        *,
        clock: Clock = time.time,
    ) -> None:
        for symbol, price in prices.items():
            if not isinstance(price, Decimal) or _positive_price(price) is None:
                raise ValidationError(
                    f"static price of {symbol} must be a positive finite Decimal, got {price!r}",
                    field="prices",
                )
        self.prices: Mapping[str, Decimal] = MappingProxyType(dict(prices))
        self._clock = clock

    def fetch(self, symbols: Sequence[str]) -> dict[str, PriceQuote]:
        """The configured prices for the requested symbols that have one."""
        now = self._clock()
        return {
            symbol: PriceQuote(symbol, self.prices[symbol], self.name, now)
            for symbol in symbols
            if symbol in self.prices
        }


# ---------------------------------------------------------------------------------------------
# The service


@dataclass(slots=True)
class _SourceState:
    """Mutable health record of one source; guarded by PriceService._lock."""

    last_error: str | None = None
    last_success_at: float | None = None
    retry_at: float | None = None
    is_throttled: bool = False


def _normalize_symbols(symbols: Sequence[str]) -> list[str]:
    """Upper-cased, stripped, de-duplicated symbols in their first order."""
    if isinstance(symbols, str):
        raise ValidationError("symbols must be a sequence of symbols, not one string", field="symbols")
    normalized: dict[str, None] = {}
    for symbol in symbols:
        if not isinstance(symbol, str) or not symbol.strip():
            raise ValidationError(f"invalid token symbol {symbol!r}", field="symbols")
        normalized[symbol.strip().upper()] = None
    return list(normalized)


class PriceService:
    """Asks price sources in chain order, caching answers and backing off from failing ones.

    Each symbol comes from the first source (in chain order) that can price it. Answers are
    cached per (source, symbol) for ``ttl_s`` and keep their original ``fetched_at``; a symbol
    a source did not return is not asked of it again for ``ttl_s`` either. A source that raised
    is skipped for ``failure_ttl_s``, or for the server's Retry-After when that is longer, so a
    dead source costs its timeout once per window, not once per call. The lock guards the
    caches only; it is never held during a fetch, so concurrent misses may both fetch.

    Pool-implied prices are never cached (their ``cache_ttl_s`` is 0): they are computed from the
    ``pools`` each call passes, so nothing one caller's pools gave is served to another.
    """

    def __init__(
        self,
        sources: Sequence[PriceSource],
        *,
        ttl_s: float = 300.0,
        failure_ttl_s: float = 30.0,
        clock: Clock = time.time,
    ) -> None:
        names = [source.name for source in sources]
        if not names:
            raise ValidationError("a price service needs at least one source", field="sources")
        if len(set(names)) != len(names):
            raise ValidationError(f"price source names must be unique, got {names}", field="sources")
        if ttl_s < 0 or failure_ttl_s < 0:
            raise ValidationError("ttl_s and failure_ttl_s must not be negative", field="ttl_s")
        self.sources: tuple[PriceSource, ...] = tuple(sources)
        self.ttl_s = ttl_s
        self.failure_ttl_s = failure_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._quotes: dict[tuple[str, str], tuple[float, PriceQuote]] = {}
        self._misses: dict[tuple[str, str], float] = {}
        self._states = {name: _SourceState() for name in names}
        # A source may cache for less than ttl_s (pool-implied prices must follow every trade).
        self._ttl = {s.name: min(ttl_s, getattr(s, "cache_ttl_s", ttl_s)) for s in self.sources}

    def get_prices(
        self, symbols: Sequence[str], *, pools: Iterable[PoolLike] | None = None
    ) -> dict[str, PriceQuote]:
        """USD quotes keyed by upper-case symbol; PriceUnavailableError names any left unpriced.

        ``pools`` is the venue snapshot pool-implied prices are read from (else their provider).
        """
        wanted = _normalize_symbols(symbols)
        found: dict[str, PriceQuote] = {}
        for source in self.sources:
            if len(found) == len(wanted):
                break
            ask = self._plan(source.name, [s for s in wanted if s not in found], found)
            if not ask:
                continue
            try:
                if isinstance(source, PoolImpliedSource):
                    fetched = source.fetch(tuple(ask), pools)
                else:
                    fetched = source.fetch(tuple(ask))
            except PriceSourceError as exc:
                self._record_failure(source.name, exc)
                continue
            found.update(self._record_success(source.name, ask, fetched))
        missing = [s for s in wanted if s not in found]
        if missing:
            tried = ", ".join(source.name for source in self.sources)
            raise PriceUnavailableError(
                f"no price source could price {', '.join(missing)} (tried {tried})",
                field="symbols",
            )
        return {symbol: found[symbol] for symbol in wanted}

    def get_price(self, symbol: str) -> PriceQuote:
        """The USD quote of one symbol from the first source that has it."""
        return self.get_prices([symbol])[_normalize_symbols([symbol])[0]]

    def mid_price(self, base: str, quote: str) -> Decimal:
        """Units of ``quote`` per one ``base``: base USD price / quote USD price (34 digits)."""
        base_symbol, quote_symbol = _normalize_symbols([base])[0], _normalize_symbols([quote])[0]
        prices = self.get_prices([base_symbol, quote_symbol])
        with localcontext(prec=_PRICE_PRECISION):
            return prices[base_symbol].price_usd / prices[quote_symbol].price_usd

    def source_status(self) -> list[SourceStatus]:
        """Health of every source in chain order, for the UI's source indicators."""
        statuses: list[SourceStatus] = []
        with self._lock:
            now = self._clock()
            for source in self.sources:
                state = self._states[source.name]
                is_waiting = state.retry_at is not None and now < state.retry_at
                statuses.append(
                    SourceStatus(
                        name=source.name,
                        healthy=state.last_error is None,
                        last_error=state.last_error,
                        last_success_at=state.last_success_at,
                        retry_at=state.retry_at if is_waiting else None,
                        is_throttled=state.is_throttled,
                    )
                )
        return statuses

    def close(self) -> None:
        """Close every source that holds resources (HTTP sessions)."""
        for source in self.sources:
            close = getattr(source, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _plan(self, name: str, missing: list[str], found: dict[str, PriceQuote]) -> list[str]:
        """Serve cache hits into ``found``; return the symbols worth asking this source for."""
        ask: list[str] = []
        with self._lock:
            now = self._clock()
            for symbol in missing:
                key = (name, symbol)
                cached = self._quotes.get(key)
                if cached is not None:
                    if now - cached[0] < self._ttl[name]:
                        found[symbol] = cached[1]
                        continue
                    del self._quotes[key]
                miss_until = self._misses.get(key)
                if miss_until is not None:
                    if now < miss_until:
                        continue
                    del self._misses[key]
                ask.append(symbol)
            retry_at = self._states[name].retry_at
            if retry_at is not None and now < retry_at:
                return []
        return ask

    def _record_success(
        self, name: str, asked: list[str], fetched: Mapping[str, PriceQuote]
    ) -> dict[str, PriceQuote]:
        accepted = {
            symbol: quote
            for symbol, quote in fetched.items()
            if symbol in asked and isinstance(quote, PriceQuote)
        }
        ttl_s = self._ttl[name]
        with self._lock:
            now = self._clock()
            for symbol in asked:
                if ttl_s <= 0:
                    continue  # a source cached for 0 s keeps nothing (pool prices follow the caller's pools)
                if symbol in accepted:
                    self._quotes[(name, symbol)] = (now, accepted[symbol])
                else:
                    self._misses[(name, symbol)] = now + ttl_s
            self._states[name] = _SourceState(last_success_at=now)
        return accepted

    def _record_failure(self, name: str, exc: PriceSourceError) -> None:
        skip_s = self.failure_ttl_s
        if exc.retry_after_s is not None:
            skip_s = max(skip_s, exc.retry_after_s)
        logger.warning("price source %s failed, skipping it for %.0f s: %s", name, skip_s, exc)
        with self._lock:
            now = self._clock()
            state = self._states[name]
            state.last_error = exc.message
            state.is_throttled = exc.is_throttled
            state.retry_at = now + skip_s


def default_price_service(
    pools_provider: Callable[[], Iterable[PoolLike]] | None = None,
    *,
    pools_per_call: bool = False,
    coingecko_url: str = COINGECKO_URL,
    kraken_url: str = KRAKEN_URL,
    binance_url: str = BINANCE_URL,
    coingecko_api_key: str | None = None,
    timeout_s: float = 2.0,
    ttl_s: float = 300.0,
    failure_ttl_s: float = 30.0,
    clock: Clock = time.time,
) -> PriceService:
    """CoinGecko -> Kraken -> Binance -> pools -> static.

    The pools source is in the chain when a provider is given or ``pools_per_call`` is set (then
    it prices from the pools each ``get_prices`` call passes).
    """
    sources: list[PriceSource] = [
        CoinGeckoSource(coingecko_url, api_key=coingecko_api_key, timeout_s=timeout_s, clock=clock),
        KrakenSource(kraken_url, timeout_s=timeout_s, clock=clock),
        BinanceSource(binance_url, timeout_s=timeout_s, clock=clock),
    ]
    if pools_provider is not None or pools_per_call:
        sources.append(PoolImpliedSource(pools_provider, clock=clock))
    sources.append(StaticSource(clock=clock))
    return PriceService(sources, ttl_s=ttl_s, failure_ttl_s=failure_ttl_s, clock=clock)
