"""Pure constant-product AMM maths and pool values (integer base units, Decimal prices).

Imports only the standard library, ``errors`` and ``tokens``.
"""

from amm.constant_product import (
    BPS,
    amount_in_for_out,
    amount_out_for_in,
    marginal_price_after,
    price_impact_bps,
    spot_price,
)
from amm.pools import DEFAULT_POOL_SPECS, Pool, PoolSpec, default_pools, make_pool

__all__ = [
    "BPS",
    "DEFAULT_POOL_SPECS",
    "Pool",
    "PoolSpec",
    "amount_in_for_out",
    "amount_out_for_in",
    "default_pools",
    "make_pool",
    "marginal_price_after",
    "price_impact_bps",
    "spot_price",
]
