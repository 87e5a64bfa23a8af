"""The vault's tables (SQLAlchemy Core): sealed records, and who opened which, when and why.

Nothing here is readable without the operation's data key: a record is AES-256-GCM ciphertext
under the person's own key, and that key is sealed to the data key (see ``vault.crypto``).
The Alembic migrations in ``migrations/versions`` create exactly these tables (a test checks).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, MetaData, String, Table

from safepassage.projections.schema import UtcDateTime

__all__ = ["accesses", "metadata", "records"]

metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("ref", String(64), primary_key=True),
    # the intake form's submission id, when the record came from one: imports skip it
    Column("submission_id", String(200), nullable=True, unique=True),
    # the person's key, sealed to the data key; gone once erased (crypto-shredding)
    Column("sealed_key", LargeBinary, nullable=True),
    Column("sealed_record", LargeBinary, nullable=True),
    # pending until its person.registered event is in the log, then held; erased once shredded
    Column("status", String(10), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("erased_at", UtcDateTime, nullable=True),
    Index("ix_records_status", "status"),
)

accesses = Table(
    "accesses",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(127), nullable=False),
    Column("ref", String(64), nullable=False),
    # show (a record decrypted), receipt (its salt read for a receipt), erase
    Column("action", String(10), nullable=False),
    # the stated purpose (or erasure reason), sealed to the data key: it may name people
    Column("sealed_purpose", LargeBinary, nullable=False),
    # the actor's Ed25519 signature over the access statement (see vault.store): who it was
    Column("signature", LargeBinary, nullable=True),
    Index("ix_accesses_ref", "ref"),
)
"""Every decryption and erasure: who, when, which reference, and the purpose they stated
(readable with the data key only)."""
