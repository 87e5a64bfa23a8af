"""The fast canonical JSON writes exactly what rfc8785 writes, on any JSON value."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from safepassage import canonical

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.sampled_from([2**53 - 1, 2**53, -(2**53)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["\x00", "\x1f", "\x7f", '"', "\\", "\u2028", "é", "😀", "\ud800"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


def _reference(value: object) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except (ValueError, TypeError, UnicodeError) as exc:
        return type(exc)


@given(values)
def test_the_fast_path_agrees_with_rfc8785(value: object) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert canonical.dumps(value) == expected
    else:
        with pytest.raises(expected):
            canonical.dumps(value)


def test_control_characters_and_keys_are_written_as_jcs_writes_them() -> None:
    value = {"b": '\x00\x08\t\n\x0c\r\x1f\x7f"\\é', "a": [1, True, None, 1 - 2**53], "Z": {}}
    assert canonical.dumps(value) == rfc8785.dumps(value)
    assert canonical.dumps(value).startswith(b'{"Z":{},"a":[1,true,null,-9007199254740991]')
    for edge in (2**53, -(2**53)):
        with pytest.raises(ValueError, match="safe integer"):
            canonical.dumps({"n": edge})
