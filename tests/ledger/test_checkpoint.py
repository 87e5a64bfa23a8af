"""Tests for safepassage.ledger.checkpoint: tessera vectors, strict parsing, signing, cosigning."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safepassage.errors import FormatError, SignatureError
from safepassage.ledger import note
from safepassage.ledger.checkpoint import (
    MAX_SIZE,
    Checkpoint,
    cosign,
    open_checkpoint,
    sign_checkpoint,
)
from safepassage.ledger.note import CosignatureSigner, Signer, Verifier
from tests.strategies import flip_bit
from tests.vectors import load_vectors

TESSERA = load_vectors("tessera_testdata_log.json")
SUMDB = load_vectors("signed_note_vectors.json")["vectors"][1]

# The example of c2sp.org/tlog-cosignature (CC-BY-4.0): a log signature and a witness cosignature.
C2SP_COSIGNED = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Z"
    "hcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
    "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)

EMPTY_ROOT = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

NAMES = st.text(
    st.characters(
        codec="utf-8", exclude_categories=["Cc", "Zs", "Zl", "Zp"], exclude_characters="+"
    ),
    min_size=1,
    max_size=24,
).filter(lambda name: not any(char.isspace() for char in name))
LINES = st.text(
    st.characters(codec="utf-8", exclude_characters="".join(map(chr, range(32)))),
    min_size=1,
    max_size=40,
)
CHECKPOINTS = st.builds(
    Checkpoint,
    origin=LINES,
    size=st.integers(0, MAX_SIZE),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(LINES, max_size=3).map(tuple),
)


def text_of(signed: str) -> str:
    return signed[: signed.rindex("\n\n") + 1]


# --- published vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("case", TESSERA["checkpoints"], ids=lambda case: f"size {case['size']}")
def test_tessera_checkpoints(case):
    signer = Signer.from_key_string(TESSERA["test_private_key"])
    verifier = Verifier.from_key_string(TESSERA["vkey"])
    text = text_of(case["note"])
    checkpoint = Checkpoint.from_text(text)
    assert checkpoint == Checkpoint(
        TESSERA["origin"], case["size"], bytes.fromhex(case["root_hex"])
    )
    assert checkpoint.to_text() == text
    assert sign_checkpoint(checkpoint, signer) == case["note"]
    assert open_checkpoint(case["note"], verifier) == (checkpoint, [])


def test_sumdb_checkpoint_parses_but_its_key_name_is_not_its_origin():
    # sum.golang.org predates C2SP: its key name differs from its origin line, which we refuse.
    signed = SUMDB["note_text"] + "\n" + SUMDB["signature_line"] + "\n"
    checkpoint = Checkpoint.from_text(SUMDB["note_text"])
    assert (checkpoint.origin, checkpoint.size) == ("go.sum database tree", 6476701)
    with pytest.raises(SignatureError, match="is not the log key name") as caught:
        open_checkpoint(signed, Verifier.from_key_string(SUMDB["vkey"]))
    assert caught.value.field == "checkpoint line 1 (origin)"


def test_c2sp_cosignature_example_parses():
    checkpoint = Checkpoint.from_text(text_of(C2SP_COSIGNED))
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    [_, (name, key_id, sig)] = note.signatures(C2SP_COSIGNED)
    assert (name, key_id.hex()) == ("witness.example.com/w1", "8d66cf3f")
    assert note.cosignature_timestamp(sig) == 1679315147  # the spec's "time 1679315147"


# --- text form ---------------------------------------------------------------------------------


@given(CHECKPOINTS)
def test_to_text_from_text_round_trip(checkpoint):
    text = checkpoint.to_text()
    assert Checkpoint.from_text(text) == checkpoint
    assert Checkpoint.from_text(text).to_text() == text


def test_extensions_are_kept_in_order_and_stored_as_a_tuple():
    checkpoint = Checkpoint("o", 1, bytes(32), ["x", "y"])  # type: ignore[arg-type]
    assert checkpoint.extensions == ("x", "y")
    assert checkpoint.to_text() == f"o\n1\n{base64.b64encode(bytes(32)).decode()}\nx\ny\n"
    assert hash(checkpoint) == hash(Checkpoint("o", 1, bytes(32), ("x", "y")))


def _text(origin: str = "o", size: str = "0", root: str = EMPTY_ROOT, *rest: str) -> str:
    return "".join(f"{line}\n" for line in (origin, size, root, *rest))


ROOT31 = base64.b64encode(bytes(31)).decode()
ROOT33 = base64.b64encode(bytes(33)).decode()
SIZE = "checkpoint line 2 (size)"
ROOT = "checkpoint line 3 (root hash)"


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (_text(size="01"), SIZE, "leading zero"),
        (_text(size="00"), SIZE, "leading zero"),
        (_text(size="-1"), SIZE, "has a sign"),
        (_text(size="+1"), SIZE, "has a sign"),
        (_text(size=" 1"), SIZE, "not an ASCII decimal"),
        (_text(size="1.0"), SIZE, "not an ASCII decimal"),
        (_text(size="\u0661"), SIZE, "not an ASCII decimal"),
        (_text(size=str(2**64)), SIZE, "exceeds 2\\^64-1"),
        (_text(size="9" * 5000), SIZE, "exceeds 2\\^64-1"),
        (_text(size=""), SIZE, "is empty"),
        (_text(root=EMPTY_ROOT[:-2] + "V="), ROOT, "not canonical"),
        (_text(root=EMPTY_ROOT[:-1]), ROOT, "not valid standard base64"),
        (_text(root=EMPTY_ROOT.replace("+", "-")), ROOT, "not valid standard base64"),
        (_text(root=ROOT31), ROOT, "decodes to 31 bytes"),
        (_text(root=ROOT33), ROOT, "decodes to 33 bytes"),
        (_text(origin=""), "checkpoint line 1 (origin)", "is empty"),
        (_text("o", "0", EMPTY_ROOT, "ext", ""), "checkpoint line 5 (extension)", "is empty"),
        (_text(origin="o\tx"), "checkpoint line 1 (origin)", "control character U\\+0009"),
        (_text()[:-1], "checkpoint", "does not end with a newline"),
        ("o\n0\n", "checkpoint", "needs origin, size and root hash"),
        ("", "checkpoint", "is empty"),
    ],
    ids=[
        "leading zero",
        "zero zero",
        "negative size",
        "plus sign",
        "leading space",
        "decimal point",
        "arabic-indic digit",
        "size 2^64",
        "5000 digits",
        "empty size",
        "non-canonical root",
        "unpadded root",
        "url-safe root",
        "31-byte root",
        "33-byte root",
        "empty origin",
        "empty extension line",
        "tab in origin",
        "no final newline",
        "two lines",
        "empty text",
    ],
)
def test_malformed_checkpoints(text, field, message):
    with pytest.raises(FormatError, match=message) as caught:
        Checkpoint.from_text(text)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"origin": ""}, "origin", "is empty"),
        ({"origin": "a\nb"}, "origin", "newline"),
        ({"size": -1}, "size", "outside"),
        ({"size": 2**64}, "size", "outside"),
        ({"size": True}, "size", "integer"),
        ({"size": "1"}, "size", "integer"),
        ({"root": bytes(31)}, "root", "32 bytes"),
        ({"root": EMPTY_ROOT}, "root", "32 bytes"),
        ({"extensions": ("",)}, "extensions[0]", "is empty"),
        ({"extensions": ("a", "b\nc")}, "extensions[1]", "newline"),
    ],
)
def test_checkpoint_fields_are_validated(kwargs, field, message):
    values = {"origin": "o", "size": 0, "root": bytes(32)} | kwargs
    with pytest.raises(FormatError, match=message) as caught:
        Checkpoint(**values)
    assert caught.value.field == field


# --- signing and opening -----------------------------------------------------------------------


@settings(deadline=None)
@given(CHECKPOINTS, NAMES)
def test_sign_open_round_trip(checkpoint, name):
    checkpoint = Checkpoint(name, checkpoint.size, checkpoint.root, checkpoint.extensions)
    signer = Signer.generate(name)
    assert open_checkpoint(sign_checkpoint(checkpoint, signer), signer.verifier()) == (
        checkpoint,
        [],
    )


LOG = Signer.generate("example.com/log")
CHECKPOINT = Checkpoint("example.com/log", 3, bytes(range(32)))
SIGNED = sign_checkpoint(CHECKPOINT, LOG)


def test_sign_checkpoint_needs_the_origin_as_key_name():
    with pytest.raises(SignatureError, match="is not the checkpoint origin") as caught:
        sign_checkpoint(CHECKPOINT, Signer.generate("example.com/other"))
    assert caught.value.field == "signer"


def test_the_log_signature_is_required():
    witness = CosignatureSigner.generate("witness")
    only_witness = note.sign(CHECKPOINT.to_text(), witness, timestamp=1)
    with pytest.raises(SignatureError, match="no signature by the log key") as caught:
        open_checkpoint(only_witness, LOG.verifier(), [witness.verifier()])
    assert caught.value.field == "note"
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_checkpoint(only_witness, LOG.verifier())


def test_a_witness_sharing_the_log_name_is_not_the_log():
    impostor = CosignatureSigner.generate("example.com/log")
    signed = note.sign(CHECKPOINT.to_text(), impostor, timestamp=1)
    with pytest.raises(SignatureError, match="no signature by the log key"):
        open_checkpoint(signed, LOG.verifier(), [impostor.verifier()])


def test_a_signed_body_that_is_not_a_checkpoint_is_a_format_error():
    signed = note.sign("example.com/log\nthree\n" + EMPTY_ROOT + "\n", LOG)
    with pytest.raises(FormatError, match="not an ASCII decimal"):
        open_checkpoint(signed, LOG.verifier())


def test_origin_must_be_the_log_key_name():
    other = Checkpoint("example.com/other", 3, bytes(32))
    signed = note.sign(other.to_text(), LOG)
    with pytest.raises(SignatureError, match="is not the log key name") as caught:
        open_checkpoint(signed, LOG.verifier())
    assert caught.value.field == "checkpoint line 1 (origin)"


# --- cosigning ---------------------------------------------------------------------------------


def test_cosigners_are_reported_in_note_order_and_unknown_ones_ignored():
    w1, w2, w3 = (CosignatureSigner.generate(f"w{i}") for i in (1, 2, 3))
    cosigned = cosign(cosign(cosign(SIGNED, w2, 10), w3, 11), w1, 12)
    verifiers = [w1.verifier(), w2.verifier()]
    assert open_checkpoint(cosigned, LOG.verifier(), verifiers) == (CHECKPOINT, ["w2", "w1"])
    assert open_checkpoint(cosigned, LOG.verifier()) == (CHECKPOINT, [])


def test_cosigning_again_replaces_the_witness_line():
    witness = CosignatureSigner.generate("w")
    twice = cosign(cosign(SIGNED, witness, 10), witness, 20)
    assert [note.cosignature_timestamp(s) for n, _, s in note.signatures(twice) if n == "w"] == [20]


def test_cosign_refuses_a_note_that_is_not_a_checkpoint():
    with pytest.raises(FormatError, match="needs origin, size and root hash"):
        cosign(note.sign("just text\n", LOG), CosignatureSigner.generate("w"), 1)


def test_cosign_defaults_to_the_clock(monkeypatch):
    monkeypatch.setattr(note.time, "time", lambda: 1700000000.0)
    cosigned = cosign(SIGNED, CosignatureSigner.generate("w"))
    assert note.cosignature_timestamp(note.signatures(cosigned)[-1][2]) == 1700000000


@settings(deadline=None, max_examples=25)
@given(CHECKPOINTS, NAMES, st.integers(0, 2**63 - 1))
def test_cosign_open_and_every_flip_of_the_cosignature_fails(checkpoint, name, timestamp):
    log = Signer.generate("log.example")
    checkpoint = Checkpoint("log.example", checkpoint.size, checkpoint.root, checkpoint.extensions)
    witness = CosignatureSigner.generate(name)
    cosigned = cosign(sign_checkpoint(checkpoint, log), witness, timestamp)
    assert open_checkpoint(cosigned, log.verifier(), [witness.verifier()]) == (checkpoint, [name])
    head, line = cosigned.removesuffix("\n").rsplit("\n", 1)
    prefix, encoded = line.rsplit(" ", 1)
    raw = base64.b64decode(encoded)
    # Bytes 4..12 are the timestamp, 12..76 the Ed25519 signature: flip each bit of both.
    for bit in range(32, len(raw) * 8):
        flipped = f"{head}\n{prefix} {base64.b64encode(flip_bit(raw, bit)).decode()}\n"
        with pytest.raises(SignatureError, match="is invalid"):
            open_checkpoint(flipped, log.verifier(), [witness.verifier()])
