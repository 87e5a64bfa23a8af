"""Our side of the benchmark: the safepassage log doing the jobs ``peer_pymerkle.py`` measures.

Same shape as the peer module: every function takes a work directory (or a built log) and
returns plain numbers, and the entries are the peer's ``make_entry`` so both sides hold the
same tree. Durability is the store's own: ``append``/``append_batch`` return only after the
commit is fsynced (WAL, ``synchronous=FULL``); nothing here relaxes it.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peer_pymerkle import make_entry, timed_appenders
from safepassage.ledger import merkle
from safepassage.ledger.audit import audit
from safepassage.ledger.log import DB_FILE, Log
from safepassage.ledger.sqlite import SqliteLogStore

ORIGIN = "bench.example/log"
BUILD_CHUNK = 100_000

Tick = Callable[[int], None]


def _no_tick(_: int) -> None:
    pass


@dataclass(frozen=True)
class AppendRun:
    """One timed append run: entries per second, and how many transactions carried them."""

    rate: float
    entries: int
    commits: int


def _fresh_store(workdir: Path, name: str) -> SqliteLogStore:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / name
    for stale in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    return SqliteLogStore.create(path, ORIGIN)


def durability(workdir: Path) -> dict[str, str]:
    """The journal mode and synchronous level our store's write connection really runs with."""
    store = _fresh_store(workdir, "probe.db")
    try:
        return store.durability()
    finally:
        store.close()


def durable_appends_one_at_a_time(workdir: Path, n: int) -> AppendRun:
    """``SqliteLogStore.append`` called ``n`` times from one thread, each durable on return."""
    store = _fresh_store(workdir, "durable.db")
    try:
        entries = [make_entry(i) for i in range(n)]
        append = store.append
        start = time.perf_counter()
        for data in entries:
            append(data)
        elapsed = time.perf_counter() - start
        if store.size() != n:
            raise RuntimeError("appends lost entries")
        return AppendRun(n / elapsed, n, store.commits)
    finally:
        store.close()


def concurrent_appends(workdir: Path, n_threads: int, per_thread: int) -> AppendRun:
    """``n_threads`` threads each calling ``append`` ``per_thread`` times on one store.

    Each call still returns only once its entry is durable; the store's writer thread
    commits whatever callers have queued in one transaction (group commit), and ``commits``
    says how many transactions that took. Timing runs from a barrier release to the last
    join, as in the peer's ``concurrent_appends``.
    """
    store = _fresh_store(workdir, "concurrent.db")
    try:
        elapsed = timed_appenders(n_threads, per_thread, store.append)
        total = n_threads * per_thread
        if store.size() != total:
            raise RuntimeError("concurrent appends lost entries")
        return AppendRun(total / elapsed, total, store.commits)
    finally:
        store.close()


def concurrent_appends_async(workdir: Path, n_tasks: int, per_task: int) -> AppendRun:
    """``n_tasks`` asyncio tasks on one event loop, each awaiting ``append_async`` per entry.

    The asyncio counterpart of ``concurrent_appends``: every await still returns only once
    its entry is durable, but the callers are coroutines on one thread, so no thread has to
    be woken per answer. Timing covers ``asyncio.gather`` of all tasks.
    """
    store = _fresh_store(workdir, "concurrent_async.db")

    async def run() -> float:
        async def worker(t: int) -> None:
            for i in range(per_task):
                await store.append_async([make_entry(t * per_task + i)])

        start = time.perf_counter()
        await asyncio.gather(*(worker(t) for t in range(n_tasks)))
        return time.perf_counter() - start

    try:
        elapsed = asyncio.run(run())
        total = n_tasks * per_task
        if store.size() != total:
            raise RuntimeError("concurrent appends lost entries")
        return AppendRun(total / elapsed, total, store.commits)
    finally:
        store.close()


def _load(store: SqliteLogStore, n: int, chunk: int, tick: Tick) -> float:
    """Seconds to append entries 0..n-1 with ``append_batch`` in chunks (generation included)."""
    start = time.perf_counter()
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        store.append_batch([make_entry(i) for i in range(lo, hi)])
        tick(hi - lo)
    return time.perf_counter() - start


def bulk_append(workdir: Path, n: int, chunk: int, tick: Tick = _no_tick) -> AppendRun:
    """``append_batch`` of ``chunk`` entries at a time, each batch one durable transaction."""
    store = _fresh_store(workdir, f"bulk_{chunk}.db")
    try:
        elapsed = _load(store, n, chunk, tick)
        return AppendRun(n / elapsed, n, store.commits)
    finally:
        store.close()


def _holds(log: Log, n: int) -> bool:
    store = log.store
    return (
        store.size() == n
        and n > 0
        and store.entry(0) == make_entry(0)
        and store.entry(n - 1) == make_entry(n - 1)
    )


