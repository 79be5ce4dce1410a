"""Market-history write benchmark: rows per second into PostgreSQL, COPY against executemany.

Run from the repository root (PostgreSQL on 127.0.0.1 with trust auth, as in the tests)::

    .venv/bin/python bench/history_write.py            # 20,000 frames (~400,000 rows) per way
    .venv/bin/python bench/history_write.py --quick    # 500 frames

The frames (``backtesting.synthetic.generate``, seed 1) are made before any timing, so only the
writing is timed. Each way writes the same frames into empty tables of a scratch database made for
the run (dropped at the end), in one transaction, committed:

* ``copy``: ``market_history.FrameWriter`` as it runs on PostgreSQL (``COPY ... FROM STDIN`` in
  batches of COPY_BATCH rows);
* ``executemany``: the same writer as it runs on SQLite (``INSERT`` executemany in batches of
  INSERT_BATCH rows, sent as multi-row VALUES pages as the app's engine does): the baseline;
* ``sqlite``: the executemany way into a SQLite file, for reference.

Printed: rows, seconds and rows/s of each, the ratio of copy to executemany, and the load average
(other processes share these cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import market_history  # noqa: E402
from backtesting.model import Frame, SyntheticConfig  # noqa: E402
from backtesting.synthetic import generate  # noqa: E402
from models import PoolSnapshot, PriceHistory  # noqa: E402

ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
TABLES = [PriceHistory.__table__, PoolSnapshot.__table__]


def _admin(sql: str) -> None:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def write(url: str, frames: list[Frame], *, force_executemany: bool = False) -> tuple[int, float]:
    """Rows written and seconds taken, into fresh tables at ``url``."""
    # As the app configures PostgreSQL (database.py): executemany as multi-row VALUES pages.
    options = {"executemany_mode": "values_plus_batch"} if url.startswith("postgresql") else {}
    engine = sa.create_engine(url, **options)
    try:
        PriceHistory.metadata.create_all(engine, tables=TABLES)
        with Session(engine) as session:
            writer = market_history.FrameWriter(session, "bench")
            if force_executemany:
                writer.is_postgres = False
                writer.batch = market_history.INSERT_BATCH
            started = time.perf_counter()
            for frame in frames:
                writer.add(frame)
            rows = writer.close()
            session.commit()
            elapsed = time.perf_counter() - started
        PriceHistory.metadata.drop_all(engine, tables=TABLES)
        return rows, elapsed
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="500 frames")
    args = parser.parse_args()
    count = 500 if args.quick else args.frames
    print(f"bench/history_write.py: {count:,} frames, Python {sys.version.split()[0]}")
    frames = list(generate(SyntheticConfig(start=1_767_225_600.0, steps=count, seed=1)))
    name = f"solroute_bench_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    pg_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    results: dict[str, tuple[int, float]] = {}
    try:
        results["copy"] = write(pg_url, frames)
        results["executemany"] = write(pg_url, frames, force_executemany=True)
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = write(f"sqlite:///{tmp}/bench.db", frames)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print()
    print("1. Writing market history")
    print(f"{'way':<14}{'rows':>12}{'seconds':>10}{'rows/s':>12}")
    print("-" * 48)
    for way, (rows, seconds) in results.items():
        print(f"{way:<14}{rows:>12,}{seconds:>10.2f}{rows / seconds:>12,.0f}")
    print()
    copy_rate = results["copy"][0] / results["copy"][1]
    many_rate = results["executemany"][0] / results["executemany"][1]
    print(f"copy / executemany: {copy_rate / many_rate:.2f}x")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
