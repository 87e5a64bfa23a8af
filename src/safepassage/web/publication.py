"""What the public pages publish: the public report at the latest cosigned checkpoint, its bundle.

``Publisher.latest()`` finds the latest checkpoint the log kept that passes the same check as
``safepassage checkpoint verify`` against the operation's public keys (signed by the log, every
cosignature a party's witness, a party other than the coordinator among them), and computes the
report at its size through ``public_report``. So every figure published can be checked by
anyone against a checkpoint the parties vouch for, and recomputed by anyone who holds the log.

The bundle's files are the bytes the command line gives for the same size (``safepassage report
DIR --at SIZE --public``, with ``--format json``; ``safepassage export figures DIR --at SIZE``
with ``--format csv`` and ``hxl``; ``safepassage receipt keys DIR``), so a party can compare them
with ``diff``. The zip is deterministic: a given checkpoint gives the same bytes every time.

Never here: the vault (no personal data exists in anything read here), signing a checkpoint
(only kept ones are read), the exact report leaving ``Publisher`` (it is made public at once).
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from safepassage.app.operation import Operation
from safepassage.app.receipts import public_keys
from safepassage.errors import SafepassageError
from safepassage.operation.export import figure_rows, render
from safepassage.operation.public import public_report
from safepassage.operation.report import Report, to_markdown
from safepassage.receipts.checkpoint import VerifiedCheckpoint, verify_checkpoint
from safepassage.receipts.keys import PublicKeys

__all__ = [
    "BUNDLE_FILES",
    "Opened",
    "Publication",
    "Publisher",
    "Step",
    "bundle",
    "bundle_files",
    "steps",
]

BUNDLE_FILES: dict[str, str] = {
    "README.txt": "what each file is, and the commands that check them",
    "checkpoint.txt": "the cosigned checkpoint (a C2SP signed note) the figures are computed at",
    "public-keys.json": "the operation's public keys: the log's, each party's witness and role",
    "report.json": "the public report as JSON (docs/report.schema.json)",
    "report.md": "the same report as text",
    "figures.csv": "the public figures as one table (CSV)",
    "figures.hxl": "the same table with its HXL hashtag row",
}
"""Each file of the public bundle, in the zip's order, and what it holds."""

