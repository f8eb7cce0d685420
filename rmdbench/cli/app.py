"""The ``rmdbench`` command line: one Typer app, one module per command group."""

from __future__ import annotations

from rmdbench.cli.bench import bench
from rmdbench.cli.common import command_group
from rmdbench.cli.data import data_app
from rmdbench.cli.export import export_app
from rmdbench.cli.listing import list_registered
from rmdbench.cli.noise import noise_app
from rmdbench.cli.report import report
from rmdbench.cli.status import status
from rmdbench.cli.sweep import sweep
from rmdbench.cli.tune import tune

app = command_group("Benchmark noise-robust segmentation methods on imperfect annotations.")
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
