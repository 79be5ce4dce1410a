"""backtesting.synthetic and backtesting.arbitrage: frames reproducible by seed, pools kept near the
reference by arbitrage (never inside-the-band trades, k never decreasing), desks quoting around it."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amm.pools import default_pools
from backtesting.arbitrage import arb_target, swap_toward
from backtesting.model import SyntheticConfig
from backtesting.synthetic import DEFAULT_PRICES, generate, initial_frame
from errors import ValidationError
from otc_engine import default_desks
from tokens import get_token

START = 1_700_000_000.0


def frames(steps: int = 300, **kwargs: object) -> list:  # type: ignore[type-arg]
    return list(generate(SyntheticConfig(start=START, steps=steps, **kwargs)))  # type: ignore[arg-type]


def pool_price(pool) -> float:  # type: ignore[no-untyped-def]
    """token_b per token_a in human units."""
    a, b = get_token(pool.token_a), get_token(pool.token_b)
    return pool.reserve_b / b.unit / (pool.reserve_a / a.unit)


def test_the_same_seed_gives_identical_frames_and_another_seed_does_not() -> None:
    assert frames(seed=7) == frames(seed=7)
    other = frames(seed=8)
    assert [f.prices for f in frames(seed=7)][1:] != [f.prices for f in other][1:]


def test_one_frame_per_step_at_start_plus_i_steps() -> None:
    got = frames(steps=5, step_s=300)
    assert [f.t for f in got] == [START + 300 * i for i in range(5)]


def test_generation_is_lazy() -> None:
    stream = generate(SyntheticConfig(start=START, steps=10**12))
    assert len(list(itertools.islice(stream, 3))) == 3


def test_the_first_frame_is_the_live_default_market_and_stablecoins_stay_at_one() -> None:
    got = frames(steps=200)
    first = got[0]
    defaults = default_pools(DEFAULT_PRICES)
    assert [(p.pool_id, p.reserve_a, p.reserve_b, p.fee_bps) for p in first.pools] == [
        (p.pool_id, p.reserve_a, p.reserve_b, p.fee_bps) for p in defaults
    ]
    assert [d.desk_id for d in first.desks] == [d.desk_id for d in default_desks(DEFAULT_PRICES, START)]
    initial = initial_frame(DEFAULT_PRICES, START)
    assert (initial.t, initial.prices, initial.pools) == (first.t, first.prices, first.pools)
    assert [(d.inventory_base, d.inventory_quote) for d in initial.desks] == [
        (d.inventory_base, d.inventory_quote) for d in first.desks
    ]
    assert all(f.prices["USDC"] == 1 and f.prices["USDT"] == 1 for f in got)
    assert any(f.prices["SOL"] != DEFAULT_PRICES["SOL"] for f in got)


def test_prices_carry_twelve_significant_digits_at_most() -> None:
    for frame in frames(steps=50):
        for price in frame.prices.values():
            assert isinstance(price, Decimal) and price > 0
            assert len(price.as_tuple().digits) <= 12


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_arbitrage_keeps_every_pool_near_the_reference(seed: int) -> None:
    worst = 0.0
    for frame in frames(steps=2_000, seed=seed):
        for pool in frame.pools:
            reference = float(frame.prices[pool.token_a] / frame.prices[pool.token_b])
            worst = max(worst, abs(pool_price(pool) / reference - 1) * 10_000)
    # noise of 20 bps a step, fees up to 30 bps, half the gap closed each step
    assert worst < 150, f"a pool drifted {worst:.1f} bps from the reference"


def test_without_arbitrage_pools_wander_off() -> None:
    last = frames(steps=2_000, seed=1, arb_fraction=0.0)[-1]
    drift = max(
        abs(pool_price(p) / float(last.prices[p.token_a] / last.prices[p.token_b]) - 1) * 10_000
        for p in last.pools
    )
    assert drift > 150


def test_k_never_decreases_in_any_pool() -> None:
    got = frames(steps=500, seed=4)
    for before, after in itertools.pairwise(got):
        for p, q in zip(before.pools, after.pools, strict=True):
            assert q.reserve_a * q.reserve_b >= p.reserve_a * p.reserve_b, p.pool_id


def test_with_no_volatility_and_no_noise_nothing_moves() -> None:
    got = frames(steps=50, volatility={t: 0.0 for t in ("SOL", "JUP", "RAY", "BONK")}, pool_noise_bps=0.0)
    assert all(f.pools == got[0].pools and f.prices == got[0].prices for f in got)


def test_desks_quote_around_the_reference_and_refill() -> None:
    got = frames(steps=3_000, desk_flow_probability=0.05)
    for frame in got:
        for desk in frame.desks:
            reference = frame.prices[desk.base] / frame.prices[desk.quote]
            assert abs(desk.mid / reference - 1) * 10_000 <= Decimal("3.01")
    inventories = [f.desks[0].inventory_base for f in got]
    assert min(inventories) < inventories[0]  # other clients took some
    assert max(inventories[len(inventories) // 2 :]) == inventories[0]  # and it refilled to target


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("steps", {"steps": -1}),
        ("step_s", {"step_s": 0}),
        ("arb_fraction", {"arb_fraction": 1.5}),
        ("initial_prices", {"initial_prices": {"SOL": Decimal(0)}}),
        ("volatility", {"volatility": {"SOL": float("nan")}}),
    ],
)
def test_a_bad_config_is_refused_naming_the_field(field: str, kwargs: dict[str, object]) -> None:
    config = {"start": START, "steps": 10} | kwargs
    with pytest.raises(ValidationError) as caught:
        generate(SyntheticConfig(**config))  # type: ignore[arg-type]
    assert caught.value.field == field


def test_arbitrageurs_do_not_trade_inside_the_fee_band() -> None:
    g = 0.997  # 30 bps
    assert arb_target(100.0, 100.0, g, 1.0) is None
    assert arb_target(100.0 * 1.0029, 100.0, g, 1.0) is None
    assert arb_target(100.0 * 0.9971, 100.0, g, 1.0) is None
    assert arb_target(100.0 * 1.01, 100.0, g, 1.0) == pytest.approx(100.0 / g)
    assert arb_target(100.0 * 0.99, 100.0, g, 1.0) == pytest.approx(100.0 * g)
    half = arb_target(100.0 * 1.01, 100.0, g, 0.5)
    assert half is not None and 100.0 / g < half < 101.0


@given(
    st.integers(10**6, 10**20),
    st.integers(10**6, 10**20),
    st.integers(0, 100),
    st.floats(0.5, 2.0),
)
def test_the_arbitrage_swap_moves_toward_the_target_and_never_lowers_k(
    reserve_a: int, reserve_b: int, fee_bps: int, factor: float
) -> None:
    q = reserve_b / reserve_a
    a, b = swap_toward(reserve_a, reserve_b, fee_bps, q * factor)
    assert a > 0 and b > 0
    assert a * b >= reserve_a * reserve_b
    moved = b / a
    if factor < 1:
        assert q * factor * 0.98 <= moved <= q * (1 + 1e-12)
    else:
        assert q * (1 - 1e-12) <= moved <= q * factor * 1.02
