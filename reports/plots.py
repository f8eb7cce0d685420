"""Figures for the report."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from .tables import per_run_means


def plot_metric_vs_ratio(cases: pd.DataFrame, path: Path, metric: str = "dsc") -> Path:
    """Mean test ``metric`` against noise ratio, one line per method, with a 95% confidence
    interval of the mean (normal approximation) over seeds, or over test cases when there
    is one seed."""
    runs = per_run_means(cases, metric)
    one_seed = runs["seed"].nunique() == 1
    source = cases if one_seed else runs
    stats = source.groupby(["method", "noise_ratio"])[metric].agg(["mean", "std", "count"])
    stats = stats.reset_index()
    stats["half_width"] = (1.96 * stats["std"] / stats["count"].pow(0.5)).fillna(0)
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for method, group in stats.groupby("method"):
        group = group.sort_values("noise_ratio")
        x, mean, half = group["noise_ratio"], group["mean"], group["half_width"]
        line = axis.errorbar(x, mean, yerr=half, marker="o", capsize=3, label=method)
        axis.fill_between(x, mean - half, mean + half, alpha=0.15, color=line.lines[0].get_color())
    axis.set_xlabel("noise ratio (fraction of training masks corrupted)")
    axis.set_ylabel(f"test {metric.upper()}")
    spread = "test cases" if one_seed else "seeds"
    axis.set_title(
        f"{metric.upper()} vs noise ratio (95% CI of the mean over {spread})", fontsize=9
    )
    if metric in ("dsc", "iou"):
        axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
