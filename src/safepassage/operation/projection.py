"""The rows of the read models (projections), computed from the state. Pure: no database.

A projection is a set of tables a user or a server queries (who is registered, where each
movement stands, what each party said) without replaying the log. Its rows are a function of
the state folded from the log, so they never disagree with it:

* every event adds one row to ``events`` (``event_row``);
* every event *touches* some entities (``touched``): a person, a movement, a site...; after the
  event is folded in, each touched entity's rows are replaced by ``entity_rows(state, entity)``;
* rebuilding from the log writes ``entity_rows`` for every entity of the final state
  (``all_entities``) and one ``events`` row per entry.

Both ways give the same tables, which is what ``safepassage rebuild`` relies on and the tests
check on every prefix of a log. The database side (``safepassage.projections``) only executes
what this module computes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Final

from pydantic_core import from_json

from safepassage.events import catalogue as c
from safepassage.events.envelope import Event
from safepassage.operation.state import OperationState

__all__ = [
    "FAMILIES",
    "Entity",
    "Row",
    "Value",
    "all_entities",
    "entity_rows",
    "event_row",
    "touched",
]

Value = str | int | float | bool | datetime | None
Row = dict[str, Value]
Entity = tuple[str, str]
"""(family, key): e.g. ``("person", "P-0001")`` or ``("movement", "m1")``."""

FAMILIES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "operation": (("operation", "operation"),),
    "party": (("parties", "party"),),
    "actor": (("actors", "actor"),),
    "site": (("sites", "site"),),
    "route": (("routes", "route"), ("route_sites", "route")),
    "pause": (("pauses", "pause"),),
    "vehicle": (("vehicles", "vehicle"),),
    "movement": (
        ("movements", "movement"),
        ("movement_vehicles", "movement"),
        ("responses", "movement"),
        ("passages", "movement"),
        ("attestations", "movement"),
    ),
    "person": (("persons", "person"),),
    "incident": (("incidents", "incident"),),
    "cosignature": (("cosignatures", "party"),),
}
"""Each family's tables, and the column that holds the entity's key in each."""

_MOVEMENT_EVENTS = (
    c.MovementNotified,
    c.MovementAmended,
    c.MovementCancelled,
    c.MovementAcknowledged,
    c.MovementObjected,
    c.MovementDeparted,
    c.CheckpointPassed,
    c.HeadcountAttested,
)
_PERSON_EVENTS = (
    c.PersonRegistered,
    c.PersonDestinationChanged,
    c.PersonBoarded,
    c.PersonLeftConvoy,
    c.PersonArrived,
)


def event_row(index: int, event: Event) -> Row:
    """The ``events`` row of the entry at ``index``."""
    return {
        "idx": index,
        "id": event.id,
        "kind": event.kind,
        "actor": event.actor,
        "party": event.party,
        "at": event.at,
    }


def logged_event_row(index: int, raw: bytes) -> Row:
    """``event_row`` straight from a logged entry's bytes, without reading the whole event.

    For a helper process that writes only the ``events`` table while another folds the log:
    the entry is trusted as logged (the folding side reads and checks every entry in full).
    """
    doc = from_json(raw)
    actor: str = doc["actor"]
    return {
        "idx": index,
        "id": hashlib.sha256(raw).hexdigest(),
        "kind": doc["kind"],
        "actor": actor,
        "party": actor.split("/", 1)[0],
        "at": datetime.fromisoformat(doc["at"]),
    }


def touched(event: Event) -> list[Entity]:  # noqa: C901, PLR0911, PLR0912 - a case per kind
    """The entities whose rows may change when ``event`` is folded in."""
    b = event.body
    match b:
        case c.OperationOpened():
            return [("operation", b.operation), ("party", b.coordinator), ("actor", b.key.actor)]
        case c.OperationClosed():
            return [("operation", event.operation)]
        case c.PartyJoined():
            return [("party", b.party), ("actor", b.key.actor)]
        case c.ActorKeyRegistered():
            return [("actor", b.key.actor)]
        case c.ActorKeyRevoked():
            return [("actor", b.actor)]
        case c.SiteDeclared():
            return [("site", b.site)]
        case c.RouteDeclared():
            return [("route", b.route)]
        case c.PauseAgreed():
            return [("pause", b.pause)]
        case c.VehicleRegistered():
            return [("vehicle", b.vehicle)]
        case c.IncidentReported():
            return [("incident", b.incident)]
        case c.CheckpointCosigned():
            return [("cosignature", event.party)]
        case c.PersonRecordErased():
            return []  # no table shows whether a record is still held
        case _ if isinstance(b, _MOVEMENT_EVENTS):
            return [("movement", b.movement)]
        case _ if isinstance(b, _PERSON_EVENTS):
            return [("person", b.person)]
    raise AssertionError(f"no projection for {event.kind}")  # pragma: no cover - catalogue test


def all_entities(state: OperationState) -> Iterator[Entity]:
    """Every entity the state knows, in a stable order."""
    if state.operation is not None:
        yield ("operation", state.operation)
    if state.coordinator is not None:
        yield ("party", state.coordinator)
    yield from (("party", p) for p in state.parties)
    yield from (("actor", a) for a in state.actors)
    yield from (("site", s) for s in state.sites)
    yield from (("route", r) for r in state.routes)
    yield from (("pause", p) for p in state.pauses)
    yield from (("vehicle", v) for v in state.vehicles)
    yield from (("movement", m) for m in state.movements)
    yield from (("person", p) for p in state.persons)
    yield from (("incident", i) for i in state.incidents)
    yield from (("cosignature", p) for p in state.cosignatures)


def entity_rows(state: OperationState, entity: Entity) -> dict[str, list[Row]]:  # noqa: C901, PLR0911, PLR0912
    """The rows an entity has in each table of its family (``{}`` if it does not exist)."""
    family, key = entity
    match family:
        case "operation":
            return _operation_rows(state)
        case "party":
            return _party_rows(state, key)
        case "actor":
            a = state.actors.get(key)
            if a is None:
                return {}
            row: Row = {"actor": a.id, "party": a.party, "public_key": a.public_key.hex()}
            return {"actors": [{**row, "revoked": a.revoked}]}
        case "site":
            return _site_rows(state, key)
        case "route":
            r = state.routes.get(key)
            if r is None:
                return {}
            return {
                "routes": [{"route": r.route, "name": r.name}],
                "route_sites": [
                    {"route": r.route, "position": n, "site": s} for n, s in enumerate(r.sites)
                ],
            }
        case "pause":
            p = state.pauses.get(key)
            if p is None:
                return {}
            row = {"pause": p.pause, "route": p.route, "starts": p.starts, "ends": p.ends}
            return {"pauses": [row]}
        case "vehicle":
            return _vehicle_rows(state, key)
        case "movement":
            return _movement_rows(state, key)
        case "person":
            return _person_rows(state, key)
        case "incident":
            return _incident_rows(state, key)
        case "cosignature":
            s = state.cosignatures.get(key)
            if s is None:
                return {}
            return {"cosignatures": [{"party": key, "size": s.size, "root": s.root}]}
    raise ValueError(f"unknown projection family {family!r}")


def _operation_rows(state: OperationState) -> dict[str, list[Row]]:
    if state.operation is None:
        return {}
    return {
        "operation": [
            {
                "operation": state.operation,
                "name": state.name,
                "coordinator": state.coordinator,
                "departure_waits_for_acknowledgements": (
                    state.policy.departure_waits_for_acknowledgements
                ),
                "closed": state.closed,
            }
        ]
    }


def _party_rows(state: OperationState, key: str) -> dict[str, list[Row]]:
    if key == state.coordinator:
        name, role = state.coordinator_name, "coordinator"
    elif key in state.parties:
        name, role = state.parties[key].name, state.parties[key].role
    else:
        return {}
    row: Row = {"party": key, "name": name, "role": role, "witness": state.witnesses.get(key)}
    return {"parties": [row]}


def _site_rows(state: OperationState, key: str) -> dict[str, list[Row]]:
    s = state.sites.get(key)
    if s is None:
        return {}
    row: Row = {
        "site": s.site,
        "name": s.name,
        "site_kind": s.site_kind,
        "lat": s.lat,
        "lon": s.lon,
        "controlled_by": s.controlled_by,
        "capacity": s.capacity,
    }
    return {"sites": [row]}


def _vehicle_rows(state: OperationState, key: str) -> dict[str, list[Row]]:
    v = state.vehicles.get(key)
    if v is None:
        return {}
    row: Row = {
        "vehicle": v.vehicle,
        "vehicle_kind": v.vehicle_kind,
        "seats": v.seats,
        "stretchers": v.stretchers,
        "operated_by": v.operated_by,
    }
    return {"vehicles": [row]}


def _movement_rows(state: OperationState, key: str) -> dict[str, list[Row]]:
    m = state.movements.get(key)
    if m is None:
        return {}
    movement: Row = {
        "movement": m.id,
        "route": m.route,
        "pause": m.pause,
        "departs_at": m.departs_at,
        "purpose": m.purpose,
        "notified_at": m.notified_at,
        "status": m.status,
        "departed_at": m.departed_at,
        "departure_event": m.departure_event,
    }
    return {
        "movements": [movement],
        "movement_vehicles": [
            {"movement": m.id, "position": n, "vehicle": v} for n, v in enumerate(m.vehicles)
        ],
        "responses": [
            {
                "movement": m.id,
                "position": n,
                "party": r.party,
                "response": r.kind,
                "at": r.at,
                "event": r.event,
                "reason": r.reason,
                "before_departure": m.status == "departed" and n < m.responses_before_departure,
            }
            for n, r in enumerate(m.responses)
        ],
        "passages": [
            {
                "movement": m.id,
                "position": n,
                "vehicle": p.vehicle,
                "site": p.site,
                "headcount": p.headcount,
                "at": p.at,
                "event": p.event,
            }
            for n, p in enumerate(m.passages)
        ],
        "attestations": [
            {
                "movement": m.id,
                "position": n,
                "party": a.party,
                "vehicle": a.vehicle,
                "site": a.site,
                "headcount": a.headcount,
                "at": a.at,
                "event": a.event,
            }
            for n, a in enumerate(m.attestations)
        ],
    }


def _person_rows(state: OperationState, key: str) -> dict[str, list[Row]]:
    p = state.persons.get(key)
    if p is None:
        return {}
    row: Row = {
        "person": p.ref,
        "household": p.household,
        "site": p.site,
        "age_band": p.age_band,
        "sex": p.sex,
        "needs": ",".join(p.needs),
        "destination": p.destination,
        "destination_changes": len(p.destination_events),
        "status": p.status,
        "movement": p.movement,
        "vehicle": p.vehicle,
        "stretcher": p.stretcher,
        "end_site": p.end_site,
        "registered_event": p.registered_event,
        "boarded_event": p.boarded_event,
        "end_event": p.end_event,
    }
    return {"persons": [row]}


def _incident_rows(state: OperationState, key: str) -> dict[str, list[Row]]:
    found = state.incidents.get(key)
    if found is None:
        return {}
    b, party, event = found
    row: Row = {
        "incident": b.incident,
        "incident_kind": b.incident_kind,
        "occurred_at": b.occurred_at,
        "site": b.site,
        "movement": b.movement,
        "description": b.description,
        "injured": b.injured,
        "party": party,
        "event": event,
    }
    return {"incidents": [row]}
