"""``safepassage export figures``: the public figures as HXL, CSV or JSON."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import typer

from safepassage.app.operation import Operation
from safepassage.cli.operation import DirArg
from safepassage.errors import FormatError
from safepassage.operation.export import FORMATS, ExportFormat, figure_rows, render

__all__ = ["app", "figures"]

app = typer.Typer(help="Public exports of the operation's figures.", no_args_is_help=True)


def _format(text: str) -> ExportFormat:
    for fmt in FORMATS:
        if text == fmt:
            return fmt
    raise FormatError(
        f"unknown format {text!r}: use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}", field="--format"
    )


def _write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` entirely or not at all (a temporary file renamed over it)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


@app.command("figures")
def figures(
    directory: Path = DirArg,
    fmt: str = typer.Option(
        "hxl",
        "--format",
        metavar="hxl|csv|json",
        help="hxl: CSV with an HXL hashtag row; csv: the same without it; json: a list of rows.",
    ),
    at: int | None = typer.Option(
        None, "--at", min=0, help="Compute from the first SIZE log entries (default: all)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write to this file (whole, or not at all) instead of standard output."
    ),
) -> None:
    """Print the public figures: people by registration site, destination and outcome, counts of
    1 to 4 shown as <5 and those that would give them away withheld (x); each row names the
    checkpoint they are computed at (docs/disclosure.md)."""
    kind = _format(fmt)
    with Operation.open(directory) as op:
        report = op.report(at)
        size = report.checkpoint.size if report.checkpoint else 0
        text = render(figure_rows(report, op.recorded_at(size)), kind)
    if out is None:
        typer.echo(text, nl=False)
    else:
        _write_whole(out, text)
