"""Who may call what, proven from the served OpenAPI document: every operation the API offers is
tried with every role, no token, a wrong token and a revoked one. An endpoint added without a
rule here fails ``test_every_operation_has_a_stated_rule``; one that lets the wrong role in
fails the matrix."""

from __future__ import annotations

import json
from typing import Any

from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import sign_event
from safepassage.vault.store import _PERSONAL_FIELDS
from tests.server.conftest import ACCOUNTS, Served

EVERYONE = {"coordinator", "facilitator", "registrar", "party-liaison", "observer"}
STAFF = {"coordinator", "facilitator"}
FIELD_STAFF = STAFF | {"registrar"}
LIAISON = {"party-liaison"}
ACTING = EVERYONE - {"observer"}
PUBLIC: set[str] = set()

API = "/api/v1"
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/public/report"): PUBLIC,
    ("GET", "/checkpoint"): PUBLIC,
    ("GET", "/proofs/inclusion"): PUBLIC,
    ("GET", "/proofs/consistency"): PUBLIC,
    ("GET", "/me"): EVERYONE,
    ("GET", "/operation"): EVERYONE,
    ("GET", "/parties"): EVERYONE,
    ("GET", "/sites"): EVERYONE,
    ("GET", "/routes"): EVERYONE,
    ("GET", "/vehicles"): EVERYONE,
    ("GET", "/notifications"): EVERYONE,
    ("GET", "/incidents"): EVERYONE,
    ("GET", "/alerts"): EVERYONE,
    ("GET", "/report"): EVERYONE,
    ("GET", "/log/entries"): EVERYONE,
    ("GET", "/persons"): FIELD_STAFF,
    ("GET", "/persons/{ref}"): FIELD_STAFF,
    ("POST", "/registrations"): FIELD_STAFF,
    ("POST", "/erasures"): STAFF,
    ("POST", "/events"): ACTING,
    ("POST", "/checkpoint/cosignatures"): ACTING,
    ("POST", "/operation/closure"): {"coordinator"},
    ("POST", "/parties"): {"coordinator"},
    ("POST", "/actors"): STAFF | LIAISON,
    ("POST", "/actors/revocations"): STAFF | LIAISON,
    ("POST", "/sites"): {"coordinator"},
    ("POST", "/routes"): {"coordinator"},
    ("POST", "/pauses"): {"coordinator"},
    ("POST", "/vehicles"): STAFF,
    ("POST", "/notifications"): {"coordinator"},
    ("POST", "/notifications/amendments"): {"coordinator"},
    ("POST", "/notifications/cancellations"): {"coordinator"},
    ("POST", "/acknowledgements"): LIAISON,
    ("POST", "/objections"): LIAISON,
    ("POST", "/departures"): FIELD_STAFF,
    ("POST", "/passages"): FIELD_STAFF,
    ("POST", "/headcounts"): LIAISON,
    ("POST", "/destination-changes"): FIELD_STAFF,
    ("POST", "/boardings"): FIELD_STAFF,
    ("POST", "/convoy-exits"): FIELD_STAFF,
    ("POST", "/arrivals"): FIELD_STAFF,
    ("POST", "/incidents"): ACTING,
}
"""The access policy, stated here independently of the server's code."""

QUERY = {"index": 0, "old": 1, "purpose": "authorization test"}


def operations(served: Served) -> list[tuple[str, str, dict[str, Any]]]:
    spec = served.client.get("/openapi.json").json()
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]


