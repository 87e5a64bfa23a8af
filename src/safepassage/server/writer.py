"""One writer for the operation: requests from many clients, checked and recorded in batches.

Every command that records something goes through ``Writer``: handlers hand in a job and await
its answer; one thread takes whatever jobs are waiting, runs consecutive jobs of the same kind
as one batch (one durable commit of the log, and of the vault for registrations) and answers
each job from the batch's answers. Under load many requests share one commit; alone, a request
waits for nothing but its own commit. The operation's rules see the jobs in arrival order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from safepassage.app.operation import Operation, Receipt
from safepassage.app.persons import (
    AlreadyImported,
    NewPerson,
    Registered,
    register_people,
    settle,
)
from safepassage.errors import SafepassageError, StoreError
from safepassage.events.envelope import Event
from safepassage.vault.store import Vault

__all__ = ["Writer"]

_MAX_JOBS = 512  # per batch: bounds one commit's latency


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
            raise StoreError(
                "this operation has no vault (create one with `safepassage vault init`)",
                field="vault",
            )
        job = _Registrations(people, actor)
        self._jobs.put(job)
        return job.future

    def call(self, fn: Callable[[Operation], Any]) -> Future[Any]:
        job = _Call(fn)
        self._jobs.put(job)
        return job.future

    # --- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < _MAX_JOBS:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            for run in _runs(batch):
                self._do(run)
            self.batches += 1
            if stop:
                return

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
                    self.op, self.vault, people, actor=actor, at=datetime.now(UTC), lazy=True
                )
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
