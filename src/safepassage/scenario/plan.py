"""The demo scenario: a scenario file's facts, and the commands that play the operation out.

Pure: the only I/O is ``load_scenario`` reading the JSON; no clock (every time comes from the
file) and no randomness but a seeded ``random.Random``, so a seed always gives the same
operation. The facts are data (``azovstal-2022.json``); how they become events is code here.

The scenario file is one JSON object (times are RFC 3339 with an offset, durations ISO 8601):

``about``
    What the file models and what in it is synthetic.
``operation``, ``name``, ``policy``
    The operation's id and name, and its policy (as ``operation.opened`` takes them).
``parties``
    ``[{id, name, role, actors}]``: exactly one ``coordinator``; ``actors`` are ``<party>/<name>``
    and the first one is the party's principal (it opens or joins, registers the others' keys,
    and attests headcounts unless a passage names another actor).
``duties``
    ``registrars`` (register and board people, one household each in turn), ``convoy_lead``
    (departure, checkpoint passages, choices en route, leaving the convoy) and ``reception``
    (arrivals at the route's last site): actors of the coordinator or a facilitator.
``sites``
    ``[{id, name, kind, lat, lon, controlled_by}]``; ``controlled_by`` is ``null`` for a besieged
    place or the front line.
``route``
    ``{id, name, sites}``: site ids in order, from a pickup to a reception.
``pause``
    ``{id, starts, ends}``: the agreed time window on the route.
``fleets``
    ``[{prefix, count, kind, seats, stretchers, operated_by}]``: ``count`` vehicles named
    ``<prefix>-<n>`` (n from 1, zero-padded to the count's width: ``bus-01``…``bus-70``), each
    registered by its operator's principal if that party is staff, else by the coordinator.
``movement``
    ``{id, purpose, departs_at, vehicles, acknowledgements, passages, discrepancy}``:
    ``vehicles`` takes the first n of each fleet (``{"bus": 5}``); ``acknowledgements`` are
    ``[{actor, at, note}]``; ``passages`` are ``[{site, at, every, attested_by}]``, one per site
    of the route after the pickup, in order; ``discrepancy`` ``{site, difference}`` says where
    and by how much the attested headcount is off when ``commands(..., discrepancy=True)``.
``evacuees``
    ``cohorts`` ``[{id, people, chose, changed_to, changed_at}]``: how many people chose which
    reception site when registering, and whether they changed it (to where, at which site);
    each leaves the convoy at its final choice, or arrives there if it ends the route.
    ``household_sizes``, ``head_age_bands``, ``member_age_bands`` and ``sexes`` are weights the
    seeded generator draws from; ``needs`` are exact counts of people with each need.
``incidents``
    ``[{id, kind, site, movement, occurred_at, reported_at, reported_by, description, injured}]``.
``timeline``
    ``opening``, ``planning``, ``notification``, ``registration``, ``boarding``, ``departure``:
    each ``{at, every}``, the first event of that step and the spacing of the next ones.

People are synthetic: references (``p-`` and ``h-`` plus ten base32 characters) and attributes
come from the seed and carry nothing about anyone. A discrepancy, when asked for, is put in the
attestation of the party controlling the site (the convoy lead's passage keeps the manifest's
count): the first vehicle of the convoy with people on board is attested ``difference`` off.
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
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from safepassage.errors import FormatError
from safepassage.events.catalogue import (
    ActorId,
    AgeBand,
    Count,
    IncidentKind,
    Name,
    Need,
    Policy,
    Role,
    Sex,
    SiteKind,
    Slug,
    Text,
    VehicleKind,
)

__all__ = ["Command", "Scenario", "commands", "load_scenario"]

SHIPPED = "azovstal-2022.json"
STAFF = frozenset({"coordinator", "facilitator"})
WITNESSES = frozenset({"party-to-conflict", "observer"})
"""Roles that may acknowledge movements and attest headcounts."""
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_CHILD = frozenset({"0-4", "5-11", "12-17"})
_K = TypeVar("_K")


def _weights(value: dict[_K, int]) -> dict[_K, int]:
    if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
        raise ValueError("weights must not be negative, and at least one must be positive")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Step(_Model):
    at: AwareDatetime
    every: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(minutes=1)


class PartySpec(_Model):
    id: Slug
    name: Name
    role: Role
    actors: Annotated[list[ActorId], Field(min_length=1)]


class Duties(_Model):
    registrars: Annotated[list[ActorId], Field(min_length=1)]
    convoy_lead: ActorId
    reception: ActorId


class SiteSpec(_Model):
    id: Slug
    name: Name
    kind: SiteKind
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    controlled_by: Slug | None = Field(...)
    capacity: Count | None = None


class RouteSpec(_Model):
    id: Slug
    name: Name
    sites: Annotated[list[Slug], Field(min_length=2)]


class PauseSpec(_Model):
    id: Slug
    starts: AwareDatetime
    ends: AwareDatetime

    @field_validator("ends")
    @classmethod
    def _ends_after_start(cls, ends: datetime, info: ValidationInfo) -> datetime:
        starts = info.data.get("starts")
        if starts is not None and ends <= starts:
            raise ValueError("must be after starts")
        return ends


class FleetSpec(_Model):
    prefix: Slug
    count: Annotated[int, Field(ge=1, le=10_000)]
    kind: VehicleKind
    seats: Count
    stretchers: Count = 0
    operated_by: Slug

    def vehicles(self) -> list[str]:
        width = len(str(self.count))
        return [f"{self.prefix}-{i:0{width}d}" for i in range(1, self.count + 1)]


class Acknowledgement(_Model):
    actor: ActorId
    at: AwareDatetime
    note: Text | None = None


class Passage(Step):
    site: Slug
    attested_by: ActorId | None = None


class Discrepancy(_Model):
    site: Slug
    difference: Annotated[int, Field(ge=-1000, le=1000)]


class MovementSpec(_Model):
    id: Slug
    purpose: Text
    departs_at: AwareDatetime
    vehicles: Annotated[dict[Slug, Annotated[int, Field(ge=1)]], Field(min_length=1)]
    acknowledgements: list[Acknowledgement]
    passages: list[Passage]
    discrepancy: Discrepancy


class Cohort(_Model):
    id: Slug
    people: Annotated[int, Field(ge=1, le=1_000_000)]
    chose: Slug
    changed_to: Slug | None = None
    changed_at: Slug | None = None

    @property
    def final(self) -> str:
        return self.changed_to or self.chose


class Evacuees(_Model):
    cohorts: Annotated[list[Cohort], Field(min_length=1)]
    household_sizes: Annotated[
        dict[Annotated[int, Field(ge=1, le=50)], int], AfterValidator(_weights)
    ]
    head_age_bands: Annotated[dict[AgeBand, int], AfterValidator(_weights)]
    member_age_bands: Annotated[dict[AgeBand, int], AfterValidator(_weights)]
    sexes: Annotated[dict[Sex, int], AfterValidator(_weights)]
    needs: dict[Need, Annotated[int, Field(ge=0)]] = {}


class IncidentSpec(_Model):
    id: Slug
    kind: IncidentKind
    site: Slug | None = Field(...)
    movement: Slug | None = Field(...)
    occurred_at: AwareDatetime
    reported_at: AwareDatetime
    reported_by: ActorId
    description: Text
    injured: Count = 0


class Timeline(_Model):
    opening: Step
    planning: Step
    notification: Step
    registration: Step
    boarding: Step
    departure: Step


class Scenario(_Model):
    """A validated scenario file; ``load_scenario`` makes one."""

    about: Text
    operation: Slug
    name: Name
    policy: Policy
    parties: Annotated[list[PartySpec], Field(min_length=1)]
    duties: Duties
    sites: list[SiteSpec]
    route: RouteSpec
    pause: PauseSpec
    fleets: Annotated[list[FleetSpec], Field(min_length=1)]
    movement: MovementSpec
    evacuees: Evacuees
    incidents: list[IncidentSpec]
    timeline: Timeline

    def actors(self) -> list[str]:
        """Every actor of every party, principals first within each party."""
        return [a for p in self.parties for a in p.actors]

    def party(self, party_id: str) -> PartySpec:
        return next(p for p in self.parties if p.id == party_id)

    def coordinator(self) -> PartySpec:
        return next(p for p in self.parties if p.role == "coordinator")

    def site(self, site_id: str) -> SiteSpec:
        return next(s for s in self.sites if s.id == site_id)

    def convoy(self) -> list[str]:
        """The movement's vehicles: the first n of each fleet it names."""
        fleets = {f.prefix: f for f in self.fleets}
        return [v for f, n in self.movement.vehicles.items() for v in fleets[f].vehicles()[:n]]

    def fleet_of(self, vehicle: str) -> FleetSpec:
        return next(f for f in self.fleets if vehicle in f.vehicles())

    def attester(self, passage: Passage) -> str | None:
        """Who attests headcounts at a passage's site: a witness of the party controlling it."""
        controller = self.site(passage.site).controlled_by
        if controller is None or self.party(controller).role not in WITNESSES:
            return None
        return passage.attested_by or self.party(controller).actors[0]


