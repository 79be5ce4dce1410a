"""The bots page in a real browser, on tests/test_browser.py's live stack (gunicorn and an RQ
worker on PostgreSQL and Redis: the bots run as RQ jobs, one per run, each queueing the next).

An operator gives the page their API key (kept in the tab's sessionStorage): the empty state; a
flow bot made with the form runs in the worker and its order shows in its actions; a bad config
is refused on its field; the dashboard's live feed shows the bot's actions; stop and delete work.
Screenshots at 1400 px and 390 px (bots-*.png); at 390 px nothing overflows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests import test_browser
from tests.test_browser import (
    ACTION_TIMEOUT_MS,
    ORDER_TIMEOUT_MS,
    PHONE,
    Site,
    close_tab,
    horizontal_overflow,
    open_tab,
)
from tests.test_browser_portfolio import operator as operator_fixture

site = test_browser.site
browser = test_browser.browser
operator = operator_fixture

pytestmark = pytest.mark.browser

WIDE = {"width": 1400, "height": 900}
CARD = "#bots-list .bot-card"


def _context(browser: Browser, viewport: dict[str, int]) -> Iterator[BrowserContext]:
    created = browser.new_context(
        viewport=viewport, reduced_motion="reduce", timezone_id="UTC", locale="en-GB", service_workers="block"
    )
    created.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield created
    finally:
        created.close()


@pytest.fixture
def wide(browser: Browser) -> Iterator[BrowserContext]:
    yield from _context(browser, WIDE)


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    yield from _context(browser, PHONE)


def log_in(context: BrowserContext, site: Site, key: str) -> test_browser.Tab:
    tab = open_tab(context, site, "/bots")
    expect(tab.page.locator("#bots-page")).to_have_attribute("data-state", "login")
    tab.page.locator("#operator-key").fill(key)
    tab.page.locator("#operator-key-submit").click()
    expect(tab.page.locator("#bots-content")).to_be_visible()
    return tab


def test_the_page_asks_for_an_operator_key_and_refuses_a_traders(wide: BrowserContext, site: Site) -> None:
    tab = open_tab(wide, site, "/bots")
    expect(tab.page.locator("#bots-login")).to_be_visible()
    expect(tab.page.locator("#bots-content")).to_be_hidden()
    tab.page.locator("#operator-key").fill(site.key)  # the demo trader's key
    with tab.watch.provoking(403, "/api/bots"):
        tab.page.locator("#operator-key-submit").click()
        expect(tab.page.locator("#operator-key + .invalid-feedback")).to_have_text(
            "That key is not an operator's."
        )
    expect(tab.page.locator("#bots-content")).to_be_hidden()
    tab.screenshot("bots-key-1400")
    close_tab(tab)


def test_an_operator_creates_a_bot_that_trades_then_stops_and_deletes_it(
    wide: BrowserContext, phone: BrowserContext, site: Site, operator: str
) -> None:
    tab = log_in(wide, site, operator)
    page = tab.page
    expect(page.locator("#bots-page")).to_have_attribute("data-state", "empty")
    expect(page.locator("#bots-empty")).to_be_visible()
    tab.screenshot("bots-empty-1400")

    # A bad config is refused on its field, and nothing is made.
    page.locator("#bot-name").fill("bad")
    page.locator("#bot-config").fill('{"size": "-1"}')
    with tab.watch.provoking(400, "/api/bots"):
        page.locator("#bot-create").click()
        expect(page.locator("#bot-config")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#bot-config + .invalid-feedback")).to_contain_text("config.size")
    expect(page.locator(CARD)).to_have_count(0)

    page.locator("#bot-kind").select_option("flow")  # the default config again
    page.locator("#bot-name").fill("demo flow")
    page.locator("#bot-interval").fill("2")
    page.locator("#bot-create").click()
    card = page.locator(CARD)
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-state", "running")
    # It runs in the RQ worker; its first order shows among its actions (refreshed on bot_action).
    expect(card.locator(".bot-actions li[data-kind='order']").first).to_be_visible(timeout=ORDER_TIMEOUT_MS)
    expect(card.locator("canvas.bot-chart")).to_have_attribute("data-updates", test_browser.POSITIVE)
    tab.screenshot("bots-1400")

    dashboard = open_tab(wide, site, "/")
    expect(dashboard.page.locator("#bot-feed li").first).to_be_visible(timeout=ORDER_TIMEOUT_MS)
    dashboard.page.locator("#bot-feed").scroll_into_view_if_needed()
    dashboard.screenshot("bots-dashboard-feed-1400")
    close_tab(dashboard)

    small = log_in(phone, site, operator)
    expect(small.page.locator(CARD)).to_have_count(1)
    small.screenshot("bots-390")
    assert horizontal_overflow(small.page) == []
    close_tab(small)

    card.locator(".bot-stop").click()
    expect(card).to_have_attribute("data-state", "stopped")
    expect(card.locator(".bot-reason")).to_contain_text("stopped by browser-ops")
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator(".bot-delete").click()
    expect(page.locator(CARD)).to_have_count(0)
    expect(page.locator("#bots-page")).to_have_attribute("data-state", "empty")
    close_tab(tab)
