"""Figures for the report."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from .tables import per_run_means


def plot_metric_vs_ratio(cases: pd.DataFrame, path: Path, metric: str = "dsc") -> Path:
    """Mean test ``metric`` against noise ratio, one line per method; the band is ± one
    std over seeds (over test cases when there is one seed)."""
    runs = per_run_means(cases, metric)
    one_seed = runs["seed"].nunique() == 1
    source = cases if one_seed else runs
    stats = source.groupby(["method", "noise_ratio"])[metric].agg(["mean", "std"]).reset_index()
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for method, group in stats.groupby("method"):
        group = group.sort_values("noise_ratio")
        axis.plot(group["noise_ratio"], group["mean"], marker="o", label=method)
        std = group["std"].fillna(0)
        axis.fill_between(
            group["noise_ratio"], group["mean"] - std, group["mean"] + std, alpha=0.15
        )
    axis.set_xlabel("noise ratio (fraction of training masks corrupted)")
    axis.set_ylabel(f"test {metric.upper()}")
    spread = "test cases" if one_seed else "seeds"
    axis.set_title(f"{metric.upper()} vs noise ratio (band: ±1 std over {spread})", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
