"""``safepassage import registrations``: a registrar's file into the operation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from safepassage.app.intake import import_registrations
from safepassage.app.operation import Operation
from safepassage.cli._output import err
from safepassage.vault.store import Vault

__all__ = ["import_app"]

import_app = typer.Typer(help="Bring data in from the tools registrars use.", no_args_is_help=True)


@import_app.command("registrations")
def registrations(
    directory: Path = typer.Argument(..., metavar="DIR", help="The operation's folder."),
    file: Path = typer.Argument(
        ..., metavar="FILE", help="A plain CSV, or ODK/Kobo CSV or JSON.", dir_okay=False
    ),
    actor: str = typer.Option(..., "--actor", help="The registrar (party/name) who registers."),
    site: str = typer.Option(..., "--site", help="The pickup site the people are at."),
) -> None:
    """Import registrations (the shipped XLSForm's submissions, or a plain CSV): each bad row
    is reported with its row, field and reason; the valid rows are imported; a submission
    already imported is skipped. Exits 2 if any row was refused (the others are imported)."""
    data = file.read_bytes()
    with Operation.open(directory) as op, Vault.open(directory) as vault:
        result = import_registrations(
            op, vault, data, file.name, actor=actor, site=site, at=datetime.now(UTC)
        )
    for row, ref in result.imported:
        typer.echo(f"row {row}: registered as {ref}")
    for row, already in result.already:
        typer.echo(
            f"row {row}: submission {already.submission_id} already imported as {already.ref}"
        )
    for duplicate in result.duplicates:
        typer.echo(f"{duplicate} (skipped)")
    for error in result.errors:
        err.print(f"{file.name}: {error}", markup=False)
    typer.echo(
        f"{file.name} ({result.format}): {len(result.imported)} imported, "
        f"{len(result.already)} already imported, {len(result.duplicates)} repeated in the file, "
        f"{len({e.row for e in result.errors})} refused"
    )
    if result.errors:
        raise typer.Exit(2)
