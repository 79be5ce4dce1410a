"""The dashboard and analytics pages through Flask's test client, on SQLite and PostgreSQL.

The pages are drawn by static/js/dashboard.js and analytics.js; here we check what the server
owns: each page renders with its title, loads only local assets that exist (Chart.js before the
page's module), has no inline script or style, carries every id and attribute the browser tests
rely on (canvases with data-points/data-updates, aria-label and a text fallback), and shows its
empty state on a fresh install. And the contract the scripts read: every endpoint they call
answers 200 with the fields they use, on an empty database and after a trade, and the Socket.IO
events carry what the live updates need. Drawing and live behaviour are tested in a browser.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask

from live_updates import socketio
from tests.test_pages import GOOD_ORDER, development, get_page, parse
from tests.waiting import wait_final

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "static" / "js"
CHART_JS = "/static/vendor/chart.js/chart.umd.min.js"

DASHBOARD_CANVASES = ("chart-volume-by-venue", "chart-savings", "chart-impact", "chart-portfolio-value")
ANALYTICS_CANVASES = (
    "chart-venue-volume",
    "chart-venue-savings",
    "chart-strategy",
    "chart-strategy-savings",
    "chart-daily-savings",
    "chart-latency",
    "chart-slippage",
)
STAT_CARDS = ("stat-orders", "stat-volume", "stat-savings", "stat-success-rate", "stat-p95-latency")
PAGES: dict[str, dict[str, Any]] = {
    "/": {
        "title": "Dashboard · Solroute",
        "script": "/static/js/dashboard.js",
        "root": "dashboard-page",
        "empty": "dashboard-empty",
        "ids": {"dashboard-page", "dashboard-empty", "price-ticker", "recent-trades", *STAT_CARDS},
        "canvases": DASHBOARD_CANVASES,
        "tables": ("recent-trades", "portfolio-holdings"),
    },
    "/analytics": {
        "title": "Analytics · Solroute",
        "script": "/static/js/analytics.js",
        "root": "analytics-page",
        "empty": "analytics-empty",
        "ids": {"analytics-page", "analytics-empty", "venue-table", "strategy-table"},
        "canvases": ANALYTICS_CANVASES,
        "tables": ("venue-table", "strategy-table"),
    },
}
# Rows and items the scripts build, as the browser tests select them: (script, attribute set in JS).
SCRIPT_HOOKS = {
    "dashboard.js": ('"ticker-item"', "token: symbol", "item.dataset.source =", "orderId: t.orderId"),
    "analytics.js": ("venue: v.venue", "strategy: s.strategy"),
    "common.js": ("canvas.dataset.points =", "canvas.dataset.updates ="),
}
# The fields each script reads, per endpoint (a renamed field would leave a chart silently empty).
SUMMARY_FIELDS = {"orders", "trades", "notionalUsd", "volumeByVenue", "savingsVsBestSingle", "latency"}
IMPACT_TRADE_FIELDS = {
    "orderId",
    "executedAt",
    "tokenIn",
    "tokenOut",
    "amountIn",
    "amountOut",
    "strategy",
    "venues",
    "notionalUsd",
    "savingsUsd",
    "priceImpactBps",
}
TRADE_EVENT_FIELDS = {
    "orderId",
    "executedAt",
    "tokenIn",
    "tokenOut",
    "amountIn",
    "amountOut",
    "routingStrategy",
    "venues",
    "notionalUsd",
    "savingsUsd",
    "priceImpactBps",
}
BUCKET_FIELDS = {
    "start",
    "trades",
    "volumeUsd",
    "savingsVsBestSingleUsd",
    "jupiterTrades",
    "savingsVsJupiterUsd",
}
LATENCY_FIELDS = {"count", "minMs", "maxMs", "meanMs", "p50Ms", "p90Ms", "p95Ms", "p99Ms", "buckets"}
SLIPPAGE_AGGREGATE_FIELDS = {
    "trades",
    "avgBps",
    "weightedBps",
    "minBps",
    "maxBps",
    "p50Bps",
    "p95Bps",
    "worse",
    "equal",
    "better",
}
SLIPPAGE_TRADE_FIELDS = {
    "tokenIn",
    "tokenOut",
    "amountIn",
    "quotedAmountOut",
    "amountOut",
    "slippageBps",
    "notionalUsd",
}
VENUE_FIELDS = {"venue", "kind", "fills", "trades", "volumeUsd", "savingsUsd"}
STRATEGY_FIELDS = {
    "strategy",
    "trades",
    "volumeUsd",
    "savingsUsd",
    "avgSavingsBps",
    "jupiterTrades",
    "savingsVsJupiterUsd",
    "avgPriceImpactBps",
    "avgLatencyMs",
}


# --- helpers -------------------------------------------------------------------------------------

# Elements without an end tag: never on the stack of open elements.
VOID_TAGS = frozenset((
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
))  # fmt: skip


class _Elements(HTMLParser):
    """Every element's tag and attributes, keyed by id, plus the ancestry of each id'd element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.parents: dict[str, list[str]] = {}  # id -> ids of its ancestors
        self.text: dict[str, str] = {}  # id -> its text content
        self.h1 = 0
        self._stack: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        element_id = a.get("id")
        if tag == "h1":
            self.h1 += 1
        if element_id:
            self.by_id[element_id] = (tag, a)
            self.parents[element_id] = [i for _, i in self._stack if i]
            self.text[element_id] = ""
        if tag not in VOID_TAGS:
            self._stack.append((tag, element_id))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._stack:
            if element_id:
                self.text[element_id] += data


