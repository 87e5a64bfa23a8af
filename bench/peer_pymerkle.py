"""Benchmark peer: pymerkle doing the jobs the safepassage log does.

pymerkle (PyPI, GPL-3.0) is a *benchmark peer only*. It is never imported by
``safepassage`` and is not one of its dependencies; install it for the bench with
``pip install -r bench/requirements.txt`` (or ``pip install 'pymerkle>=6'``).
Measured against pymerkle 7.0.0 on Python 3.11 / SQLite 3.40.

Every function takes a ``workdir`` for its files (or a tree built there) and returns
plain numbers, so a harness can print ratios against our own figures.

What pymerkle is, as read from its source (``pymerkle/core.py``,
``pymerkle/backends/sqlite.py``):

* ``SqliteTree(dbfile)`` stores only leaves: one table ``leaf(id INTEGER PRIMARY KEY
  AUTOINCREMENT, entry BLOB, hash BLOB)``, 1-based ids, append-only triggers. No
  interior node is ever stored on disk.
* Hashing is RFC 6962 / RFC 9162 (sha256, ``0x00`` leaf prefix, ``0x01`` node prefix),
  so for the same entries its root equals ours (``root_hex`` gives it for a cross-check).
* ``append_entry`` hashes the entry and runs one ``INSERT`` inside ``with self.con:``,
  i.e. **one transaction and one commit per append**. It computes no root.
* ``append_entries`` (SqliteTree override) is its bulk path: ``executemany`` in chunks
  of 100,000 rows, all inside **one** transaction.
* pymerkle sets no PRAGMA: the database stays in SQLite's default rollback-journal
  mode (``journal_mode=DELETE``) with the default ``synchronous=FULL`` (2); we set
  ``synchronous=FULL`` explicitly anyway. Under strace one durable append costs four
  ``fdatasync`` calls (journal, directory, journal, database).
* Every public method holds the tree's ``RLock``; the connection is opened with
  ``check_same_thread=False``, so one tree can be shared by threads and pymerkle
  serialises them itself.
* Interior hashes come from ``_get_subroot(offset, width)``: subtrees narrower than
  ``threshold`` (128 leaves) are recomputed from the leaf hashes on every call; wider
  ones are kept in an in-process ``cachetools.LRUCache`` (1 GiB by default) that
  ``tree.cache_clear()`` empties. Without that cache a proof must read and hash every
  leaf under each perfect subtree on its path, which is O(n) work per proof.
  ``disable_optimizations=True`` only swaps in the recursive RFC 9162 reference code
  (slower, still uncached below the threshold); it is not a cache switch, so we do not
  use it.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import pymerkle
    from pymerkle import SqliteTree
except ImportError:  # pragma: no cover - the peer is optional
    pymerkle = None
    SqliteTree = None

PAYLOAD_SIZE = 64


def pymerkle_version() -> str | None:
    """The installed pymerkle version, or None when it is not installed."""
    return None if pymerkle is None else str(pymerkle.__version__)


def _require() -> None:
    if pymerkle is None:
        raise RuntimeError(
            "pymerkle is a benchmark peer only; install it with "
            "`pip install -r bench/requirements.txt`"
        )


def make_entry(i: int) -> bytes:
    """The i-th (0-based) benchmark entry: ``b"entry %08d"`` padded with dots to 64 bytes."""
    return (b"entry %08d" % i).ljust(PAYLOAD_SIZE, b".")


def timed_appenders(n_threads: int, per_thread: int, append: Callable[[bytes], object]) -> float:
    """Seconds for ``n_threads`` threads to each ``append`` ``per_thread`` entries.

    Entries are made before the clock starts; timing runs from a barrier release to the last
    join. Shared by our measurements and the peer's, so both are timed the same way.
    """
    barrier = threading.Barrier(n_threads + 1)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        entries = [make_entry(t * per_thread + i) for i in range(per_thread)]
        barrier.wait()
        try:
            for data in entries:
                append(data)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    barrier.wait()
    start = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def _open(path: Path, journal_mode: str | None = None) -> Any:
    _require()
    tree = SqliteTree(str(path))
    if journal_mode is not None:
        tree.con.execute(f"PRAGMA journal_mode={journal_mode}")
    tree.con.execute("PRAGMA synchronous=FULL")
    return tree


def _fresh(workdir: Path, name: str, journal_mode: str | None = None) -> Any:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / name
    for stale in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    return _open(path, journal_mode)


def sqlite_modes(tree: Any) -> tuple[str, int]:
    """(journal_mode, synchronous) of a tree's connection, e.g. ("delete", 2)."""
    con = tree.con
    return con.execute("PRAGMA journal_mode").fetchone(), con.execute(
        "PRAGMA synchronous"
    ).fetchone()


