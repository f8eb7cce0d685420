"""Comparisons against a reference method.

- Over runs (the headline): the probability of improvement P(method better than reference)
  over seed-paired runs, with a bootstrap interval over pairs (``probability_of_improvement``,
  ``pooled_improvement``), and the seeds a table would need (``seed_power``). Runs are
  paired by seed: seed s of every method sees the same batches and initial weights.
- Over test cases (secondary: these trained networks, per case): paired Wilcoxon
  signed-rank tests, Holm-corrected within a table.
- Across settings: a Friedman test whose blocks are runs (setting x ratio x seed), with
  average ranks and the Nemenyi critical difference (Demšar, JMLR 2006)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from .runstats import (
    POWER_DELTA,
    Interval,
    improvement_ci,
    improvement_outcomes,
    is_called,
    pooled_sd,
    seeds_needed_normal,
    seeds_needed_t,
)
from .tables import lower_is_better, per_run_means, row_column

ALPHA = 0.05
PAIR_KEYS = ("case_id", "seed")  # within one table cell: same noise setting and ratio
BLOCK_KEYS = ("dataset", "noise_setting", "profile_setting", "backbone", "noise_ratio", "seed")
#: what pairs two runs within one table: same setting (constant there), ratio and seed
RUN_PAIR_KEYS = ("noise_ratio", "seed")
#: what a pooled P(better) stratifies over: every setting and ratio it pools
STRATUM_KEYS = ("dataset", "noise_setting", "profile_setting", "backbone", "noise_ratio")
IMPROVEMENT_COLUMNS = ["row", "noise_ratio", "n_pairs", "p_better", "ci_low", "ci_high", "called"]
#: metrics whose power line uses ``POWER_DELTA`` (a difference in overlap, 0 to 1)
OVERLAP_METRICS = ("dsc", "iou")
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


def paired_runs(cases: pd.DataFrame, metric: str, row: str | None = None) -> pd.DataFrame:
    """Run scores (mean over test cases) side by side: one line per (setting, ratio, seed),
    one column per row label; NaN where that method has no run of that seed. (Clean runs
    shown for several noise settings are there once per setting: a caller pooling across
    settings leaves the copies out, as ``friedman`` does.)"""
    row = row or row_column(cases)
    runs = per_run_means(cases, metric, row)
    keys = [key for key in (*STRATUM_KEYS, "seed") if key in runs]
    return runs.pivot_table(index=keys, columns=row, values=metric)


def _strata_labels(wide: pd.DataFrame) -> list[str]:
    """Each pair's stratum (its setting and ratio), as one label."""
    names = [name for name in wide.index.names if name in STRATUM_KEYS]
    frame = wide.index.to_frame(index=False)[names]
    return ["|".join(map(str, values)) for values in frame.itertuples(index=False)]


def _improvement(
    wide: pd.DataFrame, name: str, reference: str, metric: str, stratified: bool
) -> Interval:
    """P(``name`` better than ``reference``) over the pairs of ``wide`` where both ran."""
    pairs = wide[[name, reference]].dropna()
    outcomes = improvement_outcomes(pairs[name], pairs[reference], lower_is_better(metric))
    return improvement_ci(outcomes, _strata_labels(pairs) if stratified else None)


def _record(name: str, ratio: float, interval: Interval) -> dict:
    return {
        "row": name,
        "noise_ratio": ratio,
        "n_pairs": interval.n,
        "p_better": interval.estimate,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "called": is_called(interval),
    }


def probability_of_improvement(
    cases: pd.DataFrame, metric: str, reference: str, row: str | None = None
) -> pd.DataFrame:
    """Per row label and noise ratio of one table: P(row better than ``reference``) over
    runs paired by seed (ties 1/2), its 95% bootstrap interval over the pairs and
    ``called`` (the interval excludes 1/2; never with fewer than 6 pairs: 3 get no
    interval: ``runstats.MIN_RUNS``)."""
    wide = paired_runs(cases, metric, row)
    records = []
    if reference in wide:
        for ratio, at_ratio in wide.groupby(level="noise_ratio"):
            for name in wide.columns:
                if name != reference and at_ratio[[name, reference]].notna().all(axis=1).any():
                    interval = _improvement(at_ratio, name, reference, metric, stratified=False)
                    records.append(_record(name, ratio, interval))
    return pd.DataFrame(records, columns=IMPROVEMENT_COLUMNS)


