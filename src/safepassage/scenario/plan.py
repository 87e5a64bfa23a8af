"""Playing a scenario out: the operation's commands, in order. Pure.

The only I/O is ``load_scenario`` reading the file; there is no clock (every time comes from the
file) and no randomness but a seeded ``random.Random``, so a seed always gives the same
operation. The file's format and checks are in ``safepassage.scenario.spec``.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    ValidationError,
)

from safepassage.errors import FormatError
from safepassage.scenario.spec import (
    CHILD_BANDS,
    SHIPPED,
    STAFF,
    Cohort,
    Scenario,
    Step,
    check_scenario,
    field_name,
    require,
)

__all__ = ["Command", "Scenario", "commands", "load_scenario"]

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_K = TypeVar("_K")


def load_scenario(path: Path | None = None) -> Scenario:
    """Read and check a scenario file (``None``: the one shipped with safepassage).

    ``FormatError`` names the field at fault and the reason: a missing field, an unknown
    reference, a duplicate id, a time window that ends before it starts, a timeline whose steps
    overlap. A scenario that loads always plays out under the operation's rules.
    """
    try:
        if path is None:
            text = resources.files(__package__).joinpath(SHIPPED).read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot be read: {exc}", field="path") from exc
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"is not JSON: {exc}", field="scenario") from exc
    try:
        scenario = Scenario.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = "is required" if first["type"] == "missing" else str(first["msg"])
        raise FormatError(
            reason.removeprefix("Value error, "), field=field_name(tuple(first["loc"]))
        ) from exc
    check_scenario(scenario)
    # The timeline's steps fit together only once their events are counted: play it out once.
    commands(scenario, lambda _actor: "A" * 43 + "=", discrepancy=True)
    return scenario


# --- playing the operation out -------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One thing an actor records: the kind and body of an event, and when (aware, UTC)."""

    actor: str
    kind: str
    body: dict[str, Any]
    at: datetime


@dataclass
class _Person:
    ref: str
    household: str
    cohort: Cohort
    age_band: str
    sex: str
    needs: list[str] = field(default_factory=list)
    registrar: str = ""
    vehicle: str = ""
    stretcher: bool = False


def _time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Clock:
    """Times for one step after another: each step starts at its own time, after the last."""

    def __init__(self) -> None:
        self.last: datetime | None = None
        self._next = datetime.min.replace(tzinfo=UTC)
        self._every = timedelta(0)

    def start(self, name: str, step: Step) -> None:
        at = step.at.astimezone(UTC)
        if self.last is not None:
            require(
                at > self.last, f"{name}.at", f"must be after {_time(self.last)}, the step before"
            )
        self._next, self._every = at, step.every

    def tick(self) -> datetime:
        self.last, self._next = self._next, self._next + self._every
        return self.last


def _draw(rng: random.Random, weights: Mapping[_K, int]) -> _K:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _reference(rng: random.Random, prefix: str, used: set[str]) -> str:
    # A demo's references only need to be repeatable; a live operation draws them from `secrets`.
    while (ref := prefix + "".join(rng.choice(_BASE32) for _ in range(10))) in used:
        pass
    used.add(ref)
    return ref


def _households(s: Scenario, rng: random.Random) -> list[list[_Person]]:
    """Households of synthetic people, cohort by cohort, in the order they register."""
    e = s.evacuees
    used: set[str] = set()
    households: list[list[_Person]] = []
    for cohort in e.cohorts:
        left = cohort.people
        while left:
            size = min(left, _draw(rng, e.household_sizes))
            household = _reference(rng, "h-", used)
            households.append(
                [
                    _Person(
                        ref=_reference(rng, "p-", used),
                        household=household,
                        cohort=cohort,
                        # the first member is an adult: no child is registered alone
                        age_band=_draw(rng, e.member_age_bands if i else e.head_age_bands),
                        sex=_draw(rng, e.sexes),
                    )
                    for i in range(size)
                ]
            )
            left -= size
    rng.shuffle(households)
    people = [p for h in households for p in h]
    sizes = {h[0].household: len(h) for h in households}
    for need, count in e.needs.items():
        fit = [p for p in people if not p.needs and _fits(need, p, sizes[p.household])]
        require(count <= len(fit), f"evacuees.needs.{need}", f"only {len(fit)} people fit it")
        for p in rng.sample(fit, count):
            p.needs.append(need)
    for i, members in enumerate(households):
        for p in members:
            p.registrar = s.duties.registrars[i % len(s.duties.registrars)]
    return households


def _fits(need: str, p: _Person, household_size: int) -> bool:
    """Whether a need is plausible for this person (one need each, drawn among those it fits)."""
    if need == "pregnant":
        return p.sex == "female" and p.age_band == "18-59"
    if need == "older-alone":
        return p.age_band == "60+" and household_size == 1
    if need in ("unaccompanied-minor", "separated-child"):
        return p.age_band in CHILD_BANDS
    return True


