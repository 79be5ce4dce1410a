"""Backtests and market history as JSON: runs, their trades and comparisons, datasets, candles,
and the ``backtest_progress`` and ``dataset_progress`` Socket.IO events.

Metrics are floats (statistics, by the product's rule), null where undefined, never NaN."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field

from payloads.common import Amount, DecimalText, Timestamp, _Out, amount_str, decimal_str, epoch_iso, iso

if TYPE_CHECKING:
    from market_history import Candle, DatasetInfo
    from models import Backtest, BacktestTrade

BacktestStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
PlanKindName = Literal["dca", "rebalance", "mean_reversion", "limit_ladder"]


class BacktestAccepted(_Out):
    """``POST /api/backtest/run``: the run is stored and queued."""

    backtestId: str
    status: BacktestStatusName
    dataset: str
    start: Timestamp
    end: Timestamp

    @classmethod
    def of(cls, backtest: Backtest) -> Self:
        return cls.make(
            backtestId=backtest.id,
            status=backtest.status,
            dataset=backtest.dataset,
            start=iso(backtest.start_at),
            end=iso(backtest.end_at),
        )


class BacktestMetrics(_Out):
    totalReturn: float | None = Field(description="Final equity over initial, minus 1")
    sharpeRatio: float | None
    sortinoRatio: float | None
    maxDrawdown: float | None = Field(description="Deepest fall below the running peak, ≤ 0")
    winRate: float | None
    profitFactor: float | None
    totalCostBps: float | None


def _metrics(b: Backtest) -> BacktestMetrics:
    return BacktestMetrics.make(
        totalReturn=b.total_return,
        sharpeRatio=b.sharpe_ratio,
        sortinoRatio=b.sortino_ratio,
        maxDrawdown=b.max_drawdown,
        winRate=b.win_rate,
        profitFactor=b.profit_factor,
        totalCostBps=b.total_cost_bps,
    )


def _summary_fields(b: Backtest) -> dict[str, Any]:
    return {
        "backtestId": b.id,
        "name": b.name,
        "status": b.status,
        "progress": b.progress,
        "planKind": b.plan_kind,
        "strategy": b.strategy,
        "dataset": b.dataset,
        "start": iso(b.start_at),
        "end": iso(b.end_at),
        "tradeCount": b.trade_count,
        "metrics": _metrics(b),
        "createdAt": iso(b.created_at),
        "finishedAt": iso(b.finished_at),
    }


class BacktestSummary(_Out):
    backtestId: str
    name: str
    status: BacktestStatusName
    progress: float = Field(description="Fraction of the range replayed, 0 to 1")
    planKind: PlanKindName
    strategy: str
    dataset: str
    start: Timestamp
    end: Timestamp
    tradeCount: int
    metrics: BacktestMetrics
    createdAt: Timestamp
    finishedAt: Timestamp | None

    @classmethod
    def of(cls, backtest: Backtest) -> Self:
        return cls.make(**_summary_fields(backtest))


class BacktestDetail(BacktestSummary):
    """``GET /api/backtest/<id>``: the run's config, status, every metric and its series."""

    config: dict[str, Any] = Field(description="The request as given (amounts in token units)")
    errorMessage: str | None
    steps: int
    allMetrics: dict[str, float | int | None] = Field(
        description="Every metric the engine reports (see README), null where undefined"
    )
    equity: list[list[float]] = Field(description="[epoch seconds, portfolio value in USD], downsampled")
    drawdown: list[list[float]] = Field(description="[epoch seconds, fraction below the running peak]")
    startedAt: Timestamp | None

    @classmethod
    def of(cls, backtest: Backtest) -> Self:
        return cls.make(
            **_summary_fields(backtest),
            config=backtest.config,
            errorMessage=backtest.error_message,
            steps=backtest.steps,
            allMetrics=backtest.metrics or {},
            equity=backtest.equity or [],
            drawdown=backtest.drawdown or [],
            startedAt=iso(backtest.started_at),
        )


class BacktestsPage(_Out):
    """``GET /api/backtest``: the account's runs, newest first; ``nextCursor`` fetches the next page."""

    backtests: list[BacktestSummary]
    nextCursor: str | None

    @classmethod
    def of(cls, backtests: Sequence[Backtest], next_cursor: str | None) -> Self:
        return cls.make(backtests=[BacktestSummary.of(b) for b in backtests], nextCursor=next_cursor)


class BacktestLegOut(_Out):
    """One leg of a simulated trade: a venue's part, at its hop of the path."""

    venue: str
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    hop: int

    @classmethod
    def of(cls, leg: Mapping[str, Any]) -> Self:
        token_in, token_out = str(leg["tokenIn"]), str(leg["tokenOut"])
        return cls.make(
            venue=str(leg["venue"]),
            tokenIn=token_in,
            tokenOut=token_out,
            amountIn=amount_str(token_in, int(leg["amountIn"])),
            amountOut=amount_str(token_out, int(leg["amountOut"])),
            hop=int(leg.get("hop", 0)),
        )


