"""Price sources, the fallback chain, caching and pool-implied prices, against local doubles."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, localcontext
from email.utils import formatdate

import pytest

from amm.pools import Pool as AmmPool
from errors import PriceUnavailableError, ValidationError
from price_feeds import (
    DEFAULT_STATIC_USD_PRICES,
    BinanceSource,
    CoinGeckoSource,
    KrakenSource,
    PoolImpliedSource,
    PoolLike,
    PriceQuote,
    PriceService,
    PriceSource,
    PriceSourceError,
    StaticSource,
    default_price_service,
)
from tests.price_doubles import (
    BINANCE_PRICES,
    COINGECKO_PRICES,
    KRAKEN_PRICES,
    Behaviour,
    BinanceDouble,
    CoinGeckoDouble,
    FakeClock,
    KrakenDouble,
)
from tests.waiting import WAIT_S

ALL = ["SOL", "USDC", "USDT", "RAY", "JUP", "BONK"]


@dataclass(frozen=True)
class Pool:
    """A minimal PoolLike: symbols and base-unit reserves."""

    token_a: str
    token_b: str
    reserve_a: int
    reserve_b: int


def pool(token_a: str, human_a: str, token_b: str, human_b: str) -> Pool:
    """A pool from human reserves (SOL 9, USDC/USDT/RAY/JUP 6, BONK 5 decimals)."""
    decimals = {"SOL": 9, "USDC": 6, "USDT": 6, "RAY": 6, "JUP": 6, "BONK": 5, "WIF": 6}
    return Pool(
        token_a,
        token_b,
        int(Decimal(human_a).scaleb(decimals[token_a])),
        int(Decimal(human_b).scaleb(decimals[token_b])),
    )


SOL_USDC = pool("SOL", "1000", "USDC", "150000")  # SOL = 150
BONK_SOL = pool("BONK", "1000000000", "SOL", "150")  # BONK = 150 * 150 / 1e9
JUP_USDT = pool("JUP", "1000", "USDT", "800")  # JUP = 0.8


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def coingecko() -> Iterator[CoinGeckoDouble]:
    with CoinGeckoDouble() as double:
        yield double


@pytest.fixture
def kraken() -> Iterator[KrakenDouble]:
    with KrakenDouble() as double:
        yield double


@pytest.fixture
def binance() -> Iterator[BinanceDouble]:
    with BinanceDouble() as double:
        yield double


@pytest.fixture
def closing() -> Iterator[Callable[[PriceService], PriceService]]:
    """Register services to be closed (their HTTP sessions) when the test ends."""
    services: list[PriceService] = []

    def register(service: PriceService) -> PriceService:
        services.append(service)
        return service

    yield register
    for service in services:
        service.close()


@pytest.fixture
def make_service(
    coingecko: CoinGeckoDouble,
    kraken: KrakenDouble,
    binance: BinanceDouble,
    clock: FakeClock,
    closing: Callable[[PriceService], PriceService],
) -> Callable[..., PriceService]:
    """The default chain pointed at the three doubles, on the fake clock."""

    def make(
        pools: list[Pool] | None = None, *, timeout_s: float = WAIT_S, with_pools: bool = True
    ) -> PriceService:
        provider = (lambda: list(pools)) if pools is not None and with_pools else None
        return closing(
            default_price_service(
                provider,
                coingecko_url=coingecko.url,
                kraken_url=kraken.url,
                binance_url=binance.url,
                timeout_s=timeout_s,
                clock=clock,
            )
        )

    return make


@pytest.fixture
def make_source(
    coingecko: CoinGeckoDouble, kraken: KrakenDouble, binance: BinanceDouble, clock: FakeClock
) -> Iterator[Callable[..., tuple[CoinGeckoDouble | KrakenDouble | BinanceDouble, PriceSource]]]:
    """Build one HTTP source by name against its double; closed at teardown."""
    opened: list[CoinGeckoSource | KrakenSource | BinanceSource] = []

    def make(
        name: str, *, timeout_s: float = WAIT_S, url: str | None = None
    ) -> tuple[CoinGeckoDouble | KrakenDouble | BinanceDouble, PriceSource]:
        source: CoinGeckoSource | KrakenSource | BinanceSource
        double: CoinGeckoDouble | KrakenDouble | BinanceDouble
        if name == "coingecko":
            double = coingecko
            source = CoinGeckoSource(url or double.url, timeout_s=timeout_s, clock=clock)
        elif name == "kraken":
            double = kraken
            source = KrakenSource(url or double.url, timeout_s=timeout_s, clock=clock)
        else:
            double = binance
            source = BinanceSource(url or double.url, timeout_s=timeout_s, clock=clock)
        opened.append(source)
        return double, source

    yield make
    for source in opened:
        source.close()


def free_port() -> int:
    """A port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# Parsing each API


