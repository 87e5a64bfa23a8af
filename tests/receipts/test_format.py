"""The receipt's text and payload: round trips, published base45 vectors, malformed input, size."""

from __future__ import annotations

import base64
import dataclasses
import os
import zlib
from datetime import UTC, datetime

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from safepassage.errors import FormatError
from safepassage.events.catalogue import parse_body
from safepassage.events.envelope import sign_event
from safepassage.ledger.checkpoint import Checkpoint, cosign, sign_checkpoint
from safepassage.ledger.note import CosignatureSigner, Signer
from safepassage.receipts import Receipt, parse_receipt
from safepassage.receipts._base45 import b45decode, b45encode
from safepassage.receipts.format import HEADER, PAYLOAD_PREFIX
from safepassage.receipts.render import qr_code

ORIGIN = "safepassage.example/azovstal-2022"
LOG = Signer.generate(ORIGIN)
WITNESSES = [CosignatureSigner.generate(f"{p}.witness.safepassage.example") for p in "abcd"]


@st.composite
def notes(draw: st.DrawFn) -> str:
    size = draw(st.integers(1, 2**64 - 1))
    note = sign_checkpoint(Checkpoint(ORIGIN, size, draw(st.binary(min_size=32, max_size=32))), LOG)
    for witness in draw(st.lists(st.sampled_from(WITNESSES), max_size=4, unique=True)):
        note = cosign(note, witness, draw(st.integers(0, 2**63 - 1)))
    return note


receipts = st.builds(
    Receipt,
    stage=st.sampled_from(["registration", "arrival"]),
    operation=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,62}", fullmatch=True),
    operation_name=st.text(st.characters(codec="utf-8"), min_size=1, max_size=200),
    ref=st.from_regex(r"[A-Za-z0-9_-]{6,64}", fullmatch=True),
    salt=st.binary(min_size=16, max_size=64),
    event=st.text(st.characters(codec="utf-8", exclude_characters="\n"), min_size=1).map(
        str.encode
    ),
    index=st.integers(0, 2**64 - 1),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=24).map(tuple),
    checkpoint=notes(),
)


@given(receipts)
def test_the_text_round_trips(receipt: Receipt) -> None:
    text = receipt.to_text()
    assert Receipt.from_text(text) == receipt
    assert parse_receipt(text.encode()) == receipt


@given(receipts)
def test_the_payload_round_trips_in_qr_alphanumerics(receipt: Receipt) -> None:
    payload = receipt.to_payload()
    assert payload.startswith(PAYLOAD_PREFIX)
    assert set(payload) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert Receipt.from_payload(payload) == receipt
    assert parse_receipt(payload + "\n") == receipt


# --- base45 (RFC 9285) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
    ],
)
def test_base45_follows_the_rfc_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@pytest.mark.parametrize(
    ("text", "why"),
    [("GGW", "65536 > 65535"), ("GGWA", "characters"), ("a00", "not a base45"), ("::", "> 255")],
)
def test_base45_refuses_what_the_rfc_refuses(text: str, why: str) -> None:
    with pytest.raises(FormatError, match=why) as err:
        b45decode(text, "payload")
    assert err.value.field == "payload"


@given(st.binary())
def test_base45_round_trips(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data


# --- malformed input names its field ---------------------------------------------------------


def _sample() -> Receipt:
    note = cosign(sign_checkpoint(Checkpoint(ORIGIN, 10, bytes(32)), LOG), WITNESSES[0], 1)
    return Receipt(
        "registration", "azovstal-2022", "Azovstal", "p-abcdef", bytes(16), b"{}", 3, (), note
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda t: t.replace(HEADER, "safepassage.example/receipt@v2"), "receipt line 1"),
        (lambda t: t.replace("stage registration", "stage boarding"), "stage"),
        (lambda t: t.replace("stage ", "stage: "), "receipt line 2"),
        (lambda t: t.replace("\nref p-abcdef", ""), "receipt"),
        (lambda t: t.replace('name "Azovstal"', 'name "\\u0041zovstal"'), "receipt"),
        (lambda t: t.replace('name "Azovstal"', "name Azovstal"), "receipt line 4 (name)"),
        (
            lambda t: t.replace("AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAAB=="),
            "receipt line 6 (salt)",
        ),
        (lambda t: t.replace("AAAAAAAAAAAAAAAAAAAAAA==", "AAAA"), "salt"),
        (lambda t: t.replace("ref p-abcdef", "ref p/abc"), "ref"),
        (lambda t: t.replace("index 3", "index 03"), "proof (tlog-proof line 2)"),
        (lambda t: t.replace("@v1\nindex", "@v1\nextra AA==\nindex"), "proof"),
        (lambda t: t.replace("index 3\n", "index 3\nAAAA\n"), "proof (tlog-proof line 3)"),
        (
            lambda t: t.replace(f"{ORIGIN}\n10\n", f"{ORIGIN}\n-10\n"),
            "checkpoint (checkpoint line 2 (size))",
        ),
        (lambda t: t + "\n", "checkpoint (note)"),
    ],
)
def test_a_malformed_text_names_its_field(change: object, field: str) -> None:
    text = change(_sample().to_text())  # type: ignore[operator]
    with pytest.raises(FormatError) as err:
        Receipt.from_text(text)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ("SPR2:AAA", "does not start with"),
        ("SPR1:a", "characters"),
        ("SPR1:" + b45encode(b"not zlib"), "is not zlib data"),
        ("SPR1:" + b45encode(zlib.compress(bytes(1 << 20))), "inflates past"),
        ("SPR1:" + b45encode(zlib.compress(b"x")[:-2]), "truncated"),
        ("SPR1:" + b45encode(zlib.compress(b"x") + b"more"), "truncated"),
    ],
)
def test_a_malformed_payload_is_refused(payload: str, why: str) -> None:
    with pytest.raises(FormatError, match=why) as err:
        Receipt.from_payload(payload)
    assert err.value.field == "payload"


