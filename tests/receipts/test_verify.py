"""Issuing receipts from the demo operation and verifying them offline: every field counts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from safepassage.app.demo import run_demo
from safepassage.app.receipts import issue_receipt, public_keys
from safepassage.errors import (
    FormatError,
    ProofError,
    RuleError,
    SafepassageError,
    SignatureError,
)
from safepassage.ledger.checkpoint import cosign
from safepassage.ledger.note import CosignatureSigner
from safepassage.receipts import PublicKeys, Receipt, parse_receipt, verify_receipt
from tests.receipts.demo import PARTIES, SALT, Demo, record_of

MUTATIONS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_a_registration_receipt_proves_the_registration_and_the_record(demo: Demo) -> None:
    receipt = issue_receipt(demo.op, demo.committed, "registration", SALT)
    proven = verify_receipt(receipt, demo.keys, record_of(demo.committed))
    assert (proven.ref, proven.stage, proven.site, proven.destination) == (
        demo.committed,
        "registration",
        "azovstal",
        "zaporizhzhia",
    )
    assert proven.record_checked
    assert proven.actor == "icrc/registrar-1"
    assert list(proven.cosigners) == list(PARTIES)
    assert demo.op.log.store.entry(proven.index) == receipt.event
    # the latest checkpoint cosigned by more than the coordinator, not the latest one
    assert proven.checkpoint.size == demo.cosigned_size < demo.op.log.size()


def test_an_arrival_receipt_proves_the_arrival(demo: Demo) -> None:
    receipt = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    proven = verify_receipt(receipt, demo.keys)
    assert (proven.stage, proven.site, proven.destination) == ("arrival", "zaporizhzhia", None)
    assert proven.actor == "un-ocha/reception"
    assert not proven.record_checked
    assert demo.op.state.persons[demo.arrived].end_event == _event_id(receipt)


def _event_id(receipt: Receipt) -> str:
    return hashlib.sha256(receipt.event).hexdigest()


@pytest.mark.parametrize(
    ("record", "salt"),
    [({"given_name": "Someone else"}, SALT), (None, bytes(16)), (None, SALT + b"x")],
)
def test_another_record_or_salt_does_not_match_the_commitment(
    demo: Demo, record: dict[str, str] | None, salt: bytes
) -> None:
    receipt = issue_receipt(demo.op, demo.committed, "registration", salt)
    with pytest.raises(ProofError) as err:
        verify_receipt(receipt, demo.keys, record or record_of(demo.committed))
    assert err.value.field == "record"


def test_a_record_is_checked_only_against_a_commitment(demo: Demo) -> None:
    arrival = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    with pytest.raises(FormatError) as err:
        verify_receipt(arrival, demo.keys, record_of(demo.arrived))
    assert err.value.field == "record"
    without = issue_receipt(demo.op, demo.uncommitted, "registration", SALT)
    with pytest.raises(ProofError, match="no commitment") as err2:
        verify_receipt(without, demo.keys, record_of(demo.uncommitted))
    assert err2.value.field == "record"


def test_no_receipt_until_a_party_besides_the_coordinator_cosigned(demo: Demo) -> None:
    with pytest.raises(RuleError, match="cosign one first") as err:
        issue_receipt(demo.op, demo.uncosigned, "registration", SALT)
    assert err.value.field == "checkpoint"
    # made by hand against the coordinator-only checkpoint, it does not verify
    latest = demo.op.log.store.latest_checkpoint()
    assert latest is not None
    receipt = issue_receipt(demo.op, demo.committed, "registration", SALT)
    forged = dataclasses.replace(
        receipt,
        proof=tuple(demo.op.log.store.inclusion_proof(receipt.index, latest.size)),
        checkpoint=latest.note,
    )
    with pytest.raises(SignatureError, match="no party but the coordinator") as err2:
        verify_receipt(forged, demo.keys)
    assert err2.value.field == "checkpoint"


@pytest.mark.parametrize(
    ("who", "stage", "error", "field"),
    [
        ("p-nobody-here", "registration", RuleError, "ref"),
        ("left", "arrival", RuleError, "stage"),
        ("uncosigned", "arrival", RuleError, "stage"),
        ("arrived", "boarding", FormatError, "stage"),
    ],
)
def test_what_cannot_be_proven_is_refused_before_anything(
    demo: Demo, who: str, stage: str, error: type[SafepassageError], field: str
) -> None:
    ref = getattr(demo, who, who)
    with pytest.raises(error) as err:
        issue_receipt(demo.op, ref, stage, SALT)  # type: ignore[arg-type]
    assert err.value.field == field


def test_the_keys_bundle_round_trips_and_holds_no_person(demo: Demo) -> None:
    data = public_keys(demo.op)
    assert PublicKeys.from_json(json.loads(json.dumps(data))).to_json() == data
    text = json.dumps(data)
    assert not any(ref in text for ref in demo.op.state.persons)
    assert data["origin"] == demo.op.log.origin
    assert data["log"] == demo.op.log.verifier.key_string()
    assert {p: v["role"] for p, v in data["parties"].items()} == {
        "un-ocha": "coordinator",
        "icrc": "facilitator",
        "ukraine": "party-to-conflict",
        "russia": "party-to-conflict",
    }


def test_keys_of_another_operation_do_not_verify(demo: Demo, tmp_path: Path) -> None:
    receipt = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    with run_demo(tmp_path / "other") as other:  # same scenario, same ids: other keys
        keys = PublicKeys.from_json(public_keys(other))
    assert keys.operation == demo.keys.operation
    with pytest.raises(SignatureError) as err:
        verify_receipt(receipt, keys)
    assert err.value.field == "checkpoint (note)"


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        (lambda k: {**k, "operation": "another-op"}, SignatureError, "operation"),
        (lambda k: {**k, "name": "Another"}, SignatureError, "operation_name"),
        (
            lambda k: {
                **k,
                "actors": {a: v for a, v in k["actors"].items() if a != "un-ocha/reception"},
            },
            SignatureError,
            "event.actor",
        ),
        (
            lambda k: {
                **k,
                "actors": {
                    **k["actors"],
                    "un-ocha/reception": {
                        "party": "un-ocha",
                        "key": k["actors"]["icrc/registrar-1"]["key"],
                    },
                },
            },
            SignatureError,
            "event.sig",
        ),
        (
            lambda k: {
                **k,
                "parties": {
                    **k["parties"],
                    "un-ocha": {**k["parties"]["un-ocha"], "role": "observer"},
                    "icrc": {**k["parties"]["icrc"], "role": "coordinator"},
                },
            },
            SignatureError,
            "event.actor",
        ),
    ],
)
def test_keys_that_do_not_match_are_named(
    demo: Demo, change: object, error: type[SafepassageError], field: str
) -> None:
    receipt = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    keys = PublicKeys.from_json(change(public_keys(demo.op)))  # type: ignore[operator]
    with pytest.raises(error) as err:
        verify_receipt(receipt, keys)
    assert err.value.field == field


def test_a_signature_by_a_key_the_bundle_lacks_is_refused(demo: Demo) -> None:
    receipt = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    stranger = CosignatureSigner.generate("stranger.witness.example")
    extra = dataclasses.replace(receipt, checkpoint=cosign(receipt.checkpoint, stranger, 1))
    with pytest.raises(SignatureError, match="stranger") as err:
        verify_receipt(extra, demo.keys)
    assert err.value.field == "checkpoint (signature line 6)"


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        (lambda r, d: {"stage": "arrival"}, ProofError, "stage"),
        (lambda r, d: {"ref": d.arrived}, ProofError, "ref"),
        (lambda r, d: {"index": r.index + 1}, ProofError, "proof"),
        (lambda r, d: {"proof": r.proof[:-1]}, ProofError, "proof"),
        (lambda r, d: {"event": d.op.log.store.entry(r.index + 1)}, ProofError, "proof"),
    ],
)
def test_each_claim_of_a_receipt_is_checked(
    demo: Demo, change: object, error: type[SafepassageError], field: str
) -> None:
    receipt = issue_receipt(demo.op, demo.committed, "registration", SALT)
    altered = dataclasses.replace(receipt, **change(receipt, demo))  # type: ignore[operator]
    with pytest.raises(error) as err:
        verify_receipt(altered, demo.keys)
    assert err.value.field == field


@MUTATIONS
@given(position=st.integers(0, 10**6), value=st.integers(1, 255))
def test_every_single_byte_change_is_rejected(demo: Demo, position: int, value: int) -> None:
    """Verified with the record, every byte of the receipt counts: the salt too."""
    text = issue_receipt(demo.op, demo.committed, "registration", SALT).to_text().encode()
    mutated = bytearray(text)
    mutated[position % len(text)] ^= value
    with pytest.raises(SafepassageError):
        verify_receipt(parse_receipt(bytes(mutated)), demo.keys, record_of(demo.committed))


@MUTATIONS
@given(
    part=st.sampled_from(["event", "proof", "checkpoint"]),
    position=st.integers(0, 10**6),
    value=st.integers(1, 255),
)
def test_every_single_byte_change_of_the_event_proof_or_checkpoint_is_rejected(
    demo: Demo, part: str, position: int, value: int
) -> None:
    """Without a record too: only the salt is then unchecked."""
    receipt = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    text = receipt.to_text().encode()
    start = text.index(b"\nevent ") + 1
    stops = {"event": text.index(b"\n\n"), "checkpoint": len(text)}
    note = text.index(receipt.checkpoint.encode())
    bounds = {"event": (start, stops["event"]), "proof": (stops["event"], note)}
    lo, hi = bounds.get(part, (note, len(text)))
    mutated = bytearray(text)
    mutated[lo + position % (hi - lo)] ^= value
    with pytest.raises(SafepassageError):
        verify_receipt(parse_receipt(bytes(mutated)), demo.keys)


@settings(max_examples=100, deadline=None)
@given(
    position=st.integers(0, 10**6),
    char=st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"),
)
def test_a_changed_payload_character_is_rejected_or_changes_nothing(
    demo: Demo, position: int, char: str
) -> None:
    """A change that only touches zlib's unused padding bits decodes to the same receipt."""
    receipt = issue_receipt(demo.op, demo.committed, "registration", SALT)
    payload = receipt.to_payload()
    i = 5 + position % (len(payload) - 5)
    mutated = payload[:i] + char + payload[i + 1 :]
    try:
        read = parse_receipt(mutated)
        verify_receipt(read, demo.keys, record_of(demo.committed))
    except SafepassageError:
        return
    assert read == receipt


def test_a_receipt_reveals_no_other_person(demo: Demo) -> None:
    for ref, stage in [(demo.committed, "registration"), (demo.arrived, "arrival")]:
        receipt = issue_receipt(demo.op, ref, stage, os.urandom(16))  # type: ignore[arg-type]
        text = receipt.to_text()
        others = [other for other in demo.op.state.persons if other != ref]
        assert len(others) > 100
        assert not [other for other in others if other in text]
        assert text.count(ref) == 2  # the ref line and the event's body


def test_the_event_is_found_in_the_log_when_the_projections_cannot_say(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = issue_receipt(demo.op, demo.arrived, "arrival", SALT)
    monkeypatch.setattr(demo.op.projections, "engine", create_engine("sqlite://"))  # no tables
    assert issue_receipt(demo.op, demo.arrived, "arrival", SALT) == expected
