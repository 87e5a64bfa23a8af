"""The operation's report: every figure computed from the folded events. Pure: no I/O.

``build_report(state, checkpoint)`` is a pure function of the events up to the checkpoint, so
anyone who holds the log can recompute it and get the same bytes. The JSON Schema of the report
(``docs/report.schema.json``) is generated from the models here. The report is exact; its public
version (``operation.public``) has the same shape, with small counts of people suppressed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from safepassage.operation.reconcile import reconcile, unaccounted
from safepassage.operation.state import OperationState, Person

__all__ = [
    "AlertOut",
    "CheckpointOut",
    "Count",
    "Figures",
    "NotificationOut",
    "OperationOut",
    "OriginFigures",
    "Report",
    "ResponseOut",
    "build_report",
    "to_markdown",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class OperationOut(_Model):
    id: str
    name: str


class CheckpointOut(_Model):
    origin: str
    size: int
    """How many log entries the figures are computed from."""
    root: str
    """The Merkle tree root at that size, base64."""
    cosigners: list[str]
    """Parties whose cosignature on this checkpoint verified."""


Count = int | Literal["<5", "x"]
"""A number of people: exact in the report; in its public version, 1 to 4 is ``<5`` and ``x`` is
a count (at least 1) withheld so that a small one cannot be worked out by subtraction."""


class OriginFigures(_Model):
    """The people registered at one site (a pickup point), by choice and by outcome; counts as
    in the figures ("<5" and "x" in the public version)."""

    site: str
    """The site's name."""
    registered: Count
    chosen: dict[str, Count]
    """Destination name -> people registered here whose choice it is now."""
    reached: dict[str, Count]
    """Site name -> people from here recorded off the convoy there (arrived, or left it)."""
    not_boarded: Count
    in_transit: Count
    unaccounted: Count


class Figures(_Model):
    """Every figure. A count of people is a whole number in the report; in its public version
    1 to 4 is shown as "<5", and "x" is a count (at least 1) withheld so that a small one cannot
    be worked out by subtraction. Zero is always 0."""

    registered: Count
    boarded: Count
    not_boarded: Count
    """Registered, not (yet) boarded."""
    chosen: dict[str, Count]
    """Destination name -> registered people whose choice it is now (after any change)."""
    arrived: dict[str, Count]
    """Reception site name -> people recorded arriving there."""
    left_convoy: dict[str, Count]
    """Site name -> people recorded leaving the convoy there."""
    in_transit: Count
    """Boarded, not yet off the convoy, and their vehicle has not reached its route's end."""
    unaccounted: Count
    """Boarded, never recorded off the convoy, though their vehicle reached the end."""
    destination_changes: Count
    vehicles_registered: int
    seats_registered: int
    vehicles_dispatched: int
    """Distinct vehicles of movements that departed."""
    trips_dispatched: int
    """Vehicle trips: each departed movement counts each of its vehicles once."""
    seats_dispatched: int
    """Seats offered on those trips (a vehicle sent twice offers its seats twice)."""
    seats_used: Count
    """People who boarded a movement that departed."""
    incidents: dict[str, int]
    by_origin: list[OriginFigures]
    """Per registration site, in the order of their names."""


class ResponseOut(_Model):
    party: str
    response: Literal["acknowledged", "objected"]
    at: str
    reason: str | None = None


class NotificationOut(_Model):
    movement: str
    route: str
    notified_at: str
    departs_at: str
    vehicles: list[str]
    status: str
    responses: list[ResponseOut]
    """Every party's acknowledgement or objection, in the order recorded."""
    awaiting: list[str]
    """Parties to the conflict that have not acknowledged."""


class AlertOut(_Model):
    kind: str
    message: str
    events: list[str]


class Report(_Model):
    disclosure: Literal["exact", "public"] = "exact"
    """``exact`` for those who hold the log (they can recompute it); ``public`` for everyone
    else: small counts of people suppressed (docs/disclosure.md)."""
    operation: OperationOut
    checkpoint: CheckpointOut | None
    figures: Figures
    notifications: list[NotificationOut]
    alerts: list[AlertOut]


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _sorted(counts: Counter[str]) -> dict[str, Count]:
    return dict(sorted(counts.items()))


def _by_origin(state: OperationState, persons: list[Person], lost: set[str]) -> list[OriginFigures]:
    out = []
    for site in sorted({p.site for p in persons}, key=lambda s: (state.sites[s].name, s)):
        here = [p for p in persons if p.site == site]
        boarded = [p for p in here if p.status == "boarded"]
        out.append(
            OriginFigures(
                site=state.sites[site].name,
                registered=len(here),
                chosen=_sorted(Counter(state.sites[p.destination].name for p in here)),
                reached=_sorted(Counter(state.sites[p.end_site].name for p in here if p.end_site)),
                not_boarded=sum(1 for p in here if p.boarded_event is None),
                in_transit=sum(1 for p in boarded if p.ref not in lost),
                unaccounted=sum(1 for p in boarded if p.ref in lost),
            )
        )
    return out


