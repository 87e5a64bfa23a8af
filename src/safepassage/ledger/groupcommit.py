"""Group commit: many appenders, one writer thread, one durable transaction per batch.

Backend-neutral: a store hands in ``write(batches) -> first indexes``, which must append every
batch in one durable transaction (or raise and write nothing). Callers are answered only after
``write`` returns. Thread callers wait on a one-shot lock; asyncio callers await a future that
is settled on their own loop by one cross-thread call per commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from safepassage.errors import StoreError
from safepassage.ledger.store import MAX_ENTRY_BYTES, LogStore

__all__ = ["GroupCommitStore", "GroupCommitter", "entries_tuple", "gather"]

_T = TypeVar("_T")

_BATCH_LIMIT: Final = 8192  # entries per transaction: bounds one commit's latency and memory
# Longest the writer waits for callers it just answered to come back: a fraction of one fsync.
_GATHER_SECONDS: Final = 0.0005

Write = Callable[[list[tuple[bytes, ...]]], list[int]]


class _Request:
    """One caller's entries and how to answer it: a one-shot lock, or an asyncio future."""

    __slots__ = ("done", "entries", "error", "future", "loop", "start")

    def __init__(self, entries: tuple[bytes, ...], loop: asyncio.AbstractEventLoop | None) -> None:
        self.entries = entries
        self.start = -1
        self.error: StoreError | None = None
        self.loop = loop
        self.future: asyncio.Future[int] | None = None
        self.done: threading.Lock | None = None
        if loop is None:
            # A lock acquired here and released by the writer is CPython's cheapest wake-up.
            self.done = threading.Lock()
            self.done.acquire()
        else:
            self.future = loop.create_future()


def _settle(requests: list[_Request]) -> None:
    """Resolve asyncio futures, on their own loop, in one call per commit."""
    for r in requests:
        if r.future is not None and not r.future.done():
            if r.error is not None:
                r.future.set_exception(r.error)
            else:
                r.future.set_result(r.start)


