"""The I/O edge of quoting: assemble a live ``Market`` (prices, pools, desks, Jupiter) and route.

The router is pure; this module does the talking. Jupiter is asked at most once per quote and
never waited for: when it is rate limited, unreachable or its breaker is open, the quote goes
on without it and says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import otc_engine
from amm.pools import Pool, default_pools
from config import Settings
from errors import ValidationError
from jupiter_api import (
    JupiterCircuitOpenError,
    JupiterClient,
    JupiterError,
    JupiterNoRouteError,
    JupiterRateLimitedError,
    JupiterStatus,
)
from price_feeds import PoolImpliedSource, PriceQuote, PriceService, StaticSource, default_price_service
from rate_limits import RateLimiter
from routing_engine import (
    DEFAULT_DECADES,
    AggregatorQuote,
    ExactOutRoute,
    LatencyConfig,
    Market,
    RouterConfig,
    RouteResult,
    VenueCurve,
    default_size_range,
    find_route,
    find_route_exact_out,
    log_sizes,
    venue_curves,
)
from tokens import TOKENS, format_amount, get_token, to_base_units

__all__ = ["JupiterCurves", "LiquidityCurves", "Quote", "QuoteService", "VenueSnapshot"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quote:
    """A routed quote with the prices it used and the aggregator's state."""

    result: RouteResult
    prices: dict[str, PriceQuote]
    jupiter_status: JupiterStatus | None


@dataclass(frozen=True)
class LiquidityCurves:
    """Every direct venue of a pair quoted alone at each size (base units of ``token_in``)."""

    token_in: str
    token_out: str
    reference_price: Decimal | None  # token_out per token_in, human units, from USD prices
    sizes: tuple[int, ...]
    curves: tuple[VenueCurve, ...]


Ask = Callable[..., tuple[AggregatorQuote | None, str | None]]
# The pools and desks as read at one moment: a quote reads one and passes it down explicitly.
VenueSnapshot = tuple[tuple[Pool, ...], tuple[otc_engine.Desk, ...]]


