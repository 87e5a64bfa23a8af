"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures and Ed25519 cosignatures.

Holds the key strings of Go's ``golang.org/x/mod/sumdb/note`` (signer
``PRIVATE+KEY+<name>+<key id>+<key data>``, verifier ``<name>+<key id>+<key data>``), signing a
text into a note, adding signatures to a note and opening a note against known verifiers. Key
types: 0x01 (Ed25519 note signatures) and 0x04 (Ed25519 cosignature/v1, c2sp.org/tlog-cosignature).

No I/O here: nothing is read, written or printed. The one clock read is the default timestamp of
a cosignature, and every caller can pass its own.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
import time
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from safepassage.errors import FormatError, SignatureError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "KEY_TYPE_COSIGNATURE_V1",
    "KEY_TYPE_ED25519",
    "MAX_SIGNATURES",
    "CosignatureSigner",
    "Signer",
    "Verifier",
    "add_signatures",
    "cosignature_timestamp",
    "open",
    "sign",
    "signatures",
    "verify_note",
]

KEY_TYPE_ED25519 = 0x01
KEY_TYPE_COSIGNATURE_V1 = 0x04
# Go's note.Open rejects more; the spec asks verifiers to accept at least 16.
MAX_SIGNATURES = 100

_KEY_TYPES = {KEY_TYPE_ED25519: "Ed25519", KEY_TYPE_COSIGNATURE_V1: "Ed25519 cosignature/v1"}
_DASH = "\u2014 "
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_MAX_TIMESTAMP = 2**63 - 1
_TIMESTAMP_SIZE = 8
_ED25519_SIGNATURE_SIZE = 64


