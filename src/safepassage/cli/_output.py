"""Console helpers shared by the commands: one error line, progress on standard error."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["err", "fail", "progress"]

err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> int:
    """Print one error line on standard error and return the exit code to use."""
    err.print(message, markup=False)
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
        disable=not err.is_terminal,
    )
