"""Signed events: canonical bytes, ids, signatures, and every malformed entry named."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from safepassage.errors import FormatError, SafepassageError, SignatureError
from safepassage.events.catalogue import KINDS, parse_body
from safepassage.events.envelope import Event, parse_event, read_event, sign_event
from tests.events.examples import EXAMPLES
from tests.strategies import flip_bit

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
AT = datetime(2022, 4, 30, 6, 5, tzinfo=UTC)


def event(kind: str = "movement.acknowledged"):
    return sign_event(
        operation="azovstal-2022",
        at=AT,
        actor="russia/liaison",
        body=parse_body(kind, EXAMPLES[kind]),
        key=KEY,
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_signs_parses_and_verifies(kind: str) -> None:
    e = event(kind)
    again = parse_event(e.raw)
    assert again == e
    assert again.id == e.id
    again.verify(PUBLIC)
    assert rfc8785.dumps(json.loads(e.raw)) == e.raw


def test_the_id_is_the_hash_of_the_bytes_and_does_not_depend_on_who_parses() -> None:
    import hashlib  # noqa: PLC0415

    e = event()
    assert e.id == hashlib.sha256(e.raw).hexdigest()
    assert event().id == e.id  # Ed25519 is deterministic: the same event twice is one event


def test_another_key_does_not_verify() -> None:
    other = Ed25519PrivateKey.generate().public_key()
    raw = other.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with pytest.raises(SignatureError) as err:
        event().verify(raw)
    assert err.value.field == "sig"


@given(bit=st.integers(0, 8 * 200 - 1))
def test_every_bit_flip_is_refused_or_fails_the_signature(bit: int) -> None:
    e = event()
    bad = flip_bit(e.raw, bit % (8 * len(e.raw)))
    try:
        parsed = parse_event(bad)
    except FormatError:
        return
    with pytest.raises(SafepassageError):
        parsed.verify(PUBLIC)


def _mutate(change: dict[str, object], drop: str | None = None) -> bytes:
    obj = json.loads(event().raw)
    obj.update(change)
    if drop:
        del obj[drop]
    return rfc8785.dumps(obj)


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (b"not json", "event", "not JSON"),
        (b"[1,2]", "event", "JSON object"),
        (_mutate({"extra": 1}), "event", "unknown field"),
        (_mutate({"v": 2}), "v", "must be 1"),
        (_mutate({}, drop="at"), "at", "non-empty string"),
        (_mutate({"at": "yesterday"}), "at", "RFC 3339"),
        (_mutate({"at": "2022-04-30T06:05:00"}), "at", "time zone"),
        (_mutate({"actor": "russia"}), "actor", "<party>/<name>"),
        (_mutate({"sig": "!!"}), "sig", "base64"),
        (_mutate({"sig": base64.b64encode(b"short").decode()}), "sig", "64-byte"),
        (_mutate({"kind": "person.teleported"}), "kind", "unknown event kind"),
        (_mutate({"body": {"movement": "Convoy 1"}}), "body.movement", "pattern"),
        (json.dumps(json.loads(event().raw), indent=1).encode(), "event", "canonical"),
    ],
)
def test_malformed_events_name_the_field(raw: bytes, field: str, reason: str) -> None:
    with pytest.raises(FormatError) as err:
        parse_event(raw)
    assert err.value.field == field
    assert reason in err.value.reason


def test_a_naive_time_cannot_be_signed() -> None:
    with pytest.raises(FormatError) as err:
        sign_event(
            operation="o",
            at=datetime(2022, 4, 30),  # noqa: DTZ001 - the mistake under test
            actor="a/b",
            body=parse_body("movement.departed", EXAMPLES["movement.departed"]),
            key=KEY,
        )
    assert err.value.field == "at"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_reading_a_logged_entry_gives_the_parsed_event(kind: str) -> None:
    e = event(kind)
    assert read_event(e.raw) == parse_event(e.raw) == e


@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)))
def test_the_fast_read_never_accepts_what_the_parser_refuses_but_canonical_form(
    data: st.DataObject, kind: str
) -> None:
    original = event(kind).raw
    raw = flip_bit(original, data.draw(st.integers(0, len(original) * 8 - 1)))
    parsed, read = outcome(parse_event, raw), outcome(read_event, raw)
    if isinstance(read, Event) and not isinstance(parsed, Event):
        # the one thing the fast path leaves to the Merkle tree: the bytes' spelling
        assert parsed == ("event", "is not in canonical form (RFC 8785)")
        assert rfc8785.dumps(json.loads(raw)) != raw
        assert read.body == parse_body(read.kind, json.loads(raw)["body"])
    else:
        assert read == parsed


def outcome(parse: Callable[[bytes], Event], raw: bytes) -> Event | tuple[str | None, str]:
    try:
        return parse(raw)
    except FormatError as exc:
        return (exc.field, exc.reason)


def test_the_fast_read_names_the_field_of_a_bad_entry() -> None:
    obj = json.loads(event("person.boarded").raw)
    obj["body"]["vehicle"] = "Not A Slug"
    with pytest.raises(FormatError) as err:
        read_event(rfc8785.dumps(obj))
    assert err.value.field == "body.vehicle"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_signed_content_is_the_canonical_event_without_its_signature(kind: str) -> None:
    e = event(kind)
    obj = json.loads(e.raw)
    del obj["sig"]
    assert e.signed_content() == rfc8785.dumps(obj)
    e.verify(PUBLIC)


def test_a_body_that_spells_a_signature_does_not_fool_the_signed_content() -> None:
    body = dict(EXAMPLES["incident.reported"], description='held,"sig":"AAAA","v":1}')
    e = sign_event(
        operation="azovstal-2022",
        at=AT,
        actor="russia/liaison",
        body=parse_body("incident.reported", body),
        key=KEY,
    )
    obj = json.loads(e.raw)
    del obj["sig"]
    assert e.signed_content() == rfc8785.dumps(obj)
    e.verify(PUBLIC)


def test_a_signature_spelled_with_spare_bits_set_is_refused() -> None:
    e = event()
    obj = json.loads(e.raw)
    sig = obj["sig"]
    assert sig.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(sig[-3])
    obj["sig"] = sig[:-3] + alphabet[last ^ 1] + "=="  # same 64 bytes, another spelling
    assert base64.b64decode(obj["sig"]) == e.signature
    raw = rfc8785.dumps(obj)
    for parse in (parse_event, read_event):
        with pytest.raises(FormatError) as err:
            parse(raw)
        assert err.value.field == "sig"
        assert "canonical base64" in err.value.reason


@given(
    at=st.datetimes(timezones=st.timezones()),
    description=st.text(min_size=1, max_size=40).filter(lambda t: t.strip() != ""),
)
def test_a_signed_event_is_exactly_what_parsing_its_bytes_gives(at, description) -> None:
    body = {**EXAMPLES["incident.reported"], "description": description}
    try:
        made = sign_event(operation="azovstal-2022", at=at, actor="russia/liaison",
                          body=parse_body("incident.reported", body), key=KEY)  # fmt: skip
    except FormatError:
        return  # a time zone that leaves no UTC offset, or text the body refuses
    again = parse_event(made.raw)
    assert again == made
    assert again.at == made.at
    assert rfc8785.dumps(json.loads(made.raw)) == made.raw
    again.verify(PUBLIC)
