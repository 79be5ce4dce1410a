"""The dashboard, analytics and pools pages in a real browser, for issue 18: numbers for people.

The live stack, the browser and the watched tabs are tests/test_browser.py's (its fixtures and
helpers are imported, not copied). Checked here, at 1400x900 and at 390x844: no horizontal overflow
on the three pages, with no table cut off inside a scroll box either (the tables become cards on a
phone); numbers never wrap; the dashboard's price line per token with its 24 h change; p95 latency
per venue kind in the cards and on the analytics page; the cumulative-savings line is stepped (a
smoothed line on cumulative data overshoots); volume and savings in separate charts, one y axis
each; the strategy table fits at 1400 px; the pools output chart on a log axis; savings as dollars
with basis points beside them and sub-cent noise hidden. Screenshots at both widths land in
test-output/screenshots/ (dash-*.png) for a person to look at.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Page, expect

from tests import test_browser
from tests.test_browser import (
    ACTION_TIMEOUT_MS,
    PHONE,
    POSITIVE,
    Site,
    Tab,
    close_tab,
    horizontal_overflow,
    open_tab,
    ready_analytics,
    ready_dashboard,
    ready_pools,
)

# tests/test_browser.py's fixtures under their own names: a live stack and a browser for this module.
site = test_browser.site
browser = test_browser.browser
first_order = test_browser.first_order

pytestmark = pytest.mark.browser

WIDE = {"width": 1400, "height": 900}

# Every element that is a number, or holds one, on these pages (each must sit on one line).
NUMBERS = ".num, .ticker-price, .stat-value"

WRAPPED_NUMBERS = """(selector) => {
  // A number wraps when its text lays out on more than one line: its line boxes have several tops.
  const out = [];
  for (const node of document.querySelectorAll(selector)) {
    if (!node.offsetParent || !node.textContent.trim()) continue;  // hidden, or empty
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter((r) => r.width > 0);
    const tops = new Set(rects.map((r) => Math.round(r.top)));
    const name = `${node.tagName.toLowerCase()}.${[...node.classList].join(".")}`;
    if (tops.size > 1) out.push(`${name}: "${node.textContent.trim()}"`);
  }
  return out.slice(0, 10);
}"""

CUT_OFF_TABLES = """() => {
  // A table wider than its scroll box hides columns off to the right (Status off-screen, "Avg l…").
  const out = [];
  for (const box of document.querySelectorAll(".table-responsive")) {
    if (!box.offsetParent || box.closest("details:not([open])")) continue;
    const id = box.querySelector("table")?.id;
    if (box.scrollWidth > box.clientWidth + 1) out.push(`${id}: ${box.scrollWidth} > ${box.clientWidth}`);
  }
  for (const th of document.querySelectorAll("table thead th")) {
    const table = th.closest("table");
    if (!th.offsetParent || getComputedStyle(table.tHead).position === "absolute") continue;  // card layout
    const text = th.textContent.trim();
    if (th.scrollWidth > th.clientWidth + 1) out.push(`${table.id} header "${text}" clipped`);
  }
  return out;
}"""


@pytest.fixture
def wide(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A context at 1400x900, the width the issue found the strategy table clipped at."""
    yield from _context(browser, site, WIDE)


