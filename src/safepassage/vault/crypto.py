"""The vault's cryptography: data key, per-person keys, sealed records, commitments. No I/O.

* The operation's **data key** is an X25519 private key (32 random bytes). It is never stored in
  plaintext: it is wrapped (AES-256-GCM) under a key-encryption key derived from a passphrase
  with scrypt (memory-hard, 2^17 x 8 x 128 bytes = 128 MiB per guess), or taken from a key file
  the coordinator keeps outside the operation's folder. ``WrappedDataKey`` is what is stored,
  beside the data key's *public* half.
* Each **person** has their own key (32 random bytes). Their record is sealed with AES-256-GCM
  under it; the person key is sealed to the data key's public half with HPKE (RFC 9180:
  X25519, HKDF-SHA256, AES-256-GCM). So a registrar, or an import, can seal a record without
  being able to open any: only the holder of the passphrase or key file can. Destroying a
  person's sealed key (crypto-shredding) makes their record unreadable for good.
* The log holds only the pseudonymous reference and a **commitment**: HMAC-SHA256, keyed by a
  random salt kept sealed with the record, over the record's canonical JSON (RFC 8785). The
  evacuee's receipt carries the salt, so they (and only they) can show which record it was.

Every ciphertext is bound to where it belongs (AES-GCM's associated data, HPKE's ``info``: the
operation, the person's reference and what the bytes are), so sealed bytes moved to another
person or another operation do not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from safepassage import canonical
from safepassage.errors import FormatError, SignatureError

__all__ = [
    "KEY_BYTES",
    "DataKey",
    "WrappedDataKey",
    "commitment",
    "context",
    "open_record",
    "open_sealed",
    "seal",
    "seal_person_key",
    "seal_record",
    "seal_to",
]

KEY_BYTES = 32
NONCE_BYTES = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
SALT_BYTES = 16


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """AES-256-GCM: a fresh random nonce, then the ciphertext and tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def open_sealed(key: bytes, sealed: bytes, context: bytes) -> bytes:
    """Open what ``seal`` made; ``SignatureError`` if the key or the context is not the one."""
    if len(sealed) < NONCE_BYTES + 16:
        raise FormatError("is too short to be sealed data", field="sealed")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
    except InvalidTag as exc:
        raise SignatureError("does not open with this key (wrong key, or altered)") from exc


