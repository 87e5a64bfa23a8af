"""The application layer: a command becomes a checked, signed event in the operation's log.

Every way in (CLI, the demo, later the API and field sync) calls ``Operation.submit`` (the
server signs as the actor) or ``Operation.submit_event`` (the client signed it). Each is checked
against the current state (``rules.check``), appended durably to the log, and only then folded
into the state. A refused command writes nothing. An event already in the log (same id) is not
appended twice: its receipt is returned again.

Layout of an operation folder ``DIR``:

* ``DIR/log/``      the operation's log (``safepassage.ledger.log``): its keys, and its store
  ``log.db``;
* ``DIR/projections.db``  the read models (``safepassage.projections``), rebuilt from the log
  at will (``safepassage rebuild``);
* ``DIR/keys/``     private keys the server holds for actors and witnesses (the demo's);
* ``DIR/witness/``  each party's witness state: the last checkpoint it cosigned;
* ``DIR/database.url``  only for an operation created with a PostgreSQL URL (``database=``):
  then the log's store, the projections and the vault's records are in that database (schemas
  ``log``, ``projections``, ``vault``) instead of ``log.db``, ``projections.db`` and
  ``vault/vault.db``; every later opening of ``DIR`` uses it (``safepassage.database``).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gc
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy.exc import SQLAlchemyError

from safepassage.app.keys import Keyring
from safepassage.database import (
    DATABASE_FILE,
    check_url,
    database_for,
    record_database,
    recorded_database,
)
from safepassage.errors import ProofError, RuleError, SafepassageError, SignatureError, StoreError
from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import Event, read_event, sign_event
from safepassage.ledger import merkle
from safepassage.ledger.checkpoint import Checkpoint, open_checkpoint
from safepassage.ledger.checkpoint import cosign as cosign_note
from safepassage.ledger.log import DB_FILE, Log, open_store
from safepassage.ledger.note import Verifier
from safepassage.ledger.sqlite import SqliteLogStore
from safepassage.operation import rules
from safepassage.operation.report import CheckpointOut, Report, build_report
from safepassage.operation.state import OperationState
from safepassage.projections.store import (
    DamagedProjectionsError,
    EntryReader,
    Position,
    Projections,
    sqlite_url,
)

__all__ = ["Operation", "Receipt"]

LOG_DIR = "log"
_PARALLEL_FROM = 16  # below this, a batch's signatures are checked one by one
_WORKERS = os.cpu_count() or 2
_VERIFIERS = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="verify")
PROJECTIONS = "projections.db"


@dataclass(frozen=True)
class Receipt:
    """What the log answers for an accepted event: where it is, and its id."""

    index: int
    id: str
    duplicate: bool = False


def origin_for(operation: str) -> str:
    """The log origin of an operation (its name in checkpoints)."""
    return f"safepassage.example/{operation}"


class Operation:
    """One operation: its log, the state folded from it, its projections, the keys it holds."""

    def __init__(  # noqa: PLR0913 - what create/open made, handed over whole
        self,
        directory: Path,
        log: Log,
        state: OperationState,
        ids: dict[str, int],
        projections: Projections,
        *,
        database: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.database = database
        """The PostgreSQL URL the operation's data is in, or ``None`` for SQLite files."""
        self.log = log
        self.state = state
        self.projections = projections
        self._projected: int | None = None
        """The log size this process last brought the projections to (they may have moved
        since: ``Projections.apply(expected=...)`` checks)."""
        self._ids = ids
        self._lock = threading.RLock()  # check, append and fold one event at a time
        self.keys = Keyring(self.directory / "keys")

    @classmethod
    def create(cls, directory: Path, operation: str, database: str | None = None) -> Operation:
        """Create the operation in ``directory``: its log, keys and projections.

        ``database`` is where its data goes: ``None`` for SQLite files in ``directory``, or a
        PostgreSQL URL (``postgresql://user@host/dbname``), recorded in ``DIR/database.url``
        for every later opening. ``StoreError(field="--db")`` for any other URL, or one that
        differs from a URL the folder already records.
        """
        directory = Path(directory)
        url = _database_to_create(directory, database)
        new_dir = not directory.exists()
        recorded = False
        try:
            if url is not None and recorded_database(directory) is None:
                directory.mkdir(parents=True, exist_ok=True)
                record_database(directory, url)  # first: a crash leaves a folder that says so
                recorded = True
            log = Log.create(directory / LOG_DIR, origin_for(operation), database=url)
        except BaseException:
            if recorded:
                (directory / DATABASE_FILE).unlink(missing_ok=True)
            if new_dir:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise
        try:
            projections = _open_projections(directory, url)
            # whatever a reused folder held is dropped: the tables reflect this empty log
            projections.rebuild([], (0, log.store.root(0).hex()))
        except BaseException:
            log.close()
            raise
        return cls(directory, log, OperationState(), {}, projections, database=url)

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        database: str | None = None,
        rebuild: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> Operation:
        """Open an operation: fold its whole log into the state, catch its projections up.

        Its data is where ``DIR/database.url`` says (SQLite files in ``directory`` without
        one); ``database``, when given, must be that URL (``StoreError(field="--db")``).
        Projections that reflect another history (or none) are rebuilt in the same pass over
        the log; ``rebuild=True`` rebuilds them whatever they hold (``safepassage rebuild``).
        """
        directory = Path(directory)
        url = database_for(directory, database)
        log = Log.open(directory / LOG_DIR, database=url)
        try:
            projections = _open_projections(directory, url)
        except BaseException:
            log.close()
            raise
        try:
            size = log.size()
            position = (size, log.store.root(size).hex())
            at = None if rebuild else projections.position()
            behind = at[0] if at is not None and at[0] <= size else -1
            if behind >= 0 and log.store.root(behind).hex() != at[1]:  # type: ignore[index]
                behind = -1  # the tables reflect another history: rebuild them
            ids: dict[str, int] = {}
            with _no_gc():
                state = _fold_and_project(log, projections, behind, position, ids, progress)
        except BaseException:
            projections.close()
            log.close()
            raise
        return cls(directory, log, state, ids, projections, database=url)

    def close(self) -> None:
        self.projections.close()
        self.log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commands ---------------------------------------------------------------------------

    def submit(self, actor: str, kind: str, body: dict[str, Any], at: datetime) -> Receipt:
        """Sign ``body`` as ``actor`` with the key this server holds for it, then submit it."""
        event = sign_event(
            operation=self.state.operation or str(body.get("operation", "")),
            at=at,
            actor=actor,
            body=parse_body(kind, body),
            key=self.keys.actor(actor),
        )
        return self.submit_event(event)

    def submit_event(self, event: Event) -> Receipt:
        """Check, append and fold an event signed by its actor; idempotent by event id."""
        (answer,) = self.submit_events([event])
        if isinstance(answer, SafepassageError):
            raise answer
        return answer

    def submit_events(
        self, events: Sequence[Event], *, signed_here: Mapping[str, bytes] | None = None
    ) -> list[Receipt | SafepassageError]:
        """Submit many events at once (a device syncing its queue): one durable commit.

        Each event is checked against the state as the ones before it left it; a refused event
        gets its error in the answer and is not recorded, the others are appended together.
        Answers come in the order of ``events``.

        ``signed_here``: the public key each event (by id) was signed with a moment ago, by the
        caller, in this process (a server signing for its accounts): its signature is not
        checked again if that is the actor's key of record.
        """
        signed_here = signed_here or {}
        with self._lock:
            self._catch_up()
            first = self.state.events  # the log's size as just read (a race shows at the append)
            accepted: list[tuple[int, Event]] = []
            answers: list[Receipt | SafepassageError] = []
            try:
                verified = self._verify_signatures([e for e in events if e.id not in signed_here])
                verified.update(signed_here)
                for event in events:
                    known = self._ids.get(event.id)
                    if known is not None:
                        answers.append(Receipt(known, event.id, duplicate=True))
                        continue
                    try:
                        rules.check(self.state, event, verified_with=verified.get(event.id))
                    except SafepassageError as exc:
                        answers.append(exc)
                        continue
                    index = first + len(accepted)
                    self.state.apply(event)
                    self._ids[event.id] = index
                    accepted.append((index, event))
                    answers.append(Receipt(index, event.id))
                if accepted and self.log.append_batch([e.raw for _, e in accepted]) != first:
                    raise _Diverged  # noqa: TRY301 - another process appended meanwhile
            except _Diverged:
                self._refold()  # recorded, at other indices: answer with the log's
                answers = [
                    Receipt(self._ids[a.id], a.id, a.duplicate) if isinstance(a, Receipt) else a
                    for a in answers
                ]
                # and project them at the log's indices, from wherever the tables really are
                accepted = [(self._ids[event.id], event) for _, event in accepted]
                self._projected = None
            except BaseException:
                self._refold()  # the state took events the log did not: forget them
                raise
            if accepted:
                self._project(accepted)
            return answers

    def _verify_signatures(self, events: Sequence[Event]) -> dict[str, bytes]:
        """Check, on every core, the signatures of events whose actor's key is on record.

        Ed25519 verification releases the GIL, so a batch's signatures are checked in
        parallel; ``rules.check`` then skips those made with the key it finds for the actor
        (and checks any other itself: a key registered or revoked within the batch).
        """
        keyed = [
            (event, actor.public_key)
            for event in events
            if (actor := self.state.actors.get(event.actor)) is not None and not actor.revoked
        ]

        def good(items: list[tuple[Event, bytes]]) -> dict[str, bytes]:
            out = {}
            for event, key in items:
                try:
                    event.verify(key)
                except SignatureError:
                    continue  # rules.check checks it again and names the field
                out[event.id] = key
            return out

        if len(keyed) < _PARALLEL_FROM:
            return {}
        step = -(-len(keyed) // _WORKERS)
        verified: dict[str, bytes] = {}
        for part in _VERIFIERS.map(good, [keyed[i : i + step] for i in range(0, len(keyed), step)]):
            verified.update(part)
        return verified

    def _project(self, appended: list[tuple[int, Event]]) -> None:
        """Bring the projections up to the log, from wherever they stand.

        The event is recorded whatever happens here: if the database refuses, the tables stay
        behind and the next event (or the next open) catches them up from the log.
        """
        end = appended[-1][0] + 1
        try:
            if self._projected == appended[0][0]:
                # where this process left them: advance to what the state holds without reading
                # their position (nor the log's size) first
                at_root = (end, self.log.store.root(end).hex())
                if self.projections.apply(self.state, appended, at_root, expected=self._projected):
                    self._projected = end
                    return
            size = max(self.log.size(), end)
            at = self.projections.position()
            if at is None or at[0] >= size:
                return  # unreadable (the next open rebuilds), or already caught up elsewhere
            start = at[0]
            if start == appended[0][0]:
                entries = list(appended)
            else:
                entries = list(log_events(self.log, size, start=start))
            if entries and entries[-1][0] + 1 < size:
                entries += log_events(self.log, size, start=entries[-1][0] + 1)
            self.projections.apply(self.state, entries, (size, self.log.store.root(size).hex()))
            self._projected = size
        except SQLAlchemyError:
            self._projected = None
            return

    def index_of(self, event_id: str) -> int:
        """The log index of a recorded event; ``StoreError`` if the log holds none with this id."""
        index = self._ids.get(event_id)
        if index is None:
            with self._lock:
                self._catch_up()  # another process (a server's writer) may have recorded it
            index = self._ids.get(event_id)
        if index is None:
            raise StoreError(f"no event {event_id} in this log", field="event")
        return index

    @contextlib.contextmanager
    def reading(self) -> Iterator[OperationState]:
        """The state, with whatever another process (a server's writer) appended folded in,
        not changed by any command while the caller reads it."""
        with self._lock:
            self._catch_up()
            yield self.state

    def catch_up(self) -> None:
        """Fold in what other processes appended since this one last looked."""
        with self._lock:
            self._catch_up()

    def _catch_up(self) -> None:
        """Fold in what another process appended since: commands are checked against the log
        as it is. (Two writers can still race between the check and the append; the index the
        log answers shows it, and the state is then refolded. One writer per operation, the
        server, is the intended set-up.)"""
        for index, event in log_events(self.log, start=self.state.events):
            self.state.apply(event)
            self._ids[event.id] = index

    def _refold(self) -> None:
        self.state, self._ids = OperationState(), {}
        with _no_gc():
            for index, event in log_events(self.log):
                self.state.apply(event)
                self._ids[event.id] = index

    def rebuild(self, progress: Callable[[int], None] | None = None) -> Position:
        """Drop the projections and rebuild them from the log; returns what they now reflect."""
        with self._lock:
            size = self.log.size()
            position = (size, self.log.store.root(size).hex())
            with _no_gc():
                self.projections.rebuild(
                    log_events(self.log, size), position, progress, reader=_reader(self.log, size)
                )
            return position

    def events(self, end: int | None = None) -> Iterator[Event]:
        for _, event in log_events(self.log, end):
            yield event

    # --- checkpoints and cosigning ------------------------------------------------------------

    def cosign(self, party: str, timestamp: int | None = None) -> str:
        """The party's witness cosigns the current checkpoint, if consistent with its last one.

        The witness keeps the last checkpoint it cosigned in ``DIR/witness/<party>.json``; a
        checkpoint that is smaller, or not an extension of that one (a fork, a rewritten
        history), is refused with ``RuleError`` and nothing is signed.
        """
        if party not in self.state.witnesses:
            raise RuleError(f"party {party!r} has no witness key on record", field="party")
        note = self.log.checkpoint()
        checkpoint = self.log.open_checkpoint(note)
        witness = WitnessState(self.directory / "witness" / f"{party}.json")
        witness.check(checkpoint, self.log)
        signer = self.keys.witness(party)
        if signer.verifier().key_string() != self.state.witnesses[party]:
            raise RuleError("the key held for this witness is not the one on record", field="party")
        if party in self.cosigners(note):
            return note  # already cosigned at this size: nothing to add
        cosigned = cosign_note(note, signer, timestamp)
        self.log.store.put_checkpoint(checkpoint.size, cosigned)
        witness.save(checkpoint)
        return cosigned

    def cosigners(self, note: str) -> list[str]:
        """The parties whose witness cosignature on ``note`` verifies."""
        verifiers = {
            party: Verifier.from_key_string(key) for party, key in self.state.witnesses.items()
        }
        _, names = open_checkpoint(note, self.log.verifier, verifiers.values())
        return [party for party, v in verifiers.items() if v.name in names]

    # --- the report ---------------------------------------------------------------------------

    def recorded_at(self, size: int) -> datetime | None:
        """When the last of the first ``size`` entries was recorded (what figures computed at
        ``size`` are "as of"); None for an empty log."""
        for _, raw in self.log.store.iter_entries(size - 1, size) if size else ():
            return read_event(raw).at
        return None

    def report(self, at: int | None = None, *, signed: bool = True) -> Report:
        """The report computed from the events up to checkpoint ``at`` (default: now).

        ``signed``: name the signed checkpoint of that size (signed and kept if the log has
        none yet). A screen that only watches the figures passes False: its report names no
        checkpoint, and polling it does not keep a new checkpoint for every size it sees."""
        size = self.log.size() if at is None else at
        if not 0 <= size <= self.log.size():
            raise StoreError(f"must be between 0 and the log size {self.log.size()}", field="--at")
        with self._lock:  # the state is not changed while the report reads it
            self._catch_up()
            if size == self.state.events:
                return self._report(self.state, size, signed=signed)
        state = OperationState()
        with _no_gc():
            for event in self.events(size):
                state.apply(event)
        return self._report(state, size, signed=signed)

    def _report(self, state: OperationState, size: int, *, signed: bool) -> Report:
        if not signed:
            return build_report(state, None)
        note = self.log.checkpoint(size)
        checkpoint = self.log.open_checkpoint(note)
        out = CheckpointOut(
            origin=checkpoint.origin,
            size=checkpoint.size,
            root=base64.b64encode(checkpoint.root).decode(),
            cosigners=self.cosigners(note),
        )
        return build_report(state, out)


def _database_to_create(directory: Path, database: str | None) -> str | None:
    """The database a new operation in ``directory`` uses: ``database`` (checked), or the one
    the folder records already (a create that failed halfway, tried again)."""
    if database is None or recorded_database(directory) is not None:
        return database_for(directory, database)
    return check_url(database)


def _open_projections(directory: Path, database: str | None) -> Projections:
    """The operation's query tables: in ``database``, or in ``DIR/projections.db``; a file that
    is not a usable database is only a cache of the log, so it is set aside
    (``projections.db.damaged``) and made anew."""
    if database is not None:
        return Projections.open(database)
    path = directory / PROJECTIONS
    try:
        return Projections.open(sqlite_url(path))
    except DamagedProjectionsError:
        if not path.exists():
            raise
    for suffix in ("", "-wal", "-shm"):
        damaged = path.with_name(path.name + suffix)
        if damaged.exists():
            damaged.replace(damaged.with_name(damaged.name + ".damaged"))
    return Projections.open(sqlite_url(path))


def log_events(
    log: Log,
    end: int | None = None,
    *,
    start: int = 0,
    ids: dict[str, int] | None = None,
) -> Iterator[tuple[int, Event]]:
    """The log's entries as events, read on the fast path (they were checked when appended);
    each event's index is noted in ``ids`` by id if given (what makes submission idempotent)."""
    if ids is None:
        for index, raw in log.store.iter_entries(start, end):
            yield index, read_event(raw)
        return
    for index, raw in log.store.iter_entries(start, end):
        event = read_event(raw)
        ids[event.id] = index
        yield index, event


def _reader(log: Log, end: int) -> EntryReader:
    """The first ``end`` entries again, for a helper process (it opens the store read-only)."""
    if log.database is not None:
        return functools.partial(_read_logged_from, log.directory, log.database, end)
    return functools.partial(_read_logged, log.directory / DB_FILE, end)


def _read_logged(path: Path, end: int) -> Iterator[tuple[int, bytes]]:
    store = SqliteLogStore.open(path, readonly=True)
    try:
        yield from store.iter_entries(0, end)
    finally:
        store.close()


def _read_logged_from(directory: Path, database: str, end: int) -> Iterator[tuple[int, bytes]]:
    store = open_store(directory, database, readonly=True)
    try:
        yield from store.iter_entries(0, end)
    finally:
        store.close()


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Folding a log makes millions of objects and no cycles: the cyclic collector would only
    rescan them, again and again (a fifth of a rebuild's time), so it waits until the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fold_and_project(  # noqa: PLR0913, PLR0917 - what open() found, handed over whole
    log: Log,
    projections: Projections,
    behind: int,
    position: Position,
    ids: dict[str, int],
    progress: Callable[[int], None] | None,
) -> OperationState:
    """Fold the log into a new state; rebuild the projections (``behind < 0``) or catch them
    up from entry ``behind`` on."""
    size = position[0]
    if behind < 0:
        entries = log_events(log, size, ids=ids)
        return projections.rebuild(entries, position, progress, reader=_reader(log, size))
    state, missed = OperationState(), []
    for index, event in log_events(log, size, ids=ids):
        state.apply(event)
        if index >= behind:
            missed.append((index, event))
    if missed:
        try:
            projections.apply(state, missed, position)
        except SQLAlchemyError:  # damaged tables: drop them and start again
            projections.rebuild(
                log_events(log, size), position, progress, reader=_reader(log, size)
            )
    return state


class _Diverged(Exception):  # noqa: N818 - an internal signal, never raised to a caller
    """The log grew under us (another process appended): refold and answer from the log."""


class WitnessState:
    """A party's memory of the last checkpoint it cosigned: what it will never contradict."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Checkpoint | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return Checkpoint(data["origin"], int(data["size"]), base64.b64decode(data["root"]))

    def check(self, new: Checkpoint, log: Log) -> None:
        last = self.load()
        if last is None:
            return
        if last.origin != new.origin:
            raise RuleError(f"this witness cosigns {last.origin}, not {new.origin}", field="party")
        if new.size < last.size:
            raise RuleError(
                f"the log shrank: size {new.size} after cosigning size {last.size}", field="party"
            )
        if new.size == last.size:
            if new.root != last.root:
                raise RuleError(f"a different root for size {new.size}: a fork", field="party")
            return
        if last.size == 0:
            return
        try:
            merkle.verify_consistency(
                last.size,
                new.size,
                log.store.consistency_proof(last.size, new.size),
                last.root,
                new.root,
            )
        except ProofError as exc:
            raise RuleError(
                f"size {new.size} is not an extension of the cosigned size {last.size}: a fork",
                field="party",
            ) from exc

    def save(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {
            "origin": checkpoint.origin,
            "size": checkpoint.size,
            "root": base64.b64encode(checkpoint.root).decode(),
        }
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)  # atomic: the witness never half-remembers
