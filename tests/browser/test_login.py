"""Signing in, in a real browser: the login page at phone width, keyboard only."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import (
    PHONE,
    Site,
    accessibility_problems,
    overflows,
    screenshot,
    sign_in,
    unlabelled_inputs,
)


def test_a_registrar_signs_in_from_the_keyboard_on_a_phone(site: Site, context_for: Any) -> None:
    page = context_for(PHONE).new_page()
    page.goto("/login")
    assert page.evaluate("document.activeElement.id") == "token"  # typing starts at once
    assert overflows(page) == 0
    assert unlabelled_inputs(page) == []
    assert accessibility_problems(page) == []
    page.keyboard.type("spt_not-a-real-token")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    error = page.locator("#token-error")
    assert "unknown or has been revoked" in error.inner_text()
    assert page.get_by_label("Access token").get_attribute("aria-invalid") == "true"
    screenshot(page, "login-refused-360px")
    sign_in(page, site.tokens["registrar"])
    assert page.url.endswith("/register")
    assert "registrar" in page.locator("header .who").inner_text()


def test_signing_out_ends_the_session(site: Site, context_for: Any) -> None:
    page = context_for().new_page()
    sign_in(page, site.tokens["coordinator"])
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/login")
    page.goto("/dashboard")
    assert "/login?next=/dashboard" in page.url


def test_a_revoked_account_on_the_live_dashboard_is_sent_to_sign_in(
    site: Site, context_for: Any
) -> None:
    # the dashboard polls its figures every 5 s; once the account is revoked the whole page
    # goes to the sign-in (not the sign-in page into the figures' place)
    page = context_for().new_page()
    sign_in(page, site.tokens["coordinator"])
    assert page.url.endswith("/dashboard")
    [account] = [a for a in site.service.accounts.list() if a.name == "coordinator"]
    site.service.accounts.revoke(account.id)
    page.wait_for_url("**/login?next=/dashboard", timeout=20_000)
    assert page.locator("#token").is_visible()
