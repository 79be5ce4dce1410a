"""Market history: recording live prices and venue states, bulk-writing synthetic datasets,
OHLC candles aggregated in SQL, and streaming stored frames back out for a backtest.

Two tables (models.py): ``price_history`` (a token's USD price per source and instant) and
``pool_snapshots`` (each AMM pool's reserves and each desk's mid and inventory). Rows of one
instant share its ``t`` exactly, so a frame is every row of one ``t``. ``dataset`` is ``live`` for
what the recorder saw and a name for generated data; retention deletes only old live rows.

Writes go in batches: PostgreSQL takes generated data through ``COPY`` (psycopg2's
``copy_expert``, inside the session's transaction), SQLite through executemany inserts of at most
``INSERT_BATCH`` rows. Reads never load a table into Python: candles are grouped in SQL, frames are
streamed with server-side cursors (``yield_per``) in time order.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

import otc_engine
from amm import Pool
from analytics import _EpochSeconds
from backtesting.model import DeskState, Frame, PoolState, SyntheticConfig
from backtesting.synthetic import generate
from errors import ValidationError
from models import DbSession, MarketDataset, PoolSnapshot, PriceHistory, Trade, utcnow
from price_feeds import PriceQuote

__all__ = [
    "LIVE",
    "MAX_CANDLES",
    "Candle",
    "DatasetInfo",
    "FrameWriter",
    "TooManyBucketsError",
    "candles",
    "check_dataset_name",
    "dataset_range",
    "datasets",
    "delete_dataset",
    "generate_dataset",
    "is_snapshot_due",
    "mark_failed",
    "prune",
    "record_live",
    "stream_frames",
    "write_frames",
]

LIVE = "live"
INSERT_BATCH = 2_000  # rows per executemany: well inside SQLite's and psycopg2's parameter limits
COPY_BATCH = 50_000  # rows per COPY round trip on PostgreSQL
COMMIT_FRAMES = 5_000  # a generation commits this often
PRUNE_INSTANTS = 500  # live snapshots retention deletes per call at most
DELETE_BATCH = 5_000  # rows per retention DELETE, so no single statement holds locks for long
MAX_CANDLES = 2_000
_DATASET = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def check_dataset_name(name: str, field: str = "dataset", *, allow_live: bool = True) -> str:
    """``name`` if it is a dataset name (lower-case letters, digits, ``_`` and ``-``, ≤ 32)."""
    if not isinstance(name, str) or not _DATASET.match(name):
        raise ValidationError(
            f"{field} must be 1 to 32 lower-case letters, digits, '_' or '-', got {name!r}", field=field
        )
    if not allow_live and name == LIVE:
        raise ValidationError(f"{field} {LIVE!r} is the recorded history: choose another name", field=field)
    return name


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _finite_float(value: Decimal) -> float:
    f = float(value)
    if not math.isfinite(f):  # a Decimal beyond float's range: charts get the largest float
        return math.copysign(1.7976931348623157e308, f)
    return f


# --- rows of a frame -------------------------------------------------------------------------------


def _price_rows(
    dataset: str, t: datetime, prices: Mapping[str, Decimal], source: str
) -> list[dict[str, Any]]:
    return [
        {
            "dataset": dataset,
            "token": token,
            "source": source,
            "t": t,
            "price": price,
            "price_usd": _finite_float(price),
        }
        for token, price in sorted(prices.items())
    ]


def _pool_row(dataset: str, t: datetime, pool: PoolState | Pool) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "t": t,
        "venue_id": pool.pool_id,
        "venue": pool.venue,
        "kind": "amm",
        "token_a": pool.token_a,
        "token_b": pool.token_b,
        "reserve_a": pool.reserve_a,
        "reserve_b": pool.reserve_b,
        "fee_bps": pool.fee_bps,
        "mid": None,
        "inventory_base": None,
        "inventory_quote": None,
    }


def _desk_row(dataset: str, t: datetime, desk: DeskState, venue: str) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "t": t,
        "venue_id": desk.desk_id,
        "venue": venue,
        "kind": "otc",
        "token_a": desk.base,
        "token_b": desk.quote,
        "reserve_a": None,
        "reserve_b": None,
        "fee_bps": None,
        "mid": desk.mid,
        "inventory_base": desk.inventory_base,
        "inventory_quote": desk.inventory_quote,
    }


_PRICE_COLUMNS = ("dataset", "token", "source", "t", "price", "price_usd")
_POOL_COLUMNS = (
    "dataset",
    "t",
    "venue_id",
    "venue",
    "kind",
    "token_a",
    "token_b",
    "reserve_a",
    "reserve_b",
    "fee_bps",
    "mid",
    "inventory_base",
    "inventory_quote",
)


def _desk_names() -> dict[str, str]:
    return {spec.desk_id: spec.name for spec in otc_engine.DEFAULT_DESK_SPECS}


class FrameWriter:
    """Writes frames of one dataset in batches: COPY on PostgreSQL, executemany elsewhere.

    ``add`` buffers a frame's rows and flushes a batch when it is full; ``close`` flushes the rest.
    The caller commits (every flush runs in the session's transaction)."""

    def __init__(self, session: DbSession, dataset: str, *, source: str = "synthetic") -> None:
        self.session = session
        self.dataset = dataset
        self.source = source
        self.is_postgres = session.get_bind().dialect.name == "postgresql"
        self.batch = COPY_BATCH if self.is_postgres else INSERT_BATCH
        self.prices: list[dict[str, Any]] = []
        self.pools: list[dict[str, Any]] = []
        self.rows_written = 0
        self._desk_names = _desk_names()

    def add(self, frame: Frame) -> None:
        """Buffer one frame's rows (and write a batch when one is full)."""
        t = _at(frame.t)
        self.prices += _price_rows(self.dataset, t, frame.prices, self.source)
        self.pools += [_pool_row(self.dataset, t, p) for p in frame.pools]
        self.pools += [
            _desk_row(self.dataset, t, d, self._desk_names.get(d.desk_id, d.desk_id)) for d in frame.desks
        ]
        if len(self.prices) + len(self.pools) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered."""
        for table, columns, rows in (
            (PriceHistory.__table__, _PRICE_COLUMNS, self.prices),
            (PoolSnapshot.__table__, _POOL_COLUMNS, self.pools),
        ):
            if not rows:
                continue
            if self.is_postgres:
                self._copy(table.name, columns, rows)
            else:
                for i in range(0, len(rows), INSERT_BATCH):
                    self.session.execute(table.insert(), rows[i : i + INSERT_BATCH])
            self.rows_written += len(rows)
        self.prices, self.pools = [], []

    def _copy(self, table: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        for row in rows:
            out.writerow(["" if row[c] is None else _csv_value(row[c]) for c in columns])
        buffer.seek(0)
        raw = self.session.connection().connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            # Unquoted empty fields are NULL in CSV mode; no text column of ours is ever empty.
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
        finally:
            cursor.close()

    def close(self) -> int:
        """Flush the rest; the number of rows written."""
        self.flush()
        return self.rows_written


def _csv_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def delete_dataset(session: DbSession, dataset: str) -> int:
    """Delete every row of ``dataset`` (in batches) and its catalogue entry; the rows deleted."""
    deleted = _delete_batched(session, PriceHistory, [PriceHistory.dataset == dataset]) + _delete_batched(
        session, PoolSnapshot, [PoolSnapshot.dataset == dataset]
    )
    session.execute(sa.delete(MarketDataset).where(MarketDataset.name == dataset))
    return deleted


def _entry(session: DbSession, name: str, source: str) -> MarketDataset:
    """The catalogue entry of ``name`` (created empty if missing), locked for this transaction."""
    entry = session.execute(
        sa.select(MarketDataset).where(MarketDataset.name == name).with_for_update()
    ).scalar_one_or_none()
    if entry is None:
        entry = MarketDataset(
            name=name, source=source, status="ready", frames=0, rows=0, tokens=0, updated_at=utcnow()
        )
        session.add(entry)
    return entry


def _delete_batched(session: DbSession, model: Any, where: list[Any]) -> int:
    deleted = 0
    while True:
        ids = sa.select(model.id).where(*where).limit(DELETE_BATCH).scalar_subquery()
        result: Any = session.execute(sa.delete(model).where(model.id.in_(ids)))
        count = result.rowcount
        deleted += count or 0
        if not count or count < DELETE_BATCH:
            return deleted


# --- live recording --------------------------------------------------------------------------------


def record_live(
    session: DbSession,
    now: datetime,
    prices: Mapping[str, PriceQuote],
    pools: Iterable[Pool],
    desks: Iterable[otc_engine.Desk],
) -> int:
    """Write one live snapshot at ``now``: each token's price (with its source), every pool's
    reserves and every desk's mid (from the USD prices) and inventory. Rows written."""
    price_rows = [
        {
            "dataset": LIVE,
            "token": symbol,
            "source": quote.source[:32],
            "t": now,
            "price": quote.price_usd,
            "price_usd": _finite_float(quote.price_usd),
        }
        for symbol, quote in sorted(prices.items())
    ]
    usd = {s: q.price_usd for s, q in prices.items()}
    pool_rows = [_pool_row(LIVE, now, p) for p in pools]
    for desk in desks:
        base, quote_usd = usd.get(desk.base), usd.get(desk.quote)
        if not base or not quote_usd:
            continue  # no mid without both prices; the desk is recorded again next time
        desk = otc_engine.refilled(desk, now.timestamp())
        state = DeskState(
            desk.desk_id, desk.base, desk.quote, base / quote_usd, desk.inventory_base, desk.inventory_quote
        )
        pool_rows.append(_desk_row(LIVE, now, state, desk.name))
    if price_rows:
        session.execute(PriceHistory.__table__.insert(), price_rows)
    if pool_rows:
        session.execute(PoolSnapshot.__table__.insert(), pool_rows)
    entry = _entry(session, LIVE, LIVE)
    entry.start_at = entry.start_at or now
    entry.end_at = now
    entry.frames += 1
    entry.rows += len(price_rows) + len(pool_rows)
    entry.tokens = max(entry.tokens, len(price_rows))
    entry.updated_at = utcnow()
    return len(price_rows) + len(pool_rows)


def last_live_snapshot(session: DbSession) -> datetime | None:
    """When the last live snapshot was taken (the (dataset, t) index answers it)."""
    return session.execute(
        sa.select(sa.func.max(PoolSnapshot.t)).where(PoolSnapshot.dataset == LIVE)
    ).scalar()


def is_snapshot_due(session: DbSession, now: datetime, *, interval_s: float, min_gap_s: float) -> bool:
    """True when a live snapshot is due: none for ``interval_s``, or a trade since the last one
    and at least ``min_gap_s`` since it (trades coalesce: never one snapshot per trade)."""
    last = last_live_snapshot(session)
    if last is None or now - last >= timedelta(seconds=interval_s):
        return True
    if now - last < timedelta(seconds=min_gap_s):
        return False
    traded = session.execute(
        sa.select(sa.func.max(Trade.executed_at)).where(Trade.executed_at > last)
    ).scalar()
    return traded is not None


def prune(session: DbSession, before: datetime, *, instants: int = PRUNE_INSTANTS) -> int:
    """Delete live history older than ``before``: at most ``instants`` whole snapshots per call
    (the oldest; retention catches up over calls), in batches. Rows deleted; generated datasets stay."""
    old = list(
        session.execute(
            sa.select(PoolSnapshot.t)
            .where(PoolSnapshot.dataset == LIVE, PoolSnapshot.t < before)
            .group_by(PoolSnapshot.t)
            .order_by(PoolSnapshot.t)
            .limit(instants)
        ).scalars()
    )
    if not old:
        return 0
    last = old[-1]
    deleted = _delete_batched(
        session, PriceHistory, [PriceHistory.dataset == LIVE, PriceHistory.t <= last]
    ) + _delete_batched(session, PoolSnapshot, [PoolSnapshot.dataset == LIVE, PoolSnapshot.t <= last])
    entry = _entry(session, LIVE, LIVE)
    entry.frames = max(0, entry.frames - len(old))
    entry.rows = max(0, entry.rows - deleted)
    entry.start_at = session.execute(
        sa.select(sa.func.min(PoolSnapshot.t)).where(PoolSnapshot.dataset == LIVE)
    ).scalar()
    entry.updated_at = utcnow()
    return deleted


# --- datasets and candles ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str
    status: str
    start: datetime | None
    end: datetime | None
    frames: int
    rows: int
    tokens: int


def datasets(session: DbSession) -> list[DatasetInfo]:
    """Every dataset, from the catalogue (one row each: never a scan of the history)."""
    entries = session.execute(sa.select(MarketDataset).order_by(MarketDataset.name)).scalars()
    return [
        DatasetInfo(e.name, e.source, e.status, e.start_at, e.end_at, e.frames, e.rows, e.tokens)
        for e in entries
    ]


def dataset_range(session: DbSession, dataset: str) -> tuple[datetime, datetime] | None:
    """The first and last instant of ``dataset``; None if it has no rows."""
    lo, hi = session.execute(
        sa.select(sa.func.min(PoolSnapshot.t), sa.func.max(PoolSnapshot.t)).where(
            PoolSnapshot.dataset == dataset
        )
    ).one()
    return None if lo is None else (lo, hi)


class TooManyBucketsError(ValidationError):
    """The range holds more candles than MAX_CANDLES at this interval."""

    code = "too_many_buckets"


@dataclass(frozen=True)
class Candle:
    """OHLC of a token's USD price over [start, start + interval): first, highest, lowest, last."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    samples: int


def candles(
    session: DbSession, dataset: str, token: str, start: datetime, end: datetime, interval_s: int
) -> list[Candle]:
    """OHLC candles of ``token`` in [start, end), one per non-empty bucket, aggregated in SQL.

    Buckets start on multiples of ``interval_s`` since the epoch (integer division of epoch
    seconds, on both databases); open and close are the first and last sample of each bucket by
    time (window functions). More than MAX_CANDLES buckets in the range is TooManyBucketsError."""
    first = int((start - _EPOCH).total_seconds()) // interval_s
    last = (math.ceil((end - _EPOCH).total_seconds()) - 1) // interval_s
    if last - first + 1 > MAX_CANDLES:
        raise TooManyBucketsError(
            f"from {start.isoformat()} to {end.isoformat()} at {interval_s} s holds {last - first + 1} "
            f"candles, more than {MAX_CANDLES}: choose a larger interval or a shorter range",
            field="interval",
        )
    slot = (_EpochSeconds(PriceHistory.t) // interval_s).label("slot")  # floor division on both
    ranked = (
        sa.select(
            slot,
            PriceHistory.price_usd.label("p"),
            sa.func.row_number()
            .over(partition_by=slot, order_by=(PriceHistory.t, PriceHistory.id))
            .label("first"),
            sa.func.row_number()
            .over(partition_by=slot, order_by=(PriceHistory.t.desc(), PriceHistory.id.desc()))
            .label("last"),
        )
        .where(
            PriceHistory.dataset == dataset,
            PriceHistory.token == token,
            PriceHistory.t >= start,
            PriceHistory.t < end,
        )
        .subquery()
    )
    query = (
        sa.select(
            ranked.c.slot,
            sa.func.max(sa.case((ranked.c.first == 1, ranked.c.p))),
            sa.func.max(ranked.c.p),
            sa.func.min(ranked.c.p),
            sa.func.max(sa.case((ranked.c.last == 1, ranked.c.p))),
            sa.func.count(),
        )
        .group_by(ranked.c.slot)
        .order_by(ranked.c.slot)
    )
    return [
        Candle(
            _EPOCH + timedelta(seconds=int(s) * interval_s), float(o), float(h), float(lo), float(c), int(n)
        )
        for s, o, h, lo, c, n in session.execute(query)
    ]


# --- frames back out -----------------------------------------------------------------------------------


def stream_frames(
    session: DbSession, dataset: str, start: datetime, end: datetime, *, chunk_s: float = 6 * 3600
) -> Iterator[Frame]:
    """The frames of ``dataset`` in [start, end], in time order, read ``chunk_s`` of time at a
    time (keyset by ``t``): memory holds one chunk, never the range, and no transaction stays
    open while the frames are consumed (each chunk's read ends before its frames are yielded, so
    a long run blocks no writer, not even on SQLite, where every transaction takes the write lock)."""
    step = timedelta(seconds=max(1.0, chunk_s))
    lower = start
    first = True
    while lower <= end:
        upper = min(end, lower + step)
        above = (PriceHistory.t >= lower) if first else (PriceHistory.t > lower)
        price_rows = session.execute(
            sa.select(PriceHistory.t, PriceHistory.token, PriceHistory.price)
            .where(PriceHistory.dataset == dataset, above, PriceHistory.t <= upper)
            .order_by(PriceHistory.t, PriceHistory.id)
        ).all()
        above = (PoolSnapshot.t >= lower) if first else (PoolSnapshot.t > lower)
        venue_rows = session.execute(
            sa.select(*(getattr(PoolSnapshot, c) for c in _POOL_COLUMNS[1:]))
            .where(PoolSnapshot.dataset == dataset, above, PoolSnapshot.t <= upper)
            .order_by(PoolSnapshot.t, PoolSnapshot.id)
        ).all()
        session.rollback()  # the chunk is read: hold no transaction while it is replayed
        yield from _merge(price_rows, venue_rows)
        first = False
        if upper >= end:
            return
        lower = upper


def _merge(price_rows: Sequence[Any], venue_rows: Sequence[Any]) -> Iterator[Frame]:
    """Frames from rows of prices (t, token, price) and venues (``_POOL_COLUMNS[1:]``), each
    sorted by t: one frame per instant."""
    i = j = 0
    while i < len(price_rows) or j < len(venue_rows):
        t = min(rows[k][0] for rows, k in ((price_rows, i), (venue_rows, j)) if k < len(rows))
        prices: dict[str, Decimal] = {}
        while i < len(price_rows) and price_rows[i][0] == t:
            prices[price_rows[i][1]] = price_rows[i][2]
            i += 1
        pools: list[PoolState] = []
        desks: list[DeskState] = []
        while j < len(venue_rows) and venue_rows[j][0] == t:
            _, venue_id, venue, kind, token_a, token_b, reserve_a, reserve_b, fee_bps, mid, inv_b, inv_q = (
                venue_rows[j]
            )
            j += 1
            if kind == "amm" and reserve_a and reserve_b:
                pools.append(PoolState(venue_id, venue, token_a, token_b, reserve_a, reserve_b, fee_bps or 0))
            elif kind == "otc" and mid is not None:
                desks.append(DeskState(venue_id, token_a, token_b, mid, inv_b or 0, inv_q or 0))
        yield Frame(t=t.timestamp(), prices=prices, pools=tuple(pools), desks=tuple(desks))


def write_frames(
    session: DbSession,
    dataset: str,
    frames: Iterable[Frame],
    *,
    total: int,
    progress: Callable[[int, int, int], None] | None = None,
    progress_every: int = 500,
    commit_every: int | None = None,
) -> int:
    """Write ``frames`` into ``dataset`` (batched; see FrameWriter); rows written.

    ``progress(frames_done, total, rows_written)`` every ``progress_every`` frames and at the end.
    ``commit_every`` frames, the session commits (a long generation holds no transaction open)."""
    writer = FrameWriter(session, dataset)
    done = 0
    for frame in frames:
        writer.add(frame)
        done += 1
        at_commit = commit_every is not None and commit_every > 0 and done % commit_every == 0
        if at_commit:
            writer.flush()
        if progress is not None and (at_commit or done % progress_every == 0):
            progress(done, total, writer.rows_written + len(writer.prices) + len(writer.pools))
        if at_commit:
            session.commit()
    rows = writer.close()
    if progress is not None:
        progress(done, total, rows)
    return rows


def generate_dataset(
    session: DbSession,
    dataset: str,
    config: SyntheticConfig,
    *,
    progress: Callable[[int, int, int], None] | None = None,
) -> int:
    """Replace ``dataset`` with ``config``'s synthetic frames (``backtesting.synthetic``); rows written.

    Commits as it goes (every COMMIT_FRAMES frames), so a long generation holds no transaction;
    the catalogue says ``generating`` (with the frames so far) until it is ``ready``."""
    check_dataset_name(dataset, allow_live=False)
    delete_dataset(session, dataset)
    entry = _entry(session, dataset, "synthetic")
    entry.status = "generating"
    entry.config = _jsonable_config(config)
    entry.start_at = _at(config.start)
    session.commit()
    tokens = 0

    def counted(frames: Iterable[Frame]) -> Iterator[Frame]:
        nonlocal tokens
        for frame in frames:
            tokens = tokens or len(frame.prices)
            yield frame

    def noted(frames: int, total: int, rows: int) -> None:
        if frames % COMMIT_FRAMES == 0:  # committed with the frames (write_frames commits next)
            session.execute(
                sa.update(MarketDataset)
                .where(MarketDataset.name == dataset)
                .values(frames=frames, rows=rows, updated_at=utcnow())
            )
        if progress is not None:
            progress(frames, total, rows)

    rows = write_frames(
        session,
        dataset,
        counted(generate(config)),
        total=config.steps,
        progress=noted,
        commit_every=COMMIT_FRAMES,
    )
    entry = _entry(session, dataset, "synthetic")
    entry.status = "ready"
    entry.frames = config.steps
    entry.rows = rows
    entry.tokens = tokens
    entry.end_at = _at(config.start + (config.steps - 1) * config.step_s)
    entry.updated_at = utcnow()
    session.commit()
    return rows


def _jsonable_config(config: SyntheticConfig) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in dataclasses.asdict(config).items():
        values[key] = (
            dict(value) if isinstance(value, Mapping) else list(value) if isinstance(value, tuple) else value
        )
    return values


def mark_failed(session: DbSession, dataset: str) -> None:
    """A generation that failed: its catalogue entry says so (its rows so far stay until replaced)."""
    session.execute(sa.update(MarketDataset).where(MarketDataset.name == dataset).values(status="failed"))
    session.commit()
