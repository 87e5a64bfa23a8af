"""``safepassage log …``: create a log, append entries, print checkpoints, keys and proofs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from safepassage.errors import (
    FormatError,
    ProofError,
    SafepassageError,
    SignatureError,
    VerificationError,
)
from safepassage.ledger.log import Log
from safepassage.ledger.note import Verifier
from safepassage.ledger.proof import TlogProof, verify_tlog_proof

__all__ = ["app"]

app = typer.Typer(
    help="Create and use an append-only, signed Merkle-tree log.", no_args_is_help=True
)

DirArg = typer.Argument(..., metavar="DIR", help="The log's directory.", show_default=False)


@app.command("init")
def init(
    directory: Path = DirArg,
    origin: str = typer.Option(..., "--origin", help="The log's name in its checkpoints."),
) -> None:
    """Create a new log and its signing key in DIR; print its verifier key."""
    try:
        log = Log.create(directory, origin)
    except FormatError as exc:  # the origin is the signing key's name: say which option it was
        raise FormatError(exc.reason, field="--origin") from exc
    with log:
        typer.echo(log.verifier.key_string())


@app.command("vkey")
def vkey(directory: Path = DirArg) -> None:
    """Print the verifier key string of the log in DIR."""
    with Log.open(directory) as log:
        typer.echo(log.verifier.key_string())


def _read_entry(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    path = Path(name)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SafepassageError(f"cannot read it: {exc.strerror}", field=name) from exc


@app.command("append")
def append(
    directory: Path = DirArg,
    files: list[str] = typer.Argument(
        ..., metavar="FILE", help="One entry per file; '-' reads standard input."
    ),
) -> None:
    """Append one entry per FILE, all in one transaction; print each new index on its own line."""
    if files.count("-") > 1:
        raise SafepassageError("standard input can be read only once", field="FILE")
    entries = [_read_entry(name) for name in files]  # read all before writing anything
    with Log.open(directory) as log:
        first = log.append_batch(entries)
    for index in range(first, first + len(entries)):
        typer.echo(index)


@app.command("checkpoint")
def checkpoint(directory: Path = DirArg) -> None:
    """Print the signed checkpoint for the log's current size."""
    with Log.open(directory) as log:
        typer.echo(log.checkpoint(), nl=False)


@app.command("prove")
def prove(
    directory: Path = DirArg,
    index: int = typer.Argument(..., metavar="INDEX", min=0, help="The entry to prove."),
    size: int | None = typer.Option(
        None, "--size", min=1, help="Prove against the checkpoint at this size (default: now)."
    ),
) -> None:
    """Print a C2SP tlog-proof that entry INDEX is in the log."""
    with Log.open(directory) as log:
        typer.echo(log.prove(index, size), nl=False)


@app.command("verify-proof")
def verify_proof(
    proof: Path = typer.Argument(
        ..., metavar="PROOF", help="A C2SP tlog-proof file.", show_default=False
    ),
    entry: str = typer.Argument(
        ..., metavar="ENTRY", help="The entry's bytes: a file, or '-' for standard input."
    ),
    vkey: str = typer.Option(..., "--vkey", help="The log's verifier key string."),
) -> None:
    """Check offline that ENTRY is in the log, under the proof's signed checkpoint.

    Exit 0 when the proof holds, 1 when it does not, 2 for bad usage or input.
    """
    verifier = Verifier.from_key_string(vkey)
    try:
        text = proof.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SafepassageError(f"cannot read it: {exc}", field=str(proof)) from exc
    data = _read_entry(entry)
    try:
        checkpoint, _ = verify_tlog_proof(text, data, verifier)
    except (ProofError, SignatureError) as exc:
        raise VerificationError(str(exc), field="proof") from exc
    index = TlogProof.from_text(text).index
    typer.echo(f"ok: entry {index} is in {checkpoint.origin} at size {checkpoint.size}")
