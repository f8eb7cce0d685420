"""The ``rmdbench`` command line: one Typer app, one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from rmdbench import __version__
from rmdbench.cli.bench import bench
from rmdbench.cli.common import command_group, say
from rmdbench.cli.data import data_app
from rmdbench.cli.export import export_app
from rmdbench.cli.listing import list_registered
from rmdbench.cli.noise import noise_app
from rmdbench.cli.report import report
from rmdbench.cli.status import status
from rmdbench.cli.sweep import sweep
from rmdbench.cli.tune import tune

HELP = "Benchmark noise-robust segmentation methods on imperfect annotations."
app = command_group(HELP)


def show_version(value: bool) -> None:
    """Print the installed version and stop (eager: before any command is looked at)."""
    if value:
        say(f"rmdbench {__version__}")
        raise typer.Exit()


@app.callback(help=HELP)
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print rmdbench's version and exit.",
            is_eager=True,
            callback=show_version,
        ),
    ] = False,
) -> None:
    """The options of rmdbench itself, before any command."""


app.command()(sweep)
app.command()(tune)
app.command()(report)
app.command()(status)
app.command("list")(list_registered)
app.command()(bench)
app.add_typer(noise_app, name="noise", help="Preview noise models and measure realised noise.")
app.add_typer(data_app, name="data", help="Prepare datasets you downloaded; describe them.")
app.add_typer(export_app, name="export", help="Copy a run store into another form.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
