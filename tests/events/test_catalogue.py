"""The event catalogue: every kind parses its example, and bad bodies name the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from safepassage.errors import FormatError
from safepassage.events.catalogue import KINDS, parse_body
from tests.events.examples import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_has_an_example_and_the_issue_names_are_all_there() -> None:
    assert set(EXAMPLES) == set(KINDS)
    assert len(KINDS) == 25  # the issue's 24, and person.record.erased (personal data)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_example_parses_and_round_trips(kind: str) -> None:
    body = parse_body(kind, EXAMPLES[kind])
    assert body.kind == kind
    assert parse_body(kind, body.model_dump(mode="json")) == body


REQUIRED = [
    (kind, name)
    for kind, model in sorted(KINDS.items())
    for name in model.model_json_schema().get("required", [])
]


@pytest.mark.parametrize(("kind", "name"), REQUIRED, ids=[f"{k}-{n}" for k, n in REQUIRED])
def test_a_missing_required_field_is_named(kind: str, name: str) -> None:
    body = {k: v for k, v in EXAMPLES[kind].items() if k != name}
    with pytest.raises(FormatError) as err:
        parse_body(kind, body)
    assert err.value.field == f"body.{name}"
    assert "required" in err.value.reason.lower()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_unknown_field_is_refused(kind: str) -> None:
    with pytest.raises(FormatError) as err:
        parse_body(kind, {**EXAMPLES[kind], "surname": "Petrenko"})
    assert err.value.field == "body.surname"


@pytest.mark.parametrize(
    ("kind", "change", "field", "reason"),
    [
        ("site.declared", {"site": "Azov Stal"}, "body.site", "pattern"),
        ("site.declared", {"lat": 91}, "body.lat", "less than or equal"),
        ("site.declared", {"site_kind": "airport"}, "body.site_kind", "pickup"),
        ("route.declared", {"sites": ["a", "b", "a"]}, "body.sites", "each site once"),
        ("route.declared", {"sites": ["a"]}, "body.sites", "at least 2"),
        ("pause.agreed", {"ends": "2022-04-30T05:00:00Z"}, "body.ends", "after starts"),
        ("pause.agreed", {"starts": "2022-04-30T05:00:00"}, "body.starts", "time zone"),
        ("pause.agreed", {"starts": 1651294800}, "body.starts", "RFC 3339"),
        ("pause.agreed", {"starts": "1651294800"}, "body.starts", "RFC 3339"),
        ("pause.agreed", {"starts": "2022-04-30"}, "body.starts", "RFC 3339"),
        ("vehicle.registered", {"seats": "30"}, "body.seats", "integer"),
        ("vehicle.registered", {"seats": -1}, "body.seats", "greater than or equal"),
        ("person.registered", {"consent": False}, "body.consent", "True"),
        ("person.registered", {"person": "Olena Petrenko"}, "body.person", "pattern"),
        ("person.registered", {"needs": ["vip"]}, "body.needs.0", "medical"),
        ("incident.reported", {"incident_kind": "rumour"}, "body.incident_kind", "shelling"),
        ("movement.notified", {"vehicles": []}, "body.vehicles", "at least 1"),
    ],
)
def test_bad_values_name_the_field_and_the_reason(
    kind: str, change: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(FormatError) as err:
        parse_body(kind, {**EXAMPLES[kind], **change})
    assert err.value.field == field
    assert reason in err.value.reason


@pytest.mark.parametrize(
    ("kind", "body", "field"), [("nope", {}, "kind"), ("site.declared", [], "body")]
)
def test_unknown_kind_or_non_object_body(kind: str, body: object, field: str) -> None:
    with pytest.raises(FormatError) as err:
        parse_body(kind, body)
    assert err.value.field == field


def test_the_catalogue_document_is_what_the_code_says() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_event_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