def test_coingecko_parses_prices_and_24h_change_as_decimals(
    coingecko: CoinGeckoDouble, clock: FakeClock
) -> None:
    with CoinGeckoSource(coingecko.url, clock=clock) as source:
        quotes = source.fetch(["SOL", "BONK"])
    assert quotes["SOL"] == PriceQuote("SOL", Decimal("142.31"), "coingecko", clock.now, Decimal("-1.23"))
    assert quotes["BONK"].price_usd == Decimal("0.00002134")
    assert quotes["BONK"].change_24h_pct == Decimal("12.5")
    assert all(isinstance(q.price_usd, Decimal) for q in quotes.values())
    [request] = coingecko.requests
    assert request.path == "/api/v3/simple/price"
    assert request.param("ids") == "solana,bonk"
    assert request.param("vs_currencies") == "usd"
    assert request.param("include_24hr_change") == "true"
    assert "x-cg-demo-api-key" not in request.headers


def test_coingecko_sends_the_demo_api_key_header(coingecko: CoinGeckoDouble) -> None:
    with CoinGeckoSource(coingecko.url, api_key="CG-demo-key") as source:
        source.fetch(["SOL"])
    assert coingecko.requests[0].headers["x-cg-demo-api-key"] == "CG-demo-key"


def test_coingecko_answers_a_subset_when_it_omits_an_id(coingecko: CoinGeckoDouble) -> None:
    del coingecko.prices["BONK"]
    with CoinGeckoSource(coingecko.url) as source:
        quotes = source.fetch(["SOL", "BONK"])
    assert set(quotes) == {"SOL"}


def test_coingecko_null_24h_change_gives_none(coingecko: CoinGeckoDouble) -> None:
    coingecko.changes_24h_pct["SOL"] = None
    with CoinGeckoSource(coingecko.url) as source:
        assert source.fetch(["SOL"])["SOL"].change_24h_pct is None


def test_kraken_reads_last_trade_and_change_since_todays_open(kraken: KrakenDouble, clock: FakeClock) -> None:
    with KrakenSource(kraken.url, clock=clock) as source:
        quotes = source.fetch(["SOL", "USDT"])
    with localcontext(prec=34):
        expected_change = (Decimal("142.05") - Decimal("140.00")) / Decimal("140.00") * 100
    assert quotes["SOL"] == PriceQuote("SOL", Decimal("142.05"), "kraken", clock.now, expected_change)
    assert quotes["USDT"].price_usd == Decimal("0.99990")
    [request] = kraken.requests
    assert request.path == "/0/public/Ticker"
    assert request.param("pair") == "SOLUSD,USDTZUSD"


@pytest.mark.parametrize(
    ("symbol", "requested_pair", "result_key"),
    [
        ("USDT", "USDTZUSD", "USDTZUSD"),  # exact key
        ("USDT", "USDTUSD", "USDTZUSD"),  # altname requested, legacy key answered
        ("BTC", "XBTUSD", "XXBTZUSD"),  # both assets renamed
        ("SOL", "SOLUSD", "SOLUSD"),
    ],
)
def test_kraken_maps_result_keys_back_to_requested_pairs(
    kraken: KrakenDouble, symbol: str, requested_pair: str, result_key: str
) -> None:
    with KrakenSource(kraken.url, pairs={symbol: requested_pair}) as source:
        quotes = source.fetch([symbol])
    assert quotes[symbol].price_usd == KRAKEN_PRICES[symbol]
    assert kraken.requests[0].param("pair") == requested_pair


