"""What every command shares: the consoles, the one-line error exit and the progress bar."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import track as rich_track
from typer.core import TyperGroup

from rmdbench.progress import Track

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import ClickException

console = Console()
error_console = Console(stderr=True)


#: the categories of characters that are escaped in a refusal: controls (a newline, a
#: carriage return, escape...) and the Unicode line and paragraph separators
UNPRINTED = ("Cc", "Zl", "Zp")


def one_line(text: str) -> str:
    """``text`` with every control character or line separator escaped as Python writes it
    (a newline as the two characters backslash-n): a refusal that echoes a value given
    with a newline in it stays one line, and shows what was given."""
    return "".join(
        repr(char)[1:-1] if unicodedata.category(char) in UNPRINTED else char for char in text
    )


def refuse(message: str) -> None:
    """Print the one line 'error: MESSAGE' on stderr (``one_line``: never two)."""
    error_console.print(
        f"error: {one_line(message)}", markup=False, highlight=False, soft_wrap=True
    )


def fail(message: str) -> typer.Exit:
    """Print the refusal ``message`` as one line and return the exit (code 2) to raise."""
    refuse(message)
    return typer.Exit(code=2)


def usage_message(error: ClickException) -> str:
    """A click/typer parameter error ('--seeds abc') as one line naming the help to read."""
    message = " ".join(error.format_message().split()).rstrip(".")
    context = getattr(error, "ctx", None)
    if context is not None:
        message += f"; see '{context.command_path} --help'"
    return message


@contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """Parameter errors as every other refusal: one line 'error: ...', exit code 2 (not
    typer's boxed usage screen). A bare command still shows its help."""
    try:
        yield
    except ClickException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # not an error: the help screen
            raise
        refuse(usage_message(error))
        raise typer.Exit(code=error.exit_code) from None


class OneLineErrors(TyperGroup):
    """A command group whose parameter errors, and those of its commands, are one line
    (``one_line_usage_errors``): for ``rmdbench`` run from a shell and for tests that call
    the app through typer's CliRunner alike."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra):
        with one_line_usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with one_line_usage_errors():
            return super().invoke(ctx)


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
