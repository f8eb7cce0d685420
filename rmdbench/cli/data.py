"""``rmdbench data ...``: turn a downloaded dataset into a prepared copy sweeps can use.

The work is ``rmdbench.data.resolve`` (``prepare_dataset``, ``describe_prepared``); this
module parses, calls and prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rmdbench.cli.common import command_group, console, fail, say, terminal_track
from rmdbench.errors import UserError

data_app = command_group(
    "Prepare datasets you downloaded (LIDC-IDRI, ACDC, BraTS, a folder of pairs)."
)


@data_app.command()
def prepare(
    name: Annotated[
        str,
        typer.Argument(
            help="Format, with options as name[key=value,...], e.g. acdc or "
            "'lidc-crops[clean_label=last_nonempty]'. 'rmdbench data formats' lists them."
        ),
    ],
    source: Annotated[Path, typer.Argument(help="The downloaded file or folder.")],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where the prepared copy goes (default: the cache's prepared/NAME, which "
            "'rmdbench sweep --dataset NAME' finds)."
        ),
    ] = None,
    dataset_name: Annotated[
        str | None,
        typer.Option("--name", help="Name of the prepared copy (default: the format's name)."),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="The cache (default: $RMDBENCH_CACHE_DIR or the user cache)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing prepared copy.")
    ] = False,
) -> None:
    """Check every file of SOURCE, write a compact memory-mappable copy with a patient-level
    split, and report what was found."""
    from rmdbench.data.prepared import BadDatasetName
    from rmdbench.data.resolve import prepare_dataset

    try:
        result = prepare_dataset(
            name,
            source,
            out=out,
            name=dataset_name,
            cache_dir=cache_dir,
            overwrite=overwrite,
            progress=terminal_track(),
        )
    except BadDatasetName as error:
        raise fail(f"--name '{error.name}'{error.problem}") from None
    except UserError as error:
        raise fail(str(error)) from None
    prepared = result.prepared
    say(f"prepared {result.name} from {source} into {result.out}")
    _print_summary(result.summary, prepared.class_names, prepared.channel_names)
    for note in prepared.notes:
        say(f"note: {note}")
    say(f"use it with: rmdbench sweep --dataset {result.name if result.by_name else result.out}")


def _print_summary(summary: dict, class_names: tuple[str, ...], channels: tuple[str, ...]) -> None:
    table = Table(show_header=True)
    for column in ("split", "cases", "patients"):
        table.add_column(column, justify="right")
    for split, counts in summary["splits"].items():
        table.add_row(split, str(counts["cases"]), str(counts["patients"]))
    console.print(table)
    say(
        f"shape (channels, *spatial) {tuple(summary['shape'])}; channels {', '.join(channels)}; "
        f"spacing {summary['spacing_min']} to {summary['spacing_max']} mm; "
        f"label values {summary['label_values']} ({', '.join(class_names)}); "
        f"{summary['empty_masks']} empty masks; {summary['readers']} reader masks per case"
    )


@data_app.command()
def info(
    dataset: Annotated[str, typer.Argument(help="A prepared name or folder.")],
    cache_dir: Annotated[Path | None, typer.Option(help="The cache.")] = None,
) -> None:
    """Describe a prepared copy: its source, options, splits, shape, spacing and labels."""
    from rmdbench.data.resolve import describe_prepared

    try:
        path, meta, summary = describe_prepared(dataset, cache_dir)
    except UserError as error:
        raise fail(str(error)) from None
    say(
        f"{meta['name']} at {path}: format {meta['format']} "
        f"{json.dumps(meta['params'])}, from {meta['source']}"
    )
    _print_summary(summary, tuple(meta["class_names"]), tuple(meta["channel_names"]))


@data_app.command("formats")
def list_formats() -> None:
    """The formats 'rmdbench data prepare' reads, with their options."""
    from rmdbench.params import params_dict
    from rmdbench.plugins import load_builtins
    from rmdbench.registry import DATASET_FORMATS

    load_builtins()
    table = Table(show_header=True)
    for column in ("format", "reads", "options (defaults)"):
        table.add_column(column)
    for entry in DATASET_FORMATS:
        defaults = params_dict(entry.factory.Params())
        options = ", ".join(f"{key}={value}" for key, value in defaults.items())
        table.add_row(entry.name, entry.factory.summary, options or "-")
    console.print(table)
