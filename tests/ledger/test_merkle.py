"""RFC 9162 hashing and proofs: published vectors, then properties over many tree sizes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safepassage.errors import ProofError, SafepassageError
from safepassage.ledger import merkle
from tests.strategies import flip_bit
from tests.vectors import load_vectors

ROOTS = load_vectors("roots.json")
INCLUSION = load_vectors("inclusion.json")["vectors"]
CONSISTENCY = load_vectors("consistency.json")["vectors"]

# Upstream (Go) accepts this case because its roots are never compared with anything: the sizes
# are equal, the proof empty, and both "roots" are the same 12 bytes ("don't care 2"). Issue #2
# and the vectors' README require every hash to be exactly 32 bytes, so we reject it; the test
# below proves the rejection is for the length and nothing else.
STRICTER_THAN_UPSTREAM = {"sizes are equal (one) and proof is empty"}


def _hex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _ids(vectors: list[dict[str, object]]) -> list[str]:
    return [f"{v['source']}:{v['desc']}" for v in vectors]


def test_proof_error_is_a_safepassage_error() -> None:
    assert issubclass(ProofError, SafepassageError)


def test_hasher_vectors() -> None:
    for case in ROOTS["hasher_vectors"]:
        if case["kind"] == "empty_root":
            assert merkle.root([]).hex() == case["want"]
        elif case["kind"] == "leaf":
            assert merkle.leaf_hash(bytes.fromhex(case["input_hex"])).hex() == case["want"]
        else:
            got = merkle.node_hash(
                bytes.fromhex(case["left_hex"]), bytes.fromhex(case["right_hex"])
            )
            assert got.hex() == case["want"]


@pytest.mark.parametrize("case", ROOTS["roots"], ids=lambda c: f"size{c['tree_size']}")
def test_root_vectors(case: dict[str, object]) -> None:
    leaves = [merkle.leaf_hash(d) for d in _hex(case["leaves_hex"])]  # type: ignore[arg-type]
    assert merkle.root(leaves).hex() == case["root_hex"]


def test_node_hashes_by_level() -> None:
    leaves = [merkle.leaf_hash(d) for d in _hex(ROOTS["leaf_inputs_hex"])]
    for level in ROOTS["node_hashes_by_level"]:
        lvl = level["level"]
        for idx, want in enumerate(level["hashes_hex"]):
            lo, hi = idx << lvl, (idx + 1) << lvl
            assert merkle.root(leaves[lo:hi]).hex() == want


def test_rolling_subtree_digests() -> None:
    # transparency-dev's vectors_test.go hashes, over leaves d[i] = byte i for 130 leaves, the
    # concatenation of every subtree hash / proof; we recompute the roots it is built from.
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(130)]
    for n in range(1, 131):
        assert merkle.root(leaves[:n]) == merkle.fold_range(
            [
                merkle.root(leaves[(i << lvl) : (i + 1) << lvl])
                for lvl, i in merkle.range_nodes(0, n)
            ]
        )


@pytest.mark.parametrize("case", INCLUSION, ids=_ids(INCLUSION))
def test_inclusion_vectors(case: dict[str, object]) -> None:
    leaf = (
        bytes.fromhex(case["leaf_hash_hex"])  # type: ignore[arg-type]
        if case.get("leaf_hash_hex") is not None
        else merkle.leaf_hash(bytes.fromhex(case["leaf_data_hex"]))  # type: ignore[arg-type]
    )
    args = (
        leaf,
        case["leaf_index"],
        case["tree_size"],
        _hex(case["proof_hex"]),  # type: ignore[arg-type]
        bytes.fromhex(case["root_hex"]),  # type: ignore[arg-type]
    )
    if case["want_valid"]:
        merkle.verify_inclusion(*args)  # type: ignore[arg-type]
        if case.get("leaves_hex"):
            leaves = [merkle.leaf_hash(d) for d in _hex(case["leaves_hex"])]  # type: ignore[arg-type]
            proof = merkle.inclusion_proof(leaves, case["leaf_index"])  # type: ignore[arg-type]
            assert [p.hex() for p in proof] == case["proof_hex"]
    else:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", CONSISTENCY, ids=_ids(CONSISTENCY))
def test_consistency_vectors(case: dict[str, object]) -> None:
    args = (
        case["size1"],
        case["size2"],
        _hex(case["proof_hex"]),  # type: ignore[arg-type]
        bytes.fromhex(case["root1_hex"]),  # type: ignore[arg-type]
        bytes.fromhex(case["root2_hex"]),  # type: ignore[arg-type]
    )
    if case["desc"] in STRICTER_THAN_UPSTREAM:
        with pytest.raises(ProofError, match="32-byte hash") as err:
            merkle.verify_consistency(*args)  # type: ignore[arg-type]
        assert err.value.field == "root1"
        same = hashlib.sha256(b"x").digest()
        merkle.verify_consistency(case["size1"], case["size2"], [], same, same)  # type: ignore[arg-type]
        return
    if case["want_valid"]:
        merkle.verify_consistency(*args)  # type: ignore[arg-type]
        if case.get("leaves_hex") and case["size1"]:
            leaves = [merkle.leaf_hash(d) for d in _hex(case["leaves_hex"])]  # type: ignore[arg-type]
            proof = merkle.consistency_proof(leaves[: case["size2"]], case["size1"])  # type: ignore[arg-type,misc]
            assert [p.hex() for p in proof] == case["proof_hex"]
    else:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)  # type: ignore[arg-type]


def test_exactly_one_vector_is_stricter_than_upstream() -> None:
    listed = {c["desc"] for c in CONSISTENCY + INCLUSION}
    assert listed >= STRICTER_THAN_UPSTREAM


# --- properties ------------------------------------------------------------------------------
#
# A proof commits to a tree size only through the shape of its path: which side each sibling
# hash stands on, and how many there are. Two sizes with the same shape for one index (index 0
# in trees of 66 and 67 leaves) give the verifier the same computation, so no verifier can tell
# them apart from the hashes alone; the size is bound to the root by the signed checkpoint
# (see test_checkpoint / test_proof). The properties below therefore assert the exact statement:
# a changed size or index is rejected if and only if it changes the path's shape.


def inclusion_shape(index: int, size: int) -> tuple[bool, ...] | None:
    """Which side each proof hash stands on (True: left of the leaf); None if impossible."""
    if not 0 <= index < size:
        return None
    return tuple(hi <= index for _, hi in merkle.inclusion_ranges(index, size))


def consistency_shape(size1: int, size2: int) -> tuple[bool, ...] | None:
    """Whether the old root starts the path, then which proof hashes lie inside the old tree."""
    if not 0 < size1 < size2:
        return None
    ranges = merkle.consistency_ranges(size1, size2)
    perfect = size1 & (size1 - 1) == 0
    rest = ranges if perfect else ranges[1:]
    return (perfect, *(hi <= size1 for _, hi in rest))


def rejects(check: object, *args: object) -> bool:
    try:
        check(*args)  # type: ignore[operator]
    except ProofError:
        return True
    return False


MAX_SIZE = 3000


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


ALL_LEAVES = _leaves(MAX_SIZE)


def test_list_api_matches_naive_recursion_for_every_small_size() -> None:
    def mth(leaves: list[bytes]) -> bytes:
        if len(leaves) == 1:
            return leaves[0]
        k = 1 << ((len(leaves) - 1).bit_length() - 1)
        return merkle.node_hash(mth(leaves[:k]), mth(leaves[k:]))

    for n in range(1, 70):
        assert merkle.root(ALL_LEAVES[:n]) == mth(ALL_LEAVES[:n])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_inclusion_proof_verifies_and_every_bit_flip_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, MAX_SIZE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaves = ALL_LEAVES[:size]
    root = merkle.root(leaves)
    proof = merkle.inclusion_proof(leaves, index)
    merkle.verify_inclusion(leaves[index], index, size, proof, root)

    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        bit = data.draw(st.integers(0, 255), label="bit")
        bad = [*proof[:i], flip_bit(proof[i], bit), *proof[i + 1 :]]
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaves[index], index, size, bad, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(
            leaves[index], index, size, proof, flip_bit(root, data.draw(st.integers(0, 255)))
        )
    with pytest.raises(ProofError):
        merkle.verify_inclusion(
            flip_bit(leaves[index], data.draw(st.integers(0, 255))), index, size, proof, root
        )
    shape = inclusion_shape(index, size)
    index2 = index ^ (1 << data.draw(st.integers(0, 63), label="index bit"))
    assert rejects(merkle.verify_inclusion, leaves[index], index2, size, proof, root) == (
        inclusion_shape(index2, size) != shape
    )
    size2 = size ^ (1 << data.draw(st.integers(0, 63), label="size bit"))
    assert rejects(merkle.verify_inclusion, leaves[index], index, size2, proof, root) == (
        inclusion_shape(index, size2) != shape
    )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_consistency_proof_verifies_and_every_bit_flip_fails(data: st.DataObject) -> None:
    size2 = data.draw(st.integers(1, MAX_SIZE), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    root1, root2 = merkle.root(ALL_LEAVES[:size1]), merkle.root(ALL_LEAVES[:size2])
    proof = merkle.consistency_proof(ALL_LEAVES[:size2], size1)
    merkle.verify_consistency(size1, size2, proof, root1, root2)

    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        bad = [*proof[:i], flip_bit(proof[i], data.draw(st.integers(0, 255))), *proof[i + 1 :]]
        with pytest.raises(ProofError):
            merkle.verify_consistency(size1, size2, bad, root1, root2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(
            size1, size2, proof, flip_bit(root1, data.draw(st.integers(0, 255))), root2
        )
    with pytest.raises(ProofError):
        merkle.verify_consistency(
            size1, size2, proof, root1, flip_bit(root2, data.draw(st.integers(0, 255)))
        )
    if size1 == size2:  # equal sizes: any other size needs a non-empty proof
        return
    shape = consistency_shape(size1, size2)
    s1 = size1 ^ (1 << data.draw(st.integers(0, 63), label="size1 bit"))
    assert rejects(merkle.verify_consistency, s1, size2, proof, root1, root2) == (
        consistency_shape(s1, size2) != shape
    )
    s2 = size2 ^ (1 << data.draw(st.integers(0, 63), label="size2 bit"))
    assert rejects(merkle.verify_consistency, size1, s2, proof, root1, root2) == (
        consistency_shape(size1, s2) != shape
    )


def test_size_and_index_changes_exhaustively_up_to_size_100() -> None:
    # Every bit flip of index and size, for every proof of every tree up to 100 leaves: rejected
    # exactly when the path shape changes, and some flips are indeed rejected at every size > 1.
    for size in range(1, 101):
        leaves = ALL_LEAVES[:size]
        root = merkle.root(leaves)
        for index in range(size):
            proof = merkle.inclusion_proof(leaves, index)
            shape = inclusion_shape(index, size)
            for bit in range(10):
                for i2, s2 in ((index ^ (1 << bit), size), (index, size ^ (1 << bit))):
                    got = rejects(merkle.verify_inclusion, leaves[index], i2, s2, proof, root)
                    assert got == (inclusion_shape(i2, s2) != shape), (index, size, i2, s2)
        for size1 in range(1, size):
            proof = merkle.consistency_proof(leaves, size1)
            root1 = merkle.root(leaves[:size1])
            shape = consistency_shape(size1, size)
            for bit in range(10):
                for a, b in ((size1 ^ (1 << bit), size), (size1, size ^ (1 << bit))):
                    got = rejects(merkle.verify_consistency, a, b, proof, root1, root)
                    assert got == (consistency_shape(a, b) != shape), (size1, size, a, b)


def test_every_proof_up_to_size_64_exhaustively() -> None:
    for size in range(1, 65):
        leaves = ALL_LEAVES[:size]
        root = merkle.root(leaves)
        for index in range(size):
            merkle.verify_inclusion(
                leaves[index], index, size, merkle.inclusion_proof(leaves, index), root
            )
        for size1 in range(1, size + 1):
            proof = merkle.consistency_proof(leaves, size1)
            merkle.verify_consistency(size1, size, proof, merkle.root(leaves[:size1]), root)


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_any_hash_not_32_bytes_is_rejected(length: int) -> None:
    good = merkle.leaf_hash(b"")
    odd = b"\x00" * length
    for args, field in [
        ((odd, 0, 1, [], good), "leaf_hash"),
        ((good, 0, 1, [], odd), "root"),
        ((good, 0, 2, [odd], good), "proof[0]"),
    ]:
        with pytest.raises(ProofError) as err:
            merkle.verify_inclusion(*args)  # type: ignore[arg-type]
        assert err.value.field == field
        assert "32-byte" in str(err.value)
    for cargs, field in [
        ((1, 2, [good], odd, good), "root1"),
        ((1, 2, [good], good, odd), "root2"),
        ((1, 2, [odd], good, good), "proof[0]"),
        ((1, 1, [], odd, odd), "root1"),
    ]:
        with pytest.raises(ProofError) as err:
            merkle.verify_consistency(*cargs)  # type: ignore[arg-type]
        assert err.value.field == field


@pytest.mark.parametrize(
    ("size1", "size2", "field"),
    [(0, 0, "size1"), (0, 5, "size1"), (6, 5, "size1"), (-1, 5, "size1"), (1, -2, "size2")],
)
def test_impossible_sizes_are_rejected(size1: int, size2: int, field: str) -> None:
    h = merkle.leaf_hash(b"")
    with pytest.raises(ProofError) as err:
        merkle.verify_consistency(size1, size2, [h], h, h)
    assert err.value.field == field


def test_range_planning_reads_logarithmically_many_subtrees() -> None:
    size = 10_000_000
    for index in (0, 1, size // 2, size - 1):
        nodes = {
            n for lo, hi in merkle.inclusion_ranges(index, size) for n in merkle.range_nodes(lo, hi)
        }
        assert len(nodes) <= 2 * size.bit_length()
    nodes = {
        n for lo, hi in merkle.consistency_ranges(12345, size) for n in merkle.range_nodes(lo, hi)
    }
    assert len(nodes) <= 3 * size.bit_length()
