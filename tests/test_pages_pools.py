"""The pools page through Flask's test client, on SQLite and PostgreSQL: it renders with its title and
the stable selectors the browser tests use, loads only local assets that exist (Chart.js before its
module), carries no inline script or style, is public outside development, and the JSON it reads
has the fields static/js/pools.js uses. Its behaviour in a browser is tested in test_browser.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.test_pages import get_page, parse

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
CHART_JS = "/static/vendor/chart.js/chart.umd.min.js"
POOLS_JS = "/static/js/pools.js"
PAGE_IDS = {
    "pools-page",
    "pools-empty",
    "pools-error",
    "pools-status",
    "pools-table",
    "desks-table",
    "curves-panel",
    "pair-select",
    "chart-curves",
    "chart-impact-curves",
    "curves-error",
    "curves-unavailable",
    "curves-table",
}
POOL_FIELDS = {
    "id",
    "venue",
    "kind",
    "tokenA",
    "tokenB",
    "reserveA",
    "reserveB",
    "feeBps",
    "price",
    "depthUsd",
}
DESK_FIELDS = {"id", "name", "kind", "base", "quote", "baseSpreadBps", "sizeSpreadBps", "curve", "minSize"}
DESK_FIELDS |= {"maxSize", "inventory", "settlementDelayS"}
CURVE_VENUE_FIELDS = {
    "venue",
    "venueId",
    "kind",
    "available",
    "reason",
    "isEstimate",
    "minAmountIn",
    "maxAmountIn",
}
CURVE_VENUE_FIELDS |= {"points"}
CURVE_POINT_FIELDS = {"amountIn", "amountOut", "price", "priceImpactBps", "feeBps", "available"}


def development(app: Flask) -> Flask:
    app.config["SOLROUTE_ENV"] = "development"
    return app


@pytest.fixture(scope="module")
def chart_js_built() -> Path:
    """static/vendor/ built by scripts/vendor.sh (test.sh runs it first; a no-op when up to date)."""
    target = STATIC / "vendor" / "chart.js" / "chart.umd.min.js"
    if not target.is_file():
        if shutil.which("node") is None or shutil.which("npm") is None:
            pytest.skip("Node.js/npm are not installed, so scripts/vendor.sh cannot build static/vendor/")
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "vendor.sh")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
    return target


def html_of(client: Any, path: str = "/pools") -> str:
    r = client.get(path)
    assert r.status_code == 200, r.status_code
    return str(r.get_data(as_text=True))


def test_the_pools_page_renders_with_its_title_and_the_stable_selectors(app: Flask, client: Any) -> None:
    development(app)
    page = get_page(client, "/pools")
    assert page.title == "Pools · Solroute"
    assert set(page.ids) >= PAGE_IDS, PAGE_IDS - set(page.ids)
    duplicates = {i for i in page.ids if page.ids.count(i) > 1}
    assert not duplicates, duplicates
    html = html_of(client)
    for table in ("pools-table", "desks-table"):
        assert re.search(rf'<table id="{table}"[^>]*>.*?<thead>.*?</thead>\s*<tbody></tbody>', html, re.S), (
            table
        )
    for canvas in ("chart-curves", "chart-impact-curves"):
        tag = re.search(rf'<canvas id="{canvas}"[^>]*>', html, re.S)
        assert tag is not None, canvas
        assert 'data-points="0"' in tag.group(0) and 'data-updates="0"' in tag.group(0), tag.group(0)
        assert 'role="img"' in tag.group(0) and "aria-labelledby=" in tag.group(0), tag.group(0)
    # The empty state is the script's to show: hidden until it knows there are no venues.
    assert re.search(r'id="pools-empty" class="[^"]*\bd-none\b', html)
    assert "pair-select" in page.labelled


def test_the_pools_page_loads_chart_js_then_its_module_and_both_exist(
    app: Flask, client: Any, chart_js_built: Path
) -> None:
    development(app)
    page = get_page(client, "/pools")
    scripts = [str(attrs["src"]) for attrs, _ in page.scripts if attrs.get("src")]
    assert CHART_JS in scripts and POOLS_JS in scripts, scripts
    assert scripts.index(CHART_JS) < scripts.index(POOLS_JS)
    module = next(attrs for attrs, _ in page.scripts if attrs.get("src") == POOLS_JS)
    assert module.get("type") == "module"
    for asset in (CHART_JS, POOLS_JS, "/static/css/app.css"):
        r = client.get(asset)
        assert r.status_code == 200 and r.data, asset
        r.close()
    source = (STATIC / "js" / "pools.js").read_text()
    assert not re.search(r"https?://", source), "pools.js must not load anything remote"
    assert re.findall(r'^\s*\}\s*from\s+"([^"]+)";', source, re.M) == ["./common.js"]


def test_the_pools_page_has_no_inline_script_style_or_handler(app: Flask, client: Any) -> None:
    development(app)
    page = parse(html_of(client))
    for attrs, body in page.scripts:
        assert attrs.get("src"), f"inline <script>: {body[:80]!r}"
        assert not body.strip()
    assert page.style_tags == 0
    assert page.inline_attributes == [], page.inline_attributes


def test_the_pools_page_is_public_outside_development(app: Flask, client: Any) -> None:
    app.config["SOLROUTE_ENV"] = "production"
    page = get_page(client, "/pools")
    assert page.title == "Pools · Solroute"
    assert "login-link" in page.ids


def test_the_json_the_pools_page_reads_has_the_fields_its_script_uses(client: Any) -> None:
    pools = client.get("/api/liquidity-pools").get_json()["pools"]
    desks = client.get("/api/otc-pools").get_json()["desks"]
    assert pools and desks
    for pool in pools:
        assert set(pool) >= POOL_FIELDS, POOL_FIELDS - set(pool)
        assert pool["kind"] == "amm"
    for desk in desks:
        assert set(desk) >= DESK_FIELDS, DESK_FIELDS - set(desk)
        assert set(desk["inventory"]) == {"base", "quote"}
    # The page offers every pair a venue trades, in both directions; SOL/USDC is its default.
    pairs = {(p["tokenA"], p["tokenB"]) for p in pools} | {(d["base"], d["quote"]) for d in desks}
    assert ("SOL", "USDC") in pairs
    for sell, buy in sorted(pairs | {(b, a) for a, b in pairs}):
        r = client.get(f"/api/liquidity-curves?tokenIn={sell}&tokenOut={buy}&points=24")
        assert r.status_code == 200, (sell, buy, r.get_json())
        curves = r.get_json()
        assert (curves["tokenIn"], curves["tokenOut"]) == (sell, buy)
        assert len(curves["sizes"]) == 24
        assert any(v["available"] for v in curves["venues"]), (sell, buy)
        for venue in curves["venues"]:
            assert set(venue) >= CURVE_VENUE_FIELDS, CURVE_VENUE_FIELDS - set(venue)
            assert len(venue["points"]) == 24
            for point in venue["points"]:
                assert set(point) >= CURVE_POINT_FIELDS, CURVE_POINT_FIELDS - set(point)


def test_a_pair_without_a_direct_venue_is_a_400_naming_token_out(client: Any) -> None:
    r = client.get("/api/liquidity-curves?tokenIn=BONK&tokenOut=JUP&points=24")
    assert r.status_code == 400
    assert r.get_json()["error"]["field"] == "tokenOut"
