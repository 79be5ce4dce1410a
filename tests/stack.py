"""Start the real processes for black-box tests: gunicorn web servers and RQ workers.

Each process gets its environment from ``stack_env`` (database, Redis namespace, offline venues)
and its output goes to a log file that a failing test prints. ``Stack`` stops everything it
started, killing what does not stop in time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stack_env(database_url: str, redis_url: str | None, namespace: str, **extra: str) -> dict[str, str]:
    """The environment of a web or worker process in tests (offline venues, instant settlement)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOLROUTE_", "DATABASE_", "REDIS_"))}
    env.update(
        {
            "SOLROUTE_ENV": "testing",
            "SOLROUTE_OFFLINE": "1",
            "JUPITER_ENABLED": "0",
            "DATABASE_URL": database_url,
            "REDIS_NAMESPACE": namespace,
            "OTC_SETTLEMENT_SCALE": "0",
            "ORDER_RETRY_BASE_S": "0.1",
            "VENUE_RATE_LIMITS": "",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a crashed worker)."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


@dataclass
class Stack:
    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        out = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def start_server(self, env: Mapping[str, str], port: int | None = None, *, threads: int = 50) -> str:
        """A single-worker gunicorn (gthread) on ``port``; returns its base URL once healthy."""
        port = port or free_port()
        argv = [
            GUNICORN,
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--threads",
            str(threads),
            "--no-control-socket",
            "wsgi:app",
        ]
        proc = self._spawn(f"web-{port}", argv, env)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        return url

    def start_worker(self, env: Mapping[str, str], name: str | None = None) -> Proc:
        """An RQ worker process (``python -m worker``)."""
        name = name or f"worker-{len(self.procs)}"
        return self._spawn(
            name, [PYTHON, "-m", "worker", "--name", f"{name}-{os.getpid()}-{time.time_ns()}"], env
        )

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} -----\n{p.log()}" for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=10)


def wait_healthy(url: str, proc: Proc, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log()}")
        try:
            if requests.get(f"{url}/api/health", timeout=1).status_code in (200, 503):
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not healthy after {timeout_s} s:\n{proc.log()}")
