"""bench/routing.py --quick runs end to end and its tables say what they should.

No timing is asserted (timings depend on the machine); the checks are on the structure and on the
quality figures, which are deterministic: every venue count is reported, OPTIMAL_SPLIT never pays
less than BEST_PRICE, every gap parses and is within the 0.01 bps target, and each PASS/MISS label
agrees with the figure beside it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENUE_COUNTS = {12, 100, 1_000}
GAP_TARGET_BPS = 0.01


def table(output: str, number: int) -> list[list[str]]:
    """Rows of the fixed-width table titled "<number>. ...", cells split on runs of 2+ spaces."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{number}. "))
    assert set(lines[start + 2]) <= {"-", " "}, f"no rule under the header of table {number}"
    rows = []
    for line in lines[start + 3 :]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


def venues(cell: str) -> int:
    return int(cell.replace(",", ""))


@pytest.fixture(scope="module")
def quick_output() -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "routing.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_the_header_names_the_python_version_and_the_command(quick_output: str) -> None:
    first = quick_output.splitlines()[0]
    assert f"Python {sys.version.split()[0]}" in first
    assert "bench/routing.py --quick" in first
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", first)


@pytest.mark.slow
def test_latency_is_reported_for_every_venue_count_with_honest_labels(quick_output: str) -> None:
    rows = table(quick_output, 1)
    assert {venues(row[0]) for row in rows} == VENUE_COUNTS
    baseline = "baseline: vectorised continuous split (numpy)"
    assert {row[1] for row in rows} == {"route (optimal_split)", "full quote (find_route)", baseline}
    for venue_count, measured, _cases, calls, median, p99, ratio, target, result in rows:
        assert number(calls) > 0 and 0 < number(median) <= number(p99)
        # Every figure is also given as a ratio to the baseline measured in the same run.
        assert ratio == "1.00" if measured == baseline else number(ratio) > 0, (measured, ratio)
        # The targets (12 and 1,000 venues) belong to the route itself; the full quote has none.
        has_target = measured.startswith("route") and venues(venue_count) in (12, 1_000)
        assert (target != "—") == has_target, (venue_count, measured, target)
        if target == "—":
            assert result == "—"
        else:
            limit = re.fullmatch(r"≤ ([\d,]+) µs", target)
            assert limit is not None, target
            assert result == ("PASS" if number(median) <= number(limit.group(1)) else "MISS"), venue_count


@pytest.mark.slow
def test_the_split_never_pays_less_than_best_price_or_the_greedy_split(quick_output: str) -> None:
    rows = table(quick_output, 2)
    assert {venues(row[0]) for row in rows} == VENUE_COUNTS
    assert {row[1] for row in rows} == {"0.1%", "1%", "10%"}
    for _venues, _size, _instances, best_mean, best_min, greedy_mean, greedy_min in rows:
        assert number(best_mean) >= number(best_min) >= 0
        # The greedy split is feasible, so ours can trail it only by the gap target.
        assert number(greedy_mean) >= number(greedy_min) >= -GAP_TARGET_BPS


@pytest.mark.slow
def test_every_gap_parses_and_meets_the_target(quick_output: str) -> None:
    rows = table(quick_output, 3)
    by_venues = {row[0]: row for row in rows}
    assert {venues(v) for v in by_venues if v != "all"} == VENUE_COUNTS
    assert by_venues["12"][1].startswith("vs SLSQP") and by_venues["100"][1].startswith("vs SLSQP")
    assert by_venues["1,000"][1].startswith("certificate")
    assert by_venues["all"][1].startswith("certificate")
    for _venues, _measure, orders, gap, target, result in rows:
        assert int(orders) > 0
        assert target == f"≤ {GAP_TARGET_BPS} bps"
        assert number(gap) <= GAP_TARGET_BPS
        assert result == "PASS"
    assert 0 <= number(by_venues["all"][3]) <= GAP_TARGET_BPS


# --- bench/backtest.py ---------------------------------------------------------------------------

BACKTEST_RUNS = ("generate (baseline)", "replay, 1 trade", "replay, DCA hourly")


@pytest.fixture(scope="module")
def backtest_quick_output() -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "backtest.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_the_backtest_bench_names_its_command_and_reports_every_run(backtest_quick_output: str) -> None:
    lines = backtest_quick_output.splitlines()
    assert "bench/backtest.py --quick" in lines[0] and f"Python {sys.version.split()[0]}" in lines[0]
    assert "20,160 one-minute steps" in lines[1]
    rows = {
        row[0]: row
        for row in (re.split(r"\s{2,}", line.strip()) for line in lines)
        if row[0] in BACKTEST_RUNS
    }
    assert set(rows) == set(BACKTEST_RUNS)
    for name in BACKTEST_RUNS:
        assert number(rows[name][2]) > 0  # steps per second
    # 14 days of one-minute steps with a trade an hour: 336 trades, none skipped
    assert venues(rows["replay, DCA hourly"][3]) == 336
    assert venues(rows["replay, 1 trade"][3]) == 1
    assert re.search(r"frames generated per second: [\d,]+", backtest_quick_output)
    assert "skipped 0" in backtest_quick_output
    assert re.search(r"load average: before [\d. ]+, after [\d. ]+ on \d+ cores", backtest_quick_output)


# --- bench/arbitrage.py --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arbitrage_output() -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "arbitrage.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_the_arbitrage_bench_times_both_searches_on_every_market_and_they_agree(
    arbitrage_output: str,
) -> None:
    assert arbitrage_output.splitlines()[0].startswith("bench/arbitrage.py --quick on Python ")
    rows = {row[0]: row for row in table(arbitrage_output, 1)}
    assert set(rows) == {"default", "default +6%", "100 pools", "300 pools"}
    for name, row in rows.items():
        (
            _market,
            _pools,
            _tokens,
            best,
            median,
            _products,
            examined,
            sized,
            naive,
            loops,
            naive_sized,
            ratio,
            found,
            _usd,
        ) = row
        assert number(best) > 0 and number(median) >= number(best) and number(naive) > 0, row
        # The ratio is of the unrounded times: within the rounding of the printed ones.
        assert ratio.endswith("x") and number(ratio[:-1]) == pytest.approx(
            number(naive) / number(best), rel=0.05
        )
        # Pruning sizes a subset of the loops the naive search sizes, and finds the same ones.
        assert venues(examined) <= venues(loops) and venues(sized) <= venues(naive_sized), row
        assert venues(found) <= venues(examined), row
        if name != "default":
            assert venues(found) > 0, f"{name}: a mispriced market with nothing found"
    assert rows["default"][12] == "0" and rows["default"][7] == "0"  # fairly priced: nothing sized
    assert re.search(r"^load average: [\d.]+ [\d.]+ [\d.]+ on \d+ cores$", arbitrage_output, re.MULTILINE)


def test_the_history_write_bench_writes_the_same_rows_every_way_and_reports_rates() -> None:
    """bench/history_write.py --quick: COPY, executemany and SQLite each write every row of the frames."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "history_write.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {row[0]: row[1:] for row in table(result.stdout, 1)}
    assert set(rows) == {"copy", "executemany", "sqlite"}
    assert len({venues(cells[0]) for cells in rows.values()}) == 1  # the same rows every way
    assert all(number(cells[2]) > 0 for cells in rows.values())
    assert re.search(r"^copy / executemany: \d+\.\d+x$", result.stdout, re.M)
    assert re.search(r"^load average: [\d.]+ [\d.]+ [\d.]+$", result.stdout, re.M)
