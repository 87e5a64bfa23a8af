"""Registration files: the shipped XLSForm, every format it comes back in, and every bad input.

The ODK and KoboToolbox fixtures are built from the XForm that pyxform makes of the shipped
form, with the column and key naming each server documents (ODK Central's CSV: group paths
joined by "-", ``SubmissionDate`` first and ``KEY`` after the fields; OData: groups nested,
``__id``; KoboToolbox: ``group/field`` keys, ``_uuid`` without ODK's ``uuid:`` prefix).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyxform.xls2xform import convert

from safepassage.errors import FormatError
from safepassage.intake import Duplicate, Parsed, Registration, RowError, parse_registrations
from safepassage.intake.registrations import (
    COLUMNS,
    CONSENT,
    FORM_ID,
    GROUP,
    NEEDS,
    SEXES,
    age_band,
)

ROOT = Path(__file__).resolve().parents[2]
FORM = ROOT / "src" / "safepassage" / "intake" / "registration.xlsx"
TODAY = date(2025, 6, 1)
XF = "{http://www.w3.org/2002/xforms}"
H = "{http://www.w3.org/1999/xhtml}"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

GIVEN, FAMILY, DOC, PHONE = "CANARY-GIVEN-7f3a", "CANARY-FAMILY-c41e", "CANARY-DOC-91c2", "+380"
CANARIES = (GIVEN, FAMILY, DOC, "4409182736455", "1931-07-19")

Person = dict[str, str | None]
PEOPLE: list[Person] = [
    {
        "submission_id": "uuid:6f1c2b7e-3d4a-4b5c-8d9e-0a1b2c3d4e5f",
        "household_ref": "HH-7Q2M9X",
        "given_name": GIVEN,
        "family_name": f'{FAMILY}, "Jr"',
        "birth_date": "1931-07-19",
        "sex": "female",
        "document_number": DOC,
        "phone": "+380 (44) 0918-2736455",
        "needs": "stretcher medical",
        "destination": "zaporizhzhia-reception",
    },
    {
        "submission_id": "uuid:0b8e1f2a-9c7d-4e6f-a5b4-c3d2e1f0a9b8",
        "household_ref": "HH-7Q2M9X",
        "given_name": "Ólena",
        "family_name": "Petrenko; née Шевченко",
        "birth_date": "2020-02-29",
        "sex": "male",
        "document_number": None,
        "phone": None,
        "needs": None,
        "destination": "Zaporizhzhia reception centre",
    },
    {
        "submission_id": "uuid:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
        "household_ref": "HH-K3P8WZ",
        "given_name": "Amal",
        "family_name": "Haddad",
        "birth_date": "2008-06-01",
        "sex": "undisclosed",
        "document_number": "AB 123456",
        "phone": "0501234567",
        "needs": "unaccompanied-minor",
        "destination": "dnipro",
    },
]
EXPECTED = [
    Registration(
        row=0,
        submission_id=str(p["submission_id"]),
        household_ref=str(p["household_ref"]),
        given_name=str(p["given_name"]),
        family_name=str(p["family_name"]),
        birth_date=date.fromisoformat(str(p["birth_date"])),
        sex=sex,
        document_number=p["document_number"],
        phone=p["phone"],
        needs=needs,
        destination=str(p["destination"]),
        age_band=band,
    )
    for p, sex, needs, band in zip(
        PEOPLE,
        ("female", "male", "undisclosed"),
        (("medical", "stretcher"), (), ("unaccompanied-minor",)),
        ("60+", "5-11", "12-17"),
        strict=True,
    )
]


def parse(data: bytes | str, name: str = "registrations.csv") -> Parsed:
    raw = data.encode() if isinstance(data, str) else data
    return parse_registrations(raw, name, today=TODAY)


def unrowed(rows: list[Registration]) -> list[Registration]:
    return [dataclasses.replace(r, row=0) for r in rows]


def no_canary(*texts: object) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in str(text)
            assert canary not in repr(text)


# --- the form ----------------------------------------------------------------------------------


@cache
def xform() -> str:
    return convert(xlsform=str(FORM), validate=False).xform


def form_data() -> ET.Element:
    model = ET.fromstring(xform()).find(f"{H}head/{XF}model")
    assert model is not None
    instance = model.find(f"{XF}instance")
    assert instance is not None
    return instance[0]


def leaves(element: ET.Element, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for child in element:
        name = child.tag.removeprefix(XF)
        found += leaves(child, (*path, name)) if len(child) else [(*path, name)]
    return found


def test_pyxform_converts_the_shipped_form_without_warnings() -> None:
    result = convert(xlsform=str(FORM), validate=False)
    assert result.warnings == []
    data = form_data()
    assert data.get("id") == FORM_ID
    assert data.get("version")


def test_the_form_asks_exactly_what_the_parser_reads() -> None:
    assert leaves(form_data()) == [
        (CONSENT,),
        *((GROUP, name) for name in COLUMNS[1:]),
        ("meta", "instanceID"),
        ("meta", "instanceName"),
    ]


def test_the_form_choices_are_the_catalogue_codes_and_consent_must_be_yes() -> None:
    model = ET.fromstring(xform()).find(f"{H}head/{XF}model")
    assert model is not None
    lists = {
        inst.get("id"): [item.findtext(f"{XF}name") for item in inst.iter(f"{XF}item")]
        for inst in model.findall(f"{XF}instance")
        if inst.get("id")
    }
    assert lists == {"yes_no": ["yes", "no"], "sex": list(SEXES), "needs": list(NEEDS)}
    binds = {b.get("nodeset"): b.attrib for b in model.findall(f"{XF}bind")}
    consent = binds[f"/data/{CONSENT}"]
    assert consent["constraint"] == ". = 'yes'"
    assert consent["required"] == "true()"
    assert binds[f"/data/{GROUP}"]["relevant"].replace(" ", "") == "/data/consent='yes'"
    for name in ("household_ref", "given_name", "family_name", "birth_date", "sex", "destination"):
        assert binds[f"/data/{GROUP}/{name}"]["required"] == "true()"
    assert binds[f"/data/{GROUP}/birth_date"]["type"] == "date"
    assert "household_ref" in binds["/data/meta/instanceName"]["calculate"]  # no names in it


def test_the_shipped_workbook_is_what_the_script_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_xlsform.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- every format, the same registrations --------------------------------------------------------


def field_value(person: Person, path: tuple[str, ...]) -> str | None:
    if path == (CONSENT,):
        return "yes"
    if path == ("meta", "instanceID"):
        return person["submission_id"]
    if path == ("meta", "instanceName"):
        return f"household {person['household_ref']}"
    return person[path[1]]


def write_csv(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows([header, *rows])
    return out.getvalue()


def plain_csv(people: list[Person], delimiter: str = ",") -> str:
    rows = [[p[c] or "" for c in COLUMNS] for p in people]
    return write_csv(list(COLUMNS), rows, delimiter)


def central_csv(people: list[Person], *, briefcase: bool = False) -> str:
    paths = leaves(form_data())
    split = [f"{GROUP}-needs/{n}" for n in NEEDS]  # ?splitSelectMultiples=true
    tail = ["KEY"] if briefcase else ["KEY", "SubmitterID", "SubmitterName", "ReviewState"]
    header = ["SubmissionDate", *("-".join(p) for p in paths), *split, *tail]
    rows = []
    for p in people:
        values = {path: field_value(p, path) or "" for path in paths}
        if briefcase:  # Java's MEDIUM date style, as Briefcase writes it
            born = date.fromisoformat(str(p["birth_date"]))
            values[GROUP, "birth_date"] = f"{MONTHS[born.month - 1]} {born.day}, {born.year}"
        chosen = (p["needs"] or "").split()
        rows.append(
            [
                "2025-05-30T08:00:00.000Z",
                *values.values(),
                *("1" if n in chosen else "0" for n in NEEDS),
                str(p["submission_id"]),
                *([] if briefcase else ["5", "registrar-1", ""]),
            ]
        )
    return write_csv(header, rows)


def kobo_csv(people: list[Person]) -> str:
    paths = [p for p in leaves(form_data()) if p[0] != "meta"]
    header = ["start", "end", *("/".join(p) for p in paths), "_id", "_uuid", "_index"]
    rows = [
        [
            "2025-05-30T08:00:00.000+03:00",
            "2025-05-30T08:05:00.000+03:00",
            *(field_value(p, path) or "" for path in paths),
            str(100 + i),
            str(p["submission_id"]).removeprefix("uuid:"),
            str(i + 1),
        ]
        for i, p in enumerate(people)
    ]
    return write_csv(header, rows, ";")


def central_json(people: list[Person]) -> str:
    value = []
    for p in people:
        item: dict[str, object] = {"__id": p["submission_id"], "__system": {"submitterId": "5"}}
        for path in leaves(form_data()):
            node = item
            for part in path[:-1]:
                node = node.setdefault(part, {})  # type: ignore[assignment]
            node[path[-1]] = field_value(p, path)
        value.append(item)
    return json.dumps({"@odata.context": "https://central.example/v1/x.svc", "value": value})


def kobo_json(people: list[Person]) -> str:
    results = []
    for i, p in enumerate(people):
        item: dict[str, object] = {
            "/".join(path): field_value(p, path)
            for path in leaves(form_data())
            if field_value(p, path) is not None  # Kobo leaves unanswered questions out
        }
        sid = str(p["submission_id"])
        item |= {
            "_id": 100 + i,
            "formhub/uuid": "f7bef041e8624f09946bff05ee5cbd4b",
            "meta/rootUuid": sid,
            "_uuid": sid.removeprefix("uuid:"),
            "_submission_time": "2025-05-30T08:06:00",
            "_attachments": [],
            "_geolocation": [None, None],
            "_validation_status": {},
            "_status": "submitted_via_web",
        }
        results.append(item)
    return json.dumps({"count": len(results), "next": None, "previous": None, "results": results})


WRITERS: dict[str, tuple[Callable[[list[Person]], str], str, str, int]] = {
    "plain": (plain_csv, "people.csv", "plain-csv", 2),
    "plain-semicolons": (lambda p: plain_csv(p, ";"), "people.csv", "plain-csv", 2),
    "plain-tabs": (lambda p: plain_csv(p, "\t"), "people.tsv", "plain-csv", 2),
    "central-csv": (central_csv, "submissions.csv", "odk-csv", 2),
    "briefcase-csv": (lambda p: central_csv(p, briefcase=True), "b.csv", "odk-csv", 2),
    "kobo-csv": (kobo_csv, "kobo.csv", "odk-csv", 2),
    "central-odata": (central_json, "Submissions.json", "odk-central-json", 1),
    "kobo-json": (kobo_json, "data.json", "kobo-json", 1),
}


@pytest.mark.parametrize("kind", WRITERS)
def test_every_format_gives_the_same_registrations(kind: str) -> None:
    write, name, fmt, first = WRITERS[kind]
    parsed = parse(write(PEOPLE), name)
    assert (parsed.format, parsed.errors, parsed.duplicates) == (fmt, [], [])
    assert [r.row for r in parsed.rows] == [first, first + 1, first + 2]
    assert unrowed(parsed.rows) == EXPECTED


def test_a_bom_header_case_blank_lines_and_empty_trailing_columns_are_tolerated() -> None:
    text = plain_csv(PEOPLE[:2]).replace("given_name", "Given_Name")
    lines = [f"{line},," for line in text.split("\r\n")[:3]]  # as Excel leaves them
    parsed = parse(b"\xef\xbb\xbf" + "\r\n".join([lines[0], "", ",,,", *lines[1:]]).encode())
    assert parsed.errors == []
    assert [r.row for r in parsed.rows] == [4, 5]


def test_odk_central_without_group_names_and_with_an_edited_submission() -> None:
    # groupPaths=false drops "person-"; an edit keeps KEY and changes meta-instanceID
    text = central_csv(PEOPLE[:1]).replace(f"{GROUP}-", "").replace("meta-instanceID", "instanceID")
    header, row = text.split("\r\n")[:2]
    edited = row.replace(str(PEOPLE[0]["submission_id"]), "uuid:edited-version", 1)
    parsed = parse(f"{header}\r\n{edited}\r\n")
    assert parsed.errors == []
    assert unrowed(parsed.rows) == EXPECTED[:1]


def test_needs_codes_are_read_in_any_case_and_separator_and_kept_in_catalogue_order() -> None:
    person = {**PEOPLE[1], "needs": "Pregnant;MEDICAL, medical  older-alone", "sex": "Male"}
    (row,) = parse(plain_csv([person])).rows
    assert row.needs == ("medical", "pregnant", "older-alone")
    assert row.sex == "male"


def test_a_registration_repr_holds_no_personal_data() -> None:
    (row, *_) = parse(plain_csv(PEOPLE)).rows
    no_canary(repr(row), str(row))
    assert "HH-7Q2M9X" in repr(row)


# --- bad rows ----------------------------------------------------------------------------------

NEEDS_LIST = ", ".join(NEEDS)
PHONE_REASON = "not a phone number (5 to 20 digits; spaces, '+', '-', '(' ')' allowed)"
BAD_FIELDS = [
    ("submission_id", "", "required, but missing or empty"),
    ("submission_id", "id with spaces", "use 1 to 128 letters, digits, ':', '.', '_' or '-'"),
    ("household_ref", "HH-1", "not a household reference (6 to 64 letters, digits, '_' or '-')"),
    (
        "household_ref",
        GIVEN + "!",
        "not a household reference (6 to 64 letters, digits, '_' or '-')",
    ),
    ("given_name", "", "required, but missing or empty"),
    ("given_name", "   ", "required, but missing or empty"),
    ("given_name", GIVEN + "x" * 200, "longer than 200 characters"),
    ("given_name", GIVEN + "\x07", "contains control characters or line breaks"),
    ("family_name", FAMILY + "\nline two", "contains control characters or line breaks"),
    ("family_name", FAMILY + "\u2028two", "contains control characters or line breaks"),
    ("birth_date", "", "required, but missing or empty"),
    ("birth_date", "19/07/1931", "not a date (expected YYYY-MM-DD)"),
    ("birth_date", "1931-02-30", "not a date (expected YYYY-MM-DD)"),
    ("birth_date", "19310719", "not a date (expected YYYY-MM-DD)"),
    ("birth_date", "Jul 19, 1931", "not a date (expected YYYY-MM-DD)"),  # Briefcase's, not plain
    ("birth_date", "2025-06-02", "in the future"),
    ("birth_date", "1905-05-31", "more than 120 years ago"),
    ("sex", "", "required, but missing or empty"),
    ("sex", GIVEN, "not one of female, male, other, undisclosed"),
    ("sex", "f", "not one of female, male, other, undisclosed"),
    ("document_number", DOC + "9" * 60, "longer than 64 characters"),
    ("phone", "4409182736455-ext", PHONE_REASON),
    ("phone", "12-34", PHONE_REASON),
    ("phone", "+4409182736455+", PHONE_REASON),
    ("needs", "medical, flying", f"item 2 is not one of {NEEDS_LIST}"),
    ("needs", GIVEN, f"item 1 is not one of {NEEDS_LIST}"),
    ("destination", "", "required, but missing or empty"),
    ("destination", "d" * 201, "longer than 200 characters"),
]


@pytest.mark.parametrize(("field", "value", "reason"), BAD_FIELDS)
def test_each_bad_field_is_reported_with_row_field_and_reason(
    field: str, value: str, reason: str
) -> None:
    people = [PEOPLE[1], {**PEOPLE[0], field: value}, PEOPLE[2]]
    parsed = parse(plain_csv(people))
    assert parsed.errors == [RowError(3, field, reason)]
    assert [r.row for r in parsed.rows] == [2, 4]
    no_canary(*parsed.errors, *parsed.rows)


def test_a_birth_date_exactly_120_years_ago_is_still_a_person() -> None:
    (row,) = parse(plain_csv([{**PEOPLE[0], "birth_date": "1905-06-01"}])).rows
    assert (row.birth_date, row.age_band) == (date(1905, 6, 1), "60+")


def test_every_problem_of_a_row_is_reported_and_the_row_is_left_out() -> None:
    bad = {**PEOPLE[0], "given_name": "", "birth_date": "1931-13-01", "sex": "?", "phone": "x"}
    parsed = parse(plain_csv([bad, PEOPLE[1]]))
    assert [(e.row, e.field) for e in parsed.errors] == [
        (2, "given_name"),
        (2, "birth_date"),
        (2, "sex"),
        (2, "phone"),
    ]
    assert [r.row for r in parsed.rows] == [3]
    no_canary(*parsed.errors)


def test_a_row_with_more_cells_than_the_header_is_refused_whole() -> None:
    text = plain_csv(PEOPLE[:2])
    header, first, second = text.split("\r\n")[:3]
    parsed = parse(f"{header}\r\n{first},{GIVEN}\r\n{second}\r\n")
    assert parsed.errors == [RowError(2, "row", "11 cells, the header has 10")]
    assert [r.row for r in parsed.rows] == [3]
    no_canary(*parsed.errors)


def test_a_row_missing_a_cell_shifts_nothing_personal_into_an_error() -> None:
    person = PEOPLE[0]
    cells = [person[c] or "" for c in COLUMNS if c != "given_name"]  # one cell left out
    parsed = parse(write_csv(list(COLUMNS), [cells]))
    assert parsed.rows == []
    assert {e.field for e in parsed.errors} >= {"birth_date", "sex", "destination"}
    no_canary(*parsed.errors)


def test_row_numbers_are_spreadsheet_rows_even_across_a_line_break_in_a_cell() -> None:
    broken = {**PEOPLE[0], "destination": "two\nlines"}
    parsed = parse(plain_csv([broken, PEOPLE[1]]))
    assert parsed.errors == [
        RowError(2, "destination", "contains control characters or line breaks")
    ]
    assert [r.row for r in parsed.rows] == [3]


def test_a_later_row_repeating_a_submission_id_is_skipped_and_reported() -> None:
    again = {**PEOPLE[0], "given_name": ""}  # a repeat is skipped, not checked
    parsed = parse(plain_csv([PEOPLE[0], PEOPLE[1], again, PEOPLE[1]]))
    sid0, sid1 = PEOPLE[0]["submission_id"], PEOPLE[1]["submission_id"]
    assert parsed.duplicates == [Duplicate(4, 2, str(sid0)), Duplicate(5, 3, str(sid1))]
    assert parsed.errors == []
    assert [r.row for r in parsed.rows] == [2, 3]
    assert str(parsed.duplicates[0]) == f"row 4: submission {sid0} repeats row 2"


def test_a_repeat_of_a_bad_row_is_still_a_repeat() -> None:
    bad = {**PEOPLE[0], "sex": "?"}
    parsed = parse(plain_csv([bad, PEOPLE[0]]))
    assert parsed.errors == [RowError(2, "sex", "not one of female, male, other, undisclosed")]
    assert parsed.duplicates == [Duplicate(3, 2, str(PEOPLE[0]["submission_id"]))]
    assert parsed.rows == []


def test_kobo_and_central_repeats_are_found_by_their_stable_ids() -> None:
    parsed = parse(kobo_json([PEOPLE[0], PEOPLE[0]]), "data.json")
    assert parsed.duplicates == [Duplicate(2, 1, str(PEOPLE[0]["submission_id"]))]


@pytest.mark.parametrize("consent", ["no", "", None])
@pytest.mark.parametrize("kind", ["central-csv", "kobo-csv", "central-odata", "kobo-json"])
def test_a_form_submission_without_consent_is_not_imported(kind: str, consent: str | None) -> None:
    write, name, _, first = WRITERS[kind]
    text = write(PEOPLE[:1])
    if name.endswith(".json"):
        doc = json.loads(text)
        item = doc["value" if "value" in doc else "results"][0]
        if consent is None:
            del item[CONSENT]
        else:
            item[CONSENT] = consent
        text = json.dumps(doc)
    else:
        text = text.replace(",yes,", f",{consent or ''},").replace(";yes;", f";{consent or ''};")
    parsed = parse(text, name)
    assert parsed.errors == [RowError(first, CONSENT, "must be yes: register only with consent")]
    assert parsed.rows == []


def test_json_submissions_that_are_not_objects_or_hold_non_text_are_reported() -> None:
    doc = json.loads(central_json(PEOPLE))
    doc["value"][0] = ["not", "an", "object"]
    doc["value"][1][GROUP] = "flat"
    doc["value"][2][GROUP]["phone"] = 501234567
    parsed = parse(json.dumps(doc), "Submissions.json")
    assert parsed.errors == [
        RowError(1, "submission", "not a JSON object"),
        RowError(2, GROUP, "not a JSON object"),
        RowError(3, "phone", "must be text"),
    ]


def test_kobo_bare_list_and_central_bare_list() -> None:
    kobo = json.loads(kobo_json(PEOPLE))["results"]
    central = json.loads(central_json(PEOPLE))["value"]
    assert parse(json.dumps(kobo), "k.json").format == "kobo-json"
    assert unrowed(parse(json.dumps(central), "c.json").rows) == EXPECTED


# --- files that are not registration files ---------------------------------------------------

BAD_FILES = [
    (b"", "empty file"),
    (b" \r\n\t", "empty file"),
    (b"\xff\xfes\x00u\x00", "not UTF-8 text (byte 1): save it as CSV UTF-8 or JSON"),
    ("given_name\n".encode("utf-16-le"), "contains NUL characters (UTF-16?)"),
    (b"PK\x03\x04\x14\x00", "a ZIP archive or .xlsx workbook, not CSV or JSON"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel .xls workbook, not CSV or JSON"),
    (b'{"value": [', "not valid JSON: Expecting value (line 1, column 12)"),
    (b"[" * 100_000, "not valid JSON (nested too deeply, or a number too long)"),
    (b'{"items": []}', "JSON, but not a list of submissions"),
    (b'{"value": 3}', "JSON, but not a list of submissions"),
    (b'"text"', "not a registration file"),
    (b"name,age\nAda,36\n", "not a registration file: expected a CSV with the columns"),
    (f"{GIVEN},{FAMILY},1931-07-19\n".encode(), "not a registration file"),
    (b"submission_id,given_name\n", "missing columns: household_ref, family_name, birth_date"),
    (
        f"{GIVEN},sex,{DOC},destination\n".encode(),  # a data row, not a header: nothing quoted
        "missing columns: submission_id, household_ref, given_name, family_name, birth_date, and 2",
    ),
    (
        (",".join(COLUMNS) + ",notes,email\n").encode(),
        "unknown columns: notes, email (expected a CSV",
    ),
    (b"submission_id,given_name,given_name\n", "column given_name appears twice"),
    (b"submission_id,,given_name\n", "column 2 has no name in the header"),
    (b"SubmissionDate,person-given_name,KEY\n", "missing columns for: household_ref, family_name"),
    (b'submission_id\n"a\0', "contains NUL characters"),
]


@pytest.mark.parametrize(("data", "reason"), BAD_FILES)
def test_a_file_that_is_not_a_registration_file_gets_one_line_naming_it(
    data: bytes, reason: str
) -> None:
    with pytest.raises(FormatError) as err:
        parse(data, "intake-0530.csv")
    assert err.value.field == "intake-0530.csv"
    assert err.value.reason.startswith(reason)
    assert str(err.value).startswith("intake-0530.csv: ")
    assert "\n" not in str(err.value)
    no_canary(err.value)


def test_a_json_name_with_csv_inside_says_it_is_not_json() -> None:
    with pytest.raises(FormatError, match="not valid JSON") as err:
        parse(plain_csv(PEOPLE), "data.json")
    no_canary(err.value)


def test_a_badly_quoted_csv_is_one_format_error() -> None:
    huge = '"' + "x" * 200_000 + '"'
    with pytest.raises(FormatError, match=r"not readable as CSV \(row 2: ") as err:
        parse(plain_csv(PEOPLE[:1]).split("\r\n")[0] + "\r\n" + huge + "\r\n")
    assert err.value.field == "registrations.csv"


# --- age bands -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (date(2025, 6, 1), "0-4"),
        (date(2020, 6, 2), "0-4"),
        (date(2020, 6, 1), "5-11"),
        (date(2013, 6, 2), "5-11"),
        (date(2013, 6, 1), "12-17"),
        (date(2007, 6, 2), "12-17"),
        (date(2007, 6, 1), "18-59"),
        (date(1965, 6, 2), "18-59"),
        (date(1965, 6, 1), "60+"),
        (date(1905, 6, 1), "60+"),
    ],
)
def test_age_bands_turn_on_the_birthday(born: date, band: str) -> None:
    assert age_band(born, TODAY) == band


def test_a_leap_day_birthday_turns_on_the_first_of_march() -> None:
    assert age_band(date(2020, 2, 29), date(2025, 2, 28)) == "0-4"
    assert age_band(date(2020, 2, 29), date(2025, 3, 1)) == "5-11"
    with pytest.raises(ValueError, match="after today"):
        age_band(date(2025, 6, 2), TODAY)


# --- properties ----------------------------------------------------------------------------------

free_text = (
    st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30)
    .map(str.strip)
    .filter(bool)
)


@st.composite
def people(draw: st.DrawFn) -> list[Person]:
    ids = draw(
        st.lists(st.from_regex(r"[A-Za-z0-9:._-]{1,40}", fullmatch=True), max_size=5, unique=True)
    )
    earliest = date(TODAY.year - 120, TODAY.month, TODAY.day)
    return [
        {
            "submission_id": sid,
            "household_ref": draw(st.from_regex(r"[A-Za-z0-9_-]{6,20}", fullmatch=True)),
            "given_name": draw(free_text),
            "family_name": draw(free_text),
            "birth_date": draw(st.dates(earliest, TODAY)).isoformat(),
            "sex": draw(st.sampled_from(SEXES)),
            "document_number": draw(st.none() | free_text),
            "phone": draw(
                st.none() | st.from_regex(r"\+?[0-9]{2,4}[ -]?[0-9]{3,12}", fullmatch=True)
            ),
            "needs": " ".join(draw(st.sets(st.sampled_from(NEEDS)))) or None,
            "destination": draw(free_text),
        }
        for sid in ids
    ]


def registration(person: Person, row: int) -> Registration:
    born = date.fromisoformat(str(person["birth_date"]))
    chosen = (person["needs"] or "").split()
    return Registration(
        row=row,
        submission_id=str(person["submission_id"]),
        household_ref=str(person["household_ref"]),
        given_name=str(person["given_name"]),
        family_name=str(person["family_name"]),
        birth_date=born,
        sex=person["sex"],  # type: ignore[arg-type]
        document_number=person["document_number"],
        phone=person["phone"],
        needs=tuple(n for n in NEEDS if n in chosen),
        destination=str(person["destination"]),
        age_band=age_band(born, TODAY),
    )


@settings(deadline=None)
@given(people(), st.sampled_from(sorted(WRITERS)))
def test_any_valid_registrations_written_in_any_format_parse_back_equal(
    persons: list[Person], kind: str
) -> None:
    write, name, fmt, first = WRITERS[kind]
    parsed = parse(write(persons), name)
    assert (parsed.format, parsed.errors, parsed.duplicates) == (fmt, [], [])
    assert parsed.rows == [registration(p, first + i) for i, p in enumerate(persons)]


@settings(deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["f.csv", "f.json", "f"]))
def test_arbitrary_bytes_raise_nothing_but_a_format_error(data: bytes, name: str) -> None:
    error: FormatError | None = None
    try:
        parse(data, name)
    except FormatError as exc:
        error = exc
    if error is not None:
        assert error.field == name
        assert "\n" not in str(error)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
keys = st.sampled_from(
    [GROUP, CONSENT, "__id", "meta", "_uuid", "meta/rootUuid", "meta/instanceID"]
    + [f"{GROUP}/{c}" for c in COLUMNS]
)


@settings(deadline=None)
@given(
    st.sampled_from(["value", "results"]),
    st.lists(json_values | st.dictionaries(keys, json_values), max_size=4),
)
def test_arbitrary_submissions_become_rows_or_row_errors(wrapper: str, items: list[object]) -> None:
    parsed = parse(json.dumps({wrapper: items}), "x.json")
    assert len(parsed.rows) + len({e.row for e in parsed.errors}) + len(parsed.duplicates) == len(
        items
    )


@settings(deadline=None)
@given(
    st.sampled_from(COLUMNS),
    # NUL is a file error; surrogates cannot be written to a UTF-8 file at all
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    st.sampled_from(["plain", "central-csv", "kobo-json"]),
)
def test_any_one_bad_value_costs_that_row_only_and_echoes_nothing_personal(
    column: str, value: str, kind: str
) -> None:
    write, name, _, first = WRITERS[kind]
    canary = f"{GIVEN}{value}"
    person = {**PEOPLE[0], "given_name": canary, column: value}
    parsed = parse(write([PEOPLE[1], person, PEOPLE[2]]), name)
    assert {r.row for r in parsed.rows} >= {first, first + 2}
    assert {e.row for e in parsed.errors} <= {first + 1}
    for error in parsed.errors:
        assert GIVEN not in str(error)
        assert DOC not in str(error)
