"""The figure of ``rmdbench noise preview``: a few training cases with their clean mask and
noisy masks drawn as contours over the image.

Per case (one row): the image, the clean mask, then one noisy mask per ratio (one severity)
or per severity (ratio 1). The masks are those a sweep run trains on
(``rmdbench.noise_stats``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from rmdbench.data.base import SegmentationData
from rmdbench.errors import UserError
from rmdbench.noise_stats import Severity, noisy_masks, preview_cases

CLEAN_COLOUR = "#39d353"
NOISY_COLOUR = "#ff4136"
PANEL_INCHES = 1.45
FIGURE_DPI = 80
PNG_COLOURS = 256


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
        raise TooFewCases(cases)
    check_figure(out)
    figure = Figure(layout="constrained")
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
