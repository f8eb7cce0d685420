"""Figures for the report: metric vs noise ratio with confidence bands, per-case box plots,
realised noise vs test metric, memorisation curves, the critical-difference diagram and a
qualitative figure. Every function writes one PNG, with its PDF and SVG beside it unless
the report's ``FigureOptions`` leave them out, and returns the PNG's path; one panel per
setting (per setting and ratio for the memorisation and learning curves). Sizes, fonts
and colours come from one style sheet (``reports.style``): a method has the same colour
in every figure, legends sit below the panels, outside the data, and surface distances
are drawn on a log axis in their unit with the empty-mask penalty marked (its value in
the legend, where no data can be under it).

The band rule (``mean_and_band``, ``draw_runs``): a line is the mean over seeds of run
scores; where 3 or more seeds ran, a band shows the 95% percentile-bootstrap interval of
that mean (the tables' intervals); where fewer did, the individual seeds are drawn as
points instead, since an interval from two runs would be invented.

Runs without cases, or whose metric is NaN for every case, never get here: reading the
store skips them as damaged (``reports.store_reader``), so every panel has runs with a
number. A ``--filter`` can still keep only cases whose metric is NaN: a box with no number
is left out, a mean with none is not drawn."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from .runstats import MIN_RUNS, bootstrap_band, bootstrap_mean
from .stats import FriedmanResult, cliques
from .style import (
    CLEAN_COLOUR,
    NEUTRAL,
    NOISY_COLOUR,
    TWO_COLUMNS,
    FigureOptions,
    figure_width,
    paper_style,
    save_figure,
)
from .tables import hd_unit, lower_is_better, per_run_means, row_column, setting_groups

#: panel height over panel width, and the room a legend row below the panels takes
PANEL_ASPECT = 0.78
LEGEND_INCHES = 0.17
PENALTY_LABEL = "empty-mask penalty"


def _grid(rows: int, columns: int, labels: list[str]) -> tuple[plt.Figure, np.ndarray]:
    """A figure at a journal width (one column for one panel across, else the full
    width) of ``rows`` x ``columns`` axes, with room below for the legend of ``labels``."""
    width = figure_width(columns)
    legend = LEGEND_INCHES * math.ceil(len(labels) / legend_columns(labels, width))
    height = rows * (width / columns) * PANEL_ASPECT + legend + 0.1
    figure, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False)
    return figure, axes


def _panels(count: int, labels: list[str]) -> tuple[plt.Figure, list]:
    """``count`` panels, at most 3 across, the cells left over hidden."""
    columns = min(count, 3)
    figure, axes = _grid(math.ceil(count / columns), columns, labels)
    flat = list(axes.ravel())
    for axis in flat[count:]:
        axis.set_visible(False)
    return figure, flat[:count]


def legend_columns(labels: list[str], width: float) -> int:
    """As many legend columns as the longest label lets fit across ``width`` inches (a
    7 pt character is about 0.055 in wide, the line sample and gap 0.35 in)."""
    if not labels:
        return 1
    entry = 0.35 + 0.055 * max(len(str(label)) for label in labels)
    return max(1, min(len(labels), int(width // entry)))


def legend_below(figure: plt.Figure, axes: list) -> None:
    """One legend for the figure, below the panels and outside every one of them: the
    entries of all axes, each label once, in as many columns as fit the width."""
    entries: dict[str, object] = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    entries = dict(sorted(entries.items(), key=lambda item: (is_penalty(item[0]), item[0])))
    if entries:
        figure.legend(
            list(entries.values()),
            list(entries),
            loc="outside lower center",
            ncols=legend_columns(list(entries), figure.get_figwidth()),
        )


def is_penalty(label: str) -> bool:
    """Whether a legend label is the penalty mark's (``penalty_label``): listed last."""
    return str(label).startswith(PENALTY_LABEL)


def _labels(methods, metric: str = "dsc", penalty: str = PENALTY_LABEL) -> list[str]:
    """The legend's labels: the methods, and the penalty mark (``penalty_label``) for a
    distance."""
    labels = sorted({str(method) for method in methods})
    return [*labels, penalty] if is_distance(metric) else labels


def _metric_name(metric: str) -> str:
    return metric.upper().replace("_CLASS", " class ")


def is_distance(metric: str) -> bool:
    """HD95 and ASSD: surface distances, drawn on a log axis with their unit."""
    return lower_is_better(metric)


