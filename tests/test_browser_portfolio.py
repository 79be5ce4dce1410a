"""The portfolio panel, the trade page's portfolio value and the trading-halt banner in a real browser.

The live stack (gunicorn and an RQ worker on PostgreSQL and Redis) and the browser are
tests/test_browser.py's. Screenshots at 1400 and 390 px wide land in test-output/screenshots/
(portfolio-*.png, halt-*.png) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests import test_browser
from tests.test_browser import (
    ACTION_TIMEOUT_MS,
    PHONE,
    POSITIVE,
    Site,
    close_tab,
    horizontal_overflow,
    open_tab,
)

site = test_browser.site
browser = test_browser.browser
first_order = test_browser.first_order

pytestmark = pytest.mark.browser

WIDE = {"width": 1400, "height": 900}


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


@pytest.fixture(scope="module")
def operator(site: Site) -> str:
    """An operator's API key on the site's database."""
    from app import create_app
    from models import db
    from services import get_services
    from tests.conftest import base_overrides
    from venue_state import create_operator_account

    app = create_app(base_overrides(site.database_url), role="worker")
    try:
        with app.app_context():
            _, key = create_operator_account(db.session, "browser-ops")
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    finally:
        get_services(app).shutdown()
    return key


def set_halt(site: Site, key: str, halted: bool, reason: str = "") -> None:
    r = site.api(
        "POST",
        "/api/admin/trading-halt",
        json={"halted": halted, "reason": reason},
        headers={"X-API-Key": key},
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("width", ["wide", "phone"])
def test_the_dashboard_shows_the_portfolio_panel(
    request: pytest.FixtureRequest, site: Site, first_order: dict[str, Any], width: str
) -> None:
    context: BrowserContext = request.getfixturevalue(width)
    tab = open_tab(context, site, "/")
    page = tab.page
    panel = page.locator("#portfolio-panel")
    expect(panel).to_have_attribute("data-state", "ready")
    expect(page.locator("#portfolio-holdings tbody tr[data-token='SOL']")).to_be_visible()
    expect(page.locator("#portfolio-value")).to_have_attribute("data-value", re.compile(r"^\d+(\.\d+)?$"))
    expect(page.locator("#chart-portfolio-value")).to_have_attribute("data-updates", POSITIVE)
    panel.scroll_into_view_if_needed()
    tab.screenshot(f"portfolio-dashboard-{width}")
    assert horizontal_overflow(page) == []
    close_tab(tab)


@pytest.mark.parametrize("width", ["wide", "phone"])
def test_the_trade_page_shows_the_portfolio_value_and_what_you_pay_in_usd(
    request: pytest.FixtureRequest, site: Site, width: str
) -> None:
    context: BrowserContext = request.getfixturevalue(width)
    tab = open_tab(context, site, "/trade")
    page = tab.page
    expect(page.locator("#trade-form")).to_have_attribute("data-ready", "true")
    expect(page.locator("#portfolio-value-usd")).to_have_attribute("data-value", re.compile(r"^\d+(\.\d+)?$"))
    page.locator("#amount-in").fill("2")
    expect(page.locator("#amount-in-usd")).to_have_text(re.compile(r"^≈ \$\d"))
    tab.screenshot(f"portfolio-trade-{width}")
    assert horizontal_overflow(page) == []
    close_tab(tab)


def test_a_halt_shows_its_banner_live_on_every_page_and_lifting_it_hides_it(
    wide: BrowserContext, phone: BrowserContext, site: Site, operator: str
) -> None:
    tab = open_tab(wide, site, "/trade")
    banner = tab.page.locator("#trading-halt-banner")
    expect(banner).to_be_hidden()
    tab.wait_connected()
    try:
        set_halt(site, operator, True, "scheduled maintenance")
        expect(banner).to_be_visible()  # the trading_halt event, no reload
        expect(banner).to_contain_text("scheduled maintenance")
        tab.screenshot("halt-trade-wide")
        small = open_tab(phone, site, "/orders")
        expect(small.page.locator("#trading-halt-banner")).to_be_visible()  # rendered with the page
        small.screenshot("halt-orders-phone")
        assert horizontal_overflow(small.page) == []
        close_tab(small)
    finally:
        set_halt(site, operator, False)
    expect(banner).to_be_hidden()
    close_tab(tab)


def test_an_order_above_the_impact_limit_needs_the_traders_consent(
    wide: BrowserContext, site: Site, operator: str
) -> None:
    r = site.api("PUT", "/api/accounts/me/limits", json={"maxImpactBps": "5"})
    assert r.status_code == 200, r.text
    try:
        tab = open_tab(wide, site, "/trade")
        page = tab.page
        expect(page.locator("#trade-form")).to_have_attribute("data-ready", "true")
        expect(page.locator("#max-impact-limit")).to_have_text(re.compile(r"^5(\.0+)? bps$"))
        page.locator("#amount-in").fill("2")  # about 20 bps on the pools
        group = page.locator("#accept-high-impact-group")
        expect(group).to_be_visible()
        with tab.watch.provoking(422, "/api/orders/execute"):
            with page.expect_response(lambda r: r.url.endswith("/api/orders/execute")) as refused:
                page.locator("#submit-order").click()
            assert refused.value.status == 422
            assert refused.value.json()["error"]["field"] == "maxImpactBps"
        expect(page.locator("#trade-error")).to_contain_text("price impact")
        tab.screenshot("portfolio-trade-impact-consent-wide")
        page.locator("#accept-high-impact").check()
        with page.expect_response(lambda r: r.url.endswith("/api/orders/execute")) as accepted:
            page.locator("#submit-order").click()
        assert accepted.value.status == 202, accepted.value.text()
        assert accepted.value.request.post_data_json["acceptHighImpact"] is True
        expect(page.locator("#order-status")).to_have_attribute("data-status", "confirmed", timeout=30_000)
        tab.watch.assert_clean()
        close_tab(tab)
    finally:
        account_id = site.api("GET", "/api/accounts/me").json()["accountId"]
        r = site.api(
            "PUT",
            f"/api/admin/accounts/{account_id}/limits",
            json={"maxImpactBps": None},
            headers={"X-API-Key": operator},
        )
        assert r.status_code == 200, r.text
