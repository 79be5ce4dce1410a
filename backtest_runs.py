"""Backtest runs: the stored side of ``backtesting``. A request becomes a ``Plan`` (validated, units
converted), a row in ``backtests``; a run streams the dataset's frames into the pure engine and
stores what it returns (metrics, series, trades in batches). Reads are paged and owner-scoped.

The engine (``backtesting.engine.run``) never sees the database: this module hands it an iterator
of frames (``market_history.stream_frames``) and two callbacks, ``progress`` and ``should_stop``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from amm import DEFAULT_POOL_SPECS
from backtesting.model import BacktestResult, Plan, PlanKind
from errors import SolrouteError, ValidationError
from market_history import INSERT_BATCH, check_dataset_name, dataset_range
from models import (
    BACKTEST_FINAL,
    Backtest,
    BacktestStatus,
    BacktestTrade,
    DbSession,
    MarketDataset,
    PoolSnapshot,
    utcnow,
)
from otc_engine import DEFAULT_DESK_SPECS
from routing_engine import parse_strategy
from tokens import get_token, to_base_units

__all__ = [
    "METRIC_COLUMNS",
    "BacktestRequest",
    "cancel",
    "clean_float",
    "create",
    "delete",
    "expected_steps",
    "fail",
    "finish",
    "iter_trades",
    "list_page",
    "owned",
    "plan_of",
    "request_of_config",
    "resolve_range",
    "strategy_name",
    "trades_page",
    "venue_names",
]

METRIC_COLUMNS = (
    "total_return",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "total_cost_bps",
)
MAX_AMOUNT = 2**63 - 1


def clean_float(value: object) -> float | None:
    """A float that fits a double column and JSON: None for None, NaN and ±inf."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def venue_names() -> list[str]:
    """The venues a single-venue strategy (``VENUE:<venue>``) may name: pools' and desks'."""
    return sorted({s.venue for s in DEFAULT_POOL_SPECS} | {s.name for s in DEFAULT_DESK_SPECS})


def strategy_name(value: str, field: str = "strategy") -> str:
    """A router strategy (``OPTIMAL_SPLIT``, ...) or ``VENUE:<venue>``, canonical spelling."""
    if isinstance(value, str) and value.upper().startswith("VENUE:"):
        wanted = value.split(":", 1)[1].strip()
        for name in venue_names():
            if name.lower() == wanted.lower():
                return f"VENUE:{name}"
        raise ValidationError(
            f"unknown venue {wanted!r} in {field}; expected one of {', '.join(venue_names())}", field=field
        )
    return parse_strategy(value, field=field).value


# --- requests into plans -------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestRequest:
    """What ``POST /api/backtest/run`` asks for, as JSON-ready values (stored as the run's config)."""

    name: str
    dataset: str
    start: datetime | None
    end: datetime | None
    plan_kind: str
    params: Mapping[str, Any]
    initial: Mapping[str, Any]
    strategy: str
    slippage_bps: int

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "from": None if self.start is None else self.start.isoformat(),
            "to": None if self.end is None else self.end.isoformat(),
            "planKind": self.plan_kind,
            "params": _jsonable(self.params),
            "initial": _jsonable(self.initial),
            "strategy": self.strategy,
            "slippageBps": self.slippage_bps,
        }


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()}


def _units(symbol: str, value: object, field: str) -> int:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise ValidationError(f"{field} must be a number or a decimal string", field=field)
    units = to_base_units(get_token(symbol), value, field=field)
    if units <= 0 or units > MAX_AMOUNT:
        raise ValidationError(f"{field} must be positive and below 2^63 base units, got {value}", field=field)
    return units


def _token(params: Mapping[str, Any], key: str) -> str:
    field = f"params.{key}"
    value = params.get(key)
    if not isinstance(value, str):
        raise ValidationError(f"{field} is required (a token symbol)", field=field)
    try:
        return get_token(value).symbol
    except SolrouteError as exc:
        raise type(exc)(exc.message, field=field) from exc


