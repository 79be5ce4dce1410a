"""bench/cpu_classes.py: the benchmark's idle-class CPU group, on this machine's real cgroups.

The group tests need write access to the cpu controller (root here and in CI); elsewhere they skip.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import throughput
from bench.cpu_classes import IdleCpuGroup, Unavailable
from bench.procs import processes
from tests.waiting import WAIT_S, wait_until


@pytest.fixture
def idle_group() -> Iterator[IdleCpuGroup]:
    try:
        group = IdleCpuGroup.create(f"solroute-test-{uuid.uuid4().hex[:8]}")
    except Unavailable as exc:
        pytest.skip(f"no idle CPU group here: {exc}")
    try:
        yield group
    finally:
        group.dispose()  # again after a test that disposed of it: nothing left to do


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=WAIT_S)
        if proc.stdin:
            proc.stdin.close()


def start(started: list[subprocess.Popen[bytes]], script: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE, start_new_session=True)
    started.append(proc)
    return proc


def wait_for_child(pid: int) -> int:
    def child() -> int | None:
        return next((child for child, (_, ppid, _) in processes().items() if ppid == pid), None)

    return wait_until(child, f"process {pid} to fork a child", interval_s=0.01)


def cgroup_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def test_the_group_is_in_the_idle_class(idle_group: IdleCpuGroup) -> None:
    assert (idle_group.path / "cpu.idle").read_text().strip() == "1"
    assert idle_group.members() == set()


def test_a_process_joins_with_the_children_it_forked_before(
    idle_group: IdleCpuGroup, spawn: list[subprocess.Popen[bytes]]
) -> None:
    parent = start(spawn, "sleep 60 & wait")
    child = wait_for_child(parent.pid)

    assert idle_group.add(parent.pid) == 2

    assert idle_group.members() == {parent.pid, child}
    assert f"/{idle_group.path.name}\n" in cgroup_of(child)


def test_a_process_forked_after_joining_is_born_in_the_group(
    idle_group: IdleCpuGroup, spawn: list[subprocess.Popen[bytes]]
) -> None:
    parent = start(spawn, "read go; sleep 60 & wait")
    assert idle_group.add(parent.pid) == 1
    assert parent.stdin is not None

    parent.stdin.write(b"go\n")
    parent.stdin.flush()
    child = wait_for_child(parent.pid)

    assert child in idle_group.members()


def test_a_process_that_has_exited_is_skipped(idle_group: IdleCpuGroup) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait(timeout=WAIT_S)

    assert idle_group.add(gone.pid) == 0
    assert idle_group.members() == set()


def test_dispose_moves_survivors_out_and_removes_the_group(
    idle_group: IdleCpuGroup, spawn: list[subprocess.Popen[bytes]]
) -> None:
    survivor = start(spawn, "sleep 60")
    idle_group.add(survivor.pid)

    idle_group.dispose()

    assert not idle_group.path.exists()
    assert survivor.poll() is None
    assert f"/{idle_group.path.name}" not in cgroup_of(survivor.pid)


def test_a_hierarchy_without_a_cpu_controller_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="no cpu controller"):
        IdleCpuGroup.create("solroute-test", root=tmp_path)
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(Unavailable, match="cgroup v2 hierarchy has no cpu controller"):
        IdleCpuGroup.create("solroute-test", root=tmp_path)


def test_the_benchmark_leaves_every_process_normal_when_told_off() -> None:
    group, note = throughput.cpu_classes(argparse.Namespace(cpu_classes="off", quote_servers=1))
    assert group is None
    assert note.startswith("off (--cpu-classes off)")


def test_the_benchmark_keeps_one_class_when_the_order_servers_serve_quotes() -> None:
    group, note = throughput.cpu_classes(argparse.Namespace(cpu_classes="auto", quote_servers=0))
    assert (group, note) == (None, "off: the order servers serve quotes too")
    with pytest.raises(SystemExit, match="needs quote servers of their own"):
        throughput.cpu_classes(argparse.Namespace(cpu_classes="on", quote_servers=0))


def test_the_benchmark_names_the_idle_group_it_made() -> None:
    group, note = throughput.cpu_classes(argparse.Namespace(cpu_classes="auto", quote_servers=1))
    if group is None:
        assert note.startswith("off, not available here (")
        pytest.skip(note)
    try:
        assert str(group.path) in note
        assert (group.path / "cpu.idle").read_text().strip() == "1"
    finally:
        group.dispose()
