"""The event catalogue: every kind of fact an operation records, and the shape of its body.

Pure: models and validation only, no I/O. Each kind is a frozen pydantic model that forbids
unknown fields; ``parse_body`` turns a JSON object into the model or raises ``FormatError``
naming the field and the reason. ``docs/events.md`` is generated from this module.

Identifiers (``party``, ``site``, ``route``, ``vehicle``, ``movement``, ``pause``, ``incident``) are
short slugs chosen by whoever declares the thing; people and households are pseudonymous
references that carry no personal data.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

from safepassage.errors import FormatError

__all__ = [
    "KINDS",
    "Body",
    "ends_after_starts",
    "parse_body",
]

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", strict=True)]
"""A short identifier: lowercase letters, digits, '.', '_' or '-', at most 63 characters."""

ActorId = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,62}/[a-z0-9][a-z0-9._-]{0,62}$", strict=True
    ),
]
"""``<party>/<name>``: an actor (a person or device acting for a party)."""

Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strict=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strict=True)]
PublicKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$", strict=True)]
"""A 32-byte Ed25519 public key in standard base64."""
Count = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. 2022-04-30T08:00:00Z)")
    return value


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


_LAX_TIME = TypeAdapter(datetime)


def _rfc3339(value: object, handler: ValidatorFunctionWrapHandler) -> datetime:
    # pydantic would read 9 or "9" as seconds since 1970: times are RFC 3339 text only
    if not isinstance(value, datetime) and not (
        isinstance(value, str) and _RFC3339.fullmatch(value)
    ):
        if isinstance(value, str) and _RFC3339.fullmatch(value + "Z"):
            raise ValueError("must carry a time zone (e.g. 2022-04-30T08:00:00Z)")
        raise ValueError("must be an RFC 3339 time (e.g. 2022-04-30T08:00:00Z)")
    if isinstance(value, str):  # the inner (strict) validator takes only datetimes here
        value = _LAX_TIME.validate_python(value)
    return cast("datetime", handler(value))


Instant = Annotated[datetime, WrapValidator(_rfc3339), AfterValidator(_aware)]


def ends_after_starts(ends: datetime, info: ValidationInfo) -> datetime:
    """A time window's ``ends`` validator: it must come after its ``starts``."""
    starts = info.data.get("starts")
    if starts is not None and ends <= starts:
        raise ValueError("must be after starts")
    return ends


Role = Literal["coordinator", "facilitator", "party-to-conflict", "observer"]
SiteKind = Literal["pickup", "checkpoint", "reception"]
VehicleKind = Literal["bus", "minibus", "ambulance", "car", "truck"]
IncidentKind = Literal["shelling", "denial-of-passage", "delay", "injury", "other"]
AgeBand = Literal["0-4", "5-11", "12-17", "18-59", "60+"]
Sex = Literal["female", "male", "other", "undisclosed"]
ErasureReason = Literal[
    "person-request", "retention-ended", "purpose-fulfilled", "recorded-in-error"
]  # fmt: skip
"""Why a person's personal data is erased: the person asked; the retention period ended; the
purpose it was collected for is fulfilled; it was recorded in error."""
Need = Literal[
    "medical",
    "stretcher",
    "wheelchair",
    "unaccompanied-minor",
    "separated-child",
    "pregnant",
    "older-alone",
]


class Body(BaseModel):
    """Base of every event body: immutable, strict, unknown fields refused."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True
    )
    kind: ClassVar[str]
    summary: ClassVar[str]


class ActorKey(BaseModel):
    """An actor and the public key it signs with."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True
    )
    actor: ActorId
    public_key: PublicKey


class Policy(BaseModel):
    """Rules the parties agreed for this operation."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True
    )
    departure_waits_for_acknowledgements: bool = True
    """Whether a movement may depart only once every party to the conflict acknowledged it."""


# --- the operation and who takes part ---------------------------------------------------------


WitnessKey = Annotated[str, StringConstraints(min_length=1, max_length=300, strict=True)]
"""A C2SP verifier key string of type 0x04 (tlog-cosignature): ``<name>+<key id>+<key>``."""


class OperationOpened(Body):
    kind = "operation.opened"
    summary = "The coordinator opens the operation and names its own first key."
    operation: Slug
    name: Name
    coordinator: Slug
    coordinator_name: Name
    key: ActorKey
    policy: Policy = Policy()
    witness: WitnessKey | None = None
    """The coordinator's witness key: its cosignatures of log checkpoints count for it."""


