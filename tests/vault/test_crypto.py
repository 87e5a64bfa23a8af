"""The vault's cryptography: keys that open only what they should, and commitments."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safepassage.errors import FormatError, SignatureError
from safepassage.vault.crypto import (
    SCRYPT_N,
    SCRYPT_R,
    DataKey,
    WrappedDataKey,
    commitment,
    open_record,
    seal_person_key,
    seal_record,
)

FAST = {"n": 2**10, "r": 8, "p": 1}  # the tests' scrypt cost; the default is memory-hard
RECORD = {"given_name": "Olena", "family_name": "Kovalenko", "birth_date": "1961-03-02"}


def test_the_default_passphrase_derivation_is_memory_hard() -> None:
    assert 128 * SCRYPT_N * SCRYPT_R >= 128 * 2**20  # bytes of memory per guess


def test_a_passphrase_unwraps_the_data_key_and_a_wrong_one_does_not() -> None:
    key = DataKey.generate()
    wrapped = key.wrap_with_passphrase("correct horse battery staple", **FAST)
    assert key.key not in wrapped.sealed
    assert DataKey.unwrap(wrapped, passphrase="correct horse battery staple").public_key() == (
        key.public_key()
    )
    assert DataKey.unwrap(wrapped, passphrase="correct horse battery staple") == key
    with pytest.raises(SignatureError) as err:
        DataKey.unwrap(wrapped, passphrase="correct horse battery stapler")
    assert err.value.field == "passphrase"
    assert "wrong passphrase" in err.value.reason
    with pytest.raises(FormatError) as missing:
        DataKey.unwrap(wrapped)
    assert missing.value.field == "passphrase"


def test_an_empty_passphrase_is_refused() -> None:
    with pytest.raises(FormatError) as err:
        DataKey.generate().wrap_with_passphrase("", **FAST)
    assert err.value.field == "passphrase"


def test_a_key_file_unwraps_the_data_key_and_another_file_is_named() -> None:
    key, key_file = DataKey.generate(), os.urandom(32)
    wrapped = WrappedDataKey.from_json(key.wrap_with_key_file(key_file).to_json())
    assert DataKey.unwrap(wrapped, key_file=key_file) == key
    with pytest.raises(SignatureError) as err:
        DataKey.unwrap(wrapped, key_file=os.urandom(32))
    assert err.value.field == "key file"
    assert wrapped.key_id in err.value.reason
    with pytest.raises(FormatError) as short:
        DataKey.unwrap(wrapped, key_file=b"too short")
    assert short.value.field == "key file"


def test_the_stored_form_round_trips_and_a_damaged_one_is_named() -> None:
    wrapped = DataKey.generate().wrap_with_passphrase("pass phrase", **FAST)
    assert WrappedDataKey.from_json(wrapped.to_json()) == wrapped
    for damaged in ({}, {"method": "scrypt"}, {"method": "rot13", "sealed": ""}, "nonsense"):
        with pytest.raises(FormatError) as err:
            WrappedDataKey.from_json(damaged)
        assert err.value.field == "vault key"


def test_a_record_opens_only_for_its_own_person_and_operation() -> None:
    key = DataKey.generate()
    person_key = os.urandom(32)
    sealed = seal_record("op", "P-000001", person_key, RECORD)
    assert b"Olena" not in sealed
    assert open_record("op", "P-000001", person_key, sealed) == RECORD
    for operation, ref in [("op", "P-000002"), ("other-op", "P-000001")]:
        with pytest.raises(SignatureError):
            open_record(operation, ref, person_key, sealed)
    sealed_key = seal_person_key(key.public_key(), "op", "P-000001", person_key)
    assert person_key not in sealed_key
    assert key.open_person_key("op", "P-000001", sealed_key) == person_key
    with pytest.raises(SignatureError):
        key.open_person_key("op", "P-000002", sealed_key)  # a key moved to another person
    with pytest.raises(SignatureError):
        DataKey.generate().open_person_key("op", "P-000001", sealed_key)


@given(
    record=st.dictionaries(st.sampled_from(sorted(RECORD)), st.text(max_size=30), min_size=1),
    other=st.text(max_size=30),
)
def test_a_commitment_binds_the_whole_record(record: dict[str, str], other: str) -> None:
    salt = os.urandom(32)
    assert commitment(salt, record) == commitment(salt, dict(reversed(record.items())))
    assert commitment(salt, record) != commitment(os.urandom(32), record)
    changed = dict(record)
    name = next(iter(record))
    changed[name] = record[name] + "x" + other
    assert commitment(salt, changed) != commitment(salt, record)
