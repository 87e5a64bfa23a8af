"""Write src/safepassage/intake/registration.xlsx, the XLSForm registrars load into ODK Collect
or KoboCollect, from the parser's own names and the event catalogue's codes.

Usage: python scripts/make_xlsform.py [--check]

With ``--check`` nothing is written: it exits 1 if the committed workbook's cells differ from
what this script would write (the bytes differ anyway: a workbook stores when it was zipped).

Destination is free text, because reception sites differ per operation and a text question
needs no per-operation copy of the form; the importer resolves a site's name or id and reports
a row whose destination is unknown.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

from openpyxl import Workbook, load_workbook

from safepassage.events.catalogue import Reference
from safepassage.intake.registrations import (
    CONSENT,
    FORM_ID,
    GROUP,
    MAX_AGE,
    MAX_DOCUMENT,
    MAX_NAME,
    NEEDS,
    PHONE_DIGITS,
    SEXES,
)

OUT = Path(__file__).resolve().parents[1] / "src" / "safepassage" / "intake" / "registration.xlsx"
VERSION = "1"

SURVEY_COLUMNS = (
    "type", "name", "label", "hint", "required", "constraint", "constraint_message", "relevant",
)  # fmt: skip

_REFERENCE = get_args(Reference)[1].pattern
_DIGITS = "string-length(translate(., ' ()+-', ''))"

SURVEY = [
    (
        "select_one yes_no",
        CONSENT,
        (
            "Has the person been told what is recorded and who may see it, and agreed to be "
            "registered?"
        ),
        "Read the consent statement aloud first.",
        "yes",
        ". = 'yes'",
        "Register a person only with their consent.",
        "",
    ),
    ("begin_group", GROUP, "Person", "", "", "", "", f"${{{CONSENT}}} = 'yes'"),
    (
        "text",
        "household_ref",
        "Household reference",
        "The code on the household card: the same for everyone in the household.",
        "yes",
        f"regex(., '{_REFERENCE}')",
        "6 to 64 letters, digits, '_' or '-'.",
        "",
    ),
    (
        "text",
        "given_name",
        "Given name",
        "",
        "yes",
        f"string-length(.) <= {MAX_NAME}",
        f"At most {MAX_NAME} characters.",
        "",
    ),
    (
        "text",
        "family_name",
        "Family name",
        "",
        "yes",
        f"string-length(.) <= {MAX_NAME}",
        f"At most {MAX_NAME} characters.",
        "",
    ),
    (
        "date",
        "birth_date",
        "Date of birth",
        "If only the year is known, use 1 January of that year.",
        "yes",
        (
            ". <= today() and "
            f"(decimal-date-time(today()) - decimal-date-time(.)) div 365.25 <= {MAX_AGE}"
        ),
        f"Not in the future, and at most {MAX_AGE} years ago.",
        "",
    ),
    ("select_one sex", "sex", "Sex", "", "yes", "", "", ""),
    (
        "text",
        "document_number",
        "Identity document number",
        "Leave empty if the person has none or prefers not to give it.",
        "",
        f"string-length(.) <= {MAX_DOCUMENT}",
        f"At most {MAX_DOCUMENT} characters.",
        "",
    ),
    (
        "text",
        "phone",
        "Phone number",
        "Optional. Digits, with spaces, '+', '-' or brackets.",
        "",
        (
            f"regex(., '^[+]?[0-9 ()-]+$') and {_DIGITS} >= {PHONE_DIGITS[0]} "
            f"and {_DIGITS} <= {PHONE_DIGITS[1]}"
        ),
        f"{PHONE_DIGITS[0]} to {PHONE_DIGITS[1]} digits; spaces, '+', '-' and brackets allowed.",
        "",
    ),
    (
        "select_multiple needs",
        "needs",
        "Needs during the journey",
        "Choose all that apply.",
        "",
        "",
        "",
        "",
    ),
    (
        "text",
        "destination",
        "Chosen destination",
        "The reception site the person chose, as the coordinator names it. Their choice only.",
        "yes",
        f"string-length(.) <= {MAX_NAME}",
        f"At most {MAX_NAME} characters.",
        "",
    ),
    ("end_group", "", "", "", "", "", "", ""),
]

_LABELS = {
    "yes": "Yes",
    "no": "No",
    "female": "Female",
    "male": "Male",
    "other": "Other",
    "undisclosed": "Prefers not to say",
    "medical": "Needs medical care",
    "stretcher": "Must travel lying down (stretcher)",
    "wheelchair": "Uses a wheelchair",
    "unaccompanied-minor": "Child travelling without any adult",
    "separated-child": "Child separated from their usual caregiver",
    "pregnant": "Pregnant",
    "older-alone": "Older person travelling alone",
}
CHOICES = [
    ("list_name", "name", "label"),
    *(("yes_no", code, _LABELS[code]) for code in ("yes", "no")),
    *(("sex", code, _LABELS[code]) for code in SEXES),
    *(("needs", code, _LABELS[code]) for code in NEEDS),
]
SETTINGS = [
    ("form_title", "form_id", "version", "instance_name"),
    # the name a device and the server list a submission by: no personal data in it
    ("safepassage registration", FORM_ID, VERSION, "concat('household ', ${household_ref})"),
]


def sheets() -> dict[str, list[tuple[str, ...]]]:
    return {"survey": [SURVEY_COLUMNS, *SURVEY], "choices": CHOICES, "settings": SETTINGS}


def write(path: Path) -> None:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, rows in sheets().items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    stamp = datetime(2025, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    book.properties.created = book.properties.modified = stamp
    book.save(path)


def read(path: Path) -> dict[str, list[tuple[str, ...]]]:
    book = load_workbook(path, read_only=True)
    try:
        return {
            sheet.title: [tuple(c or "" for c in row) for row in sheet.iter_rows(values_only=True)]
            for sheet in book.worksheets
        }
    finally:
        book.close()


def main() -> int:
    if "--check" in sys.argv:
        if not OUT.exists() or read(OUT) != sheets():
            print(f"{OUT.name} is stale: run python scripts/make_xlsform.py")
            return 1
        return 0
    write(OUT)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
