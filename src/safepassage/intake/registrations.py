"""Registration files: a registrar's file turned into registrations, row errors and duplicates.

Pure: takes the file's bytes and name and returns values; no I/O, no database, no vault. The
application layer resolves each destination against the operation's reception sites, seals the
personal data and records the events.

Four formats, told apart by content (the name only sharpens a message):

- ``plain-csv``: the columns of ``COLUMNS`` in any order (header names compared without case).
  An unknown column is refused: it is a typo or data that would be silently dropped.
- ``odk-csv``: the CSV that ODK Central, ODK Briefcase or KoboToolbox export from the
  ``safepassage_registration`` form. Group paths joined with ``-`` (ODK) or ``/`` (Kobo) or
  left out; ``,``, ``;`` or tab between cells; server columns (``SubmissionDate``,
  ``SubmitterID``, split select-multiple columns...) are ignored.
- ``odk-central-json``: ODK Central's OData ``{"value": [...]}``, groups as nested objects.
- ``kobo-json``: KoboToolbox's API ``{"results": [...]}`` (or its bare list), ``group/field`` keys.

The submission id is the one that survives an edit: ``KEY`` or ``__id`` on ODK Central,
``meta/rootUuid`` on KoboToolbox, else the ``instanceID``; a bare ``_uuid`` gets ODK's
``uuid:`` prefix, so one submission has the same id in every export.

Must never: put a personal value (a name, birth date, document number or phone number) into an
error or a ``repr``. Reasons say what is wrong with a field, never what it held.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal, TypeVar, get_args

from pydantic import TypeAdapter, ValidationError

from safepassage.errors import FormatError
from safepassage.events.catalogue import AgeBand, Need, Reference, Sex

__all__ = [
    "COLUMNS",
    "CONSENT",
    "FORM_ID",
    "GROUP",
    "MAX_AGE",
    "MAX_DOCUMENT",
    "MAX_NAME",
    "NEEDS",
    "PHONE_DIGITS",
    "REQUIRED",
    "SEXES",
    "Duplicate",
    "Parsed",
    "Registration",
    "RowError",
    "age_band",
    "parse_registrations",
]

FORM_ID: Final = "safepassage_registration"
GROUP: Final = "person"
"""The form group that holds a registration's fields (``meta/instanceID`` is the id)."""
CONSENT: Final = "consent"
"""The form's top-level consent question; a submission is imported only when it is ``yes``."""
COLUMNS: Final = (
    "submission_id",
    "household_ref",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "document_number",
    "phone",
    "needs",
    "destination",
)
REQUIRED: Final = frozenset(COLUMNS) - {"document_number", "phone", "needs"}
SEXES: Final[tuple[Sex, ...]] = get_args(Sex)
NEEDS: Final[tuple[Need, ...]] = get_args(Need)
MAX_NAME: Final = 200
"""Longest given name, family name or destination (the catalogue's ``Name``)."""
MAX_DOCUMENT: Final = 64
PHONE_DIGITS: Final = (5, 20)
"""Fewest and most digits in a phone number (E.164 has at most 15; room for prefixes)."""
MAX_AGE: Final = 120
"""A birth date more than this many full years ago is a typo, not a person."""

Format = Literal["plain-csv", "odk-csv", "odk-central-json", "kobo-json"]


@dataclass(frozen=True)
class Registration:
    """One valid registration. Personal fields stay out of ``repr`` (and so out of logs)."""

    row: int
    submission_id: str
    household_ref: str
    given_name: str = field(repr=False)
    family_name: str = field(repr=False)
    birth_date: date = field(repr=False)
    sex: Sex
    document_number: str | None = field(repr=False)
    phone: str | None = field(repr=False)
    needs: tuple[Need, ...]
    destination: str
    """A reception site's name or id, exactly as given (outer spaces removed)."""
    age_band: AgeBand


