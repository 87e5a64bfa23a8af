"""RFC 9162 §2.1 Merkle tree hashing, proofs and proof verification. Pure: no I/O.

Two layers live here:

* the public list API that third-party verifiers call (``root``, ``inclusion_proof``,
  ``consistency_proof`` over a list of leaf hashes, and ``verify_inclusion`` /
  ``verify_consistency``), whose names and signatures are a published contract;
* the range planning a store uses to answer the same questions in O(log n) reads: every hash a
  proof needs is the hash of a leaf range ``[lo, hi)``, and every such range is the right fold of
  a few *perfect* subtrees, addressed as ``(level, index)`` and covering leaves
  ``[index << level, (index + 1) << level)``. A store keeps the perfect subtrees; these functions
  say which ones to read and how to combine them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from safepassage.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "NodeId",
    "consistency_proof",
    "consistency_ranges",
    "fold_range",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "resolve_ranges",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""A perfect subtree ``(level, index)``: leaves ``[index << level, (index + 1) << level)``."""

Range = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (for ``n > 1``), as RFC 9162 splits trees."""
    return 1 << ((n - 1).bit_length() - 1)


# --- range planning: which perfect subtrees make up each hash a proof needs ---------------------


def range_nodes(lo: int, hi: int) -> list[NodeId]:
    """The perfect subtrees tiling ``[lo, hi)``, left to right, each as large as alignment allows.

    For every range that occurs in an RFC 9162 tree (a left child is perfect; only the right
    edge is not), the tree hash of the range is the right fold of these subtrees' hashes.
    """
    if not 0 <= lo < hi:
        raise ProofError(f"empty or negative range [{lo}, {hi})", field="range")
    out: list[NodeId] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo:
            level = min(level, (lo & -lo).bit_length() - 1)
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def fold_range(hashes: Sequence[bytes]) -> bytes:
    """The tree hash of a range from its perfect subtrees' hashes (``range_nodes`` order)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose tree hashes form the inclusion proof of ``index`` at ``size``.

    Ordered from the leaf's sibling up to the root's child, as RFC 9162 §2.1.3.1 lists them.
    """
    if not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of size {size}", field="index")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(size1: int, size2: int) -> list[Range]:
    """The leaf ranges whose tree hashes form the consistency proof from ``size1`` to ``size2``.

    RFC 9162 §2.1.4.1 SUBPROOF, unrolled; ordered as the RFC lists the proof.
    """
    if not 0 < size1 <= size2:
        raise ProofError(
            f"needs 0 < size1 <= size2, got size1={size1}, size2={size2}", field="size1"
        )
    out: list[Range] = []
    lo, hi, m = 0, size2, size1
    whole = True  # the RFC's ``b``: is the subtree we descend into the old tree itself?
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


def resolve_ranges(
    ranges: Iterable[Range],
    fetch: Callable[[list[NodeId]], Mapping[NodeId, bytes]],
) -> list[bytes]:
    """The tree hash of each range, reading every perfect subtree it needs in one ``fetch``."""
    plans = [range_nodes(lo, hi) for lo, hi in ranges]
    wanted = sorted({node for plan in plans for node in plan})
    got = fetch(wanted) if wanted else {}
    return [fold_range([got[node] for node in plan]) for plan in plans]


# --- the list API ---------------------------------------------------------------------------


def _levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every perfect subtree hash, level by level, for a tree held in memory."""
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def _list_fetch(leaf_hashes: Sequence[bytes]) -> Callable[[list[NodeId]], Mapping[NodeId, bytes]]:
    levels = _levels(leaf_hashes)
    return lambda ids: {(lvl, idx): levels[lvl][idx] for lvl, idx in ids}


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The tree hash of a list of leaf hashes; SHA-256 of the empty string for no leaves."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return resolve_ranges([(0, len(leaf_hashes))], _list_fetch(leaf_hashes))[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf ``index`` in the tree of all ``leaf_hashes``."""
    ranges = inclusion_ranges(index, len(leaf_hashes))
    return resolve_ranges(ranges, _list_fetch(leaf_hashes))


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """The RFC 9162 consistency proof from the first ``size1`` leaves to all of them."""
    ranges = consistency_ranges(size1, len(leaf_hashes))
    return resolve_ranges(ranges, _list_fetch(leaf_hashes))


# --- verification ----------------------------------------------------------------------------


def _check_hash(value: object, field: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ProofError(f"must be a {HASH_SIZE}-byte hash, got {got}", field=field)


def _check_size(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"must be a non-negative integer, got {value!r}", field=field)
    return value


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    RFC 9162 §2.1.3.2; raises ``ProofError`` naming what failed, returns ``None`` when valid.
    """
    _check_hash(leaf_hash, "leaf_hash")
    _check_hash(root, "root")
    index = _check_size(index, "index")
    tree_size = _check_size(tree_size, "tree_size")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    if index >= tree_size:
        raise ProofError(f"index {index} is not below tree size {tree_size}", field="index")
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("proof has more hashes than the tree has levels", field="proof")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof has fewer hashes than the path needs", field="proof")
    if r != root:
        raise ProofError("proof does not lead to the root", field="root")


def _check_consistency_inputs(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Reject malformed input; return True when equal sizes make the proof trivially valid."""
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    size1 = _check_size(size1, "size1")
    size2 = _check_size(size2, "size2")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    if size1 == 0:
        raise ProofError("the empty tree proves nothing; size1 must be at least 1", field="size1")
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}", field="size1")
    if size1 == size2:
        if proof:
            raise ProofError("must be empty for equal sizes", field="proof")
        if root1 != root2:
            raise ProofError("equal sizes with different roots", field="root2")
        return True
    if not proof:
        raise ProofError("is empty for different sizes", field="proof")
    return False


def verify_consistency(  # noqa: C901 - RFC 9162 §2.1.4.2 kept step for step
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size1`` with ``root1`` is a prefix of ``size2`` with ``root2``.

    RFC 9162 §2.1.4.2, plus the rules the RFC leaves implicit: every hash is 32 bytes, size1 is
    at least 1 and at most size2, and equal sizes need an empty proof and equal roots.
    """
    if _check_consistency_inputs(size1, size2, proof, root1, root2):
        return
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # old tree is a perfect subtree: its root starts the path
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof has more hashes than the trees need", field="proof")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof has fewer hashes than the trees need", field="proof")
    if fr != root1:
        raise ProofError("proof does not lead to the old root", field="root1")
    if sr != root2:
        raise ProofError("proof does not lead to the new root", field="root2")
