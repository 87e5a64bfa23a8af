"""``safepassage report``, ``safepassage checkpoint cosign|verify`` and ``safepassage demo``."""

from __future__ import annotations

import base64
from enum import StrEnum
from pathlib import Path

import typer

from safepassage.app.operation import Operation
from safepassage.cli._output import progress
from safepassage.cli.receipt import read_keys
from safepassage.errors import FormatError, SafepassageError, VerificationError
from safepassage.operation.public import public_report
from safepassage.operation.report import to_markdown
from safepassage.receipts.checkpoint import verify_checkpoint as check_checkpoint

__all__ = ["checkpoint_app", "demo", "rebuild", "report"]

DirArg = typer.Argument(..., metavar="DIR", help="The operation's folder.", show_default=False)


class Format(StrEnum):
    json = "json"
    md = "md"


def report(
    directory: Path = DirArg,
    at: int | None = typer.Option(
        None, "--at", min=0, help="Compute from the first SIZE log entries (default: all)."
    ),
    fmt: Format = typer.Option(
        Format.md, "--format", help="json (see docs/report.schema.json) or md."
    ),
    public: bool = typer.Option(
        False,  # noqa: FBT003 - Typer takes the default positionally
        "--public",
        help=(
            "The version to publish: counts of 1 to 4 people shown as <5, counts that would "
            "give them away withheld (x), no per-person alerts (docs/disclosure.md)."
        ),
    ),
) -> None:
    """Print the operation's report: every figure computed from the log up to a checkpoint.

    Exact, for those who hold the log; --public for everyone else."""
    with Operation.open(directory) as op:
        out = op.report(at)
    if public:
        out = public_report(out)
    if fmt is Format.json:
        typer.echo(out.model_dump_json(indent=2))
    else:
        typer.echo(to_markdown(out), nl=False)


def rebuild(directory: Path = DirArg) -> None:
    """Drop the operation's projections (its query tables) and rebuild them from the log.

    The log is the record and the projections only a cache of it: rebuilding gives the same
    tables the application layer kept up to date event by event."""
    with progress() as bar:
        task = bar.add_task("rebuilding the projections", total=None)
        op = Operation.open(
            directory, rebuild=True, progress=lambda done: bar.update(task, completed=done)
        )
    with op:
        size, root = op.log.size(), op.log.store.root().hex()
    typer.echo(f"rebuilt the projections from {size} log entries (root {root})")


checkpoint_app = typer.Typer(help="Checkpoints of the operation's log.", no_args_is_help=True)


@checkpoint_app.command("cosign")
def cosign(
    directory: Path = DirArg,
    party: str = typer.Option(..., "--party", help="The party whose witness cosigns."),
) -> None:
    """The party's witness cosigns the current checkpoint, after checking it extends the last
    one it cosigned; a checkpoint that would fork or shrink history is refused."""
    with Operation.open(directory) as op:
        typer.echo(op.cosign(party), nl=False)


_MAX_NOTE_BYTES = 1024 * 1024


@checkpoint_app.command("verify")
def verify_checkpoint(
    note: Path = typer.Argument(
        ...,
        metavar="NOTE",
        help="The checkpoint: a signed note (C2SP tlog-checkpoint), e.g. a public bundle's "
        "checkpoint.txt.",
        show_default=False,
        dir_okay=False,
    ),
    keys: Path = typer.Option(
        ...,
        "--keys",
        metavar="KEYS.json",
        help="The operation's public keys (safepassage receipt keys), obtained apart from NOTE.",
        dir_okay=False,
    ),
) -> None:
    """Check a checkpoint offline; print its size, its root hash and who cosigned it.

    It must be signed by the log's key, every other signature must be a cosignature by a
    party's witness, and a party other than the coordinator must have cosigned it. Exit 0 when
    it verifies, 1 when it does not, 2 for bad input."""
    if note.stat().st_size > _MAX_NOTE_BYTES:
        raise FormatError(f"is larger than {_MAX_NOTE_BYTES} bytes", field=str(note))
    try:
        text = note.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"is not a text file (byte {exc.start})", field=str(note)) from exc
    bundle = read_keys(keys)  # the receipt's reader: same errors for the same file
    try:
        proven = check_checkpoint(text, bundle)
    except SafepassageError as exc:
        raise VerificationError(str(exc), field=exc.field) from exc
    cp = proven.checkpoint
    typer.echo(f"ok: checkpoint of {cp.origin} verified")
    typer.echo(f"operation: {bundle.name} ({bundle.operation})")
    typer.echo(f"size: {cp.size}")
    typer.echo(f"root: {base64.b64encode(cp.root).decode()}")
    typer.echo("cosigned by:")
    for c in proven.cosigners:
        at = c.at.strftime("%Y-%m-%d %H:%M:%S UTC") if c.at else f"time {c.timestamp}"
        typer.echo(f"  {c.party} ({c.role}): {c.name}, at {at}")


def demo(
    directory: Path = DirArg,
    with_discrepancy: bool = typer.Option(
        False,  # noqa: FBT003 - Typer takes the default positionally
        "--with-discrepancy",
        help="Record a headcount at Manhush that disagrees with the manifest.",
    ),
    fmt: Format = typer.Option(Format.md, "--format", help="How to print the report."),
    no_vault: bool = typer.Option(
        False,  # noqa: FBT003 - Typer takes the default positionally
        "--no-vault",
        help="Register the people without personal data (no vault; see `vault init`).",
    ),
    database: str | None = typer.Option(
        None,
        "--db",
        help="Keep the operation's data in this PostgreSQL database (postgresql://…; "
        "docs/postgresql.md) instead of SQLite files in DIR.",
    ),
) -> None:
    """Build the Azovstal demo operation in DIR through the application layer, cosign its
    checkpoint by every party, and print the report. Its keys are in DIR/keys (demo only),
    the vault's key file too (DIR/keys/vault.key)."""
    from safepassage.app.demo import run_demo  # noqa: PLC0415 - the scenario loads on demand

    with progress() as bar:
        task = bar.add_task("recording the operation", total=None)
        op = run_demo(
            directory,
            discrepancy=with_discrepancy,
            vault=not no_vault,
            database=database,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    with op:
        out = op.report()
    if fmt is Format.json:
        typer.echo(out.model_dump_json(indent=2))
    else:
        typer.echo(to_markdown(out), nl=False)
