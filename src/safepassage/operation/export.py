"""The public figures as one table, written as HXL, CSV or JSON. Pure: no I/O.

The table holds the people figures of the report's public version (``operation.public``), so
every count of people in it is suppressed exactly as there: ``<5`` for 1 to 4, ``x`` for a
count withheld so that a small one cannot be worked out by subtraction, 0 for zero. Each row
also carries the checkpoint (log origin, size, root) the figures were computed at, so anyone
holding the log can recompute them, and the date of the last log entry they include.

Rows, in this order (``origin`` empty: all registration sites together)::

    status        origin  destination  targeted                      reached
    destination   site    site         registered there, choose it   off the convoy there
    not-boarded   site    -            registered there, not boarded
    in-transit    site    -            boarded there, on the convoy
    unaccounted   site    -            boarded there, never recorded off the convoy
    registered    site    -            registered there
    destination   -       site         all who choose it
    arrived       -       site         -                             recorded arriving there
    left-convoy   -       site         -                             left the convoy there
    not-boarded, in-transit, unaccounted, boarded, registered   -   -   all of them

The columns and their HXL hashtags are ``COLUMNS``: core HXL 1.1 hashtags and attributes, and
three attributes of our own, as HXL allows (``#meta+checkpoint+size``, ``#meta+checkpoint+root``).
A count column holds a number, ``<5`` or ``x``; HXL's default schema expects numbers there, so a
consumer validating with it must allow the two markers (docs/disclosure.md).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, Literal

from safepassage.operation.disclosure import Shown
from safepassage.operation.public import public_report
from safepassage.operation.report import Report

__all__ = ["COLUMNS", "FORMATS", "ExportFormat", "Row", "figure_rows", "render"]

COLUMNS: Final = (
    ("operation", "#event+name"),
    ("operation_id", "#event+code"),
    ("as_of", "#date+reported"),
    ("origin", "#loc+name+origin"),
    ("destination", "#loc+name+dest"),
    ("status", "#status+code"),
    ("targeted", "#targeted+ind"),
    ("reached", "#reached+ind"),
    ("log", "#meta+source"),
    ("size", "#meta+checkpoint+size"),
    ("root", "#meta+checkpoint+root"),
)
"""(column name, HXL hashtag), in the order written."""

ExportFormat = Literal["hxl", "csv", "json"]
FORMATS: Final[tuple[ExportFormat, ...]] = ("hxl", "csv", "json")

Row = dict[str, str | int | None]
"""One row: column name -> a count (int, ``<5`` or ``x``), a text, or None (empty)."""


def figure_rows(report: Report, as_of: datetime | None) -> list[Row]:
    """The public figures of ``report`` (made public here if it is exact) as rows.

    ``as_of``: when the last log entry the figures include was recorded (None: an empty log);
    its date in UTC goes in the ``as_of`` column.
    """
    report = public_report(report)
    f, cp = report.figures, report.checkpoint
    common: Row = {
        "operation": report.operation.name,
        "operation_id": report.operation.id,
        "as_of": as_of.astimezone(UTC).date().isoformat() if as_of is not None else None,
        "log": cp.origin if cp else None,
        "size": cp.size if cp else None,
        "root": cp.root if cp else None,
    }
    rows: list[Row] = []

    def row(
        status: str,
        origin: str | None = None,
        destination: str | None = None,
        targeted: Shown | None = None,
        reached: Shown | None = None,
    ) -> None:
        fields = {"origin": origin, "destination": destination, "status": status}
        counts = {"targeted": targeted, "reached": reached}
        rows.append({name: {**common, **fields, **counts}[name] for name, _ in COLUMNS})

    places = sorted({d for o in f.by_origin for d in (*o.chosen, *o.reached)})
    for o in f.by_origin:
        for d in places:
            row("destination", o.site, d, o.chosen.get(d, 0), o.reached.get(d, 0))
        row("not-boarded", o.site, targeted=o.not_boarded)
        row("in-transit", o.site, targeted=o.in_transit)
        row("unaccounted", o.site, targeted=o.unaccounted)
        row("registered", o.site, targeted=o.registered)
    for d in places:
        row("destination", destination=d, targeted=f.chosen.get(d, 0))
    for d in places:
        row("arrived", destination=d, reached=f.arrived.get(d, 0))
    for d in places:
        row("left-convoy", destination=d, reached=f.left_convoy.get(d, 0))
    row("not-boarded", targeted=f.not_boarded)
    row("in-transit", targeted=f.in_transit)
    row("unaccounted", targeted=f.unaccounted)
    row("boarded", targeted=f.boarded)
    row("registered", targeted=f.registered)
    return rows


def render(rows: Sequence[Row], fmt: ExportFormat) -> str:
    """The rows as text: ``hxl`` is CSV with the hashtag row under the header, ``csv`` the same
    without it, ``json`` a list of objects keyed by column name (empty cells as null)."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(name for name, _ in COLUMNS)
    if fmt == "hxl":
        writer.writerow(tag for _, tag in COLUMNS)
    for r in rows:
        writer.writerow("" if r[name] is None else r[name] for name, _ in COLUMNS)
    return out.getvalue()
