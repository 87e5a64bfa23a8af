"""Console helpers shared by the commands: one error line, progress on standard error."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["err", "fail", "progress"]

# emoji=False: Rich would otherwise turn ":cd:" in a file name into an emoji even without markup.
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def _one_line(message: str) -> str:
    # A file name or a quoted input may hold a newline or a control character: escape it, so
    # the error stays one line and names what the user actually typed.
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in message)


def fail(message: str, code: int) -> int:
    """Print one error line on standard error and return the exit code to use."""
    err.print(_one_line(message), markup=False)
    return code


def progress() -> Progress:
    """A Rich progress bar on standard error; silent when it is not a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        # isatty, not err.is_terminal: FORCE_COLOR (set by many CI systems) makes Rich call any
        # stream a terminal, and the bar's redraws would then surround the one error line.
        disable=not err.file.isatty(),
    )
