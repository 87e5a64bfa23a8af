"""Whether a database keeps what the log confirms: the settings a log must not run with.

The log answers an append only after its commit, and that promise is worth what the commit is:
``unsafe`` lists, in words a user can act on, every setting that lets a commit return before it
would survive a power loss. A server (or any long-running writer) calls it at start and refuses
to start when the list is not empty.

* SQLite: ``synchronous`` below ``FULL`` on the connection the store writes with (``NORMAL``
  in WAL mode loses the last commits on a power loss; ``OFF`` may corrupt the file).
* PostgreSQL: ``fsync = off`` (nothing is forced to disk at all), ``synchronous_commit = off``
  (a commit returns before its WAL is flushed), ``full_page_writes = off`` (a page torn by a
  power loss cannot be repaired from the WAL). ``synchronous_commit = local`` is accepted: the
  commit is flushed to this server's disk and only the wait for standbys is skipped;
  ``remote_write``, ``on`` and ``remote_apply`` flush locally too.

``problems`` is the pure judgement of a store's ``durability()`` report; ``unsafe`` gets that
report from an open store, or from a new connection to a PostgreSQL URL. No web code here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from safepassage.database import is_postgresql, redacted
from safepassage.errors import StoreError
from safepassage.ledger.store import LogStore

__all__ = ["problems", "unsafe"]

_SQLITE_SAFE: Final = frozenset({"FULL", "EXTRA"})
_POSTGRES_SETTINGS: Final = ("fsync", "synchronous_commit", "full_page_writes")


def problems(settings: Mapping[str, str]) -> list[str]:
    """Why these durability settings (a ``LogStore.durability()`` report) are unsafe for a
    log; empty when they are safe. Each reason names the setting and its value."""
    reasons = []
    synchronous = settings.get("synchronous")
    if synchronous is not None and synchronous.upper() not in _SQLITE_SAFE:
        reasons.append(
            f"SQLite synchronous={synchronous}: a commit may return before it is on disk, so "
            "a power loss can lose confirmed entries (the log needs FULL)"
        )
    if settings.get("fsync", "on").lower() == "off":
        reasons.append(
            "PostgreSQL fsync=off: the server never forces writes to disk, so a power loss can "
            "lose confirmed entries or corrupt the database (set fsync = on)"
        )
    if settings.get("synchronous_commit", "on").lower() == "off":
        reasons.append(
            "PostgreSQL synchronous_commit=off: a commit returns before its write-ahead log is "
            "flushed, so a crash can lose confirmed entries (use on, or local)"
        )
    if settings.get("full_page_writes", "on").lower() == "off":
        reasons.append(
            "PostgreSQL full_page_writes=off: a page torn by a power loss cannot be repaired "
            "(set full_page_writes = on)"
        )
    return reasons


def unsafe(target: LogStore | str) -> list[str]:
    """Why the log must not be written to ``target``; empty when it is safe.

    ``target`` is an open log store (asked for the settings of the connection its appends use:
    ``op.log.store`` for an operation) or a PostgreSQL URL (a new connection with that URL,
    its ``options`` included, is asked what the server would apply to the log's connection).
    """
    if isinstance(target, LogStore):
        return problems(target.durability())
    if not is_postgresql(target) or "+" in target.split(":", 1)[0]:
        raise StoreError(
            "must be an open log store or a postgresql:// URL (a SQLite log is judged on its "
            "open store, whose write connection sets synchronous itself)",
            field="--db",
        )
    import psycopg  # noqa: PLC0415 - only PostgreSQL users pay for importing the driver

    try:
        with psycopg.connect(target, autocommit=True) as conn:
            settings = {}
            for name in _POSTGRES_SETTINGS:
                row = conn.execute(f"SHOW {name}").fetchone()
                settings[name] = str(row[0]) if row else ""
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {redacted(target)}: {exc}", field="--db") from exc
    return problems(settings)
