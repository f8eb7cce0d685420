"""Memorisation: networks trained on noisy labels fit the clean structure first and the
noise later (Arpit et al. 2017), so their clean validation DSC rises, peaks and falls.
Every run records that DSC after each epoch (``curve.parquet``, ``val_dsc``), and the
test tables evaluate the last epoch; this section shows how much was lost on the way.

- a figure per setting, one panel per noise ratio: clean validation DSC against training
  progress for each method, the mean over seeds with the report's band rule (a bootstrap
  band from 3 seeds, the individual seeds as points below);
- a learning-curve figure per setting: training loss and clean validation DSC against
  epoch, a column per noise ratio, drawn with the same curve panels and band rule;
- a table per setting: best-epoch and last-epoch validation DSC and the memorisation gap
  (best − last, per run), mean over seeds with the table cells' interval rule.

The best epoch is picked on clean labels, an oracle no user has: the gap says what
memorisation cost, not what early stopping on noisy labels would recover. A run whose
curve does not read, or recorded no validation DSC, adds nothing (and is counted in a
note); clean runs shown for several noise settings appear under their own setting only.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .plots import BAND_CAPTION, plot_learning_curves, plot_memorisation
from .runstats import bootstrap_mean, format_interval
from .store_reader import SHARED_CLEAN, RunStoreData
from .style import FigureOptions
from .tables import setting_groups

#: an epoch number past this is no epoch a run recorded (a damaged curve)
MAX_EPOCH = 1_000_000
RUN_COLUMNS = (
    "run",
    "dataset",
    "noise_setting",
    "profile_setting",
    "backbone",
    "noise_ratio",
    "method_label",
    "seed",
)


def _epochs(store: RunStoreData, run: str, curve: pd.DataFrame) -> int:
    """The run's planned epochs (its profile), or what its curve shows when not recorded."""
    profile = store.results.get(run, {}).get("spec", {}).get("profile")
    epochs = profile.get("epochs") if isinstance(profile, dict) else None
    if isinstance(epochs, int) and not isinstance(epochs, bool) and 1 <= epochs <= MAX_EPOCH:
        return epochs
    return int(curve["epoch"].max()) + 1


def _validation_curve(curve: pd.DataFrame | None) -> pd.DataFrame | None:
    """(epoch, val_dsc, loss) of one run's curve, numbers only and DSC within [0, 1]; None
    when the file did not read or holds no such number. The training loss is NaN where
    the curve has none (it is drawn only in the learning curves)."""
    if curve is None:
        return None
    if "epoch" not in curve or "val_dsc" not in curve:
        return None
    try:
        curve = pd.DataFrame(
            {
                "epoch": pd.to_numeric(curve["epoch"], errors="coerce").astype(float),
                "val_dsc": pd.to_numeric(curve["val_dsc"], errors="coerce").astype(float),
                "loss": pd.to_numeric(curve["loss"], errors="coerce").astype(float)
                if "loss" in curve
                else np.nan,
            }
        )
    except (TypeError, ValueError):
        return None
    curve = curve[curve["epoch"].between(0, MAX_EPOCH) & curve["val_dsc"].between(0, 1)]
    curve = curve.assign(loss=curve["loss"].where(np.isfinite(curve["loss"])))
    curve = curve.drop_duplicates("epoch", keep="last")
    if curve.empty:
        return None
    return curve.astype({"epoch": int}).sort_values("epoch")


def read_curves(store: RunStoreData) -> tuple[pd.DataFrame, int]:
    """Every run's clean validation curve as long rows (the run's identity, ``epoch``,
    ``progress`` = epoch / (epochs − 1), ``val_dsc``), and how many runs had none."""
    cases = store.cases
    if SHARED_CLEAN in cases:
        cases = cases[~cases[SHARED_CLEAN]]
    columns = [column for column in RUN_COLUMNS if column in cases]
    frames, missing = [], 0
    for run in cases.drop_duplicates("run")[columns].itertuples(index=False):
        curve = _validation_curve(store.curve(run.run))
        if curve is None:
            missing += 1
            continue
        epochs = _epochs(store, run.run, curve)
        curve["progress"] = curve["epoch"] / (epochs - 1) if epochs > 1 else 1.0
        frames.append(curve.assign(**run._asdict()))
    if not frames:
        return pd.DataFrame(columns=[*columns, "epoch", "progress", "val_dsc", "loss"]), missing
    return pd.concat(frames, ignore_index=True), missing


