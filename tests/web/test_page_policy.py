"""Who may open which page, written here as a table and checked against the application: a page
added without a rule here fails. Then every page is opened as every role and signed out, and
the promises the pages make are checked across all of them: a party's liaison, an observer or
a visitor never sees personal data; a form without its session's CSRF token writes nothing; a
revoked account's cookie stops working at once."""

from __future__ import annotations

import io
import re
import zipfile
import zlib

import pytest
from fastapi.routing import APIRoute

from safepassage.server.accounts import Role
from tests.web.conftest import Site

PUBLIC: frozenset[Role] = frozenset()
EVERYONE = frozenset(Role)
STAFF = frozenset({Role.coordinator, Role.facilitator})
FIELD_STAFF = STAFF | {Role.registrar}
LIAISON = frozenset({Role.party_liaison})
READERS = frozenset({Role.party_liaison, Role.observer})

POLICY: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/public"): PUBLIC,
    ("GET", "/public/{operation}"): PUBLIC,
    ("GET", "/public/{operation}/bundle.zip"): PUBLIC,
    ("GET", "/public/{operation}/sitrep.pdf"): PUBLIC,
    # exact figures, every vehicle, alerts: the organisers
    ("GET", "/dashboard"): STAFF,
    ("GET", "/dashboard/live"): STAFF,
    # sites, routes and vehicles, no person: everyone taking part
    ("GET", "/map"): STAFF | READERS,
    # pseudonymous references and attributes, as the API's /log/entries: every account
    ("GET", "/entries/{index}"): EVERYONE,
    # the registration desk and boarding: field staff
    ("GET", "/register"): FIELD_STAFF,
    ("POST", "/register"): FIELD_STAFF,
    ("GET", "/registrations/{ref}"): FIELD_STAFF,
    ("GET", "/registrations/{ref}/receipt.pdf"): FIELD_STAFF,
    ("GET", "/boarding"): FIELD_STAFF,
    ("POST", "/boarding"): FIELD_STAFF,
    # the parties: read (observer) and answer (liaison), as the API's roles
    ("GET", "/liaison"): READERS,
    ("POST", "/liaison/acknowledge"): LIAISON,
    ("POST", "/liaison/object"): LIAISON,
    ("POST", "/liaison/headcount"): LIAISON,
}

ROLE_ACCOUNTS = {
    Role.coordinator: "coordinator",
    Role.facilitator: "facilitator",
    Role.registrar: "registrar",
    Role.party_liaison: "party-liaison",
    Role.observer: "observer",
}
NOT_PAGES = ("/api/", "/openapi.json", "/docs", "/static")


def page_routes(site: Site) -> dict[tuple[str, str], APIRoute]:
    out = {}
    for route in site.app.routes:
        if not isinstance(route, APIRoute) or route.include_in_schema:
            continue
        if route.path.startswith(NOT_PAGES):
            continue
        for method in route.methods:
            out[(method, route.path)] = route
    return out


def concrete(site: Site, path: str) -> str:
    state = site.service.state()
    return (
        path.replace("{index}", "0")
        .replace("{ref}", next(iter(state.persons)))
        .replace("{operation}", state.operation or "")
    )


def request(site: Site, who: str | None, method: str, path: str):
    browser = site.browser(who)
    if method == "GET":
        return browser.get(path)
    data = {"csrf": site.csrf(who)} if who is not None else {}
    if path == "/login" and who is not None:  # signing in (again) with the account's token
        data["token"] = site.tokens[who]
    return browser.post(path, data=data)


def test_every_page_has_a_rule_here_and_the_same_in_the_application(site):
    web = site.app.state.web
    routes = page_routes(site)
    assert set(routes) == set(web.pages), "a page was added without Web.page"
    assert set(routes) == set(POLICY), "a page has no rule in POLICY (or a rule lost its page)"
    for key, roles in POLICY.items():
        assert web.pages[key] == roles, key


@pytest.mark.parametrize(("method", "path"), sorted(POLICY))
def test_each_role_is_let_in_or_refused_as_the_table_says(site, method, path):
    roles = POLICY[(method, path)]
    url = concrete(site, path)
    for role, who in ROLE_ACCOUNTS.items():
        answer = request(site, who, method, url)
        if not roles or role in roles:
            assert answer.status_code not in (401, 403), (role, answer.status_code)
            assert not answer.headers.get("location", "").startswith("/login?"), role
        else:
            assert answer.status_code == 403, (role, answer.status_code)
            assert "Not for your role" in answer.text
    signed_out = request(site, None, method, url)
    if not roles:  # (POST /login without a token answers 401 on the sign-in form)
        assert signed_out.status_code != 403
    elif method == "GET":
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/login?next=")
    else:
        assert signed_out.status_code == 401


# --- personal data never reaches a party or the public -------------------------------------------

