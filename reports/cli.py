"""``rmdbench report``: a run store -> report.md and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rmdbench.cli_common import console, fail
from rmdbench.errors import UserError


def report(
    runs_dir: Annotated[Path, typer.Argument(help="Runs directory.")] = Path("runs"),
    out: Annotated[Path | None, typer.Option(help="Where to write (default: RUNS_DIR).")] = None,
) -> None:
    """Write report.md (DSC/HD95 tables with conventions) and a DSC-vs-noise plot."""
    from rmdbench.reports.report import write_report

    try:
        path = write_report(runs_dir, out)
    except UserError as error:
        raise fail(str(error)) from None
    console.print(f"wrote {path}")
