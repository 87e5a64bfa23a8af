"""C2SP ``tlog-proof`` v1: an offline-verifiable proof that one entry is in a checkpointed log.

Pure: formats, parses and verifies text; no I/O. See https://c2sp.org/tlog-proof.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from safepassage.errors import FormatError
from safepassage.ledger import merkle
from safepassage.ledger.checkpoint import Checkpoint, open_checkpoint
from safepassage.ledger.note import Verifier

__all__ = ["HEADER", "TlogProof", "verify_tlog_proof"]

HEADER = "c2sp.org/tlog-proof@v1"
_MAX_INDEX = 2**64 - 1


def _b64(value: str, field: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"is not base64: {exc}", field=field) from exc
    if base64.b64encode(raw).decode() != value:
        raise FormatError("is not canonical base64", field=field)
    return raw


@dataclass(frozen=True)
class TlogProof:
    """Index, inclusion proof hashes, the signed checkpoint note, and optional extra data."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def to_text(self) -> str:
        """The proof as C2SP text, ending with the checkpoint note verbatim."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode() for h in self.hashes)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def from_text(cls, text: str) -> TlogProof:
        """Parse C2SP proof text; ``FormatError`` names the line that is wrong."""
        head, sep, note = text.partition("\n\n")
        if not sep or not note:
            raise FormatError("no empty line before the checkpoint", field="tlog-proof")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise FormatError(f"first line must be {HEADER!r}", field="tlog-proof line 1")
        pos, extra = 1, None
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = _b64(lines[pos][len("extra ") :], "tlog-proof extra")
            pos += 1
        if pos >= len(lines) or not lines[pos].startswith("index "):
            raise FormatError("missing 'index N' line", field=f"tlog-proof line {pos + 1}")
        digits = lines[pos][len("index ") :]
        if (
            not digits.isascii()
            or not digits.isdigit()
            or (len(digits) > 1 and digits[0] == "0")
            or len(digits) > 20  # 2^64 - 1 has 20 digits: int() of more is wasted work
            or int(digits) > _MAX_INDEX
        ):
            raise FormatError(
                "index must be a decimal number below 2^64 without leading zeros",
                field=f"tlog-proof line {pos + 1}",
            )
        hashes = []
        for n, line in enumerate(lines[pos + 1 :], start=pos + 2):
            h = _b64(line, f"tlog-proof line {n}")
            if len(h) != merkle.HASH_SIZE:
                raise FormatError(f"hash is {len(h)} bytes, not 32", field=f"tlog-proof line {n}")
            hashes.append(h)
        return cls(int(digits), tuple(hashes), note, extra)


def verify_tlog_proof(
    text: str, entry: bytes, log: Verifier, cosigners: Iterable[Verifier] = ()
) -> tuple[Checkpoint, list[str]]:
    """Check that ``entry`` is in the log at the proof's index under its signed checkpoint.

    Returns the checkpoint and the cosigners that verified; raises ``FormatError``,
    ``SignatureError`` or ``ProofError`` naming what failed.
    """
    proof = TlogProof.from_text(text)
    checkpoint, names = open_checkpoint(proof.checkpoint, log, cosigners)
    merkle.verify_inclusion(
        merkle.leaf_hash(entry), proof.index, checkpoint.size, list(proof.hashes), checkpoint.root
    )
    return checkpoint, names
