"""``safepassage vault init`` and ``safepassage person list|show|erase``: personal data.

The vault is unlocked by a passphrase (from ``--passphrase-file``, the environment variable
``SAFEPASSAGE_PASSPHRASE``, or a prompt on a terminal) or by ``--key-file``. Nothing here
prints a person's data except ``person show``, to a staff actor who states a purpose.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, get_args

import typer
from rich.console import Console
from rich.table import Table

from safepassage.app.operation import Operation
from safepassage.app.persons import (
    NewPerson,
    Registered,
    erase_person,
    read_person,
    register_people,
    settle,
)
from safepassage.errors import FormatError, SafepassageError, StoreError
from safepassage.events.catalogue import ErasureReason
from safepassage.vault.crypto import DataKey
from safepassage.vault.store import PersonalData, Vault

__all__ = ["person_app", "unlock", "vault_app"]

DirArg = typer.Argument(..., metavar="DIR", help="The operation's folder.", show_default=False)
PASSPHRASE_ENV = "SAFEPASSAGE_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret

PassphraseFile = typer.Option(
    None,
    "--passphrase-file",
    help=f"A file whose first line is the vault's passphrase (or set {PASSPHRASE_ENV}).",
    dir_okay=False,
)
KeyFile = typer.Option(
    None, "--key-file", help="The vault's key file (32 bytes), kept apart from DIR.", dir_okay=False
)
Actor = typer.Option(
    ..., "--actor", help="Who acts (party/name): the coordinator's or a facilitator's actor."
)


def _passphrase(path: Path | None, *, confirm: bool = False) -> str | None:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").splitlines()[0]
        except IndexError as exc:
            raise FormatError("is empty", field="passphrase file") from exc
    if PASSPHRASE_ENV in os.environ:
        return os.environ[PASSPHRASE_ENV]
    if sys.stdin.isatty():
        return str(typer.prompt("vault passphrase", hide_input=True, confirmation_prompt=confirm))
    return None


def _key_file(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


def unlock(vault: Vault, passphrase_file: Path | None, key_file: Path | None) -> DataKey:
    """The vault's data key from what the user gave; one clear error otherwise."""
    if key_file is not None:
        return vault.unlock(key_file=_key_file(key_file))
    if vault.wrapped.method == "keyfile":
        return vault.unlock()  # names the key file that is needed
    return vault.unlock(passphrase=_passphrase(passphrase_file))


vault_app = typer.Typer(help="The operation's vault of personal data.", no_args_is_help=True)


@vault_app.command("init")
def init(
    directory: Path = DirArg,
    passphrase_file: Path | None = PassphraseFile,
    key_file: Path | None = KeyFile,
) -> None:
    """Create the operation's vault, its data key locked by a passphrase or a key file (made
    if the path does not exist yet: keep it apart from DIR, e.g. on a USB key)."""
    with Operation.open(directory) as op:
        operation = op.state.operation or ""
    if key_file is not None:
        made = not key_file.exists()
        if made:  # a new key file: 32 random bytes, readable by its owner only
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
        Vault.create(directory, operation, key_file=_key_file(key_file)).close()
        how = f"the key file {key_file}" + (" (made now: keep it apart from DIR)" if made else "")
    else:
        passphrase = _passphrase(passphrase_file, confirm=True)
        if passphrase is None:
            raise FormatError(
                f"give --passphrase-file, --key-file or {PASSPHRASE_ENV}", field="passphrase"
            )
        Vault.create(directory, operation, passphrase=passphrase).close()
        how = "its passphrase"
    typer.echo(f"created the vault of {operation}: it opens only with {how}")


person_app = typer.Typer(help="People registered in the operation.", no_args_is_help=True)


Reason = StrEnum("Reason", {r: r for r in get_args(ErasureReason)})  # type: ignore[misc]


class ListFormat(StrEnum):
    json = "json"
    table = "table"


