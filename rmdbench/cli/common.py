"""What every command shares: the consoles, the one-line error exit and the progress bar."""

from __future__ import annotations

from collections.abc import Iterable

import typer
from rich.console import Console
from rich.progress import track as rich_track

from rmdbench.progress import Track

console = Console()
error_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    error_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def say(text: str) -> None:
    """A plain line, never wrapped (logs and CI read it whole) and never read as markup
    (paths, names and notes hold brackets)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def terminal_track(output: Console | None = None, *, transient: bool = True) -> Track | None:
    """The ``Track`` engine code reports progress through (``rmdbench.progress``): a rich
    progress bar on ``output`` (default: the standard console) when it is a terminal, None
    (no display: logs, pipes, tests) otherwise. A transient bar is erased when done."""
    shown_on = console if output is None else output
    if not shown_on.is_terminal:
        return None

    def track(items: Iterable, description: str = "", total: float | None = None) -> Iterable:
        return rich_track(
            items, description=description, total=total, console=shown_on, transient=transient
        )

    return track
