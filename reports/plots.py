"""Figures for the report: metric vs noise ratio with confidence bands, per-case box plots,
realised noise vs test metric, memorisation curves, the critical-difference diagram and a
qualitative figure. Every function writes one PNG and returns its path; one panel per
setting (per setting and ratio for the memorisation curves).

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

from .runstats import MIN_RUNS, bootstrap_band, bootstrap_mean
from .stats import FriedmanResult, cliques
from .tables import lower_is_better, per_run_means, row_column, setting_groups

DPI = 120


def _panels(count: int, width: float = 5.0, height: float = 3.8) -> tuple[plt.Figure, list]:
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(width * columns, height * rows), squeeze=False
    )
    flat = list(axes.ravel())
    for axis in flat[count:]:
        axis.set_visible(False)
    return figure, flat[:count]


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def _metric_name(metric: str) -> str:
    return metric.upper().replace("_CLASS", " class ")


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


def draw_runs(axis, x: np.ndarray, samples: np.ndarray, label: str, color: str) -> pd.DataFrame:
    """The mean over seeds as a line; a bootstrap band where n ≥ 3, the seeds themselves
    as points where n < 3. Returns what was drawn (``mean_and_band``)."""
    x = np.asarray(x, dtype=float)
    band = mean_and_band(samples)
    axis.plot(x, band["mean"], marker="o", markersize=3, label=label, color=color)
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


def plot_metric_vs_ratio(cases: pd.DataFrame, path: Path, metric: str = "dsc") -> Path:
    """Mean test ``metric`` (run scores: means over test cases) against noise ratio, one
    line per method, with the band rule over seeds (``draw_runs``)."""
    groups = setting_groups(cases)
    figure, axes = _panels(len(groups), 5.5, 4)
    row = row_column(cases)
    for axis, (title, group) in zip(axes, groups, strict=True):
        runs = per_run_means(group, metric, row)
        for number, (method, lines) in enumerate(runs.groupby(row)):
            wide = lines.pivot_table(index="seed", columns="noise_ratio", values=metric)
            draw_runs(axis, wide.columns, wide.to_numpy(), method, f"C{number % 10}")
        axis.set_title(f"{title}\n{BAND_CAPTION}", fontsize=8)
        axis.set_xlabel("noise ratio (fraction of training masks corrupted)")
        axis.set_ylabel(f"test {_metric_name(metric)} (run mean)")
        if not lower_is_better(metric):
            axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return _save(figure, path)


def plot_memorisation(curves: pd.DataFrame, path: Path, title: str) -> Path:
    """Clean validation DSC against training progress (epoch / (epochs − 1)), one panel
    per noise ratio of one setting, one line per method, the band rule over seeds."""
    ratios = sorted(curves["noise_ratio"].unique())
    figure, axes = _panels(len(ratios), 4.8, 3.6)
    methods = sorted(curves["method_label"].unique())
    for axis, ratio in zip(axes, ratios, strict=True):
        at_ratio = curves[curves["noise_ratio"] == ratio]
        for number, method in enumerate(methods):
            lines = at_ratio[at_ratio["method_label"] == method]
            if lines.empty:
                continue
            wide = lines.pivot_table(index="seed", columns="progress", values="val_dsc")
            draw_runs(axis, wide.columns, wide.to_numpy(), method, f"C{number % 10}")
        axis.set_title(f"{title} · r={ratio:g}\n{BAND_CAPTION}", fontsize=8)
        axis.set_xlabel("training progress (epoch / (epochs − 1))")
        axis.set_ylabel("clean validation DSC")
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    return _save(figure, path)


def plot_case_boxes(cases: pd.DataFrame, path: Path, metric: str = "dsc") -> Path:
    """Per-case ``metric`` as box plots: noise ratio on x, one box per method (all seeds'
    test cases pooled), so the spread behind each mean is visible. A method with no
    number at a ratio (NaN in every case kept) has no box there."""
    groups = setting_groups(cases)
    figure, axes = _panels(len(groups), 6, 4)
    row = row_column(cases)
    for axis, (title, group) in zip(axes, groups, strict=True):
        methods = sorted(group[row].unique())
        ratios = sorted(group["noise_ratio"].unique())
        width = 0.8 / len(methods)
        for number, method in enumerate(methods):
            of_method = group[group[row] == method]
            values = [
                of_method.loc[of_method["noise_ratio"] == ratio, metric].dropna()
                for ratio in ratios
            ]
            kept = [index for index, value in enumerate(values) if len(value)]
            positions = [index - 0.4 + width * (number + 0.5) for index in kept]
            color = f"C{number % 10}"
            axis.plot([], [], "s", color=color, alpha=0.6, label=method)
            if not kept:
                continue
            axis.boxplot(
                [values[index] for index in kept],
                positions=positions,
                widths=width * 0.9,
                patch_artist=True,
                manage_ticks=False,
                boxprops={"facecolor": color, "alpha": 0.6, "linewidth": 0.8},
                medianprops={"color": "black", "linewidth": 0.8},
                flierprops={"markersize": 2},
                whiskerprops={"linewidth": 0.8},
                capprops={"linewidth": 0.8},
            )
        axis.set_xticks(range(len(ratios)), [f"{ratio:g}" for ratio in ratios])
        axis.set_xlim(-0.5, len(ratios) - 0.5)
        axis.set_title(f"{title}\nper test case (seeds pooled)", fontsize=9)
        axis.set_xlabel("noise ratio")
        axis.set_ylabel(f"test {_metric_name(metric)}")
        axis.grid(alpha=0.3, axis="y")
        axis.legend(fontsize=7)
    return _save(figure, path)


def plot_realised_noise(cases: pd.DataFrame, path: Path, metric: str = "dsc") -> Path:
    """Each run's test ``metric`` against the mean realised Dice of its training masks
    (noise.parquet: every training mask vs its clean mask, 1 for clean ones): how much a
    method loses per unit of label noise actually present."""
    row = row_column(cases)
    setting = "noise_setting" if "noise_setting" in cases else "noise_model"
    runs = cases.groupby(["run", row, setting], as_index=False).agg(
        test=(metric, "mean"), realised=("realised_train_dsc", "first")
    )
    markers = dict(zip(sorted(runs[setting].unique()), "osD^vP*X", strict=False))
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for number, (method, points) in enumerate(runs.groupby(row)):
        color = f"C{number % 10}"
        for name, subset in points.groupby(setting):
            several = runs[setting].nunique() > 1
            axis.scatter(
                subset["realised"],
                subset["test"],
                color=color,
                s=28,
                alpha=0.8,
                marker=markers.get(name, "o"),
                label=f"{method} · {name}" if several else method,
            )
        points = points.dropna(subset=["realised", "test"])
        if points["realised"].nunique() > 1:
            slope, intercept = np.polyfit(points["realised"], points["test"], 1)
            x = np.linspace(points["realised"].min(), points["realised"].max(), 10)
            axis.plot(x, slope * x + intercept, color=color, linewidth=0.9, alpha=0.7)
    axis.set_xlabel("realised label quality: mean Dice of training masks vs clean")
    axis.set_ylabel(f"test {_metric_name(metric)} (run mean)")
    axis.set_title(
        "realised noise vs test result (one point per run, least-squares line per method)",
        fontsize=9,
    )
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return _save(figure, path)


def plot_critical_difference(result: FriedmanResult, path: Path) -> Path:
    """Demšar's critical-difference diagram: average ranks on an axis (1 = best, left),
    the Nemenyi CD as a bar, and thick lines joining methods not significantly different."""
    ranks = result.average_ranks
    k = len(ranks)
    cd = result.critical_difference
    groups = cliques(ranks, cd) if not math.isnan(cd) else []
    half = math.ceil(k / 2)
    step = 0.22  # vertical space per label line
    first_label = -0.18 - 0.08 * len(groups)  # labels sit below the clique bars
    bottom = first_label - step * (half - 1) - 0.15
    figure, axis = plt.subplots(figsize=(7, 0.9 + 1.1 * (1.0 - bottom)))
    axis.set_xlim(0.5, k + 0.5)
    axis.set_ylim(bottom, 0.9)
    axis.axis("off")
    axis.hlines(0, 1, k, color="black", linewidth=1)
    for tick in range(1, k + 1):
        axis.vlines(tick, 0, 0.06, color="black", linewidth=1)
        axis.text(tick, 0.09, str(tick), ha="center", va="bottom", fontsize=8)
    if not math.isnan(cd):
        axis.hlines(0.55, 1, 1 + cd, color="black", linewidth=1.5)
        axis.vlines([1, 1 + cd], 0.5, 0.6, color="black", linewidth=1.5)
        axis.text(1 + cd / 2, 0.63, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8)
    for level, group in enumerate(groups):
        y = -0.1 - 0.08 * level
        axis.hlines(y, ranks[group[0]] - 0.03, ranks[group[-1]] + 0.03, color="black", linewidth=3)
    for index, (name, rank) in enumerate(ranks.items()):
        left = index < half
        depth = first_label - step * (index if left else k - 1 - index)
        edge = 0.6 if left else k + 0.4
        axis.plot([rank, rank, edge], [0, depth, depth], color="black", linewidth=0.8)
        axis.text(
            edge + (-0.05 if left else 0.05),
            depth,
            f"{name} ({rank:.2f})",
            ha="right" if left else "left",
            va="center",
            fontsize=8,
        )
    title = f"average rank of test {_metric_name(result.metric)} over {result.n_blocks} blocks"
    if not math.isnan(result.p_value):
        title += f" (Friedman p = {result.p_value:.2g}, Nemenyi α = {result.alpha:g})"
    axis.set_title(title, fontsize=9)
    figure.subplots_adjust(left=0.22, right=0.78)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_qualitative(panels: dict[str, list[tuple[str, np.ndarray, str]]], path: Path) -> Path:
    """A grid of images: one row per case, each cell (title, array, kind) where kind is
    'image' (grey) or 'mask' (drawn over nothing, black/white)."""
    columns = max(len(row) for row in panels.values())
    figure, axes = plt.subplots(
        len(panels), columns, figsize=(1.9 * columns, 2.0 * len(panels)), squeeze=False
    )
    for row_axes, (row_title, row) in zip(axes, panels.items(), strict=True):
        for axis in row_axes:
            axis.axis("off")
        for axis, (title, array, kind) in zip(row_axes, row, strict=False):
            top = 1 if kind == "image" else max(1, int(np.max(array)))
            axis.imshow(array, cmap="gray", vmin=0, vmax=top, interpolation="nearest")
            axis.set_title(title, fontsize=7)
        row_axes[0].text(
            -0.08,
            0.5,
            row_title,
            transform=row_axes[0].transAxes,
            rotation=90,
            ha="right",
            va="center",
            fontsize=7,
        )
    return _save(figure, path)
