"""The demo scenario plays out under every rule, and its figures are the public facts'."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections import Counter
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safepassage.errors import FormatError
from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import Event, sign_event
from safepassage.operation import rules
from safepassage.operation.state import OperationState
from safepassage.scenario import Command, Scenario, commands, load_scenario

SHIPPED = Path(__file__).resolve().parents[2] / "src/safepassage/scenario/azovstal-2022.json"


@cache
def private_key(actor: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(actor.encode()).digest())


def public_key(actor: str) -> str:
    raw = (
        private_key(actor)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def sign(scenario: Scenario, command: Command) -> Event:
    return sign_event(
        operation=scenario.operation,
        at=command.at,
        actor=command.actor,
        body=parse_body(command.kind, command.body),
        key=private_key(command.actor),
    )


def play(scenario: Scenario, **options: Any) -> tuple[list[Event], OperationState]:
    """Sign, check and fold every command, as the application layer will."""
    state = OperationState()
    events = []
    for command in commands(scenario, public_key, **options):
        event = sign(scenario, command)
        rules.check(state, event)
        state.apply(event)
        events.append(event)
    return events, state


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario()


@pytest.fixture(scope="module")
def played(scenario: Scenario) -> tuple[list[Event], OperationState]:
    return play(scenario)


def test_the_shipped_file_is_the_default(scenario: Scenario) -> None:
    assert load_scenario(SHIPPED) == scenario
    assert scenario.operation == "azovstal-2022"


def test_every_command_passes_the_rules_in_time_order(
    scenario: Scenario, played: tuple[list[Event], OperationState]
) -> None:
    events, state = played
    assert state.operation == "azovstal-2022"
    assert state.events == len(events)
    times = [e.at for e in events]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert all(c.at.tzinfo is UTC for c in commands(scenario, public_key))
    kinds = [e.kind for e in events]
    assert kinds[0] == "operation.opened"
    assert kinds.index("movement.notified") < kinds.index("person.registered")
    assert kinds.index("movement.departed") > max(
        i for i, k in enumerate(kinds) if k == "person.boarded"
    )


def test_the_people_are_those_of_the_public_figures(
    played: tuple[list[Event], OperationState],
) -> None:
    _, state = played
    persons = state.persons.values()
    assert len(persons) == 101
    assert all(p.boarded_event is not None for p in persons)
    assert Counter(p.status for p in persons) == {"arrived": 69, "left-convoy": 32}
    assert {(p.status, p.end_site) for p in persons} == {
        ("arrived", "zaporizhzhia"),
        ("left-convoy", "bezimenne"),
    }
    # each ends where they last chose to go; some of the 32 chose on the way, and say so
    assert all(p.destination == p.end_site for p in persons)
    changed = [p for p in persons if p.destination_events]
    assert changed
    assert all(p.status == "left-convoy" for p in changed)


def test_people_are_pseudonymous_plausible_households(
    played: tuple[list[Event], OperationState],
) -> None:
    _, state = played
    persons = list(state.persons.values())
    assert all(re.fullmatch(r"p-[a-z2-7]{10}", p.ref) for p in persons)
    assert all(re.fullmatch(r"h-[a-z2-7]{10}", p.household) for p in persons)
    households: dict[str, list[str]] = {}
    for p in persons:
        households.setdefault(p.household, []).append(p.age_band)
    assert len(households) > 20
    children = {"0-4", "5-11", "12-17"}
    with_children = [h for h in households.values() if children & set(h)]
    assert with_children
    assert all(set(h) - children for h in with_children)  # no child is registered alone
    # a household travels together, except its stretcher cases
    vehicles: dict[str, set[str | None]] = {}
    for p in persons:
        if not p.stretcher:
            vehicles.setdefault(p.household, set()).add(p.vehicle)
    assert all(len(v) == 1 for v in vehicles.values())
    assert sum(p.stretcher for p in persons) == 2


def test_seats_parties_and_acknowledgements(
    scenario: Scenario, played: tuple[list[Event], OperationState]
) -> None:
    _, state = played
    assert sum(v.seats for v in state.vehicles.values()) >= 2_100
    assert sum(v.vehicle_kind == "bus" for v in state.vehicles.values()) >= 70
    assert {state.coordinator, *state.parties} == {"un-ocha", "icrc", "ukraine", "russia"}
    assert state.parties_to_conflict() == ["ukraine", "russia"]
    (movement,) = state.movements.values()
    convoy = movement.vehicles
    assert set(convoy) < set(state.vehicles)
    assert sum(state.vehicles[v].seats for v in convoy) >= 101
    said = movement.latest_responses()
    assert set(said) == {"ukraine", "russia"}
    assert all(r.kind == "acknowledged" for r in said.values())
    assert said["ukraine"].at != said["russia"].at
    assert movement.departed_at is not None
    assert all(movement.notified_at < r.at < movement.departed_at for r in said.values())
    pause = state.pauses[scenario.pause.id]
    assert pause.starts <= movement.departs_at < pause.ends


def test_headcounts_follow_the_people_on_board(
    played: tuple[list[Event], OperationState],
) -> None:
    _, state = played
    (movement,) = state.movements.values()
    per_site = Counter[str]()
    for passage in movement.passages:
        per_site[passage.site] += passage.headcount
    assert per_site == {"bezimenne": 101, "manhush": 69, "vasylivka": 69, "zaporizhzhia": 69}
    assert len(movement.passages) == 4 * len(movement.vehicles)
    for passage in movement.passages:
        if passage.site == "bezimenne":
            assert passage.headcount == len(state.boarded_on(movement.id, passage.vehicle))
    passed = {(p.vehicle, p.site): p.headcount for p in movement.passages}
    attested = {(a.vehicle, a.site): a.headcount for a in movement.attestations}
    assert attested == {k: n for k, n in passed.items() if k[1] != "vasylivka"}
    assert {(a.party, a.site) for a in movement.attestations} == {
        ("russia", "bezimenne"),
        ("russia", "manhush"),
        ("ukraine", "zaporizhzhia"),
    }


def test_incidents(played: tuple[list[Event], OperationState]) -> None:
    _, state = played
    incidents = {(b.incident_kind, b.site, party) for b, party, _ in state.incidents.values()}
    assert ("delay", "manhush", "icrc") in incidents
    assert len(incidents) >= 2


def test_the_discrepancy_variant_differs_in_one_attested_headcount(
    scenario: Scenario, played: tuple[list[Event], OperationState]
) -> None:
    events, _ = played
    odd, state = play(scenario, discrepancy=True)
    assert len(odd) == len(events)
    differ = [(a, b) for a, b in zip(events, odd, strict=True) if a.raw != b.raw]
    assert len(differ) == 1
    (right, wrong) = differ[0]
    assert right.kind == wrong.kind == "headcount.attested"
    assert right.party == "russia"
    assert right.body.site == wrong.body.site == "manhush"  # type: ignore[attr-defined]
    assert abs(right.body.headcount - wrong.body.headcount) == 1  # type: ignore[attr-defined]
    (movement,) = state.movements.values()
    passed = {(p.vehicle, p.site): p.headcount for p in movement.passages}
    assert sum(a.headcount != passed[a.vehicle, a.site] for a in movement.attestations) == 1


def test_a_seed_gives_the_same_operation_and_another_seed_other_people(
    scenario: Scenario, played: tuple[list[Event], OperationState]
) -> None:
    events, state = played
    again, _ = play(scenario, seed=2022)
    assert [e.raw for e in again] == [e.raw for e in events]
    other, other_state = play(scenario, seed=7)
    assert set(other_state.persons).isdisjoint(state.persons)
    assert Counter(e.kind for e in other) == Counter(e.kind for e in events)
    assert Counter(p.status for p in other_state.persons.values()) == Counter(
        p.status for p in state.persons.values()
    )


# --- bad scenario files ------------------------------------------------------------------------


def _without(path: list[str | int]) -> Any:
    def mutate(doc: Any) -> None:
        for part in path[:-1]:
            doc = doc[part]
        del doc[path[-1]]

    return mutate


def _set(path: list[str | int], value: Any) -> Any:
    def mutate(doc: Any) -> None:
        for part in path[:-1]:
            doc = doc[part]
        doc[path[-1]] = value

    return mutate


def _append_copy(path: list[str | int], index: int, **changes: Any) -> Any:
    def mutate(doc: Any) -> None:
        for part in path:
            doc = doc[part]
        doc.append({**doc[index], **changes})

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        pytest.param(_without(["route", "name"]), "route.name", "is required", id="missing-field"),
        pytest.param(_without(["policy"]), "policy", "is required", id="missing-policy"),
        pytest.param(
            _without(["sites", 2, "controlled_by"]),
            "sites[2].controlled_by",
            "is required",
            id="missing-controller",
        ),
        pytest.param(
            _set(["route", "sites", 3], "berdiansk"),
            "route.sites[3]",
            "unknown site 'berdiansk'",
            id="unknown-site-in-route",
        ),
        pytest.param(
            _set(["pause", "ends"], "2022-04-29T00:00:00+03:00"),
            "pause.ends",
            "must be after starts",
            id="pause-ends-before-it-starts",
        ),
        pytest.param(
            _append_copy(["sites"], 1),
            "sites[5].id",
            "site 'bezimenne' is declared twice",
            id="duplicate-site",
        ),
        pytest.param(
            _set(["parties", 2, "actors", 1], "icrc/registrar-1"),
            "parties[2].actors[1]",
            "must be ukraine/<name>",
            id="actor-of-another-party",
        ),
        pytest.param(
            _set(["parties", 3, "actors", 1], "russia/liaison"),
            "actors",
            "actor 'russia/liaison' is declared twice",
            id="duplicate-actor",
        ),
        pytest.param(
            _append_copy(["evacuees", "cohorts"], 0, people=1),
            "evacuees.cohorts[3].id",
            "cohort 'to-zaporizhzhia' is declared twice",
            id="duplicate-cohort",
        ),
        pytest.param(
            _set(["sites", 2, "controlled_by"], "osce"),
            "sites[2].controlled_by",
            "unknown party 'osce'",
            id="unknown-controller",
        ),
        pytest.param(
            _set(["movement", "acknowledgements"], []),
            "movement.acknowledgements",
            "ukraine must acknowledge",
            id="missing-acknowledgement",
        ),
        pytest.param(
            _set(["movement", "acknowledgements", 1, "at"], "2022-05-01T12:00:00+03:00"),
            "movement.acknowledgements[1].at",
            "must be before the departure",
            id="acknowledged-after-departure",
        ),
        pytest.param(
            _set(["timeline", "boarding", "at"], "2022-04-30T10:00:00+03:00"),
            "timeline.boarding.at",
            "must be after",
            id="overlapping-steps",
        ),
        pytest.param(
            _set(["evacuees", "cohorts", 1, "chose"], "manhush"),
            "evacuees.cohorts[1].chose",
            "must be a reception",
            id="destination-not-a-reception",
        ),
        pytest.param(
            _set(["movement", "vehicles", "bus"], 2),
            "movement.vehicles",
            "seats left",
            id="convoy-too-small",
        ),
        pytest.param(
            _set(["operation"], "Azovstal 2022"),
            "operation",
            "should match pattern",
            id="not-a-slug",
        ),
    ],
)
def test_a_bad_scenario_file_names_the_field(
    tmp_path: Path, mutate: Any, field: str, reason: str
) -> None:
    doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
    mutate(doc)
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(FormatError) as err:
        load_scenario(path)
    assert err.value.field == field, str(err.value)
    assert reason in err.value.reason, str(err.value)


def test_a_file_that_is_not_json_or_not_there(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(FormatError) as err:
        load_scenario(bad)
    assert err.value.field == "scenario"
    with pytest.raises(FormatError) as err:
        load_scenario(tmp_path / "missing.json")
    assert err.value.field == "path"