def build_log(workdir: Path, n: int, tick: Tick = _no_tick) -> tuple[Log, float | None]:
    """An open log in ``workdir/ours_<n>`` holding entries ``make_entry(0..n-1)``.

    The directory is reused when its log already holds exactly these entries (build seconds
    None); otherwise it is rebuilt with ``append_batch`` in chunks of ``BUILD_CHUNK`` and the
    seconds that took are returned. Either way the log keeps signed checkpoints at ``n // 2``
    and ``n``, so an audit also opens signatures and checks consistency between them.
    """
    directory = workdir / f"ours_{n}"
    if (directory / DB_FILE).is_file():
        log = Log.open(directory)
        if _holds(log, n):
            _checkpoints(log, n)
            return log, None
        log.close()
    shutil.rmtree(directory, ignore_errors=True)
    log = Log.create(directory, ORIGIN)
    store = log.store
    if not isinstance(store, SqliteLogStore):
        raise TypeError("Log.create made a store that is not SQLite")
    elapsed = _load(store, n, BUILD_CHUNK, tick)
    _checkpoints(log, n)
    return log, elapsed


def _checkpoints(log: Log, n: int) -> None:
    for size in sorted({max(1, n // 2), n}):
        log.checkpoint(size)


def db_path(log: Log) -> Path:
    return log.directory / DB_FILE


# --------------------------------------------------------------------------- proofs


Call = tuple[str, tuple[int, ...]]


def inclusion_calls(indices: Sequence[int], size: int) -> list[Call]:
    return [("inclusion_proof", (i, size)) for i in indices]


def consistency_calls(size1s: Sequence[int], size2: int) -> list[Call]:
    return [("consistency_proof", (s1, size2)) for s1 in size1s]


def cold_latencies(
    path: Path, calls: Sequence[Call], *, connect_first: bool = False, tick: Tick = _no_tick
) -> list[float]:
    """Per-proof seconds, each proof on a store just opened (empty SQLite page cache).

    Only the proof call is timed. The store opens its per-thread read connection lazily, so
    the first proof on a fresh store includes opening that connection; ``connect_first=True``
    calls ``size()`` before the timer starts to show the proof alone (the entries table's
    right edge is then cached, the subtree hashes the proof reads are not).
    """
    timer = time.perf_counter
    out: list[float] = []
    for method, args in calls:
        store = SqliteLogStore.open(path)
        try:
            if connect_first:
                store.size()
            fn = getattr(store, method)
            start = timer()
            fn(*args)
            out.append(timer() - start)
        finally:
            store.close()
        tick(1)
    return out


def warm_latencies(
    store: SqliteLogStore, calls: Sequence[Call], tick: Tick = _no_tick
) -> list[float]:
    """Per-proof seconds on one long-lived store after the same proofs ran once unmeasured."""
    timer = time.perf_counter
    for method, args in calls:
        getattr(store, method)(*args)
    out: list[float] = []
    for method, args in calls:
        fn = getattr(store, method)
        start = timer()
        fn(*args)
        out.append(timer() - start)
        tick(1)
    return out


def verify_inclusion_latencies(store: Any, size: int, indices: Sequence[int]) -> list[float]:
    """Client side: seconds per ``merkle.verify_inclusion``; proofs are fetched beforehand."""
    root = store.root(size)
    jobs = [(store.leaf_hash(i), i, store.inclusion_proof(i, size)) for i in indices]
    out = []
    for leaf, index, proof in jobs:
        start = time.perf_counter()
        merkle.verify_inclusion(leaf, index, size, proof, root)
        out.append(time.perf_counter() - start)
    return out


def verify_consistency_latencies(store: Any, size1s: Sequence[int], size2: int) -> list[float]:
    """Client side: seconds per ``merkle.verify_consistency``; proofs are fetched beforehand."""
    root2 = store.root(size2)
    jobs = [(s1, store.root(s1), store.consistency_proof(s1, size2)) for s1 in size1s]
    out = []
    for s1, root1, proof in jobs:
        start = time.perf_counter()
        merkle.verify_consistency(s1, size2, proof, root1, root2)
        out.append(time.perf_counter() - start)
    return out


def audit_seconds(log_dir: Path, n: int, tick: Tick = _no_tick) -> tuple[float, int]:
    """Seconds for ``audit`` of a freshly opened log of ``n`` entries; and checkpoints checked.

    ``audit`` rehashes every entry, rebuilds every stored subtree hash from the level below,
    opens every kept checkpoint with the log's key and checks consistency between them.
    """
    log = Log.open(log_dir)
    done = 0

    def progress(count: int) -> None:
        nonlocal done
        tick(count - done)
        done = count

    try:
        start = time.perf_counter()
        result = audit(log.store, log.verifier, progress)
        elapsed = time.perf_counter() - start
    finally:
        log.close()
    if result.size != n:
        raise RuntimeError(f"audit saw {result.size} entries, expected {n}")
    return elapsed, result.checkpoints
