"""A city-size operation, generated: the commands of a large evacuation. Pure: no I/O.

Used to measure safepassage at the scale of a city (``bench/city.py``: 140,000 people, 3,000
movements, about a million events) and, scaled down, to test that nothing in the rules, the
fold or the projections grows worse than linearly. The shape follows a real operation: the
coordinator (``un-ocha``) declares pickup points, three checkpoints and two reception centres,
one route from each pickup point; the ICRC (facilitator) registers and boards people and
counts them at every checkpoint; both parties to the conflict acknowledge every movement
before it departs and, with an observer mission, attest every vehicle's headcount at every
checkpoint and on arrival. People register in households with a freely chosen destination;
one in ten first chooses the other reception centre, then changes their mind. Every person who
boards arrives, so the report must show nobody unaccounted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from safepassage.scenario.plan import Command

__all__ = ["City", "city_commands"]

COORDINATOR = "un-ocha/coordinator"
REGISTRAR = "icrc/registrar"
ATTESTERS = ("ukraine/observer", "russia/observer", "osce/observer")
PARTIES = (
    ("icrc", "International Committee of the Red Cross", "facilitator", REGISTRAR),
    ("ukraine", "Ukraine", "party-to-conflict", ATTESTERS[0]),
    ("russia", "Russian Federation", "party-to-conflict", ATTESTERS[1]),
    ("osce", "OSCE observer mission", "observer", ATTESTERS[2]),
)
CHECKPOINTS = ("cp-north", "cp-centre", "cp-south")
RECEPTIONS = ("reception-west", "reception-east")
START = datetime(2022, 5, 1, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class City:
    """The size of a generated operation."""

    people: int = 140_000
    movements: int = 3_000
    vehicles_per_movement: int = 10
    seats: int = 8
    pickups: int = 20
    fleet: int = 400
    seed: int = 2022

    def __post_init__(self) -> None:
        if self.people < 1 or self.movements < 1:
            raise ValueError("a city operation needs people and movements")
        if self.people > self.movements * self.vehicles_per_movement * self.seats:
            raise ValueError("more people than seats in all movements")
        if self.fleet < self.vehicles_per_movement:
            raise ValueError("the fleet must fill one movement")


def _t(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def city_commands(city: City, public_key: Callable[[str], str]) -> Iterator[Command]:
    """The commands of the whole operation, in the order they happen."""
    rng = random.Random(city.seed)  # noqa: S311 - a reproducible scenario, not a secret
    clock = [START]

    def cmd(actor: str, kind: str, body: dict[str, Any]) -> Command:
        clock[0] += timedelta(seconds=1)
        return Command(actor, kind, body, clock[0])

    yield from _plan(city, cmd, public_key)
    per_movement, extra = divmod(city.people, city.movements)
    person = 0
    for m in range(city.movements):
        count = per_movement + (1 if m < extra else 0)
        refs = [f"P{person + k:07d}" for k in range(count)]
        person += count
        yield from _movement(city, m, refs, rng, cmd)


def _plan(
    city: City, cmd: Callable[[str, str, dict[str, Any]], Command], public_key: Callable[[str], str]
) -> Iterator[Command]:
    yield cmd(
        COORDINATOR,
        "operation.opened",
        {
            "operation": "city-2022",
            "name": "City evacuation (generated)",
            "coordinator": "un-ocha",
            "coordinator_name": "UN OCHA",
            "key": {"actor": COORDINATOR, "public_key": public_key(COORDINATOR)},
        },
    )
    for party, name, role, actor in PARTIES:
        key = {"actor": actor, "public_key": public_key(actor)}
        yield cmd(
            COORDINATOR, "party.joined", {"party": party, "name": name, "role": role, "key": key}
        )
    sites = [(f"pickup-{n:02d}", "pickup", "ukraine") for n in range(city.pickups)]
    sites += [(s, "checkpoint", "russia") for s in CHECKPOINTS]
    sites += [(r, "reception", "ukraine") for r in RECEPTIONS]
    for n, (site, kind, controlled_by) in enumerate(sites):
        body = {
            "site": site,
            "name": site.replace("-", " ").title(),
            "site_kind": kind,
            "lat": 47.0 + n / 100,
            "lon": 37.5 + n / 100,
            "controlled_by": controlled_by,
        }
        yield cmd(COORDINATOR, "site.declared", body)
    for n in range(city.pickups):
        route = {
            "route": f"route-{n:02d}",
            "name": f"Pickup {n:02d} to {RECEPTIONS[n % 2]}",
            "sites": [f"pickup-{n:02d}", *CHECKPOINTS, RECEPTIONS[n % 2]],
        }
        yield cmd(COORDINATOR, "route.declared", route)
    for v in range(city.fleet):
        vehicle = {
            "vehicle": f"bus-{v:04d}",
            "vehicle_kind": "minibus",
            "seats": city.seats,
            "stretchers": 0,
            "operated_by": "icrc",
        }
        yield cmd(REGISTRAR, "vehicle.registered", vehicle)


def _movement(  # noqa: C901 - one operation's movement, in the order things happen
    city: City,
    m: int,
    refs: list[str],
    rng: random.Random,
    cmd: Callable[[str, str, dict[str, Any]], Command],
) -> Iterator[Command]:
    movement = f"m{m:05d}"
    pickup = m % city.pickups
    reception = RECEPTIONS[pickup % 2]
    other = RECEPTIONS[1 - pickup % 2]
    vehicles = [
        f"bus-{(m * city.vehicles_per_movement + k) % city.fleet:04d}"
        for k in range(city.vehicles_per_movement)
    ]
    departs = START + timedelta(hours=1 + m // 10)
    yield cmd(
        COORDINATOR,
        "movement.notified",
        {
            "movement": movement,
            "route": f"route-{pickup:02d}",
            "vehicles": vehicles,
            "departs_at": _t(departs),
            "purpose": "evacuation of civilians who asked to leave",
        },
    )
    for actor in ATTESTERS[:2]:
        yield cmd(actor, "movement.acknowledged", {"movement": movement})
    seat_of: dict[str, list[str]] = {v: [] for v in vehicles}
    household = 0
    for n, ref in enumerate(refs):
        if n == 0 or rng.random() < 0.3:
            household += 1
        changes = rng.random() < 0.1
        yield cmd(
            REGISTRAR,
            "person.registered",
            {
                "person": ref,
                "household": f"H{movement}-{household:03d}",
                "site": f"pickup-{pickup:02d}",
                "age_band": rng.choice(("0-4", "5-11", "12-17", "18-59", "18-59", "60+")),
                "sex": rng.choice(("female", "male")),
                "needs": ["medical"] if rng.random() < 0.05 else [],
                "destination": other if changes else reception,
                "consent": True,
            },
        )
        if changes:
            yield cmd(
                REGISTRAR,
                "person.destination.changed",
                {"person": ref, "destination": reception},
            )
        seat_of[vehicles[n // city.seats]].append(ref)
    for vehicle, aboard in seat_of.items():
        for ref in aboard:
            yield cmd(
                REGISTRAR,
                "person.boarded",
                {"person": ref, "movement": movement, "vehicle": vehicle},
            )
    yield cmd(REGISTRAR, "movement.departed", {"movement": movement})
    for site in (*CHECKPOINTS, reception):
        for vehicle, aboard in seat_of.items():
            count = {"movement": movement, "vehicle": vehicle, "site": site}
            yield cmd(REGISTRAR, "checkpoint.passed", {**count, "headcount": len(aboard)})
            for actor in ATTESTERS:
                yield cmd(actor, "headcount.attested", {**count, "headcount": len(aboard)})
    for aboard in seat_of.values():
        for ref in aboard:
            body = {"person": ref, "movement": movement, "site": reception}
            yield cmd(REGISTRAR, "person.arrived", body)
