"""The one style sheet of every figure rmdbench draws (the report's and ``noise preview``),
its colour-blind-safe palette, the journal widths and how a figure is saved.

Figures are sized for a journal page: one column (3.5 in) or two (7.2 in) wide, text at
7 pt or more at that size, so they go into a paper unscaled. Colours are Okabe & Ito's
(2008), distinguishable under the common colour-vision deficiencies: a method keeps its
colour in every figure of a report (``method_colours``), yellow marks a clean mask and
vermillion a noisy one (never a method's colour). Every figure is written as PNG (what
report.md and report.html show) and, on request, as vector PDF and SVG beside it, with
no date or random id inside, so drawing the same figure twice writes the same bytes."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from cycler import cycler  # a matplotlib dependency
from matplotlib import style

ONE_COLUMN = 3.5  # inches: one column of a two-column journal page
TWO_COLUMNS = 7.2  # inches: the full text width
PNG_DPI = 200
FIGURE_FORMATS = ("png", "pdf", "svg")
MIN_FONT_POINTS = 7

# Okabe & Ito's palette; yellow and vermillion are kept for clean and noisy masks
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
CLEAN_COLOUR = OKABE_ITO["yellow"]
NOISY_COLOUR = OKABE_ITO["vermillion"]
METHOD_PALETTE = tuple(
    OKABE_ITO[name]
    for name in ("blue", "orange", "bluish green", "reddish purple", "sky blue", "black")
)
NEUTRAL = "#666666"  # reference marks (the empty-mask penalty), not data
#: past the palette's six colours, a method's line also differs in marker and dash
MARKERS = ("o", "s", "^", "D", "v", "P")
DASHES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 2)))
PNG_COLOURS = 256

#: the style sheet: every size, font and colour the figures use (no per-call tweaks)
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 8,
    "axes.prop_cycle": cycler(color=METHOD_PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 3,
    "legend.frameon": False,
    "figure.constrained_layout.use": True,
    "figure.dpi": 100,
    "savefig.dpi": PNG_DPI,
    "pdf.fonttype": 42,  # TrueType: text stays text in the PDF
    "svg.fonttype": "none",  # text as <text>, editable and small
    "svg.hashsalt": "rmdbench",  # the same ids in every run
    "image.interpolation": "nearest",
}
#: every font size the style sheet sets (what the tests hold to MIN_FONT_POINTS)
FONT_KEYS = tuple(
    key
    for key in STYLE
    if key == "font.size" or key.endswith(("fontsize", "labelsize", "titlesize"))
)
#: no date or software version inside the file: the same figure, the same bytes
METADATA = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
    "svg": {"Date": None, "Creator": None},
}


def paper_style() -> AbstractContextManager:
    """The style sheet, applied for the figures drawn inside the ``with`` block."""
    return style.context(STYLE)


def figure_width(panels_across: int) -> float:
    """One column for a single panel across, the full text width for more."""
    return ONE_COLUMN if panels_across <= 1 else TWO_COLUMNS


def method_colours(labels: Iterable[str]) -> dict[str, str]:
    """A colour per method label, in sorted order through the palette: built once from
    every label of a report, so a method has the same colour in all its figures."""
    ordered = sorted({str(label) for label in labels})
    return {label: METHOD_PALETTE[i % len(METHOD_PALETTE)] for i, label in enumerate(ordered)}


@dataclass(frozen=True)
class FigureOptions:
    """What every figure of one report shares: the method colours and the file formats."""

    colours: dict[str, str] = field(default_factory=dict)
    formats: tuple[str, ...] = FIGURE_FORMATS

    def colour(self, label: str) -> str:
        """The label's colour; a label the report did not know gets one by its name's
        place among the known ones (never an error)."""
        if label in self.colours:
            return self.colours[label]
        return method_colours([*self.colours, label])[label]

    def line(self, label: str) -> dict:
        """Colour, marker and dash of the label's line: the colour alone tells up to six
        methods apart, the marker and dash the ones that share a colour."""
        known = sorted({*self.colours, label})
        turn = known.index(label) // len(METHOD_PALETTE)
        return {
            "color": self.colour(label),
            "marker": MARKERS[turn % len(MARKERS)],
            "linestyle": DASHES[turn % len(DASHES)],
        }

    def with_labels(self, labels: Iterable[str]) -> FigureOptions:
        """These options, or colours for ``labels`` when none were chosen yet."""
        if self.colours:
            return self
        return FigureOptions(method_colours(labels), self.formats)


def figure_files(path: Path, formats: Sequence[str]) -> list[Path]:
    """The files one figure is written to: ``path`` (the PNG) and its companions."""
    path = Path(path)
    return [path, *(path.with_suffix(f".{fmt}") for fmt in formats if fmt != "png")]


def save_figure(figure, path: Path, formats: Sequence[str] = FIGURE_FORMATS) -> Path:
    """Write ``figure`` at its own size (no tight bounding box: the width stays a journal
    width) as ``path`` and its PDF/SVG companions; close it; return ``path``."""
    import matplotlib.pyplot as plt

    for target in figure_files(path, formats):
        fmt = target.suffix.lstrip(".")
        if fmt == "png":
            write_png(figure, target)
        else:
            figure.savefig(target, format=fmt, metadata=METADATA.get(fmt))
    plt.close(figure)
    return Path(path)


def write_png(figure, path: Path, dpi: int = PNG_DPI) -> Path:
    """A palette PNG at ``dpi`` (recorded in the file): a third of the size of a
    full-colour one, the same look, so report.html and the committed reports stay small."""
    from PIL import Image  # a matplotlib dependency

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata=METADATA["png"])
    buffer.seek(0)
    with Image.open(buffer) as rendered:
        palette = rendered.convert("RGB").quantize(
            colors=PNG_COLOURS, method=Image.Quantize.FASTOCTREE
        )
        palette.save(path, optimize=True, dpi=(dpi, dpi))
    return Path(path)
