"""``safepassage verify DIR``: recompute everything stored and check every checkpoint."""

from __future__ import annotations

import base64
from pathlib import Path

import typer

from safepassage.cli._output import progress
from safepassage.errors import StoreError, VerificationError
from safepassage.ledger.audit import audit
from safepassage.ledger.log import DB_FILE, read_verifier
from safepassage.ledger.note import Verifier
from safepassage.ledger.sqlite import SqliteLogStore

__all__ = ["verify"]


def verify(
    directory: Path = typer.Argument(..., help="The log's directory.", show_default=False),
    vkey: str | None = typer.Option(
        None,
        "--vkey",
        help="The log's verifier key string, obtained apart from DIR (default: DIR/log.vkey).",
    ),
) -> None:
    """Verify the log in DIR; name the first bad entry if any stored byte was altered.

    Exit 0 when everything verifies, 1 when it does not, 2 for bad usage or input.
    """
    verifier = Verifier.from_key_string(vkey) if vkey else read_verifier(directory)
    path = Path(directory) / DB_FILE
    if not path.is_file():
        raise StoreError(f"no log here (missing {DB_FILE})", field=str(directory))
    try:
        store = SqliteLogStore.open(path)
    except StoreError as exc:
        raise VerificationError(str(exc), field="store") from exc
    with store, progress() as bar:
        task = bar.add_task("verifying", total=store.size())
        result = audit(store, verifier, lambda done: bar.update(task, completed=done))
    root = base64.b64encode(result.root).decode()
    typer.echo(f"ok: {result.size} entries, root {root}, {result.checkpoints} checkpoints verified")
