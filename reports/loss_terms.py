"""Does every loss term act? The share of the gradient each named term gave, per method.

Every run's curve records, per epoch, each loss term's share of the gradient
(``grad_share_<term>``, measured by the trainer on a few iterations per epoch; see
``rmdbench.training.diagnostics``). A term whose share stays below ``INACTIVE_SHARE`` in
every epoch after the warm-up ramps is in the code but not in the training: RMD's
distillation at its released weight is the case that motivated this table. Only methods
with more than one term are shown (a single term has all of the gradient).
"""

from __future__ import annotations

import pandas as pd

from rmdbench.training.diagnostics import (
    INACTIVE_SHARE,
    inactive_terms,
    mean_share_after_warmup,
)
from rmdbench.training.schedules import Schedule

from .store_reader import SHARED_CLEAN, RunStoreData

ROW_KEYS = ("noise_setting", "noise_ratio", "method_label")
INACTIVE_MARK = "⚠"


def term_activity(store: RunStoreData, ramp_end: float | None = None) -> pd.DataFrame:
    """One row per run and loss term: the term's mean share of the gradient after warm-up
    and whether it stayed below ``INACTIVE_SHARE`` all that time. A run without recorded
    shares (made before they were) or whose curve does not read adds no row."""
    ramp_end = Schedule().ramp_end if ramp_end is None else ramp_end
    cases = store.cases
    if SHARED_CLEAN in cases:
        cases = cases[~cases[SHARED_CLEAN]]
    runs = cases.drop_duplicates("run")[["run", "dataset", "profile_setting", *ROW_KEYS, "seed"]]
    rows = []
    for run in runs.itertuples(index=False):
        curve = store.curve(run.run)
        if curve is None:
            continue
        shares = mean_share_after_warmup(curve, ramp_end)
        inactive = set(inactive_terms(curve, ramp_end))
        facts = run._asdict()
        for term, share in shares.items():
            rows.append({**facts, "term": term, "share": share, "inactive": term in inactive})
    return pd.DataFrame(rows)


def _cell(group: pd.DataFrame) -> str:
    """Mean share over the runs, its range when the runs differ, ⚠ when the term was
    inactive in every run."""
    text = f"{group['share'].mean():.2g}"
    low, high = f"{group['share'].min():.2g}", f"{group['share'].max():.2g}"
    if low != high:
        text += f" ({low}–{high})"
    if bool(group["inactive"].all()):
        text += f" {INACTIVE_MARK}"
    return text


def loss_term_lines(activity: pd.DataFrame) -> list[str]:
    """The report section (markdown lines); none when no multi-term method was run."""
    if activity.empty:
        return []
    terms_per_method = activity.groupby("method_label")["term"].nunique()
    multi = activity[activity["method_label"].isin(terms_per_method[terms_per_method > 1].index)]
    if multi.empty:
        return []
    terms = list(dict.fromkeys(multi["term"]))
    header = ["noise", "r", "method", *terms]
    lines = [
        "## Loss-term activity",
        "",
        "Each term's share of the gradient (its norm over the sum of all terms' norms, "
        "measured on a few iterations per epoch), averaged over the epochs after warm-up "
        "and over seeds; the range over seeds in brackets.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for key, group in multi.groupby(list(ROW_KEYS), sort=True):
        cells = [
            _cell(group[group["term"] == term]) if (group["term"] == term).any() else "–"
            for term in terms
        ]
        noise, ratio, method = key
        lines.append(f"| {noise} | {ratio:g} | {method} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"> {INACTIVE_MARK}: the term's share stayed below {INACTIVE_SHARE:g} in every epoch "
        "after warm-up, in every run: it is in the loss but does not act on the training.",
        "",
    ]
    return lines


def inactive_notes(activity: pd.DataFrame) -> list[str]:
    """One note per method and term that did nothing in every run of it: worth reading
    before its row of the results."""
    if activity.empty:
        return []
    notes = []
    for (method, term), group in activity.groupby(["method_label", "term"], sort=True):
        if bool(group["inactive"].all()):
            notes.append(
                f"{method}: its '{term}' term stayed below {INACTIVE_SHARE:g} of the gradient "
                f"after warm-up in all {len(group)} run(s); it does not act (Loss-term activity)"
            )
    return notes