def commitment(salt: bytes, record: dict[str, Any]) -> str:
    """HMAC-SHA256 keyed by ``salt`` over the record's canonical JSON, in hex."""
    return hmac.new(salt, canonical.dumps(record), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WrappedDataKey:
    """The data key as stored: sealed under a passphrase-derived or key-file key."""

    method: Literal["scrypt", "keyfile"]
    sealed: bytes
    salt: bytes = b""
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P
    key_id: str = ""
    """For a key file: the first 16 hex digits of its SHA-256, to say which file is needed."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "sealed": base64.b64encode(self.sealed).decode(),
        }
        if self.method == "scrypt":
            out |= {"salt": base64.b64encode(self.salt).decode(), "n": self.n, "r": self.r}
            out["p"] = self.p
        else:
            out["key_id"] = self.key_id
        return out

    @classmethod
    def from_json(cls, data: Any) -> WrappedDataKey:  # noqa: ANN401 - whatever the file held
        try:
            method = data["method"]
            sealed = base64.b64decode(data["sealed"], validate=True)
            if method == "scrypt":
                return cls(
                    "scrypt",
                    sealed,
                    salt=base64.b64decode(data["salt"], validate=True),
                    n=int(data["n"]),
                    r=int(data["r"]),
                    p=int(data["p"]),
                )
            if method == "keyfile":
                return cls("keyfile", sealed, key_id=str(data["key_id"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"is not a wrapped data key: {exc}", field="vault key") from exc
        raise FormatError(f"unknown method {method!r}", field="vault key")


def _kek_from_passphrase(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise FormatError("must not be empty", field="passphrase")
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p)
    return kdf.derive(passphrase.encode())


def _key_id(key_file: bytes) -> str:
    return hashlib.sha256(key_file).hexdigest()[:16]


def _check_key_file(key_file: bytes) -> None:
    if len(key_file) != KEY_BYTES:
        raise FormatError(f"must hold exactly {KEY_BYTES} bytes", field="key file")


_WRAP_CONTEXT = b"safepassage vault data key v1"


@dataclass(frozen=True)
class DataKey:
    """The operation's data key, unlocked, in memory only."""

    key: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> DataKey:
        return cls(os.urandom(KEY_BYTES))

    def wrap_with_passphrase(
        self, passphrase: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
    ) -> WrappedDataKey:
        salt = os.urandom(SALT_BYTES)
        kek = _kek_from_passphrase(passphrase, salt, n, r, p)
        sealed = seal(kek, self.key, _WRAP_CONTEXT)
        return WrappedDataKey("scrypt", sealed, salt=salt, n=n, r=r, p=p)

    def wrap_with_key_file(self, key_file: bytes) -> WrappedDataKey:
        _check_key_file(key_file)
        return WrappedDataKey(
            "keyfile", seal(key_file, self.key, _WRAP_CONTEXT), key_id=_key_id(key_file)
        )

    @classmethod
    def unwrap(
        cls,
        wrapped: WrappedDataKey,
        *,
        passphrase: str | None = None,
        key_file: bytes | None = None,
    ) -> DataKey:
        """The data key, given the passphrase or the key file; one clear error otherwise."""
        if wrapped.method == "scrypt":
            if passphrase is None:
                raise FormatError("this vault is locked with a passphrase", field="passphrase")
            kek = _kek_from_passphrase(passphrase, wrapped.salt, wrapped.n, wrapped.r, wrapped.p)
            what = "passphrase"
        else:
            if key_file is None:
                raise FormatError(
                    f"this vault is locked with key file {wrapped.key_id}", field="key file"
                )
            _check_key_file(key_file)
            if _key_id(key_file) != wrapped.key_id:
                raise SignatureError(
                    f"is not the vault's key file (expected {wrapped.key_id})", field="key file"
                )
            kek, what = key_file, "key file"
        try:
            return cls(open_sealed(kek, wrapped.sealed, _WRAP_CONTEXT))
        except SignatureError as exc:
            raise SignatureError(f"wrong {what}: the vault does not open", field=what) from exc

    # --- per person ---------------------------------------------------------------------------

    def public_key(self) -> bytes:
        """The data key's public half: what seals person keys (stored in plaintext)."""
        return X25519PrivateKey.from_private_bytes(self.key).public_key().public_bytes_raw()

    def open_person_key(self, operation: str, ref: str, sealed: bytes) -> bytes:
        """A person's key, sealed to this data key by ``seal_person_key``."""
        return self.open_sealed_to(sealed, context(operation, ref, "person key"))

    def open_sealed_to(self, sealed: bytes, context: bytes) -> bytes:
        """Open what ``seal_to`` sealed to this key's public half with ``context``."""
        try:
            return _HPKE.decrypt(
                sealed, X25519PrivateKey.from_private_bytes(self.key), info=context
            )
        except (InvalidTag, ValueError) as exc:
            raise SignatureError("does not open with this key (wrong key, or altered)") from exc


_HPKE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)


def seal_to(public_key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """HPKE-seal ``plaintext`` to the data key's public half (only the data key opens it)."""
    if len(public_key) != KEY_BYTES:
        raise FormatError(f"must be {KEY_BYTES} bytes", field="vault public key")
    return _HPKE.encrypt(plaintext, X25519PublicKey.from_public_bytes(public_key), info=context)


def seal_person_key(public_key: bytes, operation: str, ref: str, person_key: bytes) -> bytes:
    """Seal a person's key to the data key's public half (no secret needed to do so)."""
    if len(public_key) != KEY_BYTES:
        raise FormatError(f"must be {KEY_BYTES} bytes", field="vault public key")
    return _HPKE.encrypt(
        person_key,
        X25519PublicKey.from_public_bytes(public_key),
        info=context(operation, ref, "person key"),
    )


def context(operation: str, ref: str, what: str) -> bytes:
    """The associated data that binds sealed bytes to an operation, a person and a use."""
    return canonical.dumps({"operation": operation, "ref": ref, "what": what})


def seal_record(operation: str, ref: str, person_key: bytes, record: dict[str, Any]) -> bytes:
    """A person's record (and its commitment salt) sealed under their own key."""
    return seal(person_key, canonical.dumps(record), context(operation, ref, "record"))


def open_record(operation: str, ref: str, person_key: bytes, sealed: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        open_sealed(person_key, sealed, context(operation, ref, "record"))
    )
    return data