# --- loading and checking a scenario file ---------------------------------------------------


def _need(ok: bool, field: str, reason: str) -> None:
    if not ok:
        raise FormatError(reason, field=field)


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name or "scenario"


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
            reason.removeprefix("Value error, "), field=_field_name(tuple(first["loc"]))
        ) from exc
    _check_parties(scenario)
    _check_plan(scenario)
    _check_movement(scenario)
    _check_people(scenario)
    # The timeline's steps fit together only once their events are counted: play it out once.
    commands(scenario, lambda _actor: "A" * 43 + "=", discrepancy=True)
    return scenario


def _unique(ids: list[str], field: str, what: str) -> None:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        _need(x not in seen, field.format(i), f"{what} {x!r} is declared twice")
        seen.add(x)


def _check_parties(s: Scenario) -> None:
    _unique([p.id for p in s.parties], "parties[{}].id", "party")
    coordinators = [p.id for p in s.parties if p.role == "coordinator"]
    _need(len(coordinators) == 1, "parties", "exactly one party must be the coordinator")
    for i, p in enumerate(s.parties):
        for j, a in enumerate(p.actors):
            _need(a.startswith(p.id + "/"), f"parties[{i}].actors[{j}]", f"must be {p.id}/<name>")
    _unique(s.actors(), "actors", "actor")
    for name, actor in [
        *((f"duties.registrars[{i}]", a) for i, a in enumerate(s.duties.registrars)),
        ("duties.convoy_lead", s.duties.convoy_lead),
        ("duties.reception", s.duties.reception),
    ]:
        _need(actor in s.actors(), name, f"unknown actor {actor!r}")
        role = s.party(actor.split("/")[0]).role
        _need(role in STAFF, name, "must act for the coordinator or a facilitator")


