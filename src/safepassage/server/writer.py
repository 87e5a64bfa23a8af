"""One writer for the operation: requests from many clients, checked and recorded in batches.

Every command that records something goes through ``Writer``: handlers hand in a job and await
its answer; one thread takes whatever jobs are waiting, runs consecutive jobs of the same kind
as one batch (one durable commit of the log, and of the vault for registrations) and answers
each job from the batch's answers. Under load many requests share one commit; alone, a request
waits for nothing but its own commit. The operation's rules see the jobs in arrival order.

A server runs the ``Writer`` in a process of its own (``WriterProcess``), so that recording and
answering HTTP use both cores instead of taking turns on one interpreter lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import itertools
import multiprocessing
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from safepassage.app.operation import Operation, Receipt
from safepassage.app.persons import (
    RESETTLE_SECONDS,
    AlreadyImported,
    NewPerson,
    Registered,
    Unsettled,
    register_people,
    settle,
)
from safepassage.errors import SafepassageError, StoreError
from safepassage.events.envelope import Event
from safepassage.ledger.groupcommit import gather
from safepassage.vault.store import Vault

__all__ = ["Writer", "WriterProcess", "WriterStoppedError", "cosign_as"]

_T = TypeVar("_T")


class WriterStoppedError(StoreError):
    """The writer process is gone (it crashed, or the server is stopping): nothing more can be
    recorded until the server is started again. Served as 503."""


def _stopped(why: str) -> WriterStoppedError:
    """What a command gets that could not be handed over (``why``: how, if known)."""
    return WriterStoppedError(f"the writer process has stopped{why}", field="writer")


def _no_vault() -> StoreError:
    return StoreError(
        "this operation has no vault (create one with `safepassage vault init`)", field="vault"
    )


_MAX_JOBS = 512  # per batch: bounds one commit's latency
# Longest the writer waits for the requests it just answered to come back (see ``_gather``).
_GATHER_SECONDS = 0.003


@dataclass
class _Events:
    events: Sequence[Event]
    future: Future[list[Receipt | SafepassageError]] = field(default_factory=Future)


@dataclass
class _Registrations:
    people: Sequence[NewPerson]
    actor: str
    future: Future[list[Registered | AlreadyImported | SafepassageError]] = field(
        default_factory=Future
    )


@dataclass
class _Call:
    fn: Callable[[Operation], Any]
    future: Future[Any] = field(default_factory=Future)


_Job = _Events | _Registrations | _Call


class Writer:
    """The operation's one writing thread."""

    def __init__(self, op: Operation, vault: Vault | None) -> None:
        self.op = op
        self.vault = vault
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._unsettled = Unsettled()  # what each batch of registrations leaves to the next
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._thread.start()
        self.batches = 0

    def close(self) -> None:
        """Finish the jobs handed in, then settle the vault (registrations are confirmed
        lazily, by the next batch: nothing stays pending after a clean stop)."""
        self._jobs.put(None)
        self._thread.join()
        if self.vault is not None:
            settle(self.op, self.vault)

    # --- what handlers call (from any thread); each returns a future ----------------------

    def events(self, events: Sequence[Event]) -> Future[list[Receipt | SafepassageError]]:
        job = _Events(events)
        self._jobs.put(job)
        return job.future

    def register(
        self, people: Sequence[NewPerson], actor: str
    ) -> Future[list[Registered | AlreadyImported | SafepassageError]]:
        if self.vault is None:
            raise _no_vault()
        job = _Registrations(people, actor)
        self._jobs.put(job)
        return job.future

    def call(self, fn: Callable[[Operation], Any]) -> Future[Any]:
        job = _Call(fn)
        self._jobs.put(job)
        return job.future

    # --- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        expected = 1  # how many jobs the last batch answered: under load, they come back
        while True:
            try:
                job = self._jobs.get(timeout=RESETTLE_SECONDS)
            except queue.Empty:  # idle: settle what other processes left in the vault
                self._settle_idle()
                continue
            if job is None:
                return
            batch, stop = self._gather(job, expected)
            for run in _runs(batch):
                self._do(run)
            self.batches += 1
            expected = len(batch)
            if stop:
                return

    def _settle_idle(self) -> None:
        """What batches do at least once a minute (``Unsettled``), done when none comes: an
        erasure or a registration whose process died is finished while the server waits."""
        if self.vault is None:
            return
        with contextlib.suppress(Exception):  # the database away: the next time tries again
            settle(self.op, self.vault)

    def _gather(self, first: _Job, expected: int) -> tuple[list[_Job], bool]:
        """Take what is waiting; after a batch of several jobs, wait briefly for as many.

        A batch costs the same few statements and commits whatever its size, so under load
        (the last batch answered several clients, who are sending their next request) waiting
        up to ``_GATHER_SECONDS`` for them makes fewer, larger batches: less work per
        registration, for the price of a few milliseconds. A lone request never waits.
        """
        return gather(self._jobs, first, expected=expected, seconds=_GATHER_SECONDS,
                      weight=lambda _: 1, limit=_MAX_JOBS)  # fmt: skip

    def _do(self, run: list[_Job]) -> None:
        first = run[0]
        try:
            if isinstance(first, _Call):
                first.future.set_result(first.fn(self.op))
            elif isinstance(first, _Events):
                self._events(run)  # type: ignore[arg-type]
            else:
                self._registrations(run)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - answered to every waiting request
            for job in run:
                if not job.future.done():
                    job.future.set_exception(exc)

    def _events(self, run: list[_Events]) -> None:
        answers = self.op.submit_events([e for job in run for e in job.events])
        at = 0
        for job in run:
            job.future.set_result(answers[at : at + len(job.events)])
            at += len(job.events)

    def _registrations(self, run: list[_Registrations]) -> None:
        """One vault commit and one log commit per actor in the run (registrations of
        different people do not depend on each other's order)."""
        assert self.vault is not None
        by_actor: dict[str, list[_Registrations]] = {}
        for job in run:
            by_actor.setdefault(job.actor, []).append(job)
        for actor, jobs in by_actor.items():
            try:
                people = [p for job in jobs for p in job.people]
                answers = register_people(
                    self.op, self.vault, people, actor=actor, at=datetime.now(UTC),
                    lazy=self._unsettled,
                )  # fmt: skip
            except BaseException as exc:  # noqa: BLE001 - answered to this actor's requests
                for job in jobs:
                    job.future.set_exception(exc)
                continue
            at = 0
            for job in jobs:
                job.future.set_result(answers[at : at + len(job.people)])
                at += len(job.people)


