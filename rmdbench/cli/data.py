"""``rmdbench data ...``: turn a downloaded dataset into a prepared copy sweeps can use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rmdbench.cli.common import console, fail, say
from rmdbench.errors import UserError

data_app = typer.Typer(
    help="Prepare datasets you downloaded (LIDC-IDRI, ACDC, BraTS, a folder of pairs).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
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
            help="Where the prepared copy goes (default: <cache>/prepared/NAME, which "
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
    from dataclasses import replace

    from rmdbench.data.lidc_phantom import default_cache_dir
    from rmdbench.data.prepared import check_writable, prepared_root, summarise, write_prepared
    from rmdbench.params import build_params, params_dict, parse_component
    from rmdbench.plugins import load_builtins
    from rmdbench.registry import DATASET_FORMATS

    try:
        load_builtins()
        format_name, overrides = parse_component(name)
        format_class = DATASET_FORMATS.get(format_name)
        params = build_params(format_class.Params, overrides, f"format '{format_name}'")
        target_name = dataset_name or format_name
        check_dataset_name(target_name)
        default_folder = prepared_root(cache_dir or default_cache_dir())
        if out is None:
            out = default_folder / target_name
        check_writable(out, overwrite)  # before the slow read of the source
        prepared = format_class().prepare(source, params, progress=console.is_terminal)
        prepared = replace(prepared, data=replace(prepared.data, name=target_name))
        write_prepared(
            prepared,
            out,
            format_name=format_name,
            params=params_dict(params),
            source=str(Path(source).resolve()),
            overwrite=overwrite,
        )
    except UserError as error:
        raise fail(str(error)) from None
    summary = summarise(prepared.data)
    say(f"prepared {target_name} from {source} into {out}")
    _print_summary(summary, prepared.class_names, prepared.channel_names)
    for note in prepared.notes:
        say(f"note: {note}")
    by_name = out.parent == default_folder
    say(f"use it with: rmdbench sweep --dataset {target_name if by_name else out}")


def check_dataset_name(name: str) -> None:
    """A prepared copy's name is how sweeps find it: a plain name, not a built-in one."""
    from rmdbench.registry import DATASETS

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise UserError(f"--name '{name}': use letters, digits, '-', '_' and '.' only")
    if name in DATASETS:
        raise UserError(f"--name '{name}' is a built-in dataset; choose another name")


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
    from rmdbench.data.prepared import load_prepared, read_meta, summarise
    from rmdbench.data.resolve import check_dataset, prepared_path

    try:
        path = prepared_path(dataset, cache_dir)
        if path is None:
            check_dataset(dataset, cache_dir)
            raise UserError(f"'{dataset}' is built in, not prepared; see rmdbench list datasets")
        meta = read_meta(path)
        summary = summarise(load_prepared(path))
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
