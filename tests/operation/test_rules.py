"""The rules: every refusal names the field and the reason, and changes nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from safepassage.errors import RuleError
from safepassage.operation import rules
from tests.operation.builder import Builder, small_operation

COORD = "un-ocha/coordinator"
ICRC = "icrc/liaison"


def refused(b: Builder, actor: str, kind: str, field: str, reason: str, /, **body: Any) -> None:
    before = copy.deepcopy(b.state)
    event = b.sign(actor, kind, body)
    with pytest.raises(RuleError) as err:
        rules.check(b.state, event)
    assert err.value.field == field, str(err.value)
    assert reason in err.value.reason, str(err.value)
    assert b.state == before  # nothing half-applied


def register(b: Builder, person: str, destination: str = "zap") -> None:
    b.emit(
        ICRC,
        "person.registered",
        person=person,
        household="h-" + person,
        site="plant",
        age_band="18-59",
        sex="female",
        destination=destination,
        consent=True,
    )


def acknowledge_all(b: Builder) -> None:
    for party in ("ukraine", "russia"):
        b.emit(f"{party}/liaison", "movement.acknowledged", movement="m1")


def test_boarding_past_a_vehicles_seats_is_refused() -> None:
    b = small_operation()
    for i in range(4):
        register(b, f"person-{i}")
    for i in range(2):
        b.emit(ICRC, "person.boarded", person=f"person-{i}", movement="m1", vehicle="bus-2")
    refused(
        b,
        ICRC,
        "person.boarded",
        "body.vehicle",
        "all 2 seats are taken",
        person="person-2",
        movement="m1",
        vehicle="bus-2",
    )
    # a stretcher place is counted apart from the seats
    b.emit(
        ICRC, "person.boarded", person="person-2", movement="m1", vehicle="bus-2", stretcher=True
    )
    refused(
        b,
        ICRC,
        "person.boarded",
        "body.vehicle",
        "1 stretcher places are taken",
        person="person-3",
        movement="m1",
        vehicle="bus-2",
        stretcher=True,
    )


def test_a_person_on_two_vehicles_is_refused() -> None:
    b = small_operation()
    register(b, "person-1")
    b.emit(ICRC, "person.boarded", person="person-1", movement="m1", vehicle="bus-1")
    refused(
        b,
        ICRC,
        "person.boarded",
        "body.person",
        "already on vehicle 'bus-1'",
        person="person-1",
        movement="m1",
        vehicle="bus-2",
    )


@pytest.mark.parametrize(
    ("kind", "body", "field", "reason"),
    [
        ("person.registered", {"site": "nowhere"}, "body.site", "unknown site 'nowhere'"),
        ("person.registered", {"destination": "nowhere"}, "body.destination", "unknown site"),
        ("person.registered", {"destination": "manhush"}, "body.destination", "not a reception"),
    ],
)
def test_unknown_or_wrong_sites_are_refused(
    kind: str, body: dict[str, Any], field: str, reason: str
) -> None:
    b = small_operation()
    base = {
        "person": "person-1",
        "household": "house-1",
        "site": "plant",
        "age_band": "18-59",
        "sex": "male",
        "destination": "zap",
        "consent": True,
    }
    refused(b, ICRC, kind, field, reason, **{**base, **body})


def test_an_actor_cannot_act_for_another_party() -> None:
    b = small_operation()
    b.key("russia/impostor")  # a key nobody registered
    refused(
        b, "russia/impostor", "movement.acknowledged", "actor", "no registered key", movement="m1"
    )
    # a registered actor signs, but a party to the conflict may not register people
    refused(
        b,
        "russia/liaison",
        "person.registered",
        "actor",
        "may not record person.registered",
        person="person-1",
        household="house-1",
        site="plant",
        age_band="18-59",
        sex="male",
        destination="zap",
        consent=True,
    )
    # a party may register keys for itself only
    refused(
        b,
        "russia/liaison",
        "actor.key.registered",
        "body.key.actor",
        "of russia only",
        key=b.key("ukraine/second"),
    )


def test_a_signature_by_another_key_is_refused() -> None:
    b = small_operation()
    registered = b.keys["russia/liaison"]
    b.key("russia/liaison")  # someone else's key, claiming the registered actor's name
    assert b.keys["russia/liaison"] is not registered
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: PLC0415

    b.keys["russia/liaison"] = Ed25519PrivateKey.generate()
    refused(b, "russia/liaison", "movement.acknowledged", "sig", "signature", movement="m1")


def test_departure_waits_for_every_partys_acknowledgement_when_the_policy_says_so() -> None:
    b = small_operation(policy_waits=True)
    b.emit("ukraine/liaison", "movement.acknowledged", movement="m1")
    refused(b, COORD, "movement.departed", "body.movement", "still missing: russia", movement="m1")
    b.emit("russia/liaison", "movement.objected", movement="m1", reason="route")
    refused(b, COORD, "movement.departed", "body.movement", "still missing: russia", movement="m1")
    b.emit("russia/liaison", "movement.acknowledged", movement="m1")
    b.emit(COORD, "movement.departed", movement="m1")
    assert b.state.movements["m1"].status == "departed"


def test_without_that_policy_departure_is_recorded_anyway() -> None:
    b = small_operation(policy_waits=False)
    b.emit(COORD, "movement.departed", movement="m1")
    assert b.state.movements["m1"].status == "departed"


def test_a_headcount_that_disagrees_with_the_manifest_is_recorded() -> None:
    b = small_operation()
    register(b, "person-1")
    b.emit(ICRC, "person.boarded", person="person-1", movement="m1", vehicle="bus-1")
    acknowledge_all(b)
    b.emit(COORD, "movement.departed", movement="m1")
    b.emit(ICRC, "checkpoint.passed", movement="m1", vehicle="bus-1", site="manhush", headcount=7)
    b.emit(
        "russia/liaison",
        "headcount.attested",
        movement="m1",
        vehicle="bus-1",
        site="manhush",
        headcount=6,
    )
    m = b.state.movements["m1"]
    assert [p.headcount for p in m.passages] == [7]
    assert [a.headcount for a in m.attestations] == [6]


def test_a_duplicate_reference_is_refused() -> None:
    b = small_operation()
    register(b, "person-1")
    refused(
        b,
        ICRC,
        "person.registered",
        "body.person",
        "already registered",
        person="person-1",
        household="house-2",
        site="plant",
        age_band="0-4",
        sex="male",
        destination="zap",
        consent=True,
    )
    refused(
        b,
        COORD,
        "site.declared",
        "body.site",
        "already declared",
        site="plant",
        name="Again",
        site_kind="pickup",
        lat=1.0,
        lon=1.0,
    )


def test_nothing_is_recorded_after_the_operation_closes() -> None:
    b = small_operation()
    b.emit(COORD, "operation.closed", reason="done")
    refused(b, "russia/liaison", "movement.acknowledged", "kind", "closed", movement="m1")


def test_a_revoked_key_signs_nothing_more() -> None:
    b = small_operation()
    b.emit(COORD, "actor.key.revoked", actor="russia/liaison", reason="compromised")
    refused(b, "russia/liaison", "movement.acknowledged", "actor", "revoked", movement="m1")


def test_a_route_must_run_from_a_pickup_to_a_reception() -> None:
    b = small_operation()
    refused(
        b,
        COORD,
        "route.declared",
        "body.sites.0",
        "not a pickup",
        route="back",
        name="Back",
        sites=["zap", "plant"],
    )
    refused(
        b,
        COORD,
        "route.declared",
        "body.sites.1",
        "unknown site",
        route="lost",
        name="Lost",
        sites=["plant", "atlantis"],
    )


def test_a_notified_movement_can_be_cancelled_but_not_once_departed() -> None:
    b = small_operation(policy_waits=False)
    b.emit(
        COORD,
        "movement.notified",
        movement="m2",
        route="west",
        vehicles=["bus-2"],
        departs_at="2022-05-01T08:00:00Z",
        purpose="a second trip",
    )
    b.emit(COORD, "movement.cancelled", movement="m2", reason="not needed")
    assert b.state.movements["m2"].status == "cancelled"
    refused(b, COORD, "movement.cancelled", "body.movement", "cancelled", movement="m2", reason="x")
    b.emit(COORD, "movement.departed", movement="m1")
    refused(b, COORD, "movement.cancelled", "body.movement", "departed", movement="m1", reason="x")


def test_an_amended_departure_must_stay_within_the_movements_pause() -> None:
    b = small_operation()
    b.emit(
        COORD,
        "pause.agreed",
        pause="p1",
        route="west",
        starts="2022-05-02T07:00:00Z",
        ends="2022-05-02T12:00:00Z",
    )
    b.emit(
        COORD,
        "movement.notified",
        movement="m2",
        route="west",
        pause="p1",
        vehicles=["bus-2"],
        departs_at="2022-05-02T08:00:00Z",
        purpose="in the pause",
    )
    refused(
        b,
        COORD,
        "movement.amended",
        "body.departs_at",
        "within pause",
        movement="m2",
        departs_at="2022-05-02T13:00:00Z",
        reason="later",
    )
    b.emit(COORD, "movement.amended", movement="m2", departs_at="2022-05-02T11:00:00Z", reason="ok")
