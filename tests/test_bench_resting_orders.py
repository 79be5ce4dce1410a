"""bench/resting_orders.py --quick --database runs end to end: both evaluations agree (it asserts
that itself), and it prints every figure the README quotes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_resting_orders_bench_runs_and_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "resting_orders.py"), "--quick", "--database"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for line in (
        "first tick (book + evaluate",
        "next tick (evaluate, nothing triggers)",
        "full read (open_order_book, before)",
        "kept book, 20 orders changed",
        "load average:",
    ):
        assert line in out, out
