"""Importing a registration file: parsed rows → registrations, each bad row named.

The parsing is ``safepassage.intake.registrations`` (pure); here each row's destination is
resolved against the operation's reception sites (by id or by name), and the valid rows go
through ``app.persons.register_people`` in one batch: each row is wholly recorded (vault and
log) or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from safepassage.app.operation import Operation
from safepassage.app.persons import AlreadyImported, NewPerson, Registered, register_people
from safepassage.errors import RuleError, SafepassageError
from safepassage.intake.registrations import Duplicate, Parsed, RowError, parse_registrations
from safepassage.vault.store import PersonalData, Vault

__all__ = ["ImportResult", "import_registrations"]


@dataclass
class ImportResult:
    format: str
    imported: list[tuple[int, str]] = field(default_factory=list)
    """(row, new reference) of each registration recorded."""
    already: list[tuple[int, AlreadyImported]] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def import_registrations(  # noqa: PLR0913 - the file, and who registers where and when
    op: Operation,
    vault: Vault,
    data: bytes,
    name: str,
    *,
    actor: str,
    site: str,
    at: datetime,
) -> ImportResult:
    """Import a registration file; ``FormatError`` (nothing written) if it is not one."""
    parsed: Parsed = parse_registrations(data, name, today=at.date())
    pickup = op.state.sites.get(site)
    if pickup is None or pickup.site_kind != "pickup":
        raise RuleError(f"{site!r} is not a pickup site of this operation", field="site")
    result = ImportResult(parsed.format, duplicates=parsed.duplicates, errors=list(parsed.errors))
    receptions = {s.site: s.site for s in op.state.sites.values() if s.site_kind == "reception"}
    receptions |= {s.name.casefold(): s.site for s in op.state.sites.values()
                   if s.site_kind == "reception"}  # fmt: skip
    rows, people = [], []
    for reg in parsed.rows:
        destination = receptions.get(reg.destination) or receptions.get(reg.destination.casefold())
        if destination is None:
            result.errors.append(
                RowError(reg.row, "destination", f"no reception site {reg.destination!r} here")
            )
            continue
        rows.append(reg.row)
        people.append(
            NewPerson(
                household=reg.household_ref,
                site=site,
                age_band=reg.age_band,
                sex=reg.sex,
                destination=destination,
                data=PersonalData(
                    reg.given_name,
                    reg.family_name,
                    _iso(reg.birth_date),
                    reg.document_number,
                    reg.phone,
                ),
                needs=reg.needs,
                submission_id=reg.submission_id,
            )
        )
    for row, answer in zip(rows, register_people(op, vault, people, actor=actor, at=at),
                           strict=True):  # fmt: skip
        if isinstance(answer, Registered):
            result.imported.append((row, answer.ref))
        elif isinstance(answer, AlreadyImported):
            result.already.append((row, answer))
        else:
            result.errors.append(_row_error(row, answer))
    result.errors.sort(key=lambda e: (e.row, e.field))
    return result


def _iso(day: date) -> str:
    return day.isoformat()


def _row_error(row: int, error: SafepassageError) -> RowError:
    return RowError(row, (error.field or "row").removeprefix("body."), error.reason)