def elements(client: Any, path: str) -> _Elements:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    parser = _Elements()
    parser.feed(r.get_data(as_text=True))
    parser.close()
    return parser


def classes(attrs: dict[str, str | None]) -> set[str]:
    return set((attrs.get("class") or "").split())


def script_api_paths() -> set[str]:
    """Every /api/... path the page scripts (and the helpers they import) request."""
    found: set[str] = set()
    for name in ("dashboard.js", "analytics.js", "common.js", "figures.js"):
        found |= set(re.findall(r"""["'`](/api/[a-z/-]+)""", (JS / name).read_text()))
    return found


def execute_and_wait(client: Any, api_key: str, order: dict[str, Any] = GOOD_ORDER) -> dict[str, Any]:
    headers = {"X-API-Key": api_key}
    r = client.post("/api/orders/execute", json=order, headers=headers)
    assert r.status_code == 202, r.get_json()
    detail = wait_final(client, r.get_json()["orderId"], headers)
    assert detail["status"] == "confirmed", detail
    return detail


def js_iso(moment: datetime) -> str:
    """A time as the scripts send it: JavaScript's Date.prototype.toISOString()."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- the pages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_each_page_renders_with_its_title_and_loads_chart_js_before_its_module(
    app: Flask, client: Any, path: str
) -> None:
    development(app)
    spec = PAGES[path]
    page = get_page(client, path)
    assert page.title == spec["title"]
    srcs = [str(attrs.get("src")) for attrs, _ in page.scripts if attrs.get("src")]
    assert CHART_JS in srcs and spec["script"] in srcs, srcs
    assert srcs.index(CHART_JS) < srcs.index(spec["script"]), "Chart.js must load before the page's module"
    module = next(attrs for attrs, _ in page.scripts if attrs.get("src") == spec["script"])
    assert module.get("type") == "module"
    assert srcs.count(CHART_JS) == 1


@pytest.mark.parametrize("path", PAGES)
def test_each_page_has_no_inline_script_style_or_handler(app: Flask, client: Any, path: str) -> None:
    development(app)
    html = client.get(path).get_data(as_text=True)
    page = parse(html)
    for attrs, body in page.scripts:
        assert attrs.get("src") and not body.strip(), f"inline script on {path}: {body[:80]!r}"
    assert page.style_tags == 0
    assert page.inline_attributes == [], page.inline_attributes
    assert not re.search(r"javascript:", html, re.I)


@pytest.mark.parametrize("path", PAGES)
def test_each_page_references_only_local_assets_that_exist(app: Flask, client: Any, path: str) -> None:
    development(app)
    seen: set[str] = set()
    queue = [a for a in get_page(client, path).assets if not a.startswith("data:")]
    for asset in queue:
        assert not re.match(r"^(https?:)?//", asset), f"{path} loads a remote asset: {asset}"
    while queue:
        asset = queue.pop()
        if asset in seen:
            continue
        seen.add(asset)
        r = client.get(asset)
        assert r.status_code == 200 and r.data, asset
        if asset.startswith("/static/js/"):
            text = r.get_data(as_text=True)
            for ref in re.findall(r"""^\s*import\s[^'"]*?from\s+["']([^"']+)["']""", text, re.M):
                assert not re.match(r"^(https?:)?//", ref), f"{asset} imports a remote module: {ref}"
                queue.append(urlsplit(urljoin(asset, ref)).path)
        r.close()
    assert {CHART_JS, PAGES[path]["script"], "/static/js/common.js", "/static/css/app.css"} <= seen


@pytest.mark.parametrize("path", PAGES)
def test_each_page_carries_every_id_the_browser_tests_rely_on(app: Flask, client: Any, path: str) -> None:
    development(app)
    spec = PAGES[path]
    found = elements(client, path)
    assert found.h1 == 1
    missing = spec["ids"] - set(found.by_id)
    assert not missing, missing
    for element_id in spec["ids"] - {spec["root"]}:
        assert spec["root"] in found.parents[element_id], f"#{element_id} is outside #{spec['root']}"
    for table in spec["tables"]:
        tag, _ = found.by_id[table]
        assert tag == "table", (table, tag)
    html = client.get(path).get_data(as_text=True)
    for table in spec["tables"]:
        body = re.search(rf'<table id="{table}".*?</table>', html, re.S)
        assert body is not None and "<tbody" in body.group(0), f"#{table} has no tbody"
        assert "<thead" in body.group(0) and 'scope="col"' in body.group(0), f"#{table} has no column headers"


@pytest.mark.parametrize("path", PAGES)
def test_every_chart_is_an_accessible_canvas_with_the_update_counters(
    app: Flask, client: Any, path: str
) -> None:
    development(app)
    spec = PAGES[path]
    found = elements(client, path)
    canvases = [i for i, (tag, _) in found.by_id.items() if tag == "canvas"]
    assert sorted(canvases) == sorted(spec["canvases"]), (
        "every canvas is a listed chart, and every chart is there"
    )
    for canvas in spec["canvases"]:
        _, attrs = found.by_id[canvas]
        assert attrs.get("data-points") == "0" and attrs.get("data-updates") == "0", (canvas, attrs)
        assert attrs.get("role") == "img" and len(attrs.get("aria-label") or "") > 10, (canvas, attrs)
        assert found.text[canvas].strip(), f"#{canvas} has no text fallback"
        described = attrs.get("aria-describedby")
        assert described in found.by_id and found.text[described].strip(), (canvas, described)
        assert spec["root"] in found.parents[canvas]


def test_the_dashboard_has_the_ticker_stat_cards_and_a_live_region(app: Flask, client: Any) -> None:
    development(app)
    found = elements(client, "/")
    for stat in STAT_CARDS:
        _, attrs = found.by_id[stat]
        assert "data-value" in attrs, stat
        assert found.text[stat].strip() == "–", (stat, found.text[stat])  # filled by the script
    assert found.by_id["ticker-list"][0] == "ul" and "price-ticker" in found.parents["ticker-list"]
    live = [i for i, (_, a) in found.by_id.items() if a.get("aria-live") in ("polite", "assertive")]
    assert "dashboard-announcer" in live and "connection-state" in live, live


def test_the_analytics_period_select_is_labelled_and_offers_all_time_first(app: Flask, client: Any) -> None:
    development(app)
    html = client.get("/analytics").get_data(as_text=True)
    assert '<label for="analytics-window"' in html
    select = re.search(r'<select id="analytics-window".*?</select>', html, re.S)
    assert select is not None
    assert re.findall(r'<option value="([^"]*)"', select.group(0)) == ["", "24h", "7d", "30d"]


@pytest.mark.parametrize("path", PAGES)
def test_on_a_fresh_install_the_empty_state_shows_and_links_to_the_trade_page(
    app: Flask, client: Any, path: str
) -> None:
    development(app)
    assert client.get("/api/analytics/summary").get_json()["trades"] == 0  # a fresh install indeed
    spec = PAGES[path]
    found = elements(client, path)
    _, attrs = found.by_id[spec["empty"]]
    assert "d-none" not in classes(attrs), "the empty state must show without waiting for a script"
    assert "No trades yet" in found.text[spec["empty"]]
    # It says how to make data: a paper trade, or orders through the API with the demo account's key.
    assert "POST /api/orders/execute" in found.text[spec["empty"]]
    assert "instance/demo_api_key" in found.text[spec["empty"]]
    html = client.get(path).get_data(as_text=True)
    block = re.search(rf'<div id="{spec["empty"]}".*?</div>', html, re.S)
    assert block is not None and 'href="/trade"' in block.group(0)


@pytest.mark.parametrize("path", PAGES)
def test_once_a_trade_exists_the_empty_state_is_rendered_hidden(
    app: Flask, client: Any, api_key: str, path: str
) -> None:
    """No flash of "No trades yet" on a page that has data: the server renders it hidden."""
    development(app)
    execute_and_wait(client, api_key)
    _, attrs = elements(client, path).by_id[PAGES[path]["empty"]]
    assert "d-none" in classes(attrs)


def test_the_scripts_build_the_rows_and_items_the_browser_tests_select() -> None:
    for name, hooks in SCRIPT_HOOKS.items():
        text = (JS / name).read_text()
        for hook in hooks:
            assert hook in text, f"{name} no longer sets {hook}"
    dashboard = (JS / "dashboard.js").read_text()
    assert 'socket.on("trade_executed"' in dashboard and 'socket.on("price_update"' in dashboard
    assert 'socket.on("trade_executed"' in (JS / "analytics.js").read_text()
    # The live pages never open a connection of their own: common.js's liveSocket() is the one.
    for name in ("dashboard.js", "analytics.js"):
        assert "io(" not in (JS / name).read_text().replace("liveSocket(", ""), name


# --- the API the scripts read --------------------------------------------------------------------


def _chart_urls(window: str | None = None) -> dict[str, str]:
    """The requests the two pages make, as they make them (analytics with its optional ``from``)."""
    suffix = f"&from={window}" if window else ""
    only = f"?from={window}" if window else ""
    return {
        "prices": "/api/prices",
        "tokens": "/api/tokens",
        "summary": "/api/analytics/summary",
        "minute": "/api/analytics/timeseries?bucket=minute",
        "hour": "/api/analytics/timeseries?bucket=hour",
        "prices24h": "/api/analytics/price-history?bucket=minute",
        "day": f"/api/analytics/timeseries?bucket=day{suffix}",
        "impact": "/api/analytics/impact?limit=200",
        "breakdown": f"/api/analytics/breakdown{only}",
        "latency": f"/api/analytics/latency{only}",
        "slippage": f"/api/analytics/slippage?limit=200{suffix}",
    }


def test_the_test_covers_every_endpoint_the_scripts_call() -> None:
    called = script_api_paths()
    covered = {urlsplit(u).path for u in _chart_urls().values()}
    assert called, "no /api path found in the scripts"
    assert called <= covered, f"untested endpoints: {called - covered}"


def _check_shapes(bodies: dict[str, Any], *, trades: int) -> None:
    summary = bodies["summary"]
    assert set(summary) >= SUMMARY_FIELDS
    assert {"total", "final", "successRate", "byStatus"} <= set(summary["orders"])
    assert {"available", "totalUsd", "avgBps"} <= set(summary["savingsVsBestSingle"])
    assert {"count", "p50Ms", "p95Ms"} <= set(summary["latency"])
    assert summary["trades"] == trades
    for name in ("minute", "hour", "day"):
        assert set(bodies[name]) >= {"bucket", "truncated", "buckets"}
        for bucket in bodies[name]["buckets"]:
            assert set(bucket) >= BUCKET_FIELDS
    assert bodies["impact"]["total"] == trades
    assert {"bucket", "source", "tokens"} <= set(bodies["prices24h"])
    assert (len(bodies["prices24h"]["tokens"]) > 0) == (trades > 0)
    for history in bodies["prices24h"]["tokens"]:
        assert {"token", "points", "changePct"} <= set(history)
        assert all({"start", "priceUsd", "trades"} <= set(p) for p in history["points"])
    for row in bodies["impact"]["trades"]:
        assert set(row) >= IMPACT_TRADE_FIELDS
    assert set(bodies["latency"]) >= LATENCY_FIELDS and bodies["latency"]["count"] == trades
    for bucket in bodies["latency"]["buckets"]:
        assert {"loMs", "hiMs", "count"} <= set(bucket)
    assert set(bodies["slippage"]["aggregate"]) >= SLIPPAGE_AGGREGATE_FIELDS
    for row in bodies["slippage"]["trades"]:
        assert set(row) >= SLIPPAGE_TRADE_FIELDS
    for row in bodies["breakdown"]["byVenue"]:
        assert set(row) >= VENUE_FIELDS
    for row in bodies["breakdown"]["byStrategy"]:
        assert set(row) >= STRATEGY_FIELDS
    prices = bodies["prices"]
    assert {"prices", "source", "sourceCounts", "sources", "asOf"} <= set(prices)
    for quote in prices["prices"].values():
        assert {"priceUsd", "change24hPct", "source", "ageS"} <= set(quote)
    assert {t["symbol"] for t in bodies["tokens"]["tokens"]} >= set(prices["prices"])


def _get_all(client: Any, urls: dict[str, str]) -> dict[str, Any]:
    bodies = {}
    for name, url in urls.items():
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.get_json())
        bodies[name] = r.get_json()
    return bodies


def test_on_a_fresh_install_every_request_of_the_pages_answers_200_with_empty_series(
    app: Flask, client: Any
) -> None:
    development(app)
    bodies = _get_all(client, _chart_urls())
    _check_shapes(bodies, trades=0)
    assert bodies["minute"]["buckets"] == [] and bodies["impact"]["trades"] == []
    assert bodies["breakdown"]["byVenue"] == [] and bodies["latency"]["buckets"] == []
    assert bodies["summary"]["orders"]["successRate"] is None  # the page shows "–", not 0%


def test_after_a_trade_the_pages_requests_carry_it_with_the_fields_the_scripts_read(
    app: Flask, client: Any, api_key: str
) -> None:
    development(app)
    detail = execute_and_wait(client, api_key)
    bodies = _get_all(client, _chart_urls())
    _check_shapes(bodies, trades=1)
    row = bodies["impact"]["trades"][0]
    assert row["orderId"] == detail["orderId"] and row["strategy"] == detail["routingStrategy"]
    assert row["notionalUsd"] > 0 and row["venues"]
    assert sum(b["trades"] for b in bodies["minute"]["buckets"]) == 1
    assert [s["strategy"] for s in bodies["breakdown"]["byStrategy"]] == [detail["routingStrategy"]]
    assert bodies["breakdown"]["byVenue"], "the venue table would stay empty"
    # The analytics period, with `from` as the script formats it (milliseconds and a Z).
    since = js_iso(datetime.now(UTC) - timedelta(hours=24))
    windowed = _get_all(client, {k: v for k, v in _chart_urls(since).items() if "from=" in v})
    assert windowed["latency"]["count"] == 1 and windowed["slippage"]["aggregate"]["trades"] == 1
    future = js_iso(datetime.now(UTC) + timedelta(hours=1))
    later = _get_all(client, {k: v for k, v in _chart_urls(future).items() if "from=" in v})
    assert later["latency"]["count"] == 0 and later["breakdown"]["byVenue"] == []


# --- the live events -----------------------------------------------------------------------------


def test_a_trade_reaches_a_page_s_connection_as_trade_executed_with_what_the_dashboard_shows(
    app: Flask, client: Any, api_key: str
) -> None:
    development(app)
    live = socketio.test_client(app)
    assert live.is_connected()
    live.get_received()
    detail = execute_and_wait(client, api_key)
    events = [e["args"][0] for e in live.get_received() if e["name"] == "trade_executed"]
    live.disconnect()
    assert len(events) == 1, events
    event = events[0]
    assert set(event) >= TRADE_EVENT_FIELDS, TRADE_EVENT_FIELDS - set(event)
    assert event["orderId"] == detail["orderId"] and event["routingStrategy"] == detail["routingStrategy"]
    assert isinstance(event["notionalUsd"], int | float) and event["notionalUsd"] > 0
    assert event["priceImpactBps"] is None or isinstance(event["priceImpactBps"], str)
    assert event["venues"] and all(isinstance(v, str) for v in event["venues"])
