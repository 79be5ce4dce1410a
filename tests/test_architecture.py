"""The pure core stays pure: amm/, routing_engine/, otc_engine.py, tokens.py and errors.py import
no web, database, queue or HTTP library, directly or transitively.

Two checks, because each misses what the other sees:

* statically, every ``import`` (including ones inside functions and ``importlib.import_module``
  calls with a literal name) in every .py file of the pure modules is checked against an
  allow-list: the standard library, minus its network and database modules, plus the pure
  modules themselves;
* dynamically, a fresh interpreter imports every pure module one by one and reports which
  forbidden modules each import pulled into ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ("amm", "routing_engine")
PURE_MODULES = ("otc_engine", "tokens", "errors")
PURE_TOP_LEVEL = frozenset(PURE_PACKAGES + PURE_MODULES)

# Standard-library modules that talk to the network or a database: as out of place in the pure
# core as their third-party cousins.
STDLIB_IO = frozenset(
    {
        "asyncore",
        "dbm",
        "ftplib",
        "http",
        "imaplib",
        "nntplib",
        "poplib",
        "shelve",
        "smtplib",
        "socket",
        "socketserver",
        "sqlite3",
        "ssl",
        "telnetlib",
        "urllib",
        "wsgiref",
        "xmlrpc",
        "_socket",
        "_sqlite3",
        "_ssl",
    }
)
# Named explicitly so the dynamic check catches them even when pulled in by some other library.
FORBIDDEN_THIRD_PARTY = frozenset(
    {
        "aiohttp",
        "alembic",
        "engineio",
        "flask",
        "flask_login",
        "flask_migrate",
        "flask_socketio",
        "flask_sqlalchemy",
        "flask_wtf",
        "gevent",
        "eventlet",
        "httpcore",
        "httpx",
        "jinja2",
        "psycopg",
        "psycopg2",
        "pymongo",
        "pymysql",
        "redis",
        "requests",
        "rq",
        "socketio",
        "sqlalchemy",
        "urllib3",
        "websocket",
        "websockets",
        "werkzeug",
    }
)
FORBIDDEN = FORBIDDEN_THIRD_PARTY | STDLIB_IO
ALLOWED = (frozenset(sys.stdlib_module_names) - STDLIB_IO) | PURE_TOP_LEVEL


def pure_files() -> list[Path]:
    files = [path for package in PURE_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    files += [ROOT / f"{module}.py" for module in PURE_MODULES]
    return [path for path in files if "__pycache__" not in path.parts]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass(frozen=True)
class BadImport:
    where: str  # "path:line"
    imported: str

    def __str__(self) -> str:
        return f"{self.where} imports {self.imported}"


def bad_imports(source: str, filename: str) -> list[BadImport]:
    """Every import in ``source`` whose top-level name is not on the allow-list."""
    found: list[BadImport] = []

    def check(name: str, line: int) -> None:
        if name.split(".")[0] not in ALLOWED:
            found.append(BadImport(f"{filename}:{line}", name))

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:  # relative imports stay inside a pure package
                check(node.module, node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if called in {"__import__", "import_module"} and node.args:
                target = node.args[0]
                if isinstance(target, ast.Constant) and isinstance(target.value, str):
                    check(target.value, node.lineno)
                else:
                    found.append(BadImport(f"{filename}:{node.lineno}", f"a computed name via {called}()"))
    return found


def test_the_pure_file_list_is_complete() -> None:
    names = {module_name(path) for path in pure_files()}
    assert all(path.is_file() for path in pure_files())
    assert {
        "amm",
        "amm.constant_product",
        "amm.pools",
        "routing_engine",
        "otc_engine",
        "tokens",
        "errors",
    } <= names
    assert any(name.startswith("routing_engine.") for name in names)


def test_no_pure_module_imports_anything_outside_the_standard_library_and_the_pure_core() -> None:
    offenders = [
        str(bad)
        for path in pure_files()
        for bad in bad_imports(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not offenders, "pure modules import outside the allow-list:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import requests", ["requests"]),
        ("from flask import Flask", ["flask"]),
        ("import sqlalchemy.orm as orm", ["sqlalchemy.orm"]),
        ("def f():\n    import redis\n", ["redis"]),
        ("from urllib.request import urlopen", ["urllib.request"]),
        ("import http.client", ["http.client"]),
        ("import socket", ["socket"]),
        ("import importlib\nimportlib.import_module('httpx')", ["httpx"]),
        ("__import__('rq')", ["rq"]),
        ("import importlib\nimportlib.import_module(name)", ["a computed name via import_module()"]),
        ("import jupiter_api", ["jupiter_api"]),
        ("from models import db", ["models"]),
        ("import math, decimal\nfrom fractions import Fraction\nfrom amm.pools import Pool", []),
        ("from . import paths\nfrom .venues import Venue", []),
        ("from __future__ import annotations\nimport tokens, errors, otc_engine", []),
    ],
)
def test_the_static_check_catches_forbidden_imports(source: str, expected: list[str]) -> None:
    assert [bad.imported for bad in bad_imports(source, "example.py")] == expected


PROBE = textwrap.dedent(
    """
    import importlib, json, sys
    root, names, forbidden = sys.argv[1], json.loads(sys.argv[2]), set(json.loads(sys.argv[3]))
    sys.path.insert(0, root)

    def loaded():
        return {m for m in sys.modules if m.split(".")[0] in forbidden}

    report = {"startup": sorted(loaded()), "pulled_in": {}, "errors": {}}
    for name in names:
        before = loaded()
        try:
            importlib.import_module(name)
        except Exception as exc:
            report["errors"][name] = f"{type(exc).__name__}: {exc}"
        new = sorted(loaded() - before)
        if new:
            report["pulled_in"][name] = new
    report["final"] = sorted(loaded())
    print(json.dumps(report))
    """
)


def test_importing_the_pure_modules_loads_no_forbidden_module() -> None:
    names = sorted(module_name(path) for path in pure_files())
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(ROOT), json.dumps(names), json.dumps(sorted(FORBIDDEN))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert not report["errors"], f"pure modules failed to import: {report['errors']}"
    assert not report["startup"], f"the interpreter loaded {report['startup']} before any pure import"
    offenders = "\n".join(f"{name} -> {', '.join(mods)}" for name, mods in report["pulled_in"].items())
    assert not report["pulled_in"], (
        "importing pure modules loaded forbidden modules (the first importer is named; the static "
        "check names the file and line):\n" + offenders
    )
    assert not report["final"]


def test_the_dynamic_probe_reports_a_forbidden_module() -> None:
    # Guards the guard: fed a module that does load a network library, the probe attributes it.
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            PROBE,
            str(ROOT),
            json.dumps(["json", "http.client"]),
            json.dumps(["http"]),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(result.stdout)
    assert "http.client" in report["pulled_in"]["http.client"]
    assert "json" not in report["pulled_in"]
