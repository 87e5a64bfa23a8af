"""The operation's public keys: everything needed to check a receipt offline. Pure: no I/O.

A small JSON document, exported by ``safepassage receipt keys DIR`` and handed out apart from
any receipt (printed at the reception centre, published by each party)::

    {
      "format": "safepassage.example/public-keys@v1",
      "operation": "azovstal-2022",
      "name": "...",
      "origin": "safepassage.example/azovstal-2022",
      "log": "<the log's verifier key string (C2SP, type 0x01)>",
      "parties": {"<party>": {"name": "...", "role": "coordinator|facilitator|...",
                              "witness": "<witness verifier key string (type 0x04)> or null"}},
      "actors": {"<party>/<name>": {"party": "<party>", "key": "<base64 Ed25519 public key>"}}
    }

Actors' keys are in it so that a receipt's event is checked as signed by its actor, not only as
logged. They reveal nothing about anyone evacuated: actors are staff and devices of parties.
An actor's key stays in the bundle once revoked: the log refused its events after revocation,
and the ones before remain good.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from safepassage.errors import FormatError
from safepassage.ledger.note import KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, Verifier

__all__ = ["FORMAT", "ROLES", "Party", "PublicKeys"]

FORMAT: Final = "safepassage.example/public-keys@v1"
ROLES: Final = frozenset({"coordinator", "facilitator", "party-to-conflict", "observer"})
_FIELDS: Final = ("format", "operation", "name", "origin", "log", "parties", "actors")
_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


@dataclass(frozen=True)
class Party:
    """A party to the operation: its name, role, and its witness's key if it has one."""

    name: str
    role: str
    witness: Verifier | None


@dataclass(frozen=True)
class PublicKeys:
    """An operation's public keys; ``from_json`` checks every field, naming the one at fault."""

    operation: str
    name: str
    log: Verifier
    parties: Mapping[str, Party]
    actors: Mapping[str, bytes]
    """Actor id (``<party>/<name>``) to its raw 32-byte Ed25519 public key."""

    @property
    def origin(self) -> str:
        """The log's origin: the name of its key, the first line of its checkpoints."""
        return self.log.name

    @property
    def coordinator(self) -> str:
        """The coordinating party: it runs the log, so its cosignature alone proves little."""
        for p, party in self.parties.items():
            if party.role == "coordinator":
                return p
        raise FormatError("has no coordinator", field="keys.parties")

    def witnesses(self) -> dict[str, Verifier]:
        """Party to its witness key, for parties that have one."""
        return {p: party.witness for p, party in self.parties.items() if party.witness}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "operation": self.operation,
            "name": self.name,
            "origin": self.origin,
            "log": self.log.key_string(),
            "parties": {
                p: {
                    "name": party.name,
                    "role": party.role,
                    "witness": party.witness.key_string() if party.witness else None,
                }
                for p, party in sorted(self.parties.items())
            },
            "actors": {
                actor: {"party": actor.split("/", 1)[0], "key": base64.b64encode(key).decode()}
                for actor, key in sorted(self.actors.items())
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> PublicKeys:  # noqa: ANN401 - whatever the file held
        """Read the bundle strictly: unknown or missing fields, bad keys, a second coordinator."""
        obj = _object(data, "keys", _FIELDS)
        if obj["format"] != FORMAT:
            raise FormatError(f"must be {FORMAT!r}", field="keys.format")
        operation = _slug(obj["operation"], "keys.operation")
        name = _text(obj["name"], "keys.name")
        log = _verifier(obj["log"], "keys.log", KEY_TYPE_ED25519)
        if obj["origin"] != log.name:
            raise FormatError(f"is not the log key's name {log.name!r}", field="keys.origin")
        parties = _parties(obj["parties"])
        actors = _actors(obj["actors"], parties)
        return cls(operation, name, log, parties, actors)


def _object(data: Any, field: str, fields: tuple[str, ...]) -> dict[str, Any]:  # noqa: ANN401
    if not isinstance(data, dict):
        raise FormatError("must be a JSON object", field=field)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise FormatError(f"unknown field {unknown[0]!r}", field=field)
    missing = [f for f in fields if f not in data]
    if missing:
        raise FormatError(f"missing field {missing[0]!r}", field=field)
    return data


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise FormatError("must be a non-empty string", field=field)
    return value


def _slug(value: object, field: str) -> str:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise FormatError("must be a slug (lowercase letters, digits, '.', '_', '-')", field=field)
    return value


def _verifier(value: object, field: str, key_type: int) -> Verifier:
    try:
        verifier = Verifier.from_key_string(_text(value, field))
    except FormatError as exc:
        raise FormatError(exc.reason, field=field) from exc
    if verifier.key_type != key_type:
        raise FormatError(f"must be a key of type 0x{key_type:02x}", field=field)
    return verifier


def _parties(value: object) -> dict[str, Party]:
    if not isinstance(value, dict) or not value:
        raise FormatError("must be a non-empty JSON object", field="keys.parties")
    parties: dict[str, Party] = {}
    for p, entry in value.items():
        field = f"keys.parties.{p}"
        _slug(p, field)
        obj = _object(entry, field, ("name", "role", "witness"))
        if obj["role"] not in ROLES:
            raise FormatError(f"must be one of {', '.join(sorted(ROLES))}", field=f"{field}.role")
        witness = obj["witness"]
        parties[p] = Party(
            _text(obj["name"], f"{field}.name"),
            obj["role"],
            None
            if witness is None
            else _verifier(witness, f"{field}.witness", KEY_TYPE_COSIGNATURE_V1),
        )
    if sum(party.role == "coordinator" for party in parties.values()) != 1:
        raise FormatError("must hold exactly one coordinator", field="keys.parties")
    names = [party.witness.name for party in parties.values() if party.witness]
    if len(set(names)) != len(names):
        # a cosignature names its key: two witnesses with one name could not be told apart
        raise FormatError("two witness keys have the same name", field="keys.parties")
    return parties


def _actors(value: object, parties: Mapping[str, Party]) -> dict[str, bytes]:
    if not isinstance(value, dict):
        raise FormatError("must be a JSON object", field="keys.actors")
    actors: dict[str, bytes] = {}
    for actor, entry in value.items():
        field = f"keys.actors.{actor}"
        obj = _object(entry, field, ("party", "key"))
        party, _, rest = str(actor).partition("/")
        if party != obj["party"] or not _SLUG.fullmatch(rest):
            raise FormatError("must be <party>/<name> of its party", field=field)
        if party not in parties:
            raise FormatError(f"party {party!r} is not in keys.parties", field=f"{field}.party")
        try:
            key = base64.b64decode(_text(obj["key"], f"{field}.key"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FormatError("is not base64", field=f"{field}.key") from exc
        if len(key) != 32:
            raise FormatError("must be a 32-byte Ed25519 public key", field=f"{field}.key")
        actors[actor] = key
    return actors