def _board(s: Scenario, households: list[list[_Person]]) -> None:
    """Seat each household together on the convoy's emptiest vehicle; stretchers apart."""
    convoy = s.convoy()
    seats = {v: s.fleet_of(v).seats for v in convoy}
    stretchers = {v: s.fleet_of(v).stretchers for v in convoy}
    for household in households:
        sitting = [p for p in household if "stretcher" not in p.needs]
        for p in household:
            if "stretcher" in p.needs:
                p.vehicle, p.stretcher = max(convoy, key=stretchers.__getitem__), True
                require(stretchers[p.vehicle] > 0, "movement.vehicles", "too few stretcher places")
                stretchers[p.vehicle] -= 1
        if sitting:
            vehicle = max(convoy, key=seats.__getitem__)
            require(
                seats[vehicle] >= len(sitting),
                "movement.vehicles",
                f"no vehicle of the convoy has {len(sitting)} seats left for a household",
            )
            seats[vehicle] -= len(sitting)
            for p in sitting:
                p.vehicle = vehicle


class _Play:
    """Commands step by step, each step starting at its time in the scenario's timeline."""

    def __init__(self, s: Scenario, public_key: Callable[[str], str]) -> None:
        self.s, self.public_key = s, public_key
        self.out: list[Command] = []
        self.clock = _Clock()
        self.chief = s.coordinator().actors[0]
        self.lead = s.duties.convoy_lead
        self.m = s.movement

    def emit(self, actor: str, kind: str, **body: Any) -> None:  # noqa: ANN401 - JSON values
        body = {k: v for k, v in body.items() if v is not None}
        self.out.append(Command(actor, kind, body, self.clock.tick()))

    def key(self, actor: str) -> dict[str, str]:
        return {"actor": actor, "public_key": self.public_key(actor)}

    def opening(self) -> None:
        s, chief, coordinator = self.s, self.chief, self.s.coordinator()
        self.clock.start("timeline.opening", s.timeline.opening)
        self.emit(
            chief,
            "operation.opened",
            operation=s.operation,
            name=s.name,
            coordinator=coordinator.id,
            coordinator_name=coordinator.name,
            key=self.key(chief),
            policy=s.policy.model_dump(),
        )
        for p in s.parties:
            if p is not coordinator:
                joined = {"party": p.id, "name": p.name, "role": p.role}
                self.emit(chief, "party.joined", **joined, key=self.key(p.actors[0]))
        for p in s.parties:
            for actor in p.actors[1:]:
                self.emit(p.actors[0], "actor.key.registered", key=self.key(actor))

    def planning(self) -> None:
        s, chief = self.s, self.chief
        self.clock.start("timeline.planning", s.timeline.planning)
        for x in s.sites:
            where = x.model_dump(include={"name", "lat", "lon", "controlled_by", "capacity"})
            self.emit(chief, "site.declared", site=x.id, site_kind=x.kind, **where)
        self.emit(
            chief, "route.declared", route=s.route.id, name=s.route.name, sites=list(s.route.sites)
        )
        starts, ends = _time(s.pause.starts), _time(s.pause.ends)
        self.emit(
            chief, "pause.agreed", pause=s.pause.id, route=s.route.id, starts=starts, ends=ends
        )
        for f in s.fleets:
            operator = s.party(f.operated_by)
            registrar = operator.actors[0] if operator.role in STAFF else chief
            carries = f.model_dump(include={"seats", "stretchers", "operated_by"})
            for v in f.vehicles():
                self.emit(
                    registrar, "vehicle.registered", vehicle=v, vehicle_kind=f.kind, **carries
                )
        self.clock.start("timeline.notification", s.timeline.notification)
        self.emit(
            chief,
            "movement.notified",
            movement=self.m.id,
            route=s.route.id,
            pause=s.pause.id,
            vehicles=s.convoy(),
            departs_at=_time(self.m.departs_at),
            purpose=self.m.purpose,
        )

    def registration(self, people: list[_Person]) -> None:
        pickup = self.s.route.sites[0]
        self.clock.start("timeline.registration", self.s.timeline.registration)
        for p in people:
            self.emit(
                p.registrar,
                "person.registered",
                person=p.ref,
                household=p.household,
                site=pickup,
                age_band=p.age_band,
                sex=p.sex,
                needs=p.needs or None,
                destination=p.cohort.chose,
                consent=True,
            )
        self.changes(people, pickup)
        self.clock.start("timeline.boarding", self.s.timeline.boarding)
        for p in people:
            stretcher = p.stretcher or None
            boarded = {"movement": self.m.id, "vehicle": p.vehicle, "stretcher": stretcher}
            self.emit(p.registrar, "person.boarded", person=p.ref, **boarded)

    def changes(self, people: list[_Person], site: str) -> None:
        for p in people:
            if p.cohort.changed_at == site:
                actor = p.registrar if site == self.s.route.sites[0] else self.lead
                changed = {"destination": p.cohort.final, "site": site}
                self.emit(actor, "person.destination.changed", person=p.ref, **changed)

    def passage(self, i: int, people: list[_Person], off_by: int) -> None:
        """Passing the route's site i + 1: headcounts, attestations, choices, people leaving."""
        s, m, passage = self.s, self.m, self.m.passages[i]
        route, site = s.route.sites, passage.site
        self.clock.start(f"movement.passages[{i}]", passage)
        # on board when the vehicle reaches the site: everyone whose last site is not behind it
        aboard = {
            v: sum(p.vehicle == v and route.index(p.cohort.final) > i for p in people)
            for v in s.convoy()
        }
        for v, n in aboard.items():
            self.emit(
                self.lead, "checkpoint.passed", movement=m.id, vehicle=v, site=site, headcount=n
            )
        attester = s.attester(passage)
        if attester is not None:
            attested = dict(aboard)
            if off_by:
                # the first vehicle with people on board that the difference keeps at 0 or more
                fits = [v for v, n in aboard.items() if n > 0 and n + off_by >= 0]
                require(bool(fits), "movement.discrepancy.difference", "no vehicle fits it")
                attested[fits[0]] += off_by
            for v, n in attested.items():
                counted = {"movement": m.id, "vehicle": v, "site": site, "headcount": n}
                self.emit(attester, "headcount.attested", **counted)
        self.changes(people, site)
        end = site == route[-1]
        actor, kind = (
            (s.duties.reception, "person.arrived") if end else (self.lead, "person.left-convoy")
        )
        for p in people:
            if p.cohort.final == site:
                self.emit(actor, kind, person=p.ref, movement=m.id, site=site)


