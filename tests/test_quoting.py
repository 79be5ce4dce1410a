"""The quoting edge and the CLI, against local doubles of Jupiter and the price APIs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

import cli
from amm.pools import Pool
from config import Settings
from errors import ValidationError
from jupiter_api import JupiterClient
from quoting import QuoteService
from routing_engine import VenueKind
from tests.jupiter_double import JupiterDouble, closed_port_url
from tests.price_doubles import Behaviour, CoinGeckoDouble

ROOT = Path(__file__).resolve().parent.parent
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port here: connections are refused at once


@pytest.fixture
def jupiter() -> Iterator[JupiterDouble]:
    # Priced a little better than the default pools (150 USDC/SOL), so the optimum uses it.
    with JupiterDouble(price=Decimal("0.1510"), depth_in=10**15) as double:
        yield double


@pytest.fixture
def coingecko() -> Iterator[CoinGeckoDouble]:
    with CoinGeckoDouble() as double:
        yield double


def settings_for(jupiter_url: str, coingecko_url: str = DEAD) -> Settings:
    return Settings(
        jupiter_base_url=jupiter_url,
        coingecko_url=coingecko_url,
        kraken_url=DEAD,
        binance_url=DEAD,
        price_timeout_s=0.5,
        jupiter_timeout_s=10.0,  # far above a loaded machine's answer from the local double
        jupiter_max_rps=0,
    )


def test_jupiter_is_quoted_once_and_joins_the_split(jupiter: JupiterDouble) -> None:
    service = QuoteService(settings_for(jupiter.base_url))
    quote = service.quote("SOL", "USDC", "1000")
    assert len(jupiter.requests) == 1
    request = jupiter.requests[0]
    assert request.query["inputMint"] == "So11111111111111111111111111111111111111112"
    assert request.query["outputMint"] == "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    assert request.query["amount"] == str(1000 * 10**9)
    venue = next(q for q in quote.result.quotes if q.kind is VenueKind.AGGREGATOR)
    assert venue.available and venue.amount_out > 0 and venue.is_estimate
    assert any(leg.kind is VenueKind.AGGREGATOR for leg in quote.result.route.legs)
    assert quote.jupiter_status is not None and quote.jupiter_status.is_available


def test_jupiter_without_a_route_is_reported_not_fatal(jupiter: JupiterDouble) -> None:
    jupiter.error(400, "NO_ROUTES_FOUND", "No routes found")
    quote = QuoteService(settings_for(jupiter.base_url)).quote("SOL", "USDC", "10")
    venue = next(q for q in quote.result.quotes if q.venue == "Jupiter")
    assert not venue.available
    assert venue.reason == "no route: NO_ROUTES_FOUND"
    assert quote.result.route.amount_out > 0


def test_offline_jupiter_opens_the_breaker_and_stops_asking() -> None:
    client = JupiterClient(closed_port_url(), timeout_s=0.5, max_requests_per_s=None, failure_threshold=2)
    service = QuoteService(settings_for(closed_port_url()), jupiter=client)
    reasons = [
        next(q for q in service.quote("SOL", "USDC", "5").result.quotes if q.venue == "Jupiter").reason
        for _ in range(4)
    ]
    assert reasons[:2] == ["offline", "offline"]
    assert reasons[2:] == ["offline (circuit breaker open)"] * 2
    assert client.status().state == "open"


def test_rate_limited_jupiter_is_skipped_without_waiting(jupiter: JupiterDouble) -> None:
    client = JupiterClient(jupiter.base_url, max_requests_per_s=0.001, max_wait_s=0.0)
    service = QuoteService(settings_for(jupiter.base_url), jupiter=client)
    service.quote("SOL", "USDC", "5")
    second = service.quote("SOL", "USDC", "5")
    jupiter_quote = next(q for q in second.result.quotes if q.venue == "Jupiter")
    assert jupiter_quote.reason is not None and jupiter_quote.reason.startswith("rate limited")
    assert len(jupiter.requests) == 1


def test_live_prices_carry_their_source(jupiter: JupiterDouble, coingecko: CoinGeckoDouble) -> None:
    quote = QuoteService(settings_for(jupiter.base_url, coingecko.url)).quote("SOL", "USDC", "1")
    assert quote.prices["SOL"].source == "coingecko"
    assert quote.prices["SOL"].price_usd == Decimal("142.31")
    with localcontext() as ctx:
        ctx.prec = 40
        assert quote.result.reference_price == Decimal("142.31") / Decimal("1.0001")


def test_dead_price_sources_fall_back_to_pools_and_static(
    jupiter: JupiterDouble, coingecko: CoinGeckoDouble
) -> None:
    coingecko.behaviour = Behaviour.SERVER_ERROR
    service = QuoteService(settings_for(jupiter.base_url, coingecko.url))
    quote = service.quote("SOL", "USDC", "1")
    assert {q.source for q in quote.prices.values()} <= {"pools", "static"}
    asked = coingecko.request_count
    service.quote("SOL", "USDC", "1")
    assert coingecko.request_count == asked  # the failure is cached: no new request


def test_offline_mode_never_calls_out() -> None:
    service = QuoteService(Settings(offline=True))
    assert service.jupiter is None
    quote = service.quote("RAY", "USDC", "100")
    assert {len(leg.path) for leg in quote.result.route.legs} == {3}
    jupiter = next(q for q in quote.result.quotes if q.venue == "Jupiter")
    assert jupiter.reason == "disabled (offline mode)"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("SOL", "SOL", "1"), "tokenOut"),
        (("SOL", "USDC", "0"), "amountIn"),
        (("SOL", "USDC", "-1"), "amountIn"),
        (("SOL", "USDC", "abc"), "amountIn"),
        (("SOL", "USDC", "1.0000000001"), "amountIn"),
    ],
)
def test_bad_quotes_name_the_field(args: tuple[str, str, str], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        QuoteService(Settings(offline=True)).quote(*args)
    assert info.value.field == field


def test_settings_refuse_bad_environment_values() -> None:
    with pytest.raises(ValidationError) as info:
        Settings.from_env({"JUPITER_TIMEOUT_S": "soon"})
    assert info.value.field == "JUPITER_TIMEOUT_S"
    with pytest.raises(ValidationError):
        Settings.from_env({"SOLROUTE_OFFLINE": "maybe"})
    settings = Settings.from_env({"JUPITER_BASE_URL": "http://x/swap/v1/", "SOLROUTE_OFFLINE": "1"})
    assert (settings.jupiter_base_url, settings.offline) == ("http://x/swap/v1", True)


def test_cli_prints_every_venue_and_the_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["quote", "SOL", "USDC", "1000", "--offline"]) == 0
    out = capsys.readouterr().out
    for venue in ("Raydium", "Orca", "Meteora", "OTC Desk A (SOL/USDC)", "Jupiter"):
        assert venue in out
    assert "Chosen route (OPTIMAL_SPLIT)" in out
    assert "optimality gap <=" in out


def test_cli_json_is_machine_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(["quote", "BONK", "USDC", "1000000", "--offline", "--json", "--strategy", "best_price"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["route"]["strategy"] == "BEST_PRICE"
    assert Decimal(data["route"]["amountOut"]) > 0
    assert Decimal(data["route"]["minAmountOut"]) <= Decimal(data["route"]["amountOut"])


def test_cli_bad_input_exits_2_with_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["quote", "SOL", "USDC", "1.0000000001", "--offline"]) == 2
    assert "error (amountIn)" in capsys.readouterr().err


def test_run_script_quotes_on_a_fresh_process() -> None:
    """The README's first command end to end (offline, so it never reaches the internet)."""
    done = subprocess.run(
        [sys.executable, "-m", "cli", "quote", "SOL", "USDC", "1000", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Chosen route (OPTIMAL_SPLIT)" in done.stdout


def test_calling_the_cli_in_process_leaves_sigpipe_alone() -> None:
    """main() must not reset SIGPIPE: in a long-lived process a closed socket would kill it."""
    import signal

    before = signal.getsignal(signal.SIGPIPE)
    assert cli.main(["quote", "SOL", "USDC", "1", "--offline", "--json"]) == 0
    assert signal.getsignal(signal.SIGPIPE) == before


def test_threads_quoting_on_different_venue_snapshots_never_see_each_others_pools() -> None:
    """Request threads share one QuoteService; each call reads its own snapshot and passes it down.

    Thread "a" sees one SOL/USDC pool at 150 USDC per SOL, thread "b" one at 200 and a SOL/BONK
    pool. Every price list, quote and pair check must come from the caller's own pools, however
    the two threads interleave (a short switch interval makes them interleave often).
    """
    sol, usdc, bonk = 10**9, 10**6, 10**5
    snapshots = {
        "a": ((Pool("a-sol-usdc", "Orca", "SOL", "USDC", 1_000 * sol, 150_000 * usdc, 30),), ()),
        "b": (
            (
                Pool("b-sol-usdc", "Orca", "SOL", "USDC", 1_000 * sol, 200_000 * usdc, 30),
                Pool("b-sol-bonk", "Raydium", "SOL", "BONK", 1_000 * sol, 10_000_000_000 * bonk, 25),
            ),
            (),
        ),
    }
    sol_usd = {"a": Decimal(150), "b": Decimal(200)}
    caller = threading.local()
    service = QuoteService(Settings(offline=True), venue_state=lambda: snapshots[caller.name])
    start = threading.Barrier(2, timeout=10)
    seen: list[str] = []

    def run(name: str) -> None:
        try:
            check(name)
        except Exception as exc:  # reported below: a thread's exception would not fail the test
            seen.append(f"{name}: {exc!r}")

    def check(name: str) -> None:
        caller.name = name
        pools = snapshots[name][0]
        start.wait()
        for _ in range(400):
            prices = service.prices(pools)
            if prices["SOL"].price_usd != sol_usd[name]:
                seen.append(f"{name}: prices() gave SOL at {prices['SOL'].price_usd}")
            if service.usd_prices(("SOL",), pools)["SOL"] != sol_usd[name]:
                seen.append(f"{name}: usd_prices() gave another SOL price")
            quote = service.quote_units("SOL", "USDC", 10 * sol)
            if quote.prices["SOL"].price_usd != sol_usd[name]:
                seen.append(f"{name}: quote priced SOL at {quote.prices['SOL'].price_usd}")
            legs = {leg.venue_id for leg in quote.result.route.legs}
            if legs != {f"{name}-sol-usdc"}:
                seen.append(f"{name}: quote routed on {legs}")
            if service.serves_pair("SOL", "BONK") != (name == "b"):
                seen.append(f"{name}: serves_pair(SOL, BONK) read the other snapshot")

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=run, args=(name,)) for name in snapshots]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(switch_interval)
    assert not any(thread.is_alive() for thread in threads)
    assert seen == []