def _decimal(params: Mapping[str, Any], key: str, low: Decimal, high: Decimal) -> Decimal:
    field = f"params.{key}"
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValidationError(f"{field} is required (a decimal from {low} to {high})", field=field)
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValidationError(f"{field} is not a decimal: {value!r}", field=field) from exc
    if not d.is_finite() or not low <= d <= high:
        raise ValidationError(f"{field} must be from {low} to {high}, got {value}", field=field)
    return d


def _seconds(params: Mapping[str, Any], key: str) -> int:
    field = f"params.{key}"
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 366 * 86_400:
        raise ValidationError(
            f"{field} must be a whole number of seconds from 1 to a year, got {value!r}", field=field
        )
    return value


def _pair(a: str, b: str, field: str) -> None:
    if a == b:
        raise ValidationError(f"{field} is the same token as the other side ({a})", field=field)


def plan_of(request: BacktestRequest, start: datetime, end: datetime) -> Plan:
    """The engine's ``Plan`` of a request: tokens checked, amounts in base units, fields named
    ``params.<key>`` / ``initial.<token>`` in errors."""
    p = request.params
    kind = PlanKind(request.plan_kind)
    params: dict[str, Any]
    if kind == PlanKind.DCA:
        token_in, token_out = _token(p, "tokenIn"), _token(p, "tokenOut")
        _pair(token_in, token_out, "params.tokenOut")
        params = {
            "token_in": token_in,
            "token_out": token_out,
            "amount_in": _units(token_in, p.get("amountIn"), "params.amountIn"),
            "every_s": _seconds(p, "everyS"),
        }
    elif kind == PlanKind.REBALANCE:
        token_a, token_b = _token(p, "tokenA"), _token(p, "tokenB")
        _pair(token_a, token_b, "params.tokenB")
        params = {
            "token_a": token_a,
            "token_b": token_b,
            "target_weight": _decimal(p, "targetWeight", Decimal(0), Decimal(1)),
            "band": _decimal(p, "band", Decimal(0), Decimal(1)),
            "check_every_s": _seconds(p, "checkEveryS"),
        }
    elif kind == PlanKind.MEAN_REVERSION:
        token, quote = _token(p, "token"), _token(p, "quoteToken")
        _pair(token, quote, "params.quoteToken")
        params = {
            "token": token,
            "quote_token": quote,
            "window_s": _seconds(p, "windowS"),
            "threshold": _decimal(p, "threshold", Decimal(0), Decimal(1)),
            "amount_in": _units(quote, p.get("amountIn"), "params.amountIn"),
        }
    else:
        token, quote = _token(p, "token"), _token(p, "quoteToken")
        _pair(token, quote, "params.quoteToken")
        rungs = p.get("rungs")
        if isinstance(rungs, bool) or not isinstance(rungs, int) or not 1 <= rungs <= 50:
            raise ValidationError(
                f"params.rungs must be a whole number from 1 to 50, got {rungs!r}", field="params.rungs"
            )
        params = {
            "token": token,
            "quote_token": quote,
            "rungs": rungs,
            "step": _decimal(p, "step", Decimal("0.0001"), Decimal("0.5")),
            "amount_in": _units(quote, p.get("amountIn"), "params.amountIn"),
        }
    unknown = sorted(set(p) - _PARAM_KEYS[kind])
    if unknown:
        raise ValidationError(
            f"params.{unknown[0]} is not a parameter of {kind.value}", field=f"params.{unknown[0]}"
        )
    initial: dict[str, int] = {}
    for raw, amount in request.initial.items():
        field = f"initial.{raw}"
        try:
            symbol = get_token(raw).symbol
        except SolrouteError as exc:
            raise type(exc)(exc.message, field=field) from exc
        initial[symbol] = _units(symbol, amount, field)
    if not initial:
        raise ValidationError("initial must hold at least one token balance", field="initial")
    return Plan(
        kind=kind,
        params=params,
        initial=initial,
        start=start.timestamp(),
        end=end.timestamp(),
        strategy=request.strategy,
        slippage_bps=request.slippage_bps,
    )


