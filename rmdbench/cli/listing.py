"""``rmdbench list``: registered methods, noise models, datasets, backbones and formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

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
        if registry is BACKBONES:
            console.print(backbone_table())
            continue
        table = Table(title=f"{registry.kind}s")
        table.add_column("name")
        table.add_column("from")
        table.add_column("about")
        for entry in registry:
            doc = (entry.factory.__doc__ or "").strip().splitlines()
            table.add_row(entry.name, entry.origin, doc[0] if doc else "")
        console.print(table)


def backbone_table() -> Table:
    """The backbones with what ``--backbone`` needs to choose one: the data each fits and
    its parameters (``name[key=value,...]``), then the default."""
    from rmdbench.backbones.choice import DEFAULT_BACKBONE, describe_parameters
    from rmdbench.registry import BACKBONES

    caption = Text(
        f"default ({DEFAULT_BACKBONE}): unet2d on 2D data, unet3d on 3D data; "
        "choose one with --backbone NAME[key=value,...]"
    )
    table = Table(title="backbones", caption=caption)
    for column in ("name", "data", "parameters", "from", "about"):
        table.add_column(column, overflow="fold")
    for entry in BACKBONES:
        doc = (entry.factory.__doc__ or "").strip().splitlines()
        dims = " or ".join(f"{dims}D" for dims in entry.factory.dims())
        parameters = describe_parameters(entry.factory)
        cells = (entry.name, dims, parameters, entry.origin, doc[0] if doc else "")
        table.add_row(*(Text(cell) for cell in cells))  # 'name[...]' is not markup
    return table
