"""``rmdbench export``: a run store in another form (``compact``: a committable copy)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rmdbench.cli.common import command_group, fail, say
from rmdbench.errors import UserError

export_app = command_group()


@export_app.command()
def compact(
    runs_dir: Annotated[Path, typer.Argument(help="Runs directory to copy.")],
    out: Annotated[Path, typer.Argument(help="New folder for the copy (must not exist).")],
) -> None:
    """Copy the done runs without their test predictions: a store small enough to commit,
    that 'rmdbench report OUT' renders without training (no qualitative figure)."""
    from rmdbench.compact import compact_store

    try:
        copied = compact_store(runs_dir, out)
    except UserError as error:
        raise fail(str(error)) from None
    say(f"copied {copied.runs} run(s) to {out} ({copied.size / 1e6:.1f} MB)")