@person_app.command("list")
def list_people(
    directory: Path = DirArg,
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", help="json or table."),
) -> None:
    """Every registered person: reference and non-identifying attributes only (no unlock)."""
    held = _vault_status(directory)
    with Operation.open(directory) as op:
        rows: list[dict[str, Any]] = [
            {
                "ref": p.ref,
                "household": p.household,
                "age_band": p.age_band,
                "sex": p.sex,
                "needs": list(p.needs),
                "destination": p.destination,
                "status": p.status,
                "record": "erased" if p.erased_event else held.get(p.ref, "none"),
            }
            for p in op.state.persons.values()
        ]
    if fmt is ListFormat.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("ref", "household", "age band", "sex", "destination", "status", "record")
    for r in rows:
        table.add_row(*(str(r[k]) for k in ("ref", "household", "age_band", "sex")),
                      r["destination"], r["status"], r["record"])  # fmt: skip
    Console(highlight=False).print(table)


def _vault_status(directory: Path) -> dict[str, str]:
    """Each reference the vault has a row for, and its status (if the operation has a vault)."""
    try:
        vault = Vault.open(directory)
    except StoreError:
        return {}
    with vault:
        return vault.statuses()


@person_app.command("register")
def register(
    directory: Path = DirArg,
    actor: str = Actor,
    site: str = typer.Option(..., "--site", help="The pickup site where the person is."),
    household: str = typer.Option(..., "--household", help="The household's reference."),
    sex: str = typer.Option(..., "--sex", help="female, male, other or undisclosed."),
    age_band: str = typer.Option(..., "--age-band", help="0-4, 5-11, 12-17, 18-59 or 60+."),
    destination: str = typer.Option(..., "--destination", help="The reception site chosen."),
    given_name: str = typer.Option(..., "--given-name"),
    family_name: str = typer.Option(..., "--family-name"),
    birth_date: str | None = typer.Option(None, "--birth-date", help="YYYY-MM-DD."),
    document: str | None = typer.Option(None, "--document", help="An identity document's number."),
    phone: str | None = typer.Option(None, "--phone"),
    needs: list[str] = typer.Option([], "--need", help="medical, stretcher, ... (repeatable)."),
) -> None:
    """Register one person who consents to leave: their data sealed in the vault, a reference
    and a commitment in the log. Prints the new reference as the last line."""
    data = PersonalData(given_name, family_name, birth_date, document, phone, None)
    new = NewPerson(household, site, age_band, sex, destination, data, tuple(needs))
    with Operation.open(directory) as op, Vault.open(directory) as vault:
        [answer] = register_people(op, vault, [new], actor=actor, at=datetime.now(UTC))
    if isinstance(answer, SafepassageError):
        raise answer
    assert isinstance(answer, Registered)
    typer.echo(f"registered at log entry {answer.receipt.index}; the person's reference:")
    typer.echo(answer.ref)


@person_app.command("show")
def show(
    directory: Path = DirArg,
    ref: str = typer.Argument(..., metavar="REF", help="The person's reference."),
    actor: str = Actor,
    purpose: str = typer.Option(..., "--purpose", help="Why you open this record (recorded)."),
    passphrase_file: Path | None = PassphraseFile,
    key_file: Path | None = KeyFile,
) -> None:
    """Decrypt one person's record, for a staff actor; the opening is recorded with its purpose."""
    with Operation.open(directory) as op, Vault.open(directory) as vault:
        key = unlock(vault, passphrase_file, key_file)
        data, _ = read_person(op, vault, key, ref, actor=actor, purpose=purpose)
        person = op.state.persons[ref]
    out = {"ref": ref, "household": person.household, "status": person.status} | {
        k: v for k, v in data.committed(ref).items() if k != "ref"
    }
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


@person_app.command("erase")
def erase(
    directory: Path = DirArg,
    ref: str = typer.Argument(..., metavar="REF", help="The person's reference."),
    actor: str = Actor,
    reason: Reason = typer.Option(
        ..., "--reason", help="Why, as a code (logged: every party reads it, so no free text)."
    ),
    passphrase_file: Path | None = PassphraseFile,
    key_file: Path | None = KeyFile,
) -> None:
    """Erase a person's personal data for good (their key is destroyed); the log keeps the facts
    and records the erasure, and every figure stays as it was."""
    with Operation.open(directory) as op, Vault.open(directory) as vault:
        key = unlock(vault, passphrase_file, key_file)
        receipt = erase_person(
            op,
            vault,
            key,
            ref,
            actor=actor,
            reason=reason.value,  # type: ignore[arg-type]
            at=datetime.now(UTC),
        )
        settle(op, vault)
    typer.echo(f"erased the record of {ref} (log entry {receipt.index})")