def metric_label(metric: str, cases: pd.DataFrame, what: str = "") -> str:
    """'test DSC (run mean)' or 'test HD95 (mm, run mean)': a distance says its unit."""
    notes = [hd_unit(cases)] if is_distance(metric) else []
    notes += [what] if what else []
    return f"test {_metric_name(metric)}" + (f" ({', '.join(notes)})" if notes else "")


def penalty_range(cases: pd.DataFrame, metric: str) -> tuple[float, float] | None:
    """The empty-mask penalty of ``metric`` (rmdbench.metrics: the image diagonal, when
    exactly one of prediction and truth is empty) over the penalised cases: its lowest and
    highest value (cases differ in extent and spacing); None without such a case."""
    if "empty_one" not in cases or metric not in cases:
        return None
    values = cases.loc[cases["empty_one"].astype(float) > 0, metric].dropna()
    values = values[np.isfinite(values) & (values > 0)]
    if values.empty:
        return None
    return float(values.min()), float(values.max())


def penalty_label(cases: pd.DataFrame, metric: str) -> str:
    """The legend entry of the empty-mask penalty mark, with its value over every case of
    the figure: 'empty-mask penalty (image diagonal 45.3 mm)', a range when cases differ.
    The value is in the legend, not written on the panel: at the top of a box plot's
    axis, where the penalised cases sit, a label on the line covered boxes and fliers."""
    penalty = penalty_range(cases, metric)
    if penalty is None:
        return PENALTY_LABEL
    low, high = penalty
    unit = hd_unit(cases)
    value = f"{high:.1f}" if math.isclose(low, high) else f"{low:.1f}–{high:.1f}"
    return f"{PENALTY_LABEL} (image diagonal {value} {unit})"


def distance_axis(
    axis,
    cases: pd.DataFrame,
    metric: str,
    horizontal: bool = False,
    label: str = PENALTY_LABEL,
) -> None:
    """A surface distance on a log axis, with the empty-mask penalty marked: a dotted
    line at its value, or a band over its values when they differ between cases, named
    in the legend by ``label`` (``penalty_label`` of the whole figure's cases)."""
    if not is_distance(metric):
        return
    (axis.set_xscale if horizontal else axis.set_yscale)("log")
    scale = axis.xaxis if horizontal else axis.yaxis
    scale.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    scale.set_minor_formatter(NullFormatter())
    penalty = penalty_range(cases, metric)
    if penalty is None:
        return
    low, high = penalty
    line, span = (axis.axvline, axis.axvspan) if horizontal else (axis.axhline, axis.axhspan)
    line(high, color=NEUTRAL, linestyle=":", linewidth=1, label=label)
    if not math.isclose(low, high):
        span(low, high, color=NEUTRAL, alpha=0.15, linewidth=0)


