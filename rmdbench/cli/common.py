"""What every command shares: the consoles and the one-line error exit."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()
error_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    error_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def say(text: str) -> None:
    """A plain line, never wrapped (logs and CI read it whole) and never read as markup
    (paths, names and notes hold brackets)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)