_EARLIEST_ZIP_TIME = datetime(1980, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Publication:
    """What is published: one operation's public report at its latest cosigned checkpoint."""

    operation: str
    name: str
    closed: bool
    note: str
    """The cosigned checkpoint note, as the log keeps it."""
    checkpoint: VerifiedCheckpoint
    as_of: datetime | None
    """When the last log entry the figures include was recorded (None: no entries)."""
    report: Report
    """The public report (small counts suppressed), at the checkpoint's size."""
    keys: dict[str, Any]
    """The operation's public-keys bundle (JSON data)."""
    routes: dict[str, str]
    """Route id -> its name."""

    @property
    def size(self) -> int:
        return self.checkpoint.checkpoint.size

    @property
    def cosigned_at(self) -> datetime | None:
        """When the last of its cosignatures was made."""
        times = [c.at for c in self.checkpoint.cosigners if c.at is not None]
        return max(times) if times else None

    def party_name(self, party: str) -> str:
        entry = self.keys["parties"].get(party)
        return str(entry["name"]) if entry else party


@dataclass(frozen=True)
class Opened:
    """The operation as it is now: enough to list it before anything is published."""

    operation: str
    name: str
    closed: bool
    keys: dict[str, Any] | None
    routes: dict[str, str]


class Publisher:
    """Finds what to publish for one served operation; keeps the last report it computed (a
    report at an older size is a refold of the log, too slow to repeat for every reader)."""

    def __init__(self, op: Operation) -> None:
        self.op = op
        self._lock = threading.Lock()
        self._cached: tuple[str, Report, datetime | None] | None = None
        self._found: tuple[int, str, VerifiedCheckpoint] | None = None
        """The newest kept checkpoint found publishable: (size, note, what it proved). Only
        newer checkpoints (or this one with more cosignatures) are checked again, so a
        reader's request does not re-verify every checkpoint kept since the last cosigned."""
        self._refused: dict[int, str] = {}
        """Kept checkpoints found not publishable, by size: skipped until their note changes
        (a cosignature added)."""

    def opened(self) -> Opened:
        with self.op.reading() as state:
            try:
                keys = public_keys(self.op)
            except SafepassageError:  # not opened yet: nothing to check a checkpoint with
                keys = None
            return Opened(
                operation=state.operation or "",
                name=state.name or state.operation or "",
                closed=state.closed,
                keys=keys,
                routes={route: declared.name for route, declared in state.routes.items()},
            )

    def latest(self) -> tuple[Opened, Publication | None]:
        """The operation, and what it publishes (None until a party other than the coordinator
        has cosigned a checkpoint)."""
        opened = self.opened()
        if opened.keys is None:
            return opened, None
        found = self._publishable(PublicKeys.from_json(opened.keys))
        if found is None:
            return opened, None
        size, note, verified = found
        report, as_of = self._report(note, size)
        return opened, Publication(
            operation=opened.operation,
            name=opened.name,
            closed=opened.closed,
            note=note,
            checkpoint=verified,
            as_of=as_of,
            report=report,
            keys=opened.keys,
            routes=opened.routes,
        )

    def _publishable(self, keys: PublicKeys) -> tuple[int, str, VerifiedCheckpoint] | None:
        """The newest kept checkpoint that passes ``verify_checkpoint`` (cosigned by a party
        other than the coordinator)."""
        known = self._found
        for kept in reversed(self.op.log.store.checkpoints()):
            if known is not None and (kept.size < known[0] or (kept.size, kept.note) == known[:2]):
                return known  # nothing newer passes: what was found before still stands
            if self._refused.get(kept.size) == kept.note:
                continue
            try:
                verified = verify_checkpoint(kept.note, keys)
            except SafepassageError:
                self._refused[kept.size] = kept.note
                continue
            self._found = (kept.size, kept.note, verified)
            return self._found
        return known

    def _report(self, note: str, size: int) -> tuple[Report, datetime | None]:
        with self._lock:
            if self._cached is not None and self._cached[0] == note:
                return self._cached[1], self._cached[2]
            report = public_report(self.op.report(size))
            as_of = self.op.recorded_at(size)
            self._cached = (note, report, as_of)
            return report, as_of


@dataclass(frozen=True)
class Step:
    """One step of "check it yourself": who takes it, the command lines, what they show."""

    id: str
    title: str
    who: str
    lines: tuple[str, ...]
    shows: str


def steps(publication: Publication, bundle_url: str | None) -> list[Step]:
    """The commands that check a publication, in the order to run them. With ``bundle_url``,
    the first step downloads and unpacks the bundle; the others run in the unpacked folder."""
    size, vkey = publication.size, publication.keys["log"]
    out = []
    if bundle_url is not None:
        out.append(
            Step(
                "get",
                "Download the bundle and unpack it",
                "anyone",
                (
                    f"curl -fL -o bundle.zip {bundle_url}",
                    "python3 -m zipfile -e bundle.zip bundle",
                    "cd bundle",
                ),
                "The bundle holds the report, the figures, the checkpoint they are computed "
                "at and the operation's public keys (README.txt lists them).",
            )
        )
    out += [
        Step(
            "checkpoint",
            "Check the checkpoint and who vouches for it",
            "anyone, with safepassage installed",
            ("safepassage checkpoint verify checkpoint.txt --keys public-keys.json",),
            f"Prints the log size ({size}) and root hash the parties cosigned, and who they "
            "are; refuses a checkpoint whose signatures do not verify. Compare the keys in "
            "public-keys.json with those each party publishes itself: they are what makes the "
            "check mean something.",
        ),
        Step(
            "recompute",
            "Recompute every figure from the log",
            "a party, or anyone holding a copy of the operation's folder (DIR below)",
            (
                f"safepassage verify DIR --vkey '{vkey}'",
                f"safepassage report DIR --at {size} --public | diff - report.md",
                f"safepassage report DIR --at {size} --public --format json | diff - report.json",
                f"safepassage export figures DIR --at {size} --format csv | diff - figures.csv",
                f"safepassage export figures DIR --at {size} --format hxl | diff - figures.hxl",
            ),
            "verify recomputes every hash of the log and checks every checkpoint against the "
            "log's key; the report and the figures recomputed from its first "
            f"{size} entries must be the published files byte for byte (diff prints nothing).",
        ),
        Step(
            "receipt",
            "Check an evacuee's receipt",
            "an evacuee, or someone they show it to",
            ("safepassage receipt verify receipt.png --keys public-keys.json",),
            "Proves that person's own registration or arrival is in a checkpoint the parties "
            "cosigned (receipt.pdf works too); it shows nothing about anyone else.",
        ),
    ]
    return out


def _readme(publication: Publication) -> str:
    cp, cosigners = publication.checkpoint.checkpoint, publication.checkpoint.cosigners
    lines = [
        f"{publication.name} ({publication.operation}): the public report",
        "",
        f"Computed from the first {cp.size} entries of the log {cp.origin}, at the checkpoint",
        f"in checkpoint.txt, cosigned by {', '.join(c.party for c in cosigners)}.",
        "",
        "Counts of people are suppressed where small: 1 to 4 people is shown as <5, and x marks",
        "a count (at least 1) withheld so that a small one cannot be worked out by subtraction.",
        "Zero is shown. Whoever holds the log can compute the exact figures.",
        "",
        "Files:",
        *(f"  {name:<17} {what}" for name, what in BUNDLE_FILES.items()),
        "",
        "Check it yourself, in this folder:",
    ]
    for step in steps(publication, None):
        lines += ["", f"{step.title} ({step.who}):", *(f"  {line}" for line in step.lines)]
        lines += [f"  {part}" for part in _wrap(step.shows, 90)]
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*out, line] if line else out


def bundle_files(publication: Publication) -> dict[str, bytes]:
    """The bundle's files by name, in ``BUNDLE_FILES`` order."""
    report = publication.report
    rows = figure_rows(report, publication.as_of)
    texts = {
        "README.txt": _readme(publication),
        "checkpoint.txt": publication.note,
        "public-keys.json": json.dumps(publication.keys, indent=2, ensure_ascii=False) + "\n",
        "report.json": report.model_dump_json(indent=2) + "\n",
        "report.md": to_markdown(report),
        "figures.csv": render(rows, "csv"),
        "figures.hxl": render(rows, "hxl"),
    }
    return {name: texts[name].encode("utf-8") for name in BUNDLE_FILES}


def bundle(publication: Publication) -> bytes:
    """The public bundle as a zip: the same bytes for the same checkpoint (each file dated
    when the last entry the figures include was recorded, stored in a fixed order)."""
    when = max(publication.as_of or _EARLIEST_ZIP_TIME, _EARLIEST_ZIP_TIME).astimezone(UTC)
    # a zip (DOS) time counts seconds in twos: round down here, so the stamp is the one stored
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second // 2 * 2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in bundle_files(publication).items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, wherever the server runs
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return out.getvalue()