def test_kraken_ignores_warnings_in_its_error_list(kraken: KrakenDouble) -> None:
    kraken.respond_with(
        200, '{"error":["WGeneral:Deprecated"],"result":{"SOLUSD":{"c":["141.5","1"],"o":"140"}}}'
    )
    with KrakenSource(kraken.url) as source:
        assert source.fetch(["SOL"])["SOL"].price_usd == Decimal("141.5")


def test_binance_reads_usdt_quoted_prices_as_usd(binance: BinanceDouble, clock: FakeClock) -> None:
    with BinanceSource(binance.url, clock=clock) as source:
        quotes = source.fetch(["SOL", "USDT", "BONK"])
    assert quotes["SOL"] == PriceQuote("SOL", Decimal("142.10000000"), "binance", clock.now, None)
    assert quotes["BONK"].price_usd == Decimal("0.00002130")
    assert "USDT" not in quotes  # a USDT-quoted venue cannot price USDT itself
    [request] = binance.requests
    assert request.path == "/api/v3/ticker/price"
    assert request.param("symbols") == '["SOLUSDT","BONKUSDT"]'


@pytest.mark.parametrize(
    ("name", "symbols"),
    [("coingecko", ["WIF"]), ("kraken", ["WIF"]), ("binance", ["USDT", "WIF"])],
)
def test_a_source_sends_no_request_when_it_knows_none_of_the_symbols(
    make_source: Callable[..., tuple[CoinGeckoDouble | KrakenDouble | BinanceDouble, PriceSource]],
    name: str,
    symbols: list[str],
) -> None:
    double, source = make_source(name)
    assert source.fetch(symbols) == {}
    assert double.request_count == 0


def test_static_source_prices_what_it_has(clock: FakeClock) -> None:
    quotes = StaticSource(clock=clock).fetch(["SOL", "WIF"])
    assert quotes == {"SOL": PriceQuote("SOL", Decimal("150"), "static", clock.now)}


# ---------------------------------------------------------------------------------------------
# Throttling and failures


@pytest.mark.parametrize(
    ("name", "behaviour", "retry_after_s"),
    [
        ("coingecko", Behaviour.THROTTLED, None),  # HTTP 429
        ("coingecko", Behaviour.THROTTLED_IN_BODY, None),  # HTTP 200 + status.error_code 429
        ("kraken", Behaviour.THROTTLED, None),  # EGeneral:Too many requests
        ("kraken", Behaviour.THROTTLED_IN_BODY, None),  # EAPI:Rate limit exceeded
        ("binance", Behaviour.THROTTLED, 30.0),  # 429 + Retry-After
        ("binance", Behaviour.BANNED, 30.0),  # 418 + Retry-After
    ],
)
def test_each_apis_throttling_signal_is_detected(
    make_source: Callable[..., tuple[CoinGeckoDouble | KrakenDouble | BinanceDouble, PriceSource]],
    name: str,
    behaviour: Behaviour,
    retry_after_s: float | None,
) -> None:
    double, source = make_source(name)
    double.behaviour = behaviour
    with pytest.raises(PriceSourceError) as caught:
        source.fetch(["SOL"])
    assert caught.value.source == name
    assert caught.value.is_throttled
    assert caught.value.retry_after_s == retry_after_s


def test_coingecko_429_honours_retry_after(coingecko: CoinGeckoDouble) -> None:
    coingecko.behaviour = Behaviour.THROTTLED
    coingecko.retry_after_s = 60
    with CoinGeckoSource(coingecko.url) as source, pytest.raises(PriceSourceError) as caught:
        source.fetch(["SOL"])
    assert caught.value.is_throttled
    assert caught.value.retry_after_s == 60.0