def commands(
    scenario: Scenario,
    public_key: Callable[[str], str],
    *,
    seed: int = 2022,
    discrepancy: bool = False,
) -> list[Command]:
    """The whole operation, in order: plan, notification, people, the convoy's trip, incidents.

    ``public_key(actor)`` is the actor's base64 Ed25519 public key. The same scenario and seed
    always give the same commands; ``discrepancy`` changes one attested headcount, nothing else.
    """
    s = scenario
    rng = random.Random(seed)  # noqa: S311 - synthetic people, repeatable by design
    households = _households(s, rng)
    _board(s, households)
    people = [p for h in households for p in h]
    play = _Play(s, public_key)
    play.opening()
    play.planning()
    notified = play.out[-1].at
    play.registration(people)
    play.clock.start("timeline.departure", s.timeline.departure)
    play.emit(play.lead, "movement.departed", movement=s.movement.id)
    departed = play.out[-1].at
    for i, passage in enumerate(s.movement.passages):
        wrong = discrepancy and passage.site == s.movement.discrepancy.site
        play.passage(i, people, s.movement.discrepancy.difference if wrong else 0)
    return _with_points(s, play.out, notified, departed)


def _with_points(
    s: Scenario, out: list[Command], notified: datetime, departed: datetime
) -> list[Command]:
    """Acknowledgements and incidents, each at its own time, merged into the steps' events."""
    points: list[tuple[str, Command]] = []
    for i, ack in enumerate(s.movement.acknowledgements):
        name = f"movement.acknowledgements[{i}].at"
        at = ack.at.astimezone(UTC)
        require(at > notified, name, f"must be after the notification ({_time(notified)})")
        require(
            at < departed or not s.policy.departure_waits_for_acknowledgements,
            name,
            f"must be before the departure ({_time(departed)}), which waits for it",
        )
        said = {"movement": s.movement.id} | ({"note": ack.note} if ack.note else {})
        points.append((name, Command(ack.actor, "movement.acknowledged", said, at)))
    for i, inc in enumerate(s.incidents):
        name = f"incidents[{i}].reported_at"
        at = inc.reported_at.astimezone(UTC)
        require(at > notified, name, f"must be after the notification ({_time(notified)})")
        body = {
            "incident": inc.id,
            "incident_kind": inc.kind,
            "occurred_at": _time(inc.occurred_at),
            "site": inc.site,
            "movement": inc.movement,
            "description": inc.description,
            "injured": inc.injured,
        }
        reported = {k: v for k, v in body.items() if v is not None}
        points.append((name, Command(inc.reported_by, "incident.reported", reported, at)))
    merged = list(out)
    for name, command in sorted(points, key=lambda p: p[1].at):
        times = [c.at for c in merged]
        where = bisect.bisect_left(times, command.at)
        require(
            where == len(times) or times[where] != command.at,
            name,
            f"{_time(command.at)} is already the time of another event",
        )
        merged.insert(where, command)
    return merged