# --------------------------------------------------------------------------- appends


def durable_appends_one_at_a_time(
    workdir: Path, n: int, *, journal_mode: str | None = None
) -> float:
    """Entries/second for ``n`` calls of ``SqliteTree.append_entry`` on a fresh file.

    Durability: pymerkle already commits each append in its own transaction
    (``with self.con:`` around one INSERT), so nothing is added; the connection gets
    ``PRAGMA synchronous=FULL``. Journal mode is pymerkle's default, which is SQLite's
    default rollback journal (``DELETE``): every commit syncs the journal, the directory,
    the journal again and the database (4 fdatasync). Pass ``journal_mode="WAL"`` to
    measure pymerkle in WAL + FULL (1 sync per commit) if our log runs in WAL; say so
    next to the figure, since that is no longer pymerkle as shipped.

    Each append is durable on return, as ours must be. pymerkle computes no root or
    checkpoint on append, so this is the cheapest durable append it offers.
    """
    tree = _fresh(workdir, "pymerkle_durable.db", journal_mode)
    try:
        append = tree.append_entry
        entries = [make_entry(i) for i in range(n)]
        start = time.perf_counter()
        for data in entries:
            append(data)
        elapsed = time.perf_counter() - start
        if tree.con.in_transaction or tree.get_size() != n:
            raise RuntimeError("pymerkle appends were not each committed")
    finally:
        tree.close()
    return n / elapsed


def concurrent_appends(
    workdir: Path, n_threads: int, per_thread: int, *, journal_mode: str | None = None
) -> float:
    """Entries/second with ``n_threads`` threads calling ``append_entry`` on one SqliteTree.

    pymerkle supports sharing one tree between threads: its connection is opened with
    ``check_same_thread=False`` and every public method takes the tree's ``RLock``, so
    appends are serialised inside pymerkle (no lock of ours is added). Each append is
    still its own durable transaction (same settings as
    ``durable_appends_one_at_a_time``); pymerkle has no group commit, so the threads
    only queue on the lock. Timing runs from a barrier release to the last join.
    """
    tree = _fresh(workdir, "pymerkle_concurrent.db", journal_mode)
    try:
        elapsed = timed_appenders(n_threads, per_thread, tree.append_entry)
        if tree.get_size() != n_threads * per_thread:
            raise RuntimeError("concurrent appends lost entries")
    finally:
        tree.close()
    return n_threads * per_thread / elapsed


def _bulk_load(tree: Any, n: int) -> float:
    start = time.perf_counter()
    size = tree.append_entries(make_entry(i) for i in range(n))
    elapsed = time.perf_counter() - start
    if size != n:
        raise RuntimeError(f"bulk load gave size {size}, expected {n}")
    return elapsed


def bulk_append(workdir: Path, n: int) -> float:
    """Entries/second loading ``n`` entries through ``SqliteTree.append_entries``.

    That is pymerkle's fastest supported path: entries are hashed and inserted with
    ``executemany`` in chunks of 100,000 inside a single transaction (one commit, the
    whole batch atomic), journal ``DELETE``, ``synchronous=FULL``. Entry generation is
    inside the timing (a generator, as a caller streaming records would pass).
    """
    tree = _fresh(workdir, "pymerkle_bulk.db")
    try:
        elapsed = _bulk_load(tree, n)
    finally:
        tree.close()
    return n / elapsed


