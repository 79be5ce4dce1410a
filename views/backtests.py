"""Backtests and market history on the JSON API (``/api``): thin views over ``backtest_runs``,
``market_history`` and two jobs (``jobs.run_backtest``, ``jobs.generate_dataset``).

The routes are declared on the ``api`` blueprint's operations (views/api.py), so they are in the
one OpenAPI document; views/api.py imports this module last, so importing it gives the whole API.
Runs are owner-scoped like orders: someone else's run answers 404.
"""

from __future__ import annotations

import base64
import math
import secrets
from datetime import UTC, datetime, timedelta

import backtest_runs
import market_history
from backtest_runs import BacktestRequest
from errors import SolrouteError, ValidationError
from models import Backtest, db, utcnow
from payloads import (
    BacktestAccepted,
    BacktestDetail,
    BacktestsPage,
    BacktestSummary,
    BacktestTradeOut,
    BacktestTradesPage,
    CandlesResponse,
    CompareResponse,
    DatasetsResponse,
    DeletedResponse,
    GenerateAccepted,
)
from services import get_services
from tokens import get_token
from views.api import _account_id, operations
from views.errors import ApiError
from views.schemas import (
    BacktestsQuery,
    BacktestTradesQuery,
    CompareBacktestsRequest,
    GenerateDataRequest,
    NoQuery,
    PriceHistoryCandlesQuery,
    RunBacktestRequest,
)

__all__ = ["INTERVALS"]

INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3_600, "4h": 14_400, "1d": 86_400}
LONG_JOB_TIMEOUT_S = 6 * 3600  # a backtest or a generation may run long: RQ's default stops jobs at 180 s
MAX_GENERATED_FRAMES = 2_000_000  # one request's generation: ~50 M rows; the CLI has no such cap
BACKTEST_ID_PARAM = {
    "name": "backtestId",
    "in": "path",
    "required": True,
    "description": "The backtestId returned by POST /api/backtest/run",
    "schema": {"type": "string", "maxLength": 64},
}


def _symbol(value: str, field: str) -> str:
    try:
        return get_token(value).symbol
    except SolrouteError as exc:
        raise type(exc)(exc.message, field=field) from exc


def _owned(account_id: int, backtest_id: str) -> Backtest:
    backtest = backtest_runs.owned(db.session, account_id, backtest_id[:64])
    if backtest is None:
        raise ApiError(404, "not_found", f"no backtest {backtest_id[:64]!r} for this account", "backtestId")
    return backtest


# --- market history --------------------------------------------------------------------------------


@operations.get(
    "/prices/history",
    operation_id="priceHistoryCandles",
    summary="OHLC candles of a token's stored USD price (recorded live, or a generated dataset)",
    tag="market",
    query=PriceHistoryCandlesQuery,
    response=CandlesResponse,
    errors=(400, 422),
)
def price_candles(q: PriceHistoryCandlesQuery) -> CandlesResponse:
    """Candles aggregated in SQL; more than market_history.MAX_CANDLES in the range is a 422."""
    token = _symbol(q.token, "token")
    interval_s = INTERVALS[q.interval]
    end = q.to or utcnow()
    try:
        start = q.from_ or end - timedelta(days=1)
    except OverflowError as exc:
        raise ValidationError("to is too early for a day of history before it", field="to") from exc
    if end <= start:
        raise ValidationError(f"to ({end.isoformat()}) is not after from ({start.isoformat()})", field="to")
    try:
        found = market_history.candles(db.session, q.dataset, token, start, end, interval_s)
    except market_history.TooManyBucketsError as exc:
        raise ApiError(422, exc.code, exc.message, "interval") from exc
    return CandlesResponse.of(token, q.dataset, q.interval, interval_s, start, end, found)


@operations.get(
    "/backtest/datasets",
    operation_id="listDatasets",
    summary="Stored market datasets (live and generated) with their time ranges",
    tag="backtests",
    auth=_account_id,
    query=NoQuery,
    response=DatasetsResponse,
    errors=(400, 401),
)
def list_datasets(account_id: int) -> DatasetsResponse:
    return DatasetsResponse.of(market_history.datasets(db.session))