class OperationClosed(Body):
    kind = "operation.closed"
    summary = "The coordinator closes the operation; nothing is recorded after it."
    reason: Text


class PartyJoined(Body):
    kind = "party.joined"
    summary = "The coordinator records a party taking part, its role and its first actor key."
    party: Slug
    name: Name
    role: Role
    key: ActorKey
    witness: WitnessKey | None = None
    """The party's witness key: its cosignatures of log checkpoints count for it."""


class ActorKeyRegistered(Body):
    kind = "actor.key.registered"
    summary = "A party registers another actor's key; only registered keys may sign events."
    key: ActorKey


class ActorKeyRevoked(Body):
    kind = "actor.key.revoked"
    summary = "A party revokes one of its actors' keys; later events signed with it are refused."
    actor: ActorId
    reason: Text


# --- the plan ------------------------------------------------------------------------------


class SiteDeclared(Body):
    kind = "site.declared"
    summary = "A pickup point, checkpoint or reception centre, where it is and who controls it."
    site: Slug
    name: Name
    site_kind: SiteKind
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    controlled_by: Slug | None = None
    """The party controlling the site; none for a besieged place or the front line."""
    capacity: Count | None = None


class RouteDeclared(Body):
    kind = "route.declared"
    summary = "A route: the ordered sites a movement passes, from pickup to reception."
    route: Slug
    name: Name
    sites: Annotated[list[Slug], Field(min_length=2, max_length=50)]

    @field_validator("sites")
    @classmethod
    def _no_site_twice(cls, sites: list[str]) -> list[str]:
        if len(set(sites)) != len(sites):
            raise ValueError("a route passes each site once")
        return sites


class PauseAgreed(Body):
    kind = "pause.agreed"
    summary = "A humanitarian pause the parties agreed: a time window on a route."
    pause: Slug
    route: Slug
    starts: Instant
    ends: Instant

    _ends_after_starts = field_validator("ends")(ends_after_starts)


class VehicleRegistered(Body):
    kind = "vehicle.registered"
    summary = "A vehicle put at the operation's disposal, with its seats and stretcher places."
    vehicle: Slug
    vehicle_kind: VehicleKind
    seats: Count
    stretchers: Count = 0
    operated_by: Slug


# --- movements and what the parties say of them --------------------------------------------------


class MovementNotified(Body):
    kind = "movement.notified"
    summary = "The coordinator notifies every party of a convoy trip (informs; asks no permission)."
    movement: Slug
    route: Slug
    pause: Slug | None = None
    vehicles: Annotated[list[Slug], Field(min_length=1, max_length=500)]
    departs_at: Instant
    purpose: Text


class MovementAmended(Body):
    kind = "movement.amended"
    summary = "The coordinator changes a notified movement; parties are notified again."
    movement: Slug
    vehicles: Annotated[list[Slug], Field(min_length=1, max_length=500)] | None = None
    departs_at: Instant | None = None
    reason: Text


class MovementCancelled(Body):
    kind = "movement.cancelled"
    summary = "The coordinator cancels a movement that has not departed."
    movement: Slug
    reason: Text


class MovementAcknowledged(Body):
    kind = "movement.acknowledged"
    summary = "A party acknowledges a notification (its actor signs for it)."
    movement: Slug
    note: Text | None = None


class MovementObjected(Body):
    kind = "movement.objected"
    summary = "A party objects to a notification, and says why."
    movement: Slug
    reason: Text


class MovementDeparted(Body):
    kind = "movement.departed"
    summary = "The convoy leaves its pickup site."
    movement: Slug


class CheckpointPassed(Body):
    kind = "checkpoint.passed"
    summary = "A vehicle of a movement passes a site of its route, with the headcount on board."
    movement: Slug
    vehicle: Slug
    site: Slug
    headcount: Count


class HeadcountAttested(Body):
    kind = "headcount.attested"
    summary = "A party's observer attests the headcount of a vehicle at a site."
    movement: Slug
    vehicle: Slug
    site: Slug
    headcount: Count