class JupiterCurves:
    """The latest Jupiter quote per pair, refreshed in the background, never on a quote's path.

    ``get`` notes that a pair is wanted (and at what size) and returns its quote if fresh;
    ``refresh_next`` asks Jupiter for the wanted pair whose quote is oldest. The background loop
    calls it no faster than Jupiter's rate limit allows.
    """

    WANTED_FOR_S = 600.0  # a pair nobody quoted for ten minutes is no longer refreshed

    def __init__(self, ask: Ask, *, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._ask = ask
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._quotes: dict[tuple[str, str], tuple[AggregatorQuote, float]] = {}
        self._wanted: dict[tuple[str, str], tuple[int, float]] = {}
        self._why: dict[tuple[str, str], str] = {}

    def get(self, token_in: str, token_out: str, amount_in: int) -> tuple[AggregatorQuote | None, str | None]:
        """The pair's quote if fresh, else None and why; either way the pair is now wanted."""
        pair = (token_in, token_out)
        now = self._clock()
        with self._lock:
            self._wanted[pair] = (amount_in, now)
            entry = self._quotes.get(pair)
            why = self._why.get(pair)
        if entry is not None and now - entry[1] <= self.ttl_s:
            return entry[0], None
        return None, why or "warming up: Jupiter is asked in the background"

    def peek(self, token_in: str, token_out: str) -> tuple[AggregatorQuote | None, str | None]:
        """The pair's quote if fresh, else None and why; unlike ``get``, the pair is not marked wanted.

        Charts use this: marking the pair would also set the size Jupiter is asked about, which
        belongs to the pair's real quotes.
        """
        pair = (token_in, token_out)
        now = self._clock()
        with self._lock:
            entry = self._quotes.get(pair)
            why = self._why.get(pair)
        if entry is not None and now - entry[1] <= self.ttl_s:
            return entry[0], None
        return (
            None,
            why or "no fresh Jupiter quote: it is refreshed in the background while the pair is quoted",
        )

    def refresh_next(self) -> bool:
        """Ask Jupiter for the stalest wanted pair; False when no pair is wanted."""
        now = self._clock()
        with self._lock:
            for pair in [p for p, (_, at) in self._wanted.items() if now - at > self.WANTED_FOR_S]:
                del self._wanted[pair]
            if not self._wanted:
                return False
            pair = min(self._wanted, key=lambda p: self._quotes[p][1] if p in self._quotes else float("-inf"))
            amount_in = self._wanted[pair][0]
        quote, why = self._ask(pair[0], pair[1], amount_in, 50)
        with self._lock:
            if quote is not None:
                self._quotes[pair] = (quote, self._clock())
                self._why.pop(pair, None)
            else:
                self._why[pair] = why or "unavailable"
        return True


class QuoteService:
    """Quotes trades against the venues' state, read once per call from ``venue_state``.

    Request threads share one instance: it keeps no per-request state. Each call reads one venue
    snapshot and passes it down (to the pool-implied prices, the router and the pair check).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        price_service: PriceService | None = None,
        jupiter: JupiterClient | None = None,
        pools: tuple[Pool, ...] | None = None,
        desks: tuple[otc_engine.Desk, ...] | None = None,
        clock: Callable[[], float] = time.time,
        venue_state: Callable[[], VenueSnapshot] | None = None,
        jupiter_curve_ttl_s: float | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.price_service = price_service or self._default_prices(settings)
        if venue_state is None and (pools is None or desks is None):
            seed_prices = self.usd_prices(tuple(TOKENS), pools=())  # only when seeding our own venues
            pools = pools if pools is not None else default_pools(seed_prices)
            desks = desks if desks is not None else otc_engine.default_desks(seed_prices, clock())
        # The venues when there is no venue_state: set here once, never changed.
        self._fixed_venues: VenueSnapshot = (pools or (), desks or ())
        if jupiter is None and settings.jupiter_enabled and not settings.offline:
            jupiter = JupiterClient(
                settings.jupiter_base_url,
                settings.jupiter_api_key,
                timeout_s=settings.jupiter_timeout_s,
                # Every Jupiter call passes this limiter ("jupiter"): the app's shared one; without
                # it the client keeps Jupiter to jupiter_max_rps in this process.
                rate_limiter=rate_limiter,
                max_requests_per_s=settings.jupiter_max_rps,
                max_wait_s=0.0,  # a quote never waits for a rate-limit slot: it goes on without Jupiter
            )
        self.jupiter = jupiter
        # Where pools and desks come from on each quote (the app reads its database); None: fixed.
        self.venue_state = venue_state
        self._prices_memo: tuple[tuple[Pool, ...], float, dict[str, PriceQuote]] | None = None
        # With a curve cache, quotes never call Jupiter: a background loop keeps one quote per pair
        # fresh within Jupiter's rate limit, and the router fits its curve to it.
        self.jupiter_curves: JupiterCurves | None = None
        if jupiter is not None and jupiter_curve_ttl_s is not None:
            self.jupiter_curves = JupiterCurves(self.ask_jupiter, ttl_s=jupiter_curve_ttl_s, clock=clock)
        self.router_config = RouterConfig(
            min_leg_usd=settings.min_leg_usd,
            outlier_bps=settings.outlier_pct * 100,
            min_gain_bps_per_leg=settings.min_gain_bps_per_leg,
            two_hop=settings.max_hops >= 2,
            max_hops=settings.max_hops,
        )
        self.latency = LatencyConfig(
            settings.latency_amm_ms, settings.latency_aggregator_ms, settings.latency_otc_ms
        )

    def _default_prices(self, settings: Settings) -> PriceService:
        # Pool-implied prices read the pools each call passes (see ``prices``), never shared state.
        if settings.offline:
            return PriceService(
                [PoolImpliedSource(clock=self.clock), StaticSource(clock=self.clock)],
                ttl_s=settings.price_ttl_s,
                failure_ttl_s=settings.price_failure_ttl_s,
                clock=self.clock,
            )
        return default_price_service(
            pools_per_call=True,
            coingecko_url=settings.coingecko_url,
            kraken_url=settings.kraken_url,
            binance_url=settings.binance_url,
            coingecko_api_key=settings.coingecko_api_key,
            timeout_s=settings.price_timeout_s,
            ttl_s=settings.price_ttl_s,
            failure_ttl_s=settings.price_failure_ttl_s,
            clock=self.clock,
        )

    def venues(self) -> VenueSnapshot:
        """The pools and desks as they are now: one read of ``venue_state``, else the fixed venues."""
        return self.venue_state() if self.venue_state is not None else self._fixed_venues

    def prices(self, pools: Sequence[Pool] | None = None) -> dict[str, PriceQuote]:
        """Every token's USD quote; pool-implied prices read ``pools`` (default: ``venues()``'s)."""
        return self.price_service.get_prices(
            tuple(TOKENS), pools=self.venues()[0] if pools is None else pools
        )

    def _prices_of(self, pools: tuple[Pool, ...]) -> dict[str, PriceQuote]:
        """``prices(pools)``, reused for the same venue snapshot (the app's) for a short while."""
        memo = self._prices_memo
        now = time.monotonic()
        if self.venue_state is not None and memo is not None and memo[0] is pools and now - memo[1] < 0.25:
            return memo[2]
        prices = self.prices(pools)
        self._prices_memo = (pools, now, prices)
        return prices

    def usd_prices(self, symbols: tuple[str, ...], pools: Sequence[Pool] | None = None) -> dict[str, Decimal]:
        """USD price per symbol from the first source in the chain that has it (pools as in ``prices``)."""
        found = self.price_service.get_prices(symbols, pools=self.venues()[0] if pools is None else pools)
        return {s: q.price_usd for s, q in found.items()}

    def serves_pair(self, token_in: str, token_out: str) -> bool:
        """True if the venues now connect the pair through at most two intermediate tokens (three hops)."""
        pools, desks = self.venues()
        neighbours: dict[str, set[str]] = {}
        for a, b in [(p.token_a, p.token_b) for p in pools] + [(d.base, d.quote) for d in desks]:
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
        reached, frontier = {token_in}, {token_in}
        for _ in range(self.router_config.max_hops if self.router_config.two_hop else 1):
            frontier = {n for t in frontier for n in neighbours.get(t, ())} - reached
            reached |= frontier
        return token_out in reached

    def ask_jupiter(
        self,
        token_in: str,
        token_out: str,
        amount_in: int,
        slippage_bps: int,
        *,
        raise_transient: bool = False,
        max_wait_s: float | None = None,
    ) -> tuple[AggregatorQuote | None, str | None]:
        """Ask Jupiter now: its quote, or None and why (a transient fault raises if asked to).

        ``max_wait_s`` bounds the wait for a slot of Jupiter's rate limit (default: the client's,
        0 for the client built here: a quote never waits; execution passes its own).
        """
        if self.jupiter is None:
            return None, "disabled (offline mode)" if self.settings.offline else "disabled"
        try:
            q = self.jupiter.quote(
                get_token(token_in).mint,
                get_token(token_out).mint,
                amount_in,
                slippage_bps=slippage_bps,
                max_wait_s=max_wait_s,
            )
        except JupiterNoRouteError as exc:
            return None, f"no route: {exc.error_code or exc.message}"
        except JupiterRateLimitedError as exc:
            return None, f"rate limited for {exc.retry_after_s:.1f} s"
        except JupiterCircuitOpenError:
            return None, "offline (circuit breaker open)"
        except JupiterError as exc:
            if raise_transient and exc.is_transient:
                raise
            log.info("Jupiter quote failed: %s", exc)
            return None, "offline" if exc.is_transient else f"refused: {exc}"
        except ValidationError as exc:
            return None, f"refused: {exc}"
        return AggregatorQuote(
            token_in, token_out, q.in_amount, q.out_amount, q.price_impact_pct, q.labels
        ), None

    def aggregator_quote(
        self, token_in: str, token_out: str, amount_in: int, slippage_bps: int
    ) -> tuple[AggregatorQuote | None, str | None]:
        """Jupiter for a quote: the background-refreshed curve when there is one, else ask now."""
        if self.jupiter_curves is not None:
            return self.jupiter_curves.get(token_in, token_out, amount_in)
        return self.ask_jupiter(token_in, token_out, amount_in, slippage_bps)

    def market(
        self,
        token_in: str,
        token_out: str,
        amount_in: int,
        slippage_bps: int,
        *,
        aggregator: tuple[AggregatorQuote | None, str | None] | None = None,
    ) -> tuple[Market, dict[str, PriceQuote]]:
        """A snapshot of every venue for this trade, Jupiter included when it answers.

        ``aggregator`` replaces asking Jupiter here (execution asks it with its own limits).
        """
        pools, desks = self.venues()
        prices = self._prices_of(pools)
        if aggregator is None:
            aggregator = self.aggregator_quote(token_in, token_out, amount_in, slippage_bps)
        return self.market_of(pools, desks, {s: q.price_usd for s, q in prices.items()}, aggregator), prices

    def market_of(
        self,
        pools: tuple[Pool, ...],
        desks: tuple[otc_engine.Desk, ...],
        usd_prices: Mapping[str, Decimal],
        aggregator: tuple[AggregatorQuote | None, str | None],
    ) -> Market:
        """These venues and prices as the router's market, now (a job routes on venues it holds)."""
        agg_quote, why = aggregator
        return Market(
            pools,
            desks,
            usd_prices,
            self.clock(),
            aggregator=agg_quote,
            aggregator_unavailable=why,
            latency=self.latency,
        )

    def quote(
        self,
        token_in: str,
        token_out: str,
        amount: object,
        strategy: str = "OPTIMAL_SPLIT",
        slippage_bps: int = 50,
    ) -> Quote:
        """Quote selling ``amount`` (human units) of token_in for token_out."""
        sell, buy = get_token(token_in), get_token(token_out)
        if sell == buy:
            raise ValidationError(f"tokenIn and tokenOut are both {sell.symbol}", field="tokenOut")
        amount_in = to_base_units(sell, amount, field="amountIn")
        if amount_in <= 0:
            raise ValidationError(f"amountIn must be positive, got {amount}", field="amountIn")
        return self.quote_units(sell.symbol, buy.symbol, amount_in, strategy, slippage_bps)

    def quote_units(
        self,
        token_in: str,
        token_out: str,
        amount_in: int,
        strategy: str = "OPTIMAL_SPLIT",
        slippage_bps: int = 50,
        *,
        aggregator: tuple[AggregatorQuote | None, str | None] | None = None,
    ) -> Quote:
        """Quote selling ``amount_in`` base units; the tokens must already be validated symbols."""
        sell, buy = get_token(token_in), get_token(token_out)
        market, prices = self.market(sell.symbol, buy.symbol, amount_in, slippage_bps, aggregator=aggregator)
        result = find_route(
            market, sell.symbol, buy.symbol, amount_in, strategy, slippage_bps, self.router_config
        )
        return Quote(result, prices, self.jupiter.status() if self.jupiter else None)

    def quote_units_exact_out(
        self,
        token_in: str,
        token_out: str,
        amount_out: int,
        strategy: str = "OPTIMAL_SPLIT",
        slippage_bps: int = 50,
    ) -> tuple[Quote, ExactOutRoute]:
        """Quote buying ``amount_out`` base units of token_out: the least input (routing_engine.exact_out).

        Jupiter's curve is asked about the input the reference prices say the amount is worth.
        """
        sell, buy = get_token(token_in), get_token(token_out)
        pools, desks = self.venues()
        prices = self._prices_of(pools)
        usd = {s: q.price_usd for s, q in prices.items()}
        size = self._input_worth(usd, sell.symbol, buy.symbol, amount_out)
        aggregator = self.aggregator_quote(sell.symbol, buy.symbol, size, slippage_bps)
        market = self.market_of(pools, desks, usd, aggregator)
        exact = find_route_exact_out(
            market, sell.symbol, buy.symbol, amount_out, strategy, slippage_bps, self.router_config
        )
        return Quote(exact.result, prices, self.jupiter.status() if self.jupiter else None), exact

    @staticmethod
    def _input_worth(usd: Mapping[str, Decimal], token_in: str, token_out: str, amount_out: int) -> int:
        """Base units of token_in worth ``amount_out`` base units of token_out at USD prices (one token
        of token_in when a price is missing)."""
        sell, buy = get_token(token_in), get_token(token_out)
        p_in, p_out = usd.get(token_in), usd.get(token_out)
        if not p_in or not p_out:
            return sell.unit
        worth = Decimal(amount_out) * p_out / p_in * Decimal(10) ** (sell.decimals - buy.decimals)
        return max(1, int(worth))

    def cached_aggregator_quote(
        self, token_in: str, token_out: str
    ) -> tuple[AggregatorQuote | None, str | None]:
        """Jupiter's background-refreshed quote for the pair if fresh; never asks Jupiter."""
        if self.jupiter is None:
            return None, "disabled (offline mode)" if self.settings.offline else "disabled"
        if self.jupiter_curves is None:
            return None, "no cached Jupiter curve in this process (Jupiter is asked only when executing)"
        return self.jupiter_curves.peek(token_in, token_out)

    def liquidity_curves(
        self,
        token_in: str,
        token_out: str,
        points: int,
        min_amount_in: int | None = None,
        max_amount_in: int | None = None,
    ) -> LiquidityCurves:
        """Each pool, desk and cached Jupiter curve of the pair quoted at ``points`` log-spaced sizes.

        Sizes run from ``min_amount_in`` to ``max_amount_in`` (base units); either defaults to
        ``routing_engine.default_size_range``. The tokens must be validated, distinct symbols.
        """
        aggregator = self.cached_aggregator_quote(token_in, token_out)
        market, _ = self.market(token_in, token_out, max_amount_in or 1, 0, aggregator=aggregator)
        default = default_size_range(market, token_in, token_out)
        if default is None:
            pairs = {p.other(token_in) for p in market.pools if p.has(token_in)}
            pairs |= {
                d.quote if d.base == token_in else d.base
                for d in market.desks
                if token_in in (d.base, d.quote)
            }
            listed = ", ".join(sorted(pairs)) or "none"
            raise ValidationError(
                f"no pool or desk trades {token_in} for {token_out} directly "
                f"(direct pairs of {token_in}: {listed})",
                field="tokenOut",
            )
        lo, hi = default
        if max_amount_in is not None:
            hi = max_amount_in
            lo = max(1, hi // 10**DEFAULT_DECADES)
        if min_amount_in is not None:
            lo = min_amount_in
        if lo >= hi:
            field = "maxAmountIn" if max_amount_in is not None else "minAmountIn"
            default_note = "" if max_amount_in is not None else " (the default for this pair)"
            raise ValidationError(
                f"minAmountIn {format_amount(token_in, lo)} must be below maxAmountIn "
                f"{format_amount(token_in, hi)}{default_note}",
                field=field,
            )
        sizes = log_sizes(lo, hi, points)
        return LiquidityCurves(
            token_in,
            token_out,
            market.mid_price(token_in, token_out),
            sizes,
            venue_curves(market, token_in, token_out, sizes),
        )
