"""The generated city operation, scaled down, through the application layer."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safepassage.app.operation import Operation, Receipt
from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import Event, sign_event
from safepassage.scenario.city import City, city_commands
from tests.operation.builder import public_b64

SMALL = City(people=470, movements=10, pickups=4, fleet=30)


def signed(city: City) -> list[Event]:
    keys: dict[str, Ed25519PrivateKey] = {}

    def public_key(actor: str) -> str:
        keys[actor] = Ed25519PrivateKey.from_private_bytes(actor.encode().ljust(32, b".")[:32])
        return public_b64(keys[actor])

    return [
        sign_event(
            operation="city-2022",
            at=c.at,
            actor=c.actor,
            body=parse_body(c.kind, c.body),
            key=keys[c.actor],
        )
        for c in city_commands(city, public_key)
    ]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("city") / "op"
    events = signed(SMALL)
    with Operation.create(directory, "city-2022") as op:
        for start in range(0, len(events), 500):
            answers = op.submit_events(events[start : start + 500])
            refused = [a for a in answers if not isinstance(a, Receipt)]
            assert refused == []
    return directory


def test_every_person_who_boarded_arrived_where_they_chose(city: Path) -> None:
    with Operation.open(city) as op:
        report = op.report()
        figures = report.figures
        changes = sum(1 for e in op.events() if e.kind == "person.destination.changed")
    assert figures.registered == figures.boarded == 470
    assert sum(figures.arrived.values()) == 470
    assert figures.unaccounted == figures.in_transit == 0
    assert figures.destination_changes == changes > 0
    assert figures.vehicles_dispatched == SMALL.fleet  # each minibus went more than once
    assert figures.trips_dispatched == 10 * SMALL.vehicles_per_movement
    assert figures.seats_dispatched == 10 * SMALL.vehicles_per_movement * SMALL.seats
    assert figures.seats_used == 470
    assert report.alerts == []


def test_the_city_projections_rebuild_identically(city: Path) -> None:
    with Operation.open(city) as op:
        kept = op.projections.dump()
        op.rebuild()
        assert op.projections.dump() == kept
    assert len(kept["persons"]) == 470


def test_a_city_needs_seats_for_everyone() -> None:
    with pytest.raises(ValueError, match="more people than seats"):
        City(people=1000, movements=1)
