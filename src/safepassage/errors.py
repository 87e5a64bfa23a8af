"""The one error hierarchy of safepassage.

Core code raises these with the field at fault and the reason; the CLI (and later the HTTP API)
translate them into exit codes and problem responses at the edge. Nothing here prints or exits.
"""

from __future__ import annotations

__all__ = [
    "FormatError",
    "ProofError",
    "RuleError",
    "SafepassageError",
    "SignatureError",
    "StoreError",
    "VerificationError",
]


class SafepassageError(Exception):
    """Base of every error safepassage raises on purpose.

    ``field`` names what was wrong (a parameter, a line of a note, a column of a store) and
    ``reason`` says why, in words a user can act on.
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled whole, field and all (it crosses from the server's writer process)."""
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


def _rebuilt(
    cls: type[SafepassageError], args: tuple[object, ...], state: dict[str, object]
) -> SafepassageError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ProofError(SafepassageError):
    """An inclusion or consistency proof, or its inputs, did not verify."""


class FormatError(SafepassageError):
    """Text or bytes that do not follow their format (note, checkpoint, key string, proof)."""


class SignatureError(SafepassageError):
    """A signature was missing, made by no known key, or did not verify."""


class StoreError(SafepassageError):
    """A log store that is missing, unreadable, or asked for something it does not hold."""


class VerificationError(SafepassageError):
    """Stored history that does not verify; ``index`` is the first bad entry when known."""

    def __init__(self, reason: str, *, field: str | None = None, index: int | None = None) -> None:
        self.index = index
        super().__init__(reason, field=field)


class RuleError(SafepassageError):
    """A command that would break a rule of the operation (unknown site, a full vehicle, an
    actor acting for another party...). Nothing is written when it is raised."""
