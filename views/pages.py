"""The HTML pages: thin views that render a template; the page logic runs in static/js/ against /api.

Dashboard, pools and analytics show public data; trade and orders need an account, which is the
demo account in development and a logged-in one elsewhere (views/auth.py). Data reaches the
scripts through ``data-*`` attributes only: no inline script or style anywhere.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

import backtest_runs
from models import Order, OrderStatus, Trade, db
from payloads import BacktestTradeOut
from routing_engine import Strategy
from views.auth import (
    CSRF_FIELD,
    account_for_key,
    csrf_token,
    is_csrf_valid,
    is_demo_session,
    is_development,
    log_in,
    log_out,
    login_required,
    page_account,
    safe_next,
)
from views.schemas import ORDER_ID

__all__ = ["IMPACT_WARNING_BPS", "NavAccount", "pages"]

pages = Blueprint("pages", __name__)

IMPACT_WARNING_BPS = 100  # the trade page warns above this price impact
ORDERS_PAGE_SIZE = 25
# The orders list's type filter (GET /api/orders?orderType=...), in the trade page's order.
ORDER_TYPES = (
    ("market", "Market"),
    ("limit", "Limit"),
    ("stop_loss", "Stop loss"),
    ("take_profit", "Take profit"),
    ("twap", "TWAP"),
)
STRATEGY_LABELS = {
    Strategy.OPTIMAL_SPLIT: "Optimal split",
    Strategy.BEST_PRICE: "Best price",
    Strategy.LOWEST_SLIPPAGE: "Lowest slippage",
    Strategy.HIGHEST_LIQUIDITY: "Highest liquidity",
    Strategy.FASTEST_EXECUTION: "Fastest execution",
}
PREFILL_FIELDS = ("tokenIn", "tokenOut", "amountIn")


@dataclass(frozen=True)
class NavAccount:
    """What the navbar shows about the account: ``state`` is ``demo``, ``user`` or ``anonymous``."""

    state: str
    name: str | None = None


@pages.record_once
def _cookie_defaults(state: BlueprintSetupState) -> None:
    # The session cookie authenticates the pages' API calls: never send it on cross-site POSTs.
    if state.app.config.get("SESSION_COOKIE_SAMESITE") is None:
        state.app.config["SESSION_COOKIE_SAMESITE"] = "Lax"


@pages.before_request
def _load_account() -> None:
    page_account()


@pages.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "nav_account": _nav_account, "csrf_field": CSRF_FIELD}


def _nav_account() -> NavAccount | None:
    """The account for the navbar; None on pages outside this blueprint (error pages look nothing up)."""
    if "page_account" not in g:
        return None
    account = g.page_account
    if account is None:
        return NavAccount("anonymous")
    return NavAccount("demo" if is_demo_session() else "user", account.name)


def _strategies() -> list[tuple[str, str]]:
    return [(s.value, STRATEGY_LABELS.get(s, s.value)) for s in Strategy]


def _has_trades() -> bool:
    """Whether any trade exists: the dashboard and analytics render their empty state only when not
    (the page's script still switches it live), so a page with data never flashes it."""
    return db.session.execute(sa.select(Trade.id).limit(1)).first() is not None


@pages.get("/")
def dashboard() -> ResponseReturnValue:
    return render_template("dashboard.html", has_trades=_has_trades())


@pages.get("/trade")
@login_required
def trade() -> ResponseReturnValue:
    prefill = {}
    for name in PREFILL_FIELDS:  # /trade?tokenIn=SOL&tokenOut=USDC&amountIn=10 (links from other pages)
        value = request.args.get(name, "").strip()
        prefill[name] = value if len(value) <= 64 and value.isprintable() else ""
    return render_template(
        "trade.html",
        strategies=_strategies(),
        default_strategy=Strategy.OPTIMAL_SPLIT.value,
        impact_warning_bps=IMPACT_WARNING_BPS,
        prefill=prefill,
    )


@pages.get("/pools")
def pools() -> ResponseReturnValue:
    return render_template("pools.html")


@pages.get("/bots")
def bots() -> ResponseReturnValue:
    """The operator's bots (static/js/bots.js against /api/bots with the operator's API key, which
    the page asks for and keeps in the tab's sessionStorage: the web login is for traders)."""
    return render_template("bots.html")


@pages.get("/orders")
@login_required
def orders() -> ResponseReturnValue:
    return render_template(
        "orders.html",
        statuses=[s.value for s in OrderStatus],
        order_types=ORDER_TYPES,
        strategies=_strategies(),
        page_size=ORDERS_PAGE_SIZE,
    )


@pages.get("/orders/<order_id>")
@login_required
def order(order_id: str) -> ResponseReturnValue:
    account = page_account()
    found = db.session.get(Order, order_id) if ORDER_ID.fullmatch(order_id) else None
    if found is None or account is None or found.account_id != account.id:
        abort(404, description="There is no order with this id for your account.")
    return render_template("order.html", order=found)


@pages.get("/analytics")
def analytics() -> ResponseReturnValue:
    return render_template("analytics.html", has_trades=_has_trades())


@pages.get("/backtests")
@login_required
def backtests() -> ResponseReturnValue:
    return render_template("backtests.html", strategies=_strategies(), venues=backtest_runs.venue_names())


CSV_COLUMNS = ("seq", "t", "tokenIn", "tokenOut", "amountIn", "amountOut", "executionPrice", "referencePrice",
               "costBps", "valueUsd", "venues")  # fmt: skip


@pages.get("/backtests/<backtest_id>/trades.csv")
def backtest_trades_csv(backtest_id: str) -> ResponseReturnValue:
    """Every trade of one of the account's backtests as CSV, streamed row by row from the database."""
    key = request.headers.get("X-API-Key")
    account = account_for_key(key) if key else page_account()
    found = backtest_runs.owned(db.session, account.id, backtest_id[:64]) if account is not None else None
    if found is None:
        abort(404, description="There is no backtest with this id for your account.")
    run_id = found.id
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        out.writerow(CSV_COLUMNS)
        with app.app_context():
            for trade in backtest_runs.iter_trades(db.session, run_id):
                t = BacktestTradeOut.of(trade).to_json()
                venues = "+".join(sorted({str(leg.get("venue")) for leg in trade.legs}))
                out.writerow([*(t[c] for c in CSV_COLUMNS[:-1]), venues])
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            db.session.remove()
        yield buffer.getvalue()

    headers = {"Content-Disposition": f'attachment; filename="backtest-{run_id}-trades.csv"'}
    return Response(rows(), mimetype="text/csv", headers=headers)


@pages.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    next_url = safe_next(request.values.get("next"), url_for("pages.trade"))
    if request.method == "GET":
        return render_template("login.html", next_url=next_url)
    if not is_csrf_valid(request.form.get(CSRF_FIELD)):
        error = "This form has expired (or cookies are blocked). Please try again."
        return render_template("login.html", next_url=next_url, form_error=error), 400
    account = account_for_key(request.form.get("apiKey", ""))
    if account is None:
        error = "That API key is not valid. Check it and try again."
        return render_template("login.html", next_url=next_url, key_error=error), 401
    log_in(account)
    flash(f"Signed in as {account.name}.", "success")
    return redirect(next_url)


@pages.post("/logout")
def logout() -> ResponseReturnValue:
    if not is_csrf_valid(request.form.get(CSRF_FIELD)):
        abort(400, description="This sign-out form has expired. Reload the page and try again.")
    log_out()
    flash("Signed out.", "info")
    return redirect(url_for("pages.dashboard" if is_development() else "pages.login"))
