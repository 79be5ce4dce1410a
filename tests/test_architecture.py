"""The layers hold: imports point down, never in a circle, and the pure core stays pure.

The import rule (README, "Architecture"): every top-level module and package has a layer in
``LAYERS``; a module imports only from its own layer or the ones below, and the imports between
top-level modules form no circle. A new top-level module fails ``test_every_module_has_a_layer``
until it is given one: that is where its author decides where it belongs.

The pure core (amm/, routing_engine/, otc_engine.py, execution_plan.py, tokens.py, errors.py)
imports no web, database, queue or HTTP library, directly or transitively. Two checks, because
each misses what the other sees:

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
PURE_PACKAGES = ("amm", "routing_engine", "backtesting")
PURE_MODULES = (
    "otc_engine",
    "execution_plan",
    "twap",
    "order_book",
    "firm_quotes",
    "risk",
    "pnl",
    "tokens",
    "errors",
    "stats",
)
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
        "execution_plan",
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


# --- the import rule ----------------------------------------------------------------------------

# Top to bottom: a module may import from its own layer and the layers below it, never above.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("entry points", frozenset({"wsgi", "worker", "cli"})),
    ("the factory", frozenset({"app"})),
    (
        "edges: HTTP, jobs, Socket.IO, loops",
        frozenset({"views", "jobs", "live_updates", "background", "bots"}),
    ),
    (
        "services",
        frozenset(
            {
                "services",
                "execution",
                "payloads",
                "trade_logger",
                "analytics",
                "quoting",
                "executor",
                "venue_state",
                "portfolio",
                "risk_controls",
                "resting_book",
            }
        ),
    ),
    (
        "adapters and storage",
        frozenset(
            {"price_feeds", "jupiter_api", "http_session", "rate_limits", "models", "database", "config"}
        ),
    ),
    (
        "pure core",
        frozenset(
            {
                "routing_engine",
                "otc_engine",
                "execution_plan",
                "twap",
                "order_book",
                "firm_quotes",
                "backtesting",
                "risk",
                "pnl",
            }
        ),
    ),
    ("pure base", frozenset({"amm", "tokens", "errors", "stats"})),
)
LAYER_OF = {name: depth for depth, (_, names) in enumerate(LAYERS) for name in names}
NOT_APPLICATION = frozenset({"tests", "bench", "migrations", "scripts", "static", "templates", "instance"})


def application_units() -> dict[str, list[Path]]:
    """Every top-level module and package of the application, with its .py files."""
    units: dict[str, list[Path]] = {}
    for path in sorted(ROOT.iterdir()):
        if path.name.startswith((".", "_")) or path.name in NOT_APPLICATION:
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            units[path.name] = [p for p in sorted(path.rglob("*.py")) if "__pycache__" not in p.parts]
        elif path.suffix == ".py" and "." not in path.stem:  # gunicorn.conf.py is a config file
            units[path.stem] = [path]
    return units


def imported_modules(source: str, filename: str) -> set[tuple[str, int]]:
    """Every absolute import in ``source`` (anywhere in it, functions too): (dotted name, line)."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found |= {(alias.name, node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module, node.lineno))
    return found


def imported_units(source: str, filename: str, units: frozenset[str]) -> set[tuple[str, int]]:
    """The application units ``source`` imports, with a line of each."""
    return {
        (name.split(".")[0], line)
        for name, line in imported_modules(source, filename)
        if name.split(".")[0] in units
    }


def import_graph() -> dict[str, dict[str, str]]:
    """unit -> {imported unit -> "file:line" of one such import}, without a unit's imports of itself."""
    units = application_units()
    names = frozenset(units)
    graph: dict[str, dict[str, str]] = {name: {} for name in units}
    for name, files in units.items():
        for path in files:
            for target, line in sorted(imported_units(path.read_text(encoding="utf-8"), str(path), names)):
                if target != name:
                    graph[name].setdefault(target, f"{path.relative_to(ROOT)}:{line}")
    return graph


def upward_imports(graph: dict[str, dict[str, str]]) -> list[str]:
    return [
        f"{where}: {unit} ({LAYERS[LAYER_OF[unit]][0]}) imports {target} ({LAYERS[LAYER_OF[target]][0]})"
        for unit, targets in sorted(graph.items())
        for target, where in sorted(targets.items())
        if unit in LAYER_OF and target in LAYER_OF and LAYER_OF[target] < LAYER_OF[unit]
    ]


def circles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Every strongly connected group of more than one unit (Tarjan): each holds an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        on_stack.add(unit)
        for target in graph.get(unit, {}):
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in on_stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == unit:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for unit in sorted(graph):
        if unit not in index:
            visit(unit)
    return found


def test_every_module_has_a_layer() -> None:
    missing = sorted(set(application_units()) - set(LAYER_OF))
    assert not missing, f"give these top-level modules a layer in LAYERS (and the README): {missing}"
    assert {"app", "jobs", "services", "payloads", "trade_logger", "execution_plan", "amm"} <= set(
        application_units()
    )


def test_imports_point_down_the_layers() -> None:
    offenders = upward_imports(import_graph())
    assert not offenders, "imports that point up a layer:\n" + "\n".join(offenders)


def test_no_import_circle_between_top_level_modules() -> None:
    graph = import_graph()
    found = circles(graph)
    detail = [
        " -> ".join(group) + f" ({', '.join(graph[u][t] for u in group for t in graph[u] if t in group)})"
        for group in found
    ]
    assert not found, "import circles:\n" + "\n".join(detail)


def test_the_blueprints_do_not_import_each_other() -> None:
    blueprints = {"views.api", "views.pages"}
    offenders = [
        f"{blueprint} imports {name} (line {line})"
        for blueprint in sorted(blueprints)
        for name, line in sorted(
            imported_modules(
                (ROOT / f"{blueprint.replace('.', '/')}.py").read_text(encoding="utf-8"), blueprint
            )
        )
        if name in blueprints - {blueprint}
    ]
    assert not offenders, "a shared name belongs in a module both import:\n" + "\n".join(offenders)


def test_the_import_rule_catches_an_upward_import_and_a_circle() -> None:
    # Guards the guard, on a made-up graph: jobs importing app points up; a -> b -> a is a circle.
    assert upward_imports({"jobs": {"app": "jobs.py:3"}, "app": {}}) == [
        "jobs.py:3: jobs (edges: HTTP, jobs, Socket.IO, loops) imports app (the factory)"
    ]
    assert upward_imports({"app": {"jobs": "app.py:1"}}) == []
    assert circles({"a": {"b": "a.py:1"}, "b": {"c": "b.py:1"}, "c": {"a": "c.py:1"}, "d": {}}) == [
        ["a", "b", "c"]
    ]
    assert imported_units(
        "def f():\n    import jobs\nfrom views.api import x\nimport json",
        "x.py",
        frozenset({"jobs", "views"}),
    ) == {("jobs", 2), ("views", 3)}