class GroupCommitter:
    """The writer thread of one store and the queue in front of it."""

    def __init__(self, write: Write, name: str) -> None:
        self._write = write
        self._name = name
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _closed, _thread and _waiting
        self._closed = False
        self._thread: threading.Thread | None = None
        self._waiting = 0
        self.commits = 0  # transactions committed: shows group commit at work

    # --- callers ----------------------------------------------------------------------------

    def append(self, entries: tuple[bytes, ...]) -> int:
        """Append durably; return the first index. Blocks until the commit is durable."""
        request = self._enqueue(entries, None)
        assert request.done is not None
        request.done.acquire()
        if request.error is not None:
            raise request.error
        return request.start

    async def append_async(self, entries: tuple[bytes, ...]) -> int:
        """``append`` for asyncio callers: many appends in flight on one thread.

        Cancelling the awaiting task does not withdraw the entries: they are committed all the
        same, and the caller never learns their index. Callers that retry must make their
        entries idempotent (an event's id is the hash of its content).
        """
        request = self._enqueue(entries, asyncio.get_running_loop())
        assert request.future is not None
        return await request.future

    def waiting(self) -> int:
        """Append calls not yet answered (for tests and monitoring)."""
        with self._lock:
            return self._waiting

    def _enqueue(
        self, entries: tuple[bytes, ...], loop: asyncio.AbstractEventLoop | None
    ) -> _Request:
        request = _Request(entries, loop)
        with self._lock:
            # Checked and queued under one lock with close(): every request that gets in is
            # ahead of close()'s stop mark, so the writer answers it before it stops.
            if self._closed:
                raise StoreError("the store is closed", field="store")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"log-writer:{self._name}", daemon=True
                )
                self._thread.start()
            self._waiting += 1
            self._queue.put(request)
        return request

    def close(self) -> None:
        """Answer everything already queued, then stop the writer; later appends are refused."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        expected = 1  # how many callers the last commit answered: they are likely to return
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first, expected)
            self._commit(batch)
            expected = len(batch)
            if stop:
                return

    def _gather(self, first: _Request, expected: int) -> tuple[list[_Request], bool]:
        """Take what is queued; after a shared commit, wait briefly for its callers to return.

        With N callers each waiting on its own commit, a writer that commits whatever is queued
        settles into two alternating groups of N/2. Waiting up to a fraction of one fsync for the
        callers just answered (PostgreSQL's commit_delay idea) lets one commit carry all N. A
        lone appender (expected == 1) never waits.
        """
        return gather(self._queue, first, expected=expected, seconds=_GATHER_SECONDS,
                      weight=lambda r: len(r.entries), limit=_BATCH_LIMIT)  # fmt: skip

    def _commit(self, batch: list[_Request]) -> None:
        try:
            starts = self._write([r.entries for r in batch])
        except Exception as exc:  # noqa: BLE001 - every caller must hear, and the writer live on
            if len(batch) > 1:
                # One caller's entries may be what the database refused: retry each alone, so
                # unrelated callers that merely shared the transaction are not failed with it.
                for request in batch:
                    self._commit([request])
                return
            reason = exc.reason if isinstance(exc, StoreError) else f"append failed: {exc}"
            batch[0].error = StoreError(reason, field="store")
        else:
            self.commits += 1
            for request, start in zip(batch, starts, strict=True):
                request.start = start
        self._answer(batch)

    def _answer(self, batch: list[_Request]) -> None:
        """Tell every caller of the batch; only after the commit (or its failure)."""
        with self._lock:
            self._waiting -= len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
        for request in batch:
            if request.done is not None:
                request.done.release()
            elif request.loop is not None:
                by_loop.setdefault(request.loop, []).append(request)
        for loop, requests in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, requests)


def gather(  # noqa: PLR0913 - the queue, the first item, and how long and how much to take
    waiting: queue.SimpleQueue[_T | None],
    first: _T,
    *,
    expected: int,
    seconds: float,
    weight: Callable[[_T], int],
    limit: int,
) -> tuple[list[_T], bool]:
    """``first`` and what is queued behind it, up to ``limit`` (by ``weight``); when the last
    batch answered ``expected`` > 1 callers, wait up to ``seconds`` for as many to come back.
    Returns the batch and whether the stop mark (``None``) was taken."""
    batch, count = [first], weight(first)
    deadline = time.monotonic() + seconds if expected > 1 else 0.0
    while count < limit:
        try:
            if len(batch) < expected and (wait := deadline - time.monotonic()) > 0:
                more = waiting.get(timeout=wait)
            else:
                more = waiting.get_nowait()
        except queue.Empty:
            break
        if more is None:
            return batch, True
        batch.append(more)
        count += weight(more)
    return batch, False


def entries_tuple(entries: Sequence[bytes], max_bytes: int) -> tuple[bytes, ...]:
    """Copy and check what a caller wants appended; ``StoreError`` names the bad entry."""
    if isinstance(entries, (bytes, str)):
        raise StoreError("must be a sequence of entries, not one value", field="entries")
    try:
        copied = tuple(entries)
    except TypeError as exc:
        raise StoreError(f"must be a sequence of entries: {exc}", field="entries") from exc
    if not copied:
        raise StoreError("nothing to append", field="entries")
    for i, e in enumerate(copied):
        if not isinstance(e, bytes):
            raise StoreError(f"must be bytes, got {type(e).__name__}", field=f"entries[{i}]")
        if len(e) > max_bytes:
            raise StoreError(
                f"is {len(e)} bytes; an entry may hold at most {max_bytes}", field=f"entries[{i}]"
            )
    return copied


class GroupCommitStore(LogStore):
    """A log store whose appends go through a ``GroupCommitter`` (``self._committer``); the
    backend checks it may write (``_writable``) and implements the committer's write."""

    _committer: GroupCommitter
    _write_conn: Any
    """The one connection the committer writes with."""
    _readers: list[Any]
    """Connections readers opened (one per thread), closed with the store."""
    _readers_lock: threading.Lock
    _closed: bool

    @abstractmethod
    def _writable(self) -> None:
        """``StoreError`` if this store was opened read-only or closed."""

    def append(self, entry: bytes) -> int:
        return self.append_batch([entry])

    def append_batch(self, entries: Sequence[bytes]) -> int:
        self._writable()
        return self._committer.append(entries_tuple(entries, MAX_ENTRY_BYTES))

    async def append_async(self, entries: Sequence[bytes]) -> int:
        """``append_batch`` for asyncio callers; see ``GroupCommitter.append_async``."""
        self._writable()
        return await self._committer.append_async(entries_tuple(entries, MAX_ENTRY_BYTES))

    @property
    def commits(self) -> int:
        """Transactions this process committed (group commit shares them between callers)."""
        return self._committer.commits

    def waiting(self) -> int:
        """Append calls in this process not yet answered (for tests and monitoring)."""
        return self._committer.waiting()

    def close(self) -> None:
        if self._closed:
            return
        self._committer.close()  # answers every append already queued first
        self._closed = True
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        self._write_conn.close()
