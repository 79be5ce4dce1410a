"""PURE: a TWAP order's schedule: what each slice sells, when it is due, and what is still held.

A TWAP parent sells ``amount_in`` base units in ``slices`` child market orders, one every
``interval_s`` seconds from its start: slice ``i`` (0-based) sells ``amount_in // slices`` and the
last one the remainder too, so the slices add up to ``amount_in`` exactly. The parent holds the
whole input; each child takes its slice's share of that hold, so what the parent still holds is
``amount_in`` less the slices sent (``unsent_amount``): what a cancel or a stop releases.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from errors import ValidationError

__all__ = [
    "MAX_SLICES",
    "MIN_SLICES",
    "check_schedule",
    "sent_amount",
    "slice_amount",
    "slice_due",
    "slice_sizes",
    "unsent_amount",
]

MIN_SLICES = 2
MAX_SLICES = 1000


def check_schedule(amount_in: int, slices: int, interval_s: float) -> None:
    """Raise ValidationError (naming the field) unless every slice sells at least one base unit."""
    if not MIN_SLICES <= slices <= MAX_SLICES:
        raise ValidationError(f"slices must be {MIN_SLICES} to {MAX_SLICES}, got {slices}", field="slices")
    if not interval_s > 0:
        raise ValidationError(f"intervalS must be positive, got {interval_s}", field="intervalS")
    if amount_in <= 0:
        raise ValidationError(f"amountIn must be positive, got {amount_in} base units", field="amountIn")
    if amount_in // slices == 0:
        raise ValidationError(
            f"amountIn of {amount_in} base units cannot be split into {slices} slices of at least one "
            "base unit",
            field="slices",
        )


def slice_amount(amount_in: int, slices: int, index: int) -> int:
    """Base units slice ``index`` (0-based) sells: ``amount_in // slices``, the last one the remainder too."""
    if not 0 <= index < slices:
        raise ValueError(f"slice {index} of {slices}")
    base = amount_in // slices
    return base + amount_in % slices if index == slices - 1 else base


def slice_sizes(amount_in: int, slices: int) -> tuple[int, ...]:
    """The distinct slice sizes: the common one, then the last one if the remainder makes it larger."""
    base, last = slice_amount(amount_in, slices, 0), slice_amount(amount_in, slices, slices - 1)
    return (base,) if base == last else (base, last)


def sent_amount(amount_in: int, slices: int, sent: int) -> int:
    """Base units the first ``sent`` slices sell together."""
    if not 0 <= sent <= slices:
        raise ValueError(f"{sent} slices sent of {slices}")
    return amount_in if sent == slices else (amount_in // slices) * sent


def unsent_amount(amount_in: int, slices: int, sent: int) -> int:
    """The parent's own hold once ``sent`` slices went out: the input no child has taken yet."""
    return amount_in - sent_amount(amount_in, slices, sent)


def slice_due(start: datetime, interval_s: float, index: int) -> datetime:
    """When slice ``index`` is due: ``start + index * interval_s``."""
    return start + timedelta(seconds=interval_s * index)
