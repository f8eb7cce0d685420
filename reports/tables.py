"""Tables in the paper's layout: methods as rows, noise ratios as columns, mean ± std."""

from __future__ import annotations

import pandas as pd

LOWER_IS_BETTER = {"hd95", "assd"}


def per_run_means(cases: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean of ``metric`` over test cases for each run (one value per seed)."""
    keys = ["dataset", "noise_model", "method", "noise_ratio", "seed"]
    return cases.groupby(keys, as_index=False)[metric].mean()


def summary_table(cases: pd.DataFrame, metric: str = "dsc", digits: int = 3) -> pd.DataFrame:
    """'mean ± std (n)' over seeds per method x noise ratio. With one seed, the std is over
    test cases instead (spec/metrics.md), and n counts cases."""
    runs = per_run_means(cases, metric)
    seeds = runs["seed"].nunique()
    if seeds > 1:
        grouped = runs.groupby(["method", "noise_ratio"])[metric]
    else:
        grouped = cases.groupby(["method", "noise_ratio"])[metric]
    stats = grouped.agg(["mean", "std", "count"]).reset_index()
    best = _best_per_ratio(stats, metric)
    stats["cell"] = [
        _format_cell(row.mean, row.std, digits, bold=(row.noise_ratio, row.method) in best)
        for row in stats.itertuples()
    ]
    table = stats.pivot(index="method", columns="noise_ratio", values="cell")
    table.columns = [f"r={ratio:g}" for ratio in table.columns]
    table.index.name = "method"
    return table


def _best_per_ratio(stats: pd.DataFrame, metric: str) -> set[tuple[float, str]]:
    best = set()
    for ratio, group in stats.groupby("noise_ratio"):
        means = group.set_index("method")["mean"].dropna()
        if len(means) > 1:
            winner = means.idxmin() if metric in LOWER_IS_BETTER else means.idxmax()
            best.add((ratio, winner))
    return best


def _format_cell(mean: float, std: float, digits: int, bold: bool) -> str:
    text = f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"**{text}**" if bold else text


def seeds_and_cases(cases: pd.DataFrame) -> tuple[int, int]:
    """(number of seeds, number of test cases per run) for the table footnote."""
    return cases["seed"].nunique(), int(cases.groupby("run").size().median())