@dataclass(frozen=True)
class RowError:
    """What is wrong with one field of one row; ``reason`` never quotes a personal value."""

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class Duplicate:
    """A row repeating a submission id an earlier row of the file has: skipped."""

    row: int
    first_row: int
    submission_id: str

    def __str__(self) -> str:
        return f"row {self.row}: submission {self.submission_id} repeats row {self.first_row}"


@dataclass(frozen=True)
class Parsed:
    """A file's valid rows, each bad row's errors, and the repeated submissions skipped.

    Row numbers are spreadsheet rows for CSV (the header is row 1) and 1-based positions for
    JSON. A row with any error is not in ``rows``.
    """

    format: Format
    rows: list[Registration]
    errors: list[RowError]
    duplicates: list[Duplicate]


def age_band(birth_date: date, today: date) -> AgeBand:
    """The catalogue's age band of someone born on ``birth_date``, on ``today``."""
    years = _years(birth_date, today)
    if years < 0:
        raise ValueError("birth_date is after today")
    return next((band for limit, band in _BANDS if years < limit), "60+")


def parse_registrations(data: bytes, name: str, *, today: date) -> Parsed:
    """Parse a registration file; ``FormatError`` (field = ``name``) if it is not one at all."""
    fmt, records = _records(data, name)
    rows: list[Registration] = []
    errors: list[RowError] = []
    duplicates: list[Duplicate] = []
    seen: dict[str, int] = {}
    for record in records:
        if isinstance(record, RowError):
            errors.append(record)
            continue
        sid = _peek_id(record.values.get("submission_id"))
        if sid is not None:
            if sid in seen:
                duplicates.append(Duplicate(record.row, seen[sid], sid))
                continue
            seen[sid] = record.row
        checked = _check(record, today, fmt)
        if isinstance(checked, Registration):
            rows.append(checked)
        else:
            errors.extend(checked)
    return Parsed(fmt, rows, errors, duplicates)


# --- one record's fields ---------------------------------------------------------------------