@operations.post(
    "/backtest/generate-data",
    operation_id="generateBacktestData",
    summary="Generate a synthetic dataset in the background (dataset_progress events)",
    tag="backtests",
    auth=_account_id,
    body=GenerateDataRequest,
    response=GenerateAccepted,
    status=202,
    errors=(400, 401, 415),
)
def generate_data(account_id: int, body: GenerateDataRequest) -> tuple[GenerateAccepted, int]:
    """Queue ``jobs.generate_dataset``; the dataset's old rows are replaced."""
    market_history.check_dataset_name(body.dataset, allow_live=False)
    frames = max(1, math.floor(body.days * 86_400 / body.stepS))
    if frames > MAX_GENERATED_FRAMES:
        raise ValidationError(
            f"{frames} frames is more than {MAX_GENERATED_FRAMES} per request: use a larger stepS, fewer "
            "days, or the CLI (flask backtest generate)",
            field="days",
        )
    start = body.start or (utcnow() - timedelta(seconds=frames * body.stepS)).replace(microsecond=0)
    options: dict[str, object] = {
        "start": start.timestamp(),
        "steps": frames,
        "stepS": body.stepS,
        "seed": body.seed,
    }
    if body.volatility is not None:
        options["volatility"] = {t: body.volatility for t in ("SOL", "JUP", "RAY", "BONK")}
    if body.drift is not None:
        options["drift"] = {t: body.drift for t in ("SOL", "JUP", "RAY", "BONK")}
    job_id = secrets.token_hex(8)
    get_services().executor.enqueue(
        "jobs.generate_dataset", job_id, account_id, body.dataset, options, timeout_s=LONG_JOB_TIMEOUT_S
    )
    accepted = GenerateAccepted.make(
        jobId=job_id,
        dataset=body.dataset,
        frames=frames,
        start=start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        stepS=body.stepS,
    )
    return accepted, 202


# --- runs ----------------------------------------------------------------------------------------------


@operations.post(
    "/backtest/run",
    operation_id="runBacktest",
    summary="Start a backtest of a plan over a dataset through one routing strategy (progress events)",
    tag="backtests",
    auth=_account_id,
    body=RunBacktestRequest,
    response=BacktestAccepted,
    status=202,
    errors=(400, 401, 415),
)
def run_backtest(account_id: int, body: RunBacktestRequest) -> tuple[BacktestAccepted, int]:
    """Validate the plan against the dataset, store the run and queue ``jobs.run_backtest``."""
    strategy = backtest_runs.strategy_name(body.strategy)
    if body.from_ is not None and body.to is not None and body.to <= body.from_:
        raise ValidationError("to is not after from", field="to")
    request = BacktestRequest(
        name=body.name or f"{body.planKind} {strategy}",
        dataset=body.dataset,
        start=body.from_,
        end=body.to,
        plan_kind=body.planKind,
        params=body.params,
        initial=body.initial,
        strategy=strategy,
        slippage_bps=body.slippageBps,
    )
    backtest = backtest_runs.create(db.session, account_id, request)
    db.session.commit()
    get_services().executor.enqueue("jobs.run_backtest", backtest.id, timeout_s=LONG_JOB_TIMEOUT_S)
    return BacktestAccepted.of(backtest), 202


def _cursor(backtest: Backtest) -> str:
    raw = f"{backtest.created_at.isoformat()}|{backtest.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, ident = raw.split("|", 1)
        return datetime.fromisoformat(at).astimezone(UTC), ident
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("cursor is not a nextCursor of this list", field="cursor") from exc


@operations.get(
    "/backtest",
    operation_id="listBacktests",
    summary="The account's backtests, newest first (cursor pagination)",
    tag="backtests",
    auth=_account_id,
    query=BacktestsQuery,
    response=BacktestsPage,
    errors=(400, 401),
)
def list_backtests(account_id: int, q: BacktestsQuery) -> BacktestsPage:
    if q.from_ is not None and q.to is not None and q.to < q.from_:
        raise ValidationError("to is before from", field="to")
    strategy = None if q.strategy is None else backtest_runs.strategy_name(q.strategy)
    rows = backtest_runs.list_page(
        db.session,
        account_id,
        strategy=strategy,
        status=q.status,
        start=q.from_,
        end=q.to,
        limit=q.limit + 1,
        before=None if q.cursor is None else _parse_cursor(q.cursor),
    )
    page, more = rows[: q.limit], len(rows) > q.limit
    return BacktestsPage.of(page, _cursor(page[-1]) if more else None)