def _known_party(s: Scenario, party: str, field: str) -> None:
    _need(party in {p.id for p in s.parties}, field, f"unknown party {party!r}")


def _check_plan(s: Scenario) -> None:
    _unique([x.id for x in s.sites], "sites[{}].id", "site")
    for i, site in enumerate(s.sites):
        if site.controlled_by is not None:
            _known_party(s, site.controlled_by, f"sites[{i}].controlled_by")
    sites = {x.id for x in s.sites}
    for i, site_id in enumerate(s.route.sites):
        _need(site_id in sites, f"route.sites[{i}]", f"unknown site {site_id!r}")
        _need(site_id not in s.route.sites[:i], f"route.sites[{i}]", "a route passes a site once")
    last = len(s.route.sites) - 1
    _need(s.site(s.route.sites[0]).kind == "pickup", "route.sites[0]", "must be a pickup site")
    _need(
        s.site(s.route.sites[-1]).kind == "reception", f"route.sites[{last}]", "must be a reception"
    )
    _unique([f.prefix for f in s.fleets], "fleets[{}].prefix", "fleet")
    for i, f in enumerate(s.fleets):
        _known_party(s, f.operated_by, f"fleets[{i}].operated_by")
        _need(f.seats + f.stretchers > 0, f"fleets[{i}].seats", "a vehicle must carry someone")
    _unique([i.id for i in s.incidents], "incidents[{}].id", "incident")
    for i, inc in enumerate(s.incidents):
        _need(inc.site is None or inc.site in sites, f"incidents[{i}].site", "unknown site")
        _need(
            inc.movement in (None, s.movement.id),
            f"incidents[{i}].movement",
            f"unknown movement {inc.movement!r}",
        )
        _need(inc.reported_by in s.actors(), f"incidents[{i}].reported_by", "unknown actor")
        _need(
            inc.occurred_at <= inc.reported_at,
            f"incidents[{i}].reported_at",
            "must not be before occurred_at",
        )


