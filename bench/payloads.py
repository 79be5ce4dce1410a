"""Payload benchmark: building and dumping the JSON of a quote and of an order detail.

Run from the repository root::

    .venv/bin/python bench/payloads.py            # about 20 s on the 2-core box
    .venv/bin/python bench/payloads.py --quick    # fewer repetitions

Four ways, timed in turns in the same run on the same values (µs per call, best round):

* ``dict builder``: the hand-written dict builders of ``views/serialize.py`` as they were before
  ``payloads.py`` replaced them, loaded from git (``--baseline REV``; default: the parent of the
  commit that deleted the file), the baseline;
* ``payloads``: as served, ``QuoteResponse.of(...)`` / ``OrderDetail.of_order(...)`` (models made
  with ``_Out.make``) then ``.to_json()``;
* ``model_construct``: the same builders with pydantic's own ``model_construct`` in place of
  ``make`` (what ``make`` saves);
* ``validated``: the baseline's body validated by the response model and dumped (what validating
  our own values would cost).

Each figure includes ``json.dumps`` of the result, as Flask's ``jsonify`` does. The run also compares
the new JSON with the baseline's: equal byte for byte when the bench was written; since then the
payloads gained fields (order types, firm quotes, rounded prices), and the run says which, so the
baseline column is a floor rather than the same work, and ``validated`` is n/a where today's model
requires fields the baseline never built.
The app runs on a throwaway SQLite database, offline, with one order executed to ``confirmed``.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import payloads  # noqa: E402
from app import create_app  # noqa: E402
from config import Settings  # noqa: E402
from models import Order, Trade, db, utcnow  # noqa: E402
from payloads import OrderDetail, QuoteResponse  # noqa: E402
from routing_engine import Strategy  # noqa: E402
from services import get_services  # noqa: E402
from venue_state import seed_database  # noqa: E402


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def baseline_module(rev: str | None) -> types.ModuleType:
    """``views/serialize.py`` as it was at ``rev`` (default: just before it was deleted)."""
    if rev is None:
        deleted = _git("log", "-1", "--format=%H", "--diff-filter=D", "--", "views/serialize.py").strip()
        rev = f"{deleted}^" if deleted else "HEAD"
    module = types.ModuleType("serialize_baseline")
    exec(compile(_git("show", f"{rev}:views/serialize.py"), "serialize_baseline", "exec"), module.__dict__)
    return module


def _model_construct(cls: type[Any], **values: Any) -> Any:
    return cls.model_construct(**values)


def timed(calls: list[Callable[[], object]], repeat: int, rounds: int) -> list[float]:
    """Per call, the best over ``rounds`` of the mean µs over ``repeat`` calls.

    The calls take turns within each round, so a neighbour's load spreads over all of them alike;
    the best round is the one least disturbed (the machine is shared).
    """
    best = [float("inf")] * len(calls)
    gc.disable()
    try:
        for _ in range(rounds):
            for i, call in enumerate(calls):
                start = time.perf_counter_ns()
                for _ in range(repeat):
                    call()
                best[i] = min(best[i], (time.perf_counter_ns() - start) / repeat / 1000)
    finally:
        gc.enable()
    return best


def with_model_construct(call: Callable[[], object]) -> Callable[[], object]:
    """``call`` with pydantic's ``model_construct`` standing in for ``payloads._Out.make``."""
    make = payloads._Out.__dict__["make"]

    def run() -> object:
        setattr(payloads._Out, "make", classmethod(_model_construct))  # noqa: B010
        try:
            return call()
        finally:
            setattr(payloads._Out, "make", make)  # noqa: B010

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--baseline", help="git revision holding views/serialize.py (default: before removal)"
    )
    args = parser.parse_args()
    repeat, rounds = (100, 5) if args.quick else (300, 15)
    old = baseline_module(args.baseline)

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                "SOLROUTE_SETTINGS": Settings(offline=True, jupiter_enabled=False),
                "REDIS_URL": None,
                "OTC_SETTLEMENT_SCALE": 0,
                "MAINTENANCE_THREAD": False,
                "VENUE_RATE_LIMITS": {},
            }
        )
        with app.app_context():
            db.create_all()
            key = seed_database(db.session)
            db.session.commit()
        client = app.test_client()
        order = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "25", "slippageBps": 100}
        accepted = client.post("/api/orders/execute", json=order, headers={"X-API-Key": key}).get_json()
        order_id = accepted["orderId"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = client.get(f"/api/orders/{order_id}", headers={"X-API-Key": key}).get_json()["status"]
            if status in ("confirmed", "failed"):
                break
            time.sleep(0.05)
        with app.app_context():
            services = get_services(app)
            quote = services.quotes.quote_units("SOL", "USDC", 25 * 10**9, Strategy.OPTIMAL_SPLIT, 50)
            row = db.session.get(Order, order_id)
            assert row is not None and row.status == "confirmed", status
            trade = db.session.query(Trade).filter_by(order_id=order_id).one()
            _ = (row.events, row.fills)  # loaded once, as a request would
            now = utcnow()
            cases: list[tuple[str, Callable[[], Any], Callable[[], Any], type[Any]]] = [
                (
                    "quote (GET /api/quote)",
                    lambda: old.quote_json(quote, now),
                    lambda: QuoteResponse.of(quote, now).to_json(),
                    QuoteResponse,
                ),
                (
                    "order detail (GET /api/orders/{id})",
                    lambda: old.order_detail(row, trade),
                    lambda: OrderDetail.of_order(row, trade).to_json(),
                    OrderDetail,
                ),
            ]
            print(f"µs per build + dump (best of {rounds} rounds of {repeat} calls, gc off)")
            header = ("dict builder", "payloads", "model_construct", "validated")
            print(f"{'payload':38}" + "".join(f"{h:>16}" for h in header))
            differences: list[str] = []
            for name, before, after, model in cases:
                body, served = before(), after()
                if json.dumps(body) != json.dumps(served):
                    differences.append(f"{name}: {_difference(body, served)}")
                calls = [
                    lambda before=before: json.dumps(before()),
                    lambda after=after: json.dumps(after()),
                    with_model_construct(lambda after=after: json.dumps(after())),
                ]
                try:  # the baseline's body still a valid body of today's model?
                    model.model_validate(body)
                    calls.append(
                        lambda model=model, before=before: json.dumps(
                            model.model_validate(before()).model_dump(mode="json", by_alias=True)
                        )
                    )
                except ValueError:
                    pass  # today's model requires fields the baseline never had: n/a
                figures = timed(calls, repeat, rounds)
                cells = [f"{f:16.1f}" for f in figures] + [f"{'n/a':>16}"] * (4 - len(figures))
                print(f"{name:38}" + "".join(cells))
            if differences:
                print("payloads differ from the baseline's (the API gained fields since: the baseline")
                print("builds less, so the first column is a floor, not the same work):")
                for line in differences:
                    print(f"  {line}")
            else:
                print("payloads equal the baseline's byte for byte: yes")
        services.shutdown()


def _difference(old: Any, new: Any) -> str:
    """What ``new`` has that ``old`` has not (top-level keys), or that their values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        added = sorted(set(new) - set(old))
        changed = sorted(k for k in set(new) & set(old) if json.dumps(new[k]) != json.dumps(old[k]))
        parts = ([f"new fields {', '.join(added)}"] if added else []) + (
            [f"values differ in {', '.join(changed)}"] if changed else []
        )
        return "; ".join(parts) or "key order differs"
    return "values differ"


if __name__ == "__main__":
    main()