class BacktestTradeOut(_Out):
    seq: int
    t: Timestamp
    tokenIn: str
    tokenOut: str
    amountIn: Amount
    amountOut: Amount
    executionPrice: DecimalText = Field(description="tokenOut per tokenIn, human units")
    referencePrice: DecimalText = Field(description="The reference mid at the frame, same units")
    costBps: DecimalText = Field(description="(reference − execution) / reference × 10,000")
    legs: list[BacktestLegOut]
    balances: dict[str, Amount] = Field(description="The portfolio after the trade, in token units")
    valueUsd: float

    @classmethod
    def of(cls, trade: BacktestTrade) -> Self:
        return cls.make(
            seq=trade.seq,
            t=iso(trade.t),
            tokenIn=trade.token_in,
            tokenOut=trade.token_out,
            amountIn=amount_str(trade.token_in, trade.amount_in),
            amountOut=amount_str(trade.token_out, trade.amount_out),
            executionPrice=decimal_str(trade.execution_price),
            referencePrice=decimal_str(trade.reference_price),
            costBps=decimal_str(trade.cost_bps, 2),
            legs=[BacktestLegOut.of(leg) for leg in trade.legs],
            balances={token: amount_str(token, int(units)) for token, units in trade.balances.items()},
            valueUsd=trade.value_usd,
        )


class BacktestTradesPage(_Out):
    backtestId: str
    trades: list[BacktestTradeOut]
    total: int
    limit: int
    offset: int


class ComparedRun(_Out):
    backtestId: str
    name: str
    strategy: str
    status: BacktestStatusName
    tradeCount: int
    metrics: dict[str, float | int | None]
    equity: list[list[float]]


class CompareResponse(_Out):
    """``POST /api/backtest/compare``: the runs' metrics side by side, in the order asked."""

    runs: list[ComparedRun]
    metricNames: list[str]

    @classmethod
    def of(cls, backtests: Sequence[Backtest]) -> Self:
        names: list[str] = []
        for b in backtests:
            names += [k for k in (b.metrics or {}) if k not in names]
        return cls.make(
            runs=[
                ComparedRun.make(
                    backtestId=b.id,
                    name=b.name,
                    strategy=b.strategy,
                    status=b.status,
                    tradeCount=b.trade_count,
                    metrics=b.metrics or {},
                    equity=b.equity or [],
                )
                for b in backtests
            ],
            metricNames=names,
        )


class DeletedResponse(_Out):
    backtestId: str
    deleted: bool


class DatasetOut(_Out):
    name: str
    source: Literal["live", "synthetic"]
    status: Literal["generating", "ready", "failed"]
    start: Timestamp | None
    end: Timestamp | None
    frames: int = Field(description="Instants stored (a generating dataset: so far)")
    rows: int
    tokens: int


class DatasetsResponse(_Out):
    datasets: list[DatasetOut]

    @classmethod
    def of(cls, found: Sequence[DatasetInfo]) -> Self:
        return cls.make(
            datasets=[
                DatasetOut.make(
                    name=d.name,
                    source=d.source,
                    status=d.status,
                    start=iso(d.start),
                    end=iso(d.end),
                    frames=d.frames,
                    rows=d.rows,
                    tokens=d.tokens,
                )
                for d in found
            ]
        )


class GenerateAccepted(_Out):
    """``POST /api/backtest/generate-data``: the generation job is queued."""

    jobId: str
    dataset: str
    frames: int
    start: Timestamp
    stepS: int


class CandleOut(_Out):
    t: Timestamp
    open: float
    high: float
    low: float
    close: float
    samples: int


class CandlesResponse(_Out):
    """``GET /api/prices/history``: OHLC of the token's USD price per interval (non-empty buckets)."""

    token: str
    dataset: str
    interval: str
    intervalS: int
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    candles: list[CandleOut]

    @classmethod
    def of(
        cls,
        token: str,
        dataset: str,
        interval: str,
        interval_s: int,
        start: Any,
        end: Any,
        found: Sequence[Candle],
    ) -> Self:
        return cls.make(
            token=token,
            dataset=dataset,
            interval=interval,
            intervalS=interval_s,
            from_=iso(start),
            to=iso(end),
            candles=[
                CandleOut.make(
                    t=iso(c.start), open=c.open, high=c.high, low=c.low, close=c.close, samples=c.samples
                )
                for c in found
            ],
        )


# --- events ----------------------------------------------------------------------------------------


class BacktestProgress(_Out):
    """The ``backtest_progress`` event (room ``account:<id>``): where a run is."""

    backtestId: str
    status: BacktestStatusName
    progress: float
    steps: int
    trades: int
    timestamp: Timestamp


def backtest_progress_json(
    backtest_id: str, status: str, progress: float, steps: int, trades: int, now: float
) -> dict[str, Any]:
    """The ``backtest_progress`` body."""
    return BacktestProgress.make(
        backtestId=backtest_id,
        status=status,
        progress=progress,
        steps=steps,
        trades=trades,
        timestamp=epoch_iso(now),
    ).to_json()


class DatasetProgress(_Out):
    """The ``dataset_progress`` event (room ``account:<id>``): a generation job's frames and rows."""

    jobId: str
    dataset: str
    status: Literal["running", "completed", "failed"]
    frames: int
    total: int
    rows: int
    rowsPerS: float | None
    error: str | None
    timestamp: Timestamp


def dataset_progress_json(fields: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The ``dataset_progress`` body."""
    return DatasetProgress.make(**fields, timestamp=epoch_iso(now)).to_json()
