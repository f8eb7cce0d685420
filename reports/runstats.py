"""Statistics over runs, the unit a reader cares about: does method A beat B when both are
trained again? (Agarwal et al., NeurIPS 2021; Bouthillier et al., MLSys 2021.)

A run's score is its mean metric over test cases. Here are the numbers built on those
scores, without pandas bookkeeping (``reports.stats`` groups the runs):

- ``bootstrap_mean``: a 95% percentile-bootstrap interval of the mean over runs, stratified when
  the runs come from several settings (each stratum is resampled on its own);
- ``improvement_outcomes`` / ``improvement_ci``: the probability of improvement
  P(A better than B) over seed-paired runs (ties count 1/2) and its bootstrap interval;
- ``seeds_needed_normal`` / ``seeds_needed_t``: how many seeds a paired comparison needs
  to detect a given difference.

Every bootstrap draws from a generator seeded with ``BOOTSTRAP_SEED`` afresh, so a report
is the same byte for byte however many intervals it computes, and in whatever order.
Fewer than ``MIN_RUNS`` runs (or pairs) get no interval at all: a bootstrap of two values
has three distinct resamples, and its "interval" would only restate them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
#: fewer runs (seeds) or pairs than this: no interval, and never a call
MIN_RUNS = 3
#: fewer pairs than this: never a call, whatever the interval. A bootstrap of 3 unanimous
#: pairs gives [1, 1]; an exact two-sided sign test needs 6 unanimous pairs to reject
#: P = 1/2 at alpha = 0.05 (2 * 0.5**6 = 0.031; 5 pairs give 0.0625), so no call rests on
#: fewer than that
MIN_PAIRS_TO_CALL = 6
BOOTSTRAP_SEED = 20240601
RESAMPLES = 9999
#: percentile, not BCa: BCa's jackknife fails on constant data (every pair a win), which
#: is exactly the case a called difference can produce
BOOTSTRAP_METHOD = "percentile"
#: the power line: the smallest difference worth detecting on overlap metrics (3 DSC points)
POWER_DELTA = 0.03
POWER = 0.8
POWER_ALPHA = 0.05
#: a seed count beyond this is reported as "more than" (a search that long says enough)
MAX_SEEDS = 100_000


@dataclass(frozen=True)
class Interval:
    """A point estimate over ``n`` runs (or pairs) and its bootstrap interval; ``low`` and
    ``high`` are NaN when ``n`` < ``MIN_RUNS``."""

    estimate: float
    low: float
    high: float
    n: int

    @property
    def has_ci(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    def excludes(self, value: float) -> bool:
        """True when the whole interval lies on one side of ``value`` (a call)."""
        return self.has_ci and (self.low > value or self.high < value)


def _strata(values: np.ndarray, strata: Sequence | None) -> list[np.ndarray]:
    """The values split by stratum label (one stratum when none are given), in a fixed
    order so the resampling is reproducible."""
    if strata is None:
        return [values]
    labels = np.asarray([str(label) for label in strata])
    return [values[labels == label] for label in sorted(set(labels))]


def _pooled_mean(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """The mean of all values of all strata (each stratum weighs by its size)."""
    total = sum(np.sum(sample, axis=axis) for sample in samples)
    return total / sum(sample.shape[axis] for sample in samples)


def bootstrap_mean(values: Sequence[float], strata: Sequence | None = None) -> Interval:
    """Mean of ``values`` and its 95% percentile-bootstrap interval; with ``strata``,
    each stratum is resampled within itself (scipy's unpaired multi-sample bootstrap), so
    a pooled cell keeps its mix of settings in every resample. NaN values are left out.

    No interval when any stratum has fewer than ``MIN_RUNS`` values: the rule "under 3
    seeds, no interval" holds for a pooled cell too (pooling ratios of 2 seeds each is
    still 2 seeds, and a stratum of 1 would be resampled as a constant)."""
    array = np.asarray(values, dtype=float)
    keep = ~np.isnan(array)
    labels = None if strata is None else np.asarray(list(strata), dtype=object)[keep]
    array = array[keep]
    if len(array) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    estimate = float(array.mean())
    samples = _strata(array, labels)
    if min(len(sample) for sample in samples) < MIN_RUNS:
        return Interval(estimate, math.nan, math.nan, len(array))
    result = scipy_stats.bootstrap(
        tuple(samples),
        _pooled_mean,
        n_resamples=RESAMPLES,
        vectorized=True,
        paired=False,
        confidence_level=CONFIDENCE,
        method=BOOTSTRAP_METHOD,
        random_state=np.random.default_rng(BOOTSTRAP_SEED),
    )
    low, high = result.confidence_interval
    return Interval(estimate, _snap(float(low), estimate), _snap(float(high), estimate), len(array))


def _snap(bound: float, estimate: float) -> float:
    """A bound within rounding error of the estimate is the estimate: the interval of
    constant data is that constant, not one ulp beside it (0.8000000000000002)."""
    return estimate if abs(bound - estimate) <= 1e-12 * max(1.0, abs(estimate)) else bound


def bootstrap_band(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``samples`` (runs x points, e.g. seeds x epochs, no NaN): the 95%
    percentile-bootstrap interval of the column mean, all columns in one call."""
    result = scipy_stats.bootstrap(
        (np.asarray(samples, dtype=float),),
        np.mean,
        n_resamples=RESAMPLES,
        vectorized=True,
        axis=0,
        confidence_level=CONFIDENCE,
        method=BOOTSTRAP_METHOD,
        random_state=np.random.default_rng(BOOTSTRAP_SEED),
    )
    low, high = result.confidence_interval
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def improvement_outcomes(
    scores: Sequence[float], reference: Sequence[float], lower_is_better: bool = False
) -> np.ndarray:
    """Per pair: 1 when the method's run beats the reference's run of the same seed, 0
    when it loses, 1/2 on a tie (Bouthillier et al. 2021; rliable's P(X > Y))."""
    a = np.asarray(scores, dtype=float)
    b = np.asarray(reference, dtype=float)
    if lower_is_better:
        a, b = -a, -b
    return (a > b).astype(float) + 0.5 * (a == b)


