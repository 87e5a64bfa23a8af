"""Reconciliation: where the recorded facts disagree with each other. Pure: no I/O.

Facts are never refused for being inconvenient; they are raised here instead, each alert naming
the events behind it so that anyone holding the log can look them up:

* per vehicle and site: a headcount (the convoy's, or a party's attestation) that differs from
  the manifest: the people who boarded, less those who got off at earlier sites of the route;
* per person: boarded and neither arrived nor left the convoy once their vehicle reached the end
  of its route (or the operation closed): unaccounted; arrived or left somewhere else than the
  destination they chose: flagged;
* per movement: departed before every party to the conflict acknowledged it, or despite an
  objection.
"""

from __future__ import annotations

from dataclasses import dataclass

from safepassage.operation.state import Movement, OperationState, Person

__all__ = ["Alert", "reconcile", "unaccounted"]


@dataclass(frozen=True)
class Alert:
    kind: str
    message: str
    events: tuple[str, ...]


def _expected_on_board(state: OperationState, m: Movement, vehicle: str, site: str) -> list[Person]:
    """Who should be on board when the vehicle reaches ``site``: boarded, not yet off."""
    order = {s: i for i, s in enumerate(state.routes[m.route].sites)}
    here = order[site]
    return [
        p
        for p in state.boarded_on(m.id, vehicle)
        if p.end_site is None or order.get(p.end_site, len(order)) >= here
    ]


def _headcounts(state: OperationState) -> list[Alert]:
    alerts = []
    for m in state.movements.values():
        counts = [(p.vehicle, p.site, p.headcount, p.event, "the convoy") for p in m.passages]
        counts += [
            (a.vehicle, a.site, a.headcount, a.event, f"{a.party}'s observer")
            for a in m.attestations
        ]
        for vehicle, site, headcount, event, who in counts:
            aboard = _expected_on_board(state, m, vehicle, site)
            if headcount != len(aboard):
                name = state.sites[site].name
                alerts.append(
                    Alert(
                        "headcount-mismatch",
                        f"{vehicle} of {m.id} at {name}: {who} counted {headcount}, "
                        f"the manifest has {len(aboard)} on board",
                        (event, *(p.boarded_event for p in aboard if p.boarded_event)),
                    )
                )
    return alerts


def _reached_end(state: OperationState, person: Person) -> str | None:
    """The event showing the person's vehicle reached the end of its route, if any."""
    if person.movement is None:
        return None
    m = state.movements[person.movement]
    last = state.routes[m.route].sites[-1]
    for passage in m.passages:
        if passage.vehicle == person.vehicle and passage.site == last:
            return passage.event
    return None


def unaccounted(state: OperationState) -> list[tuple[Person, str | None]]:
    """People who boarded and were never recorded off the convoy, though it ended."""
    out = []
    for p in state.persons.values():
        if p.status != "boarded":
            continue
        end = _reached_end(state, p)
        if end is not None or state.closed:
            out.append((p, end))
    return out


def _people(state: OperationState) -> list[Alert]:
    alerts = []
    for p, end in unaccounted(state):
        where = "the end of its route" if end else "the close of the operation"
        alerts.append(
            Alert(
                "unaccounted",
                f"person {p.ref} boarded {p.vehicle} of {p.movement} and was not recorded "
                f"arriving or leaving the convoy before {where}",
                tuple(e for e in (p.boarded_event, end) if e),
            )
        )
    for p in state.persons.values():
        if p.end_site is not None and p.end_site != p.destination:
            chosen = state.sites[p.destination].name
            verb = "arrived at" if p.status == "arrived" else "left the convoy at"
            alerts.append(
                Alert(
                    "elsewhere-than-chosen",
                    f"person {p.ref} {verb} {state.sites[p.end_site].name}, but chose {chosen}",
                    tuple(e for e in (p.registered_event, *p.destination_events, p.end_event) if e),
                )
            )
    return alerts


def _movements(state: OperationState) -> list[Alert]:
    alerts = []
    parties = state.parties_to_conflict()
    for m in state.movements.values():
        if m.status != "departed" or m.departure_event is None:
            continue
        said = m.latest_responses(before_departure=True)
        missing = [p for p in parties if p not in said or said[p].kind != "acknowledged"]
        if missing:
            alerts.append(
                Alert(
                    "departed-without-acknowledgement",
                    f"{m.id} departed before {', '.join(missing)} acknowledged it",
                    (*m.events, m.departure_event),
                )
            )
        objections = [r for r in said.values() if r.kind == "objected"]
        if objections:
            alerts.append(
                Alert(
                    "departed-despite-objection",
                    f"{m.id} departed although "
                    + ", ".join(f"{r.party} objected ({r.reason})" for r in objections),
                    (*(r.event for r in objections), m.departure_event),
                )
            )
    return alerts


def reconcile(state: OperationState) -> list[Alert]:
    """Every disagreement between the recorded facts, most concrete first."""
    return _headcounts(state) + _people(state) + _movements(state)
