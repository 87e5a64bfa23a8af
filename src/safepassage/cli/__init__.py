"""The ``safepassage`` command line: a thin edge over the library.

Errors become one line on standard error and an exit code: 0 valid, 1 verification failed,
2 bad usage or input, 3 internal error. No traceback reaches the user.
"""

from __future__ import annotations

import sys

import typer

from safepassage import __version__
from safepassage.cli import export as export_commands
from safepassage.cli import intake as intake_commands
from safepassage.cli import log as log_commands
from safepassage.cli import operation as operation_commands
from safepassage.cli import person as person_commands
from safepassage.cli import receipt as receipt_commands
from safepassage.cli import serve as serve_commands
from safepassage.cli import verify as verify_command
from safepassage.cli._output import fail
from safepassage.errors import SafepassageError, VerificationError

__all__ = ["app", "main"]

app = typer.Typer(
    name="safepassage",
    help="A verifiable, shared record of humanitarian evacuations through agreed corridors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(log_commands.app, name="log")
app.command("verify")(verify_command.verify)
app.command("report")(operation_commands.report)
app.command("rebuild")(operation_commands.rebuild)
app.add_typer(operation_commands.checkpoint_app, name="checkpoint")
app.command("demo")(operation_commands.demo)
app.add_typer(person_commands.vault_app, name="vault")
app.add_typer(person_commands.person_app, name="person")
app.add_typer(intake_commands.import_app, name="import")
app.add_typer(receipt_commands.receipt_app, name="receipt")
app.add_typer(export_commands.app, name="export")
app.command("serve")(serve_commands.serve)
app.add_typer(serve_commands.account_app, name="account")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"safepassage {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False,  # noqa: FBT003 - Typer takes the default positionally
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """A verifiable, shared record of humanitarian evacuations through agreed corridors."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script exits with it).

    Usage errors are Typer's (exit 2); safepassage's own errors become one line on stderr.
    """
    try:
        app(args=argv, prog_name="safepassage")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except VerificationError as exc:
        code = fail(f"verification failed: {exc.reason}", 1)
    except SafepassageError as exc:
        code = fail(f"error: {exc}", 2)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        code = fail(f"error: {exc.strerror or exc}{where}", 2)
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, never a traceback
        # 3, not 1: a crash must never read as "this log failed verification" (nor as valid).
        code = fail(f"internal error ({type(exc).__name__}: {exc}); please report it", 3)
    else:
        code = 0
    if argv is None:
        sys.exit(code)
    return code
