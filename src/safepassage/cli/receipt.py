"""``safepassage receipt verify FILE`` and ``safepassage receipt keys DIR``.

``verify`` reads everything before checking anything and writes nothing: a file that is not a
receipt, keys or a record that are not what they say are bad input (exit 2); a receipt that was
read but does not verify is a failed verification (exit 1), naming the field at fault.
"""

from __future__ import annotations

import base64
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from safepassage.app.operation import Operation
from safepassage.app.receipts import public_keys
from safepassage.cli.person import KeyFile, PassphraseFile, unlock
from safepassage.errors import FormatError, SafepassageError, VerificationError
from safepassage.receipts.keys import PublicKeys
from safepassage.receipts.render import read_receipt_file
from safepassage.receipts.verify import VerifiedReceipt, verify_receipt

__all__ = ["read_keys", "receipt_app"]

receipt_app = typer.Typer(
    help="Evacuee receipts: check one offline; export the keys that check them.",
    no_args_is_help=True,
)

_MAX_JSON_BYTES = 10 * 1024 * 1024


def _read_json(path: Path, what: str) -> Any:  # noqa: ANN401 - whatever the file held
    if path.stat().st_size > _MAX_JSON_BYTES:
        raise FormatError(f"is larger than {_MAX_JSON_BYTES} bytes", field=str(path))
    try:
        return json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"is not a JSON {what}: {exc}", field=str(path)) from exc


def read_keys(path: Path) -> PublicKeys:
    """An operation's public-keys file; errors name the file."""
    try:
        return PublicKeys.from_json(_read_json(path, "keys file"))
    except FormatError as exc:
        if exc.field == str(path):
            raise
        raise FormatError(str(exc), field=str(path)) from exc


def _read_record(path: Path) -> dict[str, Any]:
    record = _read_json(path, "object")
    if not isinstance(record, dict):
        raise FormatError("must hold the person's record, a JSON object", field=str(path))
    return record


def _say(proven: VerifiedReceipt, roles: dict[str, str]) -> None:
    at = proven.at.strftime("%Y-%m-%d %H:%M UTC")
    what = (
        f"registered at {proven.site}"
        if proven.stage == "registration"
        else (f"arrived at {proven.site}")
    )
    typer.echo(f"ok: {proven.stage} receipt of {proven.ref} verified")
    typer.echo(f"operation: {proven.operation_name} ({proven.operation})")
    line = f"{what} on {at}, recorded by {proven.actor}"
    if proven.destination is not None:
        line += f"; destination chosen: {proven.destination}"
    typer.echo(line)
    size = proven.checkpoint.size
    root = base64.b64encode(proven.checkpoint.root).decode()
    typer.echo(f"log entry {proven.index} of the checkpoint of size {size}, root {root}")
    cosigners = ", ".join(f"{p} ({roles[p]})" for p in proven.cosigners)
    typer.echo(f"cosigned by: {cosigners}")
    if proven.record_checked:
        typer.echo("record: matches the registration's commitment")
    else:
        typer.echo("record: not checked (give --record RECORD.json to check it)")


@receipt_app.command("verify")
def verify(
    file: Path = typer.Argument(
        ...,
        metavar="FILE",
        help="The receipt: its PDF, its PNG, or its payload (the QR code's text) in a file.",
        show_default=False,
        dir_okay=False,
    ),
    keys: Path = typer.Option(
        ...,
        "--keys",
        metavar="KEYS.json",
        help="The operation's public keys (safepassage receipt keys), obtained apart from FILE.",
        dir_okay=False,
    ),
    record: Path | None = typer.Option(
        None,
        "--record",
        metavar="RECORD.json",
        help="The person's record: also check it is the one the registration committed to.",
        dir_okay=False,
    ),
) -> None:
    """Check a receipt offline: the checkpoint's signatures and cosignatures, the event's
    inclusion in it, the event's signature, and that it is this person's registration or
    arrival. Exit 0 when it verifies, 1 when it does not, 2 for bad input."""
    receipt = read_receipt_file(file)
    bundle = read_keys(keys)
    person = _read_record(record) if record is not None else None
    if person is not None and receipt.stage != "registration":
        raise FormatError(
            "only a registration receipt carries the commitment a record is checked by",
            field="--record",
        )
    try:
        proven = verify_receipt(receipt, bundle, person)
    except SafepassageError as exc:
        raise VerificationError(str(exc), field=exc.field) from exc
    _say(proven, {p: party.role for p, party in bundle.parties.items()})


@receipt_app.command("keys")
def keys(
    directory: Path = typer.Argument(
        ..., metavar="DIR", help="The operation's folder.", show_default=False
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help="Write the keys here (default: standard output).",
        dir_okay=False,
    ),
) -> None:
    """Export the operation's public keys (the log's, each party's witness and role, each
    actor's), which check its receipts offline. They hold no personal data."""
    with Operation.open(directory) as op:
        text = json.dumps(public_keys(op), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(out)  # whole or not at all
    finally:
        tmp.unlink(missing_ok=True)
    typer.echo(f"wrote the public keys of the operation to {out}")


class StageChoice(StrEnum):
    registration = "registration"
    arrival = "arrival"


@receipt_app.command("make")
def make(
    directory: Path = typer.Argument(
        ..., metavar="DIR", help="The operation's folder.", show_default=False
    ),
    ref: str = typer.Argument(..., metavar="REF", help="The person's reference."),
    stage: StageChoice = typer.Option(
        StageChoice.registration, "--stage", help="registration or arrival."
    ),
    actor: str = typer.Option(
        ..., "--actor", help="Who prints it (the coordinator's or a facilitator's actor)."
    ),
    out: Path = typer.Option(
        Path(), "--out", metavar="FOLDER", help="Where to write the PDF and PNG.", file_okay=False
    ),
    passphrase_file: Path | None = PassphraseFile,
    key_file: Path | None = KeyFile,
) -> None:
    """Print a person's receipt (PDF, and PNG with a QR code): their reference, the salt of
    their record's commitment and the proof that their event is in a cosigned checkpoint. It
    shows nothing about anyone else. Reading the salt opens the vault: recorded as such."""
    from safepassage.app.persons import read_person  # noqa: PLC0415 - the vault, on demand
    from safepassage.app.receipts import issue_receipt, site_names  # noqa: PLC0415
    from safepassage.receipts.render import write_receipt  # noqa: PLC0415
    from safepassage.vault.store import Vault  # noqa: PLC0415

    with Operation.open(directory) as op, Vault.open(directory) as vault:
        data_key = unlock(vault, passphrase_file, key_file)
        _, salt = read_person(
            op, vault, data_key, ref, actor=actor, purpose=f"{stage.value} receipt",
            action="receipt",
        )  # fmt: skip
        receipt = issue_receipt(op, ref, stage.value, salt)
        names = site_names(op)
    out.mkdir(parents=True, exist_ok=True)
    pdf, png = write_receipt(receipt, out, site_names=names)
    typer.echo(f"wrote {pdf} and {png}")
