"""Pure statistics shared by the read queries (analytics.py) and the benchmarks (bench/)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["percentile"]

Number = TypeVar("Number", int, float)


def percentile(sorted_values: Sequence[Number], q: float) -> Number | None:
    """Nearest-rank percentile of ascending values, ``q`` in (0, 1]; None when there are none.

    The smallest value with at least ``q`` of the values at or below it: always an observed value
    (rank = ceil(q * n), counted from 1).
    """
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]