def test_retry_after_as_an_http_date_is_converted_to_seconds(
    binance: BinanceDouble, clock: FakeClock
) -> None:
    binance.respond_with(
        429,
        '{"code":-1003,"msg":"Too many requests"}',
        ("Retry-After", formatdate(clock.now + 90, usegmt=True)),
    )
    with BinanceSource(binance.url, clock=clock) as source, pytest.raises(PriceSourceError) as caught:
        source.fetch(["SOL"])
    assert caught.value.retry_after_s == 90.0


def test_binance_451_is_a_failure_but_not_throttling(binance: BinanceDouble) -> None:
    binance.behaviour = Behaviour.RESTRICTED
    with BinanceSource(binance.url) as source, pytest.raises(PriceSourceError) as caught:
        source.fetch(["SOL"])
    assert not caught.value.is_throttled
    assert "451" in caught.value.message
    assert "restricted location" in caught.value.message


def test_kraken_unknown_pair_is_a_failure_but_not_throttling(kraken: KrakenDouble) -> None:
    with (
        KrakenSource(kraken.url, pairs={"SOL": "NOPEUSD"}) as source,
        pytest.raises(PriceSourceError) as caught,
    ):
        source.fetch(["SOL"])
    assert not caught.value.is_throttled
    assert "EQuery:Unknown asset pair" in caught.value.message


def test_coingecko_other_status_error_is_a_failure_but_not_throttling(
    coingecko: CoinGeckoDouble,
) -> None:
    coingecko.respond_with(200, '{"status":{"error_code":10002,"error_message":"API Key Missing"}}')
    with CoinGeckoSource(coingecko.url) as source, pytest.raises(PriceSourceError) as caught:
        source.fetch(["SOL"])
    assert not caught.value.is_throttled
    assert "API Key Missing" in caught.value.message


@pytest.mark.parametrize("name", ["coingecko", "kraken", "binance"])
@pytest.mark.parametrize("behaviour", [Behaviour.SERVER_ERROR, Behaviour.MALFORMED])
def test_server_errors_and_malformed_bodies_become_price_source_errors(
    make_source: Callable[..., tuple[CoinGeckoDouble | KrakenDouble | BinanceDouble, PriceSource]],
    name: str,
    behaviour: Behaviour,
) -> None:
    double, source = make_source(name)
    double.behaviour = behaviour
    with pytest.raises(PriceSourceError) as caught:
        source.fetch(["SOL"])
    assert not caught.value.is_throttled
    if behaviour is Behaviour.MALFORMED:
        assert isinstance(caught.value.__cause__, ValueError)
    else:
        assert "502" in caught.value.message


@pytest.mark.parametrize("name", ["coingecko", "kraken", "binance"])
def test_a_slow_answer_times_out_as_a_price_source_error(
    make_source: Callable[..., tuple[CoinGeckoDouble | KrakenDouble | BinanceDouble, PriceSource]],
    name: str,
) -> None:
    double, source = make_source(name, timeout_s=0.2)
    double.behaviour = Behaviour.SLOW
    double.slow_s = WAIT_S  # answering only when the double closes: far beyond any machine's delay
    started = time.monotonic()
    with pytest.raises(PriceSourceError) as caught:
        source.fetch(["SOL"])
    assert time.monotonic() - started < WAIT_S / 2
    assert caught.value.__cause__ is not None
    assert "no answer within 0.2 s" in caught.value.message


@pytest.mark.parametrize("name", ["coingecko", "kraken", "binance"])
def test_connection_refused_becomes_a_price_source_error(
    make_source: Callable[..., tuple[CoinGeckoDouble | KrakenDouble | BinanceDouble, PriceSource]],
    name: str,
) -> None:
    _, source = make_source(name, url=f"http://127.0.0.1:{free_port()}/api")
    with pytest.raises(PriceSourceError) as caught:
        source.fetch(["SOL"])
    assert caught.value.__cause__ is not None