@operations.get(
    "/backtest/<backtest_id>",
    operation_id="getBacktest",
    summary="A backtest: config, status, metrics, equity and drawdown series",
    tag="backtests",
    auth=_account_id,
    query=NoQuery,
    response=BacktestDetail,
    errors=(400, 401, 404),
    path_params=(BACKTEST_ID_PARAM,),
)
def get_backtest(account_id: int, backtest_id: str) -> BacktestDetail:
    return BacktestDetail.of(_owned(account_id, backtest_id))


@operations.get(
    "/backtest/<backtest_id>/trades",
    operation_id="listBacktestTrades",
    summary="A backtest's simulated trades in order (limit/offset)",
    tag="backtests",
    auth=_account_id,
    query=BacktestTradesQuery,
    response=BacktestTradesPage,
    errors=(400, 401, 404),
    path_params=(BACKTEST_ID_PARAM,),
)
def backtest_trades(account_id: int, q: BacktestTradesQuery, backtest_id: str) -> BacktestTradesPage:
    backtest = _owned(account_id, backtest_id)
    trades = backtest_runs.trades_page(db.session, backtest.id, q.limit, q.offset)
    return BacktestTradesPage.make(
        backtestId=backtest.id,
        trades=[BacktestTradeOut.of(t) for t in trades],
        total=backtest.trade_count,
        limit=q.limit,
        offset=q.offset,
    )


@operations.post(
    "/backtest/compare",
    operation_id="compareBacktests",
    summary="Backtests' metrics and equity side by side",
    tag="backtests",
    auth=_account_id,
    body=CompareBacktestsRequest,
    response=CompareResponse,
    errors=(400, 401, 404, 415),
)
def compare_backtests(account_id: int, body: CompareBacktestsRequest) -> CompareResponse:
    ids = list(dict.fromkeys(body.ids))
    found = []
    for index, backtest_id in enumerate(ids):
        backtest = backtest_runs.owned(db.session, account_id, backtest_id)
        if backtest is None:
            raise ApiError(404, "not_found", f"no backtest {backtest_id!r} for this account", f"ids.{index}")
        found.append(backtest)
    return CompareResponse.of(found)


@operations.post(
    "/backtest/<backtest_id>/cancel",
    operation_id="cancelBacktest",
    summary="Stop a pending or running backtest (it keeps what it replayed so far)",
    tag="backtests",
    auth=_account_id,
    query=NoQuery,
    response=BacktestSummary,
    errors=(400, 401, 404, 409),
    path_params=(BACKTEST_ID_PARAM,),
)
def cancel_backtest(account_id: int, backtest_id: str) -> BacktestSummary:
    backtest = _owned(account_id, backtest_id)
    if not backtest_runs.cancel(db.session, backtest):
        raise ApiError(
            409,
            "backtest_final",
            f"backtest {backtest.id} has already ended ({backtest.status})",
            "backtestId",
        )
    db.session.commit()
    return BacktestSummary.of(backtest)


@operations.delete(
    "/backtest/<backtest_id>",
    operation_id="deleteBacktest",
    summary="Delete a backtest and its trades (a running one is stopped)",
    tag="backtests",
    auth=_account_id,
    query=NoQuery,
    response=DeletedResponse,
    errors=(400, 401, 404),
    path_params=(BACKTEST_ID_PARAM,),
)
def delete_backtest(account_id: int, backtest_id: str) -> DeletedResponse:
    backtest = _owned(account_id, backtest_id)
    backtest_runs.delete(db.session, backtest)
    db.session.commit()
    return DeletedResponse.make(backtestId=backtest_id, deleted=True)
