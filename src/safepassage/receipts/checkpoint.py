"""Checking a published checkpoint on its own against the operation's public keys. Pure: no I/O.

The check is the one a receipt's checkpoint gets (``receipts.verify``), reused as it is: the
note is signed by the log's key, every other signature on it is a cosignature that verifies
under a party's witness key (a signature by any other key is refused), and a party *other than
the coordinator* cosigned it (the coordinator runs the log: a checkpoint only it vouches for
could be a view shown to one reader alone). What it establishes is the log's size and root hash
those parties vouch for, which is what the public report is computed at.

Used by ``safepassage checkpoint verify`` and by the public web pages, which publish the latest
checkpoint that passes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from safepassage.ledger.checkpoint import Checkpoint
from safepassage.ledger.note import cosignature_timestamp, signatures
from safepassage.receipts.keys import PublicKeys
from safepassage.receipts.verify import open_cosigned_checkpoint

__all__ = ["Cosigner", "VerifiedCheckpoint", "verify_checkpoint"]


@dataclass(frozen=True)
class Cosigner:
    """A party whose witness cosigned the checkpoint, as the keys describe it."""

    party: str
    name: str
    role: str
    timestamp: int
    """When the witness says it cosigned (POSIX seconds, from the cosignature itself)."""

    @property
    def at(self) -> datetime | None:
        """The timestamp as a UTC time; ``None`` if it is beyond what a date can hold."""
        try:
            return datetime.fromtimestamp(self.timestamp, UTC)
        except (OverflowError, OSError, ValueError):
            return None


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """What a checkpoint note proved: the tree head and the parties that vouch for it."""

    checkpoint: Checkpoint
    cosigners: tuple[Cosigner, ...]
    """In the note's order."""


def verify_checkpoint(note: str, keys: PublicKeys) -> VerifiedCheckpoint:
    """Check ``note`` against ``keys`` (see the module docstring).

    Raises ``SignatureError`` (a signature missing, forged or by an unknown key, or no party but
    the coordinator cosigned) or ``FormatError`` (not a checkpoint note), each naming the field.
    """
    checkpoint, parties = open_cosigned_checkpoint(note, keys)
    witnesses = keys.witnesses()
    timestamps = {
        (name, key_id): cosignature_timestamp(sig)
        for name, key_id, sig in signatures(note)
        if any(v.name == name and v.key_id == key_id for v in witnesses.values())
    }
    cosigners = []
    for party in parties:
        witness = witnesses[party]
        cosigners.append(
            Cosigner(
                party=party,
                name=keys.parties[party].name,
                role=keys.parties[party].role,
                timestamp=timestamps[witness.name, witness.key_id],
            )
        )
    return VerifiedCheckpoint(checkpoint, tuple(cosigners))