def test_a_payload_holding_a_non_receipt_is_refused() -> None:
    with pytest.raises(FormatError) as err:
        Receipt.from_payload("SPR1:" + b45encode(zlib.compress(b"SPR1:" + b"x")))
    assert err.value.field == "receipt"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"salt": bytes(15)}, "salt"),
        ({"salt": "x" * 16}, "salt"),
        ({"proof": (bytes(31),)}, "proof[0]"),
        ({"proof": (bytes(32),) * 65}, "proof"),
        ({"event": b'{"a":\n1}'}, "event"),
        ({"event": b"\xff"}, "event"),
        ({"event": b""}, "event"),
        ({"index": -1}, "index"),
        ({"index": True}, "index"),
        ({"operation": "Azovstal"}, "operation"),
        ({"operation_name": ""}, "operation_name"),
        ({"operation_name": "\ud800"}, "operation_name"),
        ({"checkpoint": "no note"}, "checkpoint (note)"),
    ],
)
def test_a_receipt_holds_only_what_its_text_can_carry(
    fields: dict[str, object], field: str
) -> None:
    with pytest.raises(FormatError) as err:
        dataclasses.replace(_sample(), **fields)
    assert err.value.field == field


# --- size: a receipt of a real operation fits a printable QR code ----------------------------


def test_a_receipt_from_a_log_of_a_million_entries_fits_a_qr_code_at_level_m() -> None:
    """20 proof hashes (2^20 = 1,048,576 entries), the log's signature and four cosignatures,
    a registration with a commitment: measured 2,399 bytes of text, a 2,554-character payload,
    a version 35 QR code at error correction M (version 31 at L)."""
    note = sign_checkpoint(Checkpoint(ORIGIN, 1_048_576, os.urandom(32)), LOG)
    for witness in WITNESSES:
        note = cosign(note, witness, 1_651_300_000)
    body = parse_body(
        "person.registered",
        {
            "person": "P-ABCDEFGHIJKL",
            "household": "H-ABCDEFGHIJKL",
            "site": "azovstal",
            "age_band": "18-59",
            "sex": "female",
            "needs": ["medical"],
            "destination": "zaporizhzhia",
            "consent": True,
            "commitment": os.urandom(32).hex(),
        },
    )
    event = sign_event(
        operation="azovstal-2022",
        at=datetime(2022, 4, 30, 6, tzinfo=UTC),
        actor="icrc/registrar-1",
        body=body,
        key=Ed25519PrivateKey.generate(),
    )
    receipt = Receipt(
        "registration",
        "azovstal-2022",
        "Azovstal safe passage, Mariupol, 29 April - 3 May 2022",
        "P-ABCDEFGHIJKL",
        os.urandom(16),
        event.raw,
        524_287,
        tuple(os.urandom(32) for _ in range(20)),
        note,
    )
    text, payload = receipt.to_text().encode(), receipt.to_payload()
    assert 2300 < len(text) < 2500
    assert len(payload) < 2700
    qr = qr_code(payload)
    assert qr.error == "M"
    assert qr.version <= 36
    assert segno.make(payload, error="l", mode="alphanumeric", boost_error=False).version <= 32
    assert base64.b64encode(receipt.salt).decode() in receipt.to_text()
