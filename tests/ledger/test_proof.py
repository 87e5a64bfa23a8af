"""C2SP tlog-proof: round trips, the published example's shape, and malformed input."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safepassage.errors import FormatError, ProofError, SignatureError
from safepassage.ledger import merkle
from safepassage.ledger.checkpoint import Checkpoint, sign_checkpoint
from safepassage.ledger.note import Signer
from safepassage.ledger.proof import HEADER, TlogProof, verify_tlog_proof
from tests.strategies import flip_bit

SIGNER = Signer.generate("proof.example/log")
ENTRIES = [b"entry %d" % i for i in range(11)]
LEAVES = [merkle.leaf_hash(e) for e in ENTRIES]
NOTE = sign_checkpoint(Checkpoint("proof.example/log", 11, merkle.root(LEAVES)), SIGNER)
H = base64.b64encode(b"\x11" * 32).decode()


def good(index: int = 4) -> str:
    return TlogProof(index, tuple(merkle.inclusion_proof(LEAVES, index)), NOTE).to_text()


@given(
    index=st.integers(0, 2**63),
    hashes=st.lists(st.binary(min_size=32, max_size=32), max_size=40),
    extra=st.none() | st.binary(max_size=80),
)
def test_round_trip(index: int, hashes: list[bytes], extra: bytes | None) -> None:
    proof = TlogProof(index, tuple(hashes), NOTE, extra)
    assert TlogProof.from_text(proof.to_text()) == proof


def test_layout_is_the_c2sp_one() -> None:
    lines = good().split("\n")
    assert lines[0] == HEADER
    assert lines[1] == "index 4"
    assert all(len(base64.b64decode(x)) == 32 for x in lines[2:6])
    assert lines[6] == ""
    assert "\n".join(lines[7:]) == NOTE


@pytest.mark.parametrize("index", range(11))
def test_every_entry_verifies(index: int) -> None:
    cp, names = verify_tlog_proof(good(index), ENTRIES[index], SIGNER.verifier())
    assert (cp.size, names) == (11, [])


def test_another_entry_or_a_changed_hash_is_rejected() -> None:
    with pytest.raises(ProofError):
        verify_tlog_proof(good(4), ENTRIES[5], SIGNER.verifier())
    proof = TlogProof.from_text(good(4))
    bad = TlogProof(4, (flip_bit(proof.hashes[0], 3), *proof.hashes[1:]), NOTE)
    with pytest.raises(ProofError):
        verify_tlog_proof(bad.to_text(), ENTRIES[4], SIGNER.verifier())


def test_a_checkpoint_with_another_size_fails_its_signature() -> None:
    text = good(0).replace("\n11\n", "\n12\n")
    with pytest.raises(SignatureError):
        verify_tlog_proof(text, ENTRIES[0], SIGNER.verifier())


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("", "tlog-proof", "no empty line"),
        (f"c2sp.org/tlog-proof@v2\nindex 1\n\n{NOTE}", "tlog-proof line 1", "first line"),
        (f"{HEADER}\n{H}\n\n{NOTE}", "tlog-proof line 2", "missing 'index N'"),
        (f"{HEADER}\nindex 01\n\n{NOTE}", "tlog-proof line 2", "leading zeros"),
        (f"{HEADER}\nindex -1\n\n{NOTE}", "tlog-proof line 2", "decimal"),
        (f"{HEADER}\nindex {'9' * 5000}\n\n{NOTE}", "tlog-proof line 2", "below 2^64"),
        (f"{HEADER}\nindex {2**64}\n\n{NOTE}", "tlog-proof line 2", "below 2^64"),
        (f"{HEADER}\nindex 1\nnot base64!\n\n{NOTE}", "tlog-proof line 3", "not base64"),
        (f"{HEADER}\nindex 1\n{H[:-4]}\n\n{NOTE}", "tlog-proof line 3", "not 32"),
        (f"{HEADER}\nextra ***\nindex 1\n\n{NOTE}", "tlog-proof extra", "not base64"),
        (f"{HEADER}\nindex 1\n{H}\n", "tlog-proof", "no empty line"),
    ],
)
def test_malformed_proofs_name_the_line(text: str, field: str, reason: str) -> None:
    with pytest.raises(FormatError) as err:
        TlogProof.from_text(text)
    assert err.value.field == field
    assert reason in err.value.reason