BAD_VALUES = [Decimal("-1"), Decimal("0"), Decimal("NaN"), Decimal("Infinity"), None, "abc"]


@pytest.mark.parametrize("name", ["coingecko", "kraken", "binance"])
@pytest.mark.parametrize("bad", BAD_VALUES, ids=str)
def test_non_positive_or_non_finite_prices_are_rejected(
    make_source: Callable[..., tuple[CoinGeckoDouble | KrakenDouble | BinanceDouble, PriceSource]],
    name: str,
    bad: Decimal | str | None,
) -> None:
    double, source = make_source(name)
    double.prices["SOL"] = bad
    quotes = source.fetch(["SOL", "RAY"])
    assert "SOL" not in quotes
    assert "RAY" in quotes


@pytest.mark.parametrize("bad", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("-Infinity"), 1.5])
def test_a_price_quote_refuses_a_bad_price(bad: object) -> None:
    with pytest.raises(ValidationError):
        PriceQuote("SOL", bad, "test", 0.0)  # type: ignore[arg-type]


def test_a_quotes_age_is_seconds_since_it_was_fetched() -> None:
    quote = PriceQuote("SOL", Decimal("150"), "static", 1000.0)
    assert quote.age_s(1042.5) == 42.5
    assert quote.age_s(900.0) == 0.0


# ---------------------------------------------------------------------------------------------
# The chain


def test_every_symbol_comes_from_the_first_source_when_it_is_healthy(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    kraken: KrakenDouble,
    binance: BinanceDouble,
) -> None:
    quotes = make_service().get_prices(ALL)
    assert {q.source for q in quotes.values()} == {"coingecko"}
    assert {s: q.price_usd for s, q in quotes.items()} == COINGECKO_PRICES
    assert (coingecko.request_count, kraken.request_count, binance.request_count) == (1, 0, 0)


def test_when_coingecko_is_down_kraken_answers(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    binance: BinanceDouble,
) -> None:
    coingecko.behaviour = Behaviour.SERVER_ERROR
    quotes = make_service().get_prices(ALL)
    assert {q.source for q in quotes.values()} == {"kraken"}
    assert quotes["SOL"].price_usd == KRAKEN_PRICES["SOL"]
    assert binance.request_count == 0


def test_when_coingecko_and_kraken_are_throttled_binance_answers_and_usdt_falls_further(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    kraken: KrakenDouble,
) -> None:
    coingecko.behaviour = Behaviour.THROTTLED_IN_BODY
    kraken.behaviour = Behaviour.THROTTLED
    quotes = make_service().get_prices(ALL)
    assert quotes["SOL"].source == "binance"
    assert quotes["SOL"].price_usd == BINANCE_PRICES["SOL"]
    assert quotes["USDT"].source == "static"


def test_when_every_http_source_is_down_the_pools_answer(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    kraken: KrakenDouble,
    binance: BinanceDouble,
) -> None:
    for double in (coingecko, kraken, binance):
        double.behaviour = Behaviour.SERVER_ERROR
    quotes = make_service([SOL_USDC, BONK_SOL, JUP_USDT]).get_prices(ALL)
    assert {s: q.source for s, q in quotes.items()} == {
        "SOL": "pools",
        "USDC": "pools",
        "USDT": "pools",
        "RAY": "static",  # no pool reaches RAY
        "JUP": "pools",
        "BONK": "pools",
    }
    assert quotes["SOL"].price_usd == Decimal("150")
    assert quotes["BONK"].price_usd == Decimal("0.0000225")


@pytest.mark.parametrize("with_pools", [False, True], ids=["no-pools-source", "empty-pools"])
def test_with_no_pools_and_no_http_the_static_prices_answer(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    kraken: KrakenDouble,
    binance: BinanceDouble,
    with_pools: bool,
) -> None:
    for double in (coingecko, kraken, binance):
        double.behaviour = Behaviour.SERVER_ERROR
    quotes = make_service([], with_pools=with_pools).get_prices(["SOL", "BONK", "USDC"])
    assert quotes["SOL"].source == quotes["BONK"].source == "static"
    assert quotes["BONK"].price_usd == DEFAULT_STATIC_USD_PRICES["BONK"]
    assert quotes["USDC"].source == ("pools" if with_pools else "static")  # anchors are pools'