def build_tree(workdir: Path, n: int) -> Any:
    """An open SqliteTree holding entries ``make_entry(0..n-1)``, for the proof functions.

    The file ``pymerkle_tree_<n>.db`` is reused when it already holds exactly these
    ``n`` entries; otherwise it is rebuilt with ``append_entries``. The returned tree has
    ``bench_build_seconds`` set (None when reused). Close it with ``tree.close()``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"pymerkle_tree_{n}.db"
    if path.exists():
        tree = _open(path)
        if (
            tree.get_size() == n
            and n > 0
            and tree.get_entry(1) == make_entry(0)
            and tree.get_entry(n) == make_entry(n - 1)
        ):
            tree.bench_build_seconds = None
            return tree
        tree.close()
    tree = _fresh(workdir, path.name)
    tree.bench_build_seconds = _bulk_load(tree, n)
    return tree


# --------------------------------------------------------------------------- proofs


def clear_caches(tree: Any) -> None:
    """Make the next pymerkle call cold: empty its subroot LRU cache and SQLite's page cache.

    ``cache_clear()`` drops every cached subtree root; ``PRAGMA shrink_memory`` releases the
    connection's page cache, as reopening the file would (reopening is not used because
    ``SqliteTree.__init__`` scans the whole table with ``COUNT(*)``). The OS page cache is
    left warm, as it is for our own cold figures.
    """
    tree.cache_clear()
    tree.con.execute("PRAGMA shrink_memory")


def _latencies(tree: Any, calls: list[tuple[Any, ...]], fn: Any, *, cold: bool) -> list[float]:
    timer = time.perf_counter
    out: list[float] = []
    if not cold:
        for args in calls:  # first pass fills the cache; not measured
            fn(*args)
    for args in calls:
        if cold:
            clear_caches(tree)
        start = timer()
        fn(*args)
        out.append(timer() - start)
    return out


def inclusion_proofs(
    tree: Any, size: int, indices: list[int], cold: bool, *, one_based: bool = False
) -> list[float]:
    """Per-proof latency (seconds) of ``tree.prove_inclusion(index, size)``.

    ``indices`` are 0-based leaf indices as in RFC 9162 (pymerkle counts from 1; 1 is
    added here) unless ``one_based=True``.

    cold=True: ``clear_caches`` before every proof, i.e. the state of a freshly started
    pymerkle process over an existing file (OS page cache warm). pymerkle then has no
    interior hashes at all and rebuilds each perfect subtree on the path from its leaf
    hashes, so a cold proof reads and hashes about ``size`` leaves. This is the fair
    counterpart of our cold proof, which reads the stored nodes it needs.

    cold=False (warm): the same proofs run once unmeasured, then measured; every subroot
    of width >= 128 on their paths is then in pymerkle's LRU cache (never evicted at
    these sizes), while narrower ones are recomputed from <=127 leaf hashes per level
    on each call, as pymerkle always does.
    """
    offset = 0 if one_based else 1
    calls = [(i + offset, size) for i in indices]
    return _latencies(tree, calls, tree.prove_inclusion, cold=cold)


def consistency_proofs(tree: Any, size1s: list[int], size2: int, cold: bool) -> list[float]:
    """Per-proof latency (seconds) of ``tree.prove_consistency(size1, size2)``.

    Sizes are leaf counts (1 <= size1 <= size2), the same in both numberings. Cold and
    warm mean exactly what they mean in ``inclusion_proofs``.
    """
    calls = [(s1, size2) for s1 in size1s]
    return _latencies(tree, calls, tree.prove_consistency, cold=cold)


def verify_all(tree: Any, n: int, *, rehash_entries: bool = True) -> float:
    """Seconds for pymerkle's closest equivalent of verifying the whole log of ``n`` entries.

    pymerkle has no verify-everything call. With caches cleared, this

    1. (``rehash_entries=True``) reads every stored entry with its stored leaf hash, in
       id order, re-hashes the entry with pymerkle's own ``hash_buff`` and checks it
       matches: the stored data really is what the leaves commit to;
    2. recomputes the root from scratch with ``tree.get_root(n)`` (cold, so from every
       leaf hash).

    Together that is what full verification of a log means (every entry re-hashed, the
    root rebuilt). ``rehash_entries=False`` times step 2 alone, i.e. pymerkle's cold
    ``get_root``. No signature is checked: pymerkle has no signed checkpoints.
    """
    clear_caches(tree)
    start = time.perf_counter()
    if rehash_entries:
        cur = tree.con.cursor()
        cur.row_factory = None
        cur.execute("SELECT id, entry, hash FROM leaf WHERE id <= ? ORDER BY id", (n,))
        hash_buff = tree.hash_buff
        expected = 1
        while rows := cur.fetchmany(10_000):
            for leaf_id, entry, digest in rows:
                if leaf_id != expected or hash_buff(entry) != digest:
                    raise RuntimeError(f"leaf {leaf_id} does not verify")
                expected += 1
        cur.close()
        if expected != n + 1:
            raise RuntimeError("fewer leaves than expected")
    tree.get_root(n)
    return time.perf_counter() - start


def verify_inclusion_latencies(tree: Any, size: int, indices: list[int]) -> list[float]:
    """Extra: per-proof seconds of ``pymerkle.verify_inclusion`` (client side, 0-based indices).

    Proofs, leaf hashes and the root are produced beforehand; only verification is timed.
    """
    root = tree.get_root(size)
    jobs = [(tree.get_leaf(i + 1), tree.prove_inclusion(i + 1, size)) for i in indices]
    out = []
    for base, proof in jobs:
        start = time.perf_counter()
        pymerkle.verify_inclusion(base, root, proof)
        out.append(time.perf_counter() - start)
    return out


def verify_consistency_latencies(tree: Any, size1s: list[int], size2: int) -> list[float]:
    """Extra: per-proof seconds of ``pymerkle.verify_consistency`` (client side)."""
    later = tree.get_root(size2)
    jobs = [(tree.get_root(s1), tree.prove_consistency(s1, size2)) for s1 in size1s]
    out = []
    for prior, proof in jobs:
        start = time.perf_counter()
        pymerkle.verify_consistency(prior, later, proof)
        out.append(time.perf_counter() - start)
    return out


def root_hex(tree: Any, size: int) -> str:
    """pymerkle's root for the first ``size`` leaves, hex: must equal ours for the same entries."""
    return str(tree.get_root(size).hex())


