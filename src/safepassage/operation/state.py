"""The state of an operation, folded from its events. Pure: no I/O, no clock.

``OperationState.apply`` takes one well-formed event (already checked by ``rules.check``) and
updates the state in place; folding every event of a log in order gives the same state
wherever it is done, which is what lets every party recompute every figure.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from safepassage.events import catalogue as c
from safepassage.events.envelope import Event

__all__ = [
    "Actor",
    "Attestation",
    "Movement",
    "OperationState",
    "Passage",
    "Person",
    "Response",
]


@dataclass
class Actor:
    id: str
    party: str
    public_key: bytes
    revoked: bool = False


@dataclass(frozen=True)
class Response:
    """A party's acknowledgement of, or objection to, a notification."""

    party: str
    kind: Literal["acknowledged", "objected"]
    at: datetime
    event: str
    reason: str | None = None


@dataclass(frozen=True)
class Passage:
    """A vehicle passing a site of its route, with the headcount on board."""

    vehicle: str
    site: str
    headcount: int
    at: datetime
    event: str


@dataclass(frozen=True)
class Attestation:
    """A party's observer attesting a vehicle's headcount at a site."""

    party: str
    vehicle: str
    site: str
    headcount: int
    at: datetime
    event: str


@dataclass
class Movement:
    id: str
    route: str
    pause: str | None
    vehicles: list[str]
    departs_at: datetime
    purpose: str
    notified_at: datetime
    events: list[str]
    status: Literal["notified", "departed", "cancelled"] = "notified"
    departed_at: datetime | None = None
    departure_event: str | None = None
    responses: list[Response] = field(default_factory=list)
    responses_before_departure: int = 0
    """How many of ``responses`` were recorded before the movement departed."""
    passages: list[Passage] = field(default_factory=list)
    attestations: list[Attestation] = field(default_factory=list)

    def latest_responses(self, *, before_departure: bool = False) -> dict[str, Response]:
        """Each party's latest word on this notification (optionally: as it stood at departure)."""
        said = (
            self.responses[: self.responses_before_departure]
            if before_departure
            else self.responses
        )
        return {r.party: r for r in said}


@dataclass
class Person:
    """A pseudonymous person: a reference and non-identifying attributes only."""

    ref: str
    household: str
    site: str
    age_band: str
    sex: str
    needs: tuple[str, ...]
    destination: str
    registered_event: str
    destination_events: list[str] = field(default_factory=list)
    status: Literal["registered", "boarded", "left-convoy", "arrived"] = "registered"
    movement: str | None = None
    vehicle: str | None = None
    stretcher: bool = False
    boarded_event: str | None = None
    end_site: str | None = None
    end_event: str | None = None
    erased_event: str | None = None
    """The ``person.record.erased`` event, once their personal data is destroyed."""
    commitment: str | None = None
    """The registration's commitment to the person's record in the vault, if any."""


