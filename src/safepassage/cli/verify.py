"""``safepassage verify DIR``: recompute everything stored and check every checkpoint."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import typer

from safepassage.cli._output import err, progress
from safepassage.database import DATABASE_FILE, recorded_database
from safepassage.errors import StoreError, VerificationError
from safepassage.ledger.audit import audit
from safepassage.ledger.log import DB_FILE, open_store, read_verifier
from safepassage.ledger.note import Verifier
from safepassage.operation.replay import replay_checked

__all__ = ["verify"]


def verify(
    directory: Path = typer.Argument(
        ...,
        metavar="DIR",
        help="A log's folder, or an operation's (its log is in DIR/log).",
        show_default=False,
    ),
    vkey: str | None = typer.Option(
        None,
        "--vkey",
        help="The log's verifier key string, obtained apart from DIR (default: DIR/log.vkey).",
    ),
) -> None:
    """Verify the log in DIR; name the first bad entry if any stored byte was altered.

    Exit 0 when everything verifies, 1 when it does not, 2 for bad usage or input.
    """
    directory = Path(directory)
    database = recorded_database(directory) if (directory / DATABASE_FILE).exists() else None
    operation = database is not None or (
        not (directory / DB_FILE).exists() and (directory / "log" / DB_FILE).exists()
    )
    if operation:
        directory = directory / "log"  # an operation's folder: its log is in DIR/log
    path = directory / DB_FILE
    if database is None and not path.is_file():  # before the key: say what is missing first
        raise StoreError(f"no log here (missing {DB_FILE})", field=str(directory))
    # `is not None`: an empty --vkey (a shell variable left unset) is bad input, never a quiet
    # fall-back to the key in DIR, which whoever can write to DIR controls.
    verifier = Verifier.from_key_string(vkey) if vkey is not None else read_verifier(directory)
    if database is None and not os.access(path, os.R_OK):
        raise StoreError("cannot read the log file (permission denied)", field=str(path))
    # Read-only: verifying writes nothing, works on a read-only copy, and never "repairs".
    # Anything the store cannot read is a verification failure (exit 1), not bad input.
    try:
        with open_store(directory, database, readonly=True) as store, progress() as bar:
            task = bar.add_task("verifying", total=store.size())
            result = audit(store, verifier, lambda done: bar.update(task, completed=done))
            if operation:
                # The bytes are the ones signed into the log; now check that each was a valid
                # event when recorded: its actor's registered key, its role, every rule.
                with store.snapshot():
                    replay_checked(store.iter_entries(0, result.size))
    except StoreError as exc:
        raise VerificationError(exc.reason, field="store") from exc
    root = base64.b64encode(result.root).decode()
    typer.echo(f"ok: {result.size} entries, root {root}, {result.checkpoints} checkpoints verified")
    if operation:
        typer.echo(
            f"ok: {result.size} events re-checked: each signed by its actor's registered key, "
            "none breaking a rule of the operation"
        )
    if result.checkpoints == 0 and result.size:
        # Without a signed checkpoint nothing here was checked against the key: say so.
        err.print(
            "warning: the log keeps no signed checkpoint, so the key could not be checked; "
            "run 'safepassage log checkpoint DIR' and verify again",
            markup=False,
        )
