"""Base45 (RFC 9285): bytes as text made only of the QR code's alphanumeric characters.

A QR code stores those 45 characters at 5.5 bits each, so base45 text costs about 3% more
than the bytes themselves, and any scanner hands it over as plain text (the EU Digital COVID
Certificate's ``HC1:`` codes are built the same way). Pure: no I/O.
"""

from __future__ import annotations

from safepassage.errors import FormatError

__all__ = ["ALPHABET", "b45decode", "b45encode"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {char: value for value, char in enumerate(ALPHABET)}


def b45encode(data: bytes) -> str:
    """Every two bytes become three characters, a last odd byte two (least significant first)."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] << 8 | data[i + 1]
        e, rest = divmod(n, 45 * 45)
        d, c = divmod(rest, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def b45decode(text: str, field: str = "base45") -> bytes:
    """The bytes of base45 ``text``; ``FormatError`` on ``field`` for anything RFC 9285 refuses."""
    if len(text) % 3 == 1:
        raise FormatError(f"has {len(text)} characters; base45 never leaves one over", field=field)
    values = []
    for position, char in enumerate(text):
        value = _VALUE.get(char)
        if value is None:
            raise FormatError(f"{char!r} at {position} is not a base45 character", field=field)
        values.append(value)
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        n = sum(v * 45**k for k, v in enumerate(chunk))
        # RFC 9285 §4.2: a triplet above 65535 (or a pair above 255) is not a valid encoding.
        limit = 0xFFFF if len(chunk) == 3 else 0xFF
        if n > limit:
            raise FormatError(
                f"characters {i}-{i + len(chunk) - 1} encode {n} > {limit}", field=field
            )
        out += n.to_bytes(len(chunk) - 1, "big")
    return bytes(out)
