"""Hypothesis strategies shared across the suite."""

from __future__ import annotations

from hypothesis import strategies as st

entries = st.binary(min_size=0, max_size=64)


@st.composite
def distinct_entries(draw: st.DrawFn, min_size: int = 1, max_size: int = 64) -> list[bytes]:
    """Distinct entries, so that no two leaves share a hash."""
    n = draw(st.integers(min_size, max_size))
    salt = draw(st.binary(max_size=4))
    return [salt + i.to_bytes(4, "big") for i in range(n)]


def flip_bit(data: bytes, bit: int) -> bytes:
    """``data`` with one bit inverted (``bit`` counts from the first byte's high bit)."""
    buf = bytearray(data)
    buf[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(buf)
