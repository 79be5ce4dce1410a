"""The constant-product arbitrage trade, closed form, shared by the generator and the engine.

With q = y / x a pool's price of token_a in token_b base units, r the price it should have and
g = 1 − fee: the pool pays more for token_a than r after its fee when g·q > r, so arbitrageurs
sell token_a into it until its marginal price fee included, g·y'/x', is r; symmetrically they sell
token_b when g·r > q, until y'/x' = g·r. Inside the band [g·r, r/g] no arbitrage pays. Closing the
fraction φ of the gap in log price gives the target

    q' = q · (r / (g·q))^φ    or    q' = q · (g·r / q)^φ.

Moving a pool from q to q' along x·y = k: sell a = x·(√(q/q') − 1) of token_a (q' < q) or
b = y·(√(q'/q) − 1) of token_b (q' > q). These sizes are float estimates (an optimiser's search);
``swap_toward`` executes them with ``amm``'s exact integer formula (fee kept by the pool, output
floored), so k never decreases.
"""

from __future__ import annotations

import math

from amm.constant_product import amount_out_unchecked

__all__ = ["arb_target", "swap_toward"]


def arb_target(q: float, r: float, g: float, phi: float) -> float | None:
    """The price arbitrage moves ``q`` to (``phi`` of the gap to the fee band), None inside the band."""
    if g * q > r:
        return q * float((r / (g * q)) ** phi)
    if g * r > q:
        return q * float((g * r / q) ** phi)
    return None


def swap_toward(reserve_a: int, reserve_b: int, fee_bps: int, target: float) -> tuple[int, int]:
    """Reserves after the one swap that takes the pool's price y/x toward ``target`` (exact ints)."""
    q = reserve_b / reserve_a
    if target < q:
        amount = int(reserve_a * (math.sqrt(q / target) - 1.0))
        if amount > 0:
            out = amount_out_unchecked(reserve_a, reserve_b, amount, fee_bps)
            if 0 < out < reserve_b:
                return reserve_a + amount, reserve_b - out
    elif target > q:
        amount = int(reserve_b * (math.sqrt(target / q) - 1.0))
        if amount > 0:
            out = amount_out_unchecked(reserve_b, reserve_a, amount, fee_bps)
            if 0 < out < reserve_a:
                return reserve_a - out, reserve_b + amount
    return reserve_a, reserve_b
