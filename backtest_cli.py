"""``flask backtest ...``: generate synthetic market data, list datasets, run and compare backtests
from the shell (app.py adds the group to the app's CLI). Thin: the work is market_history's,
backtest_runs' and jobs.run_backtest's, as for the API."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

import backtest_runs
import jobs
import market_history
from backtesting.model import SyntheticConfig
from errors import SolrouteError
from models import Account, Backtest, db

__all__ = ["commands"]


def _start(start: str | None, seconds: int) -> datetime:
    if start is None:
        return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        at = datetime.fromisoformat(start)
    except ValueError as exc:
        raise click.BadParameter(f"{start!r} is not an ISO 8601 time", param_hint="--start") from exc
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def commands(app: Flask) -> AppGroup:
    """``flask backtest generate|datasets|run``: synthetic data and backtests from the shell."""
    group = AppGroup("backtest", help="Market datasets and backtests.")

    @group.command("generate")
    @click.option("--dataset", required=True, help="Dataset name (replaced if it exists)")
    @click.option("--days", type=float, default=30.0, show_default=True)
    @click.option("--step-s", type=int, default=60, show_default=True, help="Seconds between frames")
    @click.option("--seed", type=int, default=1, show_default=True)
    @click.option("--start", default=None, help="First frame (ISO 8601, UTC); default: --days before now")
    @click.option("--volatility", type=float, default=None, help="Annualised, every token (default 0.8)")
    @click.option("--drift", type=float, default=None, help="Annualised drift, every token (default 0)")
    def generate(
        dataset: str,
        days: float,
        step_s: int,
        seed: int,
        start: str | None,
        volatility: float | None,
        drift: float | None,
    ) -> None:
        """Generate a synthetic dataset (GBM prices, arbitraged pools, desks) into the database."""
        if days <= 0 or step_s <= 0:
            raise click.BadParameter("--days and --step-s must be positive")
        steps = max(1, int(days * 86_400 // step_s))
        first = _start(start, steps * step_s)
        tokens = SyntheticConfig(start=0, steps=1).tokens
        config = SyntheticConfig(
            start=first.timestamp(),
            steps=steps,
            step_s=step_s,
            seed=seed,
            volatility={} if volatility is None else dict.fromkeys(tokens, volatility),
            drift={} if drift is None else dict.fromkeys(tokens, drift),
        )
        began = time.monotonic()

        def progress(frames: int, total: int, rows: int) -> None:
            elapsed = max(1e-9, time.monotonic() - began)
            bar = "#" * int(30 * frames / max(1, total))
            click.echo(
                f"\r[{bar:<30}] {frames:,}/{total:,} frames  {rows:,} rows  {rows / elapsed:,.0f} rows/s",
                err=True,
                nl=False,
            )

        try:
            rows = market_history.generate_dataset(db.session, dataset, config, progress=progress)
        except SolrouteError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        elapsed = time.monotonic() - began
        click.echo("", err=True)
        click.echo(
            f"dataset {dataset}: {steps:,} frames, {rows:,} rows in {elapsed:.1f} s "
            f"({rows / elapsed:,.0f} rows/s, {db.engine.dialect.name})"
        )

    @group.command("datasets")
    def list_datasets() -> None:
        """List the stored datasets and their ranges."""
        for d in market_history.datasets(db.session):
            span = f"{d.start.isoformat()} .. {d.end.isoformat()}" if d.start and d.end else "(empty)"
            click.echo(
                f"{d.name:<20} {d.status:<10} {span}  {d.frames:,} frames, {d.rows:,} rows, {d.tokens} tokens"
            )

    @group.command("run")
    @click.option("--account", "account_name", default=None, help="Owner (default: the demo account)")
    @click.option("--dataset", required=True)
    @click.option(
        "--plan",
        "plan_kind",
        default="dca",
        show_default=True,
        help="dca, rebalance, mean_reversion, limit_ladder",
    )
    @click.option(
        "--params",
        default='{"tokenIn":"USDC","tokenOut":"SOL","amountIn":"100","everyS":3600}',
        show_default=True,
        help="JSON, as the API's params",
    )
    @click.option("--initial", default='{"USDC":"100000"}', show_default=True, help="JSON: token -> amount")
    @click.option(
        "--strategy",
        "strategies",
        multiple=True,
        default=("OPTIMAL_SPLIT",),
        show_default=True,
        help="Repeat to compare",
    )
    def run(
        account_name: str | None,
        dataset: str,
        plan_kind: str,
        params: str,
        initial: str,
        strategies: tuple[str, ...],
    ) -> None:
        """Run a backtest per strategy here (not queued) and print their metrics side by side."""
        name = account_name or app.config["DEMO_ACCOUNT"]
        account = db.session.execute(sa.select(Account).where(Account.name == name)).scalar_one_or_none()
        if account is None:
            raise click.ClickException(f"no account {name!r}")
        ids = []
        try:
            for strategy in strategies:
                request = backtest_runs.BacktestRequest(
                    name=f"cli {plan_kind} {strategy}", dataset=dataset, start=None, end=None,
                    plan_kind=plan_kind, params=json.loads(params), initial=json.loads(initial),
                    strategy=backtest_runs.strategy_name(strategy), slippage_bps=100,
                )  # fmt: skip
                backtest = backtest_runs.create(db.session, account.id, request)
                db.session.commit()
                ids.append(backtest.id)
        except (SolrouteError, ValueError) as exc:
            db.session.rollback()
            raise click.ClickException(getattr(exc, "message", str(exc))) from exc
        for backtest_id in ids:
            click.echo(f"running {backtest_id} ...", err=True)
            jobs.run_backtest(backtest_id)
        rows = [db.session.get(Backtest, i, populate_existing=True) for i in ids]
        keys = ("total_return", "sharpe_ratio", "max_drawdown", "total_cost_bps", "trade_count")
        click.echo(f"{'backtest':<26}{'strategy':<22}{'status':<11}" + "".join(f"{k:>16}" for k in keys))
        for b in rows:
            assert b is not None
            metrics = b.metrics or {}
            cells = "".join(f"{'-' if metrics.get(k) is None else f'{metrics[k]:.6g}':>16}" for k in keys)
            click.echo(f"{b.id:<26}{b.strategy:<22}{b.status:<11}{cells}")

    return group
