"""The public report as the press and the parties read it: with JavaScript off, on a phone."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import (
    LAPTOP,
    PHONE,
    Site,
    accessibility_problems,
    overflows,
    screenshot,
)


def test_the_public_report_reads_with_javascript_off_on_a_phone(
    site: Site, context_for: Any
) -> None:
    operation = site.service.state().operation
    page = context_for(PHONE, js=False).new_page()
    page.goto("/public")
    link = page.get_by_role("link", name=site.service.state().name or operation)
    with page.expect_navigation():
        link.click()
    assert page.url.endswith(f"/public/{operation}")
    text = page.locator("main").inner_text()
    published = site.service.op.report(site.service.op.log.store.latest_checkpoint().size)
    assert str(published.figures.registered) in text  # 101 people: no small cell
    assert "Check it yourself" in text
    assert "safepassage checkpoint verify" in text
    assert page.locator("pre").first.inner_text().startswith(site.service.op.log.origin)
    assert overflows(page) == 0
    screenshot(page, "public-report-no-js-360px")
    assert page.locator("script").count() == 0


def test_public_pages_pass_the_accessibility_audit(site: Site, context_for: Any) -> None:
    operation = site.service.state().operation
    page = context_for(LAPTOP).new_page()
    for path in ("/public", f"/public/{operation}"):
        page.goto(path)
        assert accessibility_problems(page) == [], path
    screenshot(page, "public-report-laptop")
    with page.expect_download() as download:
        page.get_by_role("link", name="PDF").first.click()
    assert download.value.suggested_filename.endswith(".pdf")