def test_a_symbol_one_source_lacks_is_asked_of_the_next_source_alone(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    kraken: KrakenDouble,
) -> None:
    del coingecko.prices["BONK"]
    quotes = make_service().get_prices(["SOL", "BONK"])
    assert quotes["SOL"].source == "coingecko"
    assert quotes["BONK"].source == "kraken"
    [request] = kraken.requests
    assert request.param("pair") == "BONKUSD"


def test_a_symbol_a_source_lacked_is_not_asked_of_it_again_within_ttl(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    clock: FakeClock,
) -> None:
    del coingecko.prices["BONK"]
    service = make_service()
    service.get_prices(["BONK"])
    clock.advance(60)
    assert service.get_price("BONK").source == "kraken"
    assert coingecko.request_count == 1


def test_a_symbol_no_source_can_price_raises_price_unavailable(clock: FakeClock) -> None:
    service = PriceService([StaticSource(clock=clock)], clock=clock)
    with pytest.raises(PriceUnavailableError, match="WIF") as caught:
        service.get_prices(["SOL", "WIF"])
    assert isinstance(caught.value, LookupError)


def test_symbols_are_normalized_and_deduplicated(clock: FakeClock) -> None:
    service = PriceService([StaticSource(clock=clock)], clock=clock)
    assert list(service.get_prices([" sol", "SOL", "usdc"])) == ["SOL", "USDC"]
    assert service.get_price("bonk").symbol == "BONK"


def test_a_bare_string_of_symbols_is_refused(clock: FakeClock) -> None:
    with pytest.raises(ValidationError):
        PriceService([StaticSource()], clock=clock).get_prices("SOL")


def test_source_names_must_be_unique() -> None:
    with pytest.raises(ValidationError, match="unique"):
        PriceService([StaticSource(), StaticSource()])


def test_default_chain_order(closing: Callable[[PriceService], PriceService]) -> None:
    without = closing(default_price_service())
    with_pools = closing(default_price_service(lambda: [SOL_USDC]))
    assert [s.name for s in without.sources] == ["coingecko", "kraken", "binance", "static"]
    assert [s.name for s in with_pools.sources] == [
        "coingecko",
        "kraken",
        "binance",
        "pools",
        "static",
    ]


# ---------------------------------------------------------------------------------------------
# Caching


def test_answers_are_cached_for_ttl_and_refetched_after(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    clock: FakeClock,
) -> None:
    service = make_service()
    first = service.get_price("SOL")
    clock.advance(299)
    again = service.get_price("SOL")
    assert again == first
    assert again.age_s(clock()) == 299  # a cached quote keeps its original fetched_at
    assert coingecko.request_count == 1
    clock.advance(2)
    fresh = service.get_price("SOL")
    assert coingecko.request_count == 2
    assert fresh.fetched_at == clock.now


def test_a_dead_source_is_not_retried_within_failure_ttl(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    clock: FakeClock,
) -> None:
    coingecko.behaviour = Behaviour.SLOW
    coingecko.slow_s = 10 * WAIT_S  # answering only when the double closes
    timeout_s = 10.0  # the one wait a loaded machine's requests to the live source stay well below
    service = make_service(timeout_s=timeout_s)
    started = time.monotonic()
    assert service.get_price("SOL").source == "kraken"
    assert time.monotonic() - started >= timeout_s  # paid the timeout once
    clock.advance(29)
    started = time.monotonic()
    assert service.get_price("RAY").source == "kraken"  # not cached anywhere yet
    assert time.monotonic() - started < timeout_s  # ...but did not wait on the dead source again
    assert coingecko.request_count == 1
    coingecko.behaviour = Behaviour.OK
    clock.advance(2)
    assert service.get_price("JUP").source == "coingecko"
    assert coingecko.request_count == 2


