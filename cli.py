"""Command line: ``python -m cli quote SOL USDC 1000`` prints every venue's quote and the chosen route."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from decimal import Decimal

from config import Settings
from errors import SolrouteError
from quoting import Quote, QuoteService
from routing_engine import Strategy
from tokens import from_base_units, get_token


def _human(symbol: str, base_units: int) -> str:
    """Token units with thousands separators and no trailing zeros (exact: no float)."""
    amount = from_base_units(get_token(symbol), base_units).normalize()
    exponent = amount.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"{amount:,.{places}f}"


def render(quote: Quote) -> str:
    """The quote as a plain-text report."""
    r = quote.result
    route = r.route
    lines = [
        f"Sell {_human(r.token_in, r.amount_in)} {r.token_in} for {r.token_out}  "
        f"(strategy {route.strategy.value}, slippage tolerance {r.slippage_bps} bps)",
        "Prices: " + ", ".join(f"{s} ${q.price_usd} [{q.source}]" for s, q in sorted(quote.prices.items())),
        "",
        f"{'Venue':<44} {'Kind':<10} {'Amount out':>22} {'Impact bps':>11} {'Fee bps':>8}  Status",
    ]
    for q in sorted(r.quotes, key=lambda q: (not q.available, -q.amount_out)):
        out = f"{_human(r.token_out, q.amount_out)}" if q.available else "-"
        impact = f"{q.price_impact_bps}" if q.price_impact_bps is not None else "-"
        fee = f"{q.fee_bps}" if q.fee_bps is not None else "-"
        name = q.venue + (" via " + q.path[1] if len(q.path) == 3 else "")
        status = (
            "ok" + (" (estimate)" if q.is_estimate else "") if q.available else f"unavailable: {q.reason}"
        )
        lines.append(f"{name:<44} {q.kind.value:<10} {out:>22} {impact:>11} {fee:>8}  {status}")
    lines += [
        "",
        f"Chosen route ({route.strategy.value}): {_human(r.token_out, route.amount_out)} {r.token_out}, "
        f"minimum received {_human(r.token_out, route.min_amount_out)}",
        f"  price impact vs reference mid: {route.price_impact_bps} bps; "
        f"saving vs best single venue: {route.savings_vs_best_single_bps} bps; "
        f"optimality gap <= {route.optimality_gap_bps} bps "
        f"(upper bound {_human(r.token_out, route.upper_bound_out or 0)}); "
        f"expected latency {route.expected_latency_ms} ms",
        f"  {'hop':<4}{'venue':<26}{'path':<18}{'amount in':>24}{'amount out':>24}{'share':>9}",
    ]
    for leg in route.legs:
        share = Decimal(leg.amount_in) / r.amount_in * 100 if leg.hop == 0 else None
        lines.append(
            f"  {leg.hop + 1:<4}{leg.venue:<26}{'→'.join(leg.path):<18}"
            f"{_human(leg.token_in, leg.amount_in) + ' ' + leg.token_in:>24}"
            f"{_human(leg.token_out, leg.amount_out) + ' ' + leg.token_out:>24}"
            f"{(f'{share:.2f}%' if share is not None else ''):>9}"
        )
    if any(leg.is_estimate for leg in route.legs):
        lines.append("  (Jupiter legs are estimates from its quote; execution re-quotes them.)")
    return "\n".join(lines)


def as_json(quote: Quote) -> dict[str, object]:
    """The quote as JSON-ready data (amounts as decimal strings in token units)."""
    r = quote.result
    return {
        "tokenIn": r.token_in,
        "tokenOut": r.token_out,
        "amountIn": str(from_base_units(get_token(r.token_in), r.amount_in)),
        "quotes": [
            {
                "venue": q.venue,
                "kind": q.kind.value,
                "path": list(q.path),
                "amountOut": str(from_base_units(get_token(r.token_out), q.amount_out)),
                "priceImpactBps": None if q.price_impact_bps is None else str(q.price_impact_bps),
                "feeBps": None if q.fee_bps is None else str(q.fee_bps),
                "available": q.available,
                "reason": q.reason,
            }
            for q in r.quotes
        ],
        "route": {
            "strategy": r.route.strategy.value,
            "amountOut": str(from_base_units(get_token(r.token_out), r.route.amount_out)),
            "minAmountOut": str(from_base_units(get_token(r.token_out), r.route.min_amount_out)),
            "priceImpactBps": None if r.route.price_impact_bps is None else str(r.route.price_impact_bps),
            "savingsVsBestSingleBps": None
            if r.route.savings_vs_best_single_bps is None
            else str(r.route.savings_vs_best_single_bps),
            "optimalityGapBps": None
            if r.route.optimality_gap_bps is None
            else str(r.route.optimality_gap_bps),
            "legs": [
                {
                    "venue": leg.venue,
                    "kind": leg.kind.value,
                    "hop": leg.hop,
                    "path": list(leg.path),
                    "amountIn": str(from_base_units(get_token(leg.token_in), leg.amount_in)),
                    "amountOut": str(from_base_units(get_token(leg.token_out), leg.amount_out)),
                }
                for leg in r.route.legs
            ],
        },
        "prices": {s: {"usd": str(q.price_usd), "source": q.source} for s, q in quote.prices.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="solroute", description="Solroute: OTC/DEX smart order router")
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quote", help="quote a trade across every venue")
    q.add_argument("token_in", help="token to sell, e.g. SOL")
    q.add_argument("token_out", help="token to buy, e.g. USDC")
    q.add_argument("amount", help="amount of token_in in token units, e.g. 1000 or 0.5")
    q.add_argument(
        "--strategy", default=Strategy.OPTIMAL_SPLIT.value, help=", ".join(s.value for s in Strategy)
    )
    q.add_argument("--slippage-bps", type=int, default=50)
    q.add_argument(
        "--offline", action="store_true", help="skip outside APIs (prices from pools and defaults)"
    )
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        if args.offline:
            settings = Settings(**{**settings.__dict__, "offline": True})
        service = QuoteService(settings)
        quote = service.quote(args.token_in, args.token_out, args.amount, args.strategy, args.slippage_bps)
    except SolrouteError as exc:
        field = f" ({exc.field})" if exc.field else ""
        print(f"error{field}: {exc.message}", file=sys.stderr)
        return 2
    print(json.dumps(as_json(quote), indent=2) if args.json else render(quote))
    return 0


if __name__ == "__main__":
    # Only as a program: `... quote | head` ends quietly. Never in main(), which tests call in-process
    # (a default SIGPIPE there kills the test run at the first write to a closed socket).
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
