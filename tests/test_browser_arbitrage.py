"""The arbitrage panel of the pools page in a real browser (tests/test_browser.py's stack and helpers).

A fresh stack's venues are seeded at the reference prices: the panel says there is no opportunity.
One pool's stored reserves are then moved (as one-sided flow would; an order routed by the optimal
split would move every path alike), and within its refresh the panel lists the loops that pay,
without a reload. Screenshots at 1400 px and 390 px (arb-*.png); at 390 px nothing
overflows and numbers do not wrap.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Error, expect

from models import AmmPool
from tests import test_browser
from tests.test_browser import (
    ACTION_TIMEOUT_MS,
    ORDER_TIMEOUT_MS,
    PHONE,
    POSITIVE,
    SCREENSHOTS,
    Site,
    close_tab,
    horizontal_overflow,
    open_tab,
    ready_pools,
    wrapped_numbers,
)
from tests.waiting import wait_until

site = test_browser.site
browser = test_browser.browser

pytestmark = pytest.mark.browser

WIDE = {"width": 1400, "height": 900}
ROWS = "#arb-table tbody tr[data-path][data-kind]"


def misprice(site: Site, pool_id: str, percent: int) -> None:
    """Scale one stored pool's token_b reserve to ``percent`` % (as flow would move its price)."""
    engine = sa.create_engine(site.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(AmmPool)
                .where(AmmPool.id == pool_id)
                .values(reserve_b=AmmPool.reserve_b * percent // 100)
            )
    finally:
        engine.dispose()


def test_the_pools_page_lists_arbitrage_opportunities_live_once_a_trade_moves_a_pool(
    browser: Browser, site: Site
) -> None:
    wide = browser.new_context(viewport=WIDE, reduced_motion="reduce", timezone_id="UTC", locale="en-GB")
    wide.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        tab = open_tab(wide, site, "/pools")
        page = tab.page
        ready_pools(tab)
        tab.wait_connected()
        panel = page.locator("#arb-panel")
        expect(panel).to_have_attribute("data-state", "empty")
        expect(page.locator("#arb-empty")).to_be_visible()
        expect(page.locator(ROWS)).to_have_count(0)
        tab.screenshot("arb-empty-1400")
        tab.mark()

        misprice(site, "raydium-sol-usdc", 106)  # SOL 6 % dearer on one pool (no live event is sent)

        def listed() -> list[dict[str, Any]]:  # the web's venue snapshot is refreshed within its TTL
            body = site.api("GET", "/api/arbitrage/opportunities?limit=20").json()
            return list(body["opportunities"])

        wait_until(listed, "an opportunity on the mispriced pool", interval_s=0.2)
        expect(panel).to_have_attribute("data-state", "ready", timeout=ORDER_TIMEOUT_MS)
        expect(panel).to_have_attribute("data-updates", POSITIVE)
        expect(page.locator("#arb-empty")).to_be_hidden()
        rows = page.locator(ROWS)
        expect(rows.first).to_be_visible()
        first = rows.first
        assert first.get_attribute("data-kind") in ("cross_venue", "cycle")
        path = str(first.get_attribute("data-path")).split(">")
        assert path[0] == path[-1] and len(path) in (3, 4), path
        expect(first.locator(".arb-profit-usd")).to_contain_text("$")
        tab.assert_not_reloaded()
        tab.screenshot("arb-1400")
        panel_shot = SCREENSHOTS / "arb-panel-1400.png"
        page.locator("#arb-panel").screenshot(path=str(panel_shot), animations="disabled")
        tab.watch.assert_clean()
        close_tab(tab)
    finally:
        with contextlib.suppress(Error):
            wide.close()

    phone = browser.new_context(viewport=PHONE, reduced_motion="reduce", timezone_id="UTC", locale="en-GB")
    phone.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        tab = open_tab(phone, site, "/pools")
        ready_pools(tab)
        expect(tab.page.locator("#arb-panel")).to_have_attribute("data-state", "ready")
        tab.page.locator("#arb-panel").scroll_into_view_if_needed()
        tab.screenshot("arb-phone-390")
        panel_shot = SCREENSHOTS / "arb-panel-phone-390.png"
        tab.page.locator("#arb-panel").screenshot(path=str(panel_shot), animations="disabled")
        overflow = horizontal_overflow(tab.page)
        assert not overflow, "/pools overflows 390px: " + "; ".join(overflow)
        wrapped = wrapped_numbers(tab.page)
        assert not wrapped, "/pools: numbers wrap at 390px: " + "; ".join(wrapped)
        tab.watch.assert_clean()
        close_tab(tab)
    finally:
        with contextlib.suppress(Error):
            phone.close()
