"""The backtests page in a real browser (the live stack, browser and watched tabs of
tests/test_browser.py: gunicorn, an RQ worker, PostgreSQL, Redis, Chromium).

A person generates a dataset (its progress bar fills from dataset_progress events), starts one run
per routing strategy, sees them finish, the run's metrics, equity and drawdown charts and trades,
compares them in one table and one chart, and has a CSV link; no console error or failed request
on the way, no horizontal overflow at 1400 or 390 px. Screenshots land in test-output/screenshots/
(backtests-*.png)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests import test_browser
from tests.test_browser import (
    ORDER_TIMEOUT_MS,
    PHONE,
    POSITIVE,
    Site,
    Tab,
    close_tab,
    horizontal_overflow,
    open_tab,
)

site = test_browser.site
browser = test_browser.browser
context = test_browser.context

pytestmark = pytest.mark.browser

WIDE = {"width": 1400, "height": 900}


def ready(tab: Tab) -> None:
    expect(tab.page.locator("#backtests-page")).to_have_attribute("data-state", "ready")


def test_a_person_generates_data_runs_every_strategy_and_compares_them(
    browser: Browser, context: BrowserContext, site: Site
) -> None:
    tab = open_tab(context, site, "/backtests")
    page = tab.page
    page.set_viewport_size(WIDE)
    ready(tab)
    tab.wait_connected()

    page.fill("#gen-dataset", "browser")
    page.fill("#gen-days", "0.5")
    page.fill("#gen-step", "300")
    page.click("#gen-submit")
    expect(page.locator("#gen-progress")).to_have_attribute(
        "data-state", "completed", timeout=ORDER_TIMEOUT_MS
    )
    expect(page.locator("#bt-dataset")).to_have_value("browser")

    page.check("#bt-every-strategy")
    page.click("#bt-submit")
    rows = page.locator("#runs-table tbody tr[data-backtest-id]")
    expect(rows).to_have_count(5)
    expect(page.locator('#runs-table tbody tr[data-status="completed"]')).to_have_count(
        5, timeout=ORDER_TIMEOUT_MS
    )

    detail = page.locator("#run-detail")
    expect(detail).to_be_visible()
    expect(detail).to_have_attribute("data-status", "completed", timeout=ORDER_TIMEOUT_MS)
    for chart in ("canvas#chart-equity", "canvas#chart-drawdown"):
        expect(page.locator(chart)).to_have_attribute("data-updates", POSITIVE)
        expect(page.locator(chart)).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    expect(page.locator('#detail-metrics [data-metric="trade_count"]')).to_have_text("12")
    expect(page.locator("#trades-table tbody tr")).to_have_count(12)
    expect(page.locator("#detail-csv")).to_have_attribute("href", re.compile(r"^/backtests/\w+/trades\.csv$"))

    page.click("#compare-selected")
    compare = page.locator("#compare")
    expect(compare).to_have_attribute("data-runs", "5")
    expect(page.locator("#compare-table thead th")).to_have_count(6)
    expect(page.locator('#compare-table tbody tr[data-metric="total_cost_bps"] td')).to_have_count(5)
    expect(page.locator("canvas#chart-compare")).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))

    # The CSV the link points at: every trade, as the API has them.
    href = page.locator("#detail-csv").get_attribute("href")
    csv = page.request.get(f"{site.url}{href}")
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text().strip().splitlines()) == 1 + 12

    assert horizontal_overflow(page) == []
    page.locator("#run-detail").scroll_into_view_if_needed()
    tab.screenshot("backtests-1400")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert horizontal_overflow(page) == []
    tab.screenshot("backtests-390")
    tab.watch.assert_clean()
    close_tab(tab)


def test_the_trade_page_draws_candles_from_the_recorded_history(
    browser: Browser, context: BrowserContext, site: Site
) -> None:
    # The worker's maintenance records a live snapshot when it starts (HISTORY_INTERVAL_S).
    candles = site.api("GET", "/api/prices/history?token=SOL&interval=15m").json()["candles"]
    assert candles, "the worker recorded no live history"
    tab = open_tab(context, site, "/trade")
    page = tab.page
    page.set_viewport_size(WIDE)
    section = page.locator("#trade-price-history")
    expect(section).to_have_attribute("data-state", "ready")
    expect(section).to_have_attribute("data-token", "SOL")
    expect(page.locator("canvas#chart-trade-candles")).to_have_attribute(
        "data-points", re.compile(r"^[1-9]\d*$")
    )
    page.select_option("#token-in", "JUP")
    expect(section).to_have_attribute("data-token", "JUP")
    expect(page.locator("#trade-price-token")).to_have_text("JUP")
    assert horizontal_overflow(page) == []
    tab.screenshot("trade-candles-1400")
    tab.watch.assert_clean()
    close_tab(tab)
