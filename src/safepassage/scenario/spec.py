"""The scenario file: its format, its models and the checks a file must pass. Pure.

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

from datetime import timedelta
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
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
    ends_after_starts,
)

__all__ = [
    "CHILD_BANDS",
    "SHIPPED",
    "STAFF",
    "Cohort",
    "Scenario",
    "Step",
    "check_scenario",
    "field_name",
    "require",
]


SHIPPED = "azovstal-2022.json"
STAFF = frozenset({"coordinator", "facilitator"})
WITNESSES = frozenset({"party-to-conflict", "observer"})
"""Roles that may acknowledge movements and attest headcounts."""
CHILD_BANDS = frozenset({"0-4", "5-11", "12-17"})
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

    _ends_after_starts = field_validator("ends")(ends_after_starts)


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


def require(ok: bool, field: str, reason: str) -> None:
    if not ok:
        raise FormatError(reason, field=field)


def field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name or "scenario"


def _unique(ids: list[str], field: str, what: str) -> None:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        require(x not in seen, field.format(i), f"{what} {x!r} is declared twice")
        seen.add(x)


def _check_parties(s: Scenario) -> None:
    _unique([p.id for p in s.parties], "parties[{}].id", "party")
    coordinators = [p.id for p in s.parties if p.role == "coordinator"]
    require(len(coordinators) == 1, "parties", "exactly one party must be the coordinator")
    for i, p in enumerate(s.parties):
        for j, a in enumerate(p.actors):
            require(a.startswith(p.id + "/"), f"parties[{i}].actors[{j}]", f"must be {p.id}/<name>")
    _unique(s.actors(), "actors", "actor")
    for name, actor in [
        *((f"duties.registrars[{i}]", a) for i, a in enumerate(s.duties.registrars)),
        ("duties.convoy_lead", s.duties.convoy_lead),
        ("duties.reception", s.duties.reception),
    ]:
        require(actor in s.actors(), name, f"unknown actor {actor!r}")
        role = s.party(actor.split("/")[0]).role
        require(role in STAFF, name, "must act for the coordinator or a facilitator")


def _known_party(s: Scenario, party: str, field: str) -> None:
    require(party in {p.id for p in s.parties}, field, f"unknown party {party!r}")


def _check_plan(s: Scenario) -> None:
    _unique([x.id for x in s.sites], "sites[{}].id", "site")
    for i, site in enumerate(s.sites):
        if site.controlled_by is not None:
            _known_party(s, site.controlled_by, f"sites[{i}].controlled_by")
    sites = {x.id for x in s.sites}
    for i, site_id in enumerate(s.route.sites):
        require(site_id in sites, f"route.sites[{i}]", f"unknown site {site_id!r}")
        require(site_id not in s.route.sites[:i], f"route.sites[{i}]", "a route passes a site once")
    last = len(s.route.sites) - 1
    require(s.site(s.route.sites[0]).kind == "pickup", "route.sites[0]", "must be a pickup site")
    require(
        s.site(s.route.sites[-1]).kind == "reception", f"route.sites[{last}]", "must be a reception"
    )
    _unique([f.prefix for f in s.fleets], "fleets[{}].prefix", "fleet")
    for i, f in enumerate(s.fleets):
        _known_party(s, f.operated_by, f"fleets[{i}].operated_by")
        require(f.seats + f.stretchers > 0, f"fleets[{i}].seats", "a vehicle must carry someone")
    _unique([i.id for i in s.incidents], "incidents[{}].id", "incident")
    for i, inc in enumerate(s.incidents):
        require(inc.site is None or inc.site in sites, f"incidents[{i}].site", "unknown site")
        require(
            inc.movement in (None, s.movement.id),
            f"incidents[{i}].movement",
            f"unknown movement {inc.movement!r}",
        )
        require(inc.reported_by in s.actors(), f"incidents[{i}].reported_by", "unknown actor")
        require(
            inc.occurred_at <= inc.reported_at,
            f"incidents[{i}].reported_at",
            "must not be before occurred_at",
        )


def _check_movement(s: Scenario) -> None:
    m = s.movement
    fleets = {f.prefix: f for f in s.fleets}
    for prefix, n in m.vehicles.items():
        require(prefix in fleets, f"movement.vehicles.{prefix}", f"unknown fleet {prefix!r}")
        require(n <= fleets[prefix].count, f"movement.vehicles.{prefix}", "more than the fleet has")
    require(
        s.pause.starts <= m.departs_at < s.pause.ends,
        "movement.departs_at",
        f"must fall within pause {s.pause.id!r}",
    )
    said: list[str] = []
    for i, ack in enumerate(m.acknowledgements):
        name = f"movement.acknowledgements[{i}].actor"
        require(ack.actor in s.actors(), name, f"unknown actor {ack.actor!r}")
        party = ack.actor.split("/")[0]
        require(s.party(party).role in WITNESSES, name, "must act for a party to the conflict")
        require(party not in said, name, f"{party} already acknowledged")
        said.append(party)
    if s.policy.departure_waits_for_acknowledgements:
        for p in s.parties:
            require(
                p.role != "party-to-conflict" or p.id in said,
                "movement.acknowledgements",
                f"{p.id} must acknowledge: the policy makes departure wait for it",
            )
    after_pickup = s.route.sites[1:]
    for i, passage in enumerate(m.passages):
        expected = after_pickup[i] if i < len(after_pickup) else None
        require(
            passage.site == expected,
            f"movement.passages[{i}].site",
            f"must be {expected!r}, the route's next site"
            if expected
            else "is past the route's end",
        )
        if passage.attested_by is not None:
            name = f"movement.passages[{i}].attested_by"
            require(passage.attested_by in s.actors(), name, "unknown actor")
            controller = s.site(passage.site).controlled_by
            require(
                passage.attested_by.split("/")[0] == controller and s.attester(passage) is not None,
                name,
                f"must be a witness acting for the party controlling {passage.site!r}",
            )
    require(
        len(m.passages) == len(after_pickup),
        "movement.passages",
        f"needs one passage for each of {', '.join(after_pickup)}",
    )
    attested = [p.site for p in m.passages if s.attester(p) is not None]
    require(
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
                require(site in route, f"{name}.{attr}", f"{site!r} is not on the route")
                require(s.site(site).kind == "reception", f"{name}.{attr}", "must be a reception")
        require(
            (c.changed_to is None) == (c.changed_at is None),
            f"{name}.changed_at",
            "changed_to and changed_at go together",
        )
        if c.changed_at is not None:
            require(c.changed_at in route, f"{name}.changed_at", "is not on the route")
            require(
                route.index(c.changed_at) <= route.index(c.final),
                f"{name}.changed_at",
                "must come before the new destination on the route",
            )
    fleets = [s.fleet_of(v) for v in s.convoy()]
    stretchers = s.evacuees.needs.get("stretcher", 0)
    require(
        stretchers <= sum(f.stretchers for f in fleets),
        "evacuees.needs.stretcher",
        "more than the convoy's stretcher places",
    )


def check_scenario(scenario: Scenario) -> None:
    """The cross-references a single field cannot check; ``FormatError`` names the field."""
    _check_parties(scenario)
    _check_plan(scenario)
    _check_movement(scenario)
    _check_people(scenario)
