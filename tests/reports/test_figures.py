"""The report's figures are paper-grade: PNG, PDF and SVG at one or two journal columns
(3.5 / 7.2 in) with no text under 7 pt, one colour-blind-safe colour per method in every
figure, legends outside the data, surface distances on a log axis in mm with the
empty-mask penalty marked; and the noise preview in the same palette at 200 dpi."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import colors
from PIL import Image

from rmdbench.cli import app
from rmdbench.reports import plots
from rmdbench.reports.report import ReportOptions, build_report
from rmdbench.reports.style import (
    CLEAN_COLOUR,
    FONT_KEYS,
    METHOD_PALETTE,
    MIN_FONT_POINTS,
    NOISY_COLOUR,
    ONE_COLUMN,
    PNG_DPI,
    TWO_COLUMNS,
    paper_style,
)
from tests.reports.test_reports import store  # noqa: F401 - the hand-written store fixture

WIDTHS = (ONE_COLUMN, TWO_COLUMNS)


@pytest.fixture(scope="module")
def drawn(store, tmp_path_factory):  # noqa: F811
    """The report of the hand-written store, with every figure kept open long enough to
    record its legends' colours, its axes' scales and whether a legend overlaps an axes."""
    out = tmp_path_factory.mktemp("figures")
    figures: dict[str, dict] = {}
    save = plots.save_figure

    def record(figure, path, formats):
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        axes = [axis for axis in figure.axes if axis.get_visible()]
        legends = [legend.get_window_extent(renderer) for legend in figure.legends]
        figures[path.name] = {
            "colours": _legend_colours(figure),
            "yscales": {axis.get_ylabel(): axis.get_yscale() for axis in axes},
            "ylabels": [axis.get_ylabel() for axis in axes],
            "overlaps": [
                axis.get_ylabel() or axis.get_title()
                for axis in axes
                for legend in legends
                if legend.overlaps(axis.get_window_extent(renderer))
            ],
            "legends": len(figure.legends) + sum(axis.get_legend() is not None for axis in axes),
        }
        return save(figure, path, formats)

    patch = pytest.MonkeyPatch()
    patch.setattr(plots, "save_figure", record)
    try:
        report = build_report(store, out, ReportOptions(metrics=("dsc", "hd95")))
    finally:
        patch.undo()
    return report, figures


def _legend_colours(figure) -> dict[str, str]:
    """Label -> the colour of its legend entry (a line, a box's square or a point)."""
    found = {}
    for legend in figure.legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            if hasattr(handle, "get_color") and not hasattr(handle, "get_facecolor"):
                colour = handle.get_color()
            elif hasattr(handle, "get_facecolor"):
                colour = handle.get_facecolor()
                colour = colour[0] if np.ndim(colour) == 2 else colour
            else:
                continue
            found[text.get_text()] = colors.to_hex(colour, keep_alpha=False)
    return found


def _pdf_width(path) -> float:
    """The PDF page width in inches, from its MediaBox (72 points an inch)."""
    box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)", path.read_bytes())
    return (float(box.group(3)) - float(box.group(1))) / 72


def _svg_width_and_fonts(path) -> tuple[float, list[float]]:
    """The SVG's width in inches and the size in points of every piece of text in it."""
    root = ElementTree.parse(path).getroot()
    width = root.get("width")
    assert width.endswith("pt"), width
    sizes = [float(size) for size in re.findall(r"font-size:\s*([\d.]+)px", path.read_text())]
    sizes += [float(size) for size in re.findall(r"font:[^;\"']*?([\d.]+)px", path.read_text())]
    return float(width[:-2]) / 72, sizes


def test_every_figure_is_png_pdf_and_svg_at_a_journal_width(drawn):
    report, figures = drawn
    pngs = [path for path in report.files if path.suffix == ".png"]
    assert {path.name for path in pngs} >= {"dsc_vs_noise.png", "box_hd95.png", "cd_dsc.png"}
    assert "qualitative.png" in {path.name for path in pngs}
    for png in pngs:
        pdf, svg = png.with_suffix(".pdf"), png.with_suffix(".svg")
        assert pdf in report.files and svg in report.files, png.name
        width = _pdf_width(pdf)
        assert min(abs(width - journal) for journal in WIDTHS) < 0.01, (png.name, width)
        svg_width, fonts = _svg_width_and_fonts(svg)
        assert svg_width == pytest.approx(width, abs=0.01), png.name
        assert fonts and min(fonts) >= MIN_FONT_POINTS, (png.name, min(fonts))
        with Image.open(png) as image:
            assert image.width == pytest.approx(width * PNG_DPI, abs=2), png.name
            assert image.info["dpi"][0] == pytest.approx(PNG_DPI, abs=1)


def test_the_style_sheet_sets_no_font_under_7_points():
    assert {"font.size", "axes.titlesize", "xtick.labelsize", "legend.fontsize"} <= set(FONT_KEYS)
    with paper_style():
        for key in FONT_KEYS:
            assert matplotlib.rcParams[key] >= MIN_FONT_POINTS, key


def test_a_method_has_one_colour_blind_safe_colour_in_every_figure(drawn):
    _, figures = drawn
    seen: dict[str, set[str]] = {}
    for name, figure in figures.items():
        for label, colour in figure["colours"].items():
            if label in ("single", "coteaching", "rmd"):
                seen.setdefault(label, set()).add(colour)
                assert colour in {c.lower() for c in METHOD_PALETTE}, (name, label, colour)
    # each method appears in the line, box, realised-noise and qualitative figures
    assert sum("rmd" in figure["colours"] for figure in figures.values()) >= 4
    assert all(len(found) == 1 for found in seen.values()), seen
    assert len({next(iter(found)) for found in seen.values()}) == len(seen)  # all differ