CANARY = {
    "given_name": "Zyxcanarygiven",
    "family_name": "Qwvcanaryfamily",
    "birth_date": "1937-11-23",
    "document_number": "CANARYDOC77Q1",
    "phone": "+380990017CANARY",
    "notes": "canarynotes X8T2 about her",
}


def _texts(body: bytes, content_type: str) -> list[bytes]:
    """The bytes to search: a zip's members, a PDF's streams inflated, or the body."""
    if "zip" in content_type:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return [archive.read(name) for name in archive.namelist()]
    if "pdf" in content_type:
        out = [body]
        for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, re.DOTALL):
            try:
                out.append(zlib.decompress(stream))
            except zlib.error:
                continue
        return out
    return [body]


def test_personal_data_never_reaches_a_liaison_an_observer_or_a_visitor(site):
    browser = site.browser("registrar")
    form = browser.get("/register").text
    submission = re.search(r'name="submission_id" value="([^"]+)"', form).group(1)
    answer = browser.post("/register", data={
        **CANARY, "household": "", "site": "azovstal", "destination": "zaporizhzhia",
        "age_band": "60+", "sex": "female", "needs": ["medical"], "csrf": site.csrf("registrar"),
        "submission_id": submission,
    })  # fmt: skip
    assert answer.status_code == 303
    ref = answer.headers["location"].removeprefix("/registrations/")
    held = site.browser(None).get(f"/api/v1/persons/{ref}", params={"purpose": "test control"},
                                  headers=site.api("facilitator"))  # fmt: skip
    assert held.json()["family_name"] == CANARY["family_name"]  # the canary is there to find
    api = site.browser(None).post("/api/v1/registrations", headers=site.api("facilitator"), json={
        "household": "H-CANARY0002", "site": "azovstal", "destination": "zaporizhzhia",
        "age_band": "18-59", "sex": "male", "given_name": "Canaryapigiven",
        "family_name": "Canaryapifamily",
    })  # fmt: skip
    assert api.status_code == 201
    secrets = [v.encode() for v in (*CANARY.values(), "Canaryapigiven", "Canaryapifamily")]
    size = site.log_size()
    opened = 0
    for who in ("party-liaison", "observer", None):
        for (method, path), roles in POLICY.items():
            if method != "GET":
                continue
            may = not roles or (who is not None and Role(who) in roles)
            if not may:
                continue
            urls = ([f"/entries/{i}" for i in range(size)] if path == "/entries/{index}"
                    else [concrete(site, path)])  # fmt: skip
            for url in urls:
                page = site.browser(who).get(url)
                assert page.status_code in (200, 303), (who, url, page.status_code)
                opened += 1
                for text in _texts(page.content, page.headers.get("content-type", "")):
                    for secret in secrets:
                        assert secret not in text, (who, url, secret)
    assert opened > 2 * size


# --- CSRF and revoked accounts -------------------------------------------------------------------


FORMS = {
    "/register": ("registrar", {"site": "azovstal", "destination": "zaporizhzhia",
                                "age_band": "18-59", "sex": "male", "given_name": "A",
                                "family_name": "B"}),
    "/boarding": ("registrar", {"person": "P-ABCDEFGHIJ", "movement": "convoy-2",
                                "vehicle": "bus-06"}),
    "/liaison/acknowledge": ("party-liaison", {"movement": "convoy-2"}),
    "/liaison/object": ("party-liaison", {"movement": "convoy-2", "reason": "no"}),
    "/liaison/headcount": ("party-liaison", {"movement": "convoy-2", "vehicle": "bus-06",
                                             "site": "azovstal", "headcount": "1"}),
    "/logout": ("coordinator", {}),
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(FORMS))
def test_a_form_without_its_sessions_csrf_token_is_refused_and_writes_nothing(site, path):
    who, fields = FORMS[path]
    assert site.app.state.web.pages[("POST", path)]
    browser = site.browser(who)
    size, records = site.log_size(), site.vault_records()
    for csrf in (
        None,
        "",
        "0" * 40,
        site.csrf("coordinator" if who != "coordinator" else "observer"),
    ):
        data = dict(fields) if csrf is None else {**fields, "csrf": csrf}
        answer = browser.post(path, data=data)
        assert answer.status_code == 403, csrf
        assert "Form expired" in answer.text
    wrong_header = browser.post(path, data={**fields, "csrf": site.csrf(who)},
                                headers={"X-CSRF-Token": "0" * 40})  # fmt: skip
    assert wrong_header.status_code == 403
    assert (site.log_size(), site.vault_records()) == (size, records)
    assert "set-cookie" not in {k.lower() for k in wrong_header.headers}


def test_a_revoked_accounts_cookie_stops_working_at_once(site):
    browser = site.browser("coordinator")
    assert browser.get("/dashboard").status_code == 200
    account = next(a for a in site.service.accounts.list() if a.name == "coordinator")
    site.service.accounts.revoke(account.id)
    answer = browser.get("/dashboard")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/dashboard"
    posted = browser.post("/register", data={"csrf": site.csrf("coordinator")})
    assert posted.status_code == 401
