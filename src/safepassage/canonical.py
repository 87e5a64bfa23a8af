"""RFC 8785 (JCS) canonical JSON, fast for the JSON safepassage signs and commits to.

``rfc8785.dumps`` serialises in pure Python, a value at a time; it is most of the cost of
signing an event. For JSON without floats, without integers beyond ±(2^53 - 1) and with ASCII keys
(every event body, vault record and access statement), the standard library's encoder with
sorted keys, no spaces and no ASCII escaping writes exactly the same bytes: JCS escapes the
same characters the same way (``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``, other control
characters as lower-case ``\\u00xx``) and sorts ASCII keys the same. Anything else (floats,
big integers, non-ASCII keys, lone surrogates) goes to ``rfc8785`` itself. A property test
checks the two agree on arbitrary JSON.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

__all__ = ["dumps"]

_SAFE_INT = 2**53 - 1
_encode = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode


def _plain(value: Any) -> bool:  # noqa: ANN401 - any JSON value
    """Whether ``value`` holds only what the standard encoder writes canonically."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False  # floats, and anything JSON has no form for: rfc8785 decides


def dumps(value: Any) -> bytes:  # noqa: ANN401 - any JSON value
    """The canonical (RFC 8785) UTF-8 bytes of ``value``; ``rfc8785.CanonicalizationError``
    (a ``ValueError``) for what has none."""
    if _plain(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 says what to do with it
    return rfc8785.dumps(value)
