"""Backtest benchmark: a year of one-minute synthetic frames replayed with one DCA trade an hour.

Run from the repository root::

    .venv/bin/python bench/backtest.py            # 525,600 steps, about two minutes on the 2-core box
    .venv/bin/python bench/backtest.py --quick    # 14 days (20,160 steps)

Timed in the same run, over the same seeded frames (the default token set, 12 pools, 2 desks):

* ``generate``: ``backtesting.synthetic.generate`` alone, every frame drawn and dropped (baseline);
* ``replay, 1 trade``: generate + ``backtesting.engine.run`` of a DCA that trades once: the engine's
  per-step cost (equity, drawdown, the plan's O(1) check);
* ``replay, DCA hourly``: generate + run of a $20,000 USDC→SOL DCA every hour through OPTIMAL_SPLIT
  (each trade: a Market, ``find_route``, ``plan_from_route``, ``settle_plan``).

"of it frames s" is the time spent drawing frames inside the replay (timed around each ``next()``),
"engine s" the rest: the engine's share, measured in the same pass so load changes between rows do
not blur it; steps/s and trades/s are given over the whole row and over the engine's share. The
load average is printed (other processes share these cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backtesting.engine import run  # noqa: E402
from backtesting.model import Frame, Plan, PlanKind, SyntheticConfig  # noqa: E402
from backtesting.synthetic import generate  # noqa: E402

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC
USDC = 10**6


@dataclass(frozen=True)
class Row:
    name: str
    seconds: float  # the whole run
    frame_seconds: float  # of it, drawing the frames (timed around each next() of the generator)
    steps: int
    trades: int


class FrameClock:
    """Iterates the frames, summing the time spent drawing them: the engine's share is the rest."""

    def __init__(self, frames: Iterator[Frame]) -> None:
        self.frames, self.seconds = frames, 0.0

    def __iter__(self) -> Iterator[Frame]:
        clock, frames = time.perf_counter, self.frames
        while True:
            started = clock()
            frame = next(frames, None)
            self.seconds += clock() - started
            if frame is None:
                return
            yield frame


def dca(every_s: int, steps: int) -> Plan:
    return Plan(
        PlanKind.DCA,
        {"token_in": "USDC", "token_out": "SOL", "amount_in": 20_000 * USDC, "every_s": every_s},
        {"USDC": 500_000_000 * USDC},
        START,
        START + (steps - 1) * 60,
        "OPTIMAL_SPLIT",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=525_600, help="one-minute steps (default: a year)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="14 days")
    args = parser.parse_args()
    if args.quick:
        args.steps = 14 * 1_440
    config = SyntheticConfig(start=START, steps=args.steps, step_s=60, seed=args.seed)
    command = "bench/backtest.py" + (" --quick" if args.quick else "")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{command} · Python {platform.python_version()} · {now}")
    print(
        f"{args.steps:,} one-minute steps (seed {args.seed}; "
        f"{', '.join(config.tokens)} by GBM; 12 pools, 2 desks)"
    )
    load_before = os.getloadavg()

    started = time.perf_counter()
    frames = sum(1 for _ in generate(config))
    baseline = time.perf_counter() - started
    rows = [Row("generate (baseline)", baseline, baseline, frames, 0)]
    hourly = None
    for name, every_s in (("replay, 1 trade", 10**9), ("replay, DCA hourly", 3_600)):
        clock = FrameClock(generate(config))
        started = time.perf_counter()
        result = run(dca(every_s, args.steps), clock)
        seconds = time.perf_counter() - started
        assert result.steps == frames, (result.steps, frames)
        rows.append(Row(name, seconds, clock.seconds, result.steps, len(result.trades)))
        hourly = result
    assert hourly is not None

    columns = (
        ("run", 20), ("seconds", 8), ("steps/s", 9), ("trades", 6), ("trades/s", 8),
        ("of it frames s", 14), ("engine s", 8), ("engine steps/s", 14), ("engine trades/s", 15),
    )  # fmt: skip
    print()
    print(
        "  ".join(
            f"{title:<{width}}" if i == 0 else f"{title:>{width}}" for i, (title, width) in enumerate(columns)
        )
    )
    print("  ".join("-" * width for _, width in columns))
    for row in rows:
        engine = row.seconds - row.frame_seconds
        cells = [
            f"{row.name:<20}",
            f"{row.seconds:>8.2f}",
            f"{row.steps / row.seconds:>9,.0f}",
            f"{row.trades:>6,}",
            f"{row.trades / row.seconds:>8.1f}",
            f"{row.frame_seconds:>14.2f}",
        ]
        if row is rows[0]:
            cells += [f"{'–':>8}", f"{'–':>14}", f"{'–':>15}"]
        else:
            cells += [f"{engine:>8.2f}", f"{row.steps / engine:>14,.0f}", f"{row.trades / engine:>15,.1f}"]
        print("  ".join(cells))
    print()
    print(f"frames generated per second: {frames / baseline:,.0f}")
    full = rows[-1]
    print(
        f"replay with DCA hourly ({full.steps:,} steps, {full.trades:,} trades): "
        f"{full.seconds:.1f} s in all, "
        f"{full.seconds - full.frame_seconds:.1f} s of it in the engine; "
        f"{full.seconds / baseline:.2f}x the bare generation"
    )
    m = hourly.metrics
    print(
        f"DCA metrics: total return {m['total_return']:.4f}, average cost {m['average_cost_bps']:.2f} bps, "
        f"skipped {m['skipped']}, equity points {len(hourly.equity):,}"
    )
    load_after = os.getloadavg()
    print(
        f"load average: before {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
