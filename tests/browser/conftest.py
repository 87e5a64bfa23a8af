"""Real headless Chromium against the real server on a socket.

Debian's ``chromium`` (``/usr/bin/chromium``; ``make test`` installs it when missing), driven by
Playwright for Python, which never downloads a browser of its own. The server is the one
``safepassage serve`` runs (``create_app`` under uvicorn), on a copy of the demo operation, with
one account per role. Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from safepassage.server.app import create_app
from safepassage.server.run import serving
from safepassage.server.service import Service
from tests.demo import unlocked_copy
from tests.server.conftest import make_accounts

CHROMIUM = os.environ.get("SAFEPASSAGE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-4.14.1.min.js"
FLAGS = [
    # as root in a container; and no traffic but to the page under test (the machine's network
    # is closed: Chromium's own background requests would be refused, many at a time)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="package")  # its event loop must be gone before other tests run theirs
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
    yield browser
    browser.close()


@dataclass
class Site:
    """The served operation: its base URL, its service, a token per account of the demo."""

    base: str
    service: Service
    tokens: dict[str, str]
    directory: Path


@pytest.fixture
def site(demo_template: Path, tmp_path: Path) -> Iterator[Site]:
    directory = tmp_path / "azovstal"
    service = unlocked_copy(demo_template, directory)
    try:
        tokens = make_accounts(service)
        with serving(create_app(service)) as base:
            yield Site(base, service, tokens, directory)
    finally:
        service.close()


@pytest.fixture
def context_for(browser: Browser, site: Site) -> Iterator[Any]:
    """``context_for(viewport=..., js=True)``: a fresh browser profile (its own cookies)."""
    made: list[BrowserContext] = []
    console_errors: list[str] = []

    def make(viewport: dict[str, int] = LAPTOP, *, js: bool = True) -> BrowserContext:
        context = browser.new_context(
            base_url=site.base,
            viewport=viewport,
            java_script_enabled=js,  # type: ignore[arg-type]
        )
        context.set_default_timeout(15_000)
        context.on("console", lambda m: m.type == "error" and not _answered(m.text)
                   and console_errors.append(m.text))  # fmt: skip
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    # a script the CSP refused, a failed request, a JavaScript error: the page is broken
    assert console_errors == []


def _answered(message: str) -> bool:
    """Chromium's note on a page answered 4xx (a refused form, a forbidden page): expected."""
    return message.startswith("Failed to load resource: the server responded with a status of 4")


def sign_in(page: Page, token: str) -> None:
    """Sign in as a user does: the login page, the token pasted, Enter."""
    page.goto("/login")
    page.get_by_label("Access token").fill(token)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def screenshot(page: Page, name: str) -> Path:
    """Keep what the page looked like (``test-artifacts/screenshots/NAME.png``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations (WCAG 2.1 A and AA rules) on the page now
    open, as text.

    axe is a script injected into the page, which the page's CSP rightly refuses: it runs in a
    second profile with the same cookies that does not enforce CSP, on the same URL."""
    browser = page.context.browser
    assert browser is not None
    context = browser.new_context(
        storage_state=page.context.storage_state(),
        bypass_csp=True,
        viewport=page.viewport_size,  # type: ignore[arg-type]
    )
    try:
        audited = context.new_page()
        audited.goto(page.url)
        audited.add_script_tag(path=str(AXE))
        result = audited.evaluate(
            "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        )
    finally:
        context.close()
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def overflows(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def unlabelled_inputs(page: Page) -> list[str]:
    """Form controls a screen reader would announce without a name."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                .filter(e => e.type !== 'hidden')
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                             && !e.getAttribute('aria-labelledby'))
                .map(e => e.outerHTML.slice(0, 120))"""
        )
    )