def rfc9162_root(entries: list[bytes]) -> bytes:
    """Independent RFC 9162 MTH, used by the self-check to confirm pymerkle hashes as we do."""
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1 << ((len(entries) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + rfc9162_root(entries[:k]) + rfc9162_root(entries[k:])).digest()


# --------------------------------------------------------------------------- CLI


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _us(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1e6:>11.1f}  p99 {percentile(values, 99) * 1e6:>11.1f}"
        f"  (n={len(values)})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("bench-out/pymerkle"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--durable-n", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--per-thread", type=int, default=500)
    parser.add_argument("--proofs", type=int, default=200, help="warm proofs per size")
    parser.add_argument("--cold-proofs", type=int, default=50, help="cold proofs per size")
    parser.add_argument("--journal-mode", default=None, help="e.g. WAL; default: pymerkle's")
    args = parser.parse_args(argv)
    _require()
    rng = random.Random(9162)
    wd: Path = args.workdir

    print(f"pymerkle {pymerkle_version()}")
    probe = _fresh(wd, "pymerkle_probe.db", args.journal_mode)
    journal, sync = sqlite_modes(probe)
    print(f"sqlite journal_mode={journal} synchronous={sync}")
    probe.close()

    rate = durable_appends_one_at_a_time(wd, args.durable_n, journal_mode=args.journal_mode)
    print(f"durable appends, one at a time ({args.durable_n}): {rate:10.0f} entries/s")
    rate = concurrent_appends(wd, args.threads, args.per_thread, journal_mode=args.journal_mode)
    print(f"concurrent appends ({args.threads}x{args.per_thread}):      {rate:10.0f} entries/s")

    for n in args.sizes:
        print(f"\n== n = {n:,}")
        print(f"bulk_append (append_entries): {bulk_append(wd, n):10.0f} entries/s")
        tree = build_tree(wd, n)
        built = tree.bench_build_seconds
        if built is None:
            print("build: reused existing file")
        else:
            print(f"build (append_entries): {built:8.2f} s = {n / built:10.0f} entries/s")
        if n <= 10_000:
            ours = rfc9162_root([make_entry(i) for i in range(n)])
            if tree.get_root(n) != ours:
                raise RuntimeError("pymerkle root differs from RFC 9162")
            print("root matches independent RFC 9162 computation")

        idx = [rng.randrange(n) for _ in range(args.proofs)]
        cold_idx = idx[: args.cold_proofs]
        s1 = [rng.randint(1, n) for _ in range(args.proofs)]
        cold_s1 = s1[: args.cold_proofs]
        print("inclusion   warm", _us(inclusion_proofs(tree, n, idx, cold=False)))
        print("inclusion   cold", _us(inclusion_proofs(tree, n, cold_idx, cold=True)))
        print("consistency warm", _us(consistency_proofs(tree, s1, n, cold=False)))
        print("consistency cold", _us(consistency_proofs(tree, cold_s1, n, cold=True)))
        few = idx[:50]
        print("verify incl  (client)", _us(verify_inclusion_latencies(tree, n, few)))
        print("verify cons  (client)", _us(verify_consistency_latencies(tree, s1[:50], n)))
        full = verify_all(tree, n)
        root_only = verify_all(tree, n, rehash_entries=False)
        print(f"verify_all: {full:8.3f} s  (cold get_root alone {root_only:.3f} s)")
        print(f"  = {n / full:10.0f} entries/s")
        tree.close()


if __name__ == "__main__":
    main()
