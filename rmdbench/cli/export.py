"""``rmdbench export``: a run store in another form (``compact``: a committable copy;
``mlflow``: MLflow runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rmdbench.cli.common import command_group, fail, say
from rmdbench.errors import UserError
from rmdbench.mlflow_export import DEFAULT_EXPERIMENT

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


@export_app.command()
def mlflow(
    runs_dir: Annotated[Path, typer.Argument(help="Runs directory to export.")],
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            metavar="DIR|URI",
            help="A folder for a local MLflow store, or a tracking URI (http://..., "
            "sqlite:///...) (default: $MLFLOW_TRACKING_URI, else the folder mlruns).",
            show_default=False,
        ),
    ] = None,
    experiment: Annotated[
        str, typer.Option("--experiment", help="MLflow experiment the runs go to.")
    ] = DEFAULT_EXPERIMENT,
) -> None:
    """Log each done run as an MLflow run: its spec as params, its final test metrics, and
    its per-epoch curves (step = epoch). Runs already exported are skipped. Needs the
    mlflow extra: pip install "rmdbench[mlflow]"."""
    from rmdbench.mlflow_export import export_mlflow

    try:
        done = export_mlflow(runs_dir, tracking_uri, experiment)
    except UserError as error:
        raise fail(str(error)) from None
    skipped = f"; {done.skipped} already there" if done.skipped else ""
    say(
        f"exported {done.exported} run(s) to MLflow experiment '{done.experiment}' at "
        f"{done.tracking_uri}{skipped}"
    )