@pytest.mark.parametrize(("retry_after_s", "skipped_for_s"), [(120, 120), (5, 30)])
def test_a_throttled_source_is_skipped_for_the_longer_of_retry_after_and_failure_ttl(
    binance: BinanceDouble,
    clock: FakeClock,
    closing: Callable[[PriceService], PriceService],
    retry_after_s: int,
    skipped_for_s: int,
) -> None:
    binance.behaviour = Behaviour.THROTTLED
    binance.retry_after_s = retry_after_s
    service = closing(
        PriceService(
            [BinanceSource(binance.url, clock=clock), StaticSource(clock=clock)],
            ttl_s=1,
            failure_ttl_s=30,
            clock=clock,
        )
    )
    assert service.get_price("SOL").source == "static"
    clock.advance(skipped_for_s - 1)
    assert service.get_price("SOL").source == "static"
    assert binance.request_count == 1
    binance.behaviour = Behaviour.OK
    clock.advance(2)
    assert service.get_price("SOL").source == "binance"
    assert binance.request_count == 2


def test_concurrent_callers_all_get_prices(
    make_service: Callable[..., PriceService], coingecko: CoinGeckoDouble
) -> None:
    service = make_service()
    errors: list[BaseException] = []
    results: list[dict[str, PriceQuote]] = []

    def work() -> None:
        try:
            for _ in range(20):
                results.append(service.get_prices(ALL))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 160
    assert all(r["SOL"].price_usd == COINGECKO_PRICES["SOL"] for r in results)
    assert coingecko.request_count <= 8  # concurrent first misses may each fetch once


# ---------------------------------------------------------------------------------------------
# Source status


def test_source_status_reports_health_errors_and_retry_times(
    make_service: Callable[..., PriceService],
    coingecko: CoinGeckoDouble,
    clock: FakeClock,
) -> None:
    coingecko.behaviour = Behaviour.SERVER_ERROR
    service = make_service()
    service.get_prices(["SOL"])
    gecko, kraken_status, binance_status, static = service.source_status()
    assert [gecko.name, kraken_status.name, binance_status.name, static.name] == [
        "coingecko",
        "kraken",
        "binance",
        "static",
    ]
    assert not gecko.healthy
    assert gecko.last_error is not None and "HTTP 502" in gecko.last_error
    assert gecko.retry_at == clock.now + 30
    assert not gecko.is_throttled
    assert kraken_status.healthy and kraken_status.last_success_at == clock.now
    assert binance_status.healthy and binance_status.last_success_at is None  # never asked

    clock.advance(31)
    assert service.source_status()[0].retry_at is None  # due for a retry, still unhealthy
    assert not service.source_status()[0].healthy
    coingecko.behaviour = Behaviour.OK
    service.get_prices(["RAY"])
    recovered = service.source_status()[0]
    assert recovered.healthy and recovered.last_error is None
    assert recovered.last_success_at == clock.now


def test_source_status_marks_throttling(
    make_service: Callable[..., PriceService], coingecko: CoinGeckoDouble
) -> None:
    coingecko.behaviour = Behaviour.THROTTLED
    service = make_service()
    service.get_prices(["SOL"])
    assert service.source_status()[0].is_throttled


# ---------------------------------------------------------------------------------------------
# Pool-implied prices


def pools_source(*pools: PoolLike, clock: FakeClock | None = None) -> PoolImpliedSource:
    return PoolImpliedSource(lambda: pools, clock=clock or FakeClock())


def test_bonk_is_priced_via_bonk_sol_once_sol_is_priced_via_sol_usdc(clock: FakeClock) -> None:
    quotes = pools_source(BONK_SOL, SOL_USDC, clock=clock).fetch(["BONK", "SOL"])
    assert quotes["SOL"] == PriceQuote("SOL", Decimal("150"), "pools", clock.now)
    assert quotes["BONK"].price_usd == Decimal("150") * 150 / 1_000_000_000


