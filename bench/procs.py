"""The machine's processes as ``/proc`` shows them, for the benchmark's CPU accounting and CPU classes."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CLOCK_TICKS", "Processes", "descendants", "processes"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Processes = dict[int, tuple[str, int, float]]  # pid → (command name, parent pid, CPU seconds so far)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its closing one.
    return [text[text.index("(") + 1 : text.rindex(")")], *text[text.rindex(")") + 2 :].split()]


def processes() -> Processes:
    """Every process now: pid → (command name, parent pid, CPU seconds used so far)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            # After the name: state, ppid, ..., utime and stime are fields 14 and 15 of stat(5).
            found[int(entry.name)] = (
                fields[0],
                int(fields[2]),
                (int(fields[12]) + int(fields[13])) / CLOCK_TICKS,
            )
    return found


def descendants(roots: list[int], procs: Processes) -> dict[int, list[int]]:
    """Each root with every process below it in ``procs`` (the root first)."""
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    trees = {}
    for root in roots:
        out, todo = [], [root]
        while todo:
            current = todo.pop()
            out.append(current)
            todo.extend(children.get(current, []))
        trees[root] = out
    return trees