def run_gaps(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run: the best validation DSC over epochs and its (first) epoch, the last
    epoch's, and the memorisation gap best − last (≥ 0)."""
    keys = [column for column in RUN_COLUMNS if column in curves]
    records = []
    for values, curve in curves.groupby(keys, sort=True, dropna=False):
        curve = curve.sort_values("epoch")
        best_index = int(np.argmax(curve["val_dsc"].to_numpy()))
        best = float(curve["val_dsc"].iloc[best_index])
        last = float(curve["val_dsc"].iloc[-1])
        records.append(
            {
                **dict(zip(keys, values, strict=True)),
                "best": best,
                "best_epoch": int(curve["epoch"].iloc[best_index]),
                "best_progress": float(curve["progress"].iloc[best_index]),
                "last": last,
                "last_epoch": int(curve["epoch"].iloc[-1]),
                "gap": best - last,
            }
        )
    return pd.DataFrame(records)


def _gap_row(ratio: float, method: str, runs: pd.DataFrame) -> str:
    """One table line: the means over seeds with their intervals (no CI under 3 seeds)."""
    cells = [
        format_interval(bootstrap_mean(runs[column].to_numpy()), 3)
        for column in ("best", "last", "gap")
    ]
    epoch = f"{runs['best_epoch'].mean() + 1:.1f} of {runs['last_epoch'].max() + 1}"
    name = method.replace("|", "\\|")
    return f"| {ratio:g} | {name} | {cells[0]} | {epoch} | {cells[1]} | {cells[2]} |"


def gap_table(gaps: pd.DataFrame) -> list[str]:
    """The markdown lines of one setting's table: a line per (ratio, method)."""
    lines = [
        "| r | method | best val DSC | best epoch (mean) | last-epoch val DSC "
        "| gap (best − last) |",
        "|---:|:---|---:|---:|---:|---:|",
    ]
    for (ratio, method), runs in gaps.groupby(["noise_ratio", "method_label"], sort=True):
        lines.append(_gap_row(ratio, method, runs))
    return lines


def _figure_name(title: str, taken: set[str], prefix: str = "memorisation") -> str:
    """'memorisation_toy-disks_distortion.png', numbered if two titles slug alike."""
    slug = re.sub(r"[^A-Za-z0-9.=-]+", "_", title).strip("_") or "setting"
    name, number = f"{prefix}_{slug}.png", 2
    while name in taken:
        name, number = f"{prefix}_{slug}_{number}.png", number + 1
    taken.add(name)
    return name


FOOTNOTE = (
    "Clean validation DSC after each epoch (`val_dsc` in curve.parquet). Best: the highest "
    "over epochs, picked on clean labels (an oracle no user has); last: the final epoch, the "
    "model the test tables evaluate. Gap = best − last per run. Each cell: mean over seeds, "
    "95% percentile-bootstrap CI over seeds (under 3 seeds: no CI). A large gap means the "
    "network first learnt the clean structure, then memorised the noisy labels."
)
LEARNING_CAPTION = (
    "Learning curves: training loss (top; each method's own objective, the sum of its "
    "terms, so its level is not comparable between methods) and clean validation DSC "
    "(bottom) after each epoch; " + BAND_CAPTION + "."
)


def memorisation_lines(
    store: RunStoreData, out_dir: Path, options: FigureOptions | None = None
) -> tuple[list[str], list[Path], str]:
    """The report's 'Memorisation' section: per setting a table, the memorisation figure
    and the learning curves. Returns its markdown lines, the figures written (their PNGs)
    and a note ('' when every run had a curve)."""
    curves, missing = read_curves(store)
    note = (
        f"memorisation: {missing} run(s) recorded no clean validation DSC per epoch"
        if missing
        else ""
    )
    lines = ["## Memorisation", ""]
    if curves.empty:
        return [*lines, "No run recorded a clean validation DSC per epoch.", ""], [], note
    options = (options or FigureOptions()).with_labels(curves["method_label"])
    gaps = run_gaps(curves)
    files: list[Path] = []
    taken: set[str] = set()
    for title, group in setting_groups(curves):
        path = plot_memorisation(group, out_dir / _figure_name(title, taken), title, options)
        learning = plot_learning_curves(
            group, out_dir / _figure_name(title, taken, "learning_curves"), title, options
        )
        files += [path, learning]
        setting_gaps = gaps[gaps["run"].isin(set(group["run"]))]
        lines += [f"### {title}", "", *gap_table(setting_gaps), "", f"> {FOOTNOTE}", ""]
        lines += [f"![memorisation, {title}]({path.name})", "", f"> {BAND_CAPTION}.", ""]
        lines += [f"![learning curves, {title}]({learning.name})", "", f"> {LEARNING_CAPTION}", ""]
    return lines, files, note