def _check_chars(value: str, field: str) -> None:
    """The spec's character rules: valid UTF-8, no ASCII control character but newline."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FormatError(f"is not UTF-8 (lone surrogate at {exc.start})", field=field) from exc
    if found := _CONTROL.search(value):
        code = ord(found.group())
        raise FormatError(f"has control character U+{code:04X} at {found.start()}", field=field)


def _check_name(name: str, field: str) -> None:
    if not name:
        raise FormatError("key name is empty", field=field)
    if "+" in name:
        raise FormatError(f"key name {name!r} contains '+'", field=field)
    # str.isspace covers Go's unicode.IsSpace (Zs, Zl, Zp, U+0085 and the ASCII spaces).
    if any(char.isspace() for char in name):
        raise FormatError(f"key name {name!r} contains a Unicode space", field=field)
    _check_chars(name, field)


def _b64decode(text: str, field: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"{what} is not valid standard base64", field=field) from exc
    # Only the canonical encoding is accepted, so one note has exactly one spelling.
    if base64.b64encode(raw).decode("ascii") != text:
        raise FormatError(f"{what} is not canonical standard base64", field=field)
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise FormatError("must be an integer (POSIX seconds)", field="timestamp")
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise FormatError(f"{timestamp} is outside 0..2^63-1", field="timestamp")


def _cosigned_message(timestamp: int, text: bytes) -> bytes:
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def _split_key_string(body: str, allowed_type: int | None) -> tuple[str, bytes, int, bytes]:
    """Split ``<name>+<key id>+<base64 key data>`` into name, stated key id, type and key."""
    name, sep1, rest = body.partition("+")
    hex_id, sep2, data = rest.partition("+")
    if not sep1 or not sep2:
        raise FormatError("expected <name>+<key id>+<key data>", field="key string")
    _check_name(name, "key string (name)")
    if not _KEY_ID_HEX.fullmatch(hex_id):
        # Names cannot hold '+', so a well-formed key id further on means the name had one.
        if re.search(r"\+[0-9a-f]{8}\+", "+" + rest):
            raise FormatError("key name contains '+'", field="key string (name)")
        reason = f"key id {hex_id!r} is not 8 lowercase hex digits"
        raise FormatError(reason, field="key string (key id)")
    field = "key string (key data)"
    raw = _b64decode(data, field, "key data")
    wanted = _KEY_TYPES if allowed_type is None else {allowed_type: _KEY_TYPES[allowed_type]}
    if not raw or raw[0] not in wanted:
        expected = " or ".join(f"0x{t:02x} ({label})" for t, label in wanted.items())
        raise FormatError(f"key type {raw[:1].hex() or 'missing'} is not {expected}", field=field)
    if len(raw) != 33:
        raise FormatError(f"key data is {len(raw)} bytes, not 33 (type and key)", field=field)
    return name, bytes.fromhex(hex_id), raw[0], raw[1:]


def _key_id_mismatch(stated: bytes, actual: bytes) -> FormatError:
    return FormatError(
        f"key id {stated.hex()} does not match the key (SHA-256 gives {actual.hex()})",
        field="key string (key id)",
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Verifier:
    """A public key that checks note signatures of type 0x01 (Ed25519) or 0x04 (cosignature/v1).

    ``key_id`` is derived: SHA-256(name || "\\n" || key_type || public_key)[:4].
    """

    name: str
    public_key: bytes = dataclasses.field(repr=False)
    key_type: int = KEY_TYPE_ED25519
    key_id: bytes = dataclasses.field(init=False, compare=False)
    _key: Ed25519PublicKey = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_name(self.name, "name")
        if self.key_type not in _KEY_TYPES:
            raise FormatError(f"0x{self.key_type:02x} is not 0x01 or 0x04", field="key type")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise FormatError("must be 32 bytes", field="public key")
        object.__setattr__(self, "key_id", _key_id(self.name, self.key_type, self.public_key))
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @classmethod
    def from_key_string(cls, s: str) -> Self:
        """Parse ``<name>+<8 hex key id>+<base64(type byte || 32-byte public key)>``."""
        if s.startswith(_PRIVATE_PREFIX):
            raise FormatError("is a private key, not a verifier key", field="key string")
        name, stated, key_type, public_key = _split_key_string(s, None)
        verifier = cls(name, public_key, key_type)
        if verifier.key_id != stated:
            raise _key_id_mismatch(stated, verifier.key_id)
        return verifier

    def key_string(self) -> str:
        data = _b64(bytes([self.key_type]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{data}"

    def failure(self, message: bytes, sig: bytes) -> str | None:
        """Why ``sig`` (the bytes after the key id) does not sign ``message``; None if it does."""
        if self.key_type == KEY_TYPE_COSIGNATURE_V1:
            if len(sig) != _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE:
                return f"cosignature is {len(sig)} bytes, not 72 (timestamp and signature)"
            timestamp = int.from_bytes(sig[:_TIMESTAMP_SIZE], "big")
            if timestamp > _MAX_TIMESTAMP:
                return f"cosignature timestamp {timestamp} exceeds 2^63-1"
            message, sig = _cosigned_message(timestamp, message), sig[_TIMESTAMP_SIZE:]
        elif len(sig) != _ED25519_SIGNATURE_SIZE:
            return f"signature is {len(sig)} bytes, not 64"
        try:
            self._key.verify(sig, message)
        except InvalidSignature:
            return "Ed25519 signature does not verify"
        return None

    def verify(self, message: bytes, sig: bytes) -> bool:
        return self.failure(message, sig) is None


class _Ed25519Signer:
    _KEY_TYPE: ClassVar[int]
    __slots__ = ("_name", "_private_key", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        public_key = private_key.public_key().public_bytes_raw()
        self._verifier = Verifier(name, public_key, self._KEY_TYPE)
        self._name = name
        self._private_key = private_key

    @classmethod
    def from_key_string(cls, s: str) -> Self:
        if not s.startswith(_PRIVATE_PREFIX):
            raise FormatError("a signer key starts with PRIVATE+KEY+", field="key string (prefix)")
        name, stated, _, seed = _split_key_string(s.removeprefix(_PRIVATE_PREFIX), cls._KEY_TYPE)
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        # The stated id hashes the public key, so it is checked only once that is derived.
        if signer.key_id != stated:
            raise _key_id_mismatch(stated, signer.key_id)
        return signer

    @classmethod
    def generate(cls, name: str) -> Self:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._verifier.key_id

    def key_string(self) -> str:
        data = _b64(bytes([self._KEY_TYPE]) + self._private_key.private_bytes_raw())
        return f"{_PRIVATE_PREFIX}{self._name}+{self.key_id.hex()}+{data}"

    def verifier(self) -> Verifier:
        return self._verifier

    def __repr__(self) -> str:
        # Never the seed: reprs end up in logs and tracebacks.
        return f"{type(self).__name__}(name={self._name!r}, key_id={self.key_id.hex()!r})"


class Signer(_Ed25519Signer):
    """An Ed25519 note signer (type 0x01), the key of a log.

    Its key string is Go's: ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>``.
    """

    _KEY_TYPE = KEY_TYPE_ED25519
    __slots__ = ()

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature, as it goes in a note after the key id."""
        return self._private_key.sign(message)


