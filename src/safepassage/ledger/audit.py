"""Full verification of a stored log: recompute every hash, check every checkpoint.

``audit`` trusts nothing it reads: it rehashes every entry, rebuilds every stored subtree hash
from the level below, opens every kept checkpoint with the log's verifier key, compares its root
with the recomputed tree and checks each checkpoint is consistent with the one before. The first
problem is raised as ``VerificationError`` naming the first bad entry when one can be named.
It reads in index order with O(1) memory; the caller may pass a progress callback. It never
repairs anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from safepassage.errors import ProofError, SafepassageError, StoreError, VerificationError
from safepassage.ledger import merkle
from safepassage.ledger.checkpoint import Checkpoint, open_checkpoint
from safepassage.ledger.note import Verifier
from safepassage.ledger.store import LogStore

__all__ = ["AuditResult", "audit"]

Progress = Callable[[int], None]


@dataclass(frozen=True)
class AuditResult:
    """What a successful audit checked."""

    size: int
    root: bytes
    checkpoints: int


def _span(level: int, index: int) -> str:
    first = index << level
    last = ((index + 1) << level) - 1
    return f"entry {first}" if first == last else f"entries {first}-{last}"


def _check_leaves(store: LogStore, progress: Progress | None) -> int:
    """Rehash every entry against its stored leaf hash; return how many entries there are."""
    leaves = store.iter_level(0)
    expected = 0
    for index, data in store.iter_entries():
        if index != expected:
            raise VerificationError(f"entry {expected} is missing", field="entries", index=expected)
        stored = next(leaves, None)
        if stored is None or stored[0] != index:
            raise VerificationError(
                f"entry {index}: its leaf hash is missing", field="nodes", index=index
            )
        if merkle.leaf_hash(data) != stored[1]:
            raise VerificationError(
                f"entry {index}: its bytes do not match its stored leaf hash",
                field="entries",
                index=index,
            )
        expected += 1
        if progress is not None and expected % 4096 == 0:
            progress(expected)
    extra = next(leaves, None)
    if extra is not None:
        raise VerificationError(
            f"entry {expected} is missing (its leaf hash is stored)",
            field="entries",
            index=expected,
        )
    return expected


def _pairs(hashes: Iterator[tuple[int, bytes]]) -> Iterator[bytes]:
    for (_, left), (_, right) in zip(hashes, hashes, strict=False):
        yield merkle.node_hash(left, right)


def _check_level(store: LogStore, level: int, size: int) -> None:
    """Every stored subtree at ``level`` equals the hash of its two verified children."""
    want = size >> level
    stored = store.iter_level(level)
    for index, expected in enumerate(_pairs(store.iter_level(level - 1))):
        if index >= want:
            break
        got = next(stored, None)
        if got is None or got[0] != index:
            missing = index if got is None else min(index, got[0])
            raise VerificationError(
                f"hash of subtree (level {level}, index {missing}) over "
                f"{_span(level, missing)} is missing",
                field="nodes",
                index=missing << level,
            )
        if got[1] != expected:
            raise VerificationError(
                f"hash of subtree (level {level}, index {index}) over "
                f"{_span(level, index)} does not match its children",
                field="nodes",
                index=index << level,
            )
    extra = next(stored, None)
    if extra is not None:
        raise VerificationError(
            f"hash of subtree (level {level}, index {extra[0]}) covers entries that are not stored",
            field="nodes",
            index=size,
        )


def _check_checkpoints(store: LogStore, verifier: Verifier, size: int) -> int:
    previous: Checkpoint | None = None
    kept = store.checkpoints()
    for row in kept:
        field = f"checkpoint {row.size}"
        try:
            checkpoint, _ = open_checkpoint(row.note, verifier)
        except SafepassageError as exc:
            raise VerificationError(f"{field}: {exc}", field=field) from exc
        if checkpoint.size != row.size:
            raise VerificationError(
                f"{field}: the signed note says size {checkpoint.size}", field=field
            )
        if checkpoint.size > size:
            raise VerificationError(
                f"entry {size} is missing: the log signed a checkpoint at size {checkpoint.size}",
                field="entries",
                index=size,
            )
        if checkpoint.size and store.root(checkpoint.size) != checkpoint.root:
            start = previous.size if previous else 0
            raise VerificationError(
                f"entries {start}-{checkpoint.size - 1} do not match the signed checkpoint at "
                f"size {checkpoint.size}"
                + (f" (the checkpoint at size {start} matches)" if previous else ""),
                field="entries",
                index=start,
            )
        if checkpoint.size == 0 and checkpoint.root != merkle.EMPTY_ROOT:
            raise VerificationError(f"{field}: an empty tree with a non-empty root", field=field)
        if previous is not None and previous.size > 0:
            try:
                merkle.verify_consistency(
                    previous.size,
                    checkpoint.size,
                    store.consistency_proof(previous.size, checkpoint.size),
                    previous.root,
                    checkpoint.root,
                )
            except ProofError as exc:
                raise VerificationError(
                    f"{field} is not consistent with checkpoint {previous.size}: {exc}",
                    field=field,
                    index=previous.size,
                ) from exc
        previous = checkpoint
    return len(kept)


def _check_census(store: LogStore, size: int) -> None:
    """Every stored row is accounted for: no entry or subtree outside the tree of ``size``."""
    census = store.census()
    if census.entries != size or (census.min_entry is not None and census.min_entry < 0):
        raise VerificationError(
            f"the store holds {census.entries} entry rows for a log of {size} entries "
            f"(indexes {census.min_entry} to {census.max_entry})",
            field="entries",
            index=size,
        )
    want = 2 * size - size.bit_count()
    if census.odd_rows or census.nodes != want or (census.min_level or 0) < 0:
        raise VerificationError(
            f"the store holds {census.nodes + census.odd_rows} subtree hashes where a log of "
            f"{size} entries has {want}",
            field="nodes",
            index=size,
        )
    if census.min_node_index is not None and census.min_node_index < 0:
        raise VerificationError("a subtree hash has a negative index", field="nodes", index=0)


def audit(store: LogStore, verifier: Verifier, progress: Progress | None = None) -> AuditResult:
    """Verify everything stored; ``VerificationError`` names the first problem found.

    Runs in one read snapshot, so appends made meanwhile by others are neither seen nor
    mistaken for damage.
    """
    if store.origin != verifier.name:
        raise VerificationError(
            f"the store's origin {store.origin!r} is not the key's name {verifier.name!r}",
            field="origin",
        )
    try:
        with store.snapshot():
            problems = store.structural_problems()
            if problems:
                raise VerificationError(f"the store file is damaged: {problems[0]}", field="store")
            size = _check_leaves(store, progress)
            # up to one level above the root, so no level may hold more than the entries support
            for level in range(1, size.bit_length() + 1):
                _check_level(store, level, size)
            _check_census(store, size)
            if progress is not None:
                progress(size)
            count = _check_checkpoints(store, verifier, size)
            return AuditResult(size=size, root=store.root(size), checkpoints=count)
    except StoreError as exc:
        raise VerificationError(f"the store cannot be read: {exc.reason}", field="store") from exc