def _runs(batch: list[_Job]) -> list[list[_Job]]:
    """Consecutive jobs that can share one commit: events with events, registrations with
    registrations; every call on its own."""
    runs: list[list[_Job]] = []
    for job in batch:
        last = runs[-1][-1] if runs else None
        same = (isinstance(job, _Events) and isinstance(last, _Events)) or (
            isinstance(job, _Registrations) and isinstance(last, _Registrations)
        )
        if same:
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


# --- the writer in a process of its own ------------------------------------------------------


class WriterProcess:
    """The operation's writer in a process of its own, with ``Writer``'s interface.

    A server spends as much time answering HTTP as recording; in one process both would take
    turns on Python's global interpreter lock. Here the HTTP process hands every command over a
    pipe to a process that opens the operation and its vault and runs the one ``Writer``; the
    answers come back the same way. The HTTP process keeps reading its own ``Operation``, which
    folds in what the writer appended whenever it is read (``Operation.reading``).

    ``call(fn, *args)`` runs ``fn(op, vault, *args)`` in the writer: ``fn`` must be a function
    defined at the top of a module (it crosses the pipe by name), never a lambda.
    """

    def __init__(self, directory: Path, database: str | None) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(theirs, str(directory), database), name="safepassage-writer",
            daemon=True,
        )  # fmt: skip
        self._process.start()
        theirs.close()
        self._conn = ours
        try:
            ready = ours.recv()
        except EOFError:
            ready = (
                False,
                WriterStoppedError("stopped while opening the operation", field="writer"),
            )
        if not ready[0]:
            self._process.join(timeout=60)
            ours.close()
            raise ready[1]
        self.has_vault: bool = ready[1]
        self.batches = 0
        self._send_lock = threading.Lock()  # one message on the pipe at a time
        self._pending_lock = threading.Lock()  # never held while waiting on the pipe
        self._pending: dict[int, Future[Any]] = {}
        self._outbox: list[tuple[int, bytes]] = []  # handed in by an event loop, to send
        self._flushing: asyncio.AbstractEventLoop | None = None  # the loop that will send it
        self._next = itertools.count()
        self._stopping = False  # close() was called
        self._stopped = False  # the answers stopped coming
        self._reader = threading.Thread(target=self._read, name="writer-answers", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        """The writer process's id."""
        return self._process.pid

    def events(self, events: Sequence[Event]) -> Future[list[Receipt | SafepassageError]]:
        return self._send("events", list(events))

    def register(
        self, people: Sequence[NewPerson], actor: str
    ) -> Future[list[Registered | AlreadyImported | SafepassageError]]:
        if not self.has_vault:
            raise _no_vault()
        return self._send("register", (list(people), actor))

    def call(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:  # noqa: ANN401 - fn's own
        return self._send("call", (fn, args))

    def close(self) -> None:
        """Finish the commands handed in (the writer settles the vault), then stop it."""
        self._flush()
        with self._send_lock:
            already, self._stopping = self._stopping, True
            if not already:
                with contextlib.suppress(OSError, ValueError):
                    self._conn.send(None)
        if already:
            return
        self._reader.join(timeout=120)
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()

    def _send(self, kind: str, payload: Any) -> Future[Any]:  # noqa: ANN401 - per kind
        """Hand a command to the writer. From a thread that runs an event loop (the server's
        handlers), commands handed in during one turn of the loop cross the pipe together, at
        the end of the turn: one message, one wake-up of the writer, for a burst of requests.
        So on that thread the future is to be awaited (``asyncio.wrap_future``), never waited
        for with ``result()``: the turn that would send the command would never end. A stopped
        writer is said at once, as from any other thread."""
        future: Future[Any] = Future()
        # Running from the start: a request whose handler is cancelled (a client that went
        # away) cannot cancel what the writer is doing, and its answer still finds a future.
        future.set_running_or_notify_cancel()
        job = next(self._next)
        message = pickle.dumps((job, kind, payload))  # a lambda fails here: nothing is sent
        loop = asyncio._get_running_loop()  # noqa: SLF001 - asyncio's own cheap check
        with self._pending_lock:
            self._pending[job] = future
            if loop is not None and not (self._stopping or self._stopped):
                if not self._outbox or self._flushing is not loop:  # each loop sends at its turn
                    loop.call_soon(self._flush)
                    self._flushing = loop
                self._outbox.append((job, message))
                return future
        why = self._hand_over([message])
        if why is not None:
            with self._pending_lock:
                self._pending.pop(job, None)
            raise _stopped(why)
        return future

    def _flush(self) -> None:
        """Send what the event loop handed in; fail their requests if the writer is gone."""
        with self._pending_lock:
            outbox, self._outbox, self._flushing = self._outbox, [], None
        if not outbox:
            return
        why = self._hand_over([message for _, message in outbox])
        if why is not None:
            self._fail([job for job, _ in outbox], why)

    def _fail(self, jobs: list[int], why: str) -> None:
        with self._pending_lock:
            futures = [self._pending.pop(job, None) for job in jobs]
        for future in futures:
            if future is not None and not future.done():
                future.set_exception(_stopped(why))

    def _hand_over(self, messages: list[bytes]) -> str | None:
        """Send ``messages`` (each a pickled command) as one; what went wrong if they could not
        be sent."""
        with self._send_lock:
            if self._stopping or self._stopped:
                return ""
            try:
                self._conn.send(messages)
            except (OSError, ValueError) as exc:  # the writer is gone
                return f" ({exc})"
        return None

    def _read(self) -> None:
        while True:
            try:
                replies = self._conn.recv()  # every answer the writer had ready, by job
            except Exception:  # noqa: BLE001 - gone, or a stream that no longer reads: stopped
                break
            with self._pending_lock:
                futures = [self._pending.pop(job, None) for job, _ in replies]
            for (_, answer), future in zip(replies, futures, strict=True):
                try:
                    ok, value, self.batches = pickle.loads(answer)  # noqa: S301 - our writer's
                except Exception as exc:  # noqa: BLE001 - this answer did not cross whole
                    ok, value = (
                        False,
                        StoreError(
                            f"the writer's answer did not arrive whole ({exc!r}): this command"
                            " may or may not have been recorded (look in the log before sending"
                            " it again)",
                            field="writer",
                        ),
                    )
                if future is not None:
                    (future.set_result if ok else future.set_exception)(value)
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            self._stopped = True
        if not self._stopping:  # not asked to stop: tell whoever runs the server
            self._process.join(timeout=5)
            print(  # noqa: T201 - the server's one line to its operator
                f"safepassage: the writer process stopped (exit code {self._process.exitcode}):"
                " nothing more can be recorded until the server is restarted",
                file=sys.stderr,
                flush=True,
            )
        for future in pending.values():
            future.set_exception(
                WriterStoppedError(
                    "the writer process stopped before answering: this command may or may not "
                    "have been recorded (look in the log before sending it again)",
                    field="writer",
                )
            )


def _serve(conn: Connection, directory: str, database: str | None) -> None:
    """The writer process: open the operation and its vault, then record what comes in."""
    # A Ctrl-C or a SIGTERM sent to the whole process group stops the server, which then
    # stops us through the pipe, after the commands handed in: we do not stop on our own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        op = Operation.open(Path(directory), database=database)
    except BaseException as exc:  # noqa: BLE001 - reported to the server, which raises it
        conn.send((False, _sendable(exc)))
        return
    try:
        has_vault = (Path(directory) / "vault").is_dir()
        vault = Vault.open(Path(directory), database=database) if has_vault else None
    except BaseException as exc:  # noqa: BLE001 - as above
        op.close()
        conn.send((False, _sendable(exc)))
        return
    gc.freeze()  # the folded state is long-lived: collections need not walk it again
    writer = Writer(op, vault)
    conn.send((True, vault is not None))
    answers: queue.SimpleQueue[tuple[int, bool, Any, int] | None] = queue.SimpleQueue()
    sender = threading.Thread(target=_send_answers, args=(conn, answers), name="answers")
    sender.start()
    try:
        _record(conn, writer, answers)
    finally:
        writer.close()  # answers every command received
        answers.put(None)
        sender.join()
        if vault is not None:
            vault.close()
        op.close()
        conn.close()


def _record(
    conn: Connection, writer: Writer, answers: queue.SimpleQueue[tuple[int, bool, Any, int] | None]
) -> None:
    """Hand each command that comes over the pipe to the writer; queue each answer for the
    sending thread (this one never waits on the pipe's other direction)."""

    def answer(job: int, future: Future[Any]) -> None:
        try:
            answers.put((job, True, future.result(), writer.batches))
        except BaseException as exc:  # noqa: BLE001 - the request's answer
            answers.put((job, False, _sendable(exc), writer.batches))

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        for command in message:
            job, kind, payload = pickle.loads(command)  # noqa: S301 - our server's
            _queue(writer, kind, payload).add_done_callback(functools.partial(answer, job))


def _send_answers(
    conn: Connection, answers: queue.SimpleQueue[tuple[int, bool, Any, int] | None]
) -> None:
    """Send the answers as they come, in one message whatever is ready together (a batch's
    answers are: one message instead of one per request, on both sides of the pipe). Each
    answer is pickled on its own, beside its job's number: one that does not pickle is sent as
    the error it raised, one that does not unpickle fails only its own request."""
    stop = False
    while not stop and (reply := answers.get()) is not None:
        replies = [reply]
        while True:
            try:
                more = answers.get_nowait()
            except queue.Empty:
                break
            if more is None:
                stop = True
                break
            replies.append(more)
        try:
            conn.send([(job, _pickled(ok, value, batches)) for job, ok, value, batches in replies])
        except (OSError, ValueError):
            continue  # the server is gone: nobody waits for these answers


def _pickled(ok: bool, value: Any, batches: int) -> bytes:  # noqa: ANN401 - an answer
    try:
        return pickle.dumps((ok, value, batches))
    except Exception as exc:  # noqa: BLE001 - an answer that does not pickle: what went wrong
        return pickle.dumps((False, _sendable(exc), batches))


def _queue(writer: Writer, kind: str, payload: Any) -> Future[Any]:  # noqa: ANN401 - per kind
    try:
        if kind == "events":
            return writer.events(payload)
        if kind == "register":
            return writer.register(*payload)
        fn, args = payload
        return writer.call(functools.partial(_with_vault, fn, writer.vault, args))
    except SafepassageError as exc:  # refused before it was queued (no vault)
        future: Future[Any] = Future()
        future.set_exception(exc)
        return future


def cosign_as(op: Operation, _vault: Vault | None, party: str) -> str:
    """``WriterProcess.call(cosign_as, party)``: the party's witness cosigns the checkpoint."""
    return op.cosign(party)


def _with_vault(
    fn: Callable[..., Any], vault: Vault | None, args: tuple[Any, ...], op: Operation
) -> Any:  # noqa: ANN401 - fn's own
    return fn(op, vault, *args)


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it crosses the pipe whole, else a ``StoreError`` that says what it was."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, just made
    except Exception:  # noqa: BLE001 - anything that does not pickle
        return StoreError(f"the writer failed: {exc!r}", field="writer")
    return exc
