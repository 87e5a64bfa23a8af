"""The rules a new event must satisfy against the current state. Pure: no I/O.

``check(state, event)`` raises ``RuleError`` naming the field and the reason when the event
would break a rule: an unknown reference, an actor acting for a party it does not belong to,
a role that may not record this kind of fact, boarding past a vehicle's seats, a person on two
vehicles, departure before acknowledgements where the operation's policy requires them.

Facts are never refused for being inconvenient: a headcount that disagrees with the manifest,
an objection, an arrival at another destination than the one chosen are all accepted here and
raised by reconciliation instead.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime

from safepassage.errors import FormatError, RuleError, SignatureError
from safepassage.events import catalogue as c
from safepassage.events.envelope import Event
from safepassage.ledger.note import KEY_TYPE_COSIGNATURE_V1, Verifier
from safepassage.operation.state import OperationState

__all__ = ["ALLOWED_ROLES", "check"]

STAFF = frozenset({"coordinator", "facilitator"})
ANY = frozenset({"coordinator", "facilitator", "party-to-conflict", "observer"})

ALLOWED_ROLES: dict[str, frozenset[str]] = {
    "operation.closed": frozenset({"coordinator"}),
    "party.joined": frozenset({"coordinator"}),
    "actor.key.registered": ANY,
    "actor.key.revoked": ANY,
    "site.declared": frozenset({"coordinator"}),
    "route.declared": frozenset({"coordinator"}),
    "pause.agreed": frozenset({"coordinator"}),
    "vehicle.registered": STAFF,
    "movement.notified": frozenset({"coordinator"}),
    "movement.amended": frozenset({"coordinator"}),
    "movement.cancelled": frozenset({"coordinator"}),
    "movement.acknowledged": frozenset({"party-to-conflict", "observer"}),
    "movement.objected": frozenset({"party-to-conflict", "observer"}),
    "movement.departed": STAFF,
    "checkpoint.passed": STAFF,
    "headcount.attested": frozenset({"party-to-conflict", "observer"}),
    "person.registered": STAFF,
    "person.destination.changed": STAFF,
    "person.boarded": STAFF,
    "person.left-convoy": STAFF,
    "person.arrived": STAFF,
    "person.record.erased": STAFF,
    "incident.reported": ANY,
    "checkpoint.cosigned": ANY,
}
"""Which roles may record each kind of fact (``operation.opened`` starts an operation)."""


def _need(ok: bool, field: str, reason: str) -> None:
    if not ok:
        raise RuleError(reason, field=field)


def _check_author(state: OperationState, event: Event, verified_with: bytes | None) -> None:
    """The actor is registered, not revoked, signed this event, and its party may do this."""
    if isinstance(event.body, c.OperationOpened):
        _need(state.operation is None, "kind", "the operation is already open")
        _need(event.body.key.actor == event.actor, "actor", "must be the key named in the body")
        _need(
            event.party == event.body.coordinator,
            "actor",
            "must act for the coordinating party named in the body",
        )
        _verify(event, base64.b64decode(event.body.key.public_key))
        return
    _need(state.operation is not None, "kind", "the operation has not been opened")
    _need(
        not state.closed or isinstance(event.body, c.PersonRecordErased),  # data outlives it
        "kind",
        "the operation is closed: nothing more is recorded",
    )
    _need(
        event.operation == state.operation,
        "operation",
        f"this log records operation {state.operation!r}",
    )
    actor = state.actors.get(event.actor)
    _need(actor is not None, "actor", f"{event.actor} has no registered key")
    assert actor is not None
    _need(not actor.revoked, "actor", f"{event.actor}'s key was revoked")
    if verified_with != actor.public_key:
        _verify(event, actor.public_key)
    role = state.role(actor.party)
    allowed = ALLOWED_ROLES[event.kind]
    _need(
        role in allowed,
        "actor",
        f"a {role} may not record {event.kind} (allowed: {', '.join(sorted(allowed))})",
    )


def _verify(event: Event, public_key: bytes) -> None:
    try:
        event.verify(public_key)
    except SignatureError as exc:
        raise RuleError(exc.reason, field="sig") from exc


def _site(state: OperationState, site: str, field: str, kind: str | None = None) -> None:
    declared = state.sites.get(site)
    _need(declared is not None, field, f"unknown site {site!r}")
    if kind is not None:
        assert declared is not None
        _need(
            declared.site_kind == kind, field, f"{site!r} is a {declared.site_kind}, not a {kind}"
        )


def _movement(state: OperationState, movement: str, *, open_only: bool = False) -> None:
    m = state.movements.get(movement)
    _need(m is not None, "body.movement", f"unknown movement {movement!r}")
    assert m is not None
    _need(m.status != "cancelled", "body.movement", f"movement {movement!r} was cancelled")
    if open_only:
        _need(m.status == "notified", "body.movement", f"movement {movement!r} has departed")


def _vehicle_of(state: OperationState, movement: str, vehicle: str) -> None:
    _need(
        vehicle in state.movements[movement].vehicles,
        "body.vehicle",
        f"vehicle {vehicle!r} is not part of movement {movement!r}",
    )


def _on_route(state: OperationState, movement: str, site: str) -> None:
    route = state.routes[state.movements[movement].route]
    _need(site in route.sites, "body.site", f"{site!r} is not on route {route.route!r}")


def _unique(registry: dict[str, object], key: str, field: str, what: str) -> None:
    _need(key not in registry, field, f"{what} {key!r} is already declared")


def _person(state: OperationState, ref: str) -> None:
    _need(ref in state.persons, "body.person", f"unknown person {ref!r}")


# --- one check per kind ----------------------------------------------------------------------


def _party_joined(state: OperationState, b: c.PartyJoined, e: Event) -> None:
    _need(
        b.party not in state.parties and b.party != state.coordinator,
        "body.party",
        f"party {b.party!r} has already joined",
    )
    _need(b.role != "coordinator", "body.role", "the operation has one coordinator")
    _witness(b.witness)
    _need(b.key.actor.split("/")[0] == b.party, "body.key.actor", "must be <party>/<name>")


def _key_registered(state: OperationState, b: c.ActorKeyRegistered, e: Event) -> None:
    party = b.key.actor.split("/")[0]
    _need(party == e.party, "body.key.actor", f"{e.actor} may register keys of {e.party} only")
    _unique(state.actors, b.key.actor, "body.key.actor", "actor")  # type: ignore[arg-type]


def _key_revoked(state: OperationState, b: c.ActorKeyRevoked, e: Event) -> None:
    _need(b.actor in state.actors, "body.actor", f"unknown actor {b.actor!r}")
    party = b.actor.split("/")[0]
    _need(
        party == e.party or state.role(e.party) == "coordinator",
        "body.actor",
        f"{e.actor} may revoke keys of {e.party} only",
    )


def _site_declared(state: OperationState, b: c.SiteDeclared, e: Event) -> None:
    _unique(state.sites, b.site, "body.site", "site")  # type: ignore[arg-type]
    if b.controlled_by is not None:
        _need(
            state.role(b.controlled_by) is not None,
            "body.controlled_by",
            f"unknown party {b.controlled_by!r}",
        )


def _route_declared(state: OperationState, b: c.RouteDeclared, e: Event) -> None:
    _unique(state.routes, b.route, "body.route", "route")  # type: ignore[arg-type]
    for i, site in enumerate(b.sites):
        _site(state, site, f"body.sites.{i}")
    _site(state, b.sites[0], "body.sites.0", "pickup")
    _site(state, b.sites[-1], f"body.sites.{len(b.sites) - 1}", "reception")


def _pause_agreed(state: OperationState, b: c.PauseAgreed, e: Event) -> None:
    _unique(state.pauses, b.pause, "body.pause", "pause")  # type: ignore[arg-type]
    _need(b.route in state.routes, "body.route", f"unknown route {b.route!r}")


def _vehicle_registered(state: OperationState, b: c.VehicleRegistered, e: Event) -> None:
    _unique(state.vehicles, b.vehicle, "body.vehicle", "vehicle")  # type: ignore[arg-type]
    _need(
        state.role(b.operated_by) is not None,
        "body.operated_by",
        f"unknown party {b.operated_by!r}",
    )
    _need(b.seats + b.stretchers > 0, "body.seats", "a vehicle must carry someone")


def _vehicles(state: OperationState, vehicles: list[str]) -> None:
    _need(len(set(vehicles)) == len(vehicles), "body.vehicles", "a vehicle is listed twice")
    for i, v in enumerate(vehicles):
        _need(v in state.vehicles, f"body.vehicles.{i}", f"unknown vehicle {v!r}")


def _within_pause(state: OperationState, pause_id: str, departs_at: datetime) -> None:
    pause = state.pauses[pause_id]
    _need(
        pause.starts <= departs_at < pause.ends,
        "body.departs_at",
        f"must fall within pause {pause_id!r} ({pause.starts} to {pause.ends})",
    )


def _movement_notified(state: OperationState, b: c.MovementNotified, e: Event) -> None:
    _unique(state.movements, b.movement, "body.movement", "movement")  # type: ignore[arg-type]
    _need(b.route in state.routes, "body.route", f"unknown route {b.route!r}")
    if b.pause is not None:
        pause = state.pauses.get(b.pause)
        _need(pause is not None, "body.pause", f"unknown pause {b.pause!r}")
        assert pause is not None
        _need(pause.route == b.route, "body.pause", f"pause {b.pause!r} is for another route")
        _within_pause(state, b.pause, b.departs_at)
    _vehicles(state, b.vehicles)


def _movement_amended(state: OperationState, b: c.MovementAmended, e: Event) -> None:
    _movement(state, b.movement, open_only=True)
    if b.vehicles is not None:
        _vehicles(state, b.vehicles)
    pause = state.movements[b.movement].pause
    if b.departs_at is not None and pause is not None:
        _within_pause(state, pause, b.departs_at)


def _movement_cancelled(state: OperationState, b: c.MovementCancelled, e: Event) -> None:
    _movement(state, b.movement, open_only=True)


def _movement_response(
    state: OperationState, b: c.MovementAcknowledged | c.MovementObjected, e: Event
) -> None:
    _movement(state, b.movement)


def _movement_departed(state: OperationState, b: c.MovementDeparted, e: Event) -> None:
    _movement(state, b.movement, open_only=True)
    if state.policy.departure_waits_for_acknowledgements:
        said = state.movements[b.movement].latest_responses()
        missing = [
            p
            for p in state.parties_to_conflict()
            if p not in said or said[p].kind != "acknowledged"
        ]
        _need(
            not missing,
            "body.movement",
            "the operation's policy makes departure wait for every party's acknowledgement; "
            f"still missing: {', '.join(missing)}",
        )


def _passage(state: OperationState, b: c.CheckpointPassed | c.HeadcountAttested, e: Event) -> None:
    _movement(state, b.movement)
    _vehicle_of(state, b.movement, b.vehicle)
    _on_route(state, b.movement, b.site)
    if isinstance(b, c.CheckpointPassed):
        _need(
            state.movements[b.movement].status == "departed",
            "body.movement",
            f"movement {b.movement!r} has not departed",
        )


def _person_registered(state: OperationState, b: c.PersonRegistered, e: Event) -> None:
    _need(
        b.person not in state.persons, "body.person", f"person {b.person!r} is already registered"
    )
    _site(state, b.site, "body.site", "pickup")
    _site(state, b.destination, "body.destination", "reception")


def _destination_changed(state: OperationState, b: c.PersonDestinationChanged, e: Event) -> None:
    _person(state, b.person)
    _need(
        state.persons[b.person].status in ("registered", "boarded"),
        "body.person",
        f"person {b.person!r} has already arrived or left the convoy",
    )
    _site(state, b.destination, "body.destination", "reception")
    if b.site is not None:
        _site(state, b.site, "body.site")


def _boarded(state: OperationState, b: c.PersonBoarded, e: Event) -> None:
    _person(state, b.person)
    p = state.persons[b.person]
    _need(
        p.status == "registered",
        "body.person",
        f"person {b.person!r} is already on vehicle {p.vehicle!r} of movement {p.movement!r}"
        if p.status == "boarded"
        else f"person {b.person!r} has {p.status}",
    )
    _movement(state, b.movement, open_only=True)
    _vehicle_of(state, b.movement, b.vehicle)
    vehicle = state.vehicles[b.vehicle]
    aboard = [x for x in state.boarded_on(b.movement, b.vehicle) if x.stretcher == b.stretcher]
    places, what = (
        (vehicle.stretchers, "stretcher places") if b.stretcher else (vehicle.seats, "seats")
    )
    _need(
        len(aboard) < places,
        "body.vehicle",
        f"vehicle {b.vehicle!r} is full: all {places} {what} are taken",
    )


def _left_or_arrived(
    state: OperationState, b: c.PersonLeftConvoy | c.PersonArrived, e: Event
) -> None:
    _person(state, b.person)
    p = state.persons[b.person]
    _need(
        p.status == "boarded" and p.movement == b.movement,
        "body.person",
        f"person {b.person!r} is not on board movement {b.movement!r}",
    )
    _on_route(state, b.movement, b.site)
    if isinstance(b, c.PersonArrived):
        _site(state, b.site, "body.site", "reception")


def _record_erased(state: OperationState, b: c.PersonRecordErased, e: Event) -> None:
    _person(state, b.person)
    _need(
        state.persons[b.person].erased_event is None,
        "body.person",
        f"the record of person {b.person!r} is already erased",
    )


def _incident(state: OperationState, b: c.IncidentReported, e: Event) -> None:
    _unique(state.incidents, b.incident, "body.incident", "incident")  # type: ignore[arg-type]
    if b.site is not None:
        _site(state, b.site, "body.site")
    if b.movement is not None:
        _need(b.movement in state.movements, "body.movement", f"unknown movement {b.movement!r}")


def _witness(key: str | None) -> None:
    if key is None:
        return
    try:
        verifier = Verifier.from_key_string(key)
    except FormatError as exc:
        raise RuleError(exc.reason, field="body.witness") from exc
    _need(
        verifier.key_type == KEY_TYPE_COSIGNATURE_V1,
        "body.witness",
        "must be a cosignature key (type 0x04, C2SP tlog-cosignature)",
    )


def _opened(state: OperationState, b: c.OperationOpened, e: Event) -> None:
    _witness(b.witness)


def _nothing(state: OperationState, b: c.Body, e: Event) -> None:
    """Kinds whose only rule is who may record them."""


_CHECKS: dict[type[c.Body], Callable[[OperationState, c.Body, Event], None]] = {
    c.OperationOpened: _opened,  # type: ignore[dict-item]
    c.OperationClosed: _nothing,
    c.PartyJoined: _party_joined,  # type: ignore[dict-item]
    c.ActorKeyRegistered: _key_registered,  # type: ignore[dict-item]
    c.ActorKeyRevoked: _key_revoked,  # type: ignore[dict-item]
    c.SiteDeclared: _site_declared,  # type: ignore[dict-item]
    c.RouteDeclared: _route_declared,  # type: ignore[dict-item]
    c.PauseAgreed: _pause_agreed,  # type: ignore[dict-item]
    c.VehicleRegistered: _vehicle_registered,  # type: ignore[dict-item]
    c.MovementNotified: _movement_notified,  # type: ignore[dict-item]
    c.MovementAmended: _movement_amended,  # type: ignore[dict-item]
    c.MovementCancelled: _movement_cancelled,  # type: ignore[dict-item]
    c.MovementAcknowledged: _movement_response,  # type: ignore[dict-item]
    c.MovementObjected: _movement_response,  # type: ignore[dict-item]
    c.MovementDeparted: _movement_departed,  # type: ignore[dict-item]
    c.CheckpointPassed: _passage,  # type: ignore[dict-item]
    c.HeadcountAttested: _passage,  # type: ignore[dict-item]
    c.PersonRegistered: _person_registered,  # type: ignore[dict-item]
    c.PersonDestinationChanged: _destination_changed,  # type: ignore[dict-item]
    c.PersonBoarded: _boarded,  # type: ignore[dict-item]
    c.PersonLeftConvoy: _left_or_arrived,  # type: ignore[dict-item]
    c.PersonArrived: _left_or_arrived,  # type: ignore[dict-item]
    c.PersonRecordErased: _record_erased,  # type: ignore[dict-item]
    c.IncidentReported: _incident,  # type: ignore[dict-item]
    c.CheckpointCosigned: _nothing,
}


def check(state: OperationState, event: Event, *, verified_with: bytes | None = None) -> None:
    """``RuleError`` (field, reason) if ``event`` may not follow ``state``; else nothing.

    ``verified_with``: a public key the caller already checked the event's signature with
    (``Event.verify``); the signature is not checked again if it is the actor's key of record.
    """
    _check_author(state, event, verified_with)
    _CHECKS[type(event.body)](state, event.body, event)
