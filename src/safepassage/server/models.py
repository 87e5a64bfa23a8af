"""What the API answers, as Pydantic models (their JSON Schemas are the OpenAPI document's)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from safepassage.app.persons import NewPerson
from safepassage.events.catalogue import Need
from safepassage.server.problems import Problem
from safepassage.vault.store import PersonalData

__all__ = [
    "AccountOut",
    "ActorOut",
    "ConsistencyOut",
    "EntryOut",
    "EventResult",
    "EventsIn",
    "IncidentOut",
    "OperationOut",
    "PartyOut",
    "PersonOut",
    "PersonalDataOut",
    "ReceiptOut",
    "RegistrationIn",
    "RegistrationOut",
    "RouteOut",
    "SiteOut",
    "VehicleOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReceiptOut(_Out):
    """Where the log recorded the event, and its id (a repeat answers the same, duplicate)."""

    index: int
    id: str
    duplicate: bool = False


class EventResult(_Out):
    """One signed event's answer: recorded (``receipt``) or refused (``problem``)."""

    receipt: ReceiptOut | None = None
    problem: Problem | None = None


class EventsIn(BaseModel):
    """Events a device signed itself, each an event envelope as the log stores it."""

    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class AccountOut(_Out):
    id: str
    name: str
    role: str
    party: str
    actor: str


class OperationOut(_Out):
    operation: str | None
    name: str | None
    coordinator: str | None
    coordinator_name: str | None
    closed: bool
    events: int
    departure_waits_for_acknowledgements: bool


class ActorOut(_Out):
    actor: str
    revoked: bool


class PartyOut(_Out):
    party: str
    name: str
    role: str
    actors: list[ActorOut]
    witness: bool


class SiteOut(_Out):
    site: str
    name: str
    site_kind: str
    lat: float
    lon: float
    controlled_by: str | None
    capacity: int | None


class RouteOut(_Out):
    route: str
    name: str
    sites: list[str]


class VehicleOut(_Out):
    vehicle: str
    vehicle_kind: str
    seats: int
    stretchers: int
    operated_by: str


class IncidentOut(_Out):
    incident: str
    incident_kind: str
    occurred_at: str
    site: str | None
    movement: str | None
    description: str
    injured: int
    party: str
    event: str


class PersonOut(_Out):
    """A person as the log knows them: a reference and non-identifying attributes."""

    person: str
    household: str
    site: str
    age_band: str
    sex: str
    needs: list[str]
    destination: str
    status: str
    movement: str | None
    vehicle: str | None
    end_site: str | None
    erased: bool


class PersonalDataOut(_Out):
    """A person's record from the vault: its opening is recorded with who, when and why."""

    person: str
    given_name: str
    family_name: str
    birth_date: str | None
    document_number: str | None
    phone: str | None
    notes: str | None


def _real_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date written YYYY-MM-DD") from None
    return value


class RegistrationIn(BaseModel):
    """One person to register: attributes for the log, personal data for the vault only."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    household: str = Field(pattern=r"^[A-Za-z0-9_-]{6,64}$")
    site: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    age_band: str = Field(pattern=r"^(0-4|5-11|12-17|18-59|60\+)$")
    sex: str = Field(pattern=r"^(female|male|other|undisclosed)$")
    destination: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    needs: list[Need] = Field(default_factory=list, max_length=10)
    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    birth_date: Annotated[str, AfterValidator(_real_date)] | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$"
    )
    document_number: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, min_length=1, max_length=50)
    notes: str | None = Field(default=None, min_length=1, max_length=2000)
    submission_id: str | None = Field(default=None, min_length=1, max_length=200)
    """The form's own id (an ODK instance id): a resubmission is answered, not registered twice."""

    def new_person(self) -> NewPerson:
        """The registration as the application layer takes it (personal data apart)."""
        return NewPerson(
            household=self.household, site=self.site, age_band=self.age_band, sex=self.sex,
            destination=self.destination, needs=tuple(self.needs),
            submission_id=self.submission_id,
            data=PersonalData(self.given_name, self.family_name, self.birth_date,
                              self.document_number, self.phone, self.notes),
        )  # fmt: skip


class RegistrationOut(_Out):
    person: str
    index: int
    id: str
    already_registered: bool = False


class EntryOut(_Out):
    index: int
    event: dict[str, Any]


class ConsistencyOut(_Out):
    """An RFC 9162 consistency proof between two checkpoint sizes (hashes in base64)."""

    old: int
    new: int
    hashes: list[str]