class CosignatureSigner(_Ed25519Signer):
    """An Ed25519 cosignature/v1 signer (type 0x04), the key of a witness.

    Go has no standard private key string for it; ours mirrors the note signer key with the
    cosignature type byte: ``PRIVATE+KEY+<name>+<key id>+<base64(0x04 || 32-byte seed)>``, where
    the key id is SHA-256(name || "\\n" || 0x04 || public key)[:4].
    """

    _KEY_TYPE = KEY_TYPE_COSIGNATURE_V1
    __slots__ = ()

    def sign(self, message: bytes, timestamp: int) -> bytes:
        """The raw 72-byte cosignature: u64 big-endian timestamp || Ed25519 signature."""
        _check_timestamp(timestamp)
        signature = self._private_key.sign(_cosigned_message(timestamp, message))
        return timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature

    def cosign(self, text: str, timestamp: int) -> str:
        """One signature line (ending in a newline) cosigning the note text ``text``."""
        _check_text(text)
        return _line(self._name, self.key_id, self.sign(text.encode(), timestamp))


def cosignature_timestamp(sig: bytes) -> int:
    """The timestamp of a cosignature/v1 signature (the bytes after the key id)."""
    if len(sig) != _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE:
        raise FormatError(f"is {len(sig)} bytes, not 72", field="cosignature")
    return int.from_bytes(sig[:_TIMESTAMP_SIZE], "big")


def _check_text(text: str) -> None:
    if not text:
        raise FormatError("is empty", field="text")
    if not text.endswith("\n"):
        raise FormatError("does not end with a newline", field="text")
    if text.startswith("\n") or "\n\n" in text:
        raise FormatError("has a blank line (it would read as the separator)", field="text")
    _check_chars(text, "text")


def _line(name: str, key_id: bytes, sig: bytes) -> str:
    return f"{_DASH}{name} {_b64(key_id + sig)}\n"


def _signature_lines(
    text: str, signers: Sequence[Signer | CosignatureSigner], timestamp: int | None
) -> list[str]:
    if not signers:
        raise SignatureError("a note needs at least one signer", field="signers")
    message = text.encode()
    lines = []
    for signer in signers:
        if isinstance(signer, CosignatureSigner):
            if timestamp is None:
                timestamp = int(time.time())
            lines.append(_line(signer.name, signer.key_id, signer.sign(message, timestamp)))
        else:
            lines.append(_line(signer.name, signer.key_id, signer.sign(message)))
    return lines


def sign(text: str, *signers: Signer | CosignatureSigner, timestamp: int | None = None) -> str:
    """Sign ``text`` into a note: text, blank line, one signature line per signer.

    ``text`` must be non-empty UTF-8 ending in a newline, without blank lines or control
    characters other than newline (FormatError on field "text"). ``timestamp`` (POSIX seconds)
    goes into cosignatures; it defaults to the current time.
    """
    _check_text(text)
    if len(signers) > MAX_SIGNATURES:
        raise FormatError(f"a note holds at most {MAX_SIGNATURES} signatures", field="signers")
    return text + "\n" + "".join(_signature_lines(text, signers, timestamp))


class _Signature(NamedTuple):
    number: int
    name: str
    key_id: bytes
    sig: bytes
    line: str


