"""``rmdbench noise ...``: look at what a noise model does before training on it.

``preview`` draws a few training cases with their clean and noisy masks; ``stats`` measures
the realised noise of every model and preset next to the disagreement of real readers, so
a severity can be calibrated against annotations one trusts (docs/noise.md). The work is
done by ``rmdbench.noise_stats`` (the engine) and ``rmdbench.reports.noise_preview`` (the
figure); this module parses, calls and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rmdbench.cli.common import (
    command_group,
    console,
    error_console,
    fail,
    list_option,
    terminal_track,
)
from rmdbench.errors import UserError
from rmdbench.noise_stats import MIN_CROP_SIZE, STATS_COLUMNS, CropSizeOutOfRange
from rmdbench.profiles import MAX_CROP_SIZE, SUGGESTED_CROP_SIZE

noise_app = command_group("Preview noise models and measure how noisy their labels really are.")

FORMATS = ("table", "md", "csv")
CROP_HELP = f"Crop size in px ({MIN_CROP_SIZE} to {MAX_CROP_SIZE})."
TABLE_HEADERS = dict(
    zip(
        STATS_COLUMNS,
        ("model", "severity", "n", "DSC mean", "DSC med", "HD95 mm", "HD95 med", "flipped"),
        strict=True,
    )
)


def _message(error: UserError) -> str:
    """The one line of an error, engine facts worded as this command's options."""
    from rmdbench.reports.noise_preview import TooFewCases, UnsupportedFigure

    if isinstance(error, CropSizeOutOfRange):
        return (
            f"--crop-size {error.crop_size} is {error.problem}; it takes {MIN_CROP_SIZE} to "
            f"{MAX_CROP_SIZE} px, e.g. --crop-size {error.suggested}"
        )
    if isinstance(error, TooFewCases):
        return f"--cases {error.cases} must be at least 1"
    if isinstance(error, UnsupportedFigure):
        return f"{error} for --out"
    return str(error)


@noise_app.command()
def preview(
    noise_model: Annotated[
        str,
        typer.Option(
            "--noise-model",
            help="Noise model, e.g. erosion_dilation or 'erosion_dilation[radius=2-6]'. A bare "
            "name without --noise shows each preset.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Figure file to write (.png).")],
    noise: Annotated[
        list | None,
        list_option(
            "--noise",
            metavar="R",
            help="Noise ratios to show, e.g. --noise 0.4,0.8 (default: each preset at r=1).",
        ),
    ] = None,
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name.")] = "lidc-phantom",
    cases: Annotated[int, typer.Option("--cases", help="How many training cases.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Noise seed (as in a sweep).")] = 0,
    crop_size: Annotated[int, typer.Option("--crop-size", help=CROP_HELP)] = 64,
) -> None:
    """Draw a few training cases: image, clean mask, and noisy masks as contours."""
    from rmdbench.noise import parse_noise_ratios
    from rmdbench.noise_stats import check_crop_size, load_dataset, resolve_severities
    from rmdbench.plugins import load_builtins
    from rmdbench.reports.noise_preview import check_figure, write_preview

    try:
        check_figure(out)  # before the dataset is built and the figure drawn
        check_crop_size(crop_size)
        load_builtins()
        ratios = parse_noise_ratios(noise or [])
        severities = resolve_severities(noise_model, not ratios, crop_size)  # fits the crop
        data = load_dataset(dataset, crop_size, progress=terminal_track())
        path = write_preview(data, severities, ratios, cases, seed, out)
    except UserError as error:
        raise fail(_message(error)) from None
    except MemoryError:
        raise fail(out_of_memory(crop_size)) from None
    console.print(f"wrote {path}")


def out_of_memory(crop_size: int) -> str:
    """The refusal when a crop in range still does not fit this machine's memory."""
    return (
        f"not enough memory for --crop-size {crop_size}; use a smaller one, "
        f"e.g. --crop-size {SUGGESTED_CROP_SIZE}"
    )


@noise_app.command()
def stats(
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name.")] = "lidc-phantom",
    noise_model: Annotated[
        list | None,
        list_option(
            "--noise-model",
            metavar="MODEL",
            help="Noise models, e.g. reader,bias[radius=2-3]; a bare name gives each preset "
            "(default: every model).",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table (terminal), md (markdown) or csv.")
    ] = "table",
    seed: Annotated[int, typer.Option("--seed", help="Noise seed (as in a sweep).")] = 0,
    crop_size: Annotated[int, typer.Option("--crop-size", help=CROP_HELP)] = 64,
) -> None:
    """Realised noise (noisy vs clean Dice, HD95, flipped pixels) of each model and preset on
    the training cases at ratio 1, next to real reader vs consensus and reader vs reader."""
    from rmdbench.noise_stats import (
        check_crop_size,
        formatted,
        load_dataset,
        stats_caption,
        stats_frame,
        stats_request,
    )
    from rmdbench.plugins import load_builtins

    try:
        if output_format not in FORMATS:
            raise UserError(
                f"unknown --format '{output_format}'; choose one of: {', '.join(FORMATS)}"
            )
        check_crop_size(crop_size)
        load_builtins()
        request = stats_request(noise_model or [], crop_size)  # before the dataset is built
        data = load_dataset(dataset, crop_size, progress=terminal_track())
        frame, notes = stats_frame(data, request, seed)
    except UserError as error:
        raise fail(_message(error)) from None
    except MemoryError:
        raise fail(out_of_memory(crop_size)) from None
    caption = stats_caption(data, crop_size, seed)
    if output_format == "csv":
        typer.echo(frame.to_csv(index=False), nl=False)
    elif output_format == "md":
        typer.echo(formatted(frame).to_markdown(index=False))
        typer.echo(f"\n{caption}.")
    else:
        table = Table(title="realised noise vs clean", caption=caption)
        for column, header in TABLE_HEADERS.items():
            table.add_column(header, justify="left" if column in STATS_COLUMNS[:2] else "right")
        for row in formatted(frame).itertuples(index=False):
            table.add_row(*[str(value) for value in row])
        console.print(table)
    for note in notes:
        error_console.print(note, markup=False, highlight=False, soft_wrap=True)