_T = TypeVar("_T")
_FORBIDDEN = frozenset({"Cc", "Cs", "Zl", "Zp"})  # control characters, lone surrogates, breaks
_ID = re.compile(r"[A-Za-z0-9:._-]{1,128}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BRIEFCASE_DATE = re.compile(rf"({'|'.join(_MONTHS)}) ([0-9]{{1,2}}), ([0-9]{{4}})")
_PHONE = re.compile(r"\+?[0-9 ()-]{1,40}")
_REFERENCE: TypeAdapter[str] = TypeAdapter(Reference)
_NOT_A_DATE = "not a date (expected YYYY-MM-DD)"
_BANDS: tuple[tuple[int, AgeBand], ...] = ((5, "0-4"), (12, "5-11"), (18, "12-17"), (60, "18-59"))


@dataclass(frozen=True)
class _Record:
    row: int
    values: Mapping[str, object]
    """Canonical field name (a column of ``COLUMNS``, or ``CONSENT``) to the raw value."""


class _FieldError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _FieldError("must be text")
    text = value.strip()
    if any(unicodedata.category(c) in _FORBIDDEN for c in text):
        raise _FieldError("contains control characters or line breaks")
    return text or None


def _peek_id(value: object) -> str | None:
    try:
        text = _text(value)
    except _FieldError:
        return None
    return text if text is not None and _ID.fullmatch(text) else None


def _bounded(limit: int) -> Callable[[str], str]:
    def check(text: str) -> str:
        if len(text) > limit:
            raise _FieldError(f"longer than {limit} characters")
        return text

    return check


def _submission_id(text: str) -> str:
    if not _ID.fullmatch(text):
        raise _FieldError("use 1 to 128 letters, digits, ':', '.', '_' or '-'")
    return text


def _household_ref(text: str) -> str:
    try:
        return _REFERENCE.validate_python(text)
    except ValidationError:
        reason = "not a household reference (6 to 64 letters, digits, '_' or '-')"
        raise _FieldError(reason) from None


def _years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February, in a year that has none
        return today.replace(year=today.year - years, day=28)


def _birth_date(today: date, *, briefcase: bool) -> Callable[[str], date]:
    def check(text: str) -> date:
        match = _BRIEFCASE_DATE.fullmatch(text) if briefcase else None
        try:
            if match:  # ODK Briefcase writes dates the Java way, "Apr 26, 2018"
                born = date(int(match[3]), _MONTHS.index(match[1]) + 1, int(match[2]))
            elif _ISO_DATE.fullmatch(text):
                born = date.fromisoformat(text)
            else:
                raise _FieldError(_NOT_A_DATE)
        except ValueError:
            raise _FieldError(_NOT_A_DATE) from None
        if born > today:
            raise _FieldError("in the future")
        if born < _years_before(today, MAX_AGE):
            raise _FieldError(f"more than {MAX_AGE} years ago")
        return born

    return check


def _sex(text: str) -> Sex:
    for sex in SEXES:
        if text.lower() == sex:
            return sex
    raise _FieldError(f"not one of {', '.join(SEXES)}")


def _needs(text: str) -> tuple[Need, ...]:
    chosen: set[str] = set()
    for i, item in enumerate((p for p in re.split(r"[\s,;]+", text) if p), start=1):
        if item.lower() not in NEEDS:
            raise _FieldError(f"item {i} is not one of {', '.join(NEEDS)}")
        chosen.add(item.lower())
    return tuple(need for need in NEEDS if need in chosen)


def _phone(text: str) -> str:
    digits = sum(c in "0123456789" for c in text)
    fewest, most = PHONE_DIGITS
    if not _PHONE.fullmatch(text) or not fewest <= digits <= most:
        raise _FieldError(
            f"not a phone number ({fewest} to {most} digits; spaces, '+', '-', '(' ')' allowed)"
        )
    return text


class _Fields:
    """Reads one record's fields, keeping a ``RowError`` per bad field instead of stopping."""

    def __init__(self, record: _Record) -> None:
        self.record = record
        self.errors: list[RowError] = []

    def get(self, name: str, check: Callable[[str], _T]) -> _T | None:
        try:
            text = _text(self.record.values.get(name))
            value = None if text is None else check(text)
        except _FieldError as exc:
            self.errors.append(RowError(self.record.row, name, exc.reason))
            return None
        if text is None and name in REQUIRED:
            self.errors.append(RowError(self.record.row, name, "required, but missing or empty"))
        return value


def _check(record: _Record, today: date, fmt: Format) -> Registration | list[RowError]:
    f = _Fields(record)
    if fmt != "plain-csv" and _consent(record.values.get(CONSENT)) != "yes":
        f.errors.append(RowError(record.row, CONSENT, "must be yes: register only with consent"))
    sid = f.get("submission_id", _submission_id)
    household = f.get("household_ref", _household_ref)
    given = f.get("given_name", _bounded(MAX_NAME))
    family = f.get("family_name", _bounded(MAX_NAME))
    born = f.get("birth_date", _birth_date(today, briefcase=fmt == "odk-csv"))
    sex = f.get("sex", _sex)
    document = f.get("document_number", _bounded(MAX_DOCUMENT))
    phone = f.get("phone", _phone)
    needs = f.get("needs", _needs) or ()
    destination = f.get("destination", _bounded(MAX_NAME))
    if f.errors or not (sid and household and given and family and born and sex and destination):
        return f.errors
    return Registration(
        row=record.row,
        submission_id=sid,
        household_ref=household,
        given_name=given,
        family_name=family,
        birth_date=born,
        sex=sex,
        document_number=document,
        phone=phone,
        needs=needs,
        destination=destination,
        age_band=age_band(born, today),
    )


def _consent(value: object) -> str | None:
    return value.strip().lower() if isinstance(value, str) else None


# --- telling the formats apart ---------------------------------------------------------------

_ODK_IDS = ("KEY", "meta-rootUuid", "meta/rootUuid", "meta-instanceID", "meta/instanceID")
_ODK_MARKERS = frozenset({*_ODK_IDS, "SubmissionDate", "instanceID", "_uuid", "_id", "__id"})
_DELIMITERS = (",", ";", "\t")
_EXPECTED = (
    f"expected a CSV with the columns {', '.join(COLUMNS)}, or an ODK Central, Briefcase or "
    f"KoboToolbox export (CSV or JSON) of the {FORM_ID} form"
)


def _records(data: bytes, name: str) -> tuple[Format, list[_Record | RowError]]:
    def bad(reason: str) -> FormatError:
        return FormatError(reason, field=name)

    if data.startswith(b"PK\x03\x04"):
        raise bad(
            "a ZIP archive or .xlsx workbook, not CSV or JSON: extract the .csv from it "
            "(ODK Central downloads a .zip) or save the sheet as CSV UTF-8"
        )
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise bad("an Excel .xls workbook, not CSV or JSON: save it as CSV UTF-8")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 text (byte {exc.start + 1}): save it as CSV UTF-8 or JSON") from None
    if "\x00" in text:
        raise bad("contains NUL characters (UTF-16?): save it as CSV UTF-8 or JSON")
    start = text.lstrip()[:1]
    if not start:
        raise bad("empty file")
    if start in "{[" or name.lower().endswith(".json"):
        return _json_records(text, bad)
    return _csv_records(text, bad)


def _json_records(
    text: str, bad: Callable[[str], FormatError]
) -> tuple[Format, list[_Record | RowError]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise bad("not valid JSON (nested too deeply, or a number too long)") from None
    fmt, items = _submissions(doc, bad)
    reader = _central if fmt == "odk-central-json" else _kobo
    out: list[_Record | RowError] = []
    for row, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            out.append(RowError(row, "submission", "not a JSON object"))
            continue
        values = reader(item)
        out.append(_Record(row, values) if isinstance(values, dict) else RowError(row, *values))
    return fmt, out


def _submissions(doc: object, bad: Callable[[str], FormatError]) -> tuple[Format, list[object]]:
    items: object = None
    fmt: Format = "kobo-json"
    if isinstance(doc, dict):
        if isinstance(doc.get("value"), list):
            fmt, items = "odk-central-json", doc["value"]
        elif isinstance(doc.get("results"), list):
            items = doc["results"]
    elif isinstance(doc, list):
        items = doc
        if doc and isinstance(doc[0], dict) and "__id" in doc[0]:
            fmt = "odk-central-json"
    if not isinstance(items, list):
        raise bad(
            "JSON, but not a list of submissions: expected ODK Central's "
            '{"value": [...]} or KoboToolbox\'s {"results": [...]}'
        )
    return fmt, items


def _first(*values: object) -> object:
    """The first value that is present and not an empty string, else the first present one."""
    present = [v for v in values if v is not None]
    return next((v for v in present if v != ""), present[0] if present else None)


def _prefixed(uuid: object) -> object:
    return f"uuid:{uuid}" if isinstance(uuid, str) and _UUID.fullmatch(uuid) else uuid


def _central(item: dict[str, object]) -> dict[str, object] | tuple[str, str]:
    person = item.get(GROUP)
    meta = item.get("meta")
    if person is not None and not isinstance(person, dict):
        return GROUP, "not a JSON object"
    values: dict[str, object] = {c: (person or {}).get(c) for c in COLUMNS[1:]}
    values["submission_id"] = _first(
        item.get("__id"), meta.get("instanceID") if isinstance(meta, dict) else None
    )
    values[CONSENT] = item.get(CONSENT)
    return values


def _kobo(item: dict[str, object]) -> dict[str, object]:
    values = {c: _first(item.get(f"{GROUP}/{c}"), item.get(c)) for c in COLUMNS[1:]}
    values["submission_id"] = _first(
        item.get("meta/rootUuid"), item.get("meta/instanceID"), _prefixed(item.get("_uuid"))
    )
    values[CONSENT] = item.get(CONSENT)
    return values


def _csv_records(
    text: str, bad: Callable[[str], FormatError]
) -> tuple[Format, list[_Record | RowError]]:
    delimiter = max(_DELIMITERS, key=lambda d: _recognised(_header(text, d)))
    header = [h.strip() for h in _header(text, delimiter)]
    if not _recognised(header):
        raise bad(f"not a registration file: {_EXPECTED}")
    odk = any(h in _ODK_MARKERS or h.startswith((f"{GROUP}-", f"{GROUP}/")) for h in header)
    columns = _odk_columns(header, bad) if odk else _plain_columns(header, bad)
    width = max(i for i, h in enumerate(header) if h) + 1
    out: list[_Record | RowError] = []
    row = 1
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for row, read in enumerate(reader, start=1):
            if row == 1 or not any(c.strip() for c in read):
                continue
            if any(c.strip() for c in read[width:]):
                out.append(RowError(row, "row", f"{len(read)} cells, the header has {width}"))
                continue
            cells = read + [""] * (width - len(read))
            values = {
                name: _first(*(_prefixed(cells[i]) if uuid else cells[i] for i, uuid in where))
                for name, where in columns.items()
            }
            out.append(_Record(row, values))
    except csv.Error:
        raise bad(f"not readable as CSV (row {row + 1}: a cell too long or badly quoted)") from None
    return ("odk-csv" if odk else "plain-csv"), out


def _header(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return []


def _recognised(header: Iterable[str]) -> int:
    return sum(
        h.strip() in _ODK_MARKERS
        or h.strip().lower() in (*COLUMNS, CONSENT)
        or h.strip().startswith((f"{GROUP}-", f"{GROUP}/"))
        for h in header
    )


_Columns = dict[str, list[tuple[int, bool]]]
"""Field name to the header positions it may come from, best first (and whether a bare uuid)."""


def _plain_columns(header: list[str], bad: Callable[[str], FormatError]) -> _Columns:
    names = [h.lower() for h in header]
    if "" in names[: max(i for i, h in enumerate(names) if h)]:
        raise bad(f"column {names.index('') + 1} has no name in the header")
    for i, name in enumerate(names):
        if name and name in names[:i]:
            raise bad(f"column {name} appears twice")
    unknown = [n for n in names if n and n not in COLUMNS]
    if missing := sorted(REQUIRED - set(names), key=COLUMNS.index):
        # unknown names unquoted: without the required ones, the "header" may be a row of data
        extra = f", and {len(unknown)} unknown" if unknown else ""
        raise bad(f"missing columns: {', '.join(missing)}{extra}")
    if unknown:
        shown = ", ".join(n if len(n) <= 40 else n[:40] + "..." for n in unknown[:5])
        raise bad(f"unknown columns: {shown} ({_EXPECTED})")
    return {name: [(names.index(name), False)] for name in COLUMNS if name in names}


def _odk_columns(header: list[str], bad: Callable[[str], FormatError]) -> _Columns:
    where = {h: i for i, h in reversed(list(enumerate(header))) if h}
    candidates = {
        name: [(f"{GROUP}-{name}", False), (f"{GROUP}/{name}", False), (name, False)]
        for name in COLUMNS[1:]
    }
    candidates["submission_id"] = [(n, False) for n in (*_ODK_IDS, "instanceID")]
    candidates["submission_id"].append(("_uuid", True))
    candidates[CONSENT] = [(CONSENT, False)]
    columns = {
        name: [(where[h], uuid) for h, uuid in options if h in where]
        for name, options in candidates.items()
    }
    if missing := [n for n in (*sorted(REQUIRED, key=COLUMNS.index), CONSENT) if not columns[n]]:
        raise bad(f"missing columns for: {', '.join(missing)} (an export of another form?)")
    return columns
