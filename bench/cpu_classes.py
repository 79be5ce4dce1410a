"""An idle-class CPU cgroup for the benchmark's throughput processes (order servers, RQ workers).

Why: on a machine the order load keeps busy, a quote request waits for a CPU at each of its
wake-ups (gunicorn's listener, then a request thread), and under fair scheduling that wait reaches
tens of milliseconds. Linux gives a second class of CPU time: a cgroup with ``cpu.idle = 1`` gets
the CPU only when no normal-class task wants it, and a waking normal-class task preempts it at once
(``check_preempt_wakeup_fair``: an idle entity is always preempted by a non-idle one). With order
servers and workers in such a group and the quote servers outside it, quotes no longer queue behind
orders, while orders still get every cycle quotes leave (a quote process is one Python process
under one GIL: at most one core, so on two cores the other always goes to orders).

Production does the same with systemd (``CPUWeight=idle`` on the order and worker units, systemd
252 and later) or any cgroup manager; this module is the benchmark's stand-in. It needs write
access to the cpu controller (root, or a delegated subtree): ``IdleCpuGroup.create`` says why not
when it cannot, and the benchmark then runs and reports without it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from bench.procs import descendants, processes

__all__ = ["IdleCpuGroup", "Unavailable"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


class Unavailable(Exception):
    """The idle group cannot be set up here; the message says why."""


def _cpu_hierarchy(root: Path) -> tuple[Path, bool]:
    """The directory of the cpu controller's hierarchy, and whether it is cgroup v2 (unified)."""
    if (root / "cgroup.controllers").is_file():
        if "cpu" not in (root / "cgroup.controllers").read_text().split():
            raise Unavailable("the cgroup v2 hierarchy has no cpu controller")
        return root, True
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        if (root / name / "cgroup.procs").is_file():
            return root / name, False
    raise Unavailable(f"no cpu controller under {root}")


@dataclass(frozen=True)
class IdleCpuGroup:
    """A cgroup with ``cpu.idle = 1`` that processes join with their descendants; ``dispose`` removes it."""

    path: Path
    parent: Path

    @classmethod
    def create(cls, name: str, root: Path = CGROUP_ROOT) -> IdleCpuGroup:
        """Make the group ``name`` at the top of the cpu hierarchy (raises ``Unavailable``)."""
        hierarchy, unified = _cpu_hierarchy(root)
        path = hierarchy / name
        try:
            if unified:
                subtree = hierarchy / "cgroup.subtree_control"
                if "cpu" not in subtree.read_text().split():
                    subtree.write_text("+cpu")
            path.mkdir()
        except OSError as exc:
            raise Unavailable(f"cannot create {path}: {exc.strerror or exc}") from exc
        group = cls(path, hierarchy)
        idle = path / "cpu.idle"
        try:
            if not idle.exists():
                raise Unavailable(f"no {idle}: the idle class needs Linux 5.15 or later")
            idle.write_text("1")
            if idle.read_text().strip() != "1":
                raise Unavailable(f"{idle} did not keep the value 1")
        except OSError as exc:
            group.dispose()
            raise Unavailable(f"cannot write {idle}: {exc.strerror or exc}") from exc
        except Unavailable:
            group.dispose()
            raise
        return group

    def add(self, pid: int) -> int:
        """Move ``pid`` and every process it has forked into the group; how many moved.

        Processes forked later are born in the group.
        """
        moved = 0
        for member in descendants([pid], processes())[pid]:
            try:
                (self.path / "cgroup.procs").write_text(str(member))
            except ProcessLookupError:
                continue  # exited meanwhile
            moved += 1
        return moved

    def members(self) -> set[int]:
        """The processes in the group now."""
        text = (self.path / "cgroup.procs").read_text()
        return {int(line) for line in text.split()}

    def dispose(self) -> None:
        """Move whatever is left back to the top of the hierarchy and remove the group."""
        with contextlib.suppress(OSError):
            for pid in self.members():
                with contextlib.suppress(OSError):
                    (self.parent / "cgroup.procs").write_text(str(pid))
        with contextlib.suppress(OSError):
            self.path.rmdir()
