"""The storage interface of an operation's log, and the proof logic every backend shares.

A store keeps three things: the entries (opaque bytes, indexed from 0), the hash of every
*perfect* subtree (``(level, index)``, leaves at level 0), and the signed checkpoints it has
issued. Roots and proofs are computed here from O(log n) perfect-subtree reads, so a backend
only implements plain reads and one durable batch write. The contract suite in
``tests/ledger/store_contract.py`` is what a new backend must pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Self

from safepassage.errors import StoreError
from safepassage.ledger import merkle

__all__ = ["MAX_ENTRY_BYTES", "Census", "Frontier", "LogStore", "StoredCheckpoint"]

MAX_ENTRY_BYTES = 1 << 20
"""The largest entry a log takes: an event is a few kilobytes; a megabyte is a mistake."""


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint note as the store keeps it, keyed by the tree size it commits to."""

    size: int
    note: str


@dataclass(frozen=True)
class Census:
    """Counts and bounds of every stored row, whatever its index: what an audit must account for.

    ``None`` bounds mean the table is empty.
    """

    entries: int
    min_entry: int | None
    max_entry: int | None
    nodes: int
    min_level: int | None
    max_level: int | None
    min_node_index: int | None
    odd_rows: int  # rows whose index or level is not an integer at all


class Frontier:
    """The right edge of the tree: the perfect subtrees that tile ``[0, size)``.

    Appending a leaf merges equal-level subtrees from the right, which yields exactly the new
    perfect subtrees a store must write. Pure: the caller persists what ``append`` returns.
    """

    __slots__ = ("_edge", "size")

    def __init__(self, size: int, edge: Sequence[tuple[int, int, bytes]]) -> None:
        expected = merkle.range_nodes(0, size) if size else []
        if [(lvl, idx) for lvl, idx, _ in edge] != expected:
            raise StoreError(f"right edge does not tile a tree of size {size}", field="nodes")
        self.size = size
        self._edge = list(edge)

    @staticmethod
    def ids(size: int) -> list[merkle.NodeId]:
        """The perfect subtrees a frontier of ``size`` is made of."""
        return merkle.range_nodes(0, size) if size else []

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return every new perfect subtree as ``(level, index, hash)``."""
        level, index, h = 0, self.size, leaf
        made = [(level, index, h)]
        while self._edge and self._edge[-1][0] == level:
            _, _, left = self._edge.pop()
            level, index, h = level + 1, index >> 1, merkle.node_hash(left, h)
            made.append((level, index, h))
        self._edge.append((level, index, h))
        self.size += 1
        return made

    def root(self) -> bytes:
        """The tree hash of everything appended so far."""
        if not self._edge:
            return merkle.EMPTY_ROOT
        return merkle.fold_range([h for _, _, h in self._edge])


class LogStore(ABC):
    """One operation's log, on some database. Backends implement the abstract methods.

    Contract: ``append``/``append_batch`` return only once the entries are durable, indexes are
    contiguous from 0, entries and subtree hashes are never changed once written, and concurrent
    callers (threads, and processes sharing the database) never get the same index.
    """

    # --- what a backend implements ---------------------------------------------------------

    @property
    @abstractmethod
    def origin(self) -> str:
        """The log's origin line (its name in checkpoints)."""

    @abstractmethod
    def size(self) -> int:
        """How many entries are durable now."""

    @abstractmethod
    def append_batch(self, entries: Sequence[bytes]) -> int:
        """Append entries durably in one transaction; return the index of the first."""

    @abstractmethod
    def entry(self, index: int) -> bytes:
        """The entry at ``index``; ``StoreError`` when there is none."""

    @abstractmethod
    def iter_entries(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, entry)`` in index order, exactly as stored (gaps are not filled)."""

    @abstractmethod
    def nodes(self, ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        """The stored hashes of these perfect subtrees; ``StoreError`` names a missing one."""

    @abstractmethod
    def iter_level(self, level: int) -> Iterator[tuple[int, bytes]]:
        """``(index, hash)`` of every stored subtree at ``level``, in index order."""

    @abstractmethod
    def census(self) -> Census:
        """Count and bound every stored entry and subtree row (for the audit)."""

    @abstractmethod
    def put_checkpoint(self, size: int, note: str) -> None:
        """Keep the signed checkpoint note for ``size``, replacing the one kept for that size.

        The log replaces a note only with the same checkpoint carrying more cosignatures.
        """

    @abstractmethod
    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every kept checkpoint, by size."""

    @abstractmethod
    def durability(self) -> dict[str, str]:
        """The settings that decide whether a commit survives a power loss, as the database
        applies them to the connection appends use (``ledger.durability`` judges them)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""

    # --- shared behaviour ------------------------------------------------------------------

    def append(self, entry: bytes) -> int:
        """Append one entry durably; return its index. Backends may group-commit this."""
        return self.append_batch([entry])

    async def append_async(self, entries: Sequence[bytes]) -> int:
        """``append_batch`` for asyncio callers; backends may answer without a thread each."""
        return await asyncio.to_thread(self.append_batch, entries)

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """Reads inside see one consistent state of the store, whatever writers do meanwhile."""
        return contextlib.nullcontext()

    def structural_problems(self) -> list[str]:
        """The database's own integrity check of its files; empty when sound or not offered."""
        return []

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The kept checkpoint with the largest size, if any."""
        kept = self.checkpoints()
        return kept[-1] if kept else None

    def leaf_hash(self, index: int) -> bytes:
        """The stored leaf hash of entry ``index``."""
        return self.nodes([(0, index)])[(0, index)]

    def _size_at(self, size: int | None) -> int:
        current = self.size()
        if size is None:
            return current
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= current:
            raise StoreError(f"must be between 0 and the log size {current}", field="size")
        return size

    def _fetch(self, ids: list[merkle.NodeId]) -> Mapping[merkle.NodeId, bytes]:
        return self.nodes(ids)

    _committed: tuple[int, bytes] | None = None
    """The size and root at this store's own last commit (backends set it): a writer asks for
    that root right after appending, and it is known without reading anything."""

    def root(self, size: int | None = None) -> bytes:
        """The tree hash at ``size`` (default: now), from O(log n) stored subtrees."""
        committed = self._committed
        if committed is not None and type(size) is int and size == committed[0]:
            return committed[1]  # a size once committed has this root for ever
        size = self._size_at(size)
        if size == 0:
            return merkle.EMPTY_ROOT
        return merkle.resolve_ranges([(0, size)], self._fetch)[0]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of entry ``index`` in the tree at ``size``."""
        size = self._size_at(size)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            raise StoreError(f"must be below the tree size {size}", field="index")
        return merkle.resolve_ranges(merkle.inclusion_ranges(index, size), self._fetch)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from ``size1`` to ``size2`` (default: now)."""
        size2 = self._size_at(size2)
        if isinstance(size1, bool) or not isinstance(size1, int) or not 0 < size1 <= size2:
            raise StoreError(f"must be between 1 and {size2}", field="size1")
        return merkle.resolve_ranges(merkle.consistency_ranges(size1, size2), self._fetch)

    def frontier(self, size: int | None = None) -> Frontier:
        """The right edge of the tree at ``size``, read from storage."""
        size = self._size_at(size)
        ids = Frontier.ids(size)
        got = self.nodes(ids) if ids else {}
        return Frontier(size, [(lvl, idx, got[(lvl, idx)]) for lvl, idx in ids])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
