"""Tests for safepassage.ledger.note: published vectors, key strings, malformed notes, bit flips."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from safepassage.errors import FormatError, SignatureError
from safepassage.ledger import note
from safepassage.ledger.note import CosignatureSigner, Signer, Verifier
from tests.strategies import flip_bit
from tests.vectors import load_vectors

SIGNED_NOTES = load_vectors("signed_note_vectors.json")["vectors"]
TESSERA = load_vectors("tessera_testdata_log.json")

# The example in the package documentation of golang.org/x/mod/sumdb/note (BSD-3-Clause).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
# A witness's type 0x04 verifier key from transparency-dev/formats note/note_cosigv1_test.go.
COSIG_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"

EXAMPLE_DATA = "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
EXAMPLE_VKEY = f"example.com/foo+530d903a+{EXAMPLE_DATA}"
SEED = bytes(range(32))
SEED_B64 = base64.b64encode(b"\x01" + SEED).decode()

# Valid key names and note texts as the spec defines them (UTF-8, no controls but newline).
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
TEXTS = st.lists(LINES, min_size=1, max_size=5).map(lambda lines: "\n".join(lines) + "\n")
TIMESTAMPS = st.integers(0, 2**63 - 1)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def with_signature(text: str, name: str, raw: bytes) -> str:
    """A note of ``text`` with one signature line carrying ``raw`` (key id || signature)."""
    return f"{text}\n\u2014 {name} {b64(raw)}\n"


def assert_rejected(signed: str | bytes, verifiers: list[Verifier]) -> None:
    with pytest.raises((FormatError, SignatureError)):
        note.open(signed, verifiers)


# --- published vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("case", SIGNED_NOTES, ids=[case["desc"] for case in SIGNED_NOTES])
def test_signed_note_vectors(case):
    verifier = Verifier.from_key_string(case["vkey"])
    signed = case["note_text"] + "\n" + case["signature_line"] + "\n"
    if case["want_valid"]:
        assert note.open(signed, [verifier]) == (case["note_text"], [verifier.name])
    else:
        with pytest.raises(SignatureError, match="does not verify") as caught:
            note.open(signed, [verifier])
        assert caught.value.field == "signature line 1"


def test_vector_signatures_combine_and_unknown_ones_are_ignored():
    sumdb = [case for case in SIGNED_NOTES if case["want_valid"] and "6476701" in case["note_text"]]
    text = sumdb[0]["note_text"]
    signed = text + "\n" + "".join(case["signature_line"] + "\n" for case in sumdb)
    verifiers = [Verifier.from_key_string(case["vkey"]) for case in sumdb]
    assert note.open(signed, reversed(verifiers)) == (text, [v.name for v in verifiers])
    assert note.open(signed, [verifiers[2]]) == (text, [verifiers[2].name])


def test_tessera_test_key_resigns_every_checkpoint_byte_for_byte():
    signer = Signer.from_key_string(TESSERA["test_private_key"])
    assert signer.key_string() == TESSERA["test_private_key"]
    assert signer.verifier().key_string() == TESSERA["vkey"]
    verifier = Verifier.from_key_string(TESSERA["vkey"])
    assert len(TESSERA["checkpoints"]) == 16
    for checkpoint in TESSERA["checkpoints"]:
        signed = checkpoint["note"]
        text = signed[: signed.rindex("\n\n") + 1]
        assert note.sign(text, signer) == signed
        assert note.open(signed, [verifier]) == (text, [TESSERA["origin"]])


def test_go_documentation_example():
    signer = Signer.from_key_string(GO_SKEY)
    assert signer.verifier() == Verifier.from_key_string(GO_VKEY)
    signed = note.sign(GO_TEXT, signer)
    assert signed == f"{GO_TEXT}\n\u2014 PeterNeumann {GO_SIG}\n"
    assert note.open(signed.encode(), [Verifier.from_key_string(GO_VKEY)]) == (
        GO_TEXT,
        ["PeterNeumann"],
    )


# --- key strings -------------------------------------------------------------------------------


@given(NAMES)
def test_generated_key_strings_round_trip(name):
    for cls in (Signer, CosignatureSigner):
        signer = cls.generate(name)
        again = cls.from_key_string(signer.key_string())
        assert again.key_string() == signer.key_string()
        assert (again.name, again.key_id) == (name, signer.key_id)
        vkey = signer.verifier().key_string()
        assert Verifier.from_key_string(vkey).key_string() == vkey
        assert Verifier.from_key_string(vkey) == signer.verifier()


def test_verifier_fields_and_key_id_derivation():
    verifier = Verifier.from_key_string(EXAMPLE_VKEY)
    assert (verifier.name, verifier.key_id.hex()) == ("example.com/foo", "530d903a")
    assert verifier.key_type == note.KEY_TYPE_ED25519
    cosigner = Verifier.from_key_string(COSIG_VKEY)
    assert (cosigner.key_type, cosigner.key_string()) == (note.KEY_TYPE_COSIGNATURE_V1, COSIG_VKEY)


def test_signer_repr_hides_the_seed():
    signer = Signer(name="n", private_key=Ed25519PrivateKey.from_private_bytes(SEED))
    assert SEED_B64 not in repr(signer)
    assert signer.key_id.hex() in repr(signer)


def _vkey(name: str, data: bytes, key_id: str = "0a1b2c3d") -> str:
    return f"{name}+{key_id}+{b64(data)}"


PUBLIC = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()


@pytest.mark.parametrize(
    ("key_string", "field", "message"),
    [
        ("example.com/foo+530d903b+" + EXAMPLE_DATA, "(key id)", "does not match"),
        ("example.com/foo+530D903A+" + EXAMPLE_DATA, "(key id)", "8 lowercase hex"),
        ("example.com/foo+530d903+" + EXAMPLE_DATA, "(key id)", "8 lowercase hex"),
        (EXAMPLE_VKEY.replace("Aekye", "Aeky!"), "(key data)", "base64"),
        (EXAMPLE_VKEY.removesuffix("k"), "(key data)", "base64"),
        (_vkey("n", b"\x01" + PUBLIC[:31]), "(key data)", "32 bytes, not 33"),
        (_vkey("n", b"\x01" + PUBLIC + b"\x00"), "(key data)", "34 bytes, not 33"),
        (_vkey("n", b"\x02" + PUBLIC), "(key data)", "key type 02"),
        (_vkey("n", b""), "(key data)", "key type missing"),
        ("+530d903a+" + EXAMPLE_DATA, "(name)", "empty"),
        ("example.com+foo+530d903a+" + EXAMPLE_DATA, "(name)", "contains '\\+'"),
        ("example com+530d903a+" + EXAMPLE_DATA, "(name)", "Unicode space"),
        ("example.com/foo+530d903a", "key string", "expected <name>\\+<key id>"),
        ("PRIVATE+KEY+" + EXAMPLE_VKEY, "key string", "private key"),
    ],
    ids=[
        "wrong key id",
        "uppercase key id",
        "short key id",
        "bad base64",
        "missing padding",
        "short key",
        "long key",
        "wrong type byte",
        "empty key data",
        "empty name",
        "name with plus",
        "name with space",
        "missing part",
        "private key given",
    ],
)
def test_malformed_verifier_key_strings(key_string, field, message):
    with pytest.raises(FormatError, match=message) as caught:
        Verifier.from_key_string(key_string)
    assert caught.value.field is not None
    assert field in caught.value.field


def _skey(name: str, data: bytes, key_id: str = "0a1b2c3d") -> str:
    return f"PRIVATE+KEY+{name}+{key_id}+{b64(data)}"


TESSERA_KEY = TESSERA["test_private_key"]


@pytest.mark.parametrize(
    ("cls", "key_string", "field", "message"),
    [
        (Signer, TESSERA_KEY.replace("+KEY+", "+KEYS+"), "(prefix)", "PRIVATE\\+KEY\\+"),
        (Signer, TESSERA_KEY.removeprefix("PRIVATE+KEY+"), "(prefix)", "PRIVATE\\+KEY\\+"),
        (Signer, TESSERA_KEY.replace("33d7b496", "33d7b497"), "(key id)", "does not match"),
        (Signer, TESSERA_KEY.replace("AeymY", "Aey!Y"), "(key data)", "base64"),
        (Signer, _skey("n", b"\x01" + SEED[:31]), "(key data)", "32 bytes, not 33"),
        (Signer, _skey("n", b"\x04" + SEED), "(key data)", "key type 04"),
        (CosignatureSigner, _skey("n", b"\x01" + SEED), "(key data)", "key type 01"),
        (Signer, _skey("", b"\x01" + SEED), "(name)", "empty"),
        (Signer, _skey("a+b", b"\x01" + SEED), "(name)", "'\\+'"),
    ],
    ids=[
        "wrong prefix",
        "no prefix",
        "wrong key id",
        "bad base64",
        "wrong length",
        "cosignature key as note signer",
        "note key as cosignature signer",
        "empty name",
        "name with plus",
    ],
)
def test_malformed_signer_key_strings(cls, key_string, field, message):
    with pytest.raises(FormatError, match=message) as caught:
        cls.from_key_string(key_string)
    assert caught.value.field is not None
    assert field in caught.value.field
    # A private key must never leak into an error that may be logged.
    assert key_string.rsplit("+", 1)[-1] not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "", "public_key": PUBLIC}, "name"),
        ({"name": "n", "public_key": PUBLIC[:31]}, "public key"),
        ({"name": "n", "public_key": PUBLIC, "key_type": 2}, "key type"),
    ],
)
def test_verifier_constructor_validates(kwargs, field):
    with pytest.raises(FormatError) as caught:
        Verifier(**kwargs)
    assert caught.value.field == field


# --- signing -----------------------------------------------------------------------------------


@settings(deadline=None)
@given(TEXTS, NAMES)
def test_sign_open_round_trip(text, name):
    signer = Signer.generate(name)
    signed = note.sign(text, signer)
    assert note.open(signed, [signer.verifier()]) == (text, [name])
    assert note.open(signed.encode(), [signer.verifier()]) == (text, [name])
    [(got_name, key_id, sig)] = note.signatures(signed)
    assert (got_name, key_id) == (name, signer.key_id)
    assert signer.verifier().verify(text.encode(), sig)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("no newline", "newline"),
        ("a\n\nb\n", "blank line"),
        ("\na\n", "blank line"),
        ("a\tb\n", "control character U\\+0009"),
        ("a\rb\n", "control character U\\+000D"),
        ("a\ud800\n", "UTF-8"),
    ],
)
def test_sign_rejects_bad_text(text, message):
    with pytest.raises(FormatError, match=message) as caught:
        note.sign(text, Signer.generate("n"))
    assert caught.value.field == "text"


def test_sign_needs_a_signer_and_at_most_the_limit():
    with pytest.raises(SignatureError, match="at least one signer"):
        note.sign("a\n")
    signer = Signer.generate("n")
    with pytest.raises(FormatError, match="at most 100"):
        note.sign("a\n", *[signer] * 101)
    assert note.open(note.sign("a\n", *[signer] * 100), [signer.verifier()]) == ("a\n", ["n"])


def test_open_accepts_text_with_blank_lines_and_splits_at_the_last():
    # The spec allows blank lines in the text (Go's Sign writes them); only ours refuses to.
    signer = Signer.generate("n")
    text = "Ognuno sta solo sul cuor della terra\n\ned è subito sera.\n"
    signed = with_signature(text, "n", signer.key_id + signer.sign(text.encode()))
    assert note.open(signed, [signer.verifier()]) == (text, ["n"])


def test_add_signatures_appends_and_replaces_the_same_key():
    log, witness = Signer.generate("log"), CosignatureSigner.generate("witness")
    signed = note.add_signatures(note.sign("a\n", log), witness, timestamp=7)
    verifiers = [log.verifier(), witness.verifier()]
    assert note.open(signed, verifiers) == ("a\n", ["log", "witness"])
    again = note.add_signatures(signed, witness, timestamp=8)
    stamps = [note.cosignature_timestamp(s) for n, _, s in note.signatures(again) if n == "witness"]
    assert stamps == [8]
    with pytest.raises(SignatureError, match="at least one signer"):
        note.add_signatures(signed)


def test_every_key_verifies_and_names_are_not_repeated():
    old, new = Signer.generate("log"), Signer.generate("log")
    signed = note.sign("a\n", old, new, old)
    assert note.open(signed, [old.verifier(), new.verifier()]) == ("a\n", ["log"])
    _, keys = note.verify_note(signed, [new.verifier(), old.verifier()])
    assert keys == [old.verifier(), new.verifier()]


def test_signatures_from_unknown_keys_are_ignored_even_with_a_known_name_or_id():
    known, stranger = Signer.generate("known"), Signer.generate("known")
    signed = note.sign("a\n", stranger, known)
    assert note.open(signed, [known.verifier()]) == ("a\n", ["known"])
    # The key id alone under another name is another key too.
    forged = with_signature("a\n", "other", known.key_id + known.sign(b"b\n"))
    with pytest.raises(SignatureError, match="no signature by a known key") as caught:
        note.open(forged, [known.verifier()])
    assert caught.value.field == "note"


def test_a_failing_known_signature_rejects_the_note_naming_line_and_signer():
    good, bad = Signer.generate("good"), Signer.generate("bad")
    wrong = bad.key_id + bad.sign(b"b\n")
    signed = note.sign("a\n", good) + f"\u2014 bad {b64(wrong)}\n"
    with pytest.raises(SignatureError, match=r"bad\+[0-9a-f]{8} is invalid") as caught:
        note.open(signed, [good.verifier(), bad.verifier()])
    assert caught.value.field == "signature line 2"


# --- malformed notes ---------------------------------------------------------------------------

SIGNER = Signer.generate("example.com/n")
GOOD = note.sign("hello\n", SIGNER)
GOOD_LINE = GOOD.split("\n\n")[1]
SIG_FIELD = "signature line 1 (signature)"


@pytest.mark.parametrize(
    ("signed", "field", "message"),
    [
        ("hello\n" + GOOD_LINE, "note", "no blank line"),
        (GOOD[:-1], "note", "does not end with a newline"),
        ("hello\n\n", "note", "no signature lines"),
        (GOOD.replace("\u2014", "-"), "signature line 1", "em dash"),
        (GOOD.replace("\u2014 ", "\u2014"), "signature line 1", "em dash"),
        ("hello\n\n\u2014 example.com/n\n", "signature line 1", "no space"),
        ("hello\n\n\u2014 example.com/n \n", SIG_FIELD, "empty"),
        ("hello\n\n\u2014 example.com/n AAAA!AAA\n", SIG_FIELD, "base64"),
        ("hello\n\n\u2014 example.com/n AAAAAB==\n", SIG_FIELD, "canonical"),
        (with_signature("hello\n", "example.com/n", b"abc"), SIG_FIELD, "3 bytes"),
        (with_signature("hello\n", "example.com/n", b"abcd"), SIG_FIELD, "too short"),
        (with_signature("hello\n", "a+b", b"abcde"), "signature line 1 (name)", "'\\+'"),
        (GOOD + GOOD_LINE.replace("\u2014", "--"), "signature line 2", "em dash"),
        ("hello\n" + "\n" + GOOD_LINE * 101, "note", "more than 100"),
        ("hel\tlo\n" + "\n" + GOOD_LINE, "note", "control character U\\+0009"),
        ("hel\x00lo\n" + "\n" + GOOD_LINE, "note", "control character U\\+0000"),
        ("hel\ud800lo\n" + "\n" + GOOD_LINE, "note", "UTF-8"),
        (b"hel\xfflo\n\n" + GOOD_LINE.encode(), "note", "UTF-8"),
        (b"hel\xc0\xafo\n\n" + GOOD_LINE.encode(), "note", "UTF-8"),
    ],
    ids=[
        "missing blank line",
        "missing final newline",
        "no signatures",
        "hyphen for em dash",
        "no space after dash",
        "no space before signature",
        "empty signature",
        "bad base64",
        "non-canonical base64",
        "3-byte signature",
        "key id only",
        "bad signer name",
        "malformed unknown signature",
        "101 signatures",
        "tab",
        "NUL",
        "lone surrogate",
        "invalid UTF-8",
        "overlong UTF-8",
    ],
)
def test_malformed_notes(signed, field, message):
    with pytest.raises(FormatError, match=message) as caught:
        note.open(signed, [SIGNER.verifier()])
    assert caught.value.field == field


# --- bit flips ---------------------------------------------------------------------------------


def test_every_bit_flip_of_a_tessera_checkpoint_is_rejected():
    signed = TESSERA["checkpoints"][5]["note"].encode()
    verifier = Verifier.from_key_string(TESSERA["vkey"])
    for bit in range(len(signed) * 8):
        assert_rejected(flip_bit(signed, bit), [verifier])


@settings(deadline=None, max_examples=30)
@given(TEXTS, NAMES, st.data())
def test_bit_flips_in_text_or_signature_never_open(text, name, data):
    signer = Signer.generate(name)
    signed = note.sign(text, signer)
    [(_, key_id, sig)] = note.signatures(signed)
    # Every bit of the decoded key id and signature, re-encoded canonically.
    for bit in range((len(key_id) + len(sig)) * 8):
        with pytest.raises(SignatureError):
            note.open(with_signature(text, name, flip_bit(key_id + sig, bit)), [signer.verifier()])
    # Random bits anywhere in the note's bytes, text included.
    raw = signed.encode()
    for bit in data.draw(st.lists(st.integers(0, len(raw) * 8 - 1), min_size=1, max_size=40)):
        assert_rejected(flip_bit(raw, bit), [signer.verifier()])


# --- cosignatures ------------------------------------------------------------------------------


def test_cosignature_signs_the_c2sp_message():
    cosigner = CosignatureSigner(name="w", private_key=Ed25519PrivateKey.from_private_bytes(SEED))
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    line = cosigner.cosign(text, 1679315147)
    [(name, key_id, sig)] = note.signatures(f"{text}\n{line}")
    assert (name, key_id, note.cosignature_timestamp(sig)) == ("w", cosigner.key_id, 1679315147)
    assert sig[:8] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    Ed25519PublicKey.from_public_bytes(PUBLIC).verify(sig[8:], message)  # raises if not
    assert note.open(f"{text}\n{line}", [cosigner.verifier()]) == (text, ["w"])


def test_cosignature_and_note_keys_from_one_seed_are_different_keys():
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    plain, cosigner = Signer("w", private), CosignatureSigner("w", private)
    assert plain.key_id != cosigner.key_id
    signed = note.sign("a\nb\n", cosigner, timestamp=1)
    with pytest.raises(SignatureError, match="no signature by a known key"):
        note.open(signed, [plain.verifier()])


def test_cosignature_timestamp_at_2_63_is_rejected_even_when_signed():
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    cosigner = CosignatureSigner("w", private)
    too_late = 2**63
    sig = private.sign(b"cosignature/v1\ntime %d\na\n" % too_late)
    signed = with_signature("a\n", "w", cosigner.key_id + too_late.to_bytes(8, "big") + sig)
    with pytest.raises(SignatureError, match="exceeds 2\\^63-1"):
        note.open(signed, [cosigner.verifier()])


@pytest.mark.parametrize("timestamp", [-1, 2**63, True, 1.5])
def test_cosign_rejects_bad_timestamps(timestamp):
    with pytest.raises(FormatError) as caught:
        note.sign("a\n", CosignatureSigner.generate("w"), timestamp=timestamp)
    assert caught.value.field == "timestamp"


def test_default_timestamp_is_the_clock(monkeypatch):
    monkeypatch.setattr(note.time, "time", lambda: 1700000000.75)
    signed = note.sign("a\n", Signer.generate("log"), CosignatureSigner.generate("w"))
    assert note.cosignature_timestamp(note.signatures(signed)[1][2]) == 1700000000


def test_verifier_failure_reasons():
    cosigner = CosignatureSigner.generate("w")
    assert "not 72" in (cosigner.verifier().failure(b"a\n", b"x" * 64) or "")
    assert "not 64" in (SIGNER.verifier().failure(b"a\n", b"x" * 72) or "")
    with pytest.raises(FormatError, match="not 72"):
        note.cosignature_timestamp(b"x" * 64)


@settings(deadline=None, max_examples=25)
@given(TEXTS, NAMES, TIMESTAMPS)
def test_cosign_open_and_every_flip_of_timestamp_or_signature_fails(text, name, timestamp):
    cosigner = CosignatureSigner.generate(name)
    signed = f"{text}\n{cosigner.cosign(text, timestamp)}"
    assert note.open(signed, [cosigner.verifier()]) == (text, [name])
    [(_, key_id, sig)] = note.signatures(signed)
    assert note.cosignature_timestamp(sig) == timestamp
    for bit in range(len(sig) * 8):
        with pytest.raises(SignatureError):
            note.open(
                with_signature(text, name, key_id + flip_bit(sig, bit)), [cosigner.verifier()]
            )