@pytest.fixture
def phone(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    yield from _context(browser, site, PHONE)


def _context(browser: Browser, site: Site, viewport: dict[str, int]) -> Iterator[BrowserContext]:
    created = browser.new_context(
        viewport=viewport, reduced_motion="reduce", timezone_id="UTC", locale="en-GB", service_workers="block"
    )
    created.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield created
    finally:
        with contextlib.suppress(Error):
            created.close()


@pytest.fixture(scope="module")
def trades(site: Site, first_order: dict[str, Any]) -> list[dict[str, Any]]:
    """A few confirmed orders: an AMM split, an OTC desk leg (instant settlement in tests), a BONK trade."""
    orders = [first_order]
    for order in (
        {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "300", "slippageBps": 200},
        {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "250", "slippageBps": 100},
        {"tokenIn": "SOL", "tokenOut": "BONK", "amountIn": "2", "slippageBps": 200},
    ):
        orders.append(site.wait_confirmed(site.submit(order)))
    assert any(leg["kind"] == "otc" for o in orders for leg in o["legs"]), (
        "no OTC leg: latency by kind untested"
    )
    return orders


def chart_config(page: Page, canvas_id: str, expression: str) -> Any:
    """A value read from the Chart.js chart drawn on ``canvas_id``."""
    return page.evaluate(
        "(id) => { const chart = Chart.getChart(document.getElementById(id)); "
        f"return chart ? {expression} : null; }}",
        canvas_id,
    )


def assert_fits_and_numbers_unwrapped(tab: Tab, where: str) -> None:
    page = tab.page
    overflow = horizontal_overflow(page)
    assert not overflow, f"{where} overflows: " + "; ".join(overflow)
    cut = page.evaluate(CUT_OFF_TABLES)
    assert not cut, f"{where}: tables cut off: " + "; ".join(cut)
    assert page.locator(NUMBERS).count() > 0
    wrapped = page.evaluate(WRAPPED_NUMBERS, NUMBERS)
    assert not wrapped, f"{where}: numbers wrap: " + "; ".join(wrapped)


def ready(tab: Tab, path: str) -> None:
    tab.goto(path)
    {"/": ready_dashboard, "/analytics": ready_analytics, "/pools": ready_pools}[path](tab)
    if path == "/":
        expect(tab.page.locator("#price-charts .price-chart canvas").first).to_have_attribute(
            "data-points", POSITIVE
        )
    tab.page.wait_for_function("() => !document.querySelector('[aria-busy=\"true\"]')")


# --- the three pages at both widths ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"), [("/", "dashboard"), ("/analytics", "analytics"), ("/pools", "pools")]
)
def test_at_390px_the_page_fits_tables_are_cards_and_numbers_never_wrap(
    phone: BrowserContext, site: Site, trades: list[dict[str, Any]], path: str, name: str
) -> None:
    tab = open_tab(phone, site)
    ready(tab, path)
    tab.screenshot(f"dash-{name}-390x844")
    assert_fits_and_numbers_unwrapped(tab, f"{path} at 390px")
    for table in tab.page.locator("table.table-cards").all():
        if not table.is_visible():
            continue
        # The header row is hidden as cards: each value cell carries its column's label instead.
        assert table.evaluate("(t) => getComputedStyle(t.tHead).position") == "absolute"
        cells = table.locator(
            "tbody tr[data-venue-id] td, tbody tr[data-venue] td, tbody tr[data-strategy] td"
        )
        for cell in cells.all()[:12]:
            if cell.is_visible():
                assert cell.get_attribute("data-label"), cell.inner_html()
    tab.watch.assert_clean()
    close_tab(tab)


@pytest.mark.parametrize(
    ("path", "name"), [("/", "dashboard"), ("/analytics", "analytics"), ("/pools", "pools")]
)
def test_at_1400px_nothing_is_clipped_and_numbers_never_wrap(
    wide: BrowserContext, site: Site, trades: list[dict[str, Any]], path: str, name: str
) -> None:
    tab = open_tab(wide, site)
    ready(tab, path)
    tab.screenshot(f"dash-{name}-1400x900")
    assert_fits_and_numbers_unwrapped(tab, f"{path} at 1400px")
    tab.watch.assert_clean()
    close_tab(tab)


# --- the dashboard -----------------------------------------------------------------------------------


def test_the_dashboard_draws_a_price_line_per_traded_token_with_its_24h_change(
    wide: BrowserContext, site: Site, trades: list[dict[str, Any]]
) -> None:
    tab = open_tab(wide, site)
    ready(tab, "/")
    page = tab.page
    history = site.api("GET", "/api/analytics/price-history?bucket=minute").json()
    traded = {t["token"] for t in history["tokens"]}
    assert {"SOL", "USDC", "BONK"} <= traded
    expect(page.locator("#price-charts .price-chart[data-token]")).to_have_count(len(traded))
    expect(page.locator("#price-charts-empty")).to_be_hidden()
    for token in traded:
        card = page.locator(f'#price-charts .price-chart[data-token="{token}"]')
        expect(card.locator("canvas")).to_have_attribute("data-points", POSITIVE)
        expect(card.locator(".price-chart-change")).to_contain_text("24 h")
        assert card.locator(".price-chart-last").inner_text().startswith("$")
        canvas_id = card.locator("canvas").get_attribute("id")
        assert chart_config(page, str(canvas_id), "chart.config.type") == "line"
    tab.watch.assert_clean()
    close_tab(tab)