def _figures(state: OperationState) -> Figures:
    persons = list(state.persons.values())
    boarded = [p for p in persons if p.boarded_event is not None]
    lost = {p.ref for p, _ in unaccounted(state)}
    departed = [m for m in state.movements.values() if m.status == "departed"]
    dispatched = sorted({v for m in departed for v in m.vehicles})
    departed_ids = {m.id for m in departed}

    def by_site(status: str) -> dict[str, Count]:
        return _sorted(
            Counter(
                state.sites[p.end_site].name for p in persons if p.status == status and p.end_site
            )
        )

    return Figures(
        registered=len(persons),
        boarded=len(boarded),
        not_boarded=len(persons) - len(boarded),
        chosen=_sorted(Counter(state.sites[p.destination].name for p in persons)),
        arrived=by_site("arrived"),
        left_convoy=by_site("left-convoy"),
        in_transit=sum(1 for p in persons if p.status == "boarded" and p.ref not in lost),
        unaccounted=len(lost),
        destination_changes=sum(len(p.destination_events) for p in persons),
        vehicles_registered=len(state.vehicles),
        seats_registered=sum(v.seats for v in state.vehicles.values()),
        vehicles_dispatched=len(dispatched),
        trips_dispatched=sum(len(m.vehicles) for m in departed),
        seats_dispatched=sum(state.vehicles[v].seats for m in departed for v in m.vehicles),
        seats_used=sum(1 for p in boarded if p.movement in departed_ids),
        incidents=dict(
            sorted(Counter(b.incident_kind for b, _, _ in state.incidents.values()).items())
        ),
        by_origin=_by_origin(state, persons, lost),
    )


def _notifications(state: OperationState) -> list[NotificationOut]:
    parties = state.parties_to_conflict()
    out = []
    for m in state.movements.values():
        said = m.latest_responses()
        out.append(
            NotificationOut(
                movement=m.id,
                route=m.route,
                notified_at=_time(m.notified_at),
                departs_at=_time(m.departs_at),
                vehicles=list(m.vehicles),
                status=m.status,
                responses=[
                    ResponseOut(party=r.party, response=r.kind, at=_time(r.at), reason=r.reason)
                    for r in m.responses
                ],
                awaiting=[p for p in parties if p not in said or said[p].kind != "acknowledged"],
            )
        )
    return out


def build_report(state: OperationState, checkpoint: CheckpointOut | None) -> Report:
    """The report of the operation as the events folded into ``state`` establish it."""
    return Report(
        operation=OperationOut(id=state.operation or "", name=state.name or ""),
        checkpoint=checkpoint,
        figures=_figures(state),
        notifications=_notifications(state),
        alerts=[
            AlertOut(kind=a.kind, message=a.message, events=list(a.events))
            for a in reconcile(state)
        ],
    )


def _counts(mapping: Mapping[str, Count]) -> str:
    return ", ".join(f"{n} at {name}" for name, n in mapping.items()) or "none"


PUBLIC_NOTE = (
    "Public version: a count of 1 to 4 people is shown as <5, and x marks a count (at least 1) "
    "withheld so that a small one cannot be worked out by subtraction. Whoever holds the log "
    "can compute the exact figures."
)


def _by_origin_table(rows: list[OriginFigures]) -> list[str]:
    lines = [
        "",
        "## By registration site",
        "",
        "| site | registered | chose | reached | not boarded | in transit | unaccounted |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {o.site} | {o.registered} | {_counts(o.chosen).replace(' at ', ' ')} | "
        f"{_counts(o.reached)} | {o.not_boarded} | {o.in_transit} | {o.unaccounted} |"
        for o in rows
    ]
    return lines


def to_markdown(report: Report) -> str:
    """The same report for people: every figure, every acknowledgement, every alert."""
    f = report.figures
    lines = [f"# {report.operation.name}", "", f"Operation `{report.operation.id}`."]
    if report.checkpoint is not None:
        cp = report.checkpoint
        lines += [
            "",
            (
                f"Computed from the first {cp.size} entries of log `{cp.origin}`, "
                f"root `{cp.root}`, cosigned by {', '.join(cp.cosigners) or 'no party yet'}."
            ),
        ]
    if report.disclosure == "public":
        lines += ["", PUBLIC_NOTE]
    lines += [
        "",
        "## Figures",
        "",
        "| figure | value |",
        "|---|---|",
        f"| registered | {f.registered} |",
        f"| boarded | {f.boarded} |",
        f"| not boarded | {f.not_boarded} |",
        f"| destinations chosen | {_counts(f.chosen).replace(' at ', ' ')} |",
        f"| arrived | {_counts(f.arrived)} |",
        f"| left the convoy (by their recorded choice) | {_counts(f.left_convoy)} |",
        f"| in transit | {f.in_transit} |",
        f"| unaccounted | {f.unaccounted} |",
        f"| destination changes | {f.destination_changes} |",
        (
            "| vehicles registered / dispatched (trips) | "
            f"{f.vehicles_registered} / {f.vehicles_dispatched} ({f.trips_dispatched}) |"
        ),
        (
            "| seats registered / dispatched / used | "
            f"{f.seats_registered} / {f.seats_dispatched} / {f.seats_used} |"
        ),
        f"| incidents | {_counts(f.incidents).replace(' at ', ' ')} |",
        *_by_origin_table(f.by_origin),
        "",
        "## Notifications",
    ]
    for n in report.notifications:
        lines += [
            "",
            (
                f"Movement `{n.movement}` on route `{n.route}`, notified {n.notified_at}, "
                f"departing {n.departs_at} ({n.status}):"
            ),
            "",
        ]
        lines += [
            f"- {r.party} {r.response} at {r.at}" + (f": {r.reason}" if r.reason else "")
            for r in n.responses
        ] or ["- no party has answered yet"]
        if n.awaiting:
            lines.append(f"- awaiting: {', '.join(n.awaiting)}")
    lines += ["", "## Alerts", ""]
    lines += [
        f"- **{a.kind}**: {a.message} (events {', '.join(e[:12] for e in a.events[:3])}"
        + (f" and {len(a.events) - 3} more" if len(a.events) > 3 else "")
        + ")"
        for a in report.alerts
    ] or ["None: every recorded fact agrees with the others."]
    return "\n".join(lines) + "\n"