def improvement_ci(outcomes: Sequence[float], strata: Sequence | None = None) -> Interval:
    """P(better) = the mean of the pair outcomes, with its bootstrap interval over pairs
    (stratified over settings when the pairs pool several). A difference is *called* only
    when the interval excludes 1/2 and there are at least ``MIN_PAIRS_TO_CALL`` pairs
    (``is_called``)."""
    return bootstrap_mean(outcomes, strata)


def is_called(interval: Interval) -> bool:
    """Whether a P(better) interval calls a difference: it excludes 1/2, over at least
    ``MIN_PAIRS_TO_CALL`` pairs (fewer cannot reject 1/2 even when every pair agrees)."""
    return interval.n >= MIN_PAIRS_TO_CALL and interval.excludes(0.5)


def format_interval(interval: Interval, digits: int, show_n: bool = False) -> str:
    """'0.812 [0.790, 0.830]', '0.812 [0.790, 0.830] (n=4)' or '0.512 (n=2, no CI)': a
    cell never shows an interval it does not have."""
    if interval.n == 0 or math.isnan(interval.estimate):
        return "–"
    text = f"{interval.estimate:.{digits}f}"
    if not interval.has_ci:
        return f"{text} (n={interval.n}, no CI)"
    text += f" [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"
    return f"{text} (n={interval.n})" if show_n else text


def seeds_needed_normal(
    sd: float, delta: float = POWER_DELTA, power: float = POWER, alpha: float = POWER_ALPHA
) -> int:
    """The closed form of the normal approximation: n = ((z_{1-α/2} + z_power) · sd / δ)²,
    rounded up (at least 1). It ignores that sd is estimated, so it is a lower bound."""
    if sd <= 0:
        return 1
    z = scipy_stats.norm.ppf(1 - alpha / 2) + scipy_stats.norm.ppf(power)
    # the rounding guard keeps an exact product (e.g. 16.000000000000004) at 16
    return max(1, math.ceil(round((z * sd / delta) ** 2, 9)))


def paired_t_power(
    n: int, sd: float, delta: float = POWER_DELTA, alpha: float = POWER_ALPHA
) -> float:
    """Power of the two-sided paired t-test with ``n`` pairs to detect a mean difference
    ``delta`` when the differences have standard deviation ``sd`` (noncentral t)."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0
    df = n - 1
    critical = scipy_stats.t.ppf(1 - alpha / 2, df)
    shift = delta * math.sqrt(n) / sd
    return float(
        scipy_stats.nct.sf(critical, df, shift) + scipy_stats.nct.cdf(-critical, df, shift)
    )


def seeds_needed_t(
    sd: float, delta: float = POWER_DELTA, power: float = POWER, alpha: float = POWER_ALPHA
) -> int:
    """The smallest n (≥ 2) whose paired t-test reaches ``power`` (noncentral t, the exact
    power of the test a reader would run): the normal closed form plus the price of
    estimating sd from the data, which matters at the seed counts papers use. The search
    starts just below the closed form (the t-test never needs fewer) and walks up."""
    if sd <= 0:
        return 2
    n = max(2, seeds_needed_normal(sd, delta, power, alpha) - 1)
    while n > 2 and paired_t_power(n - 1, sd, delta, alpha) >= power:
        n -= 1
    while paired_t_power(n, sd, delta, alpha) < power and n < MAX_SEEDS:
        n += 1
    return n


def pooled_sd(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """The standard deviation pooled over groups (each around its own mean) and its
    degrees of freedom: Σ(n_g − 1)·var_g / Σ(n_g − 1). NaN with no group of two."""
    squares, dof = 0.0, 0
    for group in groups:
        values = np.asarray(group, dtype=float)
        values = values[~np.isnan(values)]
        if len(values) >= 2:
            squares += float(np.sum((values - values.mean()) ** 2))
            dof += len(values) - 1
    return (math.sqrt(squares / dof) if dof else math.nan), dof