_PARAM_KEYS = {
    PlanKind.DCA: {"tokenIn", "tokenOut", "amountIn", "everyS"},
    PlanKind.REBALANCE: {"tokenA", "tokenB", "targetWeight", "band", "checkEveryS"},
    PlanKind.MEAN_REVERSION: {"token", "quoteToken", "windowS", "threshold", "amountIn"},
    PlanKind.LIMIT_LADDER: {"token", "quoteToken", "rungs", "step", "amountIn"},
}


def request_of_config(config: Mapping[str, Any]) -> BacktestRequest:
    """The request a stored config came from (the job rebuilds the plan from it)."""
    return BacktestRequest(
        name=config["name"],
        dataset=config["dataset"],
        start=None if config["from"] is None else datetime.fromisoformat(config["from"]),
        end=None if config["to"] is None else datetime.fromisoformat(config["to"]),
        plan_kind=config["planKind"],
        params=config["params"],
        initial=config["initial"],
        strategy=config["strategy"],
        slippage_bps=config["slippageBps"],
    )


def resolve_range(session: DbSession, request: BacktestRequest) -> tuple[datetime, datetime]:
    """The run's [start, end]: the request's, within the dataset's range (its whole range by default)."""
    check_dataset_name(request.dataset)
    entry = session.get(MarketDataset, request.dataset)
    if entry is not None and entry.status != "ready":
        raise ValidationError(
            f"dataset {request.dataset!r} is {entry.status}: run it once it is ready", field="dataset"
        )
    found = dataset_range(session, request.dataset)
    if found is None:
        raise ValidationError(f"dataset {request.dataset!r} has no data: generate it first", field="dataset")
    start = max(found[0], request.start) if request.start else found[0]
    end = min(found[1], request.end) if request.end else found[1]
    if end <= start:
        field = "to" if request.end is not None else "from"
        raise ValidationError(
            f"the range {start.isoformat()} to {end.isoformat()} holds no data of {request.dataset!r} "
            f"(it covers {found[0].isoformat()} to {found[1].isoformat()})",
            field=field,
        )
    return start, end


def create(session: DbSession, account_id: int, request: BacktestRequest) -> Backtest:
    """Validate ``request`` (dataset, range, plan) and store a pending run; the caller commits."""
    start, end = resolve_range(session, request)
    plan_of(request, start, end)  # refuses a bad plan now, with its field, not in the job
    backtest = Backtest(
        id=secrets.token_hex(12),
        account_id=account_id,
        name=request.name,
        plan_kind=request.plan_kind,
        strategy=request.strategy,
        config=request.config(),
        dataset=request.dataset,
        start_at=start,
        end_at=end,
        status=BacktestStatus.PENDING,
        progress=0.0,
        cancel_requested=False,
        trade_count=0,
        steps=0,
        created_at=utcnow(),
    )
    session.add(backtest)
    session.flush()
    return backtest


def expected_steps(session: DbSession, backtest: Backtest) -> int:
    """The frames the run will replay (distinct instants in its range; for progress only)."""
    return int(
        session.execute(
            sa.select(sa.func.count(sa.distinct(PoolSnapshot.t))).where(
                PoolSnapshot.dataset == backtest.dataset,
                PoolSnapshot.t >= backtest.start_at,
                PoolSnapshot.t <= backtest.end_at,
            )
        ).scalar_one()
    )


def _series(points: Sequence[tuple[float, float]]) -> list[list[float]]:
    return [
        [t, v]
        for t, v in ((clean_float(t), clean_float(v)) for t, v in points)
        if t is not None and v is not None
    ]