def test_pool_prices_are_weighted_by_the_usd_depth_of_the_priced_side() -> None:
    deep = pool("SOL", "1000", "USDC", "150000")  # 150, $150,000 of USDC
    shallow = pool("USDC", "14000", "SOL", "100")  # 140, $14,000 (reversed orientation)
    price = pools_source(deep, shallow).fetch(["SOL"])["SOL"].price_usd
    with localcontext(prec=34):
        expected = (Decimal(150) * 150_000 + Decimal(140) * 14_000) / (150_000 + 14_000)
    assert price == expected


def test_a_token_is_priced_from_the_nearest_anchor_first() -> None:
    # BONK has a direct USDC pool (round 1) and a path via SOL (round 2): only the direct one counts.
    bonk_usdc = pool("BONK", "1000000", "USDC", "30")  # 0.00003
    price = pools_source(SOL_USDC, BONK_SOL, bonk_usdc).fetch(["BONK"])["BONK"].price_usd
    assert price == Decimal("0.00003")


def test_empty_and_unknown_token_pools_are_skipped() -> None:
    empty = Pool("SOL", "USDC", 0, 5_000_000_000)
    unknown = pool("WIF", "10", "USDC", "1000")
    prices = pools_source(empty, unknown, SOL_USDC).implied_prices()
    assert prices["SOL"] == Decimal("150")
    assert "WIF" not in prices


def test_anchors_are_reported_and_unreachable_tokens_omitted() -> None:
    quotes = pools_source(SOL_USDC).fetch(["USDC", "USDT", "RAY"])
    assert {s: q.price_usd for s, q in quotes.items()} == {"USDC": Decimal(1), "USDT": Decimal(1)}
    assert {q.source for q in quotes.values()} == {"pools"}


def test_the_amm_pool_model_is_pool_like() -> None:
    sol_usdc = AmmPool("test-sol-usdc", "TEST", "SOL", "USDC", 1_000 * 10**9, 150_000 * 10**6, 25)
    assert pools_source(sol_usdc).fetch(["SOL"])["SOL"].price_usd == Decimal("150")


def test_a_failing_pools_provider_becomes_a_price_source_error() -> None:
    def broken() -> list[Pool]:
        raise ConnectionError("database is down")

    with pytest.raises(PriceSourceError, match="database is down") as caught:
        PoolImpliedSource(broken).fetch(["SOL"])
    assert caught.value.source == "pools"


# ---------------------------------------------------------------------------------------------
# Mid prices


def test_mid_price_divides_usd_prices(clock: FakeClock) -> None:
    service = PriceService([StaticSource(clock=clock)], clock=clock)
    assert service.mid_price("SOL", "USDC") == Decimal(150)
    assert service.mid_price("SOL", "BONK") == Decimal(7_500_000)
    assert service.mid_price("sol", "SOL") == Decimal(1)


def test_mid_price_keeps_34_significant_digits(clock: FakeClock) -> None:
    service = PriceService([StaticSource({"A": Decimal(1), "B": Decimal(3)}, clock=clock)], clock=clock)
    assert service.mid_price("A", "B") == Decimal("0." + "3" * 34)


def test_pool_implied_prices_follow_the_pools_at_once_while_other_sources_stay_cached() -> None:
    """PoolImpliedSource is never served from the cache: a trade moves the price at once."""
    from amm.pools import Pool

    pools = [Pool("p", "Orca", "SOL", "USDC", 1_000 * 10**9, 150_000 * 10**6, 25)]
    service = PriceService([PoolImpliedSource(lambda: pools)], ttl_s=300.0)
    assert service.get_price("SOL").price_usd == Decimal(150)
    pools[0] = Pool("p", "Orca", "SOL", "USDC", 1_000 * 10**9, 160_000 * 10**6, 25)
    assert service.get_price("SOL").price_usd == Decimal(160)
