"""``rmdbench list``: registered methods, noise models, datasets, backbones and formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rmdbench.cli.common import console, fail, list_option
from rmdbench.errors import UserError

LIST_KINDS = ("methods", "noise-models", "datasets", "backbones", "dataset-formats")


def list_registered(
    kind: Annotated[
        str | None, typer.Argument(help="One of: " + ", ".join(LIST_KINDS) + " (default: all).")
    ] = None,
    plugin: Annotated[
        list | None,
        list_option("--plugin", metavar="FILE", item=Path, help="Also load these plug-in files."),
    ] = None,
) -> None:
    """Show registered methods, noise models, datasets, backbones and the dataset formats
    'rmdbench data prepare' reads, and where each is from."""
    from rmdbench.plugins import load_plugins
    from rmdbench.registry import BACKBONES, DATASET_FORMATS, DATASETS, METHODS, NOISE_MODELS

    registries = dict(
        zip(
            LIST_KINDS,
            (METHODS, NOISE_MODELS, DATASETS, BACKBONES, DATASET_FORMATS),
            strict=True,
        )
    )
    try:
        if kind is not None and kind not in registries:
            raise UserError(f"unknown kind '{kind}'; choose one of: {', '.join(LIST_KINDS)}")
        load_plugins(plugin or [])
    except UserError as error:
        raise fail(str(error)) from None
    for registry in [registries[kind]] if kind else registries.values():
        table = Table(title=f"{registry.kind}s")
        table.add_column("name")
        table.add_column("from")
        table.add_column("about")
        for entry in registry:
            doc = (entry.factory.__doc__ or "").strip().splitlines()
            table.add_row(entry.name, entry.origin, doc[0] if doc else "")
        console.print(table)
