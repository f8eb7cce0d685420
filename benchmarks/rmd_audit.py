"""The tables of docs/rmd-audit.md from its run store: per method and noise ratio, the test
DSC of every seed, their mean, the seed-paired difference to Co-teaching (mean and 95 % t
interval over seeds) and the distillation's share of the gradient after warm-up.

    python benchmarks/rmd_audit.py runs-audit [--reference coteaching]

Seeds are paired: with common random numbers, seed s of every method trained on the same
batches from the same initial weights, so the per-seed difference removes the data-order
and initialisation noise the two runs share.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from rmdbench.reports.loss_terms import term_activity
from rmdbench.reports.store_reader import load_store


def run_scores(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    store = load_store(root)
    cases = store.cases[~store.cases["shared_clean"]]
    runs = (
        cases.groupby(["method_label", "noise_ratio", "seed"])
        .agg(dsc=("dsc", "mean"), empty=("empty_one", "mean"))
        .reset_index()
    )
    return runs, term_activity(store)


def paired(runs: pd.DataFrame, reference: str) -> pd.DataFrame:
    rows = []
    for (method, ratio), group in runs.groupby(["method_label", "noise_ratio"], sort=True):
        own = group.set_index("seed")["dsc"]
        ref = runs[(runs["method_label"] == reference) & (runs["noise_ratio"] == ratio)]
        ref = ref.set_index("seed")["dsc"]
        seeds = sorted(set(own.index) & set(ref.index))
        diff = (own[seeds] - ref[seeds]).to_numpy()
        half = (
            stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
            if len(diff) > 1
            else float("nan")
        )
        rows.append(
            {
                "method": method,
                "r": ratio,
                "seeds": " / ".join(f"{value:.3f}" for value in own.sort_index()),
                "mean": own.mean(),
                "vs_ref": diff.mean() if len(diff) else float("nan"),
                "ci_half": half,
                "wins": f"{int((diff > 0).sum())}/{len(diff)}",
                "empty": group["empty"].mean(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("store", type=Path)
    parser.add_argument("--reference", default="coteaching")
    arguments = parser.parse_args()
    runs, activity = run_scores(arguments.store)
    table = paired(runs, arguments.reference)
    shares = (
        activity[activity["term"] == "distill"]
        .groupby(["method_label", "noise_ratio"])["share"]
        .mean()
        .rename("distill_share")
    )
    table = table.join(shares, on=["method", "r"])
    print(
        f"| method | r | DSC per seed | mean | Δ vs {arguments.reference} (95 % t CI) | wins | "
        "empty predictions | distill share |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in table.itertuples(index=False):
        delta = (
            f"{row.vs_ref:+.3f} ± {row.ci_half:.3f}" if row.method != arguments.reference else "–"
        )
        share = f"{row.distill_share:.2g}" if row.distill_share == row.distill_share else "–"
        print(
            f"| {row.method} | {row.r:g} | {row.seeds} | {row.mean:.3f} | {delta} | {row.wins} | "
            f"{row.empty:.1%} | {share} |"
        )


if __name__ == "__main__":
    main()
