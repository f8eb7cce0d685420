"""Choosing one configuration per (dataset, noise model, ratio) and method: the highest
mean validation DSC over the tuning seeds, under a selection rule.

- ``noisy-val`` (the default, the honest rule): the validation labels are corrupted like
  the training labels (same noise model and ratio). That is all a user with noisy labels
  has, so a method's tuned score is one it could reach in practice.
- ``clean-val`` (the oracle): the clean validation labels. It tells how much a method
  would gain if clean labels were there to tune on; reported next to noisy-val, the gap
  is the price of noisy selection.

A configuration is eligible only when every tuning seed has a score (a failed run leaves
its configuration out); of equal means the lowest configuration number wins, so the
defaults are kept unless something beats them.
"""

from __future__ import annotations

import pandas as pd

from rmdbench.errors import OptionError

#: rule -> the column of the scores table it selects on
RULES = {"noisy-val": "noisy_dsc", "clean-val": "clean_dsc"}
DEFAULT_RULE = "noisy-val"
#: what a tuned row is grouped by: the setting and the method as given
GROUP = ["dataset", "noise_model", "noise_ratio", "method"]
#: a configuration of a group
CONFIGURATION = [*GROUP, "configuration"]


class SelectionRuleError(OptionError):
    """A ``--select`` that is not one of ``RULES``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "select")


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise SelectionRuleError(
            f"unknown selection rule '{rule}'; choose {' or '.join(sorted(RULES))} "
            f"(--select; {DEFAULT_RULE} is the realistic default)"
        )
    return rule


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: its label and parameters, each seed's clean and noisy
    validation DSC (``clean_dsc_s<seed>``, ``noisy_dsc_s<seed>``), their means over the
    seeds, and ``complete`` (every seed scored)."""
    seeds = sorted(scores["seed"].unique())
    first = scores.groupby(CONFIGURATION, sort=False)[["label", "parameters"]].first()
    wide = scores.set_index([*CONFIGURATION, "seed"])[["clean_dsc", "noisy_dsc"]].unstack("seed")
    wide.columns = [f"{value}_s{seed}" for value, seed in wide.columns]
    columns = [f"{value}_s{seed}" for seed in seeds for value in ("clean_dsc", "noisy_dsc")]
    wide = wide.reindex(columns=columns)
    summary = first.join(wide)
    for value in ("clean_dsc", "noisy_dsc"):
        per_seed = summary[[f"{value}_s{seed}" for seed in seeds]]
        summary[f"mean_{value}"] = per_seed.mean(axis=1, skipna=False)
    summary["complete"] = summary[columns].notna().all(axis=1)
    return summary.reset_index()


def select(summary: pd.DataFrame, rule: str) -> pd.DataFrame:
    """``summary`` with ``selected``: per group, the complete configuration with the
    highest mean under ``rule`` (ties: the lowest configuration number). A group with no
    complete configuration has none selected."""
    column = f"mean_{RULES[check_rule(rule)]}"
    summary = summary.copy()
    summary["selected"] = False
    eligible = summary[summary["complete"] & summary[column].notna()]
    ranked = eligible.sort_values([column, "configuration"], ascending=[False, True], kind="stable")
    best = ranked.groupby(GROUP, sort=False).head(1).index
    summary.loc[best, "selected"] = True
    summary["rule"] = rule
    return summary
