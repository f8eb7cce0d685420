"""The Memorisation section from hand-made curves: best and last epoch, the gap, the
interval rule over seeds, and runs without a validation curve."""

from __future__ import annotations

import pandas as pd
import pytest

from rmdbench.reports.memorisation import memorisation_lines, read_curves, run_gaps
from rmdbench.reports.store_reader import RunStoreData


def write_curve(root, name: str, method: str, seed: int, values, ratio: float = 0.8) -> dict:
    """A run directory holding only curve.parquet (epochs 0..len-1), and its case row."""
    run = root / name
    run.mkdir(parents=True)
    frame = pd.DataFrame({"epoch": range(len(values)), "loss": 0.5, "val_dsc": values})
    frame.to_parquet(run / "curve.parquet")
    return {
        "run": name,
        "dataset": "toy",
        "noise_setting": "distortion",
        "profile_setting": "tiny",
        "backbone": "unet",
        "noise_ratio": ratio,
        "method_label": method,
        "seed": seed,
        "case_id": "a",
    }


def test_gap_is_best_minus_last_per_run(tmp_path):
    # rises to 0.80 at epoch 2, then falls to 0.55: gap 0.25; a monotone curve: gap 0
    cases = pd.DataFrame(
        [
            write_curve(tmp_path, "a", "single", 0, [0.30, 0.70, 0.80, 0.65, 0.55]),
            write_curve(tmp_path, "b", "rmd", 0, [0.30, 0.50, 0.60, 0.70, 0.75]),
        ]
    )
    results = {name: {"spec": {"profile": {"epochs": 5}}} for name in ("a", "b")}
    curves, missing = read_curves(RunStoreData(tmp_path, cases, results=results))
    assert missing == 0
    assert curves.loc[curves["run"] == "a", "progress"].tolist() == [0, 0.25, 0.5, 0.75, 1]
    gaps = run_gaps(curves).set_index("run")
    assert gaps.loc["a", "best"] == 0.80 and gaps.loc["a", "best_epoch"] == 2
    assert gaps.loc["a", "last"] == 0.55
    assert gaps.loc["a", "gap"] == pytest.approx(0.25)
    assert gaps.loc["b", "gap"] == 0 and gaps.loc["b", "best_epoch"] == 4


def test_section_table_and_figure_with_the_interval_rule(tmp_path):
    rows = [
        write_curve(tmp_path, f"s{seed}", "single", seed, [0.3, 0.8, 0.8 - 0.1 * (seed + 1)])
        for seed in range(3)
    ]  # gaps 0.1, 0.2, 0.3 over three seeds
    rows += [
        write_curve(tmp_path, f"r{seed}", "rmd", seed, [0.3, 0.6, 0.7]) for seed in range(2)
    ]  # two seeds: no CI
    (tmp_path / "lost").mkdir()  # a run whose curve is gone adds nothing, and is counted
    rows.append({**rows[0], "run": "lost"})
    store = RunStoreData(tmp_path, pd.DataFrame(rows))
    lines, files, note = memorisation_lines(store, tmp_path)
    text = "\n".join(lines)
    assert "## Memorisation" in text and "### toy · distortion" in text
    single = next(line for line in lines if "| single |" in line)
    # best 0.8 at epoch 1 (1-based: 2 of 3), last 0.6 on average, gap 0.2 [0.1, 0.3]
    assert single.startswith("| 0.8 | single | 0.800 [0.800, 0.800] | 2.0 of 3 | 0.600 [")
    assert single.endswith("| 0.200 [0.100, 0.300] |")
    rmd = next(line for line in lines if "| rmd |" in line)
    assert rmd.endswith("| 0.000 (n=2, no CI) |")
    assert len(files) == 2 and all(path.stat().st_size > 1000 for path in files)
    assert files[1].name == "learning_curves_toy_distortion.png"
    assert f"({files[0].name})" in text
    assert note == "memorisation: 1 run(s) recorded no clean validation DSC per epoch"


def test_no_curves_is_a_sentence(tmp_path):
    run = tmp_path / "a"
    run.mkdir()
    pd.DataFrame({"epoch": [0], "loss": [0.5]}).to_parquet(run / "curve.parquet")
    row = write_curve(tmp_path, "b", "single", 0, [0.5])
    (tmp_path / "b" / "curve.parquet").write_bytes(b"not parquet")
    cases = pd.DataFrame([{**row, "run": "a"}, row])
    lines, files, note = memorisation_lines(RunStoreData(tmp_path, cases), tmp_path)
    assert "No run recorded a clean validation DSC per epoch." in lines and files == []
    assert note.startswith("memorisation: 2 run(s)")
