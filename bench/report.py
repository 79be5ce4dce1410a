"""What the benchmarks share: titled tables as fixed-width text or Markdown, PASS/MISS (percentiles:
``stats.percentile``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Table", "render_markdown", "render_text", "verdict"]


@dataclass(frozen=True)
class Table:
    """A titled table; ``align`` holds one 'l' or 'r' per column."""

    title: str
    headers: tuple[str, ...]
    align: str
    rows: Sequence[tuple[str, ...]]


def render_text(table: Table) -> str:
    """Fixed-width table; columns are separated by at least two spaces and no cell holds two in a row."""
    widths = [max(len(cell) for cell in column) for column in zip(table.headers, *table.rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if how == "r" else cell.ljust(width)
            for cell, width, how in zip(cells, widths, table.align, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([table.title, line(table.headers), rule, *(line(row) for row in table.rows)])


def render_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown table under a bold title."""
    rule = ["---:" if how == "r" else ":---" for how in table.align]
    lines = [
        f"**{table.title}**",
        "",
        "| " + " | ".join(table.headers) + " |",
        "| " + " | ".join(rule) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines)


def verdict(is_met: bool) -> str:
    """PASS or MISS."""
    return "PASS" if is_met else "MISS"
