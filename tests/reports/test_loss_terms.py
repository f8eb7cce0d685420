"""The report's loss-term table: shares after warm-up, and the inactive flag only for a
term below 1e-3 in every warm epoch of every run."""

from __future__ import annotations

import pandas as pd

from reports.loss_terms import loss_term_lines, term_activity
from reports.store_reader import RunStoreData


def write_run(root, name, method, seed, shares_by_epoch):
    run = root / name
    run.mkdir(parents=True)
    rows = [
        {"epoch": epoch, **{f"grad_share_{term}": share for term, share in shares.items()}}
        for epoch, shares in enumerate(shares_by_epoch)
    ]
    pd.DataFrame(rows).to_parquet(run / "curve.parquet")
    return {
        "run": name,
        "dataset": "toy",
        "profile_setting": "tiny",
        "noise_setting": "distortion",
        "noise_ratio": 0.8,
        "method_label": method,
        "seed": seed,
        "case_id": "a",
    }


def test_a_term_below_the_threshold_after_warm_up_is_flagged(tmp_path):
    # 5 epochs, ramp_end 0.2: epochs 1-4 are warm; epoch 0 (warm-up) does not count
    low = [{"supervised": 0.9, "distill": 0.1}] + [{"supervised": 1.0, "distill": 2e-4}] * 4
    high = [{"supervised": 0.5, "distill": 0.5}] * 5
    once = [{"supervised": 1.0, "distill": 2e-4}] * 4 + [{"supervised": 0.99, "distill": 0.01}]
    cases = pd.DataFrame(
        [
            write_run(tmp_path, "a", "rmd", 0, low),
            write_run(tmp_path, "b", "rmd", 1, low),
            write_run(tmp_path, "c", "rmd[distill_weight=4]", 0, high),
            write_run(tmp_path, "d", "rmd[distill_weight=0.01]", 0, once),
            write_run(tmp_path, "e", "single", 0, [{"supervised": 1.0}] * 5),
        ]
    )
    (tmp_path / "f").mkdir()  # a run whose curve is lost adds nothing
    cases = pd.concat([cases, cases.iloc[[0]].assign(run="f")])
    activity = term_activity(RunStoreData(tmp_path, cases), ramp_end=0.2)
    flagged = activity[activity["inactive"]]
    assert sorted(zip(flagged["method_label"], flagged["term"], strict=True)) == [
        ("rmd", "distill"),
        ("rmd", "distill"),
    ]
    share = activity.set_index(["run", "term"])["share"]
    assert share["a", "distill"] == 2e-4  # the warm-up epoch left out of the mean
    assert share["c", "distill"] == 0.5
    text = "\n".join(loss_term_lines(activity))
    assert "| distortion | 0.8 | rmd | 1 | 0.0002 ⚠ |" in text
    assert "| distortion | 0.8 | rmd[distill_weight=4] | 0.5 | 0.5 |" in text
    assert "rmd[distill_weight=0.01] | 1 | 0.0027 |" in text  # acted in its last epoch
    assert "| single |" not in text  # one term: nothing to compare


def test_no_section_without_multi_term_runs(tmp_path):
    cases = pd.DataFrame([write_run(tmp_path, "a", "single", 0, [{"supervised": 1.0}] * 3)])
    assert loss_term_lines(term_activity(RunStoreData(tmp_path, cases))) == []


def test_a_report_of_real_runs_shows_the_table_and_notes_the_idle_term(tmp_path, one_thread):
    """End to end on two tiny runs: RMD at the released weight is noted, λ = 4 is not."""
    from typer.testing import CliRunner

    from rmdbench.cli import app

    runs = tmp_path / "runs"
    sweep = [
        "sweep", "--dataset", "toy-disks", "--profile", "tiny[epochs=5]", "--noise", "0.8",
        "--methods", "rmd[distill_weight=0.0009],rmd[distill_weight=4]", "--device", "cpu",
        "--out", str(runs),
    ]  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(app, sweep).exit_code == 0
    result = runner.invoke(app, ["report", str(runs), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Loss-term activity" in text
    assert "note: rmd[distill_weight=0.0009]: its 'distill' term stayed below 0.001" in text
    assert "rmd[distill_weight=4]: its" not in text
