"""Private keys a safepassage server holds: actors' signing keys and parties' witness keys.

In a real operation each party keeps its own keys on its own devices; a folder of everyone's
keys exists only for the demo and for tests, and says so in ``DIR/keys/DEMO-ONLY.txt``.
Keys are written with mode 0600 and never overwritten.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safepassage.errors import StoreError
from safepassage.ledger.note import CosignatureSigner

__all__ = ["DEMO_NOTICE", "Keyring", "public_key_b64"]

DEMO_NOTICE = (
    "DEMO ONLY. These are the private keys of every actor and witness of a demonstration\n"
    "operation, kept together so that the demo can play every part. In a real operation each\n"
    "party generates and keeps its own keys; a folder like this must never exist.\n"
)


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _file_name(name: str) -> str:
    return name.replace("/", "__") + ".key"


class Keyring:
    """A folder of private keys, one file each."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._actors: dict[str, Ed25519PrivateKey] = {}

    def mark_demo(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "DEMO-ONLY.txt").write_text(DEMO_NOTICE, encoding="utf-8")

    def _write(self, name: str, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / _file_name(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _read(self, name: str) -> str:
        path = self.directory / _file_name(name)
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError as exc:
            raise StoreError(f"this server holds no key for {name}", field="actor") from exc

    def new_actor(self, actor: str) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        self._write(actor, base64.b64encode(raw).decode())
        return key

    def holds(self, name: str) -> bool:
        """Whether this folder holds a private key for the actor (or ``<party>.witness``)."""
        return (self.directory / _file_name(name)).is_file()

    def actor(self, actor: str) -> Ed25519PrivateKey:
        """The actor's key, read once: a key file is written once and never rewritten
        (``_write`` refuses an existing file), and a server signs with it batch after batch."""
        key = self._actors.get(actor)
        if key is None:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(self._read(actor)))
            self._actors[actor] = key
        return key

    def new_witness(self, party: str) -> CosignatureSigner:
        signer = CosignatureSigner.generate(f"{party}.witness.safepassage.example")
        self._write(f"{party}.witness", signer.key_string())
        return signer

    def witness(self, party: str) -> CosignatureSigner:
        return CosignatureSigner.from_key_string(self._read(f"{party}.witness"))
