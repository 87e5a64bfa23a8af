"""The evacuee receipt: what it holds, its text form and its QR payload. Pure: no I/O.

A receipt proves one fact about one person (their registration, or their arrival) to anyone
holding the operation's public keys, offline. It holds the person's reference, the salt of the
commitment in their registration, the signed event itself, and an RFC 9162 inclusion proof of
that event against a checkpoint of the log cosigned by the parties' witnesses. Nothing in it is
about anyone else: the proof's hashes are of subtrees, and the checkpoint is public.

The text form, line by line, a header block, then a C2SP ``tlog-proof`` (its last part is the
checkpoint note verbatim)::

    safepassage.example/receipt@v1
    stage registration|arrival
    operation <operation id>
    name <the operation's name, as a JSON string>
    ref <the person's reference>
    salt <standard base64 of the commitment's salt>
    event <the event's canonical JSON (RFC 8785), exactly as signed and logged>

    c2sp.org/tlog-proof@v1
    index <the event's log index>
    <base64 proof hash>...

    <checkpoint note>

The payload (the QR code, the PNG's text chunk, the PDF's attachment) is ``SPR1:`` followed by
the base45 (RFC 9285) of the zlib-compressed text: all in the QR code's alphanumeric set, so a
scanner hands it over as plain text. A parsed text must be the canonical form of what it holds;
the compressed stream need not be, since any zlib may have made it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from safepassage.errors import FormatError, SafepassageError
from safepassage.ledger import merkle
from safepassage.ledger.checkpoint import Checkpoint
from safepassage.ledger.note import signatures
from safepassage.ledger.proof import TlogProof
from safepassage.receipts._base45 import b45decode, b45encode

__all__ = [
    "HEADER",
    "KINDS",
    "MAX_TEXT_BYTES",
    "PAYLOAD_PREFIX",
    "Receipt",
    "Stage",
    "parse_receipt",
]

HEADER: Final = "safepassage.example/receipt@v1"
PAYLOAD_PREFIX: Final = "SPR1:"
MAX_TEXT_BYTES: Final = 64 * 1024
"""Far above a real receipt (about 2.4 kB for a log of a million entries): a bound, not a size."""
_MAX_PAYLOAD_CHARS: Final = MAX_TEXT_BYTES * 3 // 2 + len(PAYLOAD_PREFIX)
_MAX_PROOF: Final = 64  # a tree of at most 2^64 entries
_SALT_BYTES: Final = (16, 64)
_MAX_NAME: Final = 200

Stage = Literal["registration", "arrival"]
KINDS: Final[dict[Stage, str]] = {
    "registration": "person.registered",
    "arrival": "person.arrived",
}
"""The event each stage proves."""

_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_REFERENCE = re.compile(r"[A-Za-z0-9_-]{6,64}")
_LINES = ("stage", "operation", "name", "ref", "salt", "event")


def _within(exc: SafepassageError, prefix: str) -> str:
    return f"{prefix} ({exc.field})" if exc.field else prefix


@dataclass(frozen=True)
class Receipt:
    """One person's receipt. Construction checks the form only; ``verify_receipt`` the content.

    ``event`` is the logged entry's bytes; ``checkpoint`` the cosigned checkpoint note; ``proof``
    the inclusion proof of ``event`` at ``index`` in the tree that checkpoint commits to.
    """

    stage: Stage
    operation: str
    operation_name: str
    ref: str
    salt: bytes = field(repr=False)
    event: bytes
    index: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "proof", tuple(self.proof))
        if self.stage not in get_args(Stage):
            raise FormatError(f"{self.stage!r} is not registration or arrival", field="stage")
        if not isinstance(self.operation, str) or not _SLUG.fullmatch(self.operation):
            raise FormatError("is not an operation id (a slug)", field="operation")
        self._check_name()
        if not isinstance(self.ref, str) or not _REFERENCE.fullmatch(self.ref):
            raise FormatError("is not a person's reference", field="ref")
        low, high = _SALT_BYTES
        if not isinstance(self.salt, bytes) or not low <= len(self.salt) <= high:
            raise FormatError(f"must be {low} to {high} bytes", field="salt")
        self._check_event()
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise FormatError("must be an integer", field="index")
        if not 0 <= self.index < 2**64:
            raise FormatError(f"{self.index} is outside 0..2^64-1", field="index")
        if len(self.proof) > _MAX_PROOF:
            raise FormatError(f"has more than {_MAX_PROOF} hashes", field="proof")
        for i, h in enumerate(self.proof):
            if not isinstance(h, bytes) or len(h) != merkle.HASH_SIZE:
                raise FormatError("must be a 32-byte hash", field=f"proof[{i}]")
        self.head()  # the checkpoint must at least be a well-formed note

    def _check_name(self) -> None:
        name = self.operation_name
        if not isinstance(name, str) or not 1 <= len(name) <= _MAX_NAME:
            raise FormatError(f"must be 1 to {_MAX_NAME} characters", field="operation_name")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FormatError("is not valid UTF-8", field="operation_name") from exc

    def _check_event(self) -> None:
        if not isinstance(self.event, bytes) or not self.event:
            raise FormatError("must be the event's bytes", field="event")
        if b"\n" in self.event:
            # canonical JSON escapes every newline: one here is not a logged event
            raise FormatError("has a line break", field="event")
        try:
            self.event.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"is not UTF-8 (byte {exc.start})", field="event") from exc

    def head(self) -> Checkpoint:
        """The checkpoint the note states: parsed, *not* verified (``verify_receipt`` does)."""
        note = self.checkpoint
        if not isinstance(note, str) or not note:
            raise FormatError("must be a checkpoint note", field="checkpoint")
        try:
            signatures(note)
            return Checkpoint.from_text(note[: note.rfind("\n\n") + 1])
        except FormatError as exc:
            raise FormatError(exc.reason, field=_within(exc, "checkpoint")) from exc

    # --- the text form -------------------------------------------------------------------------

    def to_text(self) -> str:
        """The receipt's canonical text (see the module's docstring)."""
        lines = [
            HEADER,
            f"stage {self.stage}",
            f"operation {self.operation}",
            "name " + json.dumps(self.operation_name, ensure_ascii=False),
            f"ref {self.ref}",
            "salt " + base64.b64encode(self.salt).decode(),
            "event " + self.event.decode("utf-8"),
        ]
        proof = TlogProof(self.index, self.proof, self.checkpoint).to_text()
        return "\n".join(lines) + "\n\n" + proof

    @classmethod
    def from_text(cls, text: str) -> Receipt:
        """Parse the canonical text; ``FormatError`` names the line or the field at fault."""
        if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
            raise FormatError(f"is larger than {MAX_TEXT_BYTES} bytes", field="receipt")
        head, sep, rest = text.partition("\n\n")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise FormatError(f"must be {HEADER!r}", field="receipt line 1")
        if not sep or len(lines) != 1 + len(_LINES):
            reason = f"needs {len(_LINES)} lines ({', '.join(_LINES)}) after the header"
            raise FormatError(reason, field="receipt")
        values = {}
        for number, (key, line) in enumerate(zip(_LINES, lines[1:], strict=True), 2):
            value = line.removeprefix(key + " ")
            if value == line:
                raise FormatError(f"must start with {key!r}", field=f"receipt line {number}")
            values[key] = value
        try:
            proof = TlogProof.from_text(rest)
        except FormatError as exc:
            raise FormatError(exc.reason, field=_within(exc, "proof")) from exc
        if proof.extra is not None:
            raise FormatError("a receipt's proof has no 'extra' line", field="proof")
        receipt = cls(
            stage=values["stage"],  # type: ignore[arg-type]  # checked by __post_init__
            operation=values["operation"],
            operation_name=_name(values["name"]),
            ref=values["ref"],
            salt=_salt(values["salt"]),
            event=values["event"].encode("utf-8", "surrogatepass"),
            index=proof.index,
            proof=proof.hashes,
            checkpoint=proof.checkpoint,
        )
        if receipt.to_text() != text:
            raise FormatError("is not in canonical form", field="receipt")
        return receipt

    # --- the payload ---------------------------------------------------------------------------

    def to_payload(self) -> str:
        """``SPR1:`` and the base45 of the zlib-compressed text: what the QR code holds."""
        return PAYLOAD_PREFIX + b45encode(zlib.compress(self.to_text().encode("utf-8"), 9))

    @classmethod
    def from_payload(cls, payload: str) -> Receipt:
        """Parse a payload; ``FormatError`` names what is wrong (field ``payload`` or deeper)."""
        if not payload.startswith(PAYLOAD_PREFIX):
            raise FormatError(f"does not start with {PAYLOAD_PREFIX!r}", field="payload")
        if len(payload) > _MAX_PAYLOAD_CHARS:
            raise FormatError(f"is longer than {_MAX_PAYLOAD_CHARS} characters", field="payload")
        packed = b45decode(payload.removeprefix(PAYLOAD_PREFIX), "payload")
        inflate = zlib.decompressobj()
        try:
            # bounded: a few kilobytes must not inflate into gigabytes
            raw = inflate.decompress(packed, MAX_TEXT_BYTES + 1)
        except zlib.error as exc:
            raise FormatError(f"is not zlib data: {exc}", field="payload") from exc
        if len(raw) > MAX_TEXT_BYTES:
            raise FormatError(f"inflates past {MAX_TEXT_BYTES} bytes", field="payload")
        if not inflate.eof or inflate.unused_data or inflate.unconsumed_tail:
            raise FormatError("is truncated, or has bytes after its zlib data", field="payload")
        return parse_receipt(raw, payload=False)


def _name(value: str) -> str:
    try:
        name = json.loads(value)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"is not a JSON string: {exc.msg}", field="receipt line 4 (name)"
        ) from exc
    if not isinstance(name, str):
        raise FormatError("is not a JSON string", field="receipt line 4 (name)")
    return name


def _salt(value: str) -> bytes:
    field = "receipt line 6 (salt)"
    try:
        salt = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError("is not base64", field=field) from exc
    if base64.b64encode(salt).decode() != value:
        raise FormatError("is not canonical base64", field=field)
    return salt


def parse_receipt(data: str | bytes, *, payload: bool = True) -> Receipt:
    """A receipt from its payload (``SPR1:...``) or its text; surrounding whitespace of a
    payload is ignored (a file saved with a final newline). ``payload=False``: text only."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"is not UTF-8 (byte {exc.start})", field="receipt") from exc
    if payload and data.strip().startswith(PAYLOAD_PREFIX):
        return Receipt.from_payload(data.strip())
    if data.startswith(HEADER):
        return Receipt.from_text(data)
    expected = f"{PAYLOAD_PREFIX!r} or {HEADER!r}" if payload else repr(HEADER)
    raise FormatError(f"does not start with {expected}", field="receipt")