def call(served: Served, method: str, path: str, op: dict[str, Any], token: str | None):
    person = next(iter(served.service.state().persons))
    url = path.replace("{ref}", person)
    params = {
        p["name"]: QUERY[p["name"]]
        for p in op.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = {} if method == "POST" else None
    return served.client.request(method, url, params=params, headers=headers, json=body)


def test_every_operation_has_a_stated_rule(served: Served) -> None:
    found = {(method, path.removeprefix(API)): op for method, path, op in operations(served)}
    assert set(found) == set(EXPECTED), "an endpoint without a rule in EXPECTED, or one gone"
    for key, op in found.items():
        assert set(op["x-roles"]) == (EXPECTED[key] or {"public"}), key
        if EXPECTED[key]:
            assert op.get("security"), f"{key} does not declare its bearer token"
            assert {"401", "403"} <= set(op["responses"]), key


def test_every_role_is_allowed_exactly_what_the_policy_says(served: Served) -> None:
    wrong = []
    for method, path, op in operations(served):
        allowed = EXPECTED[(method, path.removeprefix(API))]
        for who, (role, _, _) in ACCOUNTS.items():
            status = call(served, method, path, op, served.tokens[who]).status_code
            if role.value in allowed or not allowed:
                ok = status not in (401, 403) and status < 500
            else:
                ok = status == 403
            if not ok:
                wrong.append((method, path, who, status))
    assert wrong == []


def test_no_endpoint_takes_a_missing_wrong_or_revoked_token(served: Served) -> None:
    revoked = served.service.accounts.list()[0]
    served.service.accounts.revoke(revoked.id)
    revoked_token = next(t for who, t in served.tokens.items() if who == revoked.name)
    accepted = []
    for method, path, op in operations(served):
        public = not EXPECTED[(method, path.removeprefix(API))]
        for token in (None, "spt_" + "A" * 43, "not even a token", revoked_token):
            response = call(served, method, path, op, token)
            if public:
                if response.status_code in (401, 403) or response.status_code >= 500:
                    accepted.append((method, path, token, response.status_code))
                continue
            problem = response.json()
            if not (
                response.status_code == 401
                and response.headers["www-authenticate"].startswith("Bearer")
                and response.headers["content-type"] == "application/problem+json"
                and problem["field"] == "Authorization"
            ):
                accepted.append((method, path, token, response.status_code))
    assert accepted == []


def test_a_forbidden_call_records_nothing(served: Served) -> None:
    size = served.service.op.log.size()
    response = served.client.post(
        f"{API}/acknowledgements",
        headers=served.headers("registrar"),
        json={"movement": "convoy-1"},
    )
    assert response.status_code == 403
    assert response.json()["detail"].startswith("a registrar account may not do this")
    assert served.service.op.log.size() == size


CANARY = {
    "given_name": "CANARY-SRV-GIVEN-71c",
    "family_name": "CANARY-SRV-FAMILY-71c",
    "birth_date": "1961-07-13",
    "document_number": "CANARY-SRV-DOC-71c",
    "phone": "+380-CANARY-71c",
    "notes": "CANARY-SRV-NOTES-71c",
}


def test_liaisons_observers_and_the_public_never_see_personal_data(served: Served) -> None:
    registered = served.client.post(
        f"{API}/registrations",
        headers=served.headers("registrar"),
        json={"household": "H-canary-1", "site": "azovstal", "age_band": "60+",
              "sex": "female", "destination": "zaporizhzhia", **CANARY},
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    ref = registered.json()["person"]
    served.service.op.cosign("un-ocha")  # a checkpoint that covers the registration
    # staff who may see it do (so the canary is really there to be found) ...
    shown = served.client.get(
        f"{API}/persons/{ref}", headers=served.headers("registrar"), params={"purpose": "boarding"}
    )
    assert shown.status_code == 200
    assert shown.json()["given_name"] == CANARY["given_name"]
    # ... and nobody else, on any endpoint their role may call
    looked = 0
    for method, path, op in operations(served):
        allowed = EXPECTED[(method, path.removeprefix(API))]
        if method != "GET":
            continue
        for who in ("party-liaison", "observer", "other-liaison", None):
            role = None if who is None else ACCOUNTS[who][0].value
            if allowed and role not in allowed:
                continue
            response = call(served, method, path, op, None if who is None else served.tokens[who])
            assert response.status_code == 200, (path, who, response.text)
            text = response.text
            looked += 1
            for value in CANARY.values():
                assert value not in text, (path, who)
            for field in _PERSONAL_FIELDS:
                assert f'"{field}"' not in text, (path, who, field)
    assert looked >= 4 * 4 + 11 * 3  # public endpoints by all four, account reads by three


def test_a_liaison_cannot_act_for_another_party(served: Served) -> None:
    # the server signs as the account's own actor: russia's liaison acknowledges for russia only
    response = served.client.post(
        f"{API}/incidents",
        headers=served.headers("party-liaison"),
        json={"incident": "inc-auth-1", "incident_kind": "delay",
              "occurred_at": "2022-05-01T10:00:00Z", "description": "a delay at a checkpoint"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    state = served.service.state()
    assert state.incidents["inc-auth-1"][1] == "russia"
    # an event signed with another party's key is refused, naming the actor, and not recorded
    event = sign_event(
        operation="azovstal-2022",
        at=state.incidents["inc-auth-1"][0].occurred_at,
        actor="ukraine/liaison",
        body=parse_body("incident.reported", {
            "incident": "inc-auth-2", "incident_kind": "delay",
            "occurred_at": "2022-05-01T10:00:00Z", "description": "in ukraine's name"}),
        key=served.service.op.keys.actor("ukraine/liaison"),
    )  # fmt: skip
    size = served.service.op.log.size()
    response = served.client.post(
        f"{API}/events",
        headers=served.headers("party-liaison"),
        json={"events": [json.loads(event.raw)]},
    )
    assert response.status_code == 200
    [answer] = response.json()
    assert answer["problem"]["field"] == "body.events.0.actor"
    assert "acts for ukraine" in answer["problem"]["detail"]
    assert served.service.op.log.size() == size
    # the same event sent by ukraine's own liaison is recorded
    response = served.client.post(
        f"{API}/events",
        headers=served.headers("other-liaison"),
        json={"events": [json.loads(event.raw)]},
    )
    [answer] = response.json()
    assert answer["receipt"]["index"] == size, answer
    assert served.service.state().incidents["inc-auth-2"][1] == "ukraine"
