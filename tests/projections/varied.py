"""An operation that records every kind of event a projection table reflects, in a few dozen."""

from __future__ import annotations

from tests.operation.builder import Builder, small_operation

COORD = "un-ocha/coordinator"


def person(b: Builder, ref: str, destination: str, needs: list[str] | None = None) -> None:
    b.emit(
        COORD,
        "person.registered",
        person=ref,
        household=f"H-{ref}",
        site="plant",
        age_band="18-59",
        sex="female",
        needs=needs or [],
        destination=destination,
        consent=True,
    )


def varied_operation() -> Builder:
    b = small_operation()
    b.emit(
        COORD,
        "pause.agreed",
        pause="p1",
        route="west",
        starts="2022-04-30T07:00:00Z",
        ends="2022-04-30T20:00:00Z",
    )
    b.emit("ukraine/liaison", "movement.objected", movement="m1", reason="too early")
    b.emit("russia/liaison", "movement.acknowledged", movement="m1")
    b.emit(
        COORD,
        "movement.amended",
        movement="m1",
        departs_at="2022-04-30T09:00:00Z",
        reason="a later start",
    )
    b.emit("ukraine/liaison", "movement.acknowledged", movement="m1", note="noted")
    b.emit("russia/liaison", "movement.acknowledged", movement="m1")
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
    b.emit("icrc/liaison", "actor.key.registered", key=b.key("icrc/driver"))
    b.emit("icrc/liaison", "actor.key.revoked", actor="icrc/driver", reason="lost phone")
    person(b, "P-000001", "zap", ["medical"])
    person(b, "P-000002", "zap")
    person(b, "P-000003", "bezimenne", ["unaccompanied-minor", "stretcher"])
    person(b, "P-000004", "zap")
    b.emit(COORD, "person.destination.changed", person="P-000004", destination="bezimenne")
    for ref, vehicle in [("P-000001", "bus-1"), ("P-000002", "bus-1"), ("P-000003", "bus-2")]:
        b.emit(COORD, "person.boarded", person=ref, movement="m1", vehicle=vehicle)
    b.emit(COORD, "movement.departed", movement="m1")
    b.emit("ukraine/liaison", "movement.acknowledged", movement="m1", note="after departure")
    b.emit(
        COORD, "checkpoint.passed", movement="m1", vehicle="bus-2", site="bezimenne", headcount=1
    )
    b.emit(
        "osce/liaison",
        "headcount.attested",
        movement="m1",
        vehicle="bus-2",
        site="bezimenne",
        headcount=1,
    )
    b.emit(COORD, "person.left-convoy", person="P-000003", movement="m1", site="bezimenne")
    b.emit(
        "russia/liaison",
        "incident.reported",
        incident="i1",
        incident_kind="delay",
        occurred_at="2022-04-30T10:00:00Z",
        site="manhush",
        movement="m1",
        description="held two hours",
    )
    b.emit(COORD, "checkpoint.passed", movement="m1", vehicle="bus-1", site="zap", headcount=2)
    b.emit(COORD, "person.arrived", person="P-000001", movement="m1", site="zap")
    b.emit(COORD, "person.arrived", person="P-000002", movement="m1", site="zap")
    b.emit(COORD, "operation.closed", reason="everyone who boarded is accounted for")
    return b
