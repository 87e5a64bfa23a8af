"""The staff pages, used as a registrar, a coordinator or a liaison officer would use them, on
the served demo operation (``tests/web/conftest.py``)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import typing
import xml.etree.ElementTree as ET

import pytest

from safepassage.app.operation import Operation
from safepassage.app.receipts import public_keys
from safepassage.events import catalogue as c
from safepassage.events.envelope import parse_event
from safepassage.receipts.keys import PublicKeys
from safepassage.receipts.render import read_receipt_file
from safepassage.receipts.verify import verify_receipt
from safepassage.server.models import RegistrationIn
from tests.web.conftest import ACCOUNTS, OPEN_MOVEMENT, Site, element, elements

PERSON = {
    "household": "",
    "site": "azovstal",
    "destination": "zaporizhzhia",
    "age_band": "18-59",
    "sex": "female",
    "given_name": "Oryna",
    "family_name": "Zelenchuk",
    "birth_date": "1990-05-17",
    "document_number": "",
    "phone": "",
    "notes": "",
}


def figure(site: Site, name: str, who: str = "coordinator") -> int:
    page = site.browser(who).get("/dashboard")
    assert page.status_code == 200
    found = element(page.text, f"figure-{name}")
    assert found is not None, name
    return int(found.text)


def form_of(html: str, name: str) -> str:
    """The value of the input named ``name`` (the first one)."""
    for e in elements(html):
        if e.tag == "input" and e.attrs.get("name") == name:
            return e.attrs.get("value", "")
    raise AssertionError(f"no input named {name}")


def post_registration(served: Site, who: str = "registrar", **fields: typing.Any):
    browser = served.browser(who)
    page = browser.get("/register")
    data = {**PERSON, **fields, "csrf": served.csrf(who),
            "submission_id": form_of(page.text, "submission_id")}  # fmt: skip
    return browser.post("/register", data=data)


def register(served: Site, who: str = "registrar", **fields: typing.Any) -> str:
    answer = post_registration(served, who, **fields)
    assert answer.status_code == 303, answer.text
    ref = answer.headers["location"].removeprefix("/registrations/")
    assert ref in served.service.state().persons
    return ref


def last_event(site: Site):
    return parse_event(site.service.op.log.store.entry(site.log_size() - 1))


# --- the dashboard ---------------------------------------------------------------------------


def test_dashboard_shows_the_exact_figures_and_a_registration_through_the_form_counts(site):
    assert figure(site, "registered") == 101
    assert figure(site, "arrived") == 69
    assert figure(site, "boarded") == 101
    assert figure(site, "in-transit") == 0
    assert figure(site, "unaccounted") == 0
    register(site)
    assert figure(site, "registered") == 102
    assert figure(site, "registered", who="facilitator") == 102


def test_dashboard_live_fragment_is_polled_and_the_page_is_whole_without_it(site):
    browser = site.browser("coordinator")
    page = browser.get("/dashboard").text
    live = element(page, "live")
    assert live is not None
    assert live.attrs["hx-get"] == "/dashboard/live"
    assert live.attrs["hx-trigger"] == "every 5s"
    assert live.attrs["hx-swap"] == "outerHTML"
    fragment = browser.get("/dashboard/live")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<div id="live"')
    assert element(fragment.text, "figure-registered").text == "101"
    assert "<script>" not in page
    assert " style=" not in page


def test_dashboard_shows_each_vehicle_along_its_route(site):
    page = site.browser("coordinator").get("/dashboard").text
    done = element(page, "progress-convoy-1-bus-01")
    assert done is not None
    assert "reached Zaporizhzhia reception centre, the end of its route (5 of 5 sites)" in done.text
    assert "Manhush checkpoint (checkpoint): passed" in done.text
    waiting = element(page, f"progress-{OPEN_MOVEMENT}-bus-06")
    assert waiting is not None
    assert "waiting at Azovstal plant" in waiting.text
    assert "not yet" in waiting.text


def test_dashboard_alert_links_to_the_entries_behind_it(site):
    # a party's observer counts 7 on board an empty bus: recorded, and raised as an alert
    liaison = site.browser("party-liaison")
    answer = liaison.post("/liaison/headcount", data={
        "csrf": site.csrf("party-liaison"), "movement": OPEN_MOVEMENT, "vehicle": "bus-06",
        "site": "azovstal", "headcount": "7",
    })  # fmt: skip
    assert answer.status_code == 303
    index = site.log_size() - 1
    page = site.browser("coordinator").get("/dashboard").text
    assert "bus-06 of convoy-2 at Azovstal plant, Mariupol: russia&#39;s observer counted 7" in page
    assert f'href="/entries/{index}"' in page
    entry = site.browser("coordinator").get(f"/entries/{index}")
    assert entry.status_code == 200
    assert element(entry.text, "entry-kind").text == "headcount.attested"
    shown = json.loads(element(entry.text, "entry-json").text)
    assert shown == json.loads(site.service.op.log.store.entry(index))


def test_dashboard_notifications_show_each_partys_answer(site):
    page = site.browser("coordinator").get("/dashboard").text
    row = element(page, f"notification-{OPEN_MOVEMENT}")
    assert "no answer yet" in row.text
    assert "ukraine, russia" in row.text
    assert "ukraine acknowledged" in element(page, "notification-convoy-1").text


# --- the map and the entries -----------------------------------------------------------------


def test_map_draws_every_site_and_lists_them_in_a_table(site):
    page = site.browser("observer").get("/map")
    assert page.status_code == 200
    svg_text = re.search(r"<svg.*?</svg>", page.text, re.DOTALL).group(0)
    svg = ET.fromstring(svg_text)
    assert svg.attrib["role"] == "img"
    assert svg.attrib["aria-labelledby"] == "route-map-title route-map-desc"
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.find(f"{ns}title").text.startswith("Route map of Azovstal")
    assert len(svg.findall(f"{ns}polyline")) == 1
    labels = [t.text for t in svg.iter(f"{ns}text")]
    for declared in site.service.state().sites.values():
        assert f"{declared.name} ({declared.site_kind})" in labels
        row = element(page.text, f"site-{declared.site}")
        assert declared.name in row.text
        assert declared.site_kind in row.text
    assert "bus-06 (convoy-2)" in element(page.text, "site-azovstal").text


def test_an_entry_is_shown_as_recorded_and_a_missing_one_is_404(site):
    browser = site.browser("party-liaison")
    first = browser.get("/entries/0")
    assert first.status_code == 200
    assert element(first.text, "entry-kind").text == "operation.opened"
    assert browser.get(f"/entries/{site.log_size()}").status_code == 404
    assert browser.get("/entries/-1").status_code == 404


# --- registering -----------------------------------------------------------------------------


def test_the_registration_form_has_a_labelled_input_for_every_field(site):
    page = site.browser("registrar").get("/register").text
    found = elements(page)
    labels = {e.attrs["for"] for e in found if e.tag == "label" and "for" in e.attrs}
    ids = {e.attrs["id"]: e for e in found if "id" in e.attrs}
    for name in RegistrationIn.model_fields:
        if name in ("needs", "submission_id"):
            continue
        assert name in ids, name
        assert ids[name].attrs.get("name") == name
        assert name in labels, name
    for need in typing.get_args(c.Need):
        box = ids[f"need-{need}"]
        assert (box.attrs["type"], box.attrs["name"], box.attrs["value"]) == (
            "checkbox",
            "needs",
            need,
        )
        assert f"need-{need}" in labels
    assert "autofocus" in ids["household"].attrs
    sites = [e.attrs["value"] for e in found if e.tag == "option"]
    assert "azovstal" in sites
    assert "zaporizhzhia" in sites
    again = site.browser("registrar").get("/register").text
    assert form_of(page, "submission_id") != form_of(again, "submission_id")


def test_a_registration_leads_to_its_printable_slip_without_personal_data(site):
    answer = post_registration(site, needs=["medical", "pregnant"])
    assert answer.status_code == 303
    ref = answer.headers["location"].removeprefix("/registrations/")
    slip = site.browser("registrar").get(answer.headers["location"])
    assert slip.status_code == 200
    assert element(slip.text, "reference").text == ref
    person = site.service.state().persons[ref]
    assert person.needs == ("medical", "pregnant")
    assert element(slip.text, "slip-household").text == person.household
    assert element(slip.text, "slip-destination").text == "Zaporizhzhia reception centre"
    index = int(element(slip.text, "slip-index").text)
    assert site.service.op.index_of(person.registered_event) == index
    assert person.registered_event in slip.text
    assert "autofocus" in element(slip.text, "slip").attrs
    assert '<svg width="' in slip.text
    assert "qr" in slip.text
    for personal in ("Oryna", "Zelenchuk", "1990-05-17"):
        assert personal not in slip.text
    registered = parse_event(site.service.op.log.store.entry(index))
    assert registered.actor == ACCOUNTS["registrar"][2]
    # the next person of the household: household, site and destination filled in
    nxt = element(slip.text, "next-in-household").attrs["href"]
    form = site.browser("registrar").get(nxt).text
    assert element(form, "household").attrs["value"] == person.household
    assert "autofocus" in element(form, "given_name").attrs
    second = register(site, household=person.household, given_name="Iryna")
    assert site.service.state().persons[second].household == person.household


def test_bad_input_is_shown_next_to_each_field_and_nothing_is_written(site):
    before = site.written()
    answer = post_registration(site, given_name="", household="ab", birth_date="17/05/1990",
                               age_band="", needs=["flying"])  # fmt: skip
    assert answer.status_code == 422
    page = answer.text
    reasons = {
        "given_name": "is required",
        "household": "must be 6 to 64 letters, digits, '-' or '_'",
        "birth_date": "must be a date written YYYY-MM-DD",
        "age_band": "choose an age band",
    }
    for name, reason in reasons.items():
        field = element(page, name)
        assert field.attrs.get("aria-invalid") == "true", name
        assert f"{name}-error" in field.attrs["aria-describedby"].split()
        error = element(page, f"{name}-error")
        assert error.attrs["class"] == "error"
        assert reason.replace("'", "&#39;") in page or reason in error.text
        assert error.text == reason
    assert element(page, "needs-error").text == "is not one of the listed choices"
    # the values stay in the inputs, and no message repeats them
    assert element(page, "family_name").attrs["value"] == "Zelenchuk"
    assert element(page, "birth_date").attrs["value"] == "17/05/1990"
    assert element(page, "household").attrs["value"] == "ab"
    for e in elements(page):
        if e.attrs.get("class") == "error":
            assert "Zelenchuk" not in e.text
            assert "17/05/1990" not in e.text
    assert "autofocus" in element(page, "household").attrs
    assert site.written() == before


def test_a_rule_refusal_is_placed_next_to_its_field_and_nothing_is_written(site):
    before = site.written()
    answer = post_registration(site, site="zaporizhzhia")  # a reception centre, not a pickup
    assert answer.status_code == 409
    field = element(answer.text, "site")
    assert field.attrs["aria-invalid"] == "true"
    assert element(answer.text, "site-error").text == "'zaporizhzhia' is a reception, not a pickup"
    assert element(answer.text, "given_name").attrs["value"] == "Oryna"
    assert site.written() == before


def test_the_same_form_sent_twice_registers_one_person(site):
    browser = site.browser("registrar")
    page = browser.get("/register")
    data = {**PERSON, "csrf": site.csrf("registrar"),
            "submission_id": form_of(page.text, "submission_id")}  # fmt: skip
    size, records, people = site.written()
    first = browser.post("/register", data=data)
    second = browser.post("/register", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert site.log_size() == size + 1
    assert len(site.vault_records()) == len(records) + 1
    assert len(site.service.state().persons) == people + 1


def test_a_form_sent_to_a_server_whose_writer_died_gets_a_page_saying_so(site):
    browser = site.browser("registrar")
    page = browser.get("/register")
    data = {**PERSON, "csrf": site.csrf("registrar"),
            "submission_id": form_of(page.text, "submission_id")}  # fmt: skip
    size = site.log_size()
    pid = site.service.writer.pid
    os.kill(pid, signal.SIGKILL)
    for _ in range(2):  # whether or not the server has noticed yet
        answer = browser.post("/register", data=data)
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("text/html")
        assert "Cannot register here" in answer.text
        assert "stopped" in answer.text
    assert site.log_size() == size


def test_the_verifiable_receipt_is_offered_once_a_party_cosigned(site, tmp_path):
    ref = register(site)
    browser = site.browser("registrar")
    slip = browser.get(f"/registrations/{ref}").text
    assert element(slip, "receipt-link") is None
    assert (
        "will be available once a checkpoint covering log entry"
        in element(slip, "receipt-later").text
    )
    assert browser.get(f"/registrations/{ref}/receipt.pdf").status_code == 409
    cosigned = site.browser(None).post(
        "/api/v1/checkpoint/cosignatures", headers=site.api("party-liaison")
    )
    assert cosigned.status_code == 201
    slip = browser.get(f"/registrations/{ref}").text
    assert element(slip, "receipt-later") is None
    pdf = browser.get(element(slip, "receipt-link").attrs["href"])
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf.content)
    receipt = read_receipt_file(path)
    with Operation.open(site.directory) as op:
        keys = PublicKeys.from_json(public_keys(op))
    proven = verify_receipt(receipt, keys)
    assert proven.ref == ref
    assert proven.stage == "registration"


@pytest.mark.parametrize("who", ["party-liaison", "observer"])
def test_only_staff_open_a_slip(site, who):
    ref = next(iter(site.service.state().persons))
    assert site.browser(who).get(f"/registrations/{ref}").status_code == 403
    assert site.browser(who).get(f"/registrations/{ref}/receipt.pdf").status_code == 403


# --- boarding --------------------------------------------------------------------------------


def board(site: Site, person: str, vehicle: str = "bus-06", who: str = "registrar", **more: str):
    data = {"csrf": site.csrf(who), "person": person, "movement": OPEN_MOVEMENT,
            "vehicle": vehicle, **more}  # fmt: skip
    return site.browser(who).post("/boarding", data=data)


def test_boarding_through_the_form_is_signed_counted_and_ready_for_the_next(site):
    ref = register(site)
    boarded = figure(site, "boarded")
    answer = board(site, ref)
    assert answer.status_code == 303
    event = last_event(site)
    assert event.kind == "person.boarded"
    assert event.actor == ACCOUNTS["registrar"][2]
    assert (event.body.person, event.body.vehicle) == (ref, "bus-06")
    page = site.browser("registrar").get(answer.headers["location"]).text
    assert element(page, "boarded").text == f"Boarded {ref} on vehicle bus-06 (1/30 seats)."
    assert "autofocus" in element(page, "person").attrs
    assert element(page, "person").attrs["value"] == ""
    selected = {
        e.attrs.get("value") for e in elements(page) if e.tag == "option" and "selected" in e.attrs
    }
    assert {OPEN_MOVEMENT, "bus-06"} <= selected
    assert "1 / 30" in element(page, "load-bus-06").text
    assert figure(site, "boarded") == boarded + 1


def test_boarding_errors_name_the_field_and_write_nothing(site):
    before = site.written()
    unknown = board(site, "P-NOBODY00000")
    assert unknown.status_code == 409
    assert element(unknown.text, "person").attrs["aria-invalid"] == "true"
    reason = element(unknown.text, "person-error").text
    assert reason.startswith("unknown person")
    assert "P-NOBODY00000" not in reason
    assert element(unknown.text, "person").attrs["value"] == "P-NOBODY00000"
    malformed = board(site, "x")
    assert malformed.status_code == 422
    assert "reference" in element(malformed.text, "person-error").text
    assert site.written() == before
    # the ambulance has 2 seats: the third person is refused, next to the vehicle
    people = [register(site) for _ in range(3)]
    assert board(site, people[0], "ambulance-3").status_code == 303
    assert board(site, people[1], "ambulance-3").status_code == 303
    size = site.log_size()
    full = board(site, people[2], "ambulance-3")
    assert full.status_code == 409
    assert element(full.text, "vehicle-error").text == (
        "vehicle 'ambulance-3' is full: all 2 seats are taken"
    )
    assert site.log_size() == size


def test_boarding_lists_open_movements_only_and_their_loads(site):
    page = site.browser("facilitator").get("/boarding").text
    movements = [e.attrs["value"] for e in elements(page) if e.tag == "option"
                 and e.attrs.get("value", "").startswith("convoy")]  # fmt: skip
    assert movements == [OPEN_MOVEMENT]
    for vehicle in ("bus-06", "bus-07", "ambulance-3"):
        assert element(page, f"load-{vehicle}") is not None
    assert element(page, "load-bus-01") is None


# --- the liaison's page ------------------------------------------------------------------------


def test_a_liaison_acknowledges_and_the_log_holds_it_signed_by_their_actor(site):
    browser = site.browser("party-liaison")
    page = browser.get("/liaison").text
    assert "no answer yet" in element(page, f"own-{OPEN_MOVEMENT}").text
    answer = browser.post("/liaison/acknowledge", data={
        "csrf": site.csrf("party-liaison"), "movement": OPEN_MOVEMENT, "note": "Seen, 2 buses",
    })  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/liaison?entry=")
    event = last_event(site)
    assert event.kind == "movement.acknowledged"
    assert event.actor == "russia/liaison"
    assert event.body.note == "Seen, 2 buses"
    page = browser.get(answer.headers["location"]).text
    assert "acknowledgement is recorded" in element(page, "done").text
    assert "acknowledged" in element(page, f"own-{OPEN_MOVEMENT}").text
    dashboard = site.browser("coordinator").get("/dashboard").text
    assert "russia acknowledged" in element(dashboard, f"notification-{OPEN_MOVEMENT}").text


def test_an_objection_needs_a_reason_and_is_recorded_with_it(site):
    browser = site.browser("party-liaison")
    before = site.written()
    empty = browser.post("/liaison/object", data={
        "csrf": site.csrf("party-liaison"), "movement": OPEN_MOVEMENT, "reason": "",
    })  # fmt: skip
    assert empty.status_code == 422
    ident = f"reason-{OPEN_MOVEMENT}"
    assert element(empty.text, ident).attrs["aria-invalid"] == "true"
    assert element(empty.text, f"{ident}-error").text == "is required"
    assert site.written() == before
    done = browser.post("/liaison/object", data={
        "csrf": site.csrf("party-liaison"), "movement": OPEN_MOVEMENT,
        "reason": "Route not cleared",
    })  # fmt: skip
    assert done.status_code == 303
    event = last_event(site)
    assert (event.kind, event.actor, event.body.reason) == (
        "movement.objected",
        "russia/liaison",
        "Route not cleared",
    )
    page = browser.get(done.headers["location"]).text
    assert "objected" in element(page, f"own-{OPEN_MOVEMENT}").text


def test_a_bad_headcount_is_shown_next_to_its_field(site):
    before = site.written()
    answer = site.browser("party-liaison").post("/liaison/headcount", data={
        "csrf": site.csrf("party-liaison"), "movement": OPEN_MOVEMENT, "vehicle": "bus-01",
        "site": "azovstal", "headcount": "many",
    })  # fmt: skip
    assert answer.status_code == 422
    assert element(answer.text, "headcount-error").text == "must be a whole number"
    assert element(answer.text, "headcount").attrs["value"] == "many"
    refused = site.browser("party-liaison").post("/liaison/headcount", data={
        "csrf": site.csrf("party-liaison"), "movement": OPEN_MOVEMENT, "vehicle": "bus-01",
        "site": "azovstal", "headcount": "3",
    })  # fmt: skip
    assert refused.status_code == 409
    assert element(refused.text, "hc-vehicle-error").text == (
        "vehicle 'bus-01' is not part of movement 'convoy-2'"
    )
    assert site.written() == before


def test_an_observer_reads_the_liaison_page_and_may_not_post(site):
    page = site.browser("observer").get("/liaison")
    assert page.status_code == 200
    assert 'action="/liaison/acknowledge"' not in page.text
    assert 'action="/liaison/headcount"' not in page.text
    assert element(page.text, f"notification-{OPEN_MOVEMENT}") is not None
    refused = site.browser("observer").post("/liaison/acknowledge", data={
        "csrf": site.csrf("observer"), "movement": OPEN_MOVEMENT,
    })  # fmt: skip
    assert refused.status_code == 403


def test_the_liaison_page_shows_counts_and_never_a_person(site):
    page = site.browser("party-liaison").get("/liaison").text
    assert element(page, "liaison-registered").text == "101"
    assert element(page, "liaison-arrived").text == "69"
    for person in site.service.state().persons.values():
        assert person.ref not in page
        assert person.household not in page


# --- every staff page, by construction ------------------------------------------------------


def _pages(site: Site) -> list[tuple[str, str]]:
    ref = register(site)
    pages = []
    for who, path in [
        ("coordinator", "/dashboard"), ("facilitator", "/map"), ("observer", "/map"),
        ("registrar", "/register"), ("registrar", f"/registrations/{ref}"),
        ("registrar", "/boarding"), ("party-liaison", "/liaison"), ("observer", "/liaison"),
        ("observer", "/entries/1"),
    ]:  # fmt: skip
        answer = site.browser(who).get(path)
        assert answer.status_code == 200, path
        pages.append((path, answer.text))
    invalid = post_registration(site, given_name="", household="x")
    refused = board(site, "P-NOBODY00000")
    objection = site.browser("party-liaison").post("/liaison/object", data={
        "csrf": site.csrf("party-liaison"), "movement": OPEN_MOVEMENT,
    })  # fmt: skip
    return [*pages, ("/register 422", invalid.text), ("/boarding 409", refused.text),
            ("/liaison 422", objection.text)]  # fmt: skip


def test_staff_pages_are_accessible_by_construction(site):
    for name, html in _pages(site):
        found = elements(html)
        ids = [e.attrs["id"] for e in found if "id" in e.attrs]
        assert len(ids) == len(set(ids)), (name, [i for i in ids if ids.count(i) > 1])
        levels = [int(e.tag[1]) for e in found if re.fullmatch(r"h[1-6]", e.tag)]
        assert levels.count(1) == 1, name
        assert levels[0] == 1, name
        for before, after in itertools.pairwise(levels):
            assert after <= before + 1, (name, levels)
        labelled = {e.attrs["for"] for e in found if e.tag == "label"}
        for e in found:
            if e.tag in ("input", "select", "textarea") and e.attrs.get("type") != "hidden":
                assert e.attrs.get("id") in labelled, (name, e.attrs)
            assert "style" not in e.attrs, (name, e.tag)
            if e.tag == "script":
                assert e.attrs.get("src"), name  # no inline script (CSP: script-src 'self')
            if e.attrs.get("aria-invalid") == "true":
                described = e.attrs["aria-describedby"].split()
                assert f"{e.attrs['id']}-error" in described
                assert element(html, f"{e.attrs['id']}-error") is not None
        assert "<table" not in html or html.count("<table") == html.count('class="table-wrap"')
