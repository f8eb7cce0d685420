"""Significance: per-case paired Wilcoxon signed-rank tests against a reference method
(Holm-corrected within a table), and a Friedman test with average ranks and the Nemenyi
critical difference across settings (Demšar, JMLR 2006)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from .tables import lower_is_better, per_run_means, row_column

ALPHA = 0.05
PAIR_KEYS = ("case_id", "seed")  # within one table cell: same noise setting and ratio
BLOCK_KEYS = ("dataset", "noise_setting", "profile_setting", "backbone", "noise_ratio", "seed")
WILCOXON_COLUMNS = [
    "row",
    "noise_ratio",
    "n_pairs",
    "median_difference",
    "statistic",
    "p",
    "p_holm",
    "significant",
]


def paired_wilcoxon(
    cases: pd.DataFrame,
    metric: str,
    reference: str,
    row: str | None = None,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Each row label against ``reference`` at each noise ratio of one table: a two-sided
    Wilcoxon signed-rank test on per-case differences paired on (case_id, seed), then Holm
    over every comparison of the table. ``median_difference`` is method − reference.

    Pairs where both are equal are dropped (scipy's default ``zero_method='wilcox'``); a
    comparison with every difference zero gets p = 1."""
    row = row or row_column(cases)
    records = []
    for ratio, at_ratio in cases.groupby("noise_ratio"):
        wide = at_ratio.pivot_table(index=list(PAIR_KEYS), columns=row, values=metric)
        if reference not in wide:
            continue
        for name in wide.columns:
            if name == reference:
                continue
            pairs = wide[[name, reference]].dropna()
            differences = (pairs[name] - pairs[reference]).to_numpy()
            record = {"row": name, "noise_ratio": ratio, "n_pairs": len(pairs)}
            record["median_difference"] = float(np.median(differences)) if len(pairs) else math.nan
            if not len(pairs):
                record.update(statistic=math.nan, p=math.nan)
            elif np.all(differences == 0):
                record.update(statistic=0.0, p=1.0)
            else:
                test = scipy_stats.wilcoxon(pairs[name], pairs[reference])
                record.update(statistic=float(test.statistic), p=float(test.pvalue))
            records.append(record)
    result = pd.DataFrame(records, columns=WILCOXON_COLUMNS[:-2])
    result["p_holm"] = holm(result["p"].to_numpy())
    result["significant"] = result["p_holm"] < alpha
    return result[WILCOXON_COLUMNS]


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels); NaN stays NaN and is not counted."""
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p_values, np.nan)
    valid = ~np.isnan(p_values)
    if valid.any():
        adjusted[valid] = multipletests(p_values[valid], method="holm")[1]
    return adjusted


def nemenyi_critical_difference(k: int, n_blocks: int, alpha: float = ALPHA) -> float:
    """CD = q_alpha * sqrt(k (k + 1) / (6 N)), with q_alpha the studentized range quantile
    for k groups and infinite degrees of freedom over sqrt(2) (Demšar 2006, Table 5)."""
    if k < 2 or n_blocks < 1:
        return math.nan
    q_alpha = scipy_stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q_alpha * math.sqrt(k * (k + 1) / (6 * n_blocks)))


@dataclass
class FriedmanResult:
    """Average ranks (1 = best) of methods over blocks, the Friedman test and Nemenyi CD."""

    metric: str
    average_ranks: pd.Series  # method -> average rank, best first
    n_blocks: int
    statistic: float = math.nan
    p_value: float = math.nan
    critical_difference: float = math.nan
    alpha: float = ALPHA
    notes: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.average_ranks)


def block_values(cases: pd.DataFrame, metric: str, row: str | None = None) -> pd.DataFrame:
    """Blocks (dataset x noise setting x profile x backbone x ratio x seed) by methods: each
    run's mean over its test cases."""
    row = row or row_column(cases)
    runs = per_run_means(cases, metric, row)
    keys = [key for key in BLOCK_KEYS if key in runs]
    return runs.pivot_table(index=keys, columns=row, values=metric)


def average_ranks(blocks: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Ranks within each block (1 = best, ties share the average rank)."""
    values = blocks.to_numpy(dtype=float)
    signed = values if lower_is_better(metric) else -values
    ranks = scipy_stats.rankdata(signed, axis=1, method="average")
    return pd.DataFrame(ranks, index=blocks.index, columns=blocks.columns)


def friedman(
    cases: pd.DataFrame, metric: str, row: str | None = None, alpha: float = ALPHA
) -> FriedmanResult | None:
    """Friedman test over complete blocks. Methods run in fewer blocks than the best-covered
    ones are left out (named in the notes) rather than dropping blocks; None when fewer than
    two methods share two blocks. Clean runs shown for several noise settings count once."""
    if "shared_clean" in cases:
        cases = cases[~cases["shared_clean"]]
    blocks = block_values(cases, metric, row)
    coverage = blocks.notna().sum()
    notes = []
    kept = coverage[coverage == coverage.max()].index
    left_out = sorted(set(blocks.columns) - set(kept))
    if left_out:
        notes.append(f"left out (not run in every block): {', '.join(map(str, left_out))}")
    blocks = blocks[kept].dropna()
    if blocks.shape[1] < 2 or blocks.shape[0] < 2:
        return None
    ranks = average_ranks(blocks, metric).mean().sort_values()
    result = FriedmanResult(metric, ranks, n_blocks=len(blocks), alpha=alpha, notes=notes)
    if blocks.shape[1] >= 3:
        test = scipy_stats.friedmanchisquare(*[blocks[column] for column in blocks.columns])
        result.statistic, result.p_value = float(test.statistic), float(test.pvalue)
    else:
        notes.append("the Friedman test needs at least 3 methods; ranks only")
    result.critical_difference = nemenyi_critical_difference(result.k, result.n_blocks, alpha)
    return result


def cliques(ranks: pd.Series, critical_difference: float) -> list[list[str]]:
    """Maximal runs of methods (sorted by rank) whose ranks differ by less than the CD: the
    groups a CD diagram joins with a bar, as not significantly different."""
    names, values = list(ranks.index), ranks.to_numpy()
    groups: list[list[str]] = []
    for start in range(len(names)):
        end = start
        while end + 1 < len(names) and values[end + 1] - values[start] < critical_difference:
            end += 1
        if end > start and not any(
            names.index(group[0]) <= start and names.index(group[-1]) >= end for group in groups
        ):
            groups.append(names[start : end + 1])
    return groups
