"""A day of the operation in real Chromium: a registrar registers and boards a person, the
coordinator sees the figures change, a party's liaison acknowledges the notification and can
reach no page with personal data. Screenshots of each step are kept as test artifacts."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page

from tests.browser.conftest import (
    LAPTOP,
    PHONE,
    Site,
    accessibility_problems,
    overflows,
    screenshot,
    sign_in,
    unlabelled_inputs,
)

# unique, so that finding any of them on a page means personal data leaked there
CANARY = {
    "given_name": "Zlatoslavakanary",
    "family_name": "Vyshyvankanarenko",
    "document_number": "KANARY-9127734",
    "phone": "+380 99 712 7734",
    "notes": "kanary note: allergic to penicillin",
}


def _notify_second_convoy(site: Site) -> str:
    """The coordinator notifies a second trip (through the API, as a planner's tool would)."""
    body = {
        "movement": "convoy-2",
        "route": "azovstal-zaporizhzhia",
        "vehicles": ["bus-06", "bus-07"],
        "departs_at": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
        "purpose": "Second trip from Azovstal for those who registered since.",
    }
    request = urllib.request.Request(
        f"{site.base}/api/v1/notifications",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {site.tokens['coordinator']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
    return "convoy-2"


def _figure(page: Page, name: str) -> int:
    return int(page.locator(f"#figure-{name}").inner_text().replace(",", "").strip())


def _check_page(page: Page, name: str) -> None:
    """What every page must be: no sideways scrolling at its width, every input labelled, no
    serious accessibility problem; and a screenshot."""
    assert overflows(page) == 0, f"{name}: wider than the window"
    assert unlabelled_inputs(page) == [], name
    assert accessibility_problems(page) == [], name
    screenshot(page, name)


def test_register_board_see_it_on_the_dashboard_acknowledge(  # noqa: PLR0915 - one story
    site: Site, context_for: Any
) -> None:
    movement = _notify_second_convoy(site)

    coordinator = context_for(LAPTOP).new_page()
    sign_in(coordinator, site.tokens["coordinator"])
    coordinator.goto("/dashboard")
    registered, boarded = _figure(coordinator, "registered"), _figure(coordinator, "boarded")
    _check_page(coordinator, "1-dashboard-before")

    # the registrar, on a phone at the pickup point, from the keyboard
    registrar = context_for(PHONE).new_page()
    sign_in(registrar, site.tokens["registrar"])
    registrar.goto("/register")
    _check_page(registrar, "2-register-form-360px")
    assert registrar.evaluate("document.activeElement.name") == "household"
    registrar.keyboard.type("H-browser-01")
    registrar.locator("#site").select_option("azovstal")
    registrar.locator("#destination").select_option("zaporizhzhia")
    for field, value in CANARY.items():
        registrar.locator(f"#{field}").fill(value)
    registrar.locator("#birth_date").fill("1950-03-14")
    registrar.locator("#sex").select_option("female")
    with registrar.expect_navigation():  # the age band forgotten: a slip of the keyboard
        registrar.locator("#phone").press("Enter")
    error = registrar.locator("#age_band-error")
    assert error.is_visible()
    assert registrar.locator("#age_band").get_attribute("aria-invalid") == "true"
    assert registrar.evaluate("document.activeElement.id") == "age_band"  # focus on the fault
    assert registrar.locator("#family_name").input_value() == CANARY["family_name"]  # kept
    for value in CANARY.values():  # kept in the inputs, never quoted in a message
        assert value not in registrar.locator(".error, [role=alert]").all_inner_texts()
    _check_page(registrar, "3-register-inline-error-360px")
    registrar.locator("#age_band").select_option("60+")
    with registrar.expect_navigation():
        registrar.locator("#phone").press("Enter")
    assert re.search(r"/registrations/[A-Za-z0-9_-]+$", registrar.url), registrar.url
    ref = registrar.url.rsplit("/", 1)[1]
    assert ref in registrar.locator("main").inner_text()
    _check_page(registrar, "4-registration-slip-360px")

    registrar.goto("/boarding")
    registrar.locator("#person").fill(ref)
    registrar.locator("#movement").select_option(movement)
    # choosing the movement reloads the vehicle list (htmx): choose the vehicle once it has
    # been swapped in, not in the list about to be replaced
    registrar.wait_for_function(  # a function, not an expression: the CSP forbids eval
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    registrar.locator("#vehicle").select_option("bus-06")
    with registrar.expect_navigation():
        registrar.locator("#person").press("Enter")
    confirmation = registrar.locator("main").inner_text()
    assert ref in confirmation
    assert "bus-06" in confirmation
    _check_page(registrar, "5-boarded-360px")

    # the coordinator sees it: on reload, and live (htmx polls the figures)
    coordinator.wait_for_function(
        "([r, b]) => Number(document.querySelector('#figure-registered').textContent"
        ".replace(/,/g, '')) === r && Number(document.querySelector('#figure-boarded')"
        ".textContent.replace(/,/g, '')) === b",
        arg=[registered + 1, boarded + 1],
        timeout=20_000,
    )
    coordinator.reload()
    assert _figure(coordinator, "registered") == registered + 1
    assert _figure(coordinator, "boarded") == boarded + 1
    _check_page(coordinator, "6-dashboard-after")
    coordinator.goto("/map")
    assert coordinator.locator("svg[role=img]").count() >= 1
    _check_page(coordinator, "7-route-map")

    # a party's liaison acknowledges the new notification
    liaison = context_for(PHONE).new_page()
    sign_in(liaison, site.tokens["party-liaison"])
    assert liaison.url.endswith("/liaison")
    _check_page(liaison, "8-liaison-360px")
    form = liaison.locator(f"form[action='/liaison/acknowledge']:has(input[value='{movement}'])")
    with liaison.expect_navigation():
        form.get_by_role("button").click()
    assert "acknowledged" in liaison.locator("main").inner_text().lower()
    _check_page(liaison, "9-liaison-acknowledged-360px")
    state = site.service.state()
    responses = state.movements[movement].responses
    assert [(r.party, r.kind) for r in responses] == [("russia", "acknowledged")]

    # ...and can reach no page with personal data, nor any page that shows it the canary
    for path in ("/register", "/boarding", f"/registrations/{ref}", "/dashboard"):
        answer = liaison.goto(path)
        assert answer is not None
        assert answer.status == 403, path
    for path in ("/liaison", "/map", "/public", f"/public/{state.operation}"):
        answer = liaison.goto(path)
        assert answer is not None
        assert answer.status == 200, path
        text = liaison.content()
        for value in CANARY.values():
            assert value not in text, (path, value)