def _check_movement(s: Scenario) -> None:
    m = s.movement
    fleets = {f.prefix: f for f in s.fleets}
    for prefix, n in m.vehicles.items():
        _need(prefix in fleets, f"movement.vehicles.{prefix}", f"unknown fleet {prefix!r}")
        _need(n <= fleets[prefix].count, f"movement.vehicles.{prefix}", "more than the fleet has")
    _need(
        s.pause.starts <= m.departs_at < s.pause.ends,
        "movement.departs_at",
        f"must fall within pause {s.pause.id!r}",
    )
    said: list[str] = []
    for i, ack in enumerate(m.acknowledgements):
        name = f"movement.acknowledgements[{i}].actor"
        _need(ack.actor in s.actors(), name, f"unknown actor {ack.actor!r}")
        party = ack.actor.split("/")[0]
        _need(s.party(party).role in WITNESSES, name, "must act for a party to the conflict")
        _need(party not in said, name, f"{party} already acknowledged")
        said.append(party)
    if s.policy.departure_waits_for_acknowledgements:
        for p in s.parties:
            _need(
                p.role != "party-to-conflict" or p.id in said,
                "movement.acknowledgements",
                f"{p.id} must acknowledge: the policy makes departure wait for it",
            )
    after_pickup = s.route.sites[1:]
    for i, passage in enumerate(m.passages):
        expected = after_pickup[i] if i < len(after_pickup) else None
        _need(
            passage.site == expected,
            f"movement.passages[{i}].site",
            f"must be {expected!r}, the route's next site"
            if expected
            else "is past the route's end",
        )
        if passage.attested_by is not None:
            name = f"movement.passages[{i}].attested_by"
            _need(passage.attested_by in s.actors(), name, "unknown actor")
            controller = s.site(passage.site).controlled_by
            _need(
                passage.attested_by.split("/")[0] == controller and s.attester(passage) is not None,
                name,
                f"must be a witness acting for the party controlling {passage.site!r}",
            )
    _need(
        len(m.passages) == len(after_pickup),
        "movement.passages",
        f"needs one passage for each of {', '.join(after_pickup)}",
    )
    attested = [p.site for p in m.passages if s.attester(p) is not None]
    _need(
        m.discrepancy.site in attested,
        "movement.discrepancy.site",
        f"must be a site where a party attests headcounts ({', '.join(attested)})",
    )


def _check_people(s: Scenario) -> None:
    _unique([c.id for c in s.evacuees.cohorts], "evacuees.cohorts[{}].id", "cohort")
    route = s.route.sites
    for i, c in enumerate(s.evacuees.cohorts):
        name = f"evacuees.cohorts[{i}]"
        for attr in ("chose", "changed_to"):
            site = getattr(c, attr)
            if site is not None:
                _need(site in route, f"{name}.{attr}", f"{site!r} is not on the route")
                _need(s.site(site).kind == "reception", f"{name}.{attr}", "must be a reception")
        _need(
            (c.changed_to is None) == (c.changed_at is None),
            f"{name}.changed_at",
            "changed_to and changed_at go together",
        )
        if c.changed_at is not None:
            _need(c.changed_at in route, f"{name}.changed_at", "is not on the route")
            _need(
                route.index(c.changed_at) <= route.index(c.final),
                f"{name}.changed_at",
                "must come before the new destination on the route",
            )
    fleets = [s.fleet_of(v) for v in s.convoy()]
    stretchers = s.evacuees.needs.get("stretcher", 0)
    _need(
        stretchers <= sum(f.stretchers for f in fleets),
        "evacuees.needs.stretcher",
        "more than the convoy's stretcher places",
    )


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
            _need(
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
        _need(count <= len(fit), f"evacuees.needs.{need}", f"only {len(fit)} people fit it")
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
        return p.age_band in _CHILD
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
                _need(stretchers[p.vehicle] > 0, "movement.vehicles", "too few stretcher places")
                stretchers[p.vehicle] -= 1
        if sitting:
            vehicle = max(convoy, key=seats.__getitem__)
            _need(
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
                _need(bool(fits), "movement.discrepancy.difference", "no vehicle fits it")
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
        _need(at > notified, name, f"must be after the notification ({_time(notified)})")
        _need(
            at < departed or not s.policy.departure_waits_for_acknowledgements,
            name,
            f"must be before the departure ({_time(departed)}), which waits for it",
        )
        said = {"movement": s.movement.id} | ({"note": ack.note} if ack.note else {})
        points.append((name, Command(ack.actor, "movement.acknowledged", said, at)))
    for i, inc in enumerate(s.incidents):
        name = f"incidents[{i}].reported_at"
        at = inc.reported_at.astimezone(UTC)
        _need(at > notified, name, f"must be after the notification ({_time(notified)})")
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
        _need(
            where == len(times) or times[where] != command.at,
            name,
            f"{_time(command.at)} is already the time of another event",
        )
        merged.insert(where, command)
    return merged
