"""Statistics over runs, against cases computed by hand: bootstrap intervals of the mean
over seeds (and none under 3 seeds), the probability of improvement over seed-paired runs
and when it is called, the seed-power line against its closed form, and the figures' band
rule (points under 3 seeds, a band from 3)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower

from rmdbench.reports.plots import draw_runs, mean_and_band, plot_metric_vs_ratio
from rmdbench.reports.runstats import (
    bootstrap_mean,
    format_interval,
    improvement_outcomes,
    paired_t_power,
    seeds_needed_normal,
    seeds_needed_t,
)
from rmdbench.reports.stats import (
    pooled_improvement,
    power_line,
    probability_of_improvement,
    seed_power,
)
from rmdbench.reports.tables import build_table, improvement_markdown, to_markdown


def runs_frame(scores: dict[str, list[float]], ratio: float = 0.4, cases: int = 2) -> pd.DataFrame:
    """Per-case rows whose run means are ``scores[method][seed]`` (each run's test cases
    sit ±0.01 around its score), one setting, one ratio."""
    rows = []
    for method, values in scores.items():
        for seed, value in enumerate(values):
            for case in range(cases):
                rows.append(
                    {
                        "dataset": "toy",
                        "noise_setting": "distortion",
                        "profile_setting": "tiny",
                        "backbone": "unet",
                        "method_label": method,
                        "noise_ratio": ratio,
                        "seed": seed,
                        "case_id": f"c{case}",
                        "run": f"{method}-r{ratio}-s{seed}",
                        "dsc": value + (0.01 if case % 2 else -0.01),
                    }
                )
    return pd.DataFrame(rows)


# -- the mean over seeds and its interval ------------------------------------------------


def test_bootstrap_interval_of_a_mean_by_hand():
    # resample means of [0, 0, 0, 1] are k/4 with k ~ Binomial(4, 1/4): P(k=0) = 0.316, so
    # the 2.5th percentile is 0; P(k<=2) = 0.949 < 0.975 < P(k<=3) = 0.996: the 97.5th is 3/4
    interval = bootstrap_mean([0.0, 0.0, 0.0, 1.0])
    assert (interval.estimate, interval.low, interval.high, interval.n) == (0.25, 0.0, 0.75, 4)
    # constant data: the interval is the point, to the last bit
    constant = bootstrap_mean([0.7] * 5)
    assert constant.low == constant.high == constant.estimate == 0.7
    # the same numbers twice: the same interval (a fixed generator per call)
    assert bootstrap_mean([0.3, 0.5, 0.9, 0.4]) == bootstrap_mean([0.3, 0.5, 0.9, 0.4])


def test_stratified_bootstrap_resamples_within_each_setting():
    # strata a = [1, 1, 1] and b = [0, 0, 0]: every stratified resample has mean exactly
    # 1/2; pooled as one sample the mean is k/6, k ~ Binomial(6, 1/2): P(k=0) = 1/64 <
    # 2.5% < P(k<=1) = 7/64, so the interval is [1/6, 5/6]
    values = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    stratified = bootstrap_mean(values, strata=list("aaabbb"))
    assert (stratified.low, stratified.high) == (0.5, 0.5)
    pooled = bootstrap_mean(values)
    assert (pooled.low, pooled.high) == pytest.approx((1 / 6, 5 / 6))
    # a stratum under 3 runs: no interval for the pooled cell either
    assert not bootstrap_mean([0.2, 0.4, 0.9, 0.3, 0.5], strata=list("aaabb")).has_ci


@pytest.mark.parametrize("seeds", [1, 2])
def test_fewer_than_three_seeds_have_no_interval(seeds):
    interval = bootstrap_mean([0.512, 0.514][:seeds])
    assert interval.n == seeds and not interval.has_ci and not interval.excludes(0.5)
    expected = "0.512" if seeds == 1 else "0.513"
    assert format_interval(interval, 3) == f"{expected} (n={seeds}, no CI)"
    frame = runs_frame({"a": [0.5, 0.7][:seeds], "b": [0.4, 0.6][:seeds]})
    markdown = to_markdown(build_table(frame, "dsc", "t"))
    assert f"(n={seeds}, no CI)" in markdown and "[" not in markdown


def test_table_cell_is_the_mean_of_run_scores_with_its_interval():
    frame = runs_frame({"a": [0.60, 0.70, 0.80, 0.90, 0.75]})
    cell = build_table(frame, "dsc", "t").cells.iloc[0]
    assert cell["mean"] == pytest.approx(0.75) and cell["n"] == 5
    expected = bootstrap_mean([0.60, 0.70, 0.80, 0.90, 0.75])
    assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((expected.low, expected.high))
    assert 0.6 < cell["ci_low"] < 0.75 < cell["ci_high"] < 0.9


# -- probability of improvement ----------------------------------------------------------


def test_a_method_better_on_every_seed_is_called_from_six_seeds_on():
    scores = {"a": [0.61, 0.72, 0.55, 0.80, 0.66, 0.70], "ref": [0.6, 0.7, 0.5, 0.79, 0.6, 0.65]}
    frame = runs_frame(scores)
    result = probability_of_improvement(frame, "dsc", "ref").iloc[0]
    assert result["p_better"] == 1.0 and result["n_pairs"] == 6
    assert (result["ci_low"], result["ci_high"]) == (1.0, 1.0) and result["called"]
    improvement = probability_of_improvement(frame, "dsc", "ref")
    table = build_table(frame, "dsc", "t", reference="ref", improvement=improvement)
    assert "| a | **0.673 [" in to_markdown(table) and "]**†" in to_markdown(table)
    # five unanimous seeds: the bootstrap says [1, 1], but an exact sign test cannot reject
    # 1/2 with 5 pairs (p = 0.0625): shown, never called
    five = runs_frame({name: values[:5] for name, values in scores.items()})
    result = probability_of_improvement(five, "dsc", "ref").iloc[0]
    assert (result["ci_low"], result["ci_high"]) == (1.0, 1.0) and not result["called"]


def test_alternating_winners_are_one_half_and_not_called():
    # a wins seeds 0 and 2, ref wins 1 and 3; though a's mean is higher
    frame = runs_frame({"a": [0.90, 0.50, 0.91, 0.55], "ref": [0.60, 0.60, 0.60, 0.60]})
    result = probability_of_improvement(frame, "dsc", "ref").iloc[0]
    assert result["p_better"] == 0.5 and result["ci_low"] < 0.5 < result["ci_high"]
    assert not result["called"]
    table = build_table(frame, "dsc", "t", reference="ref", improvement=pd.DataFrame([result]))
    assert "†" not in to_markdown(table)


def test_ties_count_half_and_lower_is_better_flips():
    assert improvement_outcomes([0.5, 0.7, 0.2], [0.5, 0.6, 0.3]).tolist() == [0.5, 1.0, 0.0]
    assert improvement_outcomes([0.5, 0.7, 0.2], [0.5, 0.6, 0.3], True).tolist() == [0.5, 0, 1]
    hd = runs_frame({"a": [1.0, 2.0, 3.0], "ref": [2.0, 3.0, 4.0]}).rename(columns={"dsc": "hd95"})
    assert probability_of_improvement(hd, "hd95", "ref").iloc[0]["p_better"] == 1.0


def test_two_seeds_all_won_are_not_called():
    frame = runs_frame({"a": [0.9, 0.8], "ref": [0.5, 0.4]})
    result = probability_of_improvement(frame, "dsc", "ref").iloc[0]
    assert result["p_better"] == 1.0 and math.isnan(result["ci_low"]) and not result["called"]


def test_pooled_improvement_stratifies_over_ratios():
    # r=0.4: a wins all three seeds; r=0.8: a loses all three. Stratified, each resample
    # keeps three of each: P is exactly 1/2 in every resample
    frame = pd.concat(
        [
            runs_frame({"a": [0.9, 0.8, 0.7], "ref": [0.5, 0.4, 0.3]}, ratio=0.4),
            runs_frame({"a": [0.1, 0.2, 0.1], "ref": [0.5, 0.4, 0.3]}, ratio=0.8),
        ]
    )
    pooled = pooled_improvement(frame, "dsc", "ref").iloc[0]
    assert pooled["p_better"] == 0.5 and pooled["n_pairs"] == 6
    assert (pooled["ci_low"], pooled["ci_high"]) == (0.5, 0.5) and not pooled["called"]
    per_ratio = probability_of_improvement(frame, "dsc", "ref")
    table = build_table(frame, "dsc", "t", reference="ref", improvement=per_ratio)
    text = improvement_markdown(table, per_ratio, pd.DataFrame([pooled]))
    assert (
        "| a | 1.00 [1.00, 1.00] (n=3) | 0.00 [0.00, 0.00] (n=3) | 0.50 [0.50, 0.50] (n=6) |"
        in text
    )
    # two seeds per ratio are two seeds however many ratios pool them: no interval
    two = frame[frame["seed"] < 2]
    assert not pooled_improvement(two, "dsc", "ref").iloc[0]["called"]
    assert math.isnan(pooled_improvement(two, "dsc", "ref").iloc[0]["ci_low"])


# -- seed power ---------------------------------------------------------------------------


def test_seeds_needed_against_the_closed_form():
    # ((z_0.975 + z_0.8) * 0.05 / 0.03)^2 = (2.80159 * 1.66667)^2 = 21.80 -> 22
    assert seeds_needed_normal(0.05) == 22
    for sd in (0.01, 0.02, 0.037, 0.05, 0.1, 0.2):
        z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
        closed = math.ceil((z * sd / 0.03) ** 2)
        assert seeds_needed_normal(sd) == max(1, closed)
        # the t-test pays for estimating sd: never fewer seeds, a few more when they are few
        needed = seeds_needed_t(sd)
        assert closed <= needed <= closed + 3
        assert paired_t_power(needed, sd) >= 0.8 > paired_t_power(needed - 1, sd)
        # statsmodels' solver of the same test agrees
        effect = 0.03 / sd
        solved = TTestPower().solve_power(effect_size=effect, alpha=0.05, power=0.8)
        assert needed == max(2, math.ceil(solved))


def test_power_line_uses_the_sd_of_paired_seed_differences():
    reference = [0.50, 0.60, 0.70, 0.80]
    differences = [0.00, 0.02, 0.04, 0.06]
    frame = runs_frame(
        {"a": [r + d for r, d in zip(reference, differences, strict=True)], "ref": reference}
    )
    power = seed_power(frame, "dsc", "ref")
    sd = float(np.std(differences, ddof=1))
    assert power.paired and power.dof == 3 and power.sd == pytest.approx(sd)
    assert power.seeds_normal == seeds_needed_normal(sd) and power.seeds_now == 4
    line = power_line(power, "dsc", "ref")
    assert f"is {sd:.3f} (3 degrees of freedom)" in line
    assert f"needs {power.seeds_t} seeds per method" in line
    assert f"normal approximation ((z_0.975 + z_0.8)·sd/δ)²: {power.seeds_normal})" in line
    # without a reference: the sd of seed scores within cells, times sqrt(2)
    alone = seed_power(frame, "dsc", None)
    scores = np.std([r + d for r, d in zip(reference, differences, strict=True)], ddof=1)
    pooled = math.sqrt((np.var(reference, ddof=1) * 3 + scores**2 * 3) / 6)
    assert not alone.paired and alone.sd == pytest.approx(pooled * math.sqrt(2))
    assert "not computed for HD95" in power_line(power, "hd95", "ref")
    assert seed_power(runs_frame({"a": [0.5], "ref": [0.4]}), "dsc", "ref") is None


# -- the figures' band rule ------------------------------------------------------------------


def test_band_for_five_seeds_points_for_two():
    rng = np.random.default_rng(1)
    five = rng.uniform(0.5, 0.9, size=(5, 3))
    band = mean_and_band(five)
    expected = bootstrap_mean(five[:, 0])
    assert band["low"][0] == pytest.approx(expected.low)
    assert band["high"][0] == pytest.approx(expected.high)
    assert (band["high"] - band["low"] > 0).all() and (band["n"] == 5).all()
    two = five[:2]
    assert mean_and_band(two)[["low", "high"]].isna().all().all()

    def drawn(samples):
        figure, axis = plt.subplots()
        draw_runs(axis, np.array([0.0, 0.4, 0.8]), samples, "m", "C0")
        kinds = [type(collection) for collection in axis.collections]
        points = sum(
            len(c.get_offsets()) for c in axis.collections if isinstance(c, PathCollection)
        )
        plt.close(figure)
        return any(issubclass(kind, PolyCollection) for kind in kinds), points

    assert drawn(five) == (True, 0)  # a band, no single seeds
    assert drawn(two) == (False, 6)  # no band: the 2 seeds at each of 3 ratios


def test_metric_vs_ratio_figure_with_mixed_seed_counts(tmp_path):
    frame = pd.concat(
        [
            runs_frame({"a": [0.5, 0.6, 0.7], "b": [0.4, 0.5]}, ratio=0.4),
            runs_frame({"a": [0.3, 0.4], "b": [0.2, 0.3, 0.35]}, ratio=0.8),
        ]
    )
    path = plot_metric_vs_ratio(frame, tmp_path / "dsc.png", "dsc")
    assert path.stat().st_size > 1000
