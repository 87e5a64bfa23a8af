"""Replaying a log with every check: each event's form, its actor's signature and the rules.

Pure: takes entries, gives the state. Where ``audit`` proves the bytes are the ones signed into
the log, ``replay_checked`` proves each of those entries was a valid event when it was recorded:
signed by a key registered in the log before it, by a party allowed to record it, and breaking
no rule. ``VerificationError`` names the first entry that fails.
"""

from __future__ import annotations

from collections.abc import Iterable

from safepassage.errors import SafepassageError, VerificationError
from safepassage.events.envelope import parse_event
from safepassage.operation import rules
from safepassage.operation.state import OperationState

__all__ = ["replay_checked"]


def replay_checked(entries: Iterable[tuple[int, bytes]]) -> OperationState:
    """Fold every entry, checking each as if it were submitted now, in log order."""
    state = OperationState()
    for index, raw in entries:
        try:
            event = parse_event(raw)
            rules.check(state, event)
        except SafepassageError as exc:
            raise VerificationError(
                f"entry {index} is not a valid event: {exc}", field="entries", index=index
            ) from exc
        state.apply(event)
    return state