def test_the_dashboard_gives_p95_latency_per_venue_kind_and_a_stepped_savings_line(
    wide: BrowserContext, site: Site, trades: list[dict[str, Any]]
) -> None:
    tab = open_tab(wide, site)
    ready(tab, "/")
    page = tab.page
    summary = site.api("GET", "/api/analytics/summary").json()
    kinds = [k["kind"] for k in summary["latency"]["byKind"]]
    assert "otc" in kinds and kinds[0] == "amm", kinds
    expect(page.locator("#stat-latency-kinds li.kind-latency[data-kind]")).to_have_count(len(kinds))
    # The headline is the AMM trades' p95, not the one set by an OTC settlement.
    expect(page.locator("#stat-p95-latency")).to_have_attribute("data-kind", "amm")
    amm = summary["latency"]["byKind"][0]
    assert float(page.locator("#stat-p95-latency").get_attribute("data-value") or "nan") == amm["p95Ms"]
    expect(page.locator('#stat-latency-kinds li[data-kind="otc"]')).to_contain_text("OTC")

    # Cumulative savings: stepped, never a smoothed curve that overshoots between points.
    assert chart_config(page, "chart-savings", "chart.data.datasets[0].stepped") == "before"
    assert chart_config(page, "chart-savings", "chart.data.datasets[0].tension") == 0
    # Savings in the table: dollars with basis points beside them.
    saved = page.locator("#recent-trades tbody tr[data-order-id] td:nth-child(5) .num").first
    assert re.search(r"\$|bps", saved.inner_text()), saved.inner_text()
    tab.watch.assert_clean()
    close_tab(tab)


def test_savings_show_basis_points_beside_dollars_and_hide_sub_cent_noise(
    wide: BrowserContext, site: Site
) -> None:
    tab = open_tab(wide, site, "/")
    shown = tab.page.evaluate(
        """async () => {
          const m = await import("/static/js/figures.js");
          return [m.formatSavings(0.000008, 0.06), m.formatSavings(0.47, 3.214), m.formatSavingsUsd(0),
                  m.formatSavings(12.5, null), m.formatListAmount("1496.077538"),
                  m.formatListAmount("134628.42"), m.formatListAmount("0.000021345678")];
        }"""
    )
    assert [s.replace("\u00a0", " ") for s in shown] == [
        "< $0.01 · 0.06 bps",
        "$0.47 · 3.21 bps",
        "$0.00",
        "$12.50",
        "1,496.08",
        "134,628.42",
        "0.00002135",
    ]
    tab.watch.assert_clean()
    close_tab(tab)


# --- analytics ------------------------------------------------------------------------------------


def test_analytics_draws_volume_and_savings_apart_and_latency_per_kind(
    wide: BrowserContext, site: Site, trades: list[dict[str, Any]]
) -> None:
    tab = open_tab(wide, site)
    ready(tab, "/analytics")
    page = tab.page
    for canvas in ("chart-venue-volume", "chart-venue-savings", "chart-strategy", "chart-strategy-savings"):
        expect(page.locator(f"canvas#{canvas}")).to_have_attribute("data-points", POSITIVE)
        # One dataset on one y axis: no dual axis making $130K and $0.47 the same height.
        assert chart_config(page, canvas, "chart.data.datasets.length") == 1, canvas
        assert chart_config(page, canvas, "Object.keys(chart.options.scales).sort()") == ["x", "y"], canvas
    names = [n.strip() for n in page.locator("#strategy-table tbody th").all_inner_texts()]
    assert names and all(re.fullmatch(r"[A-Z][a-z]+( [a-z]+)*", n) for n in names), names  # "Optimal split"
    latency = site.api("GET", "/api/analytics/latency").json()
    rows = page.locator("#latency-kinds tbody tr[data-kind]")
    expect(rows).to_have_count(len(latency["byKind"]))
    assert [r.get_attribute("data-kind") for r in rows.all()] == [k["kind"] for k in latency["byKind"]]
    tab.watch.assert_clean()
    close_tab(tab)


# --- pools -----------------------------------------------------------------------------------------


def test_the_pools_output_chart_has_a_log_axis(wide: BrowserContext, site: Site) -> None:
    tab = open_tab(wide, site)
    ready(tab, "/pools")
    page = tab.page
    for canvas in ("chart-curves", "chart-impact-curves"):
        assert chart_config(page, canvas, "chart.options.scales.y.type") == "logarithmic", canvas
        assert chart_config(page, canvas, "chart.options.scales.x.type") == "logarithmic", canvas
    tab.watch.assert_clean()
    close_tab(tab)