def _parse_line(number: int, line: str) -> _Signature:
    field = f"signature line {number}"
    if not line.startswith(_DASH):
        raise FormatError("does not start with an em dash (U+2014) and a space", field=field)
    name, sep, encoded = line.removeprefix(_DASH).partition(" ")
    if not sep:
        raise FormatError("has no space between key name and signature", field=field)
    _check_name(name, f"{field} (name)")
    if not encoded:
        raise FormatError("signature is empty", field=f"{field} (signature)")
    raw = _b64decode(encoded, f"{field} (signature)", "signature")
    # Like Go: a 4-byte key id followed by at least one byte of signature.
    if len(raw) < 5:
        reason = f"signature is {len(raw)} bytes, too short for a 4-byte key id and a signature"
        raise FormatError(reason, field=f"{field} (signature)")
    return _Signature(number, name, raw[:4], raw[4:], line)


def _parse(note: str | bytes) -> tuple[str, list[_Signature]]:
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"is not valid UTF-8 (byte {exc.start})", field="note") from exc
    _check_chars(note, "note")
    # The text may itself hold blank lines (from other signers); the last one is the separator.
    split = note.rfind("\n\n")
    if split < 0:
        raise FormatError("has no blank line between text and signatures", field="note")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise FormatError("has no signature lines after the blank line", field="note")
    if not block.endswith("\n"):
        raise FormatError("does not end with a newline", field="note")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise FormatError(f"has more than {MAX_SIGNATURES} signatures", field="note")
    return text, [_parse_line(number, line) for number, line in enumerate(lines, 1)]


def signatures(note: str | bytes) -> list[tuple[str, bytes, bytes]]:
    """The (name, key id, signature) of each well-formed signature line; nothing is verified."""
    return [(s.name, s.key_id, s.sig) for s in _parse(note)[1]]


def add_signatures(
    note: str | bytes, *signers: Signer | CosignatureSigner, timestamp: int | None = None
) -> str:
    """Append signatures to a note (e.g. a witness cosigning); nothing existing is verified.

    As in Go, an existing signature by the same (name, key id) as a new signer is replaced.
    """
    text, existing = _parse(note)
    new_keys = {(signer.name, signer.key_id) for signer in signers}
    kept = [s.line + "\n" for s in existing if (s.name, s.key_id) not in new_keys]
    if len(kept) + len(signers) > MAX_SIGNATURES:
        raise FormatError(f"a note holds at most {MAX_SIGNATURES} signatures", field="signers")
    return text + "\n" + "".join(kept) + "".join(_signature_lines(text, signers, timestamp))


def verify_note(note: str | bytes, verifiers: Iterable[Verifier]) -> tuple[str, list[Verifier]]:
    """Like :func:`open`, but return the keys that verified rather than their names.

    For callers that must tell keys apart, e.g. a log key from a witness that shares its name.
    """
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        key = (verifier.name, verifier.key_id)
        if known.setdefault(key, verifier) != verifier:
            raise SignatureError(
                f"two different keys are named {verifier.name}+{verifier.key_id.hex()}",
                field="verifiers",
            )
    text, sigs = _parse(note)
    message = text.encode()
    verified: list[Verifier] = []
    for s in sigs:
        match = known.get((s.name, s.key_id))
        if match is None:
            continue  # The spec: signatures by unknown keys are ignored.
        # Stricter than Go, which checks only the first line per key: every line must verify.
        reason = match.failure(message, s.sig)
        if reason is not None:
            raise SignatureError(
                f"signature by {s.name}+{s.key_id.hex()} is invalid: {reason}",
                field=f"signature line {s.number}",
            )
        if match not in verified:
            verified.append(match)
    if not verified:
        present = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in sigs)
        raise SignatureError(f"no signature by a known key (signed by {present})", field="note")
    return text, verified


def open(note: str | bytes, verifiers: Iterable[Verifier]) -> tuple[str, list[str]]:
    """Verify a note and return its text and the names of the known keys that signed it.

    Names come in note order without duplicates. A signature by a known key that fails raises
    SignatureError, as does a note with no signature by any known key; malformed notes (even in
    signatures by unknown keys) raise FormatError.
    """
    text, verified = verify_note(note, verifiers)
    return text, list(dict.fromkeys(verifier.name for verifier in verified))
