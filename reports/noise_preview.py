"""The figure of ``rmdbench noise preview``: a few training cases with their clean mask and
noisy masks drawn as contours over the image.

Per case (one row): the image, the clean mask, then one noisy mask per ratio (one severity)
or per severity (ratio 1). The masks are those a sweep run trains on
(``rmdbench.noise_stats``). The figure follows the report's style sheet
(``reports.style``): one or two journal columns wide, the clean mask yellow and the noisy
one vermillion (colour-blind safe), a PNG at 200 dpi.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rmdbench.data.base import SegmentationData
from rmdbench.errors import UserError
from rmdbench.noise_stats import Severity, noisy_masks, preview_cases

from .plots import draw_contour
from .style import (
    CLEAN_COLOUR,
    METADATA,
    NOISY_COLOUR,
    PNG_DPI,
    figure_width,
    paper_style,
    write_png,
)

#: a PNG preview's resolution: enough for print at its journal width
FIGURE_DPI = PNG_DPI


class TooFewCases(UserError):
    """A preview of fewer than one case (the command line names its option)."""

    def __init__(self, cases: int) -> None:
        self.cases = cases
        super().__init__(f"a preview needs at least 1 case, got {cases}")


class UnsupportedFigure(UserError):
    """A figure file whose suffix matplotlib cannot write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"cannot write '{path}': use a .png (or .pdf, .svg) file")


def check_figure(out: Path) -> Path:
    """The figure file ``out`` can be written: a suffix matplotlib writes, not a folder, in
    a folder that exists or can be made. Checked before the dataset is built and the figure
    drawn, so a bad --out fails at once, in one line."""
    from matplotlib.figure import Figure

    from rmdbench.outputs import check_writable_file

    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in Figure().canvas.get_supported_filetypes():
        raise UnsupportedFigure(out)
    return check_writable_file(out, "figure")


def _draw_mask(axes, mask: np.ndarray, colour: str, width: float, style: str = "-") -> None:
    draw_contour(axes, mask, colour, style=style, width=width)


def _panel(axes, image: np.ndarray, title: str) -> None:
    axes.imshow(image, cmap="gray")
    axes.set_title(title, pad=2)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.grid(False)


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
    from rmdbench.noise import corrupted_count, selection_order

    train = data.indices("train")
    if len(train) == 0:
        raise UserError(f"dataset '{data.name}' has no training cases to preview")
    if cases < 1:
        raise TooFewCases(cases)
    check_figure(out)
    fmt = out.suffix.lower().lstrip(".")

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

    with paper_style():
        figure = _draw(data, shown, columns, severities, seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt != "png":
            figure.savefig(out, format=fmt, dpi=FIGURE_DPI, metadata=METADATA.get(fmt))
            return out
        return write_png(figure, out, FIGURE_DPI)


def _wrapped(case_id: str, width: int = 18) -> str:
    """A long case id ('LIDC-IDRI-0454/scan459/nodule1') on lines of at most ``width``
    characters, broken after a '/', so it stays beside its own row."""
    lines = [""]
    for part in case_id.split("/"):
        piece = part if not lines[-1] else f"/{part}"
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines[-1] += "/"
            lines.append(part)
        else:
            lines[-1] += piece
    return "\n".join(lines)


def _draw(
    data: SegmentationData,
    shown: np.ndarray,
    columns: list[tuple[str, np.ndarray, np.ndarray]],
    severities: list[Severity],
    seed: int,
):
    """The grid: a row per case, the image, the clean mask, then each column's mask, at
    one journal column wide for up to 3 panels across, the full text width for more."""
    from matplotlib.figure import Figure

    from rmdbench.metrics import case_metrics

    rows, cols = len(shown), 2 + len(columns)
    width = figure_width(1 if cols <= 3 else 2)
    side = width / cols
    figure = Figure(figsize=(width, side * 1.2 * rows + 0.35), layout="constrained")
    grid = figure.subplots(rows, cols, squeeze=False)
    for row, index in enumerate(shown):
        image = data.images[index, 0]
        clean = data.masks[index]
        _panel(grid[row, 0], image, "image")
        grid[row, 0].set_ylabel(_wrapped(str(data.case_ids[index])))
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
        f"{names} on {data.name} (seed {seed}): clean mask yellow, noisy mask vermillion"
    )
    return figure