@dataclass
class OperationState:
    """Everything an operation's events have established so far."""

    operation: str | None = None
    name: str | None = None
    coordinator: str | None = None
    coordinator_name: str | None = None
    policy: c.Policy = field(default_factory=c.Policy)
    closed: bool = False
    events: int = 0
    parties: dict[str, c.PartyJoined] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    sites: dict[str, c.SiteDeclared] = field(default_factory=dict)
    routes: dict[str, c.RouteDeclared] = field(default_factory=dict)
    pauses: dict[str, c.PauseAgreed] = field(default_factory=dict)
    vehicles: dict[str, c.VehicleRegistered] = field(default_factory=dict)
    movements: dict[str, Movement] = field(default_factory=dict)
    persons: dict[str, Person] = field(default_factory=dict)
    incidents: dict[str, tuple[c.IncidentReported, str, str]] = field(default_factory=dict)
    """Incident id -> (body, reporting party, event id)."""
    witnesses: dict[str, str] = field(default_factory=dict)
    """Party -> its witness verifier key string (C2SP type 0x04)."""
    cosignatures: dict[str, c.CheckpointCosigned] = field(default_factory=dict)
    """Party -> its latest recorded cosignature of a log checkpoint."""
    aboard: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(movement, vehicle) -> the people who boarded it, in order (an index of ``persons``)."""
    erased: list[str] = field(default_factory=list)
    """People whose personal data the log says was erased, in order (an index of ``persons``)."""

    def role(self, party: str) -> str | None:
        """The role a party joined with (the coordinator's is ``coordinator``)."""
        if party == self.coordinator:
            return "coordinator"
        joined = self.parties.get(party)
        return joined.role if joined else None

    def parties_to_conflict(self) -> list[str]:
        return [p for p, j in self.parties.items() if j.role == "party-to-conflict"]

    def boarded_on(self, movement: str, vehicle: str) -> list[Person]:
        """People who boarded this vehicle of this movement (whatever happened after)."""
        return [self.persons[ref] for ref in self.aboard.get((movement, vehicle), ())]

    def apply(self, event: Event) -> None:  # noqa: C901, PLR0912, PLR0915 - a branch per kind
        """Fold one event in. The event must have passed ``rules.check`` against this state."""
        b, eid = event.body, event.id
        self.events += 1
        match b:  # the most frequent kinds first: a match tries its cases in order
            case c.HeadcountAttested():
                self.movements[b.movement].attestations.append(
                    Attestation(event.party, b.vehicle, b.site, b.headcount, event.at, eid)
                )
            case c.PersonRegistered():
                self.persons[b.person] = Person(
                    ref=b.person,
                    household=b.household,
                    site=b.site,
                    age_band=b.age_band,
                    sex=b.sex,
                    needs=tuple(b.needs),
                    destination=b.destination,
                    registered_event=eid,
                    commitment=b.commitment,
                )
            case c.PersonBoarded():
                p = self.persons[b.person]
                p.status, p.movement, p.vehicle = "boarded", b.movement, b.vehicle
                p.stretcher, p.boarded_event = b.stretcher, eid
                self.aboard.setdefault((b.movement, b.vehicle), []).append(b.person)
            case c.PersonLeftConvoy() | c.PersonArrived():
                p = self.persons[b.person]
                p.status = "arrived" if isinstance(b, c.PersonArrived) else "left-convoy"
                p.end_site, p.end_event = b.site, eid
            case c.CheckpointPassed():
                self.movements[b.movement].passages.append(
                    Passage(b.vehicle, b.site, b.headcount, event.at, eid)
                )
            case c.OperationOpened():
                self.operation, self.name, self.coordinator = b.operation, b.name, b.coordinator
                self.coordinator_name = b.coordinator_name
                self.policy = b.policy
                self._add_key(b.key)
                if b.witness is not None:
                    self.witnesses[b.coordinator] = b.witness
            case c.OperationClosed():
                self.closed = True
            case c.PartyJoined():
                self.parties[b.party] = b
                self._add_key(b.key)
                if b.witness is not None:
                    self.witnesses[b.party] = b.witness
            case c.ActorKeyRegistered():
                self._add_key(b.key)
            case c.ActorKeyRevoked():
                self.actors[b.actor].revoked = True
            case c.SiteDeclared():
                self.sites[b.site] = b
            case c.RouteDeclared():
                self.routes[b.route] = b
            case c.PauseAgreed():
                self.pauses[b.pause] = b
            case c.VehicleRegistered():
                self.vehicles[b.vehicle] = b
            case c.MovementNotified():
                self.movements[b.movement] = Movement(
                    id=b.movement,
                    route=b.route,
                    pause=b.pause,
                    vehicles=list(b.vehicles),
                    departs_at=b.departs_at,
                    purpose=b.purpose,
                    notified_at=event.at,
                    events=[eid],
                )
            case c.MovementAmended():
                m = self.movements[b.movement]
                m.vehicles = list(b.vehicles) if b.vehicles is not None else m.vehicles
                m.departs_at = b.departs_at or m.departs_at
                m.notified_at = event.at
                m.events.append(eid)
                m.responses.clear()  # an amended notification needs each party's word again
            case c.MovementCancelled():
                self.movements[b.movement].status = "cancelled"
                self.movements[b.movement].events.append(eid)
            case c.MovementAcknowledged() | c.MovementObjected():
                kind: Literal["acknowledged", "objected"] = (
                    "acknowledged" if isinstance(b, c.MovementAcknowledged) else "objected"
                )
                reason = b.reason if isinstance(b, c.MovementObjected) else b.note
                self.movements[b.movement].responses.append(
                    Response(event.party, kind, event.at, eid, reason)
                )
            case c.MovementDeparted():
                m = self.movements[b.movement]
                m.status, m.departed_at, m.departure_event = "departed", event.at, eid
                m.responses_before_departure = len(m.responses)
            case c.PersonDestinationChanged():
                p = self.persons[b.person]
                p.destination = b.destination
                p.destination_events.append(eid)
            case c.PersonRecordErased():
                self.persons[b.person].erased_event = eid
                self.erased.append(b.person)
            case c.IncidentReported():
                self.incidents[b.incident] = (b, event.party, eid)
            case c.CheckpointCosigned():
                self.cosignatures[event.party] = b

    def _add_key(self, key: c.ActorKey) -> None:
        party = key.actor.split("/", 1)[0]
        self.actors[key.actor] = Actor(key.actor, party, base64.b64decode(key.public_key))
