"""C2SP transparency-log checkpoints (c2sp.org/tlog-checkpoint): the signed head of the log.

Holds the Checkpoint value with its strict text form, and signing, opening and witness-cosigning
checkpoint notes on top of ``safepassage.ledger.note``. No I/O here: nothing is read, written or
printed, and nothing here computes or checks a root against entries.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from safepassage.errors import FormatError, SignatureError
from safepassage.ledger.note import add_signatures, sign, verify_note

if TYPE_CHECKING:
    from collections.abc import Iterable

    from safepassage.ledger.note import CosignatureSigner, Signer, Verifier

__all__ = ["MAX_SIZE", "Checkpoint", "cosign", "open_checkpoint", "sign_checkpoint"]

MAX_SIZE = 2**64 - 1
_CONTROL = re.compile(r"[\x00-\x1f]")
_SIZE = re.compile(r"0|[1-9][0-9]*")


def _check_line(value: str, field: str) -> None:
    if not isinstance(value, str):
        raise FormatError("must be a string", field=field)
    if not value:
        raise FormatError("is empty", field=field)
    if "\n" in value:
        raise FormatError("contains a newline", field=field)
    # Anything the note layer would refuse to sign is refused here, so every value round-trips.
    if found := _CONTROL.search(value):
        raise FormatError(f"has control character U+{ord(found.group()):04X}", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FormatError("is not valid UTF-8 (lone surrogate)", field=field) from exc


def _parse_size(text: str) -> int:
    field = "checkpoint line 2 (size)"
    if text[:1] in ("-", "+"):
        raise FormatError(f"{text!r} has a sign; a tree size is unsigned", field=field)
    if not text.isascii() or not text.isdigit():
        raise FormatError(f"{text!r} is not an ASCII decimal number", field=field)
    if not _SIZE.fullmatch(text):
        raise FormatError(f"{text!r} has a leading zero", field=field)
    # Length first: int() of a huge digit string is slow (and refused past 4300 digits).
    if len(text) > len(str(MAX_SIZE)) or int(text) > MAX_SIZE:
        raise FormatError(f"{text} exceeds 2^64-1", field=field)
    return int(text)


def _parse_root(text: str) -> bytes:
    field = "checkpoint line 3 (root hash)"
    try:
        root = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"{text!r} is not valid standard base64", field=field) from exc
    if len(root) != 32:
        raise FormatError(f"decodes to {len(root)} bytes; a root hash is 32", field=field)
    # Non-canonical spellings (stray low bits) would let one checkpoint have two texts.
    if base64.b64encode(root).decode("ascii") != text:
        raise FormatError(f"{text!r} is not canonical standard base64", field=field)
    return root


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 6962 root hash and optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise FormatError("must be an integer", field="size")
        if not 0 <= self.size <= MAX_SIZE:
            raise FormatError(f"{self.size} is outside 0..2^64-1", field="size")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise FormatError("must be 32 bytes", field="root")
        # A list would make the frozen value unhashable; store what was meant.
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for index, line in enumerate(self.extensions):
            _check_line(line, f"extensions[{index}]")

    def to_text(self) -> str:
        """The note text: origin, size, base64 root, then each extension line; all end in \\n."""
        root = base64.b64encode(self.root).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )

    @classmethod
    def from_text(cls, text: str) -> Self:
        """Parse a checkpoint note text strictly; the result's to_text() gives ``text`` back."""
        if not text:
            raise FormatError("is empty", field="checkpoint")
        if not text.endswith("\n"):
            raise FormatError("does not end with a newline", field="checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            reason = f"has {len(lines)} line(s); needs origin, size and root hash"
            raise FormatError(reason, field="checkpoint")
        kinds = ("origin", "size", "root hash")
        for number, line in enumerate(lines, 1):
            kind = kinds[number - 1] if number <= len(kinds) else "extension"
            _check_line(line, f"checkpoint line {number} ({kind})")
        origin, size, root, *extensions = lines
        return cls(origin, _parse_size(size), _parse_root(root), tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a note signed by the log; the signer's key name must be the origin."""
    if signer.name != checkpoint.origin:
        reason = f"key name {signer.name!r} is not the checkpoint origin {checkpoint.origin!r}"
        raise SignatureError(reason, field="signer")
    return sign(checkpoint.to_text(), signer)


def open_checkpoint(
    note: str | bytes, log_verifier: Verifier, cosigners: Iterable[Verifier] = ()
) -> tuple[Checkpoint, list[str]]:
    """Verify a checkpoint note; return it and the names of the cosigners whose cosignatures hold.

    The log's own signature is required. Any signature by a known key that fails rejects the
    note (SignatureError), as the note spec advises; unknown signatures are ignored.
    """
    text, verified = verify_note(note, (log_verifier, *cosigners))
    if log_verifier not in verified:
        name = f"{log_verifier.name}+{log_verifier.key_id.hex()}"
        raise SignatureError(f"no signature by the log key {name}", field="note")
    checkpoint = Checkpoint.from_text(text)
    # C2SP: the log's key name is the origin; a key signing another log's heads is not this log.
    if checkpoint.origin != log_verifier.name:
        reason = f"{checkpoint.origin!r} is not the log key name {log_verifier.name!r}"
        raise SignatureError(reason, field="checkpoint line 1 (origin)")
    names = (v.name for v in verified if v != log_verifier)
    return checkpoint, list(dict.fromkeys(names))


def cosign(note: str, cosigner: CosignatureSigner, timestamp: int | None = None) -> str:
    """The checkpoint note with the witness's cosignature/v1 line appended.

    Only the form is checked: the caller (the witness) must have opened the note with the log's
    key and checked consistency with what it saw before; that is what a cosignature asserts.
    ``timestamp`` defaults to the current time.
    """
    cosigned = add_signatures(note, cosigner, timestamp=timestamp)
    # add_signatures accepted the note, so its text runs up to the last blank line.
    Checkpoint.from_text(note[: note.rfind("\n\n") + 1])
    return cosigned