def pooled_improvement(
    cases: pd.DataFrame, metric: str, reference: str, row: str | None = None
) -> pd.DataFrame:
    """Per row label: P(row better than ``reference``) over every seed-paired run in
    ``cases`` (all ratios, all settings), the bootstrap stratified over (setting, ratio)
    so each resample keeps the design's mix. ``noise_ratio`` is NaN (all of them)."""
    wide = paired_runs(cases, metric, row)
    records = []
    if reference in wide:
        for name in wide.columns:
            if name != reference and wide[[name, reference]].notna().all(axis=1).any():
                interval = _improvement(wide, name, reference, metric, stratified=True)
                records.append(_record(name, math.nan, interval))
    return pd.DataFrame(records, columns=IMPROVEMENT_COLUMNS)


@dataclass
class SeedPower:
    """How many seeds a table's comparisons need: ``sd`` of paired seed differences
    (``paired``) or of seed scores (not paired: no reference to pair with), its degrees
    of freedom, the seeds needed for a ``delta`` difference at 80% power by the paired
    t-test (``seeds_t``) and by the normal closed form (``seeds_normal``), and the most
    seeds a cell of the table has (``seeds_now``)."""

    sd: float
    dof: int
    paired: bool
    seeds_t: int
    seeds_normal: int
    seeds_now: int
    delta: float = POWER_DELTA


def seed_power(
    cases: pd.DataFrame, metric: str, reference: str | None, row: str | None = None
) -> SeedPower | None:
    """The power estimate of one table: the sd of (method − reference) run-score
    differences of the same seed, pooled over every (method, ratio) of the table; without
    a reference, the sd of seed scores within cells times √2 (two unpaired runs differ by
    that much). None when no cell has two seeds."""
    wide = paired_runs(cases, metric, row)
    seeds_now = int(wide.notna().groupby(level="noise_ratio").sum().to_numpy().max(initial=0))
    paired = reference is not None and reference in wide
    groups = []
    for _, at_ratio in wide.groupby(level="noise_ratio"):
        for name in wide.columns:
            if paired and name != reference:
                groups.append((at_ratio[name] - at_ratio[reference]).dropna().to_numpy())
            elif not paired:
                groups.append(at_ratio[name].dropna().to_numpy())
    sd, dof = pooled_sd(groups)
    if not dof:
        return None
    sd_difference = sd if paired else sd * math.sqrt(2)
    return SeedPower(
        sd=sd_difference,
        dof=dof,
        paired=paired,
        seeds_t=seeds_needed_t(sd_difference),
        seeds_normal=seeds_needed_normal(sd_difference),
        seeds_now=seeds_now,
    )


def power_line(power: SeedPower | None, metric: str, reference: str | None) -> str:
    """The table's 'Seed power' sentence (one line, plain words)."""
    base = metric.split("_class")[0]
    name = metric.upper().replace("_CLASS", " class ")
    if base not in OVERLAP_METRICS:
        return (
            f"Seed power: not computed for {name} (the detectable difference is set for "
            f"overlap metrics: {POWER_DELTA:g} DSC/IoU)."
        )
    if power is None:
        return "Seed power: not estimable (no cell has two seeds to measure seed variation)."
    what = (
        f"paired seed differences against {reference}"
        if power.paired
        else "seed scores (√2 × their sd: no reference to pair with)"
    )
    return (
        f"Seed power: the sd of {what} is {power.sd:.3f} ({power.dof} degree"
        f"{'s' if power.dof != 1 else ''} of freedom); "
        f"detecting a {power.delta:g} {name} difference with 80% power (two-sided paired "
        f"t-test, α = 0.05, noncentral t) needs {power.seeds_t} seeds per method (normal "
        f"approximation ((z_0.975 + z_0.8)·sd/δ)²: {power.seeds_normal}); this table has at "
        f"most {power.seeds_now}."
    )