def finish(session: DbSession, backtest: Backtest, result: BacktestResult) -> None:
    """Store a finished run: metrics (columns and JSON), series, and its trades in batches."""
    metrics = {
        k: (v if isinstance(v, int) and not isinstance(v, bool) else clean_float(v))
        for k, v in result.metrics.items()
    }
    for name in METRIC_COLUMNS:
        setattr(backtest, name, clean_float(metrics.get(name)))
    backtest.metrics = metrics
    backtest.equity = _series(result.equity)
    backtest.drawdown = _series(result.drawdown)
    backtest.trade_count = len(result.trades)
    backtest.steps = result.steps
    backtest.status = BacktestStatus.CANCELLED if result.cancelled else BacktestStatus.COMPLETED
    backtest.progress = backtest.progress if result.cancelled else 1.0
    backtest.finished_at = utcnow()
    table = BacktestTrade.__table__
    rows: list[dict[str, Any]] = []
    for trade in result.trades:
        rows.append(
            {
                "backtest_id": backtest.id,
                "seq": trade.seq,
                "t": datetime.fromtimestamp(trade.t, UTC),
                "token_in": trade.token_in,
                "token_out": trade.token_out,
                "amount_in": trade.amount_in,
                "amount_out": trade.amount_out,
                "execution_price": trade.execution_price,
                "reference_price": trade.reference_price,
                "cost_bps": trade.cost_bps,
                "legs": [_jsonable(dict(leg)) for leg in trade.legs],
                "balances": {k: str(v) for k, v in trade.balances.items()},
                "value_usd": clean_float(trade.value_usd) or 0.0,
            }
        )
        if len(rows) >= INSERT_BATCH:
            session.execute(table.insert(), rows)
            rows = []
    if rows:
        session.execute(table.insert(), rows)


def fail(backtest: Backtest, message: str) -> None:
    backtest.status = BacktestStatus.FAILED
    backtest.error_message = message[:2000]
    backtest.finished_at = utcnow()


# --- reads and owner actions ---------------------------------------------------------------------


def owned(session: DbSession, account_id: int, backtest_id: str) -> Backtest | None:
    """The run if it is this account's (someone else's reads as missing)."""
    backtest = session.get(Backtest, backtest_id)
    return backtest if backtest is not None and backtest.account_id == account_id else None


def list_page(
    session: DbSession,
    account_id: int,
    *,
    strategy: str | None,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    before: tuple[datetime, str] | None,
) -> list[Backtest]:
    """The account's runs newest first, ``limit`` of them after the cursor ``before`` (created_at, id)."""
    where: list[Any] = [Backtest.account_id == account_id]
    if strategy is not None:
        where.append(Backtest.strategy == strategy)
    if status is not None:
        where.append(Backtest.status == status)
    if start is not None:
        where.append(Backtest.created_at >= start)
    if end is not None:
        where.append(Backtest.created_at < end)
    if before is not None:
        at, ident = before
        where.append(
            sa.or_(Backtest.created_at < at, sa.and_(Backtest.created_at == at, Backtest.id < ident))
        )
    query = (
        sa.select(Backtest)
        .where(*where)
        .order_by(Backtest.created_at.desc(), Backtest.id.desc())
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def trades_page(session: DbSession, backtest_id: str, limit: int, offset: int) -> list[BacktestTrade]:
    """A page of a run's trades in order (the (backtest_id, seq) unique index serves it)."""
    query = (
        sa.select(BacktestTrade)
        .where(BacktestTrade.backtest_id == backtest_id)
        .order_by(BacktestTrade.seq)
        .limit(limit)
        .offset(offset)
    )
    return list(session.execute(query).scalars())


def iter_trades(session: DbSession, backtest_id: str, *, yield_per: int = 1_000) -> Any:
    """Every trade of a run in order, streamed (for the CSV export)."""
    return session.execute(
        sa.select(BacktestTrade)
        .where(BacktestTrade.backtest_id == backtest_id)
        .order_by(BacktestTrade.seq)
        .execution_options(yield_per=yield_per)
    ).scalars()


def cancel(session: DbSession, backtest: Backtest) -> bool:
    """Ask a run to stop: a pending one is cancelled at once, a running one when its job next
    polls. False if it had already finished."""
    if backtest.status in BACKTEST_FINAL:
        return False
    backtest.cancel_requested = True
    if backtest.status == BacktestStatus.PENDING:
        backtest.status = BacktestStatus.CANCELLED
        backtest.finished_at = utcnow()
    return True


def delete(session: DbSession, backtest: Backtest) -> None:
    """Delete a run and its trades (explicitly: SQLite enforces no foreign keys' cascade by default)."""
    session.execute(sa.delete(BacktestTrade).where(BacktestTrade.backtest_id == backtest.id))
    session.delete(backtest)