# --- people ------------------------------------------------------------------------------------


Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{6,64}$", strict=True)]
"""A pseudonymous reference: random, carries nothing about the person."""
Commitment = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$", strict=True)]


class PersonRegistered(Body):
    kind = "person.registered"
    summary = "A person who wants to leave is registered, with their freely chosen destination."
    person: Reference
    household: Reference
    site: Slug
    age_band: AgeBand
    sex: Sex
    needs: Annotated[list[Need], Field(max_length=10)] = []
    destination: Slug
    consent: Literal[True]
    """The person consented to registration; a registration without it is refused."""
    commitment: Commitment | None = None
    """Salted HMAC-SHA256 of the person's record in the vault (kept apart from the log)."""


class PersonDestinationChanged(Body):
    kind = "person.destination.changed"
    summary = "A person changes their chosen destination (free to, at any time, en route too)."
    person: Reference
    destination: Slug
    site: Slug | None = None
    """Where the person was when they said so."""


class PersonBoarded(Body):
    kind = "person.boarded"
    summary = "A person boards a vehicle of a movement."
    person: Reference
    movement: Slug
    vehicle: Slug
    stretcher: bool = False


class PersonLeftConvoy(Body):
    kind = "person.left-convoy"
    summary = (
        "A person leaves the convoy at a site of its route, at their destination or by choice."
    )
    person: Reference
    movement: Slug
    site: Slug


class PersonArrived(Body):
    kind = "person.arrived"
    summary = "A person arrives at a reception site."
    person: Reference
    movement: Slug
    site: Slug


class PersonRecordErased(Body):
    kind = "person.record.erased"
    summary = (
        "A person's personal data is erased from the vault (its key destroyed); the facts stay."
    )
    person: Reference
    reason: ErasureReason
    """Why, as a code: this log is read by every party, so no free text goes in it."""


# --- incidents and the log itself ---------------------------------------------------------


class IncidentReported(Body):
    kind = "incident.reported"
    summary = "Any party reports an incident: shelling, denial of passage, delay, injury, other."
    incident: Slug
    incident_kind: IncidentKind
    occurred_at: Instant
    site: Slug | None = None
    movement: Slug | None = None
    description: Text
    injured: Count = 0


class CheckpointCosigned(Body):
    kind = "checkpoint.cosigned"
    summary = (
        "A party's witness cosigned a log checkpoint (C2SP tlog-cosignature) after checking it."
    )
    size: Count
    root: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$", strict=True)]
    cosignature: Annotated[str, StringConstraints(min_length=1, max_length=500, strict=True)]
    """The cosignature line, as C2SP writes it."""


KINDS: dict[str, type[Body]] = {
    model.kind: model
    for model in (
        OperationOpened,
        OperationClosed,
        PartyJoined,
        ActorKeyRegistered,
        ActorKeyRevoked,
        SiteDeclared,
        RouteDeclared,
        PauseAgreed,
        VehicleRegistered,
        MovementNotified,
        MovementAmended,
        MovementCancelled,
        MovementAcknowledged,
        MovementObjected,
        MovementDeparted,
        CheckpointPassed,
        HeadcountAttested,
        PersonRegistered,
        PersonDestinationChanged,
        PersonBoarded,
        PersonLeftConvoy,
        PersonArrived,
        PersonRecordErased,
        IncidentReported,
        CheckpointCosigned,
    )
}


def _field_name(loc: tuple[int | str, ...]) -> str:
    return "body." + ".".join(str(p) for p in loc) if loc else "body"


def parse_body(kind: str, body: Any) -> Body:  # noqa: ANN401 - a body is whatever JSON came in
    """Validate ``body`` as the body of an event of ``kind``; ``FormatError`` names the field."""
    model = KINDS.get(kind)
    if model is None:
        raise FormatError(f"unknown event kind {kind!r}", field="kind")
    if not isinstance(body, dict):
        raise FormatError("must be a JSON object", field="body")
    try:
        # JSON mode: times arrive as RFC 3339 strings, the only form canonical JSON has.
        return model.model_validate_json(json.dumps(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise FormatError(reason, field=_field_name(tuple(first["loc"]))) from exc