def test_hd95_is_on_a_log_axis_in_mm_and_dsc_is_not(drawn):
    _, figures = drawn
    for name in ("hd95_vs_noise.png", "box_hd95.png", "realised_noise_hd95.png"):
        (label,) = figures[name]["ylabels"]
        assert "HD95 (mm" in label, label
        assert figures[name]["yscales"][label] == "log", name
    (label,) = figures["dsc_vs_noise.png"]["ylabels"]
    assert figures["dsc_vs_noise.png"]["yscales"][label] == "linear"


def test_legends_sit_outside_every_axes(drawn):
    _, figures = drawn
    with_legend = [name for name, figure in figures.items() if figure["legends"]]
    assert {"dsc_vs_noise.png", "box_dsc.png", "qualitative.png"} <= set(with_legend)
    for name, figure in figures.items():
        assert figure["overlaps"] == [], name


def test_the_empty_mask_penalty_is_marked_at_its_value():
    cases = pd.DataFrame(
        {
            "hd95": [2.0, 5.0, 75.5, 75.5, 60.0],
            "empty_one": [0.0, 0.0, 1.0, 1.0, 1.0],
            "hd_unit": "mm",
        }
    )
    assert plots.penalty_range(cases, "hd95") == (60.0, 75.5)
    assert plots.penalty_range(cases.assign(empty_one=0.0), "hd95") is None
    label = plots.penalty_label(cases, "hd95")
    assert label == "empty-mask penalty (image diagonal 60.0–75.5 mm)"
    assert plots.penalty_label(cases.assign(empty_one=0.0), "hd95") == plots.PENALTY_LABEL
    with paper_style():
        figure, axis = matplotlib.pyplot.subplots()
        plots.distance_axis(axis, cases, "hd95", label=label)
        lines = [line for line in axis.get_lines() if line.get_label() == label]
        texts = [text.get_text() for text in axis.texts]
        matplotlib.pyplot.close(figure)
    assert axis.get_yscale() == "log"
    assert len(lines) == 1 and lines[0].get_ydata()[0] == 75.5
    assert texts == []  # the value is in the legend, never over the data


@pytest.mark.parametrize("draw", ["plot_case_boxes", "plot_metric_vs_ratio"])
def test_the_penalty_value_is_in_the_legend(store, tmp_path, monkeypatch, draw):  # noqa: F811
    """Penalised cases sit at the top of a distance axis, right where a label on the
    penalty line would be: the figures write its value in the legend below the panels."""
    from rmdbench.reports.store_reader import load_store

    cases = load_store(store).cases.copy()
    penalised = np.arange(len(cases)) % 3 == 0
    cases["empty_one"] = penalised.astype(float)
    cases.loc[penalised, "hd95"] = 72.1
    seen = {}

    def record(figure, path, formats):
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        axes = [axis for axis in figure.axes if axis.get_visible()]
        (legend,) = figure.legends
        seen["panel_texts"] = [text.get_text() for axis in axes for text in axis.texts]
        seen["legend_texts"] = [text.get_text() for text in legend.get_texts()]
        box = legend.get_window_extent(renderer)
        seen["overlaps"] = [a for a in axes if box.overlaps(a.get_window_extent(renderer))]
        return path

    monkeypatch.setattr(plots, "save_figure", record)
    getattr(plots, draw)(cases, tmp_path / "figure.png", "hd95")
    assert seen["panel_texts"] == [] and seen["overlaps"] == []
    assert seen["legend_texts"][-1] == "empty-mask penalty (image diagonal 72.1 mm)"


def test_figure_formats_choose_the_files_and_refuse_without_png(store, runner, tmp_path):  # noqa: F811
    out = tmp_path / "png-only"
    arguments = ["report", str(store), "--out", str(out), "--no-qualitative", "--metric", "dsc"]
    result = runner.invoke(app, [*arguments, "--figure-formats", "png"])
    assert result.exit_code == 0, result.output
    assert (out / "box_dsc.png").is_file() and not list(out.glob("*.pdf"))
    assert not list(out.glob("*.svg"))
    assert "also written as" not in (out / "report.md").read_text()
    for formats, message in (("pdf,svg", "must include png"), ("png,eps", "unknown figure")):
        refused = runner.invoke(
            app,
            ["report", str(store), "--out", str(tmp_path / formats), "--figure-formats", formats],
        )
        assert refused.exit_code == 2, refused.output
        assert refused.output.startswith("error: ") and message in refused.output
        assert refused.output.count("\n") == 1
        assert not (tmp_path / formats / "report.md").exists()


def _near(pixels: np.ndarray, colour: str, tolerance: int = 24) -> int:
    """How many pixels lie within ``tolerance`` of ``colour`` in every channel."""
    target = np.array(colors.to_rgb(colour)) * 255
    return int(np.sum(np.all(np.abs(pixels[..., :3].astype(int) - target) <= tolerance, axis=-1)))


def test_the_noise_preview_uses_the_palette_at_200_dpi(runner, tmp_path):
    out = tmp_path / "preview.png"
    arguments = ["noise", "preview", "--dataset", "toy-disks", "--crop-size", "32"]
    arguments += ["--noise-model", "distortion", "--noise", "0.5,1", "--cases", "2"]
    result = runner.invoke(app, [*arguments, "--out", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        dpi = round(image.info["dpi"][0])
        assert dpi >= 200
        assert image.width / dpi == pytest.approx(TWO_COLUMNS, abs=0.01)  # 4 panels across
        pixels = np.asarray(image.convert("RGB"))
    assert _near(pixels, CLEAN_COLOUR) > 50 and _near(pixels, NOISY_COLOUR) > 50
    assert _near(pixels, "#39d353") == 0 and _near(pixels, "#ff4136") == 0  # no red/green
