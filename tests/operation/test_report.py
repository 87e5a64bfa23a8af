"""Reconciliation and the report: each figure from the events, each alert naming its events."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safepassage.operation.reconcile import reconcile
from safepassage.operation.report import Report, build_report, to_markdown
from safepassage.operation.state import OperationState
from tests.operation.builder import Builder, small_operation

COORD, ICRC = "un-ocha/coordinator", "icrc/liaison"


def register(b: Builder, person: str, destination: str = "zap") -> None:
    b.emit(
        ICRC,
        "person.registered",
        person=person,
        household="house-" + person[-1],
        site="plant",
        age_band="18-59",
        sex="female",
        destination=destination,
        consent=True,
    )


def convoy(b: Builder, on_bus_1: int = 3, on_bus_2: int = 1) -> list[str]:
    people = [f"person-{i}" for i in range(on_bus_1 + on_bus_2)]
    for p in people:
        register(b, p)
    for i, p in enumerate(people):
        b.emit(
            ICRC,
            "person.boarded",
            person=p,
            movement="m1",
            vehicle="bus-1" if i < on_bus_1 else "bus-2",
        )
    for party in ("ukraine", "russia"):
        b.emit(f"{party}/liaison", "movement.acknowledged", movement="m1")
    b.emit(COORD, "movement.departed", movement="m1")
    return people


def passes(b: Builder, site: str, **headcounts: int) -> None:
    for vehicle, n in headcounts.items():
        b.emit(
            ICRC,
            "checkpoint.passed",
            movement="m1",
            vehicle=vehicle.replace("_", "-"),
            site=site,
            headcount=n,
        )


def test_a_clean_operation_reconciles_and_every_figure_is_counted() -> None:
    b = small_operation()
    people = convoy(b)
    b.emit(
        ICRC, "person.destination.changed", person=people[0], destination="bezimenne", site="plant"
    )
    passes(b, "bezimenne", bus_1=3, bus_2=1)
    b.emit(ICRC, "person.left-convoy", person=people[0], movement="m1", site="bezimenne")
    passes(b, "manhush", bus_1=2, bus_2=1)
    passes(b, "zap", bus_1=2, bus_2=1)
    for p in people[1:]:
        b.emit(ICRC, "person.arrived", person=p, movement="m1", site="zap")
    b.emit(
        "russia/liaison",
        "incident.reported",
        incident="i1",
        incident_kind="delay",
        occurred_at="2022-04-30T09:00:00Z",
        site="manhush",
        description="held two hours",
    )
    report = build_report(b.state, None)
    f = report.figures
    assert (f.registered, f.boarded, f.in_transit, f.unaccounted) == (4, 4, 0, 0)
    assert f.arrived == {"Zap": 3}
    assert f.left_convoy == {"Bezimenne": 1}
    assert f.destination_changes == 1
    assert (f.vehicles_registered, f.seats_registered) == (2, 5)
    assert (f.vehicles_dispatched, f.seats_dispatched, f.seats_used) == (2, 5, 4)
    assert f.incidents == {"delay": 1}
    assert report.alerts == []
    [n] = report.notifications
    assert [(r.party, r.response) for r in n.responses] == [
        ("ukraine", "acknowledged"),
        ("russia", "acknowledged"),
    ]
    assert n.awaiting == []
    assert "| unaccounted | 0 |" in to_markdown(report)


def test_a_headcount_off_the_manifest_is_an_alert_naming_its_events() -> None:
    b = small_operation()
    convoy(b)
    passes(b, "bezimenne", bus_1=3, bus_2=1)
    wrong = b.emit(
        "russia/liaison",
        "headcount.attested",
        movement="m1",
        vehicle="bus-1",
        site="manhush",
        headcount=2,
    )
    [alert] = reconcile(b.state)
    assert alert.kind == "headcount-mismatch"
    assert "russia's observer counted 2, the manifest has 3" in alert.message
    assert alert.events[0] == wrong.id
    boarded = {p.boarded_event for p in b.state.persons.values() if p.vehicle == "bus-1"}
    assert set(alert.events[1:]) == boarded


def test_in_transit_until_the_vehicle_reaches_the_end_then_unaccounted() -> None:
    b = small_operation()
    people = convoy(b, on_bus_1=1, on_bus_2=0)
    passes(b, "manhush", bus_1=1)
    f = build_report(b.state, None).figures
    assert (f.in_transit, f.unaccounted) == (1, 0)
    end = b.emit(ICRC, "checkpoint.passed", movement="m1", vehicle="bus-1", site="zap", headcount=1)
    f = build_report(b.state, None).figures
    assert (f.in_transit, f.unaccounted) == (0, 1)
    [alert] = [a for a in reconcile(b.state) if a.kind == "unaccounted"]
    assert people[0] in alert.message
    assert alert.events == (b.state.persons[people[0]].boarded_event, end.id)


def test_arriving_elsewhere_than_chosen_is_flagged() -> None:
    b = small_operation()
    [p] = convoy(b, on_bus_1=1, on_bus_2=0)
    changed = b.emit(ICRC, "person.destination.changed", person=p, destination="bezimenne")
    arrived = b.emit(ICRC, "person.arrived", person=p, movement="m1", site="zap")
    [alert] = reconcile(b.state)
    assert alert.kind == "elsewhere-than-chosen"
    assert alert.events[-2:] == (changed.id, arrived.id)


def test_departure_without_acknowledgement_or_despite_objection_is_flagged() -> None:
    b = small_operation(policy_waits=False)
    b.emit("russia/liaison", "movement.objected", movement="m1", reason="route not agreed")
    b.emit(COORD, "movement.departed", movement="m1")
    kinds = sorted(a.kind for a in reconcile(b.state))
    assert kinds == ["departed-despite-objection", "departed-without-acknowledgement"]
    b.emit("ukraine/liaison", "movement.acknowledged", movement="m1")  # too late to matter
    assert len(reconcile(b.state)) == 2


def test_the_report_is_a_pure_function_of_the_events() -> None:
    b = small_operation()
    convoy(b)
    again = OperationState()
    for e in b.events:
        again.apply(e)
    one = build_report(b.state, None).model_dump_json()
    assert build_report(again, None).model_dump_json() == one
    assert Report.model_validate_json(one).model_dump_json() == one
    assert json.loads(one)["figures"]["boarded"] == 4


OUTCOME = st.sampled_from(["stay", "arrive", "leave", "lost"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    outcomes=st.lists(OUTCOME, min_size=0, max_size=5),
    registered_only=st.integers(0, 3),
    reached_end=st.booleans(),
)
def test_every_boarded_person_is_counted_exactly_once(
    outcomes: list[str], registered_only: int, reached_end: bool
) -> None:
    b = small_operation()
    people = convoy(b, on_bus_1=min(len(outcomes), 3), on_bus_2=max(0, len(outcomes) - 3))
    for i in range(registered_only):
        register(b, f"walk-in-{i}")
    for p, outcome in zip(people, outcomes, strict=True):
        person = b.state.persons[p]
        if outcome == "arrive":
            b.emit(ICRC, "person.arrived", person=p, movement="m1", site="zap")
        elif outcome == "leave":
            b.emit(ICRC, "person.left-convoy", person=p, movement="m1", site="bezimenne")
        elif outcome == "lost" and reached_end:
            b.emit(
                ICRC,
                "checkpoint.passed",
                movement="m1",
                vehicle=person.vehicle,
                site="zap",
                headcount=0,
            )
    f = build_report(b.state, None).figures
    assert f.registered == len(people) + registered_only
    assert f.boarded == len(people)
    assert (
        sum(f.arrived.values()) + sum(f.left_convoy.values()) + f.in_transit + f.unaccounted
        == f.boarded
    )
    assert f.seats_used == f.boarded


def test_the_report_schema_document_is_what_the_code_says() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_report_schema.py"
    result = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
