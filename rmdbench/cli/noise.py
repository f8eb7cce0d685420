"""``rmdbench noise ...``: look at what a noise model does before training on it.

``preview`` draws a few training cases with their clean and noisy masks; ``stats`` measures
the realised noise of every model and preset next to the disagreement of real readers, so
a severity can be calibrated against annotations one trusts (docs/noise.md).

The noisy masks are exactly those a sweep run trains on for the same dataset, crop size,
noise model, severity and seed: both seed the noise with the same severity key.
"""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from rmdbench.cli.common import console, error_console, fail
from rmdbench.contracts.noise_model import NoiseModel
from rmdbench.data.base import SegmentationData
from rmdbench.errors import UserError

noise_app = typer.Typer(
    help="Preview noise models and measure how noisy their labels really are.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

FORMATS = ("table", "md", "csv")
CLEAN_COLOUR = "#39d353"
NOISY_COLOUR = "#ff4136"
PANEL_INCHES = 1.45
FIGURE_DPI = 80
PNG_COLOURS = 256
STATS_COLUMNS = (
    "noise_model",
    "severity",
    "cases",
    "dsc_mean",
    "dsc_median",
    "hd95_mean_mm",
    "hd95_median_mm",
    "flipped_mean",
)
TABLE_HEADERS = dict(
    zip(
        STATS_COLUMNS,
        ("model", "severity", "n", "DSC mean", "DSC med", "HD95 mm", "HD95 med", "flipped"),
        strict=True,
    )
)


@dataclass(frozen=True)
class Severity:
    """One resolved noise model + severity, with the key that seeds its noise."""

    model_name: str
    label: str  # what tables and titles call it: the preset, or the options given
    params: dict
    model: NoiseModel

    @property
    def key(self) -> str:
        """The severity key a sweep run uses, so labels match runs."""
        from rmdbench.noise import severity_key

        return severity_key(self.params)


def resolve_severities(text: str, every_preset: bool) -> list[Severity]:
    """``text`` as one severity; a bare model name gives each of its presets when
    ``every_preset`` (``name[...]`` is always exactly what it says)."""
    from rmdbench.params import build_params, parse_component
    from rmdbench.registry import NOISE_MODELS
    from rmdbench.sweep import resolve_noise_model

    name, options = parse_component(text)
    model_class = NOISE_MODELS.get(name)
    if every_preset and not options:
        texts = [(f"{name}[preset={preset}]", preset) for preset in model_class.presets]
    else:
        label = ",".join(f"{key}={value}" for key, value in options.items()) or "default"
        if set(options) == {"preset"}:
            label = options["preset"]
        texts = [(text, label)]
    severities = []
    for component, label in texts:
        model_name, _, params = resolve_noise_model(component)
        model_class = NOISE_MODELS.get(model_name)
        built = build_params(model_class.Params, params, f"noise model '{model_name}'")
        severities.append(Severity(model_name, label, params, model_class(built)))
    return severities


def load_dataset(name: str, crop_size: int) -> SegmentationData:
    from rmdbench.registry import DATASETS

    if crop_size < 8:
        raise UserError(f"--crop-size {crop_size} is too small; use e.g. --crop-size 64")
    return DATASETS.get(name)(crop_size=crop_size, cache_dir=None)


def noisy_masks(
    data: SegmentationData, index: np.ndarray, severity: Severity, seed: int
) -> np.ndarray:
    """The noisy mask of each training case in ``index`` (as corrupted at any ratio: each
    case's noise is seeded by its id, not by which other cases are corrupted)."""
    from rmdbench.noise import apply_noise

    subset = data.subset(index)
    return apply_noise(subset, severity.model, 1.0, seed, severity.key).masks


def preview_cases(data: SegmentationData, order: np.ndarray, cases: int) -> np.ndarray:
    """Training cases (non-empty where possible) spread evenly over the corruption
    ``order``, so that at ratio r about the first r * cases of them are noisy (the nesting
    of ratios made visible)."""
    non_empty = np.array([data.masks[index].any() for index in order])
    candidates = order[non_empty] if non_empty.any() else order
    picks = ((np.arange(cases) + 0.5) * len(candidates) / cases).astype(int)
    return candidates[np.unique(picks)]


def _draw_mask(axes, mask: np.ndarray, colour: str, width: float, style: str = "-") -> None:
    if mask.any():
        levels = np.arange(1, max(2, int(mask.max()) + 1)) - 0.5
        axes.contour(mask, levels=levels, colors=colour, linewidths=width, linestyles=style)


def _panel(axes, image: np.ndarray, title: str) -> None:
    axes.imshow(image, cmap="gray", interpolation="nearest")
    axes.set_title(title, fontsize=7, pad=2)
    axes.set_xticks([])
    axes.set_yticks([])


def write_preview(
    data: SegmentationData,
    severities: list[Severity],
    ratios: list[float],
    cases: int,
    seed: int,
    out: Path,
) -> Path:
    """The preview figure: per case, the image, the clean mask, then one noisy mask per
    ratio (one severity) or per severity (ratio 1), as contours over the image."""
    from matplotlib.figure import Figure

    from rmdbench.metrics import case_metrics
    from rmdbench.noise import corrupted_count, selection_order

    train = data.indices("train")
    if len(train) == 0:
        raise UserError(f"dataset '{data.name}' has no training cases to preview")
    if cases < 1:
        raise UserError(f"--cases {cases} must be at least 1")
    figure = Figure(layout="constrained")
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in figure.canvas.get_supported_filetypes():
        raise UserError(f"cannot write '{out}': use a .png (or .pdf, .svg) file for --out")

    order = selection_order(data, severities[0].model_name, severities[0].key, seed)
    shown = preview_cases(data, order, min(cases, len(train)))
    order_position = {int(index): position for position, index in enumerate(order)}
    columns: list[tuple[str, np.ndarray, np.ndarray]] = []  # title, masks [cases], noisy flags
    if ratios:
        masks = noisy_masks(data, shown, severities[0], seed)
        for ratio in ratios:
            count = corrupted_count(ratio, len(train))
            is_noisy = np.array([order_position[int(i)] < count for i in shown])
            chosen = np.where(is_noisy[:, None, None], masks, data.masks[shown])
            columns.append((f"r={ratio:g}", chosen, is_noisy))
    else:
        for severity in severities:
            title = severity.label if len(severities) > 1 else f"{severity.label}, r=1"
            masks = noisy_masks(data, shown, severity, seed)
            columns.append((title, masks, np.ones(len(shown), bool)))

    rows, cols = len(shown), 2 + len(columns)
    figure.set_size_inches(PANEL_INCHES * cols, PANEL_INCHES * rows + 0.35)
    grid = figure.subplots(rows, cols, squeeze=False)
    for row, index in enumerate(shown):
        image = data.images[index, 0]
        clean = data.masks[index]
        _panel(grid[row, 0], image, "image")
        grid[row, 0].set_ylabel(str(data.case_ids[index]), fontsize=6)
        _panel(grid[row, 1], image, "clean")
        _draw_mask(grid[row, 1], clean, CLEAN_COLOUR, 1.2)
        for column, (title, masks, is_noisy) in enumerate(columns, start=2):
            axes = grid[row, column]
            if is_noisy[row]:
                dsc = case_metrics(masks[row], clean, data.spacing[index], data.num_classes)["dsc"]
                _panel(axes, image, f"{title} · DSC {dsc:.2f}")
                _draw_mask(axes, clean, CLEAN_COLOUR, 0.8, "--")
                _draw_mask(axes, masks[row], NOISY_COLOUR, 1.2)
            else:
                _panel(axes, image, f"{title} · clean")
                _draw_mask(axes, clean, CLEAN_COLOUR, 1.2)
    names = ", ".join(dict.fromkeys(severity.model_name for severity in severities))
    figure.suptitle(
        f"{names} on {data.name} (seed {seed}): clean mask green, noisy mask red", fontsize=8
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt != "png":
        figure.savefig(out, dpi=FIGURE_DPI)
        return out
    from PIL import Image  # a matplotlib dependency

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    buffer.seek(0)
    with Image.open(buffer) as rendered:  # a palette PNG: a third of the size, same look
        rendered.convert("RGB").quantize(colors=PNG_COLOURS, method=Image.Quantize.FASTOCTREE).save(
            out, optimize=True
        )
    return out


def _row(model: str, severity: str, frame: pd.DataFrame) -> dict:
    return {
        "noise_model": model,
        "severity": severity,
        "cases": len(frame),
        "dsc_mean": frame["dsc"].mean(),
        "dsc_median": frame["dsc"].median(),
        "hd95_mean_mm": frame["hd95"].mean(),
        "hd95_median_mm": frame["hd95"].median(),
        "flipped_mean": frame["flipped"].mean(),
    }


def noise_rows(
    data: SegmentationData, severities: list[Severity], seed: int, skip_errors: bool
) -> tuple[list[dict], list[str]]:
    """Realised noise of each severity at ratio 1 over the training cases, and the notes of
    severities skipped (when ``skip_errors``: e.g. reader on a dataset without readers)."""
    from rmdbench.noise import apply_noise

    rows, notes = [], []
    for severity in severities:
        try:
            noisy = apply_noise(data, severity.model, 1.0, seed, severity.key)
        except UserError as error:
            if not skip_errors:
                raise
            notes.append(f"skipped {severity.model_name}[{severity.label}]: {error}")
            continue
        realised = noisy.realised.rename(
            columns={"noisy_dsc": "dsc", "noisy_hd95": "hd95", "flipped_fraction": "flipped"}
        )
        rows.append(_row(severity.model_name, severity.label, realised))
    return rows, notes


def _compare(first: np.ndarray, second: np.ndarray, spacing: np.ndarray, num_classes: int) -> dict:
    from rmdbench.metrics import case_metrics

    metrics = case_metrics(first, second, spacing, num_classes)
    return {
        "dsc": metrics["dsc"],
        "hd95": metrics["hd95"],
        "flipped": float(np.mean(first != second)),
    }


def reader_rows(data: SegmentationData) -> list[dict]:
    """Real readers on the training cases: each reader vs the consensus, and every pair of
    readers of a case against each other."""
    if data.readers is None:
        return []
    vs_consensus, pairwise = [], []
    for index in data.indices("train"):
        count = len(data.readers[index])
        if data.reader_count is not None:
            count = int(data.reader_count[index])
        readers = data.readers[index][:count]
        spacing, classes = data.spacing[index], data.num_classes
        vs_consensus += [_compare(r, data.masks[index], spacing, classes) for r in readers]
        pairwise += [
            _compare(a, b, spacing, classes) for a, b in itertools.combinations(readers, 2)
        ]
    rows = []
    if vs_consensus:
        rows.append(_row("real readers", "reader vs consensus", pd.DataFrame(vs_consensus)))
    if pairwise:
        rows.append(_row("real readers", "reader vs reader", pd.DataFrame(pairwise)))
    return rows


def stats_frame(
    data: SegmentationData, noise_models: list[str], seed: int
) -> tuple[pd.DataFrame, list[str]]:
    """The calibration table: realised noise per model and severity, then real readers."""
    from rmdbench.params import split_top_level
    from rmdbench.registry import NOISE_MODELS

    texts = [item for value in noise_models for item in split_top_level(value)]
    explicit = bool(texts)
    severities = [
        severity
        for text in (texts or NOISE_MODELS.names())
        for severity in resolve_severities(text, every_preset=True)
    ]
    rows, notes = noise_rows(data, severities, seed, skip_errors=not explicit)
    rows += reader_rows(data)
    return pd.DataFrame(rows, columns=list(STATS_COLUMNS)), notes


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers rounded for reading: Dice 3 decimals, HD95 2, flipped fraction 4."""
    digits = {"dsc_mean": 3, "dsc_median": 3, "hd95_mean_mm": 2, "hd95_median_mm": 2}
    out = frame.copy()
    for column, places in {**digits, "flipped_mean": 4}.items():
        out[column] = [
            "nan" if (value is None or math.isnan(value)) else f"{value:.{places}f}"
            for value in frame[column]
        ]
    out["cases"] = frame["cases"].astype(int).astype(str)
    return out


@noise_app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def preview(
    context: typer.Context,
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
        list[str] | None,
        typer.Option(
            "--noise",
            help="Noise ratio(s) to show, e.g. --noise 0.4 0.8 (default: each preset at r=1).",
        ),
    ] = None,
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name.")] = "lidc-phantom",
    cases: Annotated[int, typer.Option("--cases", help="How many training cases.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Noise seed (as in a sweep).")] = 0,
    crop_size: Annotated[int, typer.Option("--crop-size", help="Crop size in px.")] = 64,
) -> None:
    """Draw a few training cases: image, clean mask, and noisy masks as contours."""
    from rmdbench.noise import parse_noise_ratios
    from rmdbench.plugins import load_builtins

    try:
        load_builtins()
        ratios = parse_noise_ratios([*(noise or []), *context.args])
        severities = resolve_severities(noise_model, every_preset=not ratios)
        data = load_dataset(dataset, crop_size)
        path = write_preview(data, severities, ratios, cases, seed, out)
    except UserError as error:
        raise fail(str(error)) from None
    console.print(f"wrote {path}")


@noise_app.command()
def stats(
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name.")] = "lidc-phantom",
    noise_model: Annotated[
        list[str] | None,
        typer.Option(
            "--noise-model",
            help="Noise model(s); a bare name gives each preset (default: every model).",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table (terminal), md (markdown) or csv.")
    ] = "table",
    seed: Annotated[int, typer.Option("--seed", help="Noise seed (as in a sweep).")] = 0,
    crop_size: Annotated[int, typer.Option("--crop-size", help="Crop size in px.")] = 64,
) -> None:
    """Realised noise (noisy vs clean Dice, HD95, flipped pixels) of each model and preset on
    the training cases at ratio 1, next to real reader vs consensus and reader vs reader."""
    from rmdbench.plugins import load_builtins

    try:
        if output_format not in FORMATS:
            raise UserError(
                f"unknown --format '{output_format}'; choose one of: {', '.join(FORMATS)}"
            )
        load_builtins()
        data = load_dataset(dataset, crop_size)
        frame, notes = stats_frame(data, noise_model or [], seed)
    except UserError as error:
        raise fail(str(error)) from None
    caption = (
        f"{data.name}, crop {crop_size}, {len(data.indices('train'))} training cases, "
        f"ratio 1, seed {seed}; HD95 in mm"
    )
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