def mean_and_band(samples: np.ndarray) -> pd.DataFrame:
    """Per column of ``samples`` (seeds x points; NaN where a seed has no run there): the
    mean over seeds, n, and the 95% bootstrap interval of the mean (``low``, ``high``),
    NaN where n < 3. Complete columns are bootstrapped in one vectorised call."""
    samples = np.asarray(samples, dtype=float)
    n = np.sum(~np.isnan(samples), axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(n > 0, np.nansum(samples, axis=0) / np.maximum(n, 1), np.nan)
    low = np.full(samples.shape[1], np.nan)
    high = np.full(samples.shape[1], np.nan)
    complete = (n == samples.shape[0]) & (n >= MIN_RUNS)
    if complete.any():
        low[complete], high[complete] = bootstrap_band(samples[:, complete])
    for column in np.flatnonzero(~complete & (n >= MIN_RUNS)):
        interval = bootstrap_mean(samples[:, column])
        low[column], high[column] = interval.low, interval.high
    return pd.DataFrame({"mean": mean, "n": n, "low": low, "high": high})


def draw_runs(
    axis,
    x: np.ndarray,
    samples: np.ndarray,
    label: str,
    color: str,
    marker: str = "o",
    linestyle: str | tuple = "-",
) -> pd.DataFrame:
    """The mean over seeds as a line; a bootstrap band where n ≥ 3, the seeds themselves
    as points where n < 3. Returns what was drawn (``mean_and_band``)."""
    x = np.asarray(x, dtype=float)
    band = mean_and_band(samples)
    axis.plot(x, band["mean"], marker=marker, linestyle=linestyle, label=label, color=color)
    banded = np.isfinite(band["low"].to_numpy())
    if banded.any():
        axis.fill_between(
            x, band["low"], band["high"], where=banded, alpha=0.18, color=color, linewidth=0
        )
    few = (~banded) & (band["n"].to_numpy() > 0)
    if few.any():
        rows, columns = np.nonzero(~np.isnan(samples[:, few]))
        axis.scatter(
            x[few][columns], samples[:, few][rows, columns], s=14, color=color, alpha=0.7,
            marker="x", linewidths=1,
        )  # fmt: skip
    return band


BAND_CAPTION = "line: mean over seeds; band: 95% bootstrap CI (≥3 seeds); ×: each seed (<3 seeds)"


def _options(options: FigureOptions | None, labels) -> FigureOptions:
    """The report's figure options, or colours for these labels when drawn on their own."""
    return (options or FigureOptions()).with_labels(labels)


def plot_metric_vs_ratio(
    cases: pd.DataFrame, path: Path, metric: str = "dsc", options: FigureOptions | None = None
) -> Path:
    """Mean test ``metric`` (run scores: means over test cases) against noise ratio, one
    line per method, with the band rule over seeds (``draw_runs``)."""
    groups = setting_groups(cases)
    row = row_column(cases)
    options = _options(options, cases[row])
    penalty = penalty_label(cases, metric)
    with paper_style():
        figure, axes = _panels(len(groups), _labels(cases[row], metric, penalty))
        for axis, (title, group) in zip(axes, groups, strict=True):
            runs = per_run_means(group, metric, row)
            for method, lines in runs.groupby(row):
                wide = lines.pivot_table(index="seed", columns="noise_ratio", values=metric)
                draw_runs(axis, wide.columns, wide.to_numpy(), method, **options.line(method))
            axis.set_title(title)
            axis.set_xlabel("noise ratio r")
            axis.set_ylabel(metric_label(metric, group, "run mean"))
            if is_distance(metric):
                distance_axis(axis, group, metric, label=penalty)
            else:
                axis.set_ylim(0, 1.02)
        legend_below(figure, axes)
        return save_figure(figure, path, options.formats)


def _curve_panel(axis, curves: pd.DataFrame, x: str, y: str, options: FigureOptions) -> None:
    """One panel of curves: ``y`` against ``x``, a line per method, the band rule."""
    for method in sorted(curves["method_label"].unique()):
        lines = curves[curves["method_label"] == method]
        wide = lines.pivot_table(index="seed", columns=x, values=y)
        if wide.empty:
            continue
        draw_runs(axis, wide.columns, wide.to_numpy(), method, **options.line(method))


def plot_memorisation(
    curves: pd.DataFrame, path: Path, title: str, options: FigureOptions | None = None
) -> Path:
    """Clean validation DSC against training progress (epoch / (epochs − 1)), one panel
    per noise ratio of one setting, one line per method, the band rule over seeds."""
    ratios = sorted(curves["noise_ratio"].unique())
    options = _options(options, curves["method_label"])
    with paper_style():
        figure, axes = _panels(len(ratios), _labels(curves["method_label"]))
        for axis, ratio in zip(axes, ratios, strict=True):
            _curve_panel(
                axis, curves[curves["noise_ratio"] == ratio], "progress", "val_dsc", options
            )
            axis.set_title(f"{title} · r={ratio:g}")
            axis.set_xlabel("training progress (epoch / (epochs − 1))")
            axis.set_ylabel("clean validation DSC")
            axis.set_ylim(0, 1.02)
        legend_below(figure, axes)
        return save_figure(figure, path, options.formats)


def plot_learning_curves(
    curves: pd.DataFrame, path: Path, title: str, options: FigureOptions | None = None
) -> Path:
    """Training loss (top row) and clean validation DSC (bottom row) against epoch, a
    column per noise ratio of one setting, a line per method, the band rule over seeds.
    Runs that recorded no loss leave the top panel without their line."""
    ratios = sorted(curves["noise_ratio"].unique())
    options = _options(options, curves["method_label"])
    curves = curves.assign(epoch_shown=curves["epoch"] + 1)
    with paper_style():
        columns = min(len(ratios), 3)
        rows = 2 * math.ceil(len(ratios) / columns)
        figure, grid = _grid(rows, columns, _labels(curves["method_label"]))
        shown = []
        for number in range(grid.size // 2):
            loss_axis = grid[2 * (number // columns), number % columns]
            dsc_axis = grid[2 * (number // columns) + 1, number % columns]
            if number >= len(ratios):
                loss_axis.set_visible(False)
                dsc_axis.set_visible(False)
                continue
            ratio = ratios[number]
            at_ratio = curves[curves["noise_ratio"] == ratio]
            if "loss" in at_ratio:
                losses = at_ratio.dropna(subset=["loss"])
                _curve_panel(loss_axis, losses, "epoch_shown", "loss", options)
            _curve_panel(dsc_axis, at_ratio, "epoch_shown", "val_dsc", options)
            loss_axis.set_title(f"{title} · r={ratio:g}")
            loss_axis.set_ylabel("training loss")
            dsc_axis.set_ylabel("clean validation DSC")
            dsc_axis.set_ylim(0, 1.02)
            dsc_axis.set_xlabel("epoch")
            dsc_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            loss_axis.sharex(dsc_axis)
            shown += [loss_axis, dsc_axis]
        legend_below(figure, shown)
        return save_figure(figure, path, options.formats)


def plot_case_boxes(
    cases: pd.DataFrame, path: Path, metric: str = "dsc", options: FigureOptions | None = None
) -> Path:
    """Per-case ``metric`` as box plots: noise ratio on x, one box per method (all seeds'
    test cases pooled), so the spread behind each mean is visible. A method with no
    number at a ratio (NaN in every case kept) has no box there. Distances of 0 (both
    masks empty, or identical surfaces) have no place on the log axis and are left out
    of the boxes of a distance."""
    groups = setting_groups(cases)
    row = row_column(cases)
    options = _options(options, cases[row])
    penalty = penalty_label(cases, metric)
    with paper_style():
        figure, axes = _panels(len(groups), _labels(cases[row], metric, penalty))
        for axis, (title, group) in zip(axes, groups, strict=True):
            _boxes(axis, group, metric, row, options)
            axis.set_title(f"{title} (per test case, seeds pooled)")
            axis.set_xlabel("noise ratio r")
            axis.set_ylabel(metric_label(metric, group))
            axis.grid(False, axis="x")
            distance_axis(axis, group, metric, label=penalty)
        legend_below(figure, axes)
        return save_figure(figure, path, options.formats)


def _boxes(axis, group: pd.DataFrame, metric: str, row: str, options: FigureOptions) -> None:
    """The boxes of one panel: per ratio, one box per method side by side."""
    methods = sorted(group[row].unique())
    ratios = sorted(group["noise_ratio"].unique())
    width = 0.8 / len(methods)
    for number, method in enumerate(methods):
        of_method = group[group[row] == method]
        values = [
            of_method.loc[of_method["noise_ratio"] == ratio, metric].dropna() for ratio in ratios
        ]
        if is_distance(metric):
            values = [value[value > 0] for value in values]
        kept = [index for index, value in enumerate(values) if len(value)]
        positions = [index - 0.4 + width * (number + 0.5) for index in kept]
        colour = options.colour(method)
        axis.plot([], [], "s", color=colour, alpha=0.6, label=method)
        if not kept:
            continue
        axis.boxplot(
            [values[index] for index in kept],
            positions=positions,
            widths=width * 0.9,
            patch_artist=True,
            manage_ticks=False,
            boxprops={"facecolor": colour, "alpha": 0.6, "linewidth": 0.6},
            medianprops={"color": "black", "linewidth": 0.8},
            flierprops={"markersize": 1.5, "markeredgewidth": 0.4},
            whiskerprops={"linewidth": 0.6},
            capprops={"linewidth": 0.6},
        )
    axis.set_xticks(range(len(ratios)), [f"{ratio:g}" for ratio in ratios])
    axis.set_xlim(-0.5, len(ratios) - 0.5)


def plot_realised_noise(
    cases: pd.DataFrame, path: Path, metric: str = "dsc", options: FigureOptions | None = None
) -> Path:
    """Each run's test ``metric`` against the mean realised Dice of its training masks
    (noise.parquet: every training mask vs its clean mask, 1 for clean ones): how much a
    method loses per unit of label noise actually present."""
    row = row_column(cases)
    options = _options(options, cases[row])
    setting = "noise_setting" if "noise_setting" in cases else "noise_model"
    runs = cases.groupby(["run", row, setting], as_index=False).agg(
        test=(metric, "mean"), realised=("realised_train_dsc", "first")
    )
    markers = dict(zip(sorted(runs[setting].unique()), "osD^vP*X", strict=False))
    several = runs[setting].nunique() > 1
    entries = sorted(
        {
            f"{method} · {name}" if several else method
            for method, name in zip(runs[row], runs[setting], strict=True)
        }
    )
    penalty = penalty_label(cases, metric)
    with paper_style():
        figure, axes = _panels(1, [*entries, *_labels([], metric, penalty)])
        axis = axes[0]
        for method, points in runs.groupby(row):
            colour = options.colour(method)
            for name, subset in points.groupby(setting):
                axis.scatter(
                    subset["realised"],
                    subset["test"],
                    color=colour,
                    s=10,
                    alpha=0.8,
                    marker=markers.get(name, "o") if several else options.line(method)["marker"],
                    label=f"{method} · {name}" if several else method,
                )
            points = points.dropna(subset=["realised", "test"])
            if points["realised"].nunique() > 1:
                slope, intercept = np.polyfit(points["realised"], points["test"], 1)
                x = np.linspace(points["realised"].min(), points["realised"].max(), 10)
                axis.plot(x, slope * x + intercept, color=colour, linewidth=0.9, alpha=0.7)
        axis.set_xlabel("realised label quality:\nmean Dice of training masks vs clean")
        axis.set_ylabel(metric_label(metric, cases, "run mean"))
        axis.set_title("one point per run, least-squares line per method")
        distance_axis(axis, cases, metric, label=penalty)
        legend_below(figure, axes)
        return save_figure(figure, path, options.formats)


def plot_critical_difference(
    result: FriedmanResult, path: Path, options: FigureOptions | None = None
) -> Path:
    """Demšar's critical-difference diagram: average ranks on an axis (1 = best, left),
    the Nemenyi CD as a bar, and thick lines joining methods not significantly different.
    The figure is a journal width; the axis leaves room either side for the longest
    method name, measured on the renderer."""
    options = options or FigureOptions()
    ranks = result.average_ranks
    k = len(ranks)
    cd = result.critical_difference
    groups = cliques(ranks, cd) if not math.isnan(cd) else []
    half = math.ceil(k / 2)
    step = 0.22  # vertical space per label line
    first_label = -0.18 - 0.08 * len(groups)  # labels sit below the clique bars
    bottom = first_label - step * (half - 1) - 0.15
    with paper_style():
        width = TWO_COLUMNS if k > 4 else figure_width(1)
        figure = plt.figure(figsize=(width, 0.5 + 0.9 * (1.0 - bottom)))
        figure.set_layout_engine("none")  # the axis is placed by hand (_fit_between_labels)
        axis = figure.add_axes((0.3, 0.02, 0.4, 0.8))
        axis.set_xlim(0.5, k + 0.5)
        axis.set_ylim(bottom, 0.9)
        axis.axis("off")
        axis.hlines(0, 1, k, color="black", linewidth=1)
        for tick in range(1, k + 1):
            axis.vlines(tick, 0, 0.06, color="black", linewidth=1)
            axis.text(tick, 0.09, str(tick), ha="center", va="bottom")
        if not math.isnan(cd):
            axis.hlines(0.55, 1, 1 + cd, color="black", linewidth=1.5)
            axis.vlines([1, 1 + cd], 0.5, 0.6, color="black", linewidth=1.5)
            axis.text(1 + cd / 2, 0.63, f"CD = {cd:.2f}", ha="center", va="bottom")
        for level, group in enumerate(groups):
            y = -0.1 - 0.08 * level
            axis.hlines(
                y, ranks[group[0]] - 0.03, ranks[group[-1]] + 0.03, color="black", linewidth=3
            )
        labels = []
        for index, (name, rank) in enumerate(ranks.items()):
            left = index < half
            depth = first_label - step * (index if left else k - 1 - index)
            edge = 0.6 if left else k + 0.4
            axis.plot([rank, rank, edge], [0, depth, depth], color="black", linewidth=0.8)
            labels.append(
                axis.text(
                    edge + (-0.05 if left else 0.05),
                    depth,
                    f"{name} ({rank:.2f})",
                    ha="right" if left else "left",
                    va="center",
                )
            )
        title = f"average rank of test {_metric_name(result.metric)} over {result.n_blocks} blocks"
        if not math.isnan(result.p_value):
            title += f"\n(Friedman p = {result.p_value:.2g}, Nemenyi α = {result.alpha:g})"
        heading = figure.suptitle(title)
        _fit_between_labels(figure, axis, labels, heading)
        return save_figure(figure, path, options.formats)


def _fit_between_labels(figure: plt.Figure, axis, labels: list, heading) -> None:
    """Place the rank axis so that the method names either side stay inside the figure:
    the margins are the widest name's width, as the renderer measures it."""
    renderer = figure.canvas.get_renderer()
    inches = max(text.get_window_extent(renderer).width for text in labels) / figure.dpi
    margin = min(0.45, (inches + 0.08) / figure.get_figwidth())
    title = heading.get_window_extent(renderer).height / figure.dpi
    top = 1 - (title + 0.08) / figure.get_figheight()
    axis.set_position((margin, 0.02, 1 - 2 * margin, top - 0.02))


def plot_qualitative(
    panels: dict[str, list], path: Path, options: FigureOptions | None = None
) -> Path:
    """A grid: one row per case, each cell (title, array, kind, method) where kind is
    'image' (the image alone), 'clean' (its clean mask as a contour on it), 'noisy' or
    'prediction' (that mask's contour on the image, over the clean one dashed). A
    prediction's contour has its method's colour, as in every other figure."""
    columns = max(len(row) for row in panels.values())
    methods = [cell[3] for row in panels.values() for cell in row if cell[2] == "prediction"]
    options = _options(options, methods)
    with paper_style():
        width = TWO_COLUMNS
        side = width / columns
        figure, axes = plt.subplots(
            len(panels),
            columns,
            figsize=(width, side * 1.18 * len(panels) + LEGEND_INCHES * 2),
            squeeze=False,
        )
        for row_axes, (row_title, row) in zip(axes, panels.items(), strict=True):
            image = next(cell[1] for cell in row if cell[2] == "image")
            clean = next((cell[1] for cell in row if cell[2] == "clean"), None)
            for axis in row_axes:
                axis.axis("off")
            for axis, cell in zip(row_axes, row, strict=False):
                _qualitative_cell(axis, image, clean, cell, options)
            # case ids are paths ('LIDC-IDRI-1007/scan648/nodule...'): one part a line,
            # so a row's label stays beside its row
            row_axes[0].set_ylabel(row_title.replace("/", "/\n"), linespacing=1.0)
            row_axes[0].axis("on")
            row_axes[0].set_xticks([])
            row_axes[0].set_yticks([])
            row_axes[0].grid(False)
            for spine in row_axes[0].spines.values():
                spine.set_visible(False)
        noisy = any(cell[2] == "noisy" for row in panels.values() for cell in row)
        _contour_legend(figure, sorted(set(methods)), noisy, options)
        return save_figure(figure, path, options.formats)


def _qualitative_cell(axis, image, clean, cell, options: FigureOptions) -> None:
    """One cell of the qualitative figure: the image, and the cell's mask as a contour."""
    title, array, kind = cell[0], cell[1], cell[2]
    axis.imshow(image, cmap="gray")
    axis.set_title(title)
    if kind == "clean":
        draw_contour(axis, array, CLEAN_COLOUR)
    elif kind in ("noisy", "prediction"):
        if clean is not None:
            draw_contour(axis, clean, CLEAN_COLOUR, style="--", width=0.7)
        colour = NOISY_COLOUR if kind == "noisy" else options.colour(cell[3])
        draw_contour(axis, array, colour)


def draw_contour(axis, mask: np.ndarray, colour: str, style: str = "-", width: float = 1.0) -> None:
    """The boundary of every foreground label of ``mask`` as a line (nothing when empty)."""
    mask = np.asarray(mask)
    if mask.any():
        levels = np.arange(1, max(2, int(mask.max()) + 1)) - 0.5
        axis.contour(mask, levels=levels, colors=colour, linewidths=width, linestyles=style)


def _contour_legend(
    figure: plt.Figure, methods: list[str], noisy: bool, options: FigureOptions
) -> None:
    """What each contour colour means, below the grid."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=CLEAN_COLOUR, label="clean mask (dashed under others)")]
    if noisy:
        handles.append(Line2D([], [], color=NOISY_COLOUR, label="noisy training label"))
    handles += [Line2D([], [], color=options.colour(name), label=name) for name in methods]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)))
